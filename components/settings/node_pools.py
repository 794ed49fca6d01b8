"""nodePools: the system, EMQX, core (beside replicants) and load-generator pools, per target; the EMQX and core
pools' planned types and sizes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from components import loadtest, sizing, tuning
from components.aws import versions as eks_versions
from components.catalogue import alicloud as alicloud_catalogue
from components.catalogue import aws as aws_catalogue
from components.catalogue.model import InstanceType
from components.config_reader import Problems, Section, shown
from components.pools import EMQX_CORE_POOL
from components.settings.cloud import CloudSettings
from components.settings.common import Target
from components.settings.emqx import EmqxSettings
from components.settings.existing import ExistingClusterSettings
from components.settings.load_balancer import LoadBalancerSettings
from components.settings.load_test import LoadTestRun


@dataclass(frozen=True)
class NodePoolSettings:
    name: str
    enabled: bool
    instance_types: tuple[str, ...]
    count: int
    disk_category: str
    disk_gib: int
    # Nodes the pool may add while the operator's blue-green rollout runs the new EMQX set beside the old one
    # (one EMQX pod per node); 0 = a fixed-size pool; None (as read) = derived from the topology.
    rollout_surge: int | None = None


@dataclass(frozen=True)
class PoolRules:
    """What one cloud accepts in a node pool."""

    instance_type: str  # pattern of the cloud's instance type names
    instance_type_name: str
    instance_type_example: str
    disk_categories: tuple[str, ...]  # the first is the default
    default_types: Mapping[str, tuple[str, ...]]  # per pool
    catalogue: Mapping[str, InstanceType]  # the shapes (and prices) the sizing and the planner know
    catalogue_file: str  # where the catalogue is, for messages
    # One-line problems for one pool's instance types beyond the name pattern (key -> problems).
    pool_problems: Callable[[list[str], str], list[str]] | None = None
    disk_category_why: str = ""


def _eks_pool_problems(types: list[str], key: str) -> list[str]:
    # One AMI type serves a whole managed node group: arm64 and x86_64 types cannot mix (components/aws/versions.py).
    return eks_versions.instance_type_problems(types, key=key)


# Per target: a target missing here (an existing cluster) has no pools of ours.
POOL_RULES: dict[str, PoolRules] = {
    "alicloud": PoolRules(
        instance_type=r"ecs\.[a-z0-9-]+\.[a-z0-9]+",
        instance_type_name="an ECS instance type",
        instance_type_example="ecs.c7.4xlarge",
        disk_categories=("cloud_essd", "cloud_essd_entry", "cloud_auto", "cloud_efficiency"),
        default_types={"system": ("ecs.g7.xlarge",), "emqx": ("ecs.c7.xlarge",), "loadgen": ("ecs.c7.2xlarge",)},
        catalogue=alicloud_catalogue.INSTANCE_TYPES,
        catalogue_file="components/catalogue/alicloud.py",
    ),
    # EC2 instance type names: family (series, generation, options, e.g. c7g, m7i-flex) "." size (EC2 User Guide,
    # "Amazon EC2 instance type naming conventions"; components/aws/versions.py reads the architecture from them).
    "aws": PoolRules(
        instance_type=r"[a-z]+-?[0-9]+[a-z0-9-]*\.[a-z0-9]+(-[a-z0-9]+)*",
        instance_type_name="an EC2 instance type",
        instance_type_example="c7g.4xlarge",
        # gp3 only: the launch templates' encrypted root volume (components/aws/node_groups.py); gp2 costs more per GiB
        # for the same baseline (EBS User Guide, "General Purpose SSD volumes").
        disk_categories=("gp3",),
        default_types={"system": ("c7g.xlarge",), "emqx": ("c7g.4xlarge",), "loadgen": ("c7g.2xlarge",)},
        catalogue=aws_catalogue.INSTANCE_TYPES,
        catalogue_file="components/catalogue/aws.py",
        pool_problems=_eks_pool_problems,
        disk_category_why="the node groups' root volumes are encrypted gp3",
    ),
}


def instance_shapes(target: Target | None) -> Mapping[str, sizing.NodeShape]:
    """vCPU and memory per instance type of the target's catalogue (Alibaba: also the older sizing table)."""
    rules = POOL_RULES.get(target) if target else None
    if rules is None or target == "alicloud":
        return sizing.INSTANCE_SHAPES
    return {name: sizing.NodeShape(t.vcpu, t.memory_gib) for name, t in rules.catalogue.items()}


