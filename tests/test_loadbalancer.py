"""The load balancer tier: which one carries a target (CLB or NLB), what it is refused for, and what the program
creates for each. Expected numbers come from the published limits (components/load_balancer_tier.py SOURCES),
worked out by hand in the comments."""

from __future__ import annotations

import math
from typing import Any

import pytest

from components import load_balancer_tier as tier
from components import sizing
from tests.test_settings import ALICLOUD, ENTERPRISE, ok, one_about, problems, with_changes

NLB = "alicloud:nlb/loadBalancer:LoadBalancer"
NLB_GROUP = "alicloud:nlb/serverGroup:ServerGroup"
NLB_LISTENER = "alicloud:nlb/listener:Listener"
CLB = "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer"
EMQX = "kubernetes:apps.emqx.io/v2beta1:EMQX"
RULE = "alicloud:ecs/securityGroupRule:SecurityGroupRule"
PREFIX = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
MQTT_PORTS = {1883, 8883, 8083, 8084}


# --- the tier, pure --------------------------------------------------------------------------------------------


def test_one_clb_carries_up_to_a_million_connections_with_the_headroom_left() -> None:
    # 700,000 at 30% headroom need exactly 1,000,000 (700,000 / 0.7): the most one CLB holds.
    assert tier.connections_with_headroom(700_000, 0.3) == 1_000_000
    assert tier.default_type(2, 700_000, 0.3) == "clb"
    assert tier.default_type(2, 700_001, 0.3) == "nlb"
    # No headroom: the limit itself.
    assert tier.carries("clb", 2, 1_000_000, 0.0) and not tier.carries("clb", 2, 1_000_001, 0.0)


def test_nlb_limits_grow_with_its_zones() -> None:
    assert tier.limits("nlb", 2) == tier.TierLimits(10_000_000, 400_000)
    assert tier.limits("nlb", 3) == tier.TierLimits(15_000_000, 600_000)
    assert tier.limits("clb", 3) == tier.TierLimits(1_000_000, 100_000)  # a CLB does not grow with zones


def test_a_reconnect_storm_beyond_the_tier_is_a_shortfall() -> None:
    assert tier.shortfalls("clb", 2, 10_000, 0.3, 100_000) == []
    (why,) = tier.shortfalls("clb", 2, 10_000, 0.3, 100_001)
    assert "100,000 new connections/s" in why and "100,001/s" in why
    (why,) = tier.shortfalls("nlb", 2, 7_000_001, 0.3, 1)  # 10,000,002 needed > 2 x 5M
    assert "10,000,000 connections" in why


# --- settings ----------------------------------------------------------------------------------------------------


def test_a_spec_is_refused_because_pay_by_spec_clbs_are_no_longer_sold() -> None:
    # slb.s3.large was accepted before, slb.s4.large refused; neither means anything for a pay-by-LCU CLB.
    for spec in ("slb.s3.large", "slb.s4.large", "slb.s3.xlarge"):
        msg = one_about(problems(with_changes(ALICLOUD, loadBalancer__spec=spec)), "loadBalancer.spec")
        assert "no longer sold" in msg and "remove it" in msg


def test_the_type_follows_the_target() -> None:
    assert ok(ALICLOUD).load_balancer.type == "clb"  # 20k connections
    assert ok(ENTERPRISE).load_balancer.type == "nlb"  # 1M at 30% headroom need 1,428,572
    # An explicit choice the tier can carry stands.
    assert ok(with_changes(ALICLOUD, loadBalancer__type="nlb")).load_balancer.type == "nlb"


def test_a_clb_is_refused_for_the_prod_target_with_the_fix() -> None:
    msg = one_about(problems(with_changes(ENTERPRISE, loadBalancer__type="clb")), "loadBalancer.type")
    assert "1,000,000 connections" in msg and "1,428,572" in msg
    assert "set loadBalancer.type: nlb" in msg and "15,000,000" in msg


