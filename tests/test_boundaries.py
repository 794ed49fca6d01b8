"""Both sides of every limit that a mutation (`<` for `<=`, `//` for `/`, `n` for `n - 1`) would move unnoticed.

Each expected value is worked out here from the rule it checks (EMQX's, Alibaba's, the kernel's), not read back from
the module under test. `make mutation` (README: Tests) found these limits untested; each test below fails on the
mutated code.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from components import tuning
from components.network_plan import plan_network
from components.render.emqx import emqx_spec, hocon, max_ports
from components.settings import SECRET_KEYS, ConfigError, Settings, parse
from components.sizing import CapacityTarget, NodeShape, node_capacity, plan_capacity
from tests.test_emqx_render import INPUTS

# --- settings: a config with the fewest cross-field rules, so one key's limit is all that can refuse it ---------

LICENCE = "a-licence"
# Enterprise 5.8.9 may run replicants, and an all-core cluster of it is limited by the all-core rule alone (the
# open-source three-node limit would hide it).
EXISTING: dict[str, Any] = {
    "target": "existing",
    "cluster": {"kubernetesMinor": "1.31"},
    "emqx": {"edition": "enterprise", "version": "5.8.9", "cores": 1, "replicants": 0},
    "licenseKey": LICENCE,
}
ALICLOUD: dict[str, Any] = {
    "target": "alicloud",
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
    "emqx": {"edition": "opensource", "version": "5.8.9", "capacity": {"connections": 20000, "messageRate": 2000}},
}


def _with(base: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of base with the dotted path set (lists of objects are written whole by the caller)."""
    out: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    node = out
    *parents, leaf = dotted.split(".")
    for p in parents:
        node[p] = dict(node.get(p) or {})
        node = node[p]
    node[leaf] = value
    return out


def _parse(values: dict[str, Any]) -> Settings:
    secrets = {k for k in SECRET_KEYS if k in values}
    return parse(values, stack="test", secret_keys=secrets)


