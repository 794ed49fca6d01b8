"""The VPC address plan: properties over random inputs, and one case per error message.

Expected numbers are worked out by hand from Alibaba's published rules, not read back from the module:
- a vSwitch loses its first address and its last three (VPC API CreateVSwitch: 192.168.1.0/24 reserves .0, .253,
  .254 and .255), so a /25 vSwitch holds 128 - 4 = 124 nodes;
- a flannel node block loses network, broadcast and the cni0 gateway, so a /26 block holds 64 - 3 = 61 pods;
- ACK's node_cidr_mask is 24 to 28, terway pod vSwitches /25 or larger, Service CIDRs /16 to /24,
  VPCs /8 to /28 inside 10/8, 172.16/12 or 192.168/16.
"""

from __future__ import annotations

import ipaddress
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.network_plan import NetworkPlan, plan_network

Net = ipaddress.IPv4Network
PRIVATE = (Net("10.0.0.0/8"), Net("172.16.0.0/12"), Net("192.168.0.0/16"))
KEYS = (
    "network.vpcCidr",
    "network.podCidr",
    "network.serviceCidr",
    "network.plugin",
    "network.maxPodsPerNode",
    "cloud.zones",
)


def _plan(**overrides: object) -> tuple[NetworkPlan | None, list[str]]:
    args: dict[str, object] = {
        "vpc_cidr": "10.0.0.0/16",
        "zones": ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"],
        "network_plugin": "flannel",
        "max_nodes": 30,
        "max_pods_per_node": 64,
        "pod_cidr": "172.20.0.0/16",
        "service_cidr": "172.21.0.0/20",
    }
    args.update(overrides)
    return plan_network(**args)  # type: ignore[arg-type]


def _only_error(**overrides: object) -> str:
    plan, errors = _plan(**overrides)
    assert plan is None
    assert len(errors) == 1, errors
    return errors[0]


# ---------------------------------------------------------------- properties


@st.composite
def _network_in(draw: st.DrawFn, block: Net, low: int, high: int) -> str:
    prefix = draw(st.integers(min_value=max(low, block.prefixlen), max_value=high))
    count = 2 ** (prefix - block.prefixlen)
    index = draw(st.integers(min_value=0, max_value=count - 1))
    size = 2 ** (32 - prefix)
    return str(Net((int(block.network_address) + index * size, prefix)))


@st.composite
def _inputs(draw: st.DrawFn) -> dict[str, object]:
    plugin = draw(st.sampled_from(["flannel", "terway"]))
    zone_count = draw(st.integers(min_value=2, max_value=5))
    zones = [f"cn-test-{chr(ord('a') + i)}" for i in range(zone_count)]
    return {
        "vpc_cidr": draw(_network_in(Net("10.0.0.0/8"), 8, 26)),
        "zones": zones,
        "network_plugin": plugin,
        "max_nodes": draw(st.integers(min_value=1, max_value=600)),
        "max_pods_per_node": draw(st.integers(min_value=1, max_value=260)),
        "pod_cidr": draw(_network_in(Net("172.16.0.0/12"), 12, 24)) if plugin == "flannel" else None,
        "service_cidr": draw(_network_in(Net("192.168.0.0/16"), 16, 25)),
    }