def test_a_target_no_tier_carries_asks_for_zones_or_stacks() -> None:
    # 11M at no headroom: more than an NLB in 2 zones (10M) holds. Sized as 3 cores + replicants on big nodes.
    values = with_changes(ENTERPRISE, cloud__zones=["cn-hangzhou-h", "cn-hangzhou-i"], production=False,
                          emqx__replicants=None, emqx__capacity__connections=11_000_000,
                          emqx__capacity__messageRate=1000, emqx__capacity__headroom=0.0)
    msg = one_about(problems(values), "loadBalancer.type")
    assert "10,000,000 connections" in msg and "add zones to cloud.zones" in msg


def test_nlb_refuses_least_connections_and_health_checks_faster_than_five_seconds() -> None:
    found = problems(with_changes(ENTERPRISE, loadBalancer__scheduler="wlc",
                                  loadBalancer__healthCheck={"intervalSeconds": 2}))
    assert "least-connections" in one_about(found, "loadBalancer.scheduler")
    assert "below the minimum 5" in one_about(found, "loadBalancer.healthCheck.intervalSeconds")
    # A CLB still checks every 2 s by default, an NLB every 5 s.
    assert ok(ALICLOUD).load_balancer.health_check.interval_seconds == 2
    assert ok(ENTERPRISE).load_balancer.health_check.interval_seconds == 5
    assert ok(with_changes(ALICLOUD, loadBalancer__scheduler="wlc")).load_balancer.scheduler == "wlc"


def test_deletion_protection_defaults_to_production() -> None:
    assert ok(ALICLOUD).load_balancer.deletion_protection is False
    assert ok(ENTERPRISE).load_balancer.deletion_protection is True
    assert ok(with_changes(ALICLOUD, loadBalancer__deletionProtection=True)).load_balancer.deletion_protection


# --- what the program creates ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prod(run_stack):
    return run_stack("prod")


def test_prod_runs_behind_an_nlb_in_every_zone_kept_from_deletion(prod) -> None:
    assert not prod.by_type(CLB)
    nlb = prod.one(NLB)
    zones = [z["zoneId"] for z in nlb.inputs["zoneMappings"]]
    assert zones == ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"]
    assert nlb.inputs["addressType"] == "Intranet"
    assert nlb.inputs["deletionProtectionConfig"]["enabled"] is True and nlb.options["protect"] is True


def test_prod_nlb_groups_and_listeners(prod) -> None:
    groups = {g.name: g.inputs for g in prod.by_type(NLB_GROUP)}
    assert len(groups) == 5
    for g in groups.values():
        assert (g["serverGroupType"], g["protocol"], g["scheduler"]) == ("Instance", "TCP", "Wrr")
        assert g["preserveClientIpEnabled"] is True and g["connectionDrainEnabled"] is True
        assert g["healthCheck"]["healthCheckInterval"] == 5 and g["healthCheck"]["healthCheckType"] == "TCP"
    listeners = {lst.inputs["listenerPort"]: lst.inputs for lst in prod.by_type(NLB_LISTENER)}
    assert set(listeners) == MQTT_PORTS | {18083}
    # Each MQTT listener passes a storm at the rate the cluster admits it: the planner's 5 replicants hold 200,000
    # connections each; a lost one's over 4 survivors within the 60 s admission window is 834/s, below the 1,000/s
    # floor per node, on each of the 5 replicants.
    expected = 5 * sizing.MIN_CONN_RATE_PER_NODE
    assert sizing.STORM_ADMISSION_SECONDS == 60 and math.ceil(200_000 / 4 / 60) < sizing.MIN_CONN_RATE_PER_NODE
    for port in MQTT_PORTS:
        assert listeners[port]["cps"] == expected
        assert listeners[port]["idleTimeout"] == 900 and listeners[port]["listenerProtocol"] == "TCP"
    assert "cps" not in listeners[18083]


def test_prod_services_bind_to_the_nlb_groups(prod) -> None:
    spec = prod.one(EMQX).inputs["spec"]
    nlb = prod.one(NLB)
    groups = {g.name + "-id" for g in prod.by_type(NLB_GROUP)}
    for template, ports in (("listenersServiceTemplate", MQTT_PORTS), ("dashboardServiceTemplate", {18083})):
        service = spec[template]
        annotations = service["metadata"]["annotations"]
        assert annotations[PREFIX + "id"] == nlb.name + "-id"
        assert annotations[PREFIX + "force-override-listeners"] == "false"
        bound = dict(item.split(":")[::-1] for item in annotations[PREFIX + "vgroup-port"].split(","))
        assert set(bound) == {str(p) for p in ports} and set(bound.values()) <= groups
        assert annotations["service.beta.kubernetes.io/backend-type"] == "ecs"  # flannel: nodes at node ports
        assert service["spec"]["loadBalancerClass"] == "alibabacloud.com/nlb"


