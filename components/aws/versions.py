"""EKS Kubernetes minors this program deploys, their support dates, and the AL2023 AMI type per CPU architecture.

Pure: no Pulumi import.

Support policy (https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html): a minor is in standard
support for 14 months after EKS releases it, then in extended support (billed per cluster hour, on by default) for
12 more; at the end of extended support EKS upgrades the cluster itself. Dates: the EKS release calendar as mirrored
by https://endoflife.date/amazon-eks (products/amazon-eks.md at endoflife-date/endoflife.date a70eca3; 1.36 added by its
PR #10240 from AWS's "Amazon EKS and EKS Distro now support Kubernetes 1.36" of 2026-06-02).

Decision on a minor past its end of standard support: a warning, not an error. The cluster keeps running in
extended support (billed), and refusing would turn a running stack's next preview red on a calendar date with no
change on its side; the warning names the next listed minor. Past the end of extended support it is refused: EKS
no longer runs that minor and upgrades the cluster itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

Arch = Literal["x86_64", "arm64"]

VERSION_KEY = "cluster.kubernetesVersion"
INSTANCE_TYPE_KEY = "nodePools.instanceType"


@dataclass(frozen=True)
class EksMinor:
    version: str
    ga: date
    end_of_standard: date
    end_of_extended: date
    dates_estimated: bool = False


MINORS: tuple[EksMinor, ...] = (
    EksMinor("1.34", date(2025, 10, 6), date(2026, 12, 2), date(2027, 12, 2)),
    EksMinor("1.35", date(2026, 1, 28), date(2027, 3, 27), date(2028, 3, 27)),
    EksMinor("1.36", date(2026, 6, 2), date(2027, 8, 2), date(2028, 8, 2)),
)
BY_VERSION: dict[str, EksMinor] = {m.version: m for m in MINORS}

# aws.eks.NodeGroup `ami_type` for the AL2023 EKS-optimised AMIs (pulumi_aws eks/node_group.py docstring; the
# AL2023 AMI is built for both architectures by amazon-eks-ami templates/al2023).
AMI_TYPES: dict[Arch, str] = {"x86_64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}


def kubernetes_version_problems(
    version: object, *, today: date, key: str = VERSION_KEY
) -> tuple[list[str], list[str]]:
    """(errors, warnings) for an EKS Kubernetes version such as "1.35"; each message starts with `key`."""
    listed = ", ".join(m.version for m in MINORS)
    if not isinstance(version, str) or re.fullmatch(r"[0-9]+\.[0-9]+", version.strip()) is None:
        return [f"{key}: {version!r} is not a Kubernetes minor; EKS takes MAJOR.MINOR such as \"1.35\" "
                f"(supported here: {listed})"], []
    minor = BY_VERSION.get(version.strip())
    if minor is None:
        return [f"{key}: {version.strip()} is not a version this program deploys on EKS; use one of {listed}"], []
    if today >= minor.end_of_extended:
        return [f"{key}: {minor.version} left EKS extended support on {minor.end_of_extended.isoformat()} (EKS "
                f"upgrades such clusters itself); use {_newer(minor)}"], []
    if today >= minor.end_of_standard:
        return [], [f"{key}: {minor.version} left EKS standard support on {minor.end_of_standard.isoformat()}; "
                    f"the cluster is billed for extended support until {minor.end_of_extended.isoformat()}; "
                    f"upgrade to {_newer(minor)}"]
    if today < minor.ga:
        return [f"{key}: {minor.version} is not released on EKS before {minor.ga.isoformat()}; use one of "
                f"{', '.join(m.version for m in MINORS if m.ga <= today)}"], []
    return [], []


def _newer(minor: EksMinor) -> str:
    newer = [m.version for m in MINORS if m.end_of_standard > minor.end_of_standard]
    return " or ".join(newer) if newer else "a newer minor"


# Instance type names (https://docs.aws.amazon.com/ec2/latest/instancetypes/instance-type-names.html): series
# letters, generation digits, then option letters whose first one is the processor family when it is one of
# a (AMD), g (AWS Graviton) or i (Intel), then further capabilities (d, n, e, b, flex, ...), a dot and the size.
# "c7gn" = compute, 7th generation, Graviton, network-optimised; "g5g" = GPU series g, 5th generation, Graviton;
# "im4gn" = series im, Graviton. a1 is the first-generation Graviton family and predates the processor letter.
_FAMILY = re.compile(r"([a-z]+-?)([0-9]+)([a-z0-9-]*)")
_ARM_WITHOUT_LETTER = frozenset({"a1"})


def arch_of(instance_type: str) -> Arch:
    """The CPU architecture of an EC2 instance type ("c7g.xlarge" -> "arm64"); ValueError when it cannot be told."""
    family, dot, size = instance_type.strip().lower().partition(".")
    match = _FAMILY.fullmatch(family)
    if not dot or not size or match is None:
        raise ValueError(f"{instance_type!r} is not an EC2 instance type such as c7g.xlarge (family.size)")
    series, _, options = match.groups()
    if series.startswith("mac"):
        raise ValueError(f"{instance_type!r}: Mac instances cannot join an EKS managed node group")
    if family in _ARM_WITHOUT_LETTER or options.startswith("g"):
        return "arm64"
    return "x86_64"


def ami_type_for(instance_type: str) -> str:
    """aws.eks.NodeGroup `ami_type` for a node group of this instance type."""
    return AMI_TYPES[arch_of(instance_type)]


def instance_type_problems(instance_types: list[str], *, key: str = INSTANCE_TYPE_KEY) -> list[str]:
    """One-line problems for the instance types of one node group (one AMI type serves the whole group)."""
    errors: list[str] = []
    arches: dict[str, list[str]] = {}
    for instance_type in instance_types:
        try:
            arches.setdefault(arch_of(instance_type), []).append(instance_type)
        except ValueError as exc:
            errors.append(f"{key}: {exc}")
    if len(arches) > 1:
        errors.append(f"{key}: mixes x86_64 ({', '.join(arches['x86_64'])}) and arm64 ({', '.join(arches['arm64'])}) "
                      "instance types; a node group has one AMI type, so use one architecture per group")
    return errors
