"""components/settings/node_pools.py: the pools' parser (per target), the EMQX pool's size and rollout room, and the
load-generator pool."""

from __future__ import annotations

import dataclasses
from typing import Any

from components import sizing
from components.config_reader import Problems, Section
from components.settings import parse
from components.settings.node_pools import (
    POOL_RULES,
    NodePoolSettings,
    emqx_pool_problems,
    node_shape,
    parse_pool,
    parse_pools,
)

ALICLOUD: dict[str, Any] = {
    "target": "alicloud",
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
    "emqx": {"edition": "opensource", "version": "5.8.9", "capacity": {"connections": 20000, "messageRate": 2000}},
}


def pool(raw: Any, name: str = "emqx", target: str | None = "alicloud",
         count: int | None = None) -> tuple[NodePoolSettings | None, list[str]]:
    problems = Problems()
    parsed = parse_pool(Section(f"nodePools.{name}", raw, problems), name, target, count=count)  # type: ignore[arg-type]
    return parsed, problems.items


def keys(found: list[str]) -> list[str]:
    return [p.split(":", 1)[0] for p in found]


def a_plan() -> sizing.SizingPlan:
    return parse(ALICLOUD, stack="test").sizing


def test_the_default_pools_of_an_alicloud_stack() -> None:
    problems = Problems()
    pools = parse_pools(Section("nodePools", None, problems), "alicloud", ())
    assert problems.items == []
    assert pools.system is not None and pools.system.instance_types == ("ecs.g7.xlarge",) and pools.system.count == 2
    assert pools.emqx is not None and pools.emqx.count == 0 and pools.emqx.rollout_surge is None
    assert pools.loadgen is not None and not pools.loadgen.enabled
    assert pools.emqx.disk_category == "cloud_essd" and pools.emqx.disk_gib == 120


def test_pool_rules_are_keyed_by_target() -> None:
    assert set(POOL_RULES) == {"alicloud", "aws"}
    for target in ("existing", None):
        assert pool({"instanceTypes": ["m7g.large"]}, target=target) == (None, [])


def test_a_malformed_instance_type_is_refused() -> None:
    _, found = pool({"instanceTypes": ["ecs.c7.xlarge", "c7.xlarge"]})
    assert keys(found) == ["nodePools.emqx.instanceTypes[1]"]
    assert "'c7.xlarge' is not an ECS instance type" in found[0] and "ecs.c7.4xlarge" in found[0]


def test_counts_disks_and_rollout_room_are_bounded() -> None:
    _, found = pool({"count": 1}, name="system", count=2)
    assert keys(found) == ["nodePools.system.count"] and "at least 2" in found[0]
    _, found = pool({"diskCategory": "gp3", "diskGiB": 20, "rolloutSurge": -1})
    assert keys(found) == ["nodePools.emqx.diskCategory", "nodePools.emqx.diskGiB", "nodePools.emqx.rolloutSurge"]
    parsed, found = pool({"rolloutSurge": 0, "diskCategory": "cloud_auto"})
    assert found == [] and parsed is not None and parsed.rollout_surge == 0 and parsed.disk_category == "cloud_auto"


def test_the_emqx_pool_gets_one_node_per_pod_and_a_whole_cluster_of_rollout_room() -> None:
    plan = a_plan()
    peak = plan.cores + plan.replicants
    parsed, _ = pool(None)
    problems = Problems()
    sized = emqx_pool_problems(parsed, plan, False, problems)
    assert problems.items == []
    assert sized is not None and sized.count == peak and sized.rollout_surge == peak


def test_production_needs_rollout_room_and_room_must_hold_a_whole_cluster() -> None:
    plan = dataclasses.replace(a_plan(), cores=3, replicants=2)
    fixed, _ = pool({"rolloutSurge": 0})
    problems = Problems()
    emqx_pool_problems(fixed, plan, True, problems)
    assert keys(problems.items) == ["nodePools.emqx.rolloutSurge"] and "derived: 5" in problems.items[0]
    # Not production: a fixed pool is allowed.
    assert emqx_pool_problems(fixed, plan, False, Problems()) is not None
    partial, _ = pool({"rolloutSurge": 2})
    problems = Problems()
    emqx_pool_problems(partial, plan, False, problems)
    assert keys(problems.items) == ["nodePools.emqx.rolloutSurge"] and "at least 5" in problems.items[0]


