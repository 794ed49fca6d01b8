"""What the AWS network, EKS cluster and node-group components take: typed, frozen, checked on construction.

The settings package turns a stack's config into these; the components only wire resources from them. Each spec
refuses values the AWS API would refuse (or that would leave the cluster unreachable), so a mistake stops the
program before anything is created.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import Literal

from components.aws.address_plan import AddressPlan
from components.aws.versions import AMI_TYPES, BY_VERSION, ami_type_for

# enabled_cluster_log_types values (pulumi_aws eks/cluster.py docstring; EKS control-plane-logs.adoc).
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
# CloudWatch Logs retention values (aws.cloudwatch.LogGroup retention_in_days docstring; 0 = never expire).
LOG_RETENTION_DAYS = (0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)
# upgrade_policy.support_type: STANDARD auto-upgrades at the end of standard support, EXTENDED stays (billed).
SUPPORT_TYPES = ("STANDARD", "EXTENDED")
# aws.eks.NodeGroup taint effects (NodeGroupTaintArgs): the EKS API spells Kubernetes' effects this way.
TAINT_EFFECTS = ("NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE")

# emqx-core: the cores' own zonal groups beside replicants (nodePools.core).
Role = Literal["emqx", "emqx-core", "system", "loadgen"]


def _cidr(value: str, what: str) -> IPv4Network:
    try:
        return IPv4Network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"{what}: {value!r} is not an IPv4 network address with prefix ({error})") from None


@dataclass(frozen=True)
class AwsNetworkSpec:
    # The address planner's output (components/aws/address_plan.py): per zone, a private subnet for nodes and pods
    # (the VPC CNI gives pods VPC addresses) and a public one for the zone's NAT and internet-facing NLBs.
    plan: AddressPlan
    # One NAT gateway per zone (production: a zone's outage leaves the other zones' egress alone) or a single one
    # in the first zone (dev: a third of the cost, and that zone's outage cuts every node's egress).
    nat_per_zone: bool
    tags: Mapping[str, str] = field(default_factory=dict[str, str])
    protect: bool = False

    def __post_init__(self) -> None:
        vpc = _cidr(self.plan.vpc_cidr, "vpc_cidr")
        names = [z.zone for z in self.plan.zones]
        # EKS wants control-plane subnets in at least two zones (aws.eks.Cluster vpc_config.subnet_ids docstring).
        if len(names) < 2:
            raise ValueError(f"zones: EKS needs subnets in at least two availability zones, got {names}")
        if len(set(names)) != len(names):
            raise ValueError(f"zones: a zone is listed twice: {names}")
        seen: list[IPv4Network] = []
        for z in self.plan.zones:
            for what, value in (("private_cidr", z.private_cidr), ("public_cidr", z.public_cidr)):
                net = _cidr(value, f"{z.zone}.{what}")
                if not net.subnet_of(vpc):
                    raise ValueError(f"{z.zone}.{what}: {value} is outside the VPC {self.plan.vpc_cidr}")
                if any(net.overlaps(other) for other in seen):
                    raise ValueError(f"{z.zone}.{what}: {value} overlaps another subnet")
                seen.append(net)


@dataclass(frozen=True)
class EksClusterSpec:
    kubernetes_version: str
    region: str
    # IAM principals (users or roles, not assumed-role session ARNs) that get cluster-admin through access entries.
    # Whatever runs `pulumi up` must be one of them: the Kubernetes provider authenticates as that principal.
    admin_principal_arns: tuple[str, ...]
    log_types: tuple[str, ...] = ("api", "audit", "authenticator")
    log_retention_days: int = 90
    deletion_protection: bool = False
    protect: bool = False
    support_type: str = "STANDARD"
    # Private endpoint always; the public one only when asked for, and then only from the listed sources.
    endpoint_public_access: bool = False
    public_access_cidrs: tuple[str, ...] = ()
    # Kubernetes Service addresses (ForceNew; must not overlap the VPC). None: EKS picks 10.100.0.0/16 or 172.20.0.0/16.
    service_cidr: str | None = None
    # The ARN partition of the AWS-managed policies ("aws-cn", "aws-us-gov" elsewhere).
    partition: str = "aws"
    tags: Mapping[str, str] = field(default_factory=dict[str, str])

    def __post_init__(self) -> None:
        if self.kubernetes_version not in BY_VERSION:
            raise ValueError(f"kubernetes_version: {self.kubernetes_version!r} is not one of {sorted(BY_VERSION)}")
        if not self.admin_principal_arns:
            raise ValueError("admin_principal_arns: name at least one IAM principal: no other way into the cluster "
                             "exists (the creator gets no implicit admin)")
        for arn in self.admin_principal_arns:
            if not arn.startswith("arn:") or ":iam::" not in arn or ":assumed-role/" in arn:
                raise ValueError(f"admin_principal_arns: {arn!r} is not an IAM user or role ARN (access entries "
                                 "take the role's ARN, not an assumed-role session's)")
        unknown = [t for t in self.log_types if t not in LOG_TYPES]
        if unknown:
            raise ValueError(f"log_types: {unknown} are not EKS control-plane log types {list(LOG_TYPES)}")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"log_retention_days: {self.log_retention_days} is not one of {list(LOG_RETENTION_DAYS)}")
        if self.support_type not in SUPPORT_TYPES:
            raise ValueError(f"support_type: {self.support_type!r} is not one of {list(SUPPORT_TYPES)}")
        if self.endpoint_public_access and not self.public_access_cidrs:
            # The API's default for public_access_cidrs is 0.0.0.0/0: refuse to reach it by omission.
            raise ValueError("public_access_cidrs: a public API endpoint needs the sources allowed to reach it")
        if self.public_access_cidrs and not self.endpoint_public_access:
            raise ValueError("public_access_cidrs: given, but the public endpoint is off")
        for cidr in self.public_access_cidrs:
            _cidr(cidr, "public_access_cidrs")
        if self.service_cidr is not None:
            _cidr(self.service_cidr, "service_cidr")


@dataclass(frozen=True)
class Scaling:
    min_size: int
    desired_size: int
    max_size: int

    def __post_init__(self) -> None:
        # EKS: max >= 1, 0 <= min <= desired <= max (NodegroupScalingConfig, EKS API reference).
        if not (0 <= self.min_size <= self.desired_size <= self.max_size and self.max_size >= 1):
            raise ValueError(f"scaling: need 0 <= min <= desired <= max and max >= 1, got {self}")


def zonal_scaling(count: int, surge: int, zones: int) -> tuple[Scaling | None, ...]:
    """Per-zone sizes of a zonal group: `count` nodes at rest and `surge` rollout room, split as evenly as whole
    numbers go (the first zones get the rest), as on Alibaba. None for a zone left with nothing."""
    out: list[Scaling | None] = []
    for i in range(zones):
        at_rest = count // zones + (1 if i < count % zones else 0)
        room = surge // zones + (1 if i < surge % zones else 0)
        out.append(Scaling(at_rest, at_rest, at_rest + room) if at_rest + room else None)
    return tuple(out)


@dataclass(frozen=True)
class NodeGroupSpec:
    role: Role
    instance_types: tuple[str, ...]
    # emqx: one entry per zone, in the network's zone order (None: no group in that zone); system and loadgen: one
    # entry for the group, which spans every zone.
    scaling: tuple[Scaling | None, ...]
    disk_gib: int = 40
    # Extra labels and taints; the pool label and the dedicated taint (as on Alibaba) are always set from the role.
    labels: Mapping[str, str] = field(default_factory=dict[str, str])
    taints: tuple[tuple[str, str, str], ...] = ()
    # The tuning renderer's MIME multi-part document (plain text; the component base64-encodes it).
    user_data: str | None = None
    # AL2023_x86_64_STANDARD or AL2023_ARM_64_STANDARD (Graviton); "" derives it from the instance types, which
    # must then share one architecture (one AMI serves the whole group).
    ami_type: str = ""

    def __post_init__(self) -> None:
        if not self.instance_types or len(self.instance_types) > 20:
            raise ValueError(f"{self.role}.instance_types: a managed node group takes 1 to 20, got "
                             f"{list(self.instance_types)}")
        if self.ami_type and self.ami_type not in AMI_TYPES.values():
            raise ValueError(f"{self.role}.ami_type: {self.ami_type!r} is not one of {sorted(AMI_TYPES.values())}")
        derived = {ami_type_for(t) for t in self.instance_types}
        if len(derived) != 1 or (self.ami_type and derived != {self.ami_type}):
            raise ValueError(f"{self.role}.instance_types: {list(self.instance_types)} need {sorted(derived)}; one "
                             f"AMI type{' (' + self.ami_type + ')' if self.ami_type else ''} serves a node group")
        object.__setattr__(self, "ami_type", derived.pop())
        if self.role not in ("emqx", "emqx-core") and len(self.scaling) != 1:
            raise ValueError(f"{self.role}.scaling: one entry for a group that spans the zones")
        if not any(self.scaling):
            raise ValueError(f"{self.role}.scaling: no zone has a node")
        # gp3: 1 GiB to 16 TiB (EBS volume types); the AL2023 EKS AMI's own root is 20 GiB.
        if not 20 <= self.disk_gib <= 16384:
            raise ValueError(f"{self.role}.disk_gib: {self.disk_gib} is outside 20..16384")
        for key, _value, effect in self.taints:
            if effect not in TAINT_EFFECTS:
                raise ValueError(f"{self.role}.taints[{key}]: effect {effect!r} is not one of {list(TAINT_EFFECTS)}")

    def zonal_scaling(self, zones: Sequence[str]) -> list[tuple[str, Scaling]]:
        """(zone, sizes) of each zonal group this spec makes (EMQX only)."""
        if len(self.scaling) != len(zones):
            raise ValueError(f"{self.role}.scaling: {len(self.scaling)} entries for {len(zones)} zones")
        return [(z, s) for z, s in zip(zones, self.scaling, strict=True) if s is not None]