@dataclass(frozen=True)
class NodePools:
    system: NodePoolSettings | None
    emqx: NodePoolSettings | None
    loadgen: NodePoolSettings | None
    # The cores' own pool beside replicants (instance_types () = the planner's choice); unused by all-core clusters.
    core: NodePoolSettings | None = None


def parse_pools(section: Section, target: Target | None, load_test: tuple[LoadTestRun, ...]) -> NodePools:
    return NodePools(
        system=parse_pool(section.section("system"), "system", target, count=2),
        emqx=parse_pool(section.section("emqx"), "emqx", target, count=None),
        loadgen=parse_pool(section.section("loadgen"), "loadgen", target, count=0, enabled_default=bool(load_test)),
        core=parse_core_pool(section.section("core"), target),
    )


CORE_POOL = EMQX_CORE_POOL


def parse_core_pool(section: Section, target: Target | None) -> NodePoolSettings | None:
    """nodePools.core: the cores' own pool beside replicants. Only its type (pinned; else the planner picks the
    smallest that holds the cores) and disk are set here; its size is emqx.cores."""
    rules = POOL_RULES.get(target) if target else None
    if rules is None:
        return None
    types = section.strings("instanceTypes", ())
    for i, t in enumerate(types):
        if not re.fullmatch(rules.instance_type, t, re.ASCII):
            section.problems.add(f"nodePools.core.instanceTypes[{i}]", f"{shown(t)} is not {rules.instance_type_name}",
                                 f"use a type such as {rules.instance_type_example}, or remove it to let the planner "
                                 "choose")
            types = ()
    if types and rules.pool_problems is not None:
        section.problems.extend(rules.pool_problems(list(types), "nodePools.core.instanceTypes"))
    disk = section.integer("diskGiB", 120, minimum=40, maximum=2048)
    return NodePoolSettings(name=CORE_POOL, enabled=True, instance_types=types, count=0,
                            disk_category=rules.disk_categories[0], disk_gib=disk or 120)


def planned_core_pool(core: NodePoolSettings, plan: sizing.SizingPlan, emqx: EmqxSettings, target: Target,
                      emqx_pool: NodePoolSettings, problems: Problems
                      ) -> tuple[NodePoolSettings | None, sizing.SizingPlan]:
    """Beside replicants, the cores' own pool: the pinned type (nodePools.core.instanceTypes, the smallest of them)
    checked against the cores' work, else the catalogue's smallest that holds it (sizing.smallest_core_type). One
    node per core, and as many again for the operator's blue-green rollout unless the EMQX pool is fixed
    (nodePools.emqx.rolloutSurge: 0)."""
    rules = POOL_RULES[target]
    shapes = instance_shapes(target)
    # The replicants' type (the pool's smallest, as node_shape plans for), whose family the cores prefer at a tie.
    plan_type = min(emqx_pool.instance_types, key=lambda t: (shapes[t].vcpu, t) if t in shapes else (0, t))
    if core.instance_types:
        unknown = [t for t in core.instance_types if t not in shapes]
        if unknown:
            problems.add("nodePools.core.instanceTypes", f"{', '.join(unknown)}: vCPU and memory unknown",
                         f"use a listed type ({rules.catalogue_file})")
            return None, plan
        core_type = min(core.instance_types, key=lambda t: (shapes[t].vcpu, shapes[t].memory_gib, t))
        problem = sizing.core_shape_problem(shapes[core_type], sizing.core_demand(emqx.capacity, plan), emqx.headroom)
        if problem:
            problems.add("nodePools.core.instanceTypes", f"{core_type}: {problem}",
                         "use a larger type, or remove it to let the planner choose")
            return None, plan
    else:
        emqx_family = rules.catalogue[plan_type].family if plan_type in rules.catalogue else ""
        chosen, why = sizing.smallest_core_type(emqx.capacity, plan, emqx.headroom, rules.catalogue, emqx_family)
        if chosen is None:
            problems.add("nodePools.core", f"no type of {rules.catalogue_file} holds the cores: {why}",
                         "set nodePools.core.instanceTypes to a larger type")
            return None, plan
        core_type = chosen
    plan = sizing.with_core_shape(plan, shapes[core_type], emqx.capacity, emqx.headroom)
    surge = 0 if emqx_pool.rollout_surge == 0 else plan.cores
    return replace(core, instance_types=core.instance_types or (core_type,), count=plan.cores,
                   rollout_surge=surge), plan


