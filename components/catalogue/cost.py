"""The stack's monthly list cost by role, at rest and at the rollout peak (README: Sizing model).

Pure (no Pulumi import): takes the parsed settings. Prices come from the catalogue; an unknown price shows as
"unknown" and makes the total unknown, so a partial sum is never presented as the whole bill. Disks, traffic and
the ACK cluster fee are not counted.
"""

from __future__ import annotations

from typing import Any

from components import sizing
from components.catalogue import alicloud


def _price(instance_type: str | None) -> float | None:
    entry = alicloud.INSTANCE_TYPES.get(instance_type or "")
    return entry.price_per_hour if entry else None


def _smallest(instance_types: tuple[str, ...]) -> str:
    """The type a pool is sized for (settings size the EMQX and load-generator pools for their smallest type)."""
    return min(instance_types, key=lambda t: (sizing.INSTANCE_SHAPES[t].vcpu if t in sizing.INSTANCE_SHAPES else 0, t))


def stack_cost(settings: Any) -> dict[str, object]:
    """By role: cores, client nodes (replicants; in an all-core cluster the cores are the client nodes), system
    pool, load generators (while loadTest.runs keep the pool on), load balancer, NAT gateway. The rollout peak is the
    operator's blue-green one: both EMQX sets at once."""
    plan: sizing.SizingPlan = settings.sizing
    roles: list[sizing.RoleCost] = []
    if settings.target == "alicloud" and settings.emqx_pool is not None:
        emqx_type = _smallest(settings.emqx_pool.instance_types)
        roles.append(sizing.RoleCost("cores", emqx_type, plan.cores, 2 * plan.cores, _price(emqx_type)))
        roles.append(sizing.RoleCost("client_nodes", emqx_type, plan.replicants, 2 * plan.replicants,
                                     _price(emqx_type)))
        if settings.system_pool is not None:
            system_type = settings.system_pool.instance_types[0]
            roles.append(sizing.RoleCost("system_pool", system_type, settings.system_pool.count,
                                         settings.system_pool.count, _price(system_type)))
        loadgen = settings.loadgen_pool
        if loadgen is not None and loadgen.enabled and loadgen.count:
            # One node per generator pod of the largest run (settings/node_pools.py), billed while runs are listed;
            # a rollout does not grow it.
            loadgen_type = _smallest(loadgen.instance_types)
            roles.append(sizing.RoleCost("load_generators", loadgen_type, loadgen.count, loadgen.count,
                                         _price(loadgen_type)))
        # Pay-by-LCU CLB / NLB and the enhanced NAT gateway bill an instance fee plus usage: not in the catalogue.
        lb = f"{settings.load_balancer.type} (pay-by-LCU)"
        roles.append(sizing.RoleCost("load_balancer", lb, 1, 1, None))
        roles.append(sizing.RoleCost("nat", "enhanced NAT gateway", 1, 1, None))
    else:
        # An existing cluster: its nodes are already paid for elsewhere; only the EMQX share is shown, unpriced.
        roles.append(sizing.RoleCost("cores", None, plan.cores, 2 * plan.cores, None))
        roles.append(sizing.RoleCost("client_nodes", None, plan.replicants, 2 * plan.replicants, None))
    return sizing.cost_estimate(roles, alicloud.CURRENCY)