def _problems(values: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        _parse(values)
    return err.value.problems


def _about(problems: list[str], key: str) -> list[str]:
    return [p for p in problems if p.startswith(f"{key}:")]


# (base config, key, lowest accepted, highest accepted, what the accepted value becomes in Settings). The limits
# come from the README's configuration reference and from the rules named beside them.
LIMITS: list[tuple[dict[str, Any], str, float | None, float | None, Any]] = [
    (EXISTING, "emqx.acceptors", 1, 1024, lambda s: s.emqx.acceptors),
    (EXISTING, "emqx.capacity.qos", 0, 2, lambda s: s.emqx.capacity.qos),  # MQTT's QoS levels
    (EXISTING, "emqx.capacity.headroom", 0.0, 0.9, lambda s: s.emqx.headroom),
    (EXISTING, "emqx.coreStorage.sizeGiB", 1, 16384, lambda s: s.emqx.core_storage_gib),
    # An Alibaba Cloud ESSD disk is at least 20 GiB.
    (ALICLOUD, "emqx.coreStorage.sizeGiB", 20, 16384, lambda s: s.emqx.core_storage_gib),
    (EXISTING, "emqx.keepaliveSeconds", 10, None, lambda s: s.emqx.keepalive_seconds),
    (ALICLOUD, "nodePools.system.diskGiB", 40, 2048, lambda s: s.system_pool.disk_gib),
    # Two system nodes, so one can be drained.
    (ALICLOUD, "nodePools.system.count", 2, None, lambda s: s.system_pool.count),
    (EXISTING, "tuning.nofile", None, tuning.NR_OPEN_MAX, lambda s: s.tuning.nofile),
    (_with(EXISTING, "emqx.cores", 3), "emqx.replicants", 0, 500, lambda s: s.sizing.replicants),
    (EXISTING, "emqx.capacity.messageRate", 0, None, lambda s: s.emqx.capacity.message_rate),
    # MQTT 5.0 section 1.5.5: a packet's remaining length is at most 268,435,455 bytes.
    (EXISTING, "emqx.capacity.payloadBytes", 1, 268_435_455, lambda s: s.emqx.capacity.payload_bytes),
    (_with(EXISTING, "emqx.capacity.messageRate", 0), "emqx.capacity.fanout", 0.0, 10_000.0,
     lambda s: s.emqx.capacity.fanout),
    (_with(_with(EXISTING, "target", "existing"), "existing.nodeShape.memoryGiB", 64), "existing.nodeShape.vcpu",
     None, 1024, lambda s: s.existing.node_shape.vcpu),
    (ALICLOUD, "nodePools.emqx.diskGiB", 40, 2048, lambda s: s.emqx_pool.disk_gib),
    (ALICLOUD, "nodePools.system.count", None, 500, lambda s: s.system_pool.count),
    (ALICLOUD, "nodePools.emqx.rolloutSurge", None, 500, lambda s: s.emqx_pool.rollout_surge),
    # CLB health checks (CreateLoadBalancerTCPListener): interval up to 50 s, timeout 1-300 s, thresholds 2-10.
    (ALICLOUD, "loadBalancer.healthCheck.intervalSeconds", None, 50,
     lambda s: s.load_balancer.health_check.interval_seconds),
    (ALICLOUD, "loadBalancer.healthCheck.timeoutSeconds", 1, 300,
     lambda s: s.load_balancer.health_check.timeout_seconds),
    (ALICLOUD, "loadBalancer.healthCheck.healthyThreshold", 2, 10,
     lambda s: s.load_balancer.health_check.healthy_threshold),
    (ALICLOUD, "loadBalancer.healthCheck.unhealthyThreshold", 2, 10,
     lambda s: s.load_balancer.health_check.unhealthy_threshold),
    (ALICLOUD, "loadBalancer.idleTimeoutSeconds", None, 900, lambda s: s.load_balancer.idle_timeout_seconds),
]


def _step(value: float) -> float:
    return 0.01 if isinstance(value, float) else 1


@pytest.mark.parametrize(("base", "key", "low", "high", "read"), LIMITS,
                         ids=[f"{k}-{b['target']}" for b, k, *_ in LIMITS])
def test_numeric_limits_accept_the_limit_and_refuse_one_step_beyond(base, key, low, high, read) -> None:
    for edge, beyond in ((low, -1), (high, +1)):
        if edge is None:
            continue
        assert read(_parse(_with(base, key, edge))) == edge, f"{key} = {edge} must be accepted and take effect"
        outside = edge + beyond * _step(edge)
        assert _about(_problems(_with(base, key, outside)), key), f"{key} = {outside} must be refused"


def test_tags_up_to_sixteen_are_accepted_and_one_more_is_refused() -> None:
    # Alibaba Cloud allows 20 tags per resource; the program sets up to 4 of its own.
    sixteen = {f"team{i:02d}": "iot" for i in range(16)}
    assert dict(_parse({**EXISTING, "tags": sixteen}).tags) == sixteen
    assert _about(_problems({**EXISTING, "tags": {**sixteen, "extra": "x"}}), "tags")


# Rebalance run fields (emqx-operator 2.2.29 Rebalance CRD and EMQX's rebalance API): (field, low, high).
RUN_LIMITS: list[tuple[str, float, float]] = [
    ("sessEvictRate", 1, 100_000),
    ("waitTakeover", 0, 3600),
    ("waitHealthCheck", 0, 3600),
    ("absConnThreshold", 1, 100_000_000),
    ("absSessThreshold", 1, 100_000_000),
]


@pytest.mark.parametrize(("field", "low", "high"), RUN_LIMITS, ids=[f for f, *_ in RUN_LIMITS])
def test_rebalance_run_field_limits(field: str, low: float, high: float) -> None:
    def run(value: float) -> dict[str, Any]:
        return {**ENTERPRISE_EXISTING, "rebalance": {"runs": [{"name": "r", "connEvictRate": 10, field: value}]}}

    attribute = re.sub(r"(?<!^)([A-Z])", r"_\1", field).lower()
    for edge, beyond in ((low, -1), (high, +1)):
        (only,) = _parse(run(edge)).rebalance
        assert getattr(only, attribute) == edge
        assert _about(_problems(run(edge + beyond)), f"rebalance.runs[0].{field}")


@pytest.mark.parametrize("field", ["relConnThreshold", "relSessThreshold"])
def test_rebalance_relative_thresholds_at_most_a_hundred(field: str) -> None:
    def run(value: float) -> dict[str, Any]:
        return {**ENTERPRISE_EXISTING, "rebalance": {"runs": [{"name": "r", "connEvictRate": 10, field: value}]}}

    attribute = re.sub(r"(?<!^)([A-Z])", r"_\1", field).lower()
    (only,) = _parse(run(100.0)).rebalance
    assert float(getattr(only, attribute)) == 100.0
    assert _about(_problems(run(100.5)), f"rebalance.runs[0].{field}")


def test_rebalance_evict_rate_limits() -> None:
    def run(rate: int) -> dict[str, Any]:
        return {**EXISTING, "rebalance": {"runs": [{"name": "after-scale-out", "connEvictRate": rate}]}}

    for edge in (1, 100_000):
        (only,) = _parse(run(edge)).rebalance
        assert only.conn_evict_rate == edge
    for outside in (0, 100_001):
        assert _about(_problems(run(outside)), "rebalance.runs[0].connEvictRate")


# --- the all-core limit: EMQX 5 keeps an all-core cluster to 3 nodes ---------------------------------------------


def test_three_cores_without_replicants_are_accepted_and_four_refused() -> None:
    three = _parse(_with(EXISTING, "emqx.cores", 3))
    assert (three.sizing.cores, three.sizing.replicants) == (3, 0)
    refused = _about(_problems(_with(EXISTING, "emqx.cores", 4)), "emqx.cores")
    assert refused and "3" in refused[0]


SHAPE = NodeShape(vcpu=4, memory_gib=8.0)


def _connections_for(nodes: int, headroom: float) -> int:
    """Exactly `nodes` nodes' worth of planned connections: the target is a whole multiple of one node's capacity."""
    total = nodes * node_capacity(SHAPE).connections * (1 - headroom)
    assert total == int(total), "pick a headroom and node count that keep the multiple exact"
    return int(total)


@pytest.mark.parametrize(("headroom", "counts"), [(0.0, (1, 2, 3, 5)), (0.5, (2, 4, 6))])
def test_a_target_of_exactly_n_nodes_capacity_plans_n_nodes(headroom: float, counts: tuple[int, ...]) -> None:
    for nodes in counts:
        exact = CapacityTarget(connections=_connections_for(nodes, headroom), message_rate=0)
        plan, errors = plan_capacity(exact, SHAPE, headroom=headroom, replicants_allowed=False)
        assert errors == [] and plan is not None
        assert plan.client_nodes == nodes, "a whole multiple of one node's capacity needs no extra node"
        one_more = CapacityTarget(connections=exact.connections + 1, message_rate=0)
        plan, errors = plan_capacity(one_more, SHAPE, headroom=headroom, replicants_allowed=False)
        assert errors == [] and plan is not None and plan.client_nodes == nodes + 1


def test_derived_topology_stays_all_core_up_to_three_nodes() -> None:
    three = CapacityTarget(connections=_connections_for(3, 0.0), message_rate=0)
    plan, _ = plan_capacity(three, SHAPE, headroom=0.0)
    assert plan is not None and (plan.cores, plan.replicants) == (3, 0)
    four = CapacityTarget(connections=three.connections + 1, message_rate=0)
    plan, _ = plan_capacity(four, SHAPE, headroom=0.0)
    # Beyond 3 client nodes: 3 cores that take no clients, and the clients on replicants.
    assert plan is not None and (plan.cores, plan.replicants) == (3, 4)
    plan, _ = plan_capacity(four, SHAPE, headroom=0.0, replicants_allowed=False)
    assert plan is not None and (plan.cores, plan.replicants) == (4, 0)


def test_surviving_a_node_loss_at_an_exact_multiple() -> None:
    # Two nodes' worth at full capacity: after losing one of three, two still carry it, so three and not four.
    exact = CapacityTarget(connections=_connections_for(2, 0.0), message_rate=0)
    plan, errors = plan_capacity(exact, SHAPE, headroom=0.0, survive_node_loss=True, replicants_allowed=False)
    assert errors == [] and plan is not None and plan.client_nodes == 3
    one_more = CapacityTarget(connections=exact.connections + 1, message_rate=0)
    plan, errors = plan_capacity(one_more, SHAPE, headroom=0.0, survive_node_loss=True, replicants_allowed=False)
    assert errors == [] and plan is not None and plan.client_nodes == 4


def test_explicit_client_nodes_at_exactly_the_need_are_accepted() -> None:
    exact = CapacityTarget(connections=_connections_for(3, 0.0), message_rate=0)
    plan, errors = plan_capacity(exact, SHAPE, cores=3, replicants=0, headroom=0.0)
    assert errors == [] and plan is not None
    plan, errors = plan_capacity(exact, SHAPE, cores=2, replicants=0, headroom=0.0)
    assert plan is None and errors and errors[0].startswith("emqx.cores:")
    plan, errors = plan_capacity(exact, SHAPE, cores=3, replicants=3, headroom=0.0)
    assert errors == [] and plan is not None and plan.connections_per_node == exact.connections // 3
    plan, errors = plan_capacity(exact, SHAPE, cores=3, replicants=2, headroom=0.0)
    assert plan is None and errors and errors[0].startswith("emqx.replicants:")


def test_a_target_of_exactly_n_nodes_message_throughput_plans_n_nodes() -> None:
    ops = node_capacity(SHAPE).message_ops  # per second, QoS 1, one delivery per inbound message
    # Fanout 0: no deliveries, so no cross-node forwards either; inbound alone is three nodes' worth of operations.
    rate = ops * 3
    assert rate == int(rate)
    exact = CapacityTarget(connections=1, message_rate=int(rate), fanout=0.0)
    plan, _ = plan_capacity(exact, SHAPE, headroom=0.0, replicants_allowed=False)
    assert plan is not None and plan.client_nodes == 3
    plan, _ = plan_capacity(CapacityTarget(connections=1, message_rate=int(rate) + 1, fanout=0.0), SHAPE,
                            headroom=0.0, replicants_allowed=False)
    assert plan is not None and plan.client_nodes == 4


# --- the open-file limit: the next power of two at or above twice the connections, at least EMQX's 2097152 -------


@pytest.mark.parametrize(("connections", "nofile"), [
    (1, 2**21),
    (2**20, 2**21),  # twice it is exactly EMQX's floor
    (2**20 + 1, 2**22),
    (2**21, 2**22),  # a power of two: twice it is already one, no rounding up
    (2**21 + 1, 2**23),
    (3 * 2**20, 2**23),
])
def test_default_nofile_at_powers_of_two(connections: int, nofile: int) -> None:
    assert tuning.default_nofile(connections) == nofile
    assert type(tuning.default_nofile(connections)) is int


# --- node.max_ports: the connections plus 5%, at least 4096, as an integer -------------------------------------


@pytest.mark.parametrize(("connections", "ports"), [
    (1, 1 + 4096),
    (81_919, 81_919 + 4096),  # 5% is 4095.95: the floor of 4096 wins
    (81_920, 81_920 + 4096),  # 5% is exactly 4096
    (81_940, 81_940 + 4097),
    (100_001, 100_001 + 5000),  # 5000.05 rounded down: a port count is whole
    (3_610_342, 3_610_342 + 180_517),
])
def test_max_ports_is_a_whole_number(connections: int, ports: int) -> None:
    assert max_ports(connections) == ports
    assert type(max_ports(connections)) is int


def _rendered_max_ports(spec: dict[str, Any]) -> list[str]:
    """Every raw text form of node.max_ports in an EMQX spec: in its HOCON, or as EMQX_NODE__MAX_PORTS."""
    found = re.findall(r"(?m)^node\.max_ports\s*=\s*(.+)$", spec["config"]["data"])
    for template in ("coreTemplate", "replicantTemplate"):
        for env in spec.get(template, {}).get("spec", {}).get("env", []):
            if env["name"] == "EMQX_NODE__MAX_PORTS":
                found.append(env["value"])
    return found


def test_rendered_max_ports_is_a_decimal_integer() -> None:
    inputs = replace(INPUTS, max_connections_per_node=100_001)
    raw = _rendered_max_ports(emqx_spec(inputs))
    assert raw, "node.max_ports is rendered somewhere"
    # Read as text, not through pyhocon's get_int, which would truncate 105001.05 to a valid-looking integer.
    assert set(raw) == {"105001"}
    assert not re.search(r"max_ports\s*=\s*[0-9]*\.", hocon(inputs))


# --- network plan: a VPC or pod CIDR exactly big enough, and one node block short --------------------------------


def _net(**overrides: Any) -> tuple[Any, list[str]]:
    args: dict[str, Any] = {
        "vpc_cidr": "10.0.0.0/26",
        "zones": ["cn-hangzhou-h", "cn-hangzhou-i"],
        "network_plugin": "flannel",
        "max_nodes": 12,
        "max_pods_per_node": 61,
        "pod_cidr": "172.20.0.0/16",
        "service_cidr": "172.21.0.0/20",
    }
    args.update(overrides)
    return plan_network(**args)


def test_vpc_whose_node_vswitch_holds_exactly_the_nodes() -> None:
    # A /26 in 4 zone slots gives /28 vSwitches: 16 addresses less Alibaba's 4 reserved = 12 nodes.
    plan, errors = _net(max_nodes=12)
    assert errors == [] and plan is not None
    assert [z.node_cidr for z in plan.zones] == ["10.0.0.0/28", "10.0.0.16/28"]
    plan, errors = _net(max_nodes=13)
    assert plan is None and len(errors) == 1 and errors[0].startswith("network.vpcCidr:")
    assert "use a /25" in errors[0]


def test_pod_cidr_of_exactly_one_node_block() -> None:
    # 61 pods per node -> /26 blocks (64 less network, broadcast and the cni0 gateway).
    plan, errors = _net(pod_cidr="172.20.0.0/26", max_nodes=1, vpc_cidr="10.0.0.0/24")
    assert errors == [] and plan is not None and plan.node_cidr_mask == 26
    plan, errors = _net(pod_cidr="172.20.0.0/26", max_nodes=2, vpc_cidr="10.0.0.0/24")
    assert plan is None and errors == ["network.podCidr: 172.20.0.0/26 holds 1 node blocks of /26, fewer than the "
                                       "2 nodes planned; use a /25 or larger"]


def test_pod_cidr_one_node_block_short() -> None:
    # A /23 holds 2^(26-23) = 8 node blocks of /26.
    plan, errors = _net(pod_cidr="172.20.0.0/23", max_nodes=8, vpc_cidr="10.0.0.0/24")
    assert errors == [] and plan is not None
    plan, errors = _net(pod_cidr="172.20.0.0/23", max_nodes=9, vpc_cidr="10.0.0.0/24")
    assert plan is None and len(errors) == 1 and "holds 8 node blocks of /26" in errors[0]
    assert "use a /22 or larger" in errors[0]


@pytest.mark.parametrize(("pods", "mask"), [(13, 28), (14, 27), (29, 27), (30, 26), (61, 26), (62, 25)])
def test_flannel_node_block_holds_the_pods_less_three_addresses(pods: int, mask: int) -> None:
    plan, errors = _net(max_pods_per_node=pods, max_nodes=2, vpc_cidr="10.0.0.0/24")
    assert errors == [] and plan is not None and plan.node_cidr_mask == mask



# --- every top-level section: a valid value is accepted and takes effect ----------------------------------------

PRODUCTION: dict[str, Any] = {
    "target": "alicloud",
    "production": True,
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"]},
    "nodePools": {"emqx": {"instanceTypes": ["ecs.c7.8xlarge"]}},
    "emqx": {"edition": "enterprise", "version": "5.10.3", "cores": 3, "replicants": 3,
             "capacity": {"connections": 300_000, "messageRate": 30_000}},
    "licenseKey": LICENCE,
}
ENTERPRISE_EXISTING: dict[str, Any] = {**EXISTING, "emqx": {"edition": "enterprise", "version": "5.10.3", "cores": 3,
                                                            "replicants": 2}}

# mode: vm (EMQX on ECS instances; tests/test_settings_vm.py holds its rules). The PEM values are shaped like a
# certificate and a key (base64 DER), which is all the settings check.
VM: dict[str, Any] = {**ALICLOUD, "mode": "vm", "vm": {
    "os": "ubuntu22.04", "imageId": "ubuntu_22_04_x64_20G_alibase_20241016.vhd",
    "package": {"sha256": {"ubuntu22.04-amd64": "ab" * 32}},
    "aliyunCli": {"url": "https://aliyuncli.alicdn.com/aliyun-cli-linux-3.0.300-amd64.tgz", "sha256": "cd" * 32}}}
VM_TLS: dict[str, Any] = {**VM, "tlsCertificate": "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n",
                          "tlsPrivateKey": "-----BEGIN PRIVATE KEY-----\nMAMCAQE=\n-----END PRIVATE KEY-----\n"}

# section -> (a valid config that sets it, what must then hold). Only refusals were tested before: a section dropped
# from the known keys would have refused every stack that sets it, and no test would have noticed.
SECTIONS: dict[str, tuple[dict[str, Any], Any]] = {
    "target": (EXISTING, lambda s: s.target == "existing"),
    "production": (PRODUCTION, lambda s: s.production is True),
    "cloud": (ALICLOUD, lambda s: s.cloud.zones == ("cn-hangzhou-h", "cn-hangzhou-i")),
    "network": (_with(ALICLOUD, "network.vpcCidr", "10.30.0.0/16"), lambda s: s.network.vpc_cidr == "10.30.0.0/16"),
    "cluster": (_with(EXISTING, "cluster.kubernetesMinor", "1.33"), lambda s: s.cluster.kubernetes_minor == "1.33"),
    "nodePools": (_with(ALICLOUD, "nodePools.system.count", 3), lambda s: s.system_pool.count == 3),
    "emqx": (_with(EXISTING, "emqx.acceptors", 32), lambda s: s.emqx.acceptors == 32),
    "loadBalancer": (_with(ALICLOUD, "loadBalancer.scheduler", "rr"), lambda s: s.load_balancer.scheduler == "rr"),
    "tuning": ({**EXISTING, "tuning": {"sysctls": {"net.core.somaxconn": 65535}, "nofile": 8_388_608}},
               lambda s: s.tuning.value_of("net.core.somaxconn") == "65535" and s.tuning.nofile == 8_388_608),
    "monitoring": (_with(EXISTING, "monitoring.scrapeInterval", "30s"),
                   lambda s: s.monitoring.scrape_interval == "30s"),
    "rebalance": ({**ENTERPRISE_EXISTING, "rebalance": {"runs": [{"name": "once", "connEvictRate": 200}]}},
                  lambda s: [r.conn_evict_rate for r in s.rebalance] == [200]),
    "loadTest": ({**_with(EXISTING, "emqx.auth", {"allowAnonymous": True}),
                  "loadTest": {"runs": [{"name": "once", "connections": 5000, "target": "inCluster"}]}},
                 lambda s: [r.connections for r in s.load_test] == [5000]),
    "existing": (_with(EXISTING, "existing.nodeShape", {"vcpu": 8, "memoryGiB": 16}),
                 lambda s: s.existing.node_shape.vcpu == 8 and s.existing.node_shape.memory_gib == 16.0),
    "charts": (_with(EXISTING, "charts.certManagerVersion", "v1.20.2"),
               lambda s: s.charts.cert_manager_version == "v1.20.2"),
    "tags": ({**EXISTING, "tags": {"team": "iot"}}, lambda s: s.tags == (("team", "iot"),)),
    "licenseKey": (ENTERPRISE_EXISTING, lambda s: s.has_license),
    "kubeconfig": ({**EXISTING, "kubeconfig": "apiVersion: v1"}, lambda s: s.kubeconfig is not None),
    "mqttUsers": ({**EXISTING, "mqttUsers": "alice:a-long-password-1"}, lambda s: s.mqtt_users is not None),
    "mode": (VM, lambda s: s.mode == "vm"),
    "vm": (_with(VM, "vm.cores", {"count": 1}), lambda s: s.vm.cores.count == 1),
    "tlsCertificate": (VM_TLS, lambda s: s.tls_certificate is not None),
    "tlsPrivateKey": (VM_TLS, lambda s: s.tls_private_key is not None),
}


def test_every_known_section_has_a_valid_case_below() -> None:
    from components.settings import SECTION_KEYS

    assert set(SECTION_KEYS) | set(SECRET_KEYS) <= set(SECTIONS)


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_a_valid_value_of_every_top_level_section_is_accepted_and_takes_effect(section: str) -> None:
    values, holds = SECTIONS[section]
    assert section in values
    assert holds(_parse(values)), section


def test_idle_timeout_must_be_above_one_and_a_half_keepalives() -> None:
    # MQTT 5.0 section 3.1.2.10: the broker gives a client 1.5 x keepalive; at exactly that the load balancer would
    # still cut first. Keepalive 60 s: 90 s is refused, 91 s accepted.
    values = _with(ALICLOUD, "emqx.keepaliveSeconds", 60)
    assert _parse(_with(values, "loadBalancer.idleTimeoutSeconds", 91)).load_balancer.idle_timeout_seconds == 91
    assert _about(_problems(_with(values, "loadBalancer.idleTimeoutSeconds", 90)), "loadBalancer.idleTimeoutSeconds")


# --- topology rules at their edges --------------------------------------------------------------------------------


def _topology(cores: int, replicants: int) -> dict[str, Any]:
    return _with(_with(EXISTING, "emqx.cores", cores), "emqx.replicants", replicants)


def test_replicants_need_two_cores_at_least() -> None:
    # One core alone cannot serve replicants through its own restart.
    assert _parse(_topology(2, 2)).sizing.cores == 2
    assert _about(_problems(_topology(1, 2)), "emqx.cores")


def test_from_ten_nodes_on_at_most_five_cores() -> None:
    # EMQX's guidance: in a large cluster keep 3 (at most 5) cores that take no clients.
    assert _parse(_topology(5, 5)).sizing.cores == 5
    assert _about(_problems(_topology(6, 4)), "emqx.cores")
    assert _parse(_topology(6, 3)).sizing.cores == 6  # nine nodes: the rule does not apply yet


def test_a_multi_node_cluster_needs_the_licence_and_one_node_does_not() -> None:
    # EMQX Enterprise 5.8 runs on its evaluation licence without a key: one node is fine, a cluster is not.
    no_licence = {k: v for k, v in EXISTING.items() if k != "licenseKey"}
    assert not _parse(no_licence).has_license
    assert _about(_problems(_with(no_licence, "emqx.cores", 2)), "licenseKey")


def test_mixed_instance_types_are_sized_for_the_smallest() -> None:
    values = _with(ALICLOUD, "nodePools.emqx", {"instanceTypes": ["ecs.c7.16xlarge", "ecs.c7.xlarge"]})
    assert _parse(values).sizing.node_shape == NodeShape(vcpu=4, memory_gib=8.0)


def test_a_target_one_node_carries_still_gets_a_second_to_survive_its_loss() -> None:
    plan, errors = plan_capacity(CapacityTarget(connections=10, message_rate=0), SHAPE, survive_node_loss=True,
                                 replicants_allowed=False)
    assert errors == [] and plan is not None and plan.client_nodes == 2


# --- text limits: Kubernetes labels, Alibaba Cloud tags, DNS names, echoed values ---------------------------------


def _string_map(kind: str, mapping: dict[str, str]) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    from components.config_reader import Problems, Section

    problems = Problems()
    out = Section("", {"m": mapping}, problems).string_map("m", kind=kind)
    return out, problems.items


SUBDOMAIN_253 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])


