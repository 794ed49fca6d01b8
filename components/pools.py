"""How a pod finds its node pool, the same on every cloud: each pool's nodes carry the pool label, and dedicated
pools (EMQX, load generators) a taint that only their own pods tolerate. Alibaba's AckCluster and AWS's EksNodeGroups
label and taint their nodes with these; the workloads place pods with `pool_placement` and never name a cloud.
"""

from __future__ import annotations

POOL_LABEL = "emqx-platform/pool"
EMQX_TAINT_KEY = "emqx-platform/dedicated"
# The cores' own pool beside replicants (nodePools.core): its label and taint value.
EMQX_CORE_POOL = "emqx-core"


def pool_placement(pool_name: str, *, dedicated: bool) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Node selector and tolerations that put a pod on a pool (a node group on AWS)."""
    selector = {POOL_LABEL: pool_name}
    tolerations = ([{"key": EMQX_TAINT_KEY, "operator": "Equal", "value": pool_name, "effect": "NoSchedule"}]
                   if dedicated else [])
    return selector, tolerations
