"""The EMQX part of the whole program under the mock engine, and the settings rules it owns: releases and
replicants, Rebalance thresholds and waiting, the EMQX resource's timeout, alert thresholds from the plan."""

from __future__ import annotations

import copy
from typing import Any

import promql_parser
import pytest

from components import sizing
from components.emqx_versions import parse_release
from components.settings import ConfigError, _topology_problems, parse  # pyright: ignore[reportPrivateUsage]
from components.workloads.emqx_cluster import rollout_estimate

EMQX_TOKEN = "kubernetes:apps.emqx.io/v2beta1:EMQX"
REBALANCE_TOKEN = "kubernetes:apps.emqx.io/v2beta1:Rebalance"
ENTERPRISE: dict[str, Any] = {
    "target": "existing",
    "cluster": {"kubernetesMinor": "1.31"},
    "existing": {"nodeShape": {"vcpu": 16, "memoryGiB": 32}},
    "emqx": {"edition": "enterprise", "version": "5.10.3", "cores": 3, "replicants": 2,
             "capacity": {"connections": 200_000, "messageRate": 10_000}},
    "monitoring": {"prometheusOperator": True},
    "licenseKey": {"secure": "a-licence"},
}


def _problems(values: dict[str, Any]) -> list[str]:
    plain = {k: ("x" if isinstance(v, dict) and "secure" in v else v) for k, v in values.items()}
    with pytest.raises(ConfigError) as err:
        parse(plain, stack="test", secret_keys={"licenseKey"})
    return err.value.problems


# ---------------------------------------------------------------- releases


@pytest.mark.parametrize(("version", "allowed"), [("5.7.2", True), ("5.8.0", False), ("5.8.9", False)])
def test_open_source_replicants_end_with_5_8_0(version: str, allowed: bool) -> None:
    release, problems = parse_release("opensource", version, None)
    assert release is not None and not problems
    assert release.replicants_allowed is allowed
    enterprise, _ = parse_release("enterprise", version, None)
    assert enterprise is not None and enterprise.replicants_allowed


def test_the_replicant_refusal_names_5_8_0() -> None:
    values = copy.deepcopy(ENTERPRISE)
    values["emqx"] |= {"edition": "opensource", "version": "5.8.9", "cores": 2, "replicants": 1}
    values.pop("licenseKey")
    assert [p for p in _problems(values) if p.startswith("emqx.replicants")]
    # The topology rule, on a plan the sizing would have made for an older open-source release.
    release, _ = parse_release("opensource", "5.8.9", None)
    assert release is not None
    plan = sizing.SizingPlan(cores=2, replicants=1, client_nodes=1, connections_per_node=10,
                             max_connections_per_node=10, node_shape=sizing.NodeShape(4, 8), pod_cpu="1",
                             pod_memory="1Gi", planned_vcpu=12, planned_memory_gib=24, cpu_utilisation=0.1,
                             memory_utilisation=0.1, notes=())
    (problem,) = [p for p in _topology_problems(plan, release, False, False) if p.startswith("emqx.replicants")]
    assert "since 5.8.0" in problem and "5.7" not in problem


@pytest.mark.parametrize(("edition", "version", "from_file"), [
    ("enterprise", "5.3.2", False), ("enterprise", "5.4.0", True), ("enterprise", "5.8.9", True),
    ("enterprise", "5.10.3", True), ("enterprise", "4.4.19", False), ("opensource", "5.8.9", False),
])
def test_which_releases_re_read_a_licence_file(edition: str, version: str, from_file: bool) -> None:
    release, _ = parse_release(edition, version, None)
    assert release is not None and release.license_from_file is from_file


# ---------------------------------------------------------------- Rebalance


@pytest.mark.parametrize("field", ["relConnThreshold", "relSessThreshold"])
def test_a_relative_threshold_of_exactly_one_is_refused(field: str) -> None:
    values = copy.deepcopy(ENTERPRISE)
    values["rebalance"] = {"runs": [{"name": "r", "connEvictRate": 100, field: 1.0}]}
    assert any(p.startswith(f"rebalance.runs[0].{field}") and "above 1.0" in p for p in _problems(values))