@pytest.mark.parametrize(("key", "value", "ok"), [
    ("n" * 63, "v", True),  # a label name is at most 63 characters
    ("n" * 64, "v", False),
    (f"{SUBDOMAIN_253}/name", "v", True),  # its prefix a DNS subdomain of at most 253
    (f"{SUBDOMAIN_253}e/name", "v", False),
    ("example.com/name", "v", True),
    ("Example.com/name", "v", False),
    ("name", "v" * 63, True),
    ("name", "v" * 64, False),
    ("name", "", True),  # an empty label value is allowed
    ("name", "-v", False),
])
def test_kubernetes_label_limits(key: str, value: str, ok: bool) -> None:
    out, problems = _string_map("label", {key: value})
    assert (out == ((key, value),) and problems == []) if ok else (out == () and len(problems) == 1)


@pytest.mark.parametrize(("key", "value", "ok"), [
    ("k" * 128, "v", True),  # Alibaba Cloud: a tag key is 1 to 128 characters, a value up to 128
    ("k" * 129, "v", False),
    ("", "v", False),
    ("k", "", True),
    ("k", "v" * 128, True),
    ("k", "v" * 129, False),
    ("acs:team", "v", False),  # neither may start with aliyun or acs:, nor contain http:// or https://
    ("aliyunteam", "v", False),
    ("team", "acs:x", False),
    ("team", "see http://x", False),
    ("team", "see https://x", False),
    ("team-acs:", "a-aliyun", True),
])
def test_alibaba_cloud_tag_limits(key: str, value: str, ok: bool) -> None:
    out, problems = _string_map("tag", {key: value})
    assert (out == ((key, value),) and problems == []) if ok else (out == () and len(problems) == 1)


