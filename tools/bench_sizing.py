"""The seed scenario (prod: 1M connections, 500k QoS1 1 KB msg/s in and 500k out, 30% headroom, survives a node
loss): the planner's fleet against the seed's own (5 x ecs.c7.16xlarge, 320 vCPU) and the previous fixed plan (3 cores
+ 3 replicants of ecs.c7.16xlarge, 384 vCPU). Prints a Markdown table; `make bench-sizing`.

The goal stated in issue 8: at most 160 vCPU for EMQX nodes (cores + replicants) with at least 25% CPU and memory
headroom at target and no node above 90% after losing one. Whether the published figures support it is printed, not
assumed: when they do not, the smallest fleet that meets the headroom rules, and what it costs over 160.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components import sizing

SEED = sizing.CapacityTarget(connections=1_000_000, message_rate=500_000, payload_bytes=1024, qos=1, fanout=1.0)
OPTIONS = sizing.FleetOptions(headroom=0.3, production=True, zones=3, load_balancer="nlb")
C7_16 = sizing.INSTANCE_SHAPES["ecs.c7.16xlarge"]
GOAL_VCPU, GOAL_HEADROOM, GOAL_AFTER_LOSS = 160, 0.25, 0.90
SEED_VCPU, OLD_VCPU = 320, 384


def utilisation(plan: sizing.SizingPlan) -> dict[str, float]:
    """Busiest share of any EMQX pod: client nodes' CPU and memory at target and after losing one, and the cores'."""
    cap = sizing.node_capacity(plan.node_shape, SEED.qos)
    weight = sizing.connection_weight(SEED)

    def memory(nodes: int) -> float:
        per_node = SEED.connections / nodes
        used = sizing.BASE_NODE_MEMORY_GIB * sizing.GIB + per_node * sizing.MEMORY_PER_CONNECTION_BYTES * weight
        return used / (cap.pod_memory_mib * sizing.MIB)

    n = plan.client_nodes
    out = {"cpu": sizing.message_ops(SEED, n) / n / cap.message_ops, "memory": memory(n),
           "cpu_after_loss": (sizing.message_ops(SEED, n - 1) / (n - 1) / cap.message_ops) if n > 1 else float("inf"),
           "memory_after_loss": memory(n - 1) if n > 1 else float("inf"), "core_cpu": 0.0, "core_memory": 0.0}
    if plan.core_shape is not None:
        core_cap, demand = sizing.node_capacity(plan.core_shape), sizing.core_demand(SEED, plan)
        out["core_cpu"] = demand.cpu_milli / core_cap.pod_cpu_milli
        out["core_memory"] = demand.memory_mib / core_cap.pod_memory_mib
    return out


def meets_goal(plan: sizing.SizingPlan) -> list[str]:
    """What keeps a fleet from the goal (empty: met)."""
    u = utilisation(plan)
    misses = []
    if plan.planned_vcpu > GOAL_VCPU:
        misses.append(f"{plan.planned_vcpu} vCPU > {GOAL_VCPU}")
    if max(u["cpu"], u["memory"], u["core_cpu"], u["core_memory"]) > 1 - GOAL_HEADROOM + 1e-9:
        misses.append(f"less than {GOAL_HEADROOM:.0%} headroom at target")
    if max(u["cpu_after_loss"], u["memory_after_loss"]) > GOAL_AFTER_LOSS + 1e-9:
        misses.append(f"a node above {GOAL_AFTER_LOSS:.0%} after losing one")
    return misses


def _row(name: str, plan: sizing.SizingPlan | None, vcpu: int, gib: float) -> str:
    if plan is None:
        return f"| {name} | {vcpu} | {gib:g} | {vcpu / SEED_VCPU:.2f} | {vcpu / OLD_VCPU:.2f} | - | - | - | - |"
    u = utilisation(plan)
    cores = f"{u['core_cpu']:.0%} / {u['core_memory']:.0%}" if plan.core_shape is not None else "(client nodes)"
    return (f"| {name} | {vcpu} | {gib:g} | {vcpu / SEED_VCPU:.2f} | {vcpu / OLD_VCPU:.2f} | {u['cpu']:.0%} | "
            f"{u['memory']:.0%} | {u['cpu_after_loss']:.0%} | {cores} |")


def best_for_goal() -> sizing.FleetChoice | None:
    """The fewest-vCPU fleet of the catalogue with the goal's headroom at target and after a loss, whatever its vCPU."""
    options = sizing.FleetOptions(headroom=GOAL_HEADROOM, production=True, zones=3, load_balancer="nlb")
    chosen, _ = sizing.fleet_candidates(SEED, options)
    fitting = [c for c in chosen if not [m for m in meets_goal(c.plan) if "vCPU" not in m]]
    return fitting[0] if fitting else None


def main() -> int:
    best = sizing.choose_fleet(SEED, OPTIONS)
    old, _ = sizing.plan_capacity(SEED, C7_16, cores=3, replicants=3, headroom=0.3, min_client_nodes=3,
                                  survive_node_loss=True)
    # The seed ran 5 workers; as 3 cores + 2 replicants its load is modelled at the headroom it left.
    seed, _ = sizing.plan_capacity(SEED, C7_16, cores=3, replicants=2, headroom=0.0, min_client_nodes=2)
    print("| fleet | EMQX vCPU | GiB | vs seed (320) | vs previous (384) | CPU at target | memory at target | "
          "CPU after a loss | cores CPU / memory |")
    print("|---|---|---|---|---|---|---|---|---|")
    if best is not None:
        p = best.plan
        print(_row(f"planner: {best.describe()}", p, p.planned_vcpu, p.planned_memory_gib))
    print(_row("seed: 5 x ecs.c7.16xlarge (3c+2r)", seed, SEED_VCPU, 640))
    print(_row("previous plan: 3c+3r x ecs.c7.16xlarge", old, OLD_VCPU, 768))
    if best is None:
        print("\nno fleet of the catalogue carries the seed scenario")
        return 1
    misses = meets_goal(best.plan)
    print(f"\ngoal (<= {GOAL_VCPU} vCPU for cores + replicants, >= {GOAL_HEADROOM:.0%} CPU and memory headroom at "
          f"target, no node above {GOAL_AFTER_LOSS:.0%} after losing one): "
          + ("met" if not misses else "NOT met: " + "; ".join(misses)))
    if misses:
        supported = best_for_goal()
        if supported is not None:
            p = supported.plan
            core_vcpu = p.cores * (p.core_shape or p.node_shape).vcpu
            print(f"what the figures support: {supported.describe()}, {p.planned_vcpu} vCPU "
                  f"({p.planned_vcpu - core_vcpu} for replicants, {core_vcpu} for cores), "
                  f"{p.planned_vcpu - GOAL_VCPU:+} over the goal")
        print(f"why: the model counts {sizing.MSG_OPS_PER_VCPU_QOS1:,.0f} msg operations/s per vCPU (40k msg/s at 75% "
              f"of 4 vCPU, emqx-docs performance reference) and {sizing.message_ops(SEED, 3) / 1e6:.2f}M to "
              f"{sizing.message_ops(SEED, 10) / 1e6:.2f}M operations at the target (the cross-node forwards of "
              "(n-1)/n of the deliveries, a model assumption, grow with the node count), so the client nodes alone "
              f"take about {GOAL_VCPU} vCPU at {GOAL_HEADROOM:.0%} headroom, and the cores (estimates, README: Sizing "
              "model) come on top; the benchmark may have counted inbound messages only, in which case real "
              "capacity is up to twice the model's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
