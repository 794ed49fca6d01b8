"""AWS EC2 shapes that suit EMQX, as far as AWS's published figures could be read here (2026-11-30).

What is published and what is not:
- c7g (Graviton3) and c6in (network-optimised Intel): vCPU, memory and network bandwidth per type, from the
  compute-optimised page of AWS's own documentation repository (aws-compute-page: github.com/awsdocs/
  amazon-ec2-user-guide, CC BY-SA 4.0, vendored unchanged under schemas/aws-ec2-docs/ and checked against this file
  by tests/test_catalogue.py). That repository was archived in June 2023; its page is as AWS published it in May 2023.
  Bandwidth is the baseline: sizes up to 4xlarge burst above it with network I/O credits, larger ones sustain the
  figure the page gives ("15 Gigabit").
- c7i, m7i and c8g were released after that page, and AWS's current pages (docs.aws.amazon.com/ec2/latest/
  instancetypes/co.md, gp.md) could not be read here past their opening lines: none of their figures is stated
  (FAMILIES_NOT_READ), never guessed.
- Packets per second and the tracked-connections allowance are metered per instance but not published per type:
  the ENA driver reports `conntrack_allowance_available` and `*_allowance_exceeded` (aws-conntrack-metric), so they
  stay None; measure them under load (the load-test runs) rather than plan on them.
- On-demand prices were not readable from AWS's price list here: every price is None (the cost says "unknown").
"""

from __future__ import annotations

from components.catalogue.model import InstanceType, Source

READ = "2026-11-30"
_DOCS = "https://github.com/awsdocs/amazon-ec2-user-guide/blob/d289961421fa79447add68ca26e3ec5ae96fdf41"

SOURCES: dict[str, Source] = {
    "aws-compute-page": Source(
        url=f"{_DOCS}/doc_source/compute-optimized-instances.md",
        read=READ,
        says="compute optimised instances (page as of 2023-05-11): vCPU and memory per type (Hardware "
             "specifications), network performance per type, and the baseline/burst bandwidth of the types that "
             "burst (sizes up to 4xlarge)",
    ),
    "aws-conntrack-metric": Source(
        url="https://aws.amazon.com/blogs/networking-and-content-delivery/"
            "monitoring-ec2-connection-tracking-utilization-using-a-new-network-performance-metric/",
        read=READ,
        says="instances have a Connections Tracked allowance (and bandwidth and PPS allowances); the ENA metric "
             "conntrack_allowance_available reports what is left; no per-type figure is given",
    ),
}

REGION: str | None = None  # no price read for any region
CURRENCY = "USD"

# type -> (vCPU, memory GiB, baseline bandwidth Gbit/s), from aws-compute-page.
_TYPES: dict[str, tuple[int, float, float]] = {
    "c7g.large": (2, 4, 0.937),
    "c7g.xlarge": (4, 8, 1.876),
    "c7g.2xlarge": (8, 16, 3.75),
    "c7g.4xlarge": (16, 32, 7.5),
    "c7g.8xlarge": (32, 64, 15),
    "c7g.12xlarge": (48, 96, 22.5),
    "c7g.16xlarge": (64, 128, 30),
    "c6in.large": (2, 4, 3.125),
    "c6in.xlarge": (4, 8, 6.25),
    "c6in.2xlarge": (8, 16, 12.5),
    "c6in.4xlarge": (16, 32, 25),
    "c6in.8xlarge": (32, 64, 50),
    "c6in.12xlarge": (48, 96, 75),
    "c6in.16xlarge": (64, 128, 100),
}
ARCH = {"c7g": "arm64", "c6in": "x86_64"}
# Families the issue names whose figures could not be read from AWS here (see the module docstring).
FAMILIES_NOT_READ = ("c7i", "c8g", "m7i")


def _entry(name: str, vcpu: int, memory_gib: float, bandwidth: float) -> InstanceType:
    family = name.split(".")[0]
    figures = ("vcpu", "memory_gib", "bandwidth_gbps")
    return InstanceType(name=name, family=family, vcpu=vcpu, memory_gib=memory_gib, bandwidth_gbps=bandwidth,
                        region=REGION, arch=ARCH[family], sources=dict.fromkeys(figures, "aws-compute-page"))


INSTANCE_TYPES: dict[str, InstanceType] = {name: _entry(name, *figures) for name, figures in _TYPES.items()}