@pytest.mark.parametrize(("name", "ok"), [
    (SUBDOMAIN_253, True),  # RFC 1035: a name of at most 253 characters, labels of at most 63
    (SUBDOMAIN_253 + "e", False),
    ("a" * 63 + ".example.com", True),
    ("a" * 64 + ".example.com", False),
    ("*.example.com", True),
    ("*.a-b.example.com", True),
    ("*." + SUBDOMAIN_253, True),  # the wildcard label is not counted in the name
    ("a.*.example.com", False),
    ("Mqtt.example.com", False),
])
def test_dns_name_limits(name: str, ok: bool) -> None:
    from components.config_reader import dns_name_problem

    assert (dns_name_problem(name) is None) == ok


def test_echoed_values_are_cut_past_the_limit_only() -> None:
    from components.config_reader import shown

    assert shown("x" * 10, limit=10) == repr("x" * 10)
    assert shown("x" * 11, limit=10) == repr("x" * 10) + "... (11 characters)"
    assert shown(["x" * 6], limit=10) == "['xxxxxx']"  # exactly 10 characters
    assert shown(["x" * 7], limit=10) == "['xxxxxxx'... (11 characters)"


@pytest.mark.parametrize(("value", "name"), [
    (True, "a boolean"), (3, "a number"), (1.5, "a number"), ("x", "the text 'x'"), ({}, "an object"),
    ([], "a list"), (None, "null"),
])
def test_wrong_types_are_named_in_plain_words(value: object, name: str) -> None:
    from components.config_reader import type_name

    assert type_name(value) == name


