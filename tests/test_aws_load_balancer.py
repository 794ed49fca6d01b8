"""The AWS NLB component under mocks (preview=False): what each listener, target group and security-group rule
receives, and the limits an NLB accepts."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from components.aws.load_balancer import AwsLoadBalancer, AwsLoadBalancerSpec
from tests.aws_mocks import FAKE_DNS, Run, build_under_mocks, fake_arn

LB = "aws:lb/loadBalancer:LoadBalancer"
TG = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
MQTT_PORTS = (1883, 8883, 8083, 8084)
NODE_SG = "sg-nodes"

SPEC = AwsLoadBalancerSpec(
    internal=False,
    mqtt_ports=MQTT_PORTS,
    client_cidrs=("0.0.0.0/0",),
    admin_cidrs=("203.0.113.0/24", "198.51.100.7/32"),
    idle_timeout_seconds=600,
    health_interval_seconds=10,
    health_timeout_seconds=5,
    healthy_threshold=2,
    unhealthy_threshold=3,
    deregistration_delay_seconds=60,
    cross_zone=True,
    deletion_protection=True,
    tags={"stack": "aws-prod"},
)


def _run(spec: AwsLoadBalancerSpec = SPEC, name: str = "emqx") -> Run:
    def build() -> dict[str, Any]:
        lb = AwsLoadBalancer(name, spec=spec, vpc_id="vpc-1", subnet_ids=["subnet-a", "subnet-b", "subnet-c"],
                             node_security_group_id=NODE_SG)
        return {"endpoints": lb.endpoints, "dashboard_url": lb.dashboard_url, "arn": lb.load_balancer_arn,
                **{f"tg{p}": arn for p, arn in lb.target_group_arns.items()}}

    return build_under_mocks(build)


@pytest.fixture(scope="module")
def run() -> Run:
    return _run()


def test_the_nlb_is_a_network_lb_with_its_security_group_and_protection(run: Run) -> None:
    (lb,) = run.by_type(LB)
    assert lb.inputs["loadBalancerType"] == "network"
    assert lb.inputs["internal"] is False
    assert lb.inputs["subnets"] == ["subnet-a", "subnet-b", "subnet-c"]
    assert lb.inputs["securityGroups"] == ["emqx-nlb-id"]
    assert lb.inputs["enableCrossZoneLoadBalancing"] is True
    assert lb.inputs["enableDeletionProtection"] is True and lb.protect
    assert lb.inputs["tags"]["stack"] == "aws-prod"
    internal = _run(dataclasses.replace(SPEC, internal=True, cross_zone=False, deletion_protection=False))
    (lb,) = internal.by_type(LB)
    assert lb.inputs["internal"] is True and lb.inputs["enableCrossZoneLoadBalancing"] is False and not lb.protect


def test_one_tcp_listener_per_port_forwarding_to_that_ports_target_group(run: Run) -> None:
    listeners = {r.inputs["port"]: r for r in run.by_type(LISTENER)}
    assert sorted(listeners) == sorted([*MQTT_PORTS, 18083])
    groups = {r.inputs["port"]: r for r in run.by_type(TG)}
    assert sorted(groups) == sorted(listeners)
    for port, listener in listeners.items():
        assert listener.inputs["protocol"] == "TCP"
        (action,) = listener.inputs["defaultActions"]
        assert action["type"] == "forward"
        assert action["targetGroupArn"] == fake_arn(TG, groups[port].name)
        assert listener.inputs["tcpIdleTimeoutSeconds"] == 600
        assert listener.inputs["loadBalancerArn"] == fake_arn(LB, "emqx-nlb")


def test_target_groups_take_pod_ips_keep_the_client_address_and_drain_with_the_rollout(run: Run) -> None:
    for group in run.by_type(TG):
        i = group.inputs
        assert i["targetType"] == "ip" and i["protocol"] == "TCP" and i["vpcId"] == "vpc-1"
        assert i["preserveClientIp"] == "true"  # off by default for ip targets over TCP
        assert i["deregistrationDelay"] == 60 and i["connectionTermination"] is True
        assert i["proxyProtocolV2"] is False
        hc = i["healthCheck"]
        assert hc["protocol"] == "TCP" and hc["port"] == "traffic-port" and hc["enabled"] is True
        assert (hc["interval"], hc["timeout"], hc["healthyThreshold"], hc["unhealthyThreshold"]) == (10, 5, 2, 3)


def _ingress_on(run: Run, sg: str) -> list[dict[str, Any]]:
    return [r.inputs for r in run.by_type(INGRESS) if r.inputs["securityGroupId"] == sg]


def test_the_dashboard_is_reachable_only_from_admin_networks(run: Run) -> None:
    rules = _ingress_on(run, "emqx-nlb-id")
    dashboard = {r.get("cidrIpv4") for r in rules if r["fromPort"] == 18083}
    assert dashboard == {"203.0.113.0/24", "198.51.100.7/32"}
    assert all(r["toPort"] == r["fromPort"] and r["ipProtocol"] == "tcp" for r in rules)
    mqtt = {(r["fromPort"], r.get("cidrIpv4")) for r in rules if r["fromPort"] != 18083}
    assert mqtt == {(p, "0.0.0.0/0") for p in MQTT_PORTS}


def test_nodes_accept_the_ports_only_from_the_nlb_and_the_nlb_sends_only_to_nodes(run: Run) -> None:
    node_rules = _ingress_on(run, NODE_SG)
    assert sorted(r["fromPort"] for r in node_rules) == sorted([*MQTT_PORTS, 18083])
    assert all(r["referencedSecurityGroupId"] == "emqx-nlb-id" and "cidrIpv4" not in r for r in node_rules)
    egress = [r.inputs for r in run.by_type(EGRESS)]
    assert sorted(r["fromPort"] for r in egress) == sorted([*MQTT_PORTS, 18083])
    assert all(r["securityGroupId"] == "emqx-nlb-id" and r["referencedSecurityGroupId"] == NODE_SG for r in egress)


def test_only_served_ports_get_listeners_rules_and_endpoints() -> None:
    run = _run(dataclasses.replace(SPEC, mqtt_ports=(8883, 8084)))
    assert sorted(r.inputs["port"] for r in run.by_type(LISTENER)) == [8084, 8883, 18083]
    assert sorted({r["fromPort"] for r in _ingress_on(run, "emqx-nlb-id")}) == [8084, 8883, 18083]
    assert run.outputs["endpoints"] == {"mqtts": f"mqtts://{FAKE_DNS}:8883", "wss": f"wss://{FAKE_DNS}:8084/mqtt"}


def test_outputs(run: Run) -> None:
    assert run.outputs["endpoints"] == {
        "mqtt": f"mqtt://{FAKE_DNS}:1883",
        "mqtts": f"mqtts://{FAKE_DNS}:8883",
        "ws": f"ws://{FAKE_DNS}:8083/mqtt",
        "wss": f"wss://{FAKE_DNS}:8084/mqtt",
    }
    assert run.outputs["dashboard_url"] == f"http://{FAKE_DNS}:18083"
    assert run.outputs["arn"] == fake_arn(LB, "emqx-nlb")
    assert run.outputs["tg8883"] == fake_arn(TG, "emqx-mqtts")


def test_elb_auto_names_fit_32_characters_for_the_longest_stack_name() -> None:
    # Pulumi auto-names the NLB and its target groups `<resource name>-<7 random>` and refuses, at preview, one over
    # ELB's 32 characters ("name '...' plus 7 random chars is longer than maximum length 32": pulumi
    # resource.NewUniqueHex; ELBv2 CreateTargetGroup). The program names the platform emqx-<stack>, and the
    # settings allow 24-character stack names (components/settings/common.py STACK_NAME_MAX).
    names = {f"emqx-{'s' * 24}", f"emqx-{'t' * 24}", "emqx-aws-prod"}
    built: set[str] = set()
    for platform in sorted(names):
        run = _run(name=platform)
        elb = [r.name for r in run.resources if r.type in (LB, TG)]
        assert len(elb) == 1 + len(SPEC.ports)
        for resource_name in elb:
            assert len(resource_name) + len("-abcdef0") <= 32, resource_name
            assert all(c.isascii() and (c.isalnum() or c == "-") for c in resource_name), resource_name
        built |= set(elb)
    # Distinct per stack and per port; a short name keeps its readable form.
    assert len(built) == len(names) * (1 + len(SPEC.ports))
    assert {"emqx-aws-prod-nlb", "emqx-aws-prod-dashboard", "emqx-aws-prod-mqtts"} <= built


def test_every_child_is_parented_and_names_are_unique(run: Run) -> None:
    names = [(r.type, r.name) for r in run.resources]
    assert len(names) == len(set(names))
    component = "emqx-platform:aws:LoadBalancer::emqx"
    assert all(r.parent == component for r in run.resources if r.type != "emqx-platform:aws:LoadBalancer")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("idle_timeout_seconds", 59),  # NLB TCP listeners: 60-6000 s
        ("idle_timeout_seconds", 6001),
        ("health_interval_seconds", 2),  # the Alibaba default (2 s) is below NLB's 5 s
        ("health_interval_seconds", 301),
        ("health_timeout_seconds", 1),
        ("healthy_threshold", 11),
        ("unhealthy_threshold", 1),
        ("deregistration_delay_seconds", 3601),
        ("mqtt_ports", (1884,)),
        ("mqtt_ports", ()),
        ("admin_cidrs", ("10.0.0.1/8",)),  # host bits set
        ("client_cidrs", ()),
    ],
)
def test_the_spec_refuses_what_an_nlb_does_not_accept(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(SPEC, **{field: value})


def test_the_spec_refuses_more_security_group_rules_than_ec2s_default_quota() -> None:
    # Amazon VPC quotas: 60 inbound rules per security group (IPv4 and IPv6 apart). 4 ports x 14 + 4 = 60 fits,
    # 4 x 15 + 1 = 61 does not (RulesPerSecurityGroupLimitExceeded on a real account, nothing in a preview).
    clients = tuple(f"10.{i}.0.0/16" for i in range(15))
    fits = dataclasses.replace(SPEC, client_cidrs=clients[:14], admin_cidrs=tuple(f"192.0.2.{i}/32" for i in range(4)))
    assert len(fits.client_cidrs) == 14
    with pytest.raises(ValueError, match="61 IPv4 rules"):
        dataclasses.replace(SPEC, client_cidrs=clients, admin_cidrs=("192.0.2.0/24",))


@pytest.mark.parametrize("timeout", [10, 11])
def test_the_spec_refuses_a_health_check_timeout_not_below_the_interval(timeout: int) -> None:
    # ELBv2 answers "ValidationError: Health check interval must be greater than the timeout" on CreateTargetGroup
    # (aws-load-balancer-controller issue #2951, an NLB target group; terraform-provider-aws PR #48071).
    with pytest.raises(ValueError, match="health_timeout_seconds"):
        dataclasses.replace(SPEC, health_interval_seconds=10, health_timeout_seconds=timeout)


@pytest.mark.parametrize("seconds", [60, 6000])
def test_the_idle_timeout_bounds_are_accepted(seconds: int) -> None:
    assert dataclasses.replace(SPEC, idle_timeout_seconds=seconds).idle_timeout_seconds == seconds
