"""Alibaba Cloud ECS shapes that suit EMQX: compute c7 / c8i / c8y and general purpose g7 / g8i, sizes large to
16xlarge.

What is published and what is not (read 2026-11-30):
- vCPU and memory follow from the instance type's name (alibaba-naming: `large` = 2 vCPU, `Nxlarge` = 4N vCPU; the
  c families give 2 GiB per vCPU, the g families 4 GiB).
- Baseline bandwidth, packet forwarding rate and the connections figure of c7 and g7 come from the family tables of
  Alibaba's own documentation repository (alibaba-c7-table, alibaba-g7-table: github.com/AlibabaCloudDocs/ecs, MIT,
  vendored unchanged under schemas/alibaba-ecs-docs/ and checked against this file by tests/test_catalogue.py). Those
  tables are as Alibaba published them in July 2021; the live pages may have been revised since. c8i, c8y and g8i
  post-date that repository and their tables were not among the pages this project could read: None (unknown).
  Alibaba says a family without a connections figure guarantees none (alibaba-network-faq).
- On-demand prices for cn-hangzhou are published only by the ECS pricing calculator (alibaba-pricing), which was
  not readable here: every price is None, and the cost estimate says "unknown" instead of guessing. Fill
  `PRICES_CN_HANGZHOU` from the calculator (CNY per hour) with the date read, and the planner ranks by price.
"""

from __future__ import annotations

from components.catalogue.model import InstanceType, Source

READ = "2026-11-30"

# Alibaba's documentation repository at the commit read (its newest; vendored in schemas/alibaba-ecs-docs/322eaab8).
_DOCS = "https://github.com/AlibabaCloudDocs/ecs/blob/322eaab82e866a494eeaddb0de02bab1978692d1"

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
        says="per-type tables of baseline/burst bandwidth, packet forwarding rate and connections; the current "
             "pages were not readable here (c8i, c8y, g8i stay unknown)",
    ),
    "alibaba-c7-table": Source(
        url=f"{_DOCS}/intl.en-US/Instance/Instance%20type%20families/Compute%20optimized%20instance%20families.md",
        read=READ,
        says="c7 instance types (file as of 2021-07-17): baseline/burst bandwidth (Gbit/s), packet forwarding rate "
             "(pps) and connections per type; large to 3xlarge 'up to 250,000' connections; network figures are "
             "maximums from single-item tests (Instance families.md)",
    ),
    "alibaba-g7-table": Source(
        url=f"{_DOCS}/intl.en-US/Instance/Instance%20type%20families/General%20purpose%20instance%20families.md",
        read=READ,
        says="g7 instance types (file as of 2021-07-17): the same bandwidth, packet forwarding rate and connections "
             "per size as c7",
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

# size -> (baseline bandwidth Gbit/s, packet forwarding rate pps, connections), from the c7 and g7 tables
# (alibaba-c7-table, alibaba-g7-table: both families publish the same figures per size). The smaller sizes burst
# above the baseline bandwidth; the planner counts the baseline only.
NETWORK_7: dict[str, tuple[float, int, int]] = {
    "large": (2, 900_000, 250_000),
    "xlarge": (3, 1_000_000, 250_000),
    "2xlarge": (5, 1_600_000, 250_000),
    "4xlarge": (10, 3_000_000, 300_000),
    "8xlarge": (16, 6_000_000, 600_000),
    "16xlarge": (32, 12_000_000, 1_200_000),
}
NETWORK: dict[str, tuple[str, dict[str, tuple[float, int, int]]]] = {
    "ecs.c7": ("alibaba-c7-table", NETWORK_7),
    "ecs.g7": ("alibaba-g7-table", NETWORK_7),
}

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
    source, table = NETWORK.get(family, ("", {}))
    bandwidth, pps, connections = table.get(size, (None, None, None))
    if table.get(size) is not None:
        sources.update(bandwidth_gbps=source, pps=source, connections=source)
    return InstanceType(name=name, family=family, vcpu=vcpu, memory_gib=vcpu * gib_per_vcpu,
                        bandwidth_gbps=bandwidth, pps=pps, connections=connections,
                        price_per_hour=price, currency=CURRENCY if price is not None else None,
                        region=REGION, arch=arch, sources=sources)


INSTANCE_TYPES: dict[str, InstanceType] = {
    f"{family}.{size}": _entry(family, size, vcpu, ratio, arch)
    for family, (ratio, arch) in FAMILIES.items() for size, vcpu in _SIZES.items()
}
