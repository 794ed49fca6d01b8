"""target aws: the keys only an EKS stack reads (cluster admins, control-plane logs, support type, NAT per zone,
cross-zone load balancing) and the AWS address plan.

The shared sections keep their meaning on aws (cloud, network, cluster, nodePools, loadBalancer); their per-target
rules live in their own modules (cloud.CLOUD_PARSERS, network.NETWORK_PARSERS, cluster.VERSION_TABLES,
node_pools.POOL_RULES, ...). This module reads what has no Alibaba counterpart, from the same Section objects the
shared parsers use (a second Section over the same keys would report the other's keys as unknown).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from components.aws.address_plan import AddressPlan
from components.aws.spec import LOG_RETENTION_DAYS, LOG_TYPES, SUPPORT_TYPES
from components.config_reader import Problems, Section, shown
from components.settings.common import Target


@dataclass(frozen=True)
class AwsSettings:
    plan: AddressPlan  # from network.vpcCidr/serviceCidr + cloud.zones (components/aws/address_plan.py)
    admin_principal_arns: tuple[str, ...]  # cluster.admins: IAM role/user ARNs given cluster-admin access entries
    log_types: tuple[str, ...]  # cluster.logTypes: EKS control-plane logs sent to CloudWatch
    log_retention_days: int  # cluster.logRetentionDays
    support_type: Literal["STANDARD", "EXTENDED"]  # cluster.supportType (aws.eks.Cluster upgrade_policy)
    nat_per_zone: bool  # network.natPerZone
    cross_zone: bool  # loadBalancer.crossZone


@dataclass(frozen=True)
class AwsKeys:
    """The aws-only keys as read; the address plan comes once the node counts are known (derive)."""

    admin_principal_arns: tuple[str, ...]
    log_types: tuple[str, ...]
    log_retention_days: int
    support_type: Literal["STANDARD", "EXTENDED"]
    nat_per_zone: bool
    cross_zone: bool

    def with_plan(self, plan: AddressPlan) -> AwsSettings:
        return AwsSettings(plan=plan, admin_principal_arns=self.admin_principal_arns, log_types=self.log_types,
                           log_retention_days=self.log_retention_days, support_type=self.support_type,
                           nat_per_zone=self.nat_per_zone, cross_zone=self.cross_zone)


# (section key, key) of every aws-only setting, for the refusal on other targets.
AWS_ONLY = (("cluster", "admins"), ("cluster", "logTypes"), ("cluster", "logRetentionDays"),
            ("cluster", "supportType"), ("network", "natPerZone"), ("loadBalancer", "crossZone"))

# IAM ARNs (IAM User Guide, "IAM identifiers": arn:partition:iam::account-id:user/path/name, .../role/path/name;
# partitions aws, aws-cn, aws-us-gov). Names: letters, digits and +=,.@_- (IAM CreateRole/CreateUser RoleName,
# UserName); paths: / or /segments/.
_PRINCIPAL = re.compile(r"arn:(aws|aws-cn|aws-us-gov):iam::[0-9]{12}:(role|user)"
                        r"(/[\x21-\x7e]*)?/[A-Za-z0-9+=,.@_-]{1,128}")
_SESSION = re.compile(r"arn:(aws|aws-cn|aws-us-gov):sts::[0-9]{12}:assumed-role/([A-Za-z0-9+=,.@_-]+)/.+")


def partition_of(region: str) -> str:
    """The ARN partition of a region (IAM User Guide, "IAM identifiers": aws-cn for China, aws-us-gov for GovCloud)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def parse_aws_keys(target: Target | None, production: bool, *, cluster: Section, network: Section,
                   load_balancer: Section) -> AwsKeys | None:
    """The aws-only keys (None on another target, where each one present is refused)."""
    if target != "aws":
        if target is not None:
            # On an existing cluster the network and loadBalancer sections are refused whole (stack.py).
            sections = (cluster,) if target == "existing" else (cluster, network, load_balancer)
            for section in sections:
                for owner, key in AWS_ONLY:
                    if section.key == owner and section.has(key):
                        section.accept(key)
                        section.problems.add(f"{owner}.{key}", f"only applies when target is 'aws' (target is "
                                             f"{target!r})", "remove it")
        return None
    problems = cluster.problems
    admins = cluster.strings("admins", (), min_items=1,
                             hint="list the IAM roles or users that administer the cluster, e.g. "
                                  "[arn:aws:iam::111122223333:role/platform-admin]; whatever runs `pulumi up` must "
                                  "be one of them")
    for i, arn in enumerate(admins):
        admin_problem(f"cluster.admins[{i}]", arn, problems)
    log_types = cluster.strings("logTypes", ("api", "audit", "authenticator"))
    for i, log_type in enumerate(log_types):
        if log_type not in LOG_TYPES:
            problems.add(f"cluster.logTypes[{i}]", f"{shown(log_type)} is not an EKS control-plane log type",
                         f"use some of {', '.join(LOG_TYPES)}")
    # CloudWatch Logs accepts only these retention periods (PutRetentionPolicy retentionInDays; the
    # aws.cloudwatch.LogGroup retention_in_days docstring lists the same values; 0 = never expire).
    retention = cluster.integer("logRetentionDays", 90)
    if retention is not None and retention not in LOG_RETENTION_DAYS:
        problems.add("cluster.logRetentionDays", f"{retention} is not a retention period CloudWatch Logs accepts",
                     f"use one of {', '.join(map(str, LOG_RETENTION_DAYS))} (0 = never expire)")
        retention = 90
    # STANDARD: EKS upgrades the cluster at the end of standard support; EXTENDED: it stays, billed per hour
    # (aws.eks.Cluster upgrade_policy.support_type docstring; EKS kubernetes-versions.html).
    support = cluster.string("supportType", "STANDARD", choices=SUPPORT_TYPES) or "STANDARD"
    # One NAT gateway per zone keeps a zone's outage from cutting the other zones' egress; one NAT costs a third.
    nat_per_zone = network.boolean("natPerZone", production)
    # NLB cross-zone load balancing is off by default (enable_cross_zone_load_balancing); on, each zone's address
    # reaches the targets of every zone, so a zone short of EMQX nodes still serves its clients.
    cross_zone = load_balancer.boolean("crossZone", True)
    return AwsKeys(admin_principal_arns=admins, log_types=log_types, log_retention_days=retention or 0,
                   support_type=support,  # type: ignore[arg-type]
                   nat_per_zone=nat_per_zone, cross_zone=cross_zone)