@pytest.mark.parametrize(("vpc", "service", "pods", "suggested"), [
    # The lowest free /16, in 172.16/12, then 10/8, then 192.168/16, past every range in use and aligned to /16.
    ("10.0.0.0/16", "172.16.0.0/20", None, "network.podCidr: flannel needs a pod CIDR outside the VPC; choose e.g. "
     "172.17.0.0/16"),
    ("172.16.0.0/16", "172.17.0.0/20", None, "network.podCidr: flannel needs a pod CIDR outside the VPC; choose e.g. "
     "172.18.0.0/16"),
    ("172.16.0.0/12", "10.0.0.0/20", None, "network.podCidr: flannel needs a pod CIDR outside the VPC; choose e.g. "
     "10.1.0.0/16"),
    ("10.0.0.0/8", "172.16.0.0/16", "172.16.0.0/12", "network.serviceCidr: 172.16.0.0/16 overlaps network.podCidr "
     "172.16.0.0/12; choose e.g. 192.168.0.0/16"),
])
def test_suggested_free_range(vpc: str, service: str, pods: str | None, suggested: str) -> None:
    plan, errors = _net(vpc_cidr=vpc, service_cidr=service, pod_cidr=pods, max_nodes=4)
    assert plan is None and errors == [suggested]


# --- every refusal of the config reader: the full key, what is wrong, a fix, and the default kept ----------------


