"""The AWS address planner: property tests (hypothesis) and AWS's published limits.

Limits typed from AWS's references: subnets /16 to /28 with 5 reserved addresses each (EC2 API CreateSubnet: "the
first four and the last IPv4 address"), load balancer subnets /27 or larger (ELB NLB guide), EKS Service CIDR /24
to /12 outside the VPC.
"""

from __future__ import annotations

import ipaddress
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.aws.address_plan import MAX_ZONES, AddressPlan, plan_addresses, usable_subnet_addresses

IPv4Network = ipaddress.IPv4Network
ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1d"]


def ok(vpc: str, zones: list[str], nodes: int = 6, pods: int = 30, service: str | None = None) -> AddressPlan:
    plan, errors = plan_addresses(vpc_cidr=vpc, zones=zones, max_nodes=nodes, max_pods_per_node=pods,
                                  service_cidr=service)
    assert errors == [] and plan is not None
    return plan


def problems(vpc: object, zones: list[str] | str = ZONES[:3], nodes: int = 6, pods: int = 30,
             service: object = None) -> list[str]:
    plan, errors = plan_addresses(vpc_cidr=vpc, zones=zones, max_nodes=nodes, max_pods_per_node=pods,
                                  service_cidr=service)
    assert plan is None and errors
    return errors


# --- properties -----------------------------------------------------------------------------------------------------

private_blocks = st.sampled_from([IPv4Network("10.0.0.0/8"), IPv4Network("172.16.0.0/12"),
                                  IPv4Network("192.168.0.0/16")])


@st.composite
def vpcs(draw: st.DrawFn) -> IPv4Network:
    block = draw(private_blocks)
    prefix = draw(st.integers(min_value=max(16, block.prefixlen), max_value=21))
    index = draw(st.integers(min_value=0, max_value=2 ** (prefix - block.prefixlen) - 1))
    return IPv4Network((int(block.network_address) + index * 2 ** (32 - prefix), prefix))


@settings(max_examples=300, deadline=None)
@given(vpc=vpcs(), count=st.integers(min_value=2, max_value=MAX_ZONES))
def test_subnets_lie_in_the_vpc_never_overlap_and_respect_aws_sizes(vpc: IPv4Network, count: int) -> None:
    plan = ok(str(vpc), ZONES[:count], nodes=1, pods=1)
    subnets = [IPv4Network(s) for z in plan.zones for s in (z.private_cidr, z.public_cidr)]
    assert len(subnets) == 2 * count
    for net in subnets:
        assert net.subnet_of(vpc)
        assert 16 <= net.prefixlen <= 28  # AWS subnet sizes
    for a, b in combinations(subnets, 2):
        assert not a.overlaps(b), (a, b)
    for zone in plan.zones:
        assert IPv4Network(zone.public_cidr).prefixlen <= 27  # a load balancer subnet
        assert IPv4Network(zone.private_cidr).num_addresses > IPv4Network(zone.public_cidr).num_addresses


@settings(max_examples=300, deadline=None)
@given(vpc=vpcs(), before=st.integers(min_value=2, max_value=MAX_ZONES), data=st.data())
def test_adding_zones_never_renumbers_existing_subnets(vpc: IPv4Network, before: int, data: st.DataObject) -> None:
    after = data.draw(st.integers(min_value=before, max_value=MAX_ZONES))
    small = ok(str(vpc), ZONES[:before], nodes=1, pods=1)
    large = ok(str(vpc), ZONES[:after], nodes=1, pods=1)
    assert large.zones[:before] == small.zones


@settings(max_examples=200, deadline=None)
@given(vpc=vpcs(), nodes=st.integers(min_value=1, max_value=2000), pods=st.integers(min_value=1, max_value=250))
def test_a_plan_holds_every_node_and_pod_in_one_zone(vpc: IPv4Network, nodes: int, pods: int) -> None:
    plan, errors = plan_addresses(vpc_cidr=str(vpc), zones=ZONES[:3], max_nodes=nodes, max_pods_per_node=pods)
    if plan is None:
        [error] = errors
        assert error.startswith("network.vpcCidr: ")
        return
    for zone in plan.zones:
        # Node address + pod addresses, doubled for the VPC CNI warm pool, after AWS's 5 reserved addresses.
        assert usable_subnet_addresses(IPv4Network(zone.private_cidr).prefixlen) >= nodes * (pods + 1) * 2


# --- examples and messages ------------------------------------------------------------------------------------------