def test_pulumi_waits_for_a_rebalance_to_complete(run_stack) -> None:
    values = copy.deepcopy(ENTERPRISE)
    values["rebalance"] = {"runs": [{"name": "once", "connEvictRate": 50, "sessEvictRate": 50}]}
    rec = run_stack(values)
    annotations = rec.one(REBALANCE_TOKEN).inputs["metadata"]["annotations"]
    # The operator sets status.phase Processing -> Completed | Failed (rebalance_types.go); only Completed is done.
    assert annotations["pulumi.com/waitFor"] == "jsonpath={.status.phase}=Completed"
    per_node = 100_000  # 200k connections over 2 replicants
    needed = 60 + 60 + 2 * per_node // 50
    assert int(annotations["pulumi.com/timeoutSeconds"]) >= 2 * needed


# ---------------------------------------------------------------- the EMQX resource


def test_the_emqx_resource_waits_as_long_as_its_rollout_takes(run_stack) -> None:
    emqx = run_stack(ENTERPRISE).one(EMQX_TOKEN).inputs
    strategy = emqx["spec"]["updateStrategy"]["evacuationStrategy"]
    per_node = 100_000
    rate = max(1000, -(-per_node // (1 * 60)))  # one survivor takes the other's clients within a minute
    assert strategy == {"connEvictRate": rate, "sessEvictRate": rate, "waitTakeover": 60}
    assert f'max_conn_rate = "{rate}/s"' in emqx["spec"]["config"]["data"]
    timeout = int(emqx["metadata"]["annotations"]["pulumi.com/timeoutSeconds"])
    # New pods (10 min) and the initial delay, then two replicants evacuated one after the other (health check,
    # connections, takeover, sessions, stop), then three cores (takeover, stop); Pulumi waits twice that.
    evict = -(-per_node // rate)
    rollout = 600 + 10 + 2 * (60 + evict + 60 + evict + 30) + 3 * (60 + 30)
    assert timeout >= 2 * rollout > 1800


def test_prod_waits_longer_than_the_old_half_hour() -> None:
    from tests.test_emqx_rollout import _stack_settings

    estimate = rollout_estimate(_stack_settings("prod"))
    # Three replicants of 333,334 connections, each evicted twice over (connections, then sessions).
    assert estimate.seconds > 3 * 2 * (333_334 // estimate.evacuation.conn_evict_rate)
    assert estimate.timeout_seconds > 1800


def test_boot_settings_are_in_both_templates_of_the_program(run_stack) -> None:
    spec = run_stack(ENTERPRISE).one(EMQX_TOKEN).inputs["spec"]
    for template in ("coreTemplate", "replicantTemplate"):
        env = {e["name"]: e.get("value") for e in spec[template]["spec"]["env"]}
        assert int(env["EMQX_NODE__MAX_PORTS"]) > 0 and env["EMQX_CLUSTER__AUTOCLEAN"] == "5m"
    assert "node." not in spec["config"]["data"] and "cluster." not in spec["config"]["data"]


def test_alerts_use_the_plan(run_stack) -> None:
    rule = run_stack(ENTERPRISE).one("kubernetes:monitoring.coreos.com/v1:PrometheusRule").inputs
    rules = {r["alert"]: r["expr"] for r in rule["spec"]["groups"][0]["rules"]}
    below = promql_parser.parse(rules["EMQXNodesBelowPlan"])
    assert isinstance(below, promql_parser.BinaryExpr) and isinstance(below.rhs, promql_parser.NumberLiteral)
    assert below.rhs.val == 5  # 3 cores + 2 replicants
    above = promql_parser.parse(rules["EMQXNodeConnectionsAbovePlan"])
    assert isinstance(above, promql_parser.BinaryExpr) and isinstance(above.rhs, promql_parser.NumberLiteral)
    assert above.rhs.val == 125_000  # 125% of 100k planned per replicant