def parse_pool(section: Section, name: str, target: Target | None, *, count: int | None,
               enabled_default: bool = True) -> NodePoolSettings | None:
    rules = POOL_RULES.get(target) if target else None
    if rules is None:
        return None
    enabled = section.boolean("enabled", enabled_default) if name == "loadgen" else True
    types = section.strings("instanceTypes", rules.default_types[name], min_items=1)
    well_formed = True
    for i, t in enumerate(types):
        if not re.fullmatch(rules.instance_type, t, re.ASCII):
            well_formed = False
            section.problems.add(f"nodePools.{name}.instanceTypes[{i}]",
                                 f"{shown(t)} is not {rules.instance_type_name}",
                                 f"use a type such as {rules.instance_type_example}")
    if well_formed and rules.pool_problems is not None:
        section.problems.extend(rules.pool_problems(list(types), f"nodePools.{name}.instanceTypes"))
    n = section.integer("count", count, minimum=0 if name == "loadgen" else 1, maximum=500)
    if name == "system" and n is not None and n < 2:
        section.problems.add("nodePools.system.count", f"{n} system node leaves the operator and cert-manager "
                             "with no room during node maintenance", "use at least 2")
    default_disk = rules.disk_categories[0]
    raw_disk = section.raw.get("diskCategory")
    if len(rules.disk_categories) == 1 and isinstance(raw_disk, str) and raw_disk != default_disk:
        # One category only: say why rather than "is not one of gp3".
        section.accept("diskCategory")
        section.problems.add(f"nodePools.{name}.diskCategory", f"{shown(raw_disk)} is refused: "
                             f"{rules.disk_category_why}", f"remove it (or set {default_disk})")
        disk_category: str | None = default_disk
    else:
        disk_category = section.string("diskCategory", default_disk, choices=rules.disk_categories)
    disk = section.integer("diskGiB", 120, minimum=40, maximum=2048)
    surge = section.integer("rolloutSurge", None, minimum=0, maximum=500) if name == "emqx" else 0
    return NodePoolSettings(rollout_surge=surge, name=name, enabled=enabled, instance_types=types, count=n or 0,
                            disk_category=disk_category or default_disk, disk_gib=disk or 120)


