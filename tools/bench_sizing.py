"""The seed scenario (prod: 1M connections, 500k QoS1 1 KB msg/s in and 500k out, 30% headroom, survives a node
loss): the planner's fleet against the seed's own (5 x ecs.c7.16xlarge) and the previous fixed plan (3 cores +
3 replicants of ecs.c7.16xlarge, 384 vCPU). Prints a Markdown table; `make bench-sizing`.

The goal stated in issue 8: at most 160 vCPU for EMQX with 25% CPU and memory headroom at target and no node above
90% after losing one. Whether the published figures support it is printed, not assumed.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components import sizing

SEED = sizing.CapacityTarget(connections=1_000_000, message_rate=500_000, payload_bytes=1024, qos=1, fanout=1.0)
OPTIONS = sizing.FleetOptions(headroom=0.3, production=True, zones=3, load_balancer="nlb")
C7_16 = sizing.INSTANCE_SHAPES["ecs.c7.16xlarge"]


def _row(name: str, plan: sizing.SizingPlan | None, vcpu: int, gib: float, base: int) -> str:
    if plan is None:
        return f"| {name} | {vcpu} | {gib:g} | {vcpu / base:.2f} | - | - | - |"
    cap = sizing.node_capacity(plan.node_shape, SEED.qos)
    n = plan.client_nodes - 1
    loss = sizing.message_ops(SEED, n) / n / cap.message_ops if n else math.inf
    return (f"| {name} | {vcpu} | {gib:g} | {vcpu / base:.2f} | {plan.cpu_utilisation:.0%} | "
            f"{plan.memory_utilisation:.0%} | {loss:.0%} |")


def main() -> int:
    best = sizing.choose_fleet(SEED, OPTIONS)
    old, _ = sizing.plan_capacity(SEED, C7_16, cores=3, replicants=3, headroom=0.3, min_client_nodes=3,
                                  survive_node_loss=True)
    # The seed ran 5 workers; as 3 cores + 2 replicants its load is modelled at the headroom it left.
    seed, _ = sizing.plan_capacity(SEED, C7_16, cores=3, replicants=2, headroom=0.0, min_client_nodes=2)
    base = 320
    print("| fleet | EMQX vCPU | GiB | vs seed | CPU at target | memory at target | CPU after a loss |")
    print("|---|---|---|---|---|---|---|")
    if best is not None:
        p = best.plan
        print(_row(f"planner: {p.cores}c+{p.replicants}r x {best.instance_type}", p, p.planned_vcpu,
                   p.planned_memory_gib, base))
    print(_row("seed: 5 x ecs.c7.16xlarge (3c+2r)", seed, 320, 640, base))
    print(_row("previous plan: 3c+3r x ecs.c7.16xlarge", old, 384, 768, base))
    if best is None:
        print("\nno fleet of the catalogue carries the seed scenario")
        return 1
    goal_cpu = best.plan.planned_vcpu <= 160
    goal_headroom = best.plan.cpu_utilisation <= 0.75 and best.plan.memory_utilisation <= 0.75
    print(f"\ngoal (<= 160 vCPU, >= 25% headroom, <= 90% after a loss): vCPU {'met' if goal_cpu else 'NOT met'} "
          f"({best.plan.planned_vcpu}), headroom {'met' if goal_headroom else 'NOT met'}")
    if not goal_cpu:
        print("why: the model counts 13,333 msg operations/s per vCPU (40k msg/s at 75% of 4 vCPU, emqx-docs), "
              "1.33M operations at the target with the cross-node forwards (model assumption), and cores on the "
              "same shape as the client nodes (a separate core pool is not built yet); see README, Sizing model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