def test_a_16_vpc_layout() -> None:
    plan = ok("10.0.0.0/16", ZONES[:3], service="172.20.0.0/16")
    assert [(z.zone, z.slot, z.private_cidr, z.public_cidr) for z in plan.zones] == [
        ("eu-west-1a", 0, "10.0.0.0/19", "10.0.224.0/22"),
        ("eu-west-1b", 1, "10.0.32.0/19", "10.0.228.0/22"),
        ("eu-west-1c", 2, "10.0.64.0/19", "10.0.232.0/22"),
    ]
    assert plan.service_cidr == "172.20.0.0/16"
    assert usable_subnet_addresses(19) == 8187  # 8192 minus AWS's 5 reserved


@pytest.mark.parametrize(
    ("vpc", "fragment"),
    [
        ("10.0.0.0/8", "is a /8; AWS accepts VPC CIDRs from /16 to /28"),
        ("10.0.0.0/29", "is a /29; AWS accepts VPC CIDRs from /16 to /28"),
        ("8.8.0.0/16", "not inside a private RFC 1918 block"),
        ("10.0.0.1/16", "has host bits set; use the network address 10.0.0.0/16"),
        ("10.0.0.0", "has no prefix length; write it as address/prefix, e.g. 10.0.0.0/16"),
        ("fd00::/48", "is IPv6"),
        ("ten", "is not an IPv4 CIDR"),
        (None, "must be an IPv4 CIDR such as 10.0.0.0/16"),
        ("10.0.0.0/24", "public subnet would be a /30, smaller than the /27 a load balancer subnet needs"),
        # 6 nodes x 31 addresses x 2 = 372 per zone: a /23 private slot, so a /20 VPC.
        ("10.0.0.0/24", "use a /20 or larger VPC, e.g. 10.0.0.0/20"),
    ],
)
def test_vpc_problems(vpc: object, fragment: str) -> None:
    errors = problems(vpc)
    assert any(e.startswith("network.vpcCidr: ") and fragment in e for e in errors), errors


def test_capacity_problem_names_the_vpc_to_use() -> None:
    [error] = problems("10.0.0.0/21", nodes=12, pods=110)
    # 12 x 111 x 2 = 2664 addresses in one zone; a /24 slot holds 251.
    assert error == (
        "network.vpcCidr: 10.0.0.0/21: each zone's private subnet is a /24 (251 usable after AWS's 5 reserved "
        "addresses), too few for 12 nodes x (110 pods + 1) x 2 for VPC CNI's warm pool = 2664 in one zone after a "
        "zone outage; use a /17 or larger VPC, e.g. 10.0.0.0/17"
    )
    assert ok("10.0.0.0/17", ZONES[:3], nodes=12, pods=110)
    [error] = problems("10.0.0.0/16", nodes=5000, pods=250)
    assert "even a /16 VPC (AWS's largest) is too small" in error


@pytest.mark.parametrize(
    ("zones", "fragment"),
    [
        (["eu-west-1a"], "1 distinct zone(s) given, at least 2 needed"),
        (["eu-west-1a", "eu-west-1a"], "eu-west-1a listed more than once"),
        (["eu-west-1a", ""], "entries [1] are empty"),
        ([*ZONES, "eu-west-1e"], "5 zones given; the address plan has 4 fixed slots"),
        ("eu-west-1a", "must be a list of Availability Zones"),
    ],
)
def test_zone_problems(zones: list[str] | str, fragment: str) -> None:
    errors = problems("10.0.0.0/16", zones=zones)
    assert any(e.startswith("cloud.zones: ") and fragment in e for e in errors), errors


@pytest.mark.parametrize(
    ("service", "fragment"),
    [
        ("10.0.0.0/16", "overlaps network.vpcCidr 10.0.0.0/16"),
        ("172.20.0.0/25", "is a /25; AWS accepts Service CIDRs from /12 to /24"),
        ("100.64.0.0/16", "not inside a private RFC 1918 block"),
    ],
)
def test_service_cidr_problems(service: str, fragment: str) -> None:
    errors = problems("10.0.0.0/16", service=service)
    assert any(e.startswith("network.serviceCidr: ") and fragment in e for e in errors), errors


def test_every_problem_is_reported_at_once() -> None:
    errors = problems("10.0.0.1/16", zones=["a"], service="10.0.0.0/8")
    assert {e.split(":", 1)[0] for e in errors} == {"network.vpcCidr", "cloud.zones", "network.serviceCidr"}
    assert all("\n" not in e for e in errors)


def test_sizing_values_below_one_are_programming_errors() -> None:
    with pytest.raises(ValueError):
        plan_addresses(vpc_cidr="10.0.0.0/16", zones=ZONES[:2], max_nodes=0, max_pods_per_node=10)