def _section(raw: object) -> tuple[Any, Any]:
    from components.config_reader import Problems, Section

    problems = Problems()
    return Section("top", {"k": raw} if raw is not _ABSENT else {}, problems), problems


_ABSENT = object()

# (getter, keyword arguments, raw value or _ABSENT, a phrase of "what is wrong"); the default given is "dflt"/7/0.5.
REFUSALS: list[tuple[str, dict[str, Any], object, str]] = [
    ("string", {"required": True}, _ABSENT, "is required"),
    ("string", {}, 5, "must be text, got a number"),
    ("string", {"choices": ("alpha", "beta")}, "alpah", "'alpah' is not one of alpha, beta"),
    ("string", {"pattern": r"[a-z]+"}, "ABC", "'ABC' is not well formed"),
    ("string", {"pattern": r"[0-9]+"}, "\uff15", "is not well formed"),  # a full-width digit is not [0-9]
    ("integer", {"required": True}, _ABSENT, "is required"),
    ("integer", {}, "5", "must be a whole number, got the text '5'"),
    ("integer", {}, True, "must be a whole number, got a boolean"),
    ("integer", {}, 5.0, "must be a whole number, got a number"),
    ("integer", {"minimum": 6}, 5, "5 is below the minimum 6"),
    ("integer", {"maximum": 4}, 5, "5 is above the maximum 4"),
    ("number", {"minimum": 0.0, "maximum": 1.0}, "x", "must be a number, got the text 'x'"),
    ("number", {"minimum": 0.0, "maximum": 1.0}, False, "must be a number, got a boolean"),
    ("number", {"minimum": 0.0, "maximum": 1.0}, 1.5, "1.5 is outside 0.0..1.0"),
    ("number", {"minimum": 0.0, "maximum": 1.0}, -0.5, "-0.5 is outside 0.0..1.0"),
    ("boolean", {}, "true", "must be true or false, got the text 'true'"),
    ("strings", {"min_items": 1}, _ABSENT, "is required"),
    ("strings", {}, "a", "must be a list of text values, got the text 'a'"),
    ("strings", {}, ["a", 1], "must be a list of text values, got a list"),
    ("strings", {"min_items": 2}, ["a"], "has 1 item(s), needs at least 2"),
    ("strings", {}, ["a", "b", "a"], "lists 'a' more than once"),
    ("mapping", {}, ["a"], "must be an object, got a list"),
    ("items", {}, {"a": 1}, "must be a list, got an object"),
]
DEFAULTS = {"string": "dflt", "integer": 7, "number": 0.5, "boolean": False, "strings": ("dflt",)}