def planned_emqx_pool(values: Mapping[str, Any], emqx: EmqxSettings, pool: NodePoolSettings, cloud: CloudSettings,
                       load_balancer: LoadBalancerSettings, production: bool,
                       target: Target | None = "alicloud", core_type: str | None = None
                       ) -> tuple[NodePoolSettings, list[str], sizing.FleetChoice | None]:
    """The EMQX pool's instance type: the planner's cheapest fleet (components/sizing.py fleet_candidates) unless
    nodePools.emqx.instanceTypes pins one; a pinned fleet that costs more than the planner's is noted. Also the
    fleet chosen (None when pinned or when nothing carries the target). core_type: nodePools.core's pinned type."""
    rules = POOL_RULES[target or "alicloud"]
    catalogue = rules.catalogue
    pools = values.get("nodePools")
    emqx_raw = pools.get("emqx") if isinstance(pools, Mapping) else None
    pinned_type = isinstance(emqx_raw, Mapping) and "instanceTypes" in emqx_raw
    options = sizing.FleetOptions(headroom=emqx.headroom, production=production, zones=len(cloud.zones),
                                  replicants_allowed=emqx.release.replicants_allowed,
                                  cores=emqx.requested_cores, replicants=emqx.requested_replicants,
                                  # load_balancer_tier holds Alibaba's CLB/NLB limits; AWS NLB limits are not
                                  # modelled there, so the planner does not check them on aws.
                                  load_balancer=load_balancer.type if target == "alicloud" else None,
                                  core_type=core_type)
    chosen = sizing.choose_fleet(emqx.capacity, options, catalogue)
    if not pinned_type:
        if chosen is None:
            # Nothing in the catalogue carries it: the default type's plan reports why, with the counts it needs.
            return pool, [], None
        # FleetChoice.rank: the cheapest where list prices are known, else the fewest vCPU standing in for cost.
        basis = ("the cheapest fleet of the catalogue" if chosen.monthly_cost is not None
                 else "the fleet of fewest vCPU in the catalogue (list prices unknown)")
        return replace(pool, instance_types=(chosen.instance_type,)), [
            f"planner chose {chosen.describe()} ({chosen.plan.planned_vcpu} vCPU / "
            f"{chosen.plan.planned_memory_gib:g} GiB), {basis} that carries the target "
            "(pin one with nodePools.emqx.instanceTypes)"], chosen
    best = sizing.choose_fleet(emqx.capacity, replace(options, cores=None, replicants=None, core_type=None), catalogue)
    shapes = instance_shapes(target)
    smallest = min(pool.instance_types, key=lambda t: (shapes[t].vcpu, t) if t in shapes else (0, t))
    pinned = sizing.fleet_candidates(emqx.capacity, options, {
        t: c for t, c in catalogue.items() if t == smallest}, core_catalogue=catalogue)[0]
    note = (sizing.pinned_cost_note(pinned[0], best, catalogue_file=rules.catalogue_file)
            if pinned and best else None)
    return pool, [note] if note else [], None


def emqx_pool_nodes(plan: sizing.SizingPlan) -> int:
    """EMQX pods on the EMQX pool: the replicants once the cores have their own pool (plan.core_shape), else all."""
    return plan.replicants if plan.core_shape is not None else plan.cores + plan.replicants


def emqx_pool_room(pool: NodePoolSettings, plan: sizing.SizingPlan) -> NodePoolSettings:
    """The EMQX pool's size: one node per EMQX pod, plus room for a blue-green rollout.

    The operator (2.2) starts the new cores, then the new replicants while the old cores still run, and removes
    the old sets only once the new replicants are ready: at the peak both whole clusters run side by side.
    """
    nodes = emqx_pool_nodes(plan)
    count = pool.count or nodes
    surge = nodes if pool.rollout_surge is None else pool.rollout_surge
    return replace(pool, count=count, rollout_surge=surge)


def emqx_pool_problems(emqx_pool: NodePoolSettings | None, plan: sizing.SizingPlan, production: bool,
                       problems: Problems) -> NodePoolSettings | None:
    """The EMQX pool sized for the plan, with its rollout room and pinned count checked."""
    if emqx_pool is not None:
        emqx_pool = emqx_pool_room(emqx_pool, plan)
        peak = emqx_pool_nodes(plan)
        surge = emqx_pool.rollout_surge or 0
        if production and surge == 0:
            problems.add("nodePools.emqx.rolloutSurge", "0 leaves no node for the operator's blue-green "
                         "rollout, so an image or resource change would hang with new pods Pending",
                         f"leave it unset (derived: {peak}) or raise it")
        elif 0 < surge < peak:
            problems.add("nodePools.emqx.rolloutSurge", f"{surge} nodes cannot hold the new cluster the "
                         f"operator starts beside the old one ({peak} pods, one per node), so a rollout "
                         "would hang", f"use at least {peak}, or 0 for a fixed pool you scale by hand")
    if emqx_pool is not None and emqx_pool.count and emqx_pool.count < emqx_pool_nodes(plan):
        held = (f"{plan.replicants} replicant(s) (the cores have their own pool)" if plan.core_shape is not None
                else f"{plan.cores} core(s) + {plan.replicants} replicant(s)")
        problems.add(
            "nodePools.emqx.count",
            f"{emqx_pool.count} nodes cannot hold {held}, one EMQX pod per node",
            f"use at least {emqx_pool_nodes(plan)}, or leave it unset to follow the sizing",
        )
    return emqx_pool


