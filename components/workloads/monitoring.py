"""Prometheus Operator objects for EMQX (only when the stack says the Prometheus Operator is installed): a PodMonitor
for /api/v5/prometheus/stats, alert rules for Mria, CPU, running nodes and connections against the plan, and a
Grafana dashboard ConfigMap."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.render import monitoring
from components.settings import MonitoringSettings
from components.sizing import SizingPlan


class EmqxMonitoring(pulumi.ComponentResource):
    def __init__(self, name: str, *, settings: MonitoringSettings, emqx_name: str, namespace: str,
                 plan: SizingPlan, provider: k8s.Provider, after: Sequence[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("emqx-platform:workloads:EmqxMonitoring", name, None, opts)
        labels = dict(settings.labels)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(after))
        objects = [
            monitoring.pod_monitor(name=emqx_name, namespace=namespace, emqx_name=emqx_name, labels=labels,
                                   interval=settings.scrape_interval),
            monitoring.prometheus_rule(name=emqx_name, namespace=namespace, emqx_name=emqx_name, labels=labels,
                                       plan=monitoring.PlannedLoad(
                                           nodes=plan.cores + plan.replicants,
                                           connections_per_node=plan.connections_per_node,
                                           client_nodes=plan.client_nodes)),
        ]
        for obj in objects:
            k8s.apiextensions.CustomResource(
                f"{name}-{obj['kind'].lower()}",
                api_version=obj["apiVersion"],
                kind=obj["kind"],
                metadata=obj["metadata"],
                spec=obj["spec"],
                opts=k8s_opts,
            )
        if settings.grafana_dashboard:
            # The Grafana sidecar of kube-prometheus-stack watches only its own namespace unless told otherwise.
            cm = monitoring.grafana_dashboard_configmap(name=f"{emqx_name}-dashboard",
                                                        namespace=settings.dashboard_namespace or namespace,
                                                        emqx_name=emqx_name, labels=labels)
            k8s.core.v1.ConfigMap(f"{name}-grafana", metadata=cm["metadata"], data=cm["data"], opts=k8s_opts)
        self.register_outputs({})