@pytest.mark.parametrize(("getter", "kwargs", "raw", "what"), REFUSALS,
                         ids=[f"{g}-{w[:30]}" for g, _, _, w in REFUSALS])
def test_every_refusal_names_the_key_what_is_wrong_and_a_fix(getter: str, kwargs: dict[str, Any], raw: object,
                                                              what: str) -> None:
    section, problems = _section(raw)
    default = DEFAULTS.get(getter)
    if getter == "strings" and kwargs.get("min_items") and raw is _ABSENT:
        default = ()  # a required list has no default
    args = () if default is None else (default,)
    got = getattr(section, getter)("k", *args, **kwargs)
    (problem,) = problems.items
    assert problem.startswith("top.k: ") and what in problem, problem
    fix = problem.split("; ", 1)[1] if "; " in problem else ""
    assert fix and fix != "None", problem
    if "more than once" in what or "item(s), needs" in what:
        return  # reported, and the list is still read
    assert got == (default if default is not None else ({} if getter == "mapping" else []))


def test_a_section_that_is_not_an_object_or_missing_when_required() -> None:
    from components.config_reader import Problems, Section

    problems = Problems()
    Section("emqx", "text", problems)
    Section("cloud", None, problems, required=True)
    Section("network", None, problems)  # optional and absent: fine
    assert [p.split(";")[0] for p in problems.items] == ["emqx: must be an object, got the text 'text'",
                                                         "cloud: is required but not set"]
    assert all(p.split("; ", 1)[1] for p in problems.items)


def test_unknown_keys_are_reported_with_their_full_path_and_the_closest_known_key() -> None:
    from components.config_reader import Problems, Section

    problems = Problems()
    root = Section("", {"emqx": {"acceptor": 1, "zzz": 2}}, problems)
    emqx = root.section("emqx")
    emqx.integer("acceptors")
    root.finish()
    assert problems.items == ["emqx.acceptor: is not a known setting; did you mean 'acceptors'?",
                              "emqx.zzz: is not a known setting; known keys: acceptors"]


# --- more edges that mutation testing found unguarded -------------------------------------------------------------


def test_four_zones_fit_the_address_plan_and_a_fifth_does_not() -> None:
    # The plan keeps a slot for each of 4 zones, so adding zones never moves an existing vSwitch.
    plan, errors = _net(vpc_cidr="10.0.0.0/24", zones=["z-a", "z-b", "z-c", "z-d"], max_nodes=4)
    assert errors == [] and plan is not None and len(plan.zones) == 4
    plan, errors = _net(vpc_cidr="10.0.0.0/24", zones=["z-a", "z-b", "z-c", "z-d", "z-e"], max_nodes=4)
    assert plan is None and len(errors) == 1 and errors[0].startswith("cloud.zones:")


def test_a_free_range_right_after_a_clash_is_found() -> None:
    # The block right after the VPC is aligned already: it must be the one suggested, not the one after it.
    plan, errors = _net(vpc_cidr="172.16.0.0/16", service_cidr="10.0.0.0/20", pod_cidr=None, max_nodes=4)
    assert plan is None and errors == ["network.podCidr: flannel needs a pod CIDR outside the VPC; choose e.g. "
                                       "172.17.0.0/16"]


def test_terway_plans_carry_the_node_mask_the_provider_sends_when_unset() -> None:
    # pulumi-alicloud's cs.ManagedKubernetes.node_cidr_mask defaults to 24; ACK ignores it under terway.
    plan, errors = _net(network_plugin="terway", pod_cidr=None, vpc_cidr="10.0.0.0/16", max_pods_per_node=64)
    assert errors == [] and plan is not None and plan.node_cidr_mask == 24


