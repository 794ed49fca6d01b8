"""Which Alibaba Cloud load balancer can carry a stack's MQTT target, and the limits it is held to.

Pure (no Pulumi import), like `sizing`: the settings refuse a target the chosen tier cannot carry (its
connections with the target's headroom, and the reconnect storm the plan admits, `sizing.storm_cluster_rate`).

Published limits (SOURCES):
- CLB: pay-as-you-go CLBs are sold only as pay-by-LCU since 2025-06-01; such an instance scales by itself up to
  1,000,000 concurrent connections and 100,000 new connections/s, with no spec to choose.
- NLB: per zone (one VIP per zone), up to 5,000,000 concurrent connections and 200,000 new connections/s; an
  instance's limits are the per-VIP ones times its zones (at least two).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

LoadBalancerType = Literal["clb", "nlb"]
TYPES: tuple[LoadBalancerType, ...] = ("clb", "nlb")

SOURCES: dict[str, str] = {
    "clb-create": (
        "CLB API CreateLoadBalancer (2025-12): 'Pay-as-you-go CLB instances only support the pay-by-LCU metering "
        "method. As of 00:00:00 (UTC+8) on June 1, 2025, pay-by-specification CLB instances are no longer "
        "available for purchase.'"
    ),
    "clb-faq": (
        "CLB instance FAQ (2025-12): pay-by-LCU instances 'automatically scale with usage, and you do not need to "
        "specify an instance type'; limits in 'Upper limits for instance performance metrics'."
    ),
    "nlb-limits": (
        "NLB 'Performance metrics and limits' (2025-12): per VIP 200,000 new connections/s and 5,000,000 "
        "concurrent connections; instance performance = number of zones x per-VIP performance."
    ),
    "nlb-listener": "pulumi_alicloud 4.0.0 nlb.Listener: cps 0-1000000 new connections/s (0 = unlimited).",
}


@dataclass(frozen=True)
class TierLimits:
    connections: int
    new_connections_per_second: int


CLB_LIMITS = TierLimits(connections=1_000_000, new_connections_per_second=100_000)
NLB_LIMITS_PER_ZONE = TierLimits(connections=5_000_000, new_connections_per_second=200_000)
NLB_MAX_LISTENER_CPS = 1_000_000


def limits(kind: LoadBalancerType, zones: int) -> TierLimits:
    if kind == "clb":
        return CLB_LIMITS
    per_zone = NLB_LIMITS_PER_ZONE
    return TierLimits(per_zone.connections * zones, per_zone.new_connections_per_second * zones)


def connections_with_headroom(connections: int, headroom: float) -> int:
    """What the load balancer must hold so the target leaves the same headroom on it as on the nodes."""
    return math.ceil(connections / (1.0 - headroom) - 1e-9)


def carries(kind: LoadBalancerType, zones: int, connections: int, headroom: float) -> bool:
    return connections_with_headroom(connections, headroom) <= limits(kind, zones).connections


def default_type(zones: int, connections: int, headroom: float) -> LoadBalancerType:
    """CLB while one carries the target (what small stacks always had), NLB beyond it."""
    return "clb" if carries("clb", zones, connections, headroom) else "nlb"


def shortfalls(kind: LoadBalancerType, zones: int, connections: int, headroom: float, storm_rate: int) -> list[str]:
    """Why `kind` cannot carry the target (empty when it can), each a sentence with the numbers."""
    cap = limits(kind, zones)
    what = "one CLB" if kind == "clb" else f"an NLB in {zones} zone(s)"
    needed = connections_with_headroom(connections, headroom)
    problems = []
    if needed > cap.connections:
        problems.append(f"{what} holds at most {cap.connections:,} connections, and {connections:,} at "
                        f"{headroom:.0%} headroom need {needed:,}")
    if storm_rate > cap.new_connections_per_second:
        problems.append(f"{what} accepts at most {cap.new_connections_per_second:,} new connections/s, and the "
                        f"cluster is planned to admit {storm_rate:,}/s in a reconnect storm")
    return problems
