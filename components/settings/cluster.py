"""cluster: the Kubernetes version (checked against the minors each cloud creates clusters on), the API server's
reach, the node image and deletion protection."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from components import tuning
from components.aws import versions as eks_versions
from components.config_reader import Section, shown
from components.settings.common import Target


@dataclass(frozen=True)
class ApiServerSettings:
    public: bool  # an EIP on ACK's API server load balancer
    # The user says the stack's access list is bound to the API server listener (the provider cannot bind it).
    access_list_bound: bool
    # Who may reach the API server (both endpoints: ACK's access control is on the one CLB listener behind both).
    allowed_cidrs: tuple[str, ...]


@dataclass(frozen=True)
class ClusterSettings:
    kubernetes_version: str  # the provider's version string, e.g. "1.35.7-aliyun.1"
    kubernetes_minor: str  # "1.35": what the kubelet and the sysctl safe-list depend on
    spec: str
    api_server: ApiServerSettings
    node_image: str  # cs.NodePool image_type of every pool, checked against NODE_IMAGES
    # ACK deletion protection and Pulumi `protect` on the cluster and the VPC; defaults to `production`, so tearing a
    # production stack down is a reviewed config change of its own, not a change of what production means.
    deletion_protection: bool = False


@dataclass(frozen=True)
class NodeImage:
    """An ACK node image (cs.NodePool image_type) and the newest Kubernetes minor its nodes can run."""

    cgroup: Literal["v1", "v2", "undocumented"]
    newest_minor: tuple[int, int] | None  # None: every minor ACK creates clusters on
    source: str


# Kubernetes 1.35 removed cgroup v1: "The kubelet refuses to start on nodes that use cgroup v1" (ACK's Kubernetes 1.35
# release notes). Only images documented as cgroup v2 run 1.35; an image whose cgroup version the sources cited here
# do not state is held to 1.34 rather than risk nodes whose kubelet never starts.
NODE_IMAGES: dict[str, NodeImage] = {
    # The default: "Alibaba Cloud Linux 3 Container-optimized images use control group (cgroup) v2" (Alibaba Cloud
    # Linux docs, "Alibaba Cloud Linux 3 Container-optimized images"), with Alinux 3's full userland, so the node
    # tuning script finds every tool it uses.
    "AliyunLinux3ContainerOptimized": NodeImage(
        "v2", None, "Alibaba Cloud Linux 3 Container-optimized images use cgroup v2"),
    # The stock Alinux 3 image boots cgroup v1: ACK documents cgroup v2 on Alinux 3 only through a custom image built
    # with ack-image-builder ("Create cgroup v2 nodes from a custom image").
    "AliyunLinux3": NodeImage(
        "v1", (1, 34), "the stock Alibaba Cloud Linux 3 image uses cgroup v1 (ACK: cgroup v2 needs a custom image)"),
    # Read-only root with /etc and /var writable (ACK "ContainerOS overview"): the tuning script writes only under
    # /etc. Its cgroup version is not stated in the ACK pages cited here.
    "ContainerOS": NodeImage(
        "undocumented", (1, 34), "ACK's ContainerOS overview does not state that it uses cgroup v2"),
}
DEFAULT_NODE_IMAGE = "AliyunLinux3ContainerOptimized"


# The minors ACK managed clusters are created on, with the end of ACK's support ("Kubernetes versions supported by
# ACK", https://www.alibabacloud.com/help/en/ack/product-overview/release-notes-for-kubernetes-versions, updated
# 2026-10-06, read 2026-11-30): 1.36 (to 2027-05-30) and 1.35 (to 2027-02-28) are released; 1.34's support ended
# 2026-09-30 and 1.33 is end of life. The default patch 1.35.7-aliyun.1 is listed in ACK's 1.35 release notes.
ACK_MINORS: dict[str, str] = {"1.35": "2027-02-28", "1.36": "2027-05-30"}


@dataclass(frozen=True)
class VersionTable:
    """The Kubernetes minors a cloud creates clusters on (minor: end of the cloud's support), as of when read."""

    service: str  # how messages name the cloud's Kubernetes service, e.g. ACK
    minors: Mapping[str, str]
    as_of: str
    example: str  # a version string of that cloud, for the fix
    default: str = "1.35.7-aliyun.1"  # cluster.kubernetesVersion when unset
    pattern: str = r"1\.[0-9]{2}\.[0-9]+(-aliyun\.[0-9]+)?"
    hint: str = "an ACK version such as 1.35.7-aliyun.1 (see ACK's supported versions)"
    # (errors, warnings) for a version on a date, where the cloud's support calendar decides (EKS); None: the minor
    # table above decides, and cluster.allowUnlistedVersion may override it (ACK).
    calendar: Callable[[str, date], tuple[list[str], list[str]]] | None = None


def _eks_calendar(version: str, today: date) -> tuple[list[str], list[str]]:
    return eks_versions.kubernetes_version_problems(version, today=today)


# Per target: a target missing here (an existing cluster) has its version checked by nobody but its own cluster.
VERSION_TABLES: dict[str, VersionTable] = {
    "alicloud": VersionTable("ACK", ACK_MINORS, "2026-11", "1.35.7-aliyun.1"),
    # EKS versions are minors ("1.35"): EKS picks the patch (components/aws/versions.py, with the support dates).
    "aws": VersionTable("EKS", {m.version: m.end_of_standard.isoformat() for m in eks_versions.MINORS}, "2026-11",
                        "1.35", default="1.35", pattern=r"1\.[0-9]{2}",
                        hint="an EKS Kubernetes minor such as 1.35 (EKS picks the patch)", calendar=_eks_calendar),
}
# Keys only ACK has: refused on aws with why (key: why).
ACK_ONLY = {
    "spec": "the EKS control plane has one edition (its size is managed by AWS)",
    "nodeImage": "EKS nodes run the AL2023 EKS-optimised AMI of their instance type's architecture",
    "allowUnlistedVersion": "EKS minors are checked against their support dates (components/aws/versions.py), "
                            "which an unlisted minor does not have",
}


def today() -> date:
    """The date support calendars are read on (UTC); tests replace it."""
    return datetime.now(UTC).date()


def version_warnings(cluster: ClusterSettings, target: Target | None) -> tuple[str, ...]:
    """Non-fatal notes on the cluster's version (an EKS minor in extended support), for Settings.warnings."""
    table = VERSION_TABLES.get(target) if target else None
    if table is None or table.calendar is None:
        return ()
    return tuple(table.calendar(cluster.kubernetes_version, today())[1])


def parse_cluster(section: Section, target: Target | None, production: bool) -> ClusterSettings:
    table = VERSION_TABLES.get(target) if target else None
    base = table or VERSION_TABLES["alicloud"]
    version = section.string("kubernetesVersion", base.default, pattern=base.pattern, hint=base.hint)
    assert version is not None
    minor = ".".join(version.split(".")[:2])
    ack = target != "aws"
    if not ack:
        for name, why in ACK_ONLY.items():
            if section.has(name):
                section.accept(name)
                section.problems.add(f"cluster.{name}", f"applies to alicloud (ACK) only: {why}", "remove it")
    # For a minor ACK released after the table above was written: the cloud's API is then the judge.
    unlisted_ok = section.boolean("allowUnlistedVersion", False) if ack else False
    if table is not None and table.calendar is not None:
        errors, _ = table.calendar(version, today())
        section.problems.extend(errors)
    elif table is not None and minor not in table.minors and not unlisted_ok:
        section.problems.add("cluster.kubernetesVersion", f"{shown(version)} is not on a minor {table.service} "
                             f"creates clusters on ({', '.join(table.minors)}, as of {table.as_of})",
                             f"use e.g. {table.example}; for a minor {table.service} released since, also set "
                             "cluster.allowUnlistedVersion: true")
    spec = section.string("spec", "ack.pro.small", choices=("ack.pro.small", "ack.standard")) if ack else ""
    if section.has("apiServerPublic"):
        # Renamed, not aliased: the endpoint now comes with its access list, and honouring the old key would let a
        # stack go public without one.
        section.accept("apiServerPublic")
        section.problems.add("cluster.apiServerPublic", "was renamed to cluster.apiServer.public",
                             "write `cluster: {apiServer: {public: true|false, allowedCidrs: [...]}}` instead")
    api = section.section("apiServer")
    public = api.boolean("public", False)
    allowed = api.cidrs("allowedCidrs")
    # The program creates the access list but cannot bind it to ACK's API server listener (README, Known limits): a
    # production endpoint on the internet is accepted only once the config says the list is bound. EKS enforces
    # its public_access_cidrs itself: nothing to bind there.
    if not ack and api.has("accessListBound"):
        api.accept("accessListBound")
        section.problems.add("cluster.apiServer.accessListBound", "applies to alicloud (ACK) only: EKS enforces "
                             "cluster.apiServer.allowedCidrs on its public endpoint itself", "remove it")
    bound = api.boolean("accessListBound", False) if ack else True
    open_to_all = [c for c in allowed if c.endswith("/0")]
    if production and open_to_all:
        section.problems.add("cluster.apiServer.allowedCidrs", f"{', '.join(open_to_all)} lets anyone reach the "
                             "Kubernetes API of a production stack", "list the networks pulumi and kubectl run from")
    elif production and public and not allowed:
        section.problems.add("cluster.apiServer.public", "a production API server on the internet needs an access "
                             "list", "set cluster.apiServer.allowedCidrs to the networks pulumi and kubectl run from, "
                             "or keep the endpoint private and run pulumi inside the VPC (README, Deploying for real)")
    elif production and public and not bound:
        section.problems.add("cluster.apiServer.public", "the program creates the access list but cannot bind it to "
                             "ACK's API server, so a production endpoint on the internet would be open to everyone",
                             "keep it private (run pulumi inside the VPC), or bind the list as README's Known limits "
                             "says and then set cluster.apiServer.accessListBound: true")
    elif not ack and public and not allowed:
        # The EKS API's default public_access_cidrs is 0.0.0.0/0: an omission must not open the endpoint to all.
        section.problems.add("cluster.apiServer.public", "a public EKS endpoint without an access list would be "
                             "open to the whole internet", "set cluster.apiServer.allowedCidrs to the networks "
                             "pulumi and kubectl run from")
    if ack and bound and not allowed:
        section.problems.add("cluster.apiServer.accessListBound", "is true but there is no access list",
                             "set cluster.apiServer.allowedCidrs, or remove accessListBound")
    image = (section.string("nodeImage", DEFAULT_NODE_IMAGE, choices=tuple(NODE_IMAGES)) or DEFAULT_NODE_IMAGE
             if ack else DEFAULT_NODE_IMAGE)
    newest = NODE_IMAGES[image].newest_minor
    # NODE_IMAGES are ACK's images: another cloud's image rule goes beside this one, keyed by its target.
    if target == "alicloud" and newest is not None and tuning.parse_kubernetes_version(minor) > newest:
        section.problems.add(
            "cluster.nodeImage", f"{image} cannot run Kubernetes {minor} ({NODE_IMAGES[image].source}; from 1.35 "
            "the kubelet refuses to start without cgroup v2)",
            f"use {DEFAULT_NODE_IMAGE}, or a cluster.kubernetesVersion of {newest[0]}.{newest[1]} or older")
    if target == "existing":
        # Required: which sysctls a kubelet accepts without an allowlist depends on it, and a guess that is too new
        # gets every EMQX pod refused (SysctlForbidden).
        minor = section.string("kubernetesMinor", None, pattern=r"1\.[0-9]{2}", required=True,
                               hint="the existing cluster's version as shown by `kubectl version`, e.g. 1.33") or minor
    protected = section.boolean("deletionProtection", production)
    return ClusterSettings(kubernetes_version=version, kubernetes_minor=minor,
                           spec=spec or ("ack.pro.small" if ack else ""),
                           api_server=ApiServerSettings(public=public, allowed_cidrs=allowed, access_list_bound=bound),
                           node_image=image if ack else "", deletion_protection=protected)