def test_prod_nlb_security_group_opens_the_dashboard_to_admins_only(prod) -> None:
    nlb = prod.one(NLB)
    (sg,) = [s for s in prod.by_type("alicloud:ecs/securityGroup:SecurityGroup") if s.name.endswith("-nlb-sg")]
    assert nlb.inputs["securityGroupIds"] == [sg.name + "-id"]
    rules = [r.inputs for r in prod.by_type(RULE) if r.inputs["securityGroupId"] == sg.name + "-id"]
    by_port: dict[str, set[str]] = {}
    for r in rules:
        by_port.setdefault(r["portRange"], set()).add(r["cidrIp"])
    assert by_port["18083/18083"] == {"10.20.0.0/16"}  # adminCidrs
    assert all(by_port[f"{p}/{p}"] == {"10.0.0.0/8"} for p in MQTT_PORTS)  # clientCidrs
    assert by_port["-1/-1"] == {"0.0.0.0/0"}  # ICMP for the NLB's VIP probes


def test_dev_clb_is_pay_by_lcu_and_destroyable(run_stack) -> None:
    dev = run_stack("dev")
    assert not dev.by_type(NLB)
    clb = dev.one(CLB)
    assert clb.inputs["instanceChargeType"] == "PayByCLCU" and clb.inputs["paymentType"] == "PayAsYouGo"
    assert "loadBalancerSpec" not in clb.inputs
    assert clb.inputs["deleteProtection"] == "off" and clb.options["protect"] is False
    service = dev.one(EMQX).inputs["spec"]["listenersServiceTemplate"]
    assert "loadBalancerClass" not in service["spec"]


def test_admin_acl_entries_are_named_by_cidr(run_stack) -> None:
    config: dict[str, Any] = {
        "target": "alicloud",
        "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
        "network": {"vpcCidr": "10.10.0.0/16", "adminCidrs": ["10.10.0.0/16", "192.168.8.0/24"]},
        "emqx": {"edition": "opensource", "version": "5.8.9", "capacity": {"connections": 20000, "messageRate": 2000}},
    }
    entries = run_stack(config).by_type("alicloud:slb/aclEntryAttachment:AclEntryAttachment")
    assert {r.name: r.inputs["entry"] for r in entries} == {"emqx-test-admins-10-10-0-0-16": "10.10.0.0/16",
                                                          "emqx-test-admins-192-168-8-0-24": "192.168.8.0/24"}


def test_the_listener_certificate_names_what_clients_dial_behind_an_nlb(run_stack) -> None:
    # prod is behind an NLB: clients dial its DNS name (or a zone VIP), so our own CA's certificate carries both,
    # as the cloud returns them (the fakes stand in for the cloud's computed fields).
    rec = run_stack("prod")
    nlb = rec.one("alicloud:nlb/loadBalancer:LoadBalancer")
    vips = [z["privateIpv4Address"] for z in nlb.outputs["zoneMappings"]]
    assert len(vips) == len(nlb.inputs["zoneMappings"]) == 3
    cert = next(r for r in rec.by_type("kubernetes:cert-manager.io/v1:Certificate")
                if r.inputs["metadata"]["name"] == r.inputs["spec"]["secretName"] and not r.inputs["spec"].get("isCA"))
    assert nlb.outputs["dnsName"] in cert.inputs["spec"]["dnsNames"]
    assert cert.inputs["spec"]["ipAddresses"] == vips


def test_the_load_balancer_is_a_stack_output(run_stack) -> None:
    dev, prod = run_stack("dev"), run_stack("prod")
    clb = dev.one("alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer")
    nlb = prod.one("alicloud:nlb/loadBalancer:LoadBalancer")
    # (The mock engine gives each resource the id `<name>-id`.)
    assert dev.outputs["load_balancer_id"] == f"{clb.name}-id"
    assert prod.outputs["load_balancer_id"] == f"{nlb.name}-id"