def _check_sound(plan: NetworkPlan, args: dict[str, object]) -> None:
    vpc = Net(plan.vpc_cidr)
    assert plan.vpc_cidr == args["vpc_cidr"]
    max_nodes = int(str(args["max_nodes"]))
    pods_per_node = int(str(args["max_pods_per_node"]))
    assert [z.zone for z in plan.zones] == list(args["zones"])  # type: ignore[arg-type]
    nodes = [Net(z.node_cidr) for z in plan.zones]
    pod_switches = [Net(z.pod_cidr) for z in plan.zones if z.pod_cidr is not None]
    every = nodes + pod_switches
    for net in every:
        assert net.subnet_of(vpc)
        assert 16 <= net.prefixlen <= 29
    for a, b in combinations(every, 2):
        assert not a.overlaps(b), (a, b)
    assert len({n.prefixlen for n in nodes}) == 1
    for net in nodes:
        assert net.num_addresses - 4 >= max_nodes
    others = [Net(plan.service_cidr)] + ([Net(plan.pod_cidr)] if plan.pod_cidr else [])
    for a, b in combinations([vpc, *others], 2):
        assert not a.overlaps(b), (a, b)
    if args["network_plugin"] == "terway":
        assert plan.pod_cidr is None
        assert len(pod_switches) == len(nodes)
        assert len({n.prefixlen for n in pod_switches}) == 1
        for net in pod_switches:
            assert net.prefixlen <= 25
            assert net.num_addresses - 4 >= max_nodes * pods_per_node
    else:
        assert not pod_switches
        assert plan.pod_cidr == args["pod_cidr"]
        assert 24 <= plan.node_cidr_mask <= 28
        assert 2 ** (32 - plan.node_cidr_mask) - 3 >= pods_per_node
        pod = Net(str(plan.pod_cidr))
        assert 2 ** (plan.node_cidr_mask - pod.prefixlen) >= max_nodes


@settings(max_examples=300, deadline=None)
@given(_inputs())
def test_every_plan_returned_is_sound(args: dict[str, object]) -> None:
    plan, errors = plan_network(**args)  # type: ignore[arg-type]
    if plan is None:
        assert errors
        assert all(e.startswith(KEYS) for e in errors), errors
        assert all("\n" not in e for e in errors)
    else:
        assert errors == []
        _check_sound(plan, args)


@st.composite
def _roomy_inputs(draw: st.DrawFn) -> dict[str, object]:
    """Inputs that must always plan: a /16 VPC, at most 3 zones, at most 100 nodes of at most 60 pods.

    Worst case by hand: terway, 3 zones -> 6 vSwitches -> /19 each = 8192 - 4 = 8188 >= 100 x 60 = 6000;
    flannel, 60 pods -> /26 blocks (61 pods), a /16 pod CIDR holds 1024 of them >= 100.
    """
    args = draw(_inputs())
    args["vpc_cidr"] = draw(_network_in(Net("10.0.0.0/8"), 16, 16))
    args["zones"] = list(args["zones"])[: draw(st.integers(min_value=2, max_value=3))]  # type: ignore[call-overload]
    args["max_nodes"] = draw(st.integers(min_value=1, max_value=100))
    args["max_pods_per_node"] = draw(st.integers(min_value=1, max_value=60))
    if args["network_plugin"] == "flannel":
        args["pod_cidr"] = draw(_network_in(Net("172.16.0.0/12"), 16, 16))
    args["service_cidr"] = draw(_network_in(Net("192.168.0.0/16"), 16, 24))
    return args


@settings(max_examples=150, deadline=None)
@given(_roomy_inputs())
def test_roomy_inputs_always_plan_and_deterministically(args: dict[str, object]) -> None:
    first = plan_network(**args)  # type: ignore[arg-type]
    second = plan_network(**args)  # type: ignore[arg-type]
    assert first == second
    plan, errors = first
    assert errors == []
    assert plan is not None
    _check_sound(plan, args)


# ---------------------------------------------------------------- capacity boundaries worked out by hand


def test_node_vswitch_boundary_follows_alibabas_four_reserved_addresses() -> None:
    # 10.0.0.0/23 in 4 zone slots -> /25 vSwitches of 128 - 4 = 124 usable addresses
    plan, errors = _plan(vpc_cidr="10.0.0.0/23", zones=["a", "b"], max_nodes=124)
    assert errors == []
    assert plan is not None
    assert [z.node_cidr for z in plan.zones] == ["10.0.0.0/25", "10.0.0.128/25"]
    error = _only_error(vpc_cidr="10.0.0.0/23", zones=["a", "b"], max_nodes=125)
    assert error.startswith("network.vpcCidr: 10.0.0.0/23 ")
    assert "/25 node vSwitch (124 usable" in error
    assert "use a /22 or larger VPC" in error  # 125 + 4 needs 256 addresses per slot, 4 slots -> /22


