"""PodMonitor, PrometheusRule and Grafana dashboard for one EMQX cluster, checked against outside references.

- Every PromQL expression is parsed by PyPI `promql-parser` (Python bindings of GreptimeTeam's Rust parser, which
  also type-checks, e.g. rate() over an instant vector is rejected).
- Every metric name must appear in EMQX_EXPORTED below, transcribed from EMQX's exporter
  apps/emqx_prometheus/src/emqx_prometheus.erl (github.com/emqx/emqx 5.x, e.g. fork thalesmg/emqx commit
  eb4e23f6604bf7239fec47fdcdcc549757430773): stats_metric_meta/0, vm_metric_meta/0, cluster_metric_meta/0,
  message_metric_meta/0 and mria_metric_meta/1. `up` is Prometheus' own series.
- Pod labels and port name come from github.com/emqx/emqx-operator apis/apps/v2beta1 (const.go, util.go).
- PodMonitor / PrometheusRule are validated strictly against schemas generated from the prometheus-operator CRDs
  (tests/schemas_thirdparty.py, via tests/validators.py).
- The ConfigMap goes through kubernetes-validate in strict mode.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import promql_parser
import pytest

from components.render.monitoring import (
    EMQX_METRICS,
    PlannedLoad,
    alert_rules,
    grafana_dashboard_configmap,
    pod_monitor,
    prometheus_rule,
)
from tests.validators import validate_manifest

EMQX_EXPORTED = frozenset(
    {
        # stats_metric_meta
        "emqx_connections_count",
        "emqx_connections_max",
        "emqx_live_connections_count",
        "emqx_live_connections_max",
        "emqx_sessions_count",
        "emqx_sessions_max",
        "emqx_channels_count",
        "emqx_channels_max",
        "emqx_subscriptions_count",
        "emqx_subscriptions_max",
        # vm_metric_meta
        "emqx_vm_cpu_use",
        "emqx_vm_cpu_idle",
        "emqx_vm_run_queue",
        "emqx_vm_process_messages_in_queues",
        "emqx_vm_total_memory",
        "emqx_vm_used_memory",
        # cluster_metric_meta
        "emqx_cluster_nodes_running",
        "emqx_cluster_nodes_stopped",
        # message_metric_meta (counters, exported without a _total suffix)
        "emqx_messages_received",
        "emqx_messages_sent",
        "emqx_messages_publish",
        "emqx_messages_dropped",
        "emqx_messages_delivered",
        "emqx_messages_acked",
        # mria_metric_meta(core)
        "emqx_mria_last_intercepted_trans",
        "emqx_mria_weight",
        "emqx_mria_replicants",
        "emqx_mria_server_mql",
        # mria_metric_meta(replicant)
        "emqx_mria_lag",
        "emqx_mria_bootstrap_time",
        "emqx_mria_bootstrap_num_keys",
        "emqx_mria_message_queue_len",
        "emqx_mria_replayq_len",
    }
)
KNOWN = EMQX_EXPORTED | {"up"}
GRAFANA_GLOBALS = {"$__rate_interval": "1m", "$__interval": "1m"}

NS, EMQX = "mqtt", "emqx-prod"
PLAN = PlannedLoad(nodes=6, connections_per_node=333_334, client_nodes=3)
LABELS = {"release": "kube-prometheus-stack", "app.kubernetes.io/part-of": "emqx-platform"}

# Transcribed from prometheus-operator's CRDs: only the fields these renderers use, closed to catch typos.
def _rule() -> dict[str, Any]:
    return prometheus_rule(name="emqx-alerts", namespace=NS, emqx_name=EMQX, labels=LABELS, plan=PLAN)


def _configmap() -> dict[str, Any]:
    return grafana_dashboard_configmap(name="emqx-dashboard", namespace=NS, emqx_name=EMQX, labels=LABELS)


def _dashboard_model() -> dict[str, Any]:
    (text,) = _configmap()["data"].values()
    return json.loads(text)


def _dashboard_exprs() -> Iterator[str]:
    for panel in _dashboard_model()["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for var, value in GRAFANA_GLOBALS.items():
                expr = expr.replace(var, value)
            yield expr


def _rule_exprs() -> Iterator[str]:
    for group in _rule()["spec"]["groups"]:
        for rule in group["rules"]:
            yield rule["expr"]


def _selectors(expr: str) -> list[promql_parser.VectorSelector]:
    found: list[promql_parser.VectorSelector] = []

    def visit(node: object) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def _unknown_metrics(expr: str) -> set[str]:
    return {s.name or "" for s in _selectors(expr)} - KNOWN


def _scoped(selector: promql_parser.VectorSelector) -> bool:
    matchers = {(m.name, m.value) for m in selector.matchers.matchers if m.op == promql_parser.MatchOp.Equal}
    return {("namespace", NS), ("emqx_cluster", EMQX)} <= matchers


ALL_EXPRS = [*_rule_exprs(), *_dashboard_exprs()]


# ---------------------------------------------------------------- the checkers themselves can fail


def test_checkers_reject_what_they_should() -> None:
    assert _unknown_metrics('rate(emqx_messages_received_total{namespace="mqtt"}[5m])') == {
        "emqx_messages_received_total"
    }
    with pytest.raises(ValueError):
        promql_parser.parse("sum(rate(emqx_messages_received[5m])")
    with pytest.raises(ValueError):
        promql_parser.parse("rate(emqx_messages_received)")
    assert not _scoped(_selectors('emqx_mria_lag{namespace="mqtt"}')[0])


# ---------------------------------------------------------------- PromQL


def test_the_modules_metric_list_names_only_exported_metrics() -> None:
    assert {m.name for m in EMQX_METRICS} <= EMQX_EXPORTED
    used = {s.name for e in ALL_EXPRS for s in _selectors(e)} - {"up"}
    assert used == {m.name for m in EMQX_METRICS}


@pytest.mark.parametrize("expr", ALL_EXPRS)
def test_expression_parses_and_uses_only_exported_metrics(expr: str) -> None:
    assert _unknown_metrics(expr) == set()


@pytest.mark.parametrize("expr", ALL_EXPRS)
def test_every_selector_is_scoped_to_this_cluster(expr: str) -> None:
    selectors = _selectors(expr)
    assert selectors
    assert all(_scoped(s) for s in selectors), expr


def test_rules_and_dashboard_cover_the_mria_queues_connections_and_cluster_size() -> None:
    rule_names = {s.name for e in _rule_exprs() for s in _selectors(e)}
    assert {
        "emqx_mria_lag",
        "emqx_mria_replayq_len",
        "emqx_mria_server_mql",
        "emqx_live_connections_count",
        "emqx_cluster_nodes_running",
        "emqx_vm_cpu_use",
        "up",
    } <= rule_names
    # Old cores stay "stopped" after every rollout until cluster.autoclean: not an alert signal.
    assert "emqx_cluster_nodes_stopped" not in rule_names
    panel_names = {s.name for e in _dashboard_exprs() for s in _selectors(e)}
    assert {
        "emqx_live_connections_count",
        "emqx_messages_received",
        "emqx_messages_sent",
        "emqx_mria_lag",
        "emqx_mria_replayq_len",
        "emqx_vm_cpu_use",
        "emqx_vm_used_memory",
    } <= panel_names


def _threshold(expr: str, op: str) -> tuple[set[str], float]:
    """The metrics of `<aggregation> <op> <number>` and the number, read from the parsed expression."""
    tree = promql_parser.parse(expr)
    assert isinstance(tree, promql_parser.BinaryExpr), expr
    assert str(tree.op) == op, expr
    assert isinstance(tree.rhs, promql_parser.NumberLiteral), expr
    return {s.name or "" for s in _selectors(expr)}, tree.rhs.val


def _rules(plan: PlannedLoad) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in alert_rules(namespace=NS, emqx_name=EMQX, plan=plan)}


@pytest.mark.parametrize(("per_node", "clients", "node_over", "cluster_over"),
                         [(333_334, 3, 416_668, 1_000_002), (20, 1, 25, 20)])
def test_connection_alerts_follow_the_planned_load(per_node: int, clients: int, node_over: int,
                                                   cluster_over: int) -> None:
    rules = _rules(PlannedLoad(nodes=clients + 3, connections_per_node=per_node, client_nodes=clients))
    assert _threshold(rules["EMQXNodeConnectionsAbovePlan"]["expr"], ">") == (
        {"emqx_live_connections_count"}, node_over)
    assert _threshold(rules["EMQXClusterConnectionsAboveTarget"]["expr"], ">") == (
        {"emqx_live_connections_count"}, cluster_over)
    # No alert compares connections with the memory-derived listener limit any more: CPU saturates first.
    assert not {"EMQXNodeConnectionsHigh", "EMQXNodeConnectionsCritical"} & set(rules)


def test_cpu_alerts_watch_what_saturates_first() -> None:
    rules = _rules(PLAN)
    assert _threshold(rules["EMQXNodeCPUHigh"]["expr"], ">") == ({"emqx_vm_cpu_use"}, 80)
    assert rules["EMQXNodeCPUHigh"]["labels"]["severity"] == "warning"
    assert _threshold(rules["EMQXNodeCPUSaturated"]["expr"], ">") == ({"emqx_vm_cpu_use"}, 95)
    assert rules["EMQXNodeCPUSaturated"]["labels"]["severity"] == "critical"


@pytest.mark.parametrize(("cores", "replicants"), [(3, 3), (2, 0), (3, 20)])
def test_running_nodes_below_the_plan_alert_replaces_the_stopped_node_alert(cores: int, replicants: int) -> None:
    rules = _rules(PlannedLoad(nodes=cores + replicants, connections_per_node=100,
                               client_nodes=replicants or cores))
    assert "EMQXNodeStopped" not in rules
    rule = rules["EMQXNodesBelowPlan"]
    assert _threshold(rule["expr"], "<") == ({"emqx_cluster_nodes_running"}, cores + replicants)
    assert rule["labels"]["severity"] == "critical"


def test_alert_templates_use_prometheus_double_braces() -> None:
    for rule in _rule()["spec"]["groups"][0]["rules"]:
        for text in rule["annotations"].values():
            assert "{{{" not in text
            for template in re.findall(r"\{\{(.*?)\}\}", text):
                assert template.strip().startswith("$"), text


# ---------------------------------------------------------------- objects


def test_pod_monitor_matches_the_operators_pods_and_port() -> None:
    obj = pod_monitor(name="emqx", namespace=NS, emqx_name=EMQX, labels=LABELS, interval="30s")
    assert validate_manifest(obj) == []
    assert obj["metadata"] == {"name": "emqx", "namespace": NS, "labels": LABELS}
    spec = obj["spec"]
    # apis/apps/v2beta1 DefaultLabels: instance name + managed-by emqx-operator, on cores and replicants alike
    assert spec["selector"]["matchLabels"] == {
        "apps.emqx.io/instance": EMQX,
        "apps.emqx.io/managed-by": "emqx-operator",
    }
    assert spec["namespaceSelector"] == {"matchNames": [NS]}
    (endpoint,) = spec["podMetricsEndpoints"]
    assert endpoint["port"] == "dashboard"  # util.go GetDashboardServicePort names 18083 "dashboard"
    assert endpoint["path"] == "/api/v5/prometheus/stats"
    assert endpoint["interval"] == "30s"
    # Prometheus turns a pod label into __meta_kubernetes_pod_label_<name with non-[a-zA-Z0-9_] as _>
    db_role_meta = "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", "apps.emqx.io/db-role")
    assert {"action": "replace", "targetLabel": "emqx_cluster", "replacement": EMQX} in endpoint["relabelings"]
    assert {"action": "replace", "sourceLabels": [db_role_meta], "targetLabel": "db_role"} in endpoint["relabelings"]


def test_prometheus_rule_shape() -> None:
    obj = _rule()
    assert validate_manifest(obj) == []
    (group,) = obj["spec"]["groups"]
    names = [r["alert"] for r in group["rules"]]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]+", n) for n in names)
    assert {r["labels"]["severity"] for r in group["rules"]} <= {"warning", "critical"}


def test_configmap_is_a_valid_kubernetes_object() -> None:
    obj = _configmap()
    kubernetes_validate.validate(obj, "1.31", strict=True)
    assert obj["metadata"]["labels"] == {**LABELS, "grafana_dashboard": "1"}
    (key,) = obj["data"]
    assert re.fullmatch(r"[-._a-zA-Z0-9]+", key)  # ConfigMap key rule (IsConfigMapKey)
    assert len(json.dumps(obj)) < 1024 * 1024


def test_dashboard_model() -> None:
    model = _dashboard_model()
    assert len(model["uid"]) <= 40
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))
    for panel in model["panels"]:
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    (variable,) = model["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == ("datasource", "datasource", "prometheus")
    other = grafana_dashboard_configmap(name="d", namespace=NS, emqx_name="emqx-staging", labels={})
    assert json.loads(next(iter(other["data"].values())))["uid"] != model["uid"]
    assert _configmap() == _configmap()


@pytest.mark.parametrize("bad", ["Prod", "emqx_prod", "-emqx", "x" * 64, ""])
def test_names_that_could_break_a_selector_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        pod_monitor(name="m", namespace=bad, emqx_name=EMQX, labels={})
    with pytest.raises(ValueError):
        prometheus_rule(name="r", namespace=NS, emqx_name=bad, labels={}, plan=PLAN)


def test_bad_interval_and_limit_are_refused() -> None:
    with pytest.raises(ValueError, match="interval"):
        pod_monitor(name="m", namespace=NS, emqx_name=EMQX, labels={}, interval="15 seconds")
    with pytest.raises(ValueError, match="planned load"):
        PlannedLoad(nodes=3, connections_per_node=0, client_nodes=3)
    with pytest.raises(ValueError, match="planned load"):
        PlannedLoad(nodes=0, connections_per_node=10, client_nodes=1)
