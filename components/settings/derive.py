"""What the sections decide together once each is read: the sizing plan, the EMQX and load-generator pools' sizes, the
tuning profile and the address plan. Each rule still reports under the key of the section that owns it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from components import sizing, tuning
from components.config_reader import Problems
from components.settings.aws import AwsKeys, AwsSettings
from components.settings.cloud import CloudSettings
from components.settings.cluster import ClusterSettings
from components.settings.common import Target
from components.settings.emqx import EmqxSettings, topology_problems
from components.settings.existing import ExistingClusterSettings
from components.settings.load_balancer import LoadBalancerSettings
from components.settings.load_test import LoadTestRun
from components.settings.network import NetworkSettings, plan_aws_network, plan_network_settings
from components.settings.node_pools import (
    NodePools,
    NodePoolSettings,
    emqx_pool_problems,
    load_test_pool,
    node_shape,
    planned_core_pool,
    planned_emqx_pool,
)
from components.settings.node_tuning import TuningOverrides, build_tuning_profile
from components.settings.rebalance import RebalanceRun, rebalance_edition_problems
from components.settings.vm import VmFields, VmSettings, derive_vm

# Cross-field rules run on whatever their inputs are valid for, so one run reports as much as it can without
# deriving anything from a value already reported as wrong.
SIZING_INPUTS = ("target", "production", "emqx", "nodePools", "existing", "cluster", "tuning")


@dataclass(frozen=True)
class Sections:
    """Every section as its parser read it."""

    target: Target | None
    production: bool
    cloud: CloudSettings | None
    network_fields: Mapping[str, Any] | None
    cluster: ClusterSettings
    pools: NodePools
    emqx: EmqxSettings | None
    load_balancer: LoadBalancerSettings
    tuning: TuningOverrides
    rebalance: tuple[RebalanceRun, ...]
    load_test: tuple[LoadTestRun, ...]
    existing: ExistingClusterSettings | None
    vm: VmFields | None = None  # mode vm: ECS instances instead of node pools (settings/vm.py)
    tls: bool = False  # mode vm: the nodes get tlsCertificate and tlsPrivateKey
    aws_keys: AwsKeys | None = None  # target aws: the aws-only keys, joined with the address plan here


@dataclass(frozen=True)
class Derived:
    plan: sizing.SizingPlan | None = None
    profile: tuning.TuningProfile | None = None
    network: NetworkSettings | None = None
    pools: NodePools | None = None
    vm: VmSettings | None = None
    aws: AwsSettings | None = None


def derive(s: Sections, values: Mapping[str, Any], problems: Problems) -> Derived:
    emqx, target, production = s.emqx, s.target, s.production
    if s.vm is not None and emqx is not None:
        # mode vm sizes ECS instances, not node pools: no pools at all.
        vm = derive_vm(s.vm, emqx=emqx, cloud=s.cloud, network_fields=s.network_fields, overrides=s.tuning,
                       cluster=s.cluster, production=production, licensed="licenseKey" in values, tls=s.tls,
                       problems=problems)
        return Derived(plan=vm.plan, profile=vm.profile, network=vm.network, pools=NodePools(None, None, None),
                       vm=vm.vm)
    if emqx is None or target is None or problems.about(*SIZING_INPUTS):
        return Derived(pools=s.pools)
    plan: sizing.SizingPlan | None = None
    profile: tuning.TuningProfile | None = None
    core_pool: NodePoolSettings | None = None
    emqx_pool, fleet_notes, fleet = s.pools.emqx, [], None
    pinned_core = s.pools.core.instance_types[0] if s.pools.core is not None and s.pools.core.instance_types else None
    if target in ("alicloud", "aws") and emqx_pool is not None and s.cloud is not None:
        # The planner's catalogue is the target's (node_pools.POOL_RULES).
        emqx_pool, fleet_notes, fleet = planned_emqx_pool(values, emqx, emqx_pool, s.cloud, s.load_balancer,
                                                          production, target, pinned_core)
    cores, replicants = emqx.requested_cores, emqx.requested_replicants
    if fleet is not None and cores is None and replicants is None:
        # Plan exactly the planner's fleet (it spreads client nodes over every zone; cores beside replicants get
        # their own pool below).
        cores, replicants = fleet.plan.cores, fleet.plan.replicants
    shape = node_shape(target, emqx_pool, s.existing, problems)
    # How this stack gets larger nodes, named by its setting, for the fixes the sizing suggests.
    larger_shape = ("larger nodes (existing.nodeShape, with nodes to match)" if target == "existing"
                    else "a larger instance type in nodePools.emqx.instanceTypes")
    if shape is not None:
        plan, sizing_problems = sizing.plan_capacity(
            emqx.capacity,
            shape,
            cores=cores,
            replicants=replicants,
            replicants_allowed=emqx.release.replicants_allowed,
            headroom=emqx.headroom,
            min_client_nodes=2 if production else 1,
            survive_node_loss=production,
            key="emqx",
            larger_shape=larger_shape,
        )
        problems.extend(sizing_problems)
    rebalance_edition_problems(s.rebalance, emqx, problems)
    if (plan is not None and shape is not None and emqx.requested_cores is None and plan.replicants == 0
            and plan.cores > sizing.MAX_ALL_CORE_NODES):
        # The sizing derived more all-core nodes than EMQX 5 runs: one message naming what the user can change,
        # instead of topology rules that blame emqx.cores, which the stack does not set.
        problems.items.append(sizing.derived_all_core_problem(
            plan.cores, shape, key="emqx", larger_shape=larger_shape,
            replicants_allowed=emqx.release.replicants_allowed))
        plan = None
    if plan is not None:
        problems.extend(topology_problems(plan, emqx.release, production, "licenseKey" in values))
        if fleet_notes:
            plan = replace(plan, notes=plan.notes + tuple(fleet_notes))
        if plan.replicants and target in ("alicloud", "aws") and s.pools.core is not None and emqx_pool is not None:
            # Cores beside replicants take no clients: their own, smaller pool (README, Sizing model).
            core_pool, plan = planned_core_pool(s.pools.core, plan, emqx, target, emqx_pool, problems)
        elif s.pools.core is not None and s.pools.core.instance_types:
            plan = replace(plan, notes=(*plan.notes, "nodePools.core.instanceTypes is unused: an all-core cluster "
                                        "runs its cores on the EMQX pool (they take the clients)"))
        emqx_pool = emqx_pool_problems(emqx_pool, plan, production, problems)
        profile = build_tuning_profile(s.tuning, plan, s.cluster, problems)
    loadgen_pool = load_test_pool(s.load_test, profile, s.pools.loadgen, problems, s.existing, target)
    pools = NodePools(system=s.pools.system, emqx=emqx_pool, loadgen=loadgen_pool, core=core_pool)
    # The address plan counts the core pool's nodes (and rollout room) with the EMQX pool's.
    emqx_nodes = emqx_pool if emqx_pool is None or core_pool is None else replace(
        emqx_pool, count=emqx_pool.count + core_pool.count,
        rollout_surge=(emqx_pool.rollout_surge or 0) + (core_pool.rollout_surge or 0))
    all_pools = (pools.system, emqx_nodes, pools.loadgen)
    aws: AwsSettings | None = None
    if plan is None:
        network = None
    elif target == "aws":
        network, address_plan = plan_aws_network(s.network_fields, s.cloud, all_pools, production, problems)
        aws = s.aws_keys.with_plan(address_plan) if s.aws_keys is not None and address_plan is not None else None
    else:
        network = plan_network_settings(target, s.network_fields, s.cloud, all_pools, problems)
    return Derived(plan=plan, profile=profile, network=network, pools=pools, aws=aws)