def test_adding_a_zone_keeps_every_existing_vswitch() -> None:
    # A changed vSwitch CIDR would make Pulumi replace a vSwitch that holds nodes, the NAT gateway and the CLB.
    for plugin, pod_cidr in (("flannel", "172.20.0.0/16"), ("terway", None)):
        two, _ = _plan(vpc_cidr="10.0.0.0/16", zones=["a", "b"], network_plugin=plugin, pod_cidr=pod_cidr)
        three, _ = _plan(vpc_cidr="10.0.0.0/16", zones=["a", "b", "c"], network_plugin=plugin,
                         pod_cidr=pod_cidr)
        assert two is not None and three is not None
        assert three.zones[:2] == two.zones


def test_more_zones_than_the_plan_has_room_for_are_refused() -> None:
    error = _only_error(vpc_cidr="10.0.0.0/16", zones=["a", "b", "c", "d", "e"])
    assert error.startswith("cloud.zones: 5 zones given") and "at most 4" in error


def test_three_zones_leave_a_spare_slot_and_each_zone_holds_every_node() -> None:
    # 4 zone slots whatever the zone count: /16 -> four /18; one zone alone must hold all nodes
    # (13 pods -> /28 blocks, and a /12 pod CIDR holds 2^16 of them, so only the vSwitches limit here)
    roomy = {
        "vpc_cidr": "10.0.0.0/16",
        "pod_cidr": "172.16.0.0/12",
        "max_pods_per_node": 13,
        "service_cidr": "192.168.0.0/20",
    }
    plan, errors = _plan(**roomy, max_nodes=16380)  # 16384 - 4
    assert errors == []
    assert plan is not None
    assert [z.node_cidr for z in plan.zones] == ["10.0.0.0/18", "10.0.64.0/18", "10.0.128.0/18"]
    too_many = _only_error(**roomy, max_nodes=16381)
    assert too_many.startswith("network.vpcCidr: 10.0.0.0/16 gives each zone (room for 4) a /18")


def test_large_vpc_gets_slash16_vswitches_because_a_vswitch_cannot_be_larger() -> None:
    plan, errors = _plan(vpc_cidr="10.0.0.0/8", zones=["a", "b"])
    assert errors == []
    assert plan is not None
    assert [z.node_cidr for z in plan.zones] == ["10.0.0.0/16", "10.1.0.0/16"]


def test_terway_pod_vswitch_boundary() -> None:
    # 10.0.0.0/19 in 4 zone slots x (node + pod) -> eight /22 = 1024 - 4 = 1020 usable per pod vSwitch
    plan, errors = _plan(
        vpc_cidr="10.0.0.0/19",
        zones=["a", "b"],
        network_plugin="terway",
        pod_cidr=None,
        max_nodes=10,
        max_pods_per_node=102,
    )
    assert errors == []
    assert plan is not None
    assert [(z.node_cidr, z.pod_cidr) for z in plan.zones] == [
        ("10.0.0.0/22", "10.0.4.0/22"),
        ("10.0.8.0/22", "10.0.12.0/22"),
    ]
    error = _only_error(
        vpc_cidr="10.0.0.0/19",
        zones=["a", "b"],
        network_plugin="terway",
        pod_cidr=None,
        max_nodes=10,
        max_pods_per_node=103,
    )
    assert error.startswith("network.vpcCidr: 10.0.0.0/19 ")
    assert "10 nodes x 103 pods" in error


def test_terway_pod_vswitch_must_be_slash25_or_larger() -> None:
    error = _only_error(
        vpc_cidr="10.0.0.0/24",
        zones=["a", "b"],
        network_plugin="terway",
        pod_cidr=None,
        max_nodes=1,
        max_pods_per_node=1,
    )
    assert error.startswith("network.vpcCidr: 10.0.0.0/24 gives each zone (room for 4) a /27 ")
    assert "/25 or larger" in error


def test_terway_pods_beyond_one_slash16_vswitch() -> None:
    # a /16 holds 65536 - 4 = 65532; 300 x 220 = 66000
    error = _only_error(
        vpc_cidr="10.0.0.0/8",
        zones=["a", "b"],
        network_plugin="terway",
        pod_cidr=None,
        max_nodes=300,
        max_pods_per_node=220,
    )
    assert error.startswith("network.maxPodsPerNode: 300 nodes x 220 pods = 66000")