def test_service_traffic_policy_and_class_only_where_kubernetes_takes_them() -> None:
    from components.render.emqx import ServiceBinding

    def service(binding: ServiceBinding) -> dict[str, Any]:
        return emqx_spec(replace(INPUTS, listeners=binding))["listenersServiceTemplate"]["spec"]

    # Kubernetes (ServiceSpec): externalTrafficPolicy only for NodePort and LoadBalancer, loadBalancerClass only
    # for LoadBalancer.
    assert "externalTrafficPolicy" not in service(ServiceBinding(type="ClusterIP", external_traffic_policy="Local"))
    assert service(ServiceBinding(type="NodePort", external_traffic_policy="Local"))["externalTrafficPolicy"] == "Local"
    lb = service(ServiceBinding(type="LoadBalancer", load_balancer_class="alibabacloud.com/nlb"))
    assert lb["loadBalancerClass"] == "alibabacloud.com/nlb"
    assert "loadBalancerClass" not in service(ServiceBinding(type="NodePort", load_balancer_class="x/y"))


def test_a_rebalance_name_does_not_depend_on_key_order() -> None:
    from components.render.emqx import rebalance_object_name

    one = rebalance_object_name("emqx", "r", {"a": 1, "b": 2})
    assert one == rebalance_object_name("emqx", "r", {"b": 2, "a": 1})
    assert one != rebalance_object_name("emqx", "r", {"a": 1, "b": 3})


def test_negative_payload_is_refused_by_the_sizing() -> None:
    _, errors = plan_capacity(CapacityTarget(connections=1, message_rate=0, payload_bytes=-1), SHAPE)
    assert len(errors) == 1 and errors[0].startswith("emqx.payload_bytes:")


def test_given_replicants_and_no_cores_means_three_cores() -> None:
    target = CapacityTarget(connections=_connections_for(4, 0.0), message_rate=0)
    plan, errors = plan_capacity(target, SHAPE, replicants=4, headroom=0.0)
    assert errors == [] and plan is not None and (plan.cores, plan.replicants) == (3, 4)


@pytest.mark.parametrize(("overrides", "ok"), [
    ({"fs.file-max": 4_194_304}, True),  # exactly the open-file limit below
    ({"fs.file-max": 4_194_303}, False),
    ({"net.core.rmem_default": 16_777_216, "net.core.rmem_max": 16_777_216}, True),
    ({"net.core.rmem_default": 16_777_217, "net.core.rmem_max": 16_777_216}, False),
    ({"net.core.wmem_default": 16_777_217, "net.core.wmem_max": 16_777_216}, False),
    # Reserving the whole ephemeral range leaves outgoing connections no port; all but one port is fine.
    ({"net.ipv4.ip_local_port_range": "40000 40009", "net.ipv4.ip_local_reserved_ports": "40000-40009"}, False),
    ({"net.ipv4.ip_local_port_range": "40000 40009", "net.ipv4.ip_local_reserved_ports": "40000-40008"}, True),
    ({"net.ipv4.ip_local_port_range": "40000 40009", "net.ipv4.ip_local_reserved_ports": "40001-40009"}, True),
])
def test_tuning_overrides_that_contradict_each_other(overrides: dict[str, Any], ok: bool) -> None:
    def build() -> tuning.TuningProfile:
        return tuning.build_profile(max_connections_per_node=10_000, kubernetes_version="1.31", nofile=4_194_304,
                                    overrides=overrides)

    if ok:
        profile = build()
        assert all(profile.value_of(k) == str(v) for k, v in overrides.items()
                   if k != "net.ipv4.ip_local_reserved_ports")
    else:
        with pytest.raises(ValueError) as err:
            build()
        assert str(err.value).startswith("tuning.sysctls[")


def test_reserved_port_ranges_are_read_whole() -> None:
    profile = tuning.build_profile(max_connections_per_node=10_000, kubernetes_version="1.31",
                                   overrides={"net.ipv4.ip_local_reserved_ports": "20000-20002,20004"})
    assert profile.value_of("net.ipv4.ip_local_reserved_ports") == "20000-20002,20004"


def test_a_unicode_digit_class_in_a_pattern_still_takes_ascii_digits_only() -> None:
    section, problems = _section("\uff15")  # FULLWIDTH DIGIT FIVE
    assert section.string("k", "dflt", pattern=r"\d+") == "dflt" and len(problems.items) == 1


def test_every_key_of_an_unknown_namespace_is_reported() -> None:
    found = _problems({**EXISTING, "emqx-platfrom:emqx": {}, "emqx-platfrom:cloud": {}})
    assert {p.split(":", 2)[1] for p in found if p.startswith("emqx-platfrom:")} == {"emqx", "cloud"}


def test_every_unknown_project_key_is_reported() -> None:
    found = _problems({**EXISTING, "emqxx": {}, "clod": {}})
    assert len(_about(found, "emqx-platform:emqxx")) == 1 and len(_about(found, "emqx-platform:clod")) == 1


def test_an_open_file_limit_must_be_above_the_port_limit_not_equal_to_it() -> None:
    # Every Erlang port is a file descriptor: nofile equal to node.max_ports leaves nothing for EMQX's own files.
    values = _with(EXISTING, "emqx.capacity.connections", 100_000)
    ports = max_ports(_parse(values).sizing.max_connections_per_node)
    assert ports >= 65536, "pick a target whose port limit is above tuning.nofile's minimum"
    assert _parse(_with(values, "tuning.nofile", ports + 1)).tuning.nofile == ports + 1
    assert _about(_problems(_with(values, "tuning.nofile", ports)), "tuning.nofile")
