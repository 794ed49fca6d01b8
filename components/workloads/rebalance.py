"""Connection rebalancing runs declared in stack config. A Rebalance is one-shot and immutable (the operator's
webhook rejects updates), so each run is its own object, named from its content: changing a run makes a new one.

Pulumi waits for each run to finish. The operator (2.2.29, apis/apps/v2beta1/rebalance_types.go) sets
`status.phase` to Processing, then Completed or Failed, and never leaves Completed or Failed. pulumi-kubernetes'
`pulumi.com/waitFor` has no failure condition (only AND of conditions: pulumi/pulumi-kubernetes#3521), so a run
that fails never matches `Completed` and `pulumi up` fails when `pulumi.com/timeoutSeconds` (derived from the
plan: one node's planned connections and sessions at the run's rates, with a margin) runs out.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import sizing
from components.render.emqx import rebalance_object_name, rebalance_spec
from components.settings import RebalanceRun

API_VERSION = "apps.emqx.io/v2beta1"
# kubectl-style JSONPath (pulumi-kubernetes >= 4.18): wait until the phase is Completed.
WAIT_FOR_COMPLETED = "jsonpath={.status.phase}=Completed"


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


def timeout_seconds(run: RebalanceRun, plan: sizing.SizingPlan) -> int:
    rates = sizing.Evacuation(conn_evict_rate=run.conn_evict_rate, sess_evict_rate=run.sess_evict_rate,
                              wait_takeover=run.wait_takeover)
    return sizing.rebalance_timeout_seconds(plan, rates, wait_health_check=run.wait_health_check)


class Rebalances(pulumi.ComponentResource):
    def __init__(self, name: str, *, runs: Sequence[RebalanceRun], instance_name: str, instance_kind: str,
                 namespace: str, plan: sizing.SizingPlan, provider: k8s.Provider, after: Sequence[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("emqx-platform:workloads:Rebalances", name, None, opts)
        for run in runs:
            spec = rebalance_spec(instance_name=instance_name, instance_kind=instance_kind, strategy=strategy(run))
            object_name = rebalance_object_name(instance_name, run.name, spec)
            k8s.apiextensions.CustomResource(
                f"{name}-{run.name}",
                api_version=API_VERSION,
                kind="Rebalance",
                metadata={
                    "name": object_name,
                    "namespace": namespace,
                    "annotations": {
                        "pulumi.com/waitFor": WAIT_FOR_COMPLETED,
                        "pulumi.com/timeoutSeconds": str(timeout_seconds(run, plan)),
                    },
                },
                spec=spec,
                # The content-derived name makes a changed run a new object, so nothing is ever updated in place.
                opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(after)),
            )
        self.register_outputs({})
