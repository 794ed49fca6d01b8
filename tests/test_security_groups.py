"""The node security group: ICMP as ACK recommends, exactly the ports load-balanced traffic arrives at (node ports
under flannel, container ports under terway), and rules named by CIDR so one CIDR's removal leaves the rest alone."""

from __future__ import annotations

import copy
from typing import Any

import pytest

RULE = "alicloud:ecs/securityGroupRule:SecurityGroupRule"
NODE_PORTS = {31883, 31884, 31083, 31084}
MQTT_PORTS = {1883, 8883, 8083, 8084}
BASE: dict[str, Any] = {
    "target": "alicloud",
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
    "network": {"vpcCidr": "10.10.0.0/16", "clientCidrs": ["10.0.0.0/8", "172.16.0.0/12"],
                "adminCidrs": ["10.10.0.0/16"]},
    "emqx": {"edition": "opensource", "version": "5.8.9", "capacity": {"connections": 20000, "messageRate": 2000}},
}


def node_rules(rec, stack: str = "test") -> dict[str, dict[str, Any]]:
    sg = rec.one("alicloud:ecs/securityGroup:SecurityGroup", f"emqx-{stack}-nodes")
    return {r.name: r.inputs for r in rec.by_type(RULE) if r.inputs["securityGroupId"] == sg.name + "-id"}


def tcp_ports(rules: dict[str, dict[str, Any]], cidr: str | None = None) -> set[int]:
    return {int(r["portRange"].split("/")[0]) for r in rules.values()
            if r["ipProtocol"] == "tcp" and (cidr is None or r["cidrIp"] == cidr)}


@pytest.fixture(scope="module")
def flannel(run_stack):
    return run_stack(BASE)


def test_icmp_from_anywhere_as_ack_recommends(flannel) -> None:
    icmp = [r for r in node_rules(flannel).values() if r["ipProtocol"] == "icmp"]
    assert icmp == [{**icmp[0], "portRange": "-1/-1", "cidrIp": "0.0.0.0/0", "policy": "accept", "type": "ingress"}]


def test_flannel_opens_only_the_node_ports(flannel) -> None:
    rules = node_rules(flannel)
    # Clients reach the MQTT node ports, admins the dashboard node port; nothing listens on 1883... or 18083 at a
    # node's address, and the EMQX cluster ports are covered by the group's own inner access (no rule from the VPC).
    assert tcp_ports(rules, "10.0.0.0/8") == NODE_PORTS
    assert tcp_ports(rules, "172.16.0.0/12") == NODE_PORTS
    assert tcp_ports(rules, "10.10.0.0/16") == {31808}
    assert not tcp_ports(rules) & (MQTT_PORTS | {18083, 4370, 5369})
    # A CLB stack has no NLB health-check rules.
    assert not [n for n in rules if "-nlb-probe-" in n]


def test_rules_are_named_by_cidr_and_survive_the_removal_of_another(run_stack, flannel) -> None:
    before = node_rules(flannel)
    assert before["emqx-test-mqtt-31883-172-16-0-0-12"]["cidrIp"] == "172.16.0.0/12"
    assert before["emqx-test-dashboard-31808-10-10-0-0-16"]["cidrIp"] == "10.10.0.0/16"
    fewer = copy.deepcopy(BASE)
    fewer["network"]["clientCidrs"] = ["172.16.0.0/12"]  # the first CIDR goes
    after = node_rules(run_stack(fewer))
    kept = {n: r for n, r in before.items() if r["cidrIp"] != "10.0.0.0/8"}
    # Same names with the same inputs: Pulumi sees no change to the rules of the CIDR that stays.
    assert after == kept


def test_terway_opens_the_container_ports_and_binds_eni_backends(run_stack) -> None:
    config = copy.deepcopy(BASE)
    config["network"] = {**config["network"], "plugin": "terway", "serviceCidr": "172.21.0.0/20"}
    rec = run_stack(config)
    rules = node_rules(rec)
    assert tcp_ports(rules, "10.0.0.0/8") == MQTT_PORTS
    assert tcp_ports(rules, "10.10.0.0/16") == {18083}
    assert not tcp_ports(rules) & (NODE_PORTS | {31808})
    annotations = rec.one("kubernetes:apps.emqx.io/v2beta1:EMQX").inputs["spec"]["listenersServiceTemplate"][
        "metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/backend-type"] == "eni"


def test_nlb_health_checks_reach_the_node_ports_from_the_node_vswitches(run_stack) -> None:
    rec = run_stack("prod")
    rules = node_rules(rec, "prod")
    probes = {(r["cidrIp"], int(r["portRange"].split("/")[0])) for n, r in rules.items() if "-nlb-probe-" in n}
    vswitches = {s.inputs["cidrBlock"] for s in rec.by_type("alicloud:vpc/switch:Switch") if "-nodes-" in s.name}
    assert len(vswitches) == 3
    assert probes == {(cidr, port) for cidr in vswitches for port in NODE_PORTS | {31808}}
