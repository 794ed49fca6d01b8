"""Alibaba Cloud ECS shapes that suit EMQX: compute c7 / c8i / c8y and general purpose g7 / g8i, sizes large to
16xlarge.

What is published and what is not (read 2026-11-30 through the project's stored copies of Alibaba's documentation):
- vCPU and memory follow from the instance type's name (alibaba-naming: `large` = 2 vCPU, `Nxlarge` = 4N vCPU; the
  c families give 2 GiB per vCPU, the g families 4 GiB).
- Bandwidth, packet rate and the per-instance connections figure are published per instance type in each family's
  table (alibaba-families), but those tables were not among the stored pages, so the figures are None (unknown).
  Alibaba says a family without a connections figure guarantees none (alibaba-network-faq): the planner never
  relies on one, it plans connections from EMQX's own memory figures.
- On-demand prices for cn-hangzhou are published only by the ECS pricing calculator (alibaba-pricing), which was
  not stored either: every price is None, and the cost estimate says "unknown" instead of guessing. Fill
  `PRICES_CN_HANGZHOU` from the calculator (CNY per hour) with the date read, and the planner ranks by price.
"""

from __future__ import annotations

from components.catalogue.model import InstanceType, Source

READ = "2026-11-30"

SOURCES: dict[str, Source] = {
    "alibaba-naming": Source(
        url="https://www.alibabacloud.com/help/en/elastic-compute-service/latest/instance-type-families",
        read=READ,
        says="instance type naming: ecs.<family>.<size>; large = 2 vCPU, xlarge = 4, Nxlarge = 4N; c families "
             "1:2 vCPU:GiB, g families 1:4; Arm families (c8y) give one physical core per vCPU",
    ),
    "alibaba-network-faq": Source(
        url="https://alibabacloud.com/help/en/ecs/user-guide/network-faq",
        read=READ,
        says="if an instance family does not specify a maximum number of connections, it does not ensure that a "
             "specific number can be established; stress-test to choose",
    ),
    "alibaba-families": Source(
        url="https://www.alibabacloud.com/help/en/ecs/user-guide/overview-of-instance-families",
        read=READ,
        says="per-type tables of baseline/burst bandwidth, packet forwarding rate and connections; not in the "
             "stored copies, so those figures are unknown here",
    ),
    "alibaba-pricing": Source(
        url="https://www.alibabacloud.com/product/ecs#pricing",
        read=READ,
        says="on-demand (pay-as-you-go) prices per region; not in the stored copies, so prices are unknown here",
    ),
}

REGION = "cn-hangzhou"
CURRENCY = "CNY"

# CNY per hour, on demand, cn-hangzhou, from alibaba-pricing: empty until read from the calculator (never guessed).
PRICES_CN_HANGZHOU: dict[str, float] = {}

_SIZES = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "16xlarge": 64}
# family -> (GiB per vCPU, architecture)
FAMILIES: dict[str, tuple[float, str]] = {
    "ecs.c7": (2, "x86_64"),
    "ecs.c8i": (2, "x86_64"),
    "ecs.c8y": (2, "arm64"),
    "ecs.g7": (4, "x86_64"),
    "ecs.g8i": (4, "x86_64"),
}


def _entry(family: str, size: str, vcpu: int, gib_per_vcpu: float, arch: str) -> InstanceType:
    name = f"{family}.{size}"
    price = PRICES_CN_HANGZHOU.get(name)
    sources = {"vcpu": "alibaba-naming", "memory_gib": "alibaba-naming"}
    if price is not None:
        sources["price_per_hour"] = "alibaba-pricing"
    return InstanceType(name=name, family=family, vcpu=vcpu, memory_gib=vcpu * gib_per_vcpu,
                        price_per_hour=price, currency=CURRENCY if price is not None else None,
                        region=REGION, arch=arch, sources=sources)


INSTANCE_TYPES: dict[str, InstanceType] = {
    f"{family}.{size}": _entry(family, size, vcpu, ratio, arch)
    for family, (ratio, arch) in FAMILIES.items() for size, vcpu in _SIZES.items()
}