# Amazon VPC quotas, "Inbound or outbound rules per security group": 60 by default (components/aws/load_balancer.py
# SECURITY_GROUP_RULES_QUOTA, which refuses the same at build time).
NLB_SECURITY_GROUP_RULES = 60


def nlb_rule_problems(served_ports: tuple[int, ...], network: Mapping[str, Any] | None, problems: Problems) -> None:
    """The NLB's security group takes one rule per served MQTT port and client CIDR, and one per admin CIDR: more than
    EC2's default quota fails AuthorizeSecurityGroupIngress halfway through `pulumi up`."""
    if network is None or problems.about("network.clientCidrs") or problems.about("network.adminCidrs"):
        return
    clients, admins = len(network["client_cidrs"]), len(network["admin_cidrs"])
    rules = len(served_ports) * clients + admins
    if rules > NLB_SECURITY_GROUP_RULES:
        problems.add("network.clientCidrs", f"{len(served_ports)} MQTT ports x {clients} client ranges + {admins} "
                     f"admin ranges make {rules} rules on the NLB's security group, over EC2's default quota of "
                     f"{NLB_SECURITY_GROUP_RULES}", "merge the ranges into fewer, wider ones")


def admin_problem(key: str, arn: str, problems: Problems) -> None:
    """An admin that an EKS access entry would not take."""
    session = _SESSION.fullmatch(arn)
    if session:
        # "An access entry includes the ARN of one, and only one, existing IAM principal" (EKS User Guide, "Create
        # access entries"): a session is not one, and its ARN changes with every sign-in. The role's ARN (with its
        # path, which access entries accept) is what `aws sts get-caller-identity` shows minus the session name.
        role = session.group(2)
        account = arn.split(":")[4]
        problems.add(key, f"{shown(arn)} is an assumed-role session, not an IAM role", f"use the role's ARN: "
                     f"arn:{session.group(1)}:iam::{account}:role/{role} (add its path if it has one; "
                     f"`aws iam get-role --role-name {role}` shows it)")
    elif not _PRINCIPAL.fullmatch(arn):
        problems.add(key, f"{shown(arn)} is not an IAM role or user ARN",
                     "write it as arn:aws:iam::<12-digit account>:role/<name> (or :user/<name>; partitions aws, "
                     "aws-cn, aws-us-gov)")


def admin_partition_problems(admins: tuple[str, ...], region: str, problems: Problems) -> None:
    """Admins of another partition than the region's: IAM principals do not cross partitions."""
    wanted = partition_of(region)
    for i, arn in enumerate(admins):
        if _PRINCIPAL.fullmatch(arn) and arn.split(":")[1] != wanted:
            problems.add(f"cluster.admins[{i}]", f"is in partition {arn.split(':')[1]}, but cloud.region "
                         f"{region} is in {wanted}", f"use a principal of the {wanted} partition")