def node_shape(target: Target | None, pool: NodePoolSettings | None, existing: ExistingClusterSettings | None,
                problems: Problems) -> sizing.NodeShape | None:
    if target == "existing" and existing is not None:
        return existing.node_shape
    if pool is None or not pool.instance_types:
        return None
    shapes = []
    known = instance_shapes(target)
    table = ("components/sizing.py INSTANCE_SHAPES" if target == "alicloud" or target not in POOL_RULES
             else POOL_RULES[target].catalogue_file)
    for i, t in enumerate(pool.instance_types):
        shape = known.get(t)
        if shape is None:
            problems.add(f"nodePools.emqx.instanceTypes[{i}]", f"{shown(t)} is not in the sizing table, so its vCPU "
                         f"and memory are unknown", f"use a listed type (README: sizing) or add it to {table}")
        else:
            shapes.append(shape)
    if not shapes:
        return None
    # Fallback instance types may be smaller: plan for the smallest so any of them can carry the load.
    return min(shapes, key=lambda s: (s.vcpu, s.memory_gib))


def load_test_pool(runs: tuple[LoadTestRun, ...], profile: tuning.TuningProfile | None,
                    pool: NodePoolSettings | None, problems: Problems,
                    existing: ExistingClusterSettings | None = None,
                    target: Target | None = "alicloud") -> NodePoolSettings | None:
    """The load-generator pool, switched on and sized for the largest run (runs go one after another): one generator
    pod per node (the Job's required podAntiAffinity, render/loadtest.py). On an existing cluster, each run's pods
    must fit its nodes (existing.nodeShape)."""
    if not runs or profile is None:
        return pool
    limit = loadtest.source_port_limit(profile)
    if existing is not None:
        shape = existing.node_shape
        for run in runs:
            clients = loadtest.largest_pod_clients(run.plan(limit))
            if not loadtest.pods_per_node(shape.vcpu, shape.memory_gib, clients):
                cpu, memory = loadtest.pod_requests(clients)
                problems.add(f"{run.key}.connections", f"the run's generator pods of {clients:,} clients ask for "
                             f"{cpu}m CPU and {memory} MiB each, more than a {shape.vcpu} vCPU / "
                             f"{shape.memory_gib:g} GiB node (existing.nodeShape) holds beside the kubelet's share",
                             "test fewer connections, or run it on larger nodes (existing.nodeShape)")
    if pool is None:
        return pool
    plans = [run.plan(limit) for run in runs]
    pods = max(len(plan.pods) for plan in plans)
    clients = max(loadtest.largest_pod_clients(plan) for plan in plans)
    known = instance_shapes(target)
    shapes = [known[t] for t in pool.instance_types if t in known]
    if len(shapes) != len(pool.instance_types):
        table = ("components/sizing.py INSTANCE_SHAPES" if target == "alicloud" or target not in POOL_RULES
                 else POOL_RULES[target].catalogue_file)
        problems.add("nodePools.loadgen.instanceTypes", "has types whose vCPU and memory are not in the sizing table",
                     f"use listed types ({table})")
        return pool
    smallest = min(shapes, key=lambda s: (s.vcpu, s.memory_gib))
    nodes = loadtest.nodes_for(pods, smallest.vcpu, smallest.memory_gib, clients)
    if not pool.enabled:
        problems.add("nodePools.loadgen.enabled", "is false, but loadTest.runs need load generators",
                     "remove it, or remove the runs")
    elif nodes == 0:
        problems.add("nodePools.loadgen.instanceTypes", f"{smallest.vcpu} vCPU / {smallest.memory_gib:g} GiB holds "
                     "no generator pod", "use a larger type, e.g. "
                     + POOL_RULES.get(target or "alicloud", POOL_RULES["alicloud"]).default_types["loadgen"][0])
    elif pool.count and pool.count < nodes:
        problems.add("nodePools.loadgen.count", f"{pool.count} nodes cannot hold the largest run's {pods} "
                     f"generator pods", f"use at least {nodes}, or leave it unset to follow the runs")
    return replace(pool, count=pool.count or nodes) if pool.enabled else pool
