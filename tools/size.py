"""What-if sizing: candidate EMQX fleets for a target, cheapest first, and why the other shapes were rejected.

No credentials, no Pulumi engine: the same planner the stacks use (components/sizing.py fleet_candidates) over the
catalogue of the cloud (components/catalogue/alicloud.py, aws.py; --cloud). Prices the catalogue does not know show
as "unknown" and fleets are then ranked by vCPU, then memory.

Usage: python tools/size.py [--connections N] [--message-rate N] [--payload BYTES] [--qos 0|1|2] [--fanout F]
                            [--tls-share S] [--headroom H] [--production] [--zones N] [--cloud alicloud|aws]
                            [--region cn-hangzhou] [--top N] [--plot FILE.png]
`make size ARGS="--connections 1000000 --message-rate 500000 --production"`
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collections.abc import Mapping

from components import sizing
from components.catalogue import alicloud, aws
from components.catalogue.model import InstanceType

# cloud -> (catalogue, currency, the region its prices are for (None: none read))
CLOUDS: dict[str, tuple[Mapping[str, InstanceType], str, str | None]] = {
    "alicloud": (alicloud.INSTANCE_TYPES, alicloud.CURRENCY, alicloud.REGION),
    "aws": (aws.INSTANCE_TYPES, aws.CURRENCY, aws.REGION),
}


def _catalogue(args: argparse.Namespace) -> Mapping[str, InstanceType]:
    return CLOUDS[args.cloud][0]


def _target(args: argparse.Namespace, connections: int | None = None) -> sizing.CapacityTarget:
    conn = args.connections if connections is None else connections
    rate = args.message_rate if connections is None else int(args.message_rate * conn / args.connections)
    return sizing.CapacityTarget(connections=conn, message_rate=rate, payload_bytes=args.payload, qos=args.qos,
                                 fanout=args.fanout, tls_share=args.tls_share)


def _options(args: argparse.Namespace) -> sizing.FleetOptions:
    return sizing.FleetOptions(headroom=args.headroom, production=args.production, zones=args.zones,
                               replicants_allowed=True, load_balancer="nlb" if args.cloud == "alicloud" else None)


def _after_loss(target: sizing.CapacityTarget, plan: sizing.SizingPlan) -> float:
    """Highest of CPU and memory use of the pod on each surviving client node once one is lost."""
    n = plan.client_nodes - 1
    if n < 1:
        return math.inf
    cap = sizing.node_capacity(plan.node_shape, target.qos)
    cpu = sizing.message_ops(target, n) / n / cap.message_ops
    per_node = math.ceil(target.connections / n)
    mem = (sizing.BASE_NODE_MEMORY_GIB * sizing.GIB + per_node * sizing.MEMORY_PER_CONNECTION_BYTES
           * sizing.connection_weight(target)) / (cap.pod_memory_mib * sizing.MIB)
    return max(cpu, mem)


def _money(value: float | None, currency: str | None) -> str:
    return "unknown" if value is None else f"{value:,.0f} {currency}"


def report(args: argparse.Namespace) -> int:
    target = _target(args)
    chosen, rejected = sizing.fleet_candidates(target, _options(args), _catalogue(args))
    region = args.region or CLOUDS[args.cloud][2] or "no region priced"
    print(f"target: {target.connections:,} connections, {target.message_rate:,} msg/s in, fanout {target.fanout:g}, "
          f"QoS{target.qos}, {target.payload_bytes} B, TLS share {target.tls_share:.0%}, headroom {args.headroom:.0%}"
          f"{', production (survives a node loss)' if args.production else ''}; {args.cloud} {region}")
    print(f"{'fleet':<64} {'vCPU':>6} {'GiB':>7} {'monthly':>14} {'CPU':>5} {'mem':>5} {'after loss':>10}")
    for c in chosen[: args.top]:
        p = c.plan
        loss = _after_loss(target, p)
        print(f"{c.describe():<64} {p.planned_vcpu:>6} {p.planned_memory_gib:>7g} "
              f"{_money(c.monthly_cost, c.currency):>14} "
              f"{p.cpu_utilisation:>5.0%} {p.memory_utilisation:>5.0%} "
              f"{'n/a' if math.isinf(loss) else f'{loss:.0%}':>10}")
    if len(chosen) > args.top:
        print(f"... {len(chosen) - args.top} more")
    if not chosen:
        print("no shape of the catalogue carries this target")
    if rejected:
        print("rejected:")
    for r in rejected:
        print(f"  {r.instance_type}: {r.reason}")
    if args.plot:
        plot(args, Path(args.plot))
    return 0 if chosen else 1


def plot(args: argparse.Namespace, path: Path) -> None:
    """Cost (or vCPU where prices are unknown) against connections, 100k to 100M, best fleet of each family."""
    import importlib

    # Only `make size ARGS=--plot ...` installs matplotlib (not a dependency of the program or of `make test`).
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")

    points = [int(10 ** (5 + i * 3 / 24)) for i in range(25)]
    catalogue, currency, _region = CLOUDS[args.cloud]
    priced = any(t.price_per_hour is not None for t in catalogue.values())
    fig, ax = plt.subplots(figsize=(9, 5))
    for family in dict.fromkeys(t.family for t in catalogue.values()):
        xs, ys = [], []
        for conn in points:
            best = sizing.choose_fleet(_target(args, conn), sizing.FleetOptions(
                **{**_options(args).__dict__, "families": (family,)}), catalogue)
            if best is not None:
                xs.append(conn)
                ys.append(best.monthly_cost if priced and best.monthly_cost is not None else best.plan.planned_vcpu)
        ax.plot(xs, ys, marker=".", label=family)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("connections (message rate scaled with them)")
    ax.set_ylabel(f"monthly list cost ({currency})" if priced else "EMQX vCPU (prices unknown)")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    print(f"wrote {path}")


def _bounded(kind: type[int] | type[float], low: float, high: float) -> Any:
    """An argparse type: the same ranges the stack settings accept (emqx.capacity.*), so a what-if is a stack's."""
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            what = "whole number" if kind is int else "number"
            raise argparse.ArgumentTypeError(f"{text!r} is not a {what}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low:g}..{high:g}")
        return value
    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="What-if sizing: candidate EMQX fleets for a target, cheapest first.")
    p.add_argument("--connections", type=_bounded(int, 1, 200_000_000), default=1_000_000)
    p.add_argument("--message-rate", type=_bounded(int, 0, 100_000_000), default=500_000,
                   help="inbound PUBLISH/s over the cluster")
    p.add_argument("--payload", type=_bounded(int, 1, 268_435_455), default=1024)
    p.add_argument("--qos", type=int, choices=(0, 1, 2), default=1)
    p.add_argument("--fanout", type=_bounded(float, 0.0, 10_000.0), default=1.0)
    p.add_argument("--tls-share", type=_bounded(float, 0.0, 1.0), default=0.0)
    p.add_argument("--headroom", type=_bounded(float, 0.0, 0.9), default=0.3)
    p.add_argument("--production", action="store_true")
    p.add_argument("--zones", type=_bounded(int, 1, 4), default=3)
    p.add_argument("--cloud", choices=tuple(CLOUDS), default="alicloud")
    p.add_argument("--region", choices=tuple({r for _c, _cur, r in CLOUDS.values() if r}),
                   help="the region the catalogue's prices are for (default: the cloud's)")
    p.add_argument("--top", type=_bounded(int, 1, 1000), default=10)
    p.add_argument("--plot", help="write cost against connections to this PNG (needs matplotlib)")
    return p


if __name__ == "__main__":
    sys.exit(report(parser().parse_args()))