def test_a_pinned_count_below_the_pods_is_refused() -> None:
    plan = dataclasses.replace(a_plan(), cores=3, replicants=2)
    small, _ = pool({"count": 4})
    problems = Problems()
    emqx_pool_problems(small, plan, False, problems)
    assert keys(problems.items) == ["nodePools.emqx.count"] and "3 core(s) + 2 replicant(s)" in problems.items[0]


def test_the_node_shape_is_the_smallest_listed_type() -> None:
    parsed, _ = pool({"instanceTypes": ["ecs.c7.4xlarge", "ecs.c7.xlarge"]})
    problems = Problems()
    shape = node_shape("alicloud", parsed, None, problems)
    assert problems.items == [] and shape == sizing.INSTANCE_SHAPES["ecs.c7.xlarge"]
    unknown, _ = pool({"instanceTypes": ["ecs.zz9.huge"]})
    problems = Problems()
    assert node_shape("alicloud", unknown, None, problems) is None
    assert keys(problems.items) == ["nodePools.emqx.instanceTypes[0]"] and "sizing table" in problems.items[0]


# --- nodePools.core: the cores' own pool beside replicants --------------------------------------------------------

def _enterprise(**core: Any) -> dict[str, Any]:
    from tests.test_settings import ENTERPRISE, with_changes

    return with_changes(ENTERPRISE, **{f"nodePools__core__{k}": v for k, v in core.items()})


def test_cores_beside_replicants_get_the_smallest_type_that_holds_them() -> None:
    from tests.test_settings import ok

    s = ok(_enterprise())
    plan, core = s.sizing, s.core_pool
    assert plan.replicants > 0 and core is not None and plan.core_shape is not None
    # One node per core, as many again for the blue-green rollout; the EMQX pool holds only the replicants.
    assert (core.count, core.rollout_surge) == (plan.cores, plan.cores)
    assert s.emqx_pool is not None and s.emqx_pool.count == plan.replicants
    (chosen,) = core.instance_types
    demand = sizing.core_demand(s.emqx.capacity, plan)
    shapes = POOL_RULES["alicloud"].catalogue
    assert sizing.core_shape_problem(sizing.NodeShape(shapes[chosen].vcpu, shapes[chosen].memory_gib), demand,
                                     s.emqx.headroom) is None
    # Nothing with fewer vCPU holds them.
    for t in shapes.values():
        if t.vcpu < shapes[chosen].vcpu:
            assert sizing.core_shape_problem(sizing.NodeShape(t.vcpu, t.memory_gib), demand, s.emqx.headroom)
    # The plan pays for the cores' own nodes, not client-sized ones.
    assert plan.planned_vcpu == plan.cores * shapes[chosen].vcpu + plan.replicants * 64


def test_a_pinned_core_type_is_used_or_refused_when_too_small() -> None:
    from tests.test_settings import ok, one_about, problems

    s = ok(_enterprise(instanceTypes=["ecs.g7.4xlarge"]))
    assert s.core_pool is not None and s.core_pool.instance_types == ("ecs.g7.4xlarge",)
    assert s.sizing.core_shape == sizing.NodeShape(16, 64)
    msg = one_about(problems(_enterprise(instanceTypes=["ecs.c7.large"])), "nodePools.core.instanceTypes")
    assert "ecs.c7.large" in msg and "remove it to let the planner choose" in msg
    assert "is not an ECS instance type" in one_about(problems(_enterprise(instanceTypes=["m5.large"])),
                                                      "nodePools.core.instanceTypes[0]")


def test_all_core_clusters_keep_a_single_pool() -> None:
    from tests.test_settings import ok

    s = ok({**ALICLOUD, "nodePools": {"core": {"instanceTypes": ["ecs.c7.xlarge"]}}})
    assert s.sizing.replicants == 0 and s.core_pool is None and s.sizing.core_shape is None
    assert any(n.startswith("nodePools.core.instanceTypes is unused") for n in s.sizing.notes)