@pytest.mark.parametrize(
    ("pods", "mask"),
    [(1, 28), (13, 28), (14, 27), (29, 27), (30, 26), (61, 26), (62, 25), (125, 25), (126, 24), (253, 24)],
)
def test_flannel_node_block_mask(pods: int, mask: int) -> None:
    plan, errors = _plan(max_pods_per_node=pods)
    assert errors == []
    assert plan is not None
    assert plan.node_cidr_mask == mask


def test_flannel_pods_per_node_beyond_a_slash24_block() -> None:
    assert _only_error(max_pods_per_node=254).startswith(
        "network.maxPodsPerNode: 254 pods per node do not fit a flannel node block"
    )


def test_flannel_pod_cidr_boundary() -> None:
    # 61 pods -> /26 blocks; a /20 pod CIDR holds 2^(26-20) = 64 nodes
    plan, errors = _plan(pod_cidr="172.20.0.0/20", max_pods_per_node=61, max_nodes=64)
    assert errors == []
    assert plan is not None
    error = _only_error(pod_cidr="172.20.0.0/20", max_pods_per_node=61, max_nodes=65)
    assert error.startswith("network.podCidr: 172.20.0.0/20 holds 64 node blocks of /26")
    assert "use a /19 or larger" in error


def test_flannel_pod_cidr_smaller_than_one_block() -> None:
    error = _only_error(pod_cidr="172.20.0.0/27", max_pods_per_node=61, max_nodes=4)
    assert error.startswith("network.podCidr: 172.20.0.0/27 is smaller than one node's /26 block")


# ---------------------------------------------------------------- one case per message, each with its key


def test_host_bits_name_the_right_network() -> None:
    assert _only_error(vpc_cidr="10.0.0.1/16") == (
        "network.vpcCidr: 10.0.0.1/16 has host bits set; use the network address 10.0.0.0/16"
    )
    assert _only_error(service_cidr="172.21.3.0/20").startswith(
        "network.serviceCidr: 172.21.3.0/20 has host bits set; use the network address 172.21.0.0/20"
    )


@pytest.mark.parametrize("value", ["10.0.0/16x", "not-a-cidr", "10.0.0.0/33"])
def test_unparseable_cidr(value: str) -> None:
    assert _only_error(vpc_cidr=value).startswith(f"network.vpcCidr: {value!r} is not an IPv4 CIDR")


def test_ipv6_and_empty() -> None:
    assert _only_error(vpc_cidr="fd00::/8").startswith("network.vpcCidr: fd00::/8 is IPv6")
    assert _only_error(service_cidr="").startswith("network.serviceCidr: the Service CIDR must be an IPv4 CIDR")


@pytest.mark.parametrize("value", ["11.0.0.0/16", "100.64.0.0/16", "172.32.0.0/16", "192.169.0.0/16"])
def test_vpc_must_be_rfc1918(value: str) -> None:
    error = _only_error(vpc_cidr=value)
    assert error.startswith(f"network.vpcCidr: {value} is not inside a private RFC 1918 block")
    assert "10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16" in error


def test_vpc_wider_than_slash8_breaks_both_rules() -> None:
    plan, errors = _plan(vpc_cidr="10.0.0.0/7")  # 10.0.0.0-11.255.255.255
    assert plan is None
    assert [e.split(";")[0] for e in errors] == [
        "network.vpcCidr: 10.0.0.0/7 is not inside a private RFC 1918 block",
        "network.vpcCidr: 10.0.0.0/7 is a /7",
    ]


def test_vpc_prefix_limits() -> None:
    assert _only_error(vpc_cidr="10.0.0.0/29", max_nodes=1) == (
        "network.vpcCidr: 10.0.0.0/29 is a /29; Alibaba accepts VPC CIDRs from /8 to /28"
    )


def test_service_cidr_rules() -> None:
    assert _only_error(service_cidr="8.8.0.0/16").startswith(
        "network.serviceCidr: 8.8.0.0/16 is not inside a private RFC 1918 block"
    )
    assert _only_error(service_cidr="172.16.0.0/15") == (
        "network.serviceCidr: 172.16.0.0/15 is a /15; Alibaba accepts Service CIDRs from /16 to /24"
    )
    assert _only_error(service_cidr="172.21.0.0/25").endswith("from /16 to /24")


