"""Connection rebalancing runs declared in stack config. A Rebalance is one-shot and immutable (the operator's
webhook rejects updates), so each run is its own object, named from its content: changing a run makes a new one."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.render.emqx import rebalance_object_name, rebalance_spec
from components.settings import RebalanceRun

API_VERSION = "apps.emqx.io/v2beta1"


def strategy(run: RebalanceRun) -> dict[str, object]:
    return {
        "connEvictRate": run.conn_evict_rate,
        "sessEvictRate": run.sess_evict_rate,
        "waitTakeover": run.wait_takeover,
        "waitHealthCheck": run.wait_health_check,
        "absConnThreshold": run.abs_conn_threshold,
        "relConnThreshold": run.rel_conn_threshold,
        "absSessThreshold": run.abs_sess_threshold,
        "relSessThreshold": run.rel_sess_threshold,
    }


class Rebalances(pulumi.ComponentResource):
    def __init__(self, name: str, *, runs: Sequence[RebalanceRun], instance_name: str, instance_kind: str,
                 namespace: str, provider: k8s.Provider, after: Sequence[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("emqx-platform:workloads:Rebalances", name, None, opts)
        for run in runs:
            spec = rebalance_spec(instance_name=instance_name, instance_kind=instance_kind, strategy=strategy(run))
            object_name = rebalance_object_name(instance_name, run.name, spec)
            k8s.apiextensions.CustomResource(
                f"{name}-{run.name}",
                api_version=API_VERSION,
                kind="Rebalance",
                metadata={"name": object_name, "namespace": namespace},
                spec=spec,
                # The content-derived name makes a changed run a new object, so nothing is ever updated in place.
                opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(after)),
            )
        self.register_outputs({})
