"""What a catalogue entry holds. Pure data: no Pulumi import, no network.

Every figure is either published (its field names a Source, with the URL and the date it was read) or None, which
means unknown: never a guess. The planner (components/sizing.py) treats an unknown price as "cost unknown" and an
unknown connection or packet figure as "no published limit", which it says in its notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The figures an entry may carry; each non-None one must name its source (tests/test_catalogue.py).
SOURCE_KEYS = ("vcpu", "memory_gib", "bandwidth_gbps", "pps", "connections", "price_per_hour")


@dataclass(frozen=True)
class Source:
    url: str
    read: str  # ISO date the page was read
    says: str  # what the page states, in our words


@dataclass(frozen=True)
class InstanceType:
    name: str
    family: str
    vcpu: int
    memory_gib: float
    bandwidth_gbps: float | None = None  # baseline internal bandwidth
    pps: int | None = None  # packet forwarding rate as the cloud publishes it (packets/s)
    connections: int | None = None  # the cloud's per-instance connection (session) figure
    price_per_hour: float | None = None  # on-demand list price in the region below, in `currency`
    currency: str | None = None
    region: str | None = None
    arch: str = "x86_64"
    sources: dict[str, str] = field(default_factory=dict)  # figure -> key in the catalogue's SOURCES
