"""Prometheus Operator and Grafana objects for one EMQX cluster, as plain dicts.

Pure: no Pulumi import. The workloads layer wraps `pod_monitor` and `prometheus_rule` in CustomResources and the
dashboard in a ConfigMap, only when the stack says the Prometheus Operator is installed.

Where the facts come from:
- Pod labels: the EMQX Operator labels every core and replicant pod `apps.emqx.io/instance=<EMQX name>`,
  `apps.emqx.io/managed-by=emqx-operator` and `apps.emqx.io/db-role=core|replicant`
  (github.com/emqx/emqx-operator apis/apps/v2beta1/const.go and util.go, DefaultLabels / DefaultCoreLabels).
- Scrape port: the operator adds a container port named `dashboard` (from `dashboard.listeners.http.bind`,
  18083 by default) to both core and replicant pods (util.go GetDashboardServicePort, add_emqx_core.go and
  add_emqx_repl.go MergeContainerPorts). It is skipped if the pod template already declares 18083 under
  another name, so the EMQX spec we render must not name that port differently.
- Metrics: EMQX 5 serves them at /api/v5/prometheus/stats without auth by default; the names below are the
  ones emitted by apps/emqx_prometheus/src/emqx_prometheus.erl (github.com/emqx/emqx, 5.x; the Mria family
  is `mria_metric_meta/1`), described in EMQX's docs "Mria introduction: monitor and debug" and
  "Statistics and metrics". Counters carry no `_total` suffix. In the default `mode=node` each pod reports
  only itself and adds no `node` label, so the pod label from service discovery identifies the node.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPERATOR_INSTANCE_LABEL = "apps.emqx.io/instance"
OPERATOR_MANAGED_BY_LABEL = "apps.emqx.io/managed-by"
OPERATOR_MANAGED_BY_VALUE = "emqx-operator"
OPERATOR_DB_ROLE_LABEL = "apps.emqx.io/db-role"
DASHBOARD_PORT_NAME = "dashboard"
METRICS_PATH = "/api/v5/prometheus/stats"

# Labels our PodMonitor stamps on every series, so rules and panels select one EMQX cluster without relying
# on the `job` label format of the Prometheus Operator.
CLUSTER_LABEL = "emqx_cluster"
DB_ROLE_LABEL = "db_role"

GRAFANA_SIDECAR_LABEL = "grafana_dashboard"  # kube-prometheus-stack's default sidecar label, value "1"


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # gauge | counter
    meaning: str


# Every EMQX metric this module queries. `up` is Prometheus' own scrape-health series, not EMQX's.
EMQX_METRICS: tuple[Metric, ...] = (
    Metric("emqx_live_connections_count", "gauge", "MQTT connections currently open on this node"),
    Metric("emqx_messages_received", "counter", "PUBLISH messages received from clients"),
    Metric("emqx_messages_sent", "counter", "PUBLISH messages sent to clients"),
    Metric("emqx_messages_dropped", "counter", "messages dropped before delivery"),
    Metric("emqx_cluster_nodes_running", "gauge", "nodes this node sees running in its cluster"),
    Metric("emqx_cluster_nodes_stopped", "gauge", "nodes this node knows of but sees stopped"),
    Metric("emqx_mria_lag", "gauge", "replicant: transactions behind its upstream core, per shard"),
    Metric("emqx_mria_replayq_len", "gauge", "replicant: internal replay queue length, per shard"),
    Metric("emqx_mria_server_mql", "gauge", "core: transactions waiting to be sent to replicants, per shard"),
    Metric("emqx_vm_cpu_use", "gauge", "CPU used, percent"),
    Metric("emqx_vm_used_memory", "gauge", "memory used, bytes"),
    Metric("emqx_vm_total_memory", "gauge", "memory total, bytes"),
)

# Connection alerts against the listener limit could never fire: max_connections comes from memory (~23 KiB per
# mostly idle connection), and a node with a real message load saturates its CPU long before it holds that many.
# The alerts watch CPU itself, and connections against the plan: above it, a node is carrying what a lost or
# unbalanced node left behind, or the fleet has outgrown the target.
CONNECTIONS_OVER_PLAN_RATIO = 1.25
# emqx_vm_cpu_use is the OS CPU utilisation in percent (emqx_mgmt.erl vm_stats(cpu) from emqx_vm:cpu_util, which
# reads the host's /proc/stat): with one EMQX pod per node, the node's CPU is the broker's.
CPU_WARNING_PERCENT = 80
CPU_CRITICAL_PERCENT = 95
# EMQX publishes no thresholds for the Mria queues ("less is better"; alert when they stay above the normal
# peak). These are starting points for a steady cluster; a replicant bootstrapping or a burst of subscription
# changes raises them briefly, hence the `for` windows.
MRIA_LAG_THRESHOLD = 1000
MRIA_REPLAYQ_THRESHOLD = 1000
MRIA_SERVER_MQL_THRESHOLD = 1000

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DURATION = re.compile(r"([0-9]+(ms|s|m|h|d|w|y))+")


def _require_dns_label(value: str, what: str) -> None:
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a Kubernetes DNS label (lowercase letters, digits, '-')")


def _selector(namespace: str, emqx_name: str, **extra: str) -> str:
    pairs = {"namespace": namespace, CLUSTER_LABEL: emqx_name, **extra}
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs.items()) + "}"


def _metadata(name: str, namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": dict(labels)}


def pod_monitor(
    *, name: str, namespace: str, emqx_name: str, labels: Mapping[str, str], interval: str = "15s"
) -> dict[str, Any]:
    """A monitoring.coreos.com/v1 PodMonitor scraping every core and replicant pod of one EMQX cluster."""
    _require_dns_label(namespace, "namespace")
    _require_dns_label(emqx_name, "EMQX name")
    if not _DURATION.fullmatch(interval):
        raise ValueError(f"interval {interval!r} is not a Prometheus duration such as 15s or 1m")
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": _metadata(name, namespace, labels),
        "spec": {
            "selector": {
                "matchLabels": {
                    OPERATOR_INSTANCE_LABEL: emqx_name,
                    OPERATOR_MANAGED_BY_LABEL: OPERATOR_MANAGED_BY_VALUE,
                }
            },
            "namespaceSelector": {"matchNames": [namespace]},
            "podMetricsEndpoints": [
                {
                    "port": DASHBOARD_PORT_NAME,
                    "path": METRICS_PATH,
                    "interval": interval,
                    "relabelings": [
                        {"action": "replace", "targetLabel": CLUSTER_LABEL, "replacement": emqx_name},
                        {
                            "action": "replace",
                            "sourceLabels": ["__meta_kubernetes_pod_label_apps_emqx_io_db_role"],
                            "targetLabel": DB_ROLE_LABEL,
                        },
                    ],
                }
            ],
        },
    }


def _alert(alert: str, expr: str, duration: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "alert": alert,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description},
    }


@dataclass(frozen=True)
class PlannedLoad:
    """What the sizing plans for one cluster: the nodes that must be running and the connections of each client
    node at the target."""

    nodes: int  # cores + replicants
    connections_per_node: int
    client_nodes: int

    def __post_init__(self) -> None:
        if self.nodes < 1 or self.client_nodes < 1 or self.connections_per_node < 1:
            raise ValueError(f"a planned load needs at least one node, client node and connection, got {self}")


def alert_rules(*, namespace: str, emqx_name: str, plan: PlannedLoad) -> list[dict[str, Any]]:
    """The alerting rules of `prometheus_rule`, for callers that want them without the wrapper."""
    sel = _selector(namespace, emqx_name)
    by_pod_shard = "max by (namespace, pod, shard)"
    by_cluster = f"by (namespace, {CLUSTER_LABEL})"
    node_over_plan = round(plan.connections_per_node * CONNECTIONS_OVER_PLAN_RATIO)
    cluster_target = plan.connections_per_node * plan.client_nodes
    who = f"EMQX {namespace}/{emqx_name}"
    return [
        _alert(
            "EMQXReplicantMriaLag",
            f"{by_pod_shard} (emqx_mria_lag{sel}) > {MRIA_LAG_THRESHOLD}",
            "5m",
            "warning",
            f"{who}: replicant {{{{ $labels.pod }}}} lags its core on shard {{{{ $labels.shard }}}}",
            "The replicant is {{ $value }} transactions behind its upstream core; clients on it read stale "
            "routes and sessions. Check core CPU, the network between pods and emqx_mria_server_mql on cores.",
        ),
        _alert(
            "EMQXReplicantReplayQueue",
            f"{by_pod_shard} (emqx_mria_replayq_len{sel}) > {MRIA_REPLAYQ_THRESHOLD}",
            "10m",
            "warning",
            f"{who}: replay queue of {{{{ $labels.pod }}}} keeps growing on shard {{{{ $labels.shard }}}}",
            "The replicant's replay queue holds {{ $value }} entries; it cannot apply transactions as fast as "
            "they arrive.",
        ),
        _alert(
            "EMQXCorePendingTransactions",
            f"{by_pod_shard} (emqx_mria_server_mql{sel}) > {MRIA_SERVER_MQL_THRESHOLD}",
            "5m",
            "warning",
            f"{who}: core {{{{ $labels.pod }}}} has transactions waiting for replicants",
            "{{ $value }} transactions wait to be sent to replicants on shard {{ $labels.shard }}. A rising "
            "trend means the cores need more capacity (EMQX docs: add core nodes).",
        ),
        _alert(
            "EMQXNodeCPUHigh",
            f"max by (namespace, pod) (emqx_vm_cpu_use{sel}) > {CPU_WARNING_PERCENT}",
            "15m",
            "warning",
            f"{who}: {{{{ $labels.pod }}}} CPU above {CPU_WARNING_PERCENT}%",
            "CPU is what saturates first on a sized EMQX node: {{ $value }}% used. Scale client nodes out (raise "
            "emqx.capacity) and rebalance before latency grows.",
        ),
        _alert(
            "EMQXNodeCPUSaturated",
            f"max by (namespace, pod) (emqx_vm_cpu_use{sel}) > {CPU_CRITICAL_PERCENT}",
            "5m",
            "critical",
            f"{who}: {{{{ $labels.pod }}}} CPU saturated",
            "{{ $value }}% CPU: deliveries queue, keepalives time out and clients start to reconnect.",
        ),
        _alert(
            "EMQXNodeConnectionsAbovePlan",
            f"max by (namespace, pod) (emqx_live_connections_count{sel}) > {node_over_plan}",
            "15m",
            "warning",
            f"{who}: {{{{ $labels.pod }}}} holds more than {CONNECTIONS_OVER_PLAN_RATIO:.0%} of its planned "
            f"{plan.connections_per_node} connections",
            "{{ $value }} live connections: a client node was lost, the load is uneven after a scale-out (run a "
            "Rebalance), or the fleet has grown past the plan.",
        ),
        _alert(
            "EMQXClusterConnectionsAboveTarget",
            f"sum {by_cluster} (emqx_live_connections_count{sel}) > {cluster_target}",
            "30m",
            "warning",
            f"{who}: more connections than the {cluster_target} it is sized for",
            "{{ $value }} live connections: raise emqx.capacity.connections so the sizing adds nodes.",
        ),
        _alert(
            "EMQXScrapeFailing",
            f"up{sel} == 0",
            "2m",
            "critical",
            f"{who}: {{{{ $labels.pod }}}} does not answer on {METRICS_PATH}",
            "The node is down, restarting, or its dashboard listener is unreachable.",
        ),
        _alert(
            "EMQXNoTargets",
            f"absent(up{sel})",
            "15m",
            "warning",
            f"{who}: Prometheus scrapes no EMQX pod",
            f"The PodMonitor matches no pod port named '{DASHBOARD_PORT_NAME}', or the cluster is gone.",
        ),
        _alert(
            # Not emqx_cluster_nodes_stopped: old cores of every rollout stay "stopped" until cluster.autoclean
            # (mria.erl cluster_nodes(stopped): known but not running). Running nodes count cores and replicants
            # (mria.erl running_nodes/0); a blue-green rollout only ever adds nodes, so it never fires this.
            "EMQXNodesBelowPlan",
            f"max {by_cluster} (emqx_cluster_nodes_running{sel}) < {plan.nodes}",
            "5m",
            "critical",
            f"{who}: fewer than the {plan.nodes} planned nodes are running",
            "The best-connected node sees {{ $value }} running members: a node crashed, cannot be scheduled, or "
            "left the cluster.",
        ),
        _alert(
            "EMQXClusterViewsDiffer",
            f"max {by_cluster} (emqx_cluster_nodes_running{sel}) != min {by_cluster} (emqx_cluster_nodes_running{sel})",
            "5m",
            "critical",
            f"{who}: nodes disagree on the cluster size",
            "Nodes report different numbers of running members: the cluster may be partitioned.",
        ),
        _alert(
            "EMQXPodsOutsideCluster",
            f"count {by_cluster} (up{sel} == 1) > max {by_cluster} (emqx_cluster_nodes_running{sel})",
            "10m",
            "warning",
            f"{who}: more EMQX pods answer than the cluster counts as members",
            "Some pods run but never joined the cluster (discovery or cookie problem); they serve clients "
            "in isolation.",
        ),
    ]


def prometheus_rule(
    *, name: str, namespace: str, emqx_name: str, labels: Mapping[str, str], plan: PlannedLoad
) -> dict[str, Any]:
    """A monitoring.coreos.com/v1 PrometheusRule with the alerts for one EMQX cluster."""
    _require_dns_label(namespace, "namespace")
    _require_dns_label(emqx_name, "EMQX name")
    rules = alert_rules(namespace=namespace, emqx_name=emqx_name, plan=plan)
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _metadata(name, namespace, labels),
        "spec": {"groups": [{"name": f"emqx.{namespace}.{emqx_name}", "rules": rules}]},
    }


@dataclass(frozen=True)
class _Panel:
    title: str
    unit: str
    queries: tuple[tuple[str, str], ...]  # (PromQL, legend)


def _panels(sel: str) -> tuple[_Panel, ...]:
    rate = "$__rate_interval"  # Grafana picks a window of at least four scrape intervals
    return (
        _Panel(
            "Live connections per node", "short", ((f"sum by (pod) (emqx_live_connections_count{sel})", "{{pod}}"),)
        ),
        _Panel(
            "Messages in / out per second",
            "ops",
            (
                (f"sum(rate(emqx_messages_received{sel}[{rate}]))", "in"),
                (f"sum(rate(emqx_messages_sent{sel}[{rate}]))", "out"),
                (f"sum(rate(emqx_messages_dropped{sel}[{rate}]))", "dropped"),
            ),
        ),
        _Panel(
            "Mria replicant lag (transactions)",
            "short",
            ((f"max by (pod, shard) (emqx_mria_lag{sel})", "{{pod}} {{shard}}"),),
        ),
        _Panel(
            "Mria replay queue (replicants)",
            "short",
            ((f"max by (pod, shard) (emqx_mria_replayq_len{sel})", "{{pod}} {{shard}}"),),
        ),
        _Panel(
            "Mria pending transactions (cores)",
            "short",
            ((f"max by (pod, shard) (emqx_mria_server_mql{sel})", "{{pod}} {{shard}}"),),
        ),
        _Panel("CPU used", "percent", ((f"max by (pod) (emqx_vm_cpu_use{sel})", "{{pod}}"),)),
        _Panel(
            "Memory used",
            "percentunit",
            ((f"max by (pod) (emqx_vm_used_memory{sel}) / max by (pod) (emqx_vm_total_memory{sel})", "{{pod}}"),),
        ),
        _Panel(
            "Cluster members seen by each node",
            "short",
            (
                (f"max by (pod) (emqx_cluster_nodes_running{sel})", "{{pod}} running"),
                (f"max by (pod) (emqx_cluster_nodes_stopped{sel})", "{{pod}} stopped"),
            ),
        ),
    )


def dashboard(*, namespace: str, emqx_name: str) -> dict[str, Any]:
    """The Grafana dashboard model (schemaVersion 39) for one EMQX cluster."""
    sel = _selector(namespace, emqx_name)
    datasource = {"type": "prometheus", "uid": "${datasource}"}
    panels: list[dict[str, Any]] = []
    for i, panel in enumerate(_panels(sel)):
        panels.append(
            {
                "id": i + 1,
                "type": "timeseries",
                "title": panel.title,
                "datasource": datasource,
                "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                "targets": [
                    {"refId": chr(ord("A") + j), "datasource": datasource, "expr": expr, "legendFormat": legend}
                    for j, (expr, legend) in enumerate(panel.queries)
                ],
            }
        )
    # a stable uid keeps links and stars across re-renders; Grafana caps uids at 40 characters
    uid = "emqx-" + hashlib.sha256(f"{namespace}/{emqx_name}".encode()).hexdigest()[:16]
    return {
        "uid": uid,
        "title": f"EMQX {namespace}/{emqx_name}",
        "tags": ["emqx", "mqtt"],
        "timezone": "browser",
        "schemaVersion": 39,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "hide": 0,
                }
            ]
        },
        "panels": panels,
    }


def grafana_dashboard_configmap(
    *, name: str, namespace: str, emqx_name: str, labels: Mapping[str, str]
) -> dict[str, Any]:
    """A v1 ConfigMap the Grafana dashboard sidecar picks up by its `grafana_dashboard: "1"` label."""
    _require_dns_label(namespace, "namespace")
    _require_dns_label(emqx_name, "EMQX name")
    model = dashboard(namespace=namespace, emqx_name=emqx_name)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(name, namespace, {**labels, GRAFANA_SIDECAR_LABEL: "1"}),
        "data": {f"emqx-{emqx_name}.json": json.dumps(model, indent=2, sort_keys=True)},
    }
