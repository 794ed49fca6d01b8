"""The stack's monthly list cost by role, at rest and at the rollout peak (README: Sizing model).

Pure (no Pulumi import): takes the parsed settings. Prices come from the target's catalogue (Alibaba: CNY, AWS: USD);
an unknown price shows as "unknown" and makes the total unknown, so a partial sum is never presented as the whole
bill. Disks, traffic and the managed cluster fee (ACK Pro, EKS) are not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components import sizing
from components.catalogue import alicloud, aws
from components.catalogue.model import InstanceType


@dataclass(frozen=True)
class CloudBill:
    """What one cloud's stack is billed in and for: its catalogue, currency, and the unpriced network services."""

    catalogue: Callable[[], Mapping[str, InstanceType]]  # read at each use: the catalogue module's current table
    currency: str
    load_balancer: str  # billed per hour plus usage: not in the catalogue
    nat: str


# Pay-by-LCU CLB / NLB and the enhanced NAT gateway (Alibaba), the NLB (hour + NLCU) and NAT gateways (hour + GB) on
# AWS: an instance fee plus usage each, not in the catalogues.
BILLS: dict[str, CloudBill] = {
    "alicloud": CloudBill(lambda: alicloud.INSTANCE_TYPES, alicloud.CURRENCY, "{lb} (pay-by-LCU)",
                          "enhanced NAT gateway"),
    "aws": CloudBill(lambda: aws.INSTANCE_TYPES, aws.CURRENCY, "NLB (hour + NLCU)", "NAT gateway (hour + GB)"),
}


def _price(bill: CloudBill, instance_type: str | None) -> float | None:
    entry = bill.catalogue().get(instance_type or "")
    return entry.price_per_hour if entry else None


def _smallest(bill: CloudBill, instance_types: tuple[str, ...]) -> str:
    """The type a pool is sized for (settings size the EMQX and load-generator pools for their smallest type)."""
    def vcpu(t: str) -> int:
        entry = bill.catalogue().get(t)
        return entry.vcpu if entry else sizing.INSTANCE_SHAPES[t].vcpu if t in sizing.INSTANCE_SHAPES else 0
    return min(instance_types, key=lambda t: (vcpu(t), t))


def _vm_roles(settings: Any, bill: CloudBill) -> list[sizing.RoleCost]:
    """mode vm: the core and replicant instances as configured (a VM rollout restarts nodes in place and adds none, so
    the peak equals the rest), the load balancer and the NAT gateway."""
    vm = settings.vm
    roles = [sizing.RoleCost("cores", vm.cores.instance_type, vm.cores.count, vm.cores.count,
                             _price(bill, vm.cores.instance_type))]
    if vm.replicants.count:
        roles.append(sizing.RoleCost("client_nodes", vm.replicants.instance_type, vm.replicants.count,
                                     vm.replicants.count, _price(bill, vm.replicants.instance_type)))
    return roles


def stack_cost(settings: Any) -> dict[str, object]:
    """By role: cores, client nodes (replicants; in an all-core cluster the cores are the client nodes), system
    pool, load generators (while loadTest.runs keep the pool on), load balancer, NAT gateway(s). The rollout peak is
    the operator's blue-green one: both EMQX sets at once. Cores beside replicants are priced on their own pool's
    type (nodePools.core)."""
    plan: sizing.SizingPlan = settings.sizing
    roles: list[sizing.RoleCost] = []
    bill = BILLS.get(settings.target)
    if bill is not None and getattr(settings, "mode", "kubernetes") == "vm" and settings.vm is not None:
        roles = _vm_roles(settings, bill)
        nats = 1
    elif bill is not None and settings.emqx_pool is not None:
        emqx_type = _smallest(bill, settings.emqx_pool.instance_types)
        core_pool = getattr(settings, "core_pool", None)
        core_type = _smallest(bill, core_pool.instance_types) if core_pool is not None else emqx_type
        roles.append(sizing.RoleCost("cores", core_type, plan.cores, 2 * plan.cores, _price(bill, core_type)))
        roles.append(sizing.RoleCost("client_nodes", emqx_type, plan.replicants, 2 * plan.replicants,
                                     _price(bill, emqx_type)))
        if settings.system_pool is not None:
            system_type = settings.system_pool.instance_types[0]
            roles.append(sizing.RoleCost("system_pool", system_type, settings.system_pool.count,
                                         settings.system_pool.count, _price(bill, system_type)))
        loadgen = settings.loadgen_pool
        if loadgen is not None and loadgen.enabled and loadgen.count:
            # One node per generator pod of the largest run (settings/node_pools.py), billed while runs are listed;
            # a rollout does not grow it.
            loadgen_type = _smallest(bill, loadgen.instance_types)
            roles.append(sizing.RoleCost("load_generators", loadgen_type, loadgen.count, loadgen.count,
                                         _price(bill, loadgen_type)))
        # AWS: one NAT gateway per zone where network.natPerZone (the default in production), else one.
        aws_settings = getattr(settings, "aws", None)
        nats = len(settings.cloud.zones) if aws_settings is not None and aws_settings.nat_per_zone else 1
    else:
        # An existing cluster: its nodes are already paid for elsewhere; only the EMQX share is shown, unpriced.
        roles.append(sizing.RoleCost("cores", None, plan.cores, 2 * plan.cores, None))
        roles.append(sizing.RoleCost("client_nodes", None, plan.replicants, 2 * plan.replicants, None))
        return sizing.cost_estimate(roles, None)
    roles.append(sizing.RoleCost("load_balancer", bill.load_balancer.format(lb=settings.load_balancer.type), 1, 1,
                                 None))
    roles.append(sizing.RoleCost("nat", bill.nat, nats, nats, None))
    return sizing.cost_estimate(roles, bill.currency)