def test_pod_cidr_overlaps_vpc_with_a_free_suggestion() -> None:
    error = _only_error(vpc_cidr="10.0.0.0/8", pod_cidr="10.1.0.0/16")
    assert error.startswith("network.podCidr: 10.1.0.0/16 overlaps network.vpcCidr 10.0.0.0/8; choose e.g. ")
    suggested = Net(error.rsplit(" ", 1)[1])
    assert suggested.prefixlen == 16
    assert any(suggested.subnet_of(p) for p in PRIVATE)
    for taken in (Net("10.0.0.0/8"), Net("172.21.0.0/20")):
        assert not suggested.overlaps(taken)


def test_service_overlaps_pod_cidr() -> None:
    error = _only_error(service_cidr="172.20.0.0/20")
    assert error.startswith("network.serviceCidr: 172.20.0.0/20 overlaps network.podCidr 172.20.0.0/16; choose e.g.")
    suggested = Net(error.rsplit(" ", 1)[1])
    assert not suggested.overlaps(Net("172.20.0.0/16"))
    assert not suggested.overlaps(Net("10.0.0.0/16"))


def test_service_overlaps_vpc_under_terway() -> None:
    error = _only_error(network_plugin="terway", pod_cidr=None, service_cidr="10.0.16.0/20")
    assert error.startswith("network.serviceCidr: 10.0.16.0/20 overlaps network.vpcCidr 10.0.0.0/16")


def test_pod_cidr_rules_per_plugin() -> None:
    assert _only_error(network_plugin="terway").startswith("network.podCidr: only flannel uses a pod CIDR")
    error = _only_error(pod_cidr=None)
    assert error.startswith("network.podCidr: flannel needs a pod CIDR outside the VPC; choose e.g. ")
    assert not Net(error.rsplit(" ", 1)[1]).overlaps(Net("10.0.0.0/16"))
    assert _only_error(pod_cidr="100.64.0.0/16").startswith(
        "network.podCidr: 100.64.0.0/16 is not inside a private RFC 1918 block"
    )


def test_unknown_plugin() -> None:
    assert _only_error(network_plugin="calico", pod_cidr=None) == (
        "network.plugin: 'calico' is not a network plugin ACK offers; use flannel or terway"
    )


def test_zone_rules() -> None:
    assert _only_error(zones=["cn-hangzhou-h"]).startswith("cloud.zones: 1 distinct zone(s) given, at least 2 needed")
    plan, errors = _plan(zones=["a", "b", "a"])
    assert plan is None
    assert errors == ["cloud.zones: a listed more than once; list each zone once"]
    assert _only_error(zones=["a", "b"], min_zones=3).startswith("cloud.zones: 2 distinct zone(s) given, at least 3")
    assert _only_error(zones=["a", " "]).startswith("cloud.zones: entries [1] are empty")
    assert _only_error(zones="cn-hangzhou-h").startswith("cloud.zones: must be a list of zone IDs")


def test_pods_per_node_below_one() -> None:
    assert _only_error(max_pods_per_node=0).startswith("network.maxPodsPerNode: 0 is below 1")


def test_every_problem_is_reported_at_once_under_the_callers_key() -> None:
    plan, errors = plan_network(
        vpc_cidr="10.0.0.1/16",
        zones=["a"],
        network_plugin="flannel",
        max_nodes=10,
        max_pods_per_node=300,
        pod_cidr="8.0.0.0/8",
        service_cidr="192.168.0.0/25",
        key="alicloud.network",
    )
    assert plan is None
    prefixes = sorted(e.split(":", 1)[0] for e in errors)
    assert prefixes == [
        "alicloud.network.maxPodsPerNode",
        "alicloud.network.podCidr",
        "alicloud.network.serviceCidr",
        "alicloud.network.vpcCidr",
        "cloud.zones",
    ]


def test_max_nodes_from_sizing_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_nodes"):
        _plan(max_nodes=0)
