"""emqx: the release, the capacity target, storage and TLS; the topology and licence rules on the planned nodes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from components import sizing
from components.config_reader import Problems, Section, dns_name_problem
from components.emqx_versions import EmqxRelease, parse_release
from components.settings.auth import AuthSettings, parse_auth
from components.settings.common import DNS_LABEL, STORAGE_CLASS, Target


@dataclass(frozen=True)
class CertificateSettings:
    issuer_kind: Literal["Issuer", "ClusterIssuer"] | None  # None: the stack makes its own self-signed CA
    issuer_name: str | None
    dns_names: tuple[str, ...]


@dataclass(frozen=True)
class EmqxSettings:
    release: EmqxRelease
    name: str
    namespace: str
    capacity: sizing.CapacityTarget
    headroom: float
    keepalive_seconds: int
    core_storage_gib: int
    storage_class: str | None
    certificates: CertificateSettings
    acceptors: int
    requested_cores: int | None  # None: derived by the sizing
    requested_replicants: int | None
    auth: AuthSettings = field(default_factory=AuthSettings)


def parse_emqx(section: Section, production: bool) -> EmqxSettings | None:
    edition = section.string("edition", "opensource", choices=("opensource", "enterprise"))
    version = section.string("version", "5.8.9", pattern=r"[0-9]+\.[0-9]+\.[0-9]+",
                             hint="an EMQX release such as 5.8.9 or 5.10.3")
    # For a release newer than components/emqx_versions.RELEASED; without it an unlisted version is refused.
    allow_unlisted = section.boolean("allowUnlistedVersion", False)
    # [registry[:port]/]path: a ':' only for the registry's port, never a tag (the version is emqx.version).
    repository = section.string("imageRepository", None,
                                pattern=r"([a-z0-9.-]+(:[0-9]{1,5})?/)?[a-z0-9._-]+(/[a-z0-9._-]+)*",
                                hint="a registry path such as registry.example.com/emqx/emqx")
    # At most 36 characters: the operator names the core StatefulSet <name>-core-<hash of up to 10>, and its pods'
    # controller-revision-hash label <statefulset>-<hash of up to 10> must fit Kubernetes' 63.
    name = section.string("name", "emqx", pattern=r"[a-z0-9]([-a-z0-9]{0,34}[a-z0-9])?",
                          hint="a DNS label of at most 36 characters such as emqx")
    namespace = section.string("namespace", "emqx", pattern=DNS_LABEL, hint="a DNS label such as emqx")
    cores = section.integer("cores", None, minimum=1, maximum=31)
    replicants = section.integer("replicants", None, minimum=0, maximum=sizing.MAX_REPLICANTS)
    cap = section.section("capacity")
    connections = cap.integer("connections", 10_000, minimum=1, maximum=200_000_000)
    rate = cap.integer("messageRate", 1_000, minimum=0, maximum=100_000_000)
    payload = cap.integer("payloadBytes", 256, minimum=1, maximum=268_435_455)
    qos = cap.integer("qos", 1, minimum=0, maximum=2)
    fanout = cap.number("fanout", 1.0, minimum=0.0, maximum=10_000.0)
    headroom = cap.number("headroom", 0.3, minimum=0.0, maximum=0.9,
                          hint="headroom is the share of capacity kept free, 0.0 to 0.9")
    keepalive = section.integer("keepaliveSeconds", 60, minimum=10, maximum=3600)
    acceptors = section.integer("acceptors", 16, minimum=1, maximum=1024)
    storage = section.section("coreStorage")
    core_gib = storage.integer("sizeGiB", 20, minimum=1, maximum=16384)
    storage_class = storage.string("storageClass", None, pattern=STORAGE_CLASS,
                                   hint="a StorageClass name: a DNS subdomain of at most 253 characters")
    tls = section.section("tls")
    issuer_kind = tls.string("issuerKind", None, choices=("Issuer", "ClusterIssuer"))
    issuer_name = tls.string("issuerName", None, pattern=r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
    dns_names = tls.strings("dnsNames", ())
    for i, dns_name in enumerate(dns_names):
        bad = dns_name_problem(dns_name)
        if bad:
            section.problems.add(f"emqx.tls.dnsNames[{i}]", bad[0], bad[1])
    if issuer_kind is not None and not dns_names:
        section.problems.add("emqx.tls.dnsNames", "is empty, but your issuer signs only the names listed here",
                             "list the names clients dial, e.g. [mqtt.example.com]")
    if (issuer_kind is None) != (issuer_name is None):
        section.problems.add("emqx.tls", "issuerKind and issuerName go together",
                             "set both to use your own cert-manager issuer, or neither for a self-signed CA")
    release = None
    if edition and version:
        release, release_problems = parse_release(edition, version, repository, key="emqx",
                                                  allow_unlisted=allow_unlisted)
        section.problems.extend(release_problems)
    auth = parse_auth(section.section("auth"), production, release=release, own_ca=issuer_kind is None)
    if release is None or None in (name, namespace, connections, rate, payload, qos, keepalive, core_gib):
        return None
    assert name and namespace and connections is not None and rate is not None
    assert payload is not None and qos is not None and keepalive is not None and core_gib is not None
    return EmqxSettings(
        release=release,
        name=name,
        namespace=namespace,
        capacity=sizing.CapacityTarget(connections=connections, message_rate=rate, payload_bytes=payload, qos=qos,
                                       fanout=fanout),
        headroom=headroom,
        keepalive_seconds=keepalive,
        core_storage_gib=core_gib,
        storage_class=storage_class,
        certificates=CertificateSettings(issuer_kind=issuer_kind, issuer_name=issuer_name,  # type: ignore[arg-type]
                                         dns_names=dns_names),
        acceptors=acceptors or 16,
        requested_cores=cores,
        requested_replicants=replicants,
        auth=auth,
    )


# The smallest core volume each cloud's disk takes: a smaller one would never be provisioned.
MIN_CORE_STORAGE_GIB: dict[str, tuple[int, str]] = {
    "alicloud": (20, "an Alibaba Cloud ESSD disk"),
    # gp3: 1 GiB to 16 TiB (EBS User Guide, "General Purpose SSD volumes", gp3 volume size).
    "aws": (1, "an EBS gp3 volume"),
}


def emqx_target_problems(emqx: EmqxSettings | None, target: Target | None, values: Mapping[str, Any],
                         problems: Problems) -> None:
    """The licence against the edition, and the core volume against the target's disks."""
    if emqx is not None and emqx.release.open_source and "licenseKey" in values:
        problems.add("licenseKey", f"open-source EMQX {emqx.release.version} takes no licence, and it would "
                     "still be handed to the pods", "remove it, or set emqx.edition to enterprise")
    minimum = MIN_CORE_STORAGE_GIB.get(target) if target else None
    if minimum is not None and emqx is not None and emqx.core_storage_gib < minimum[0]:
        problems.add("emqx.coreStorage.sizeGiB", f"{emqx.core_storage_gib} GiB is below the {minimum[0]} GiB "
                     f"minimum of {minimum[1]}, so the volume would never be provisioned", f"use at least {minimum[0]}")


def topology_problems(plan: sizing.SizingPlan, release: EmqxRelease, production: bool, has_license: bool) -> list[str]:
    """EMQX architecture and licence rules, on the final node counts."""
    out: list[str] = []
    nodes = plan.cores + plan.replicants
    if plan.replicants and not release.replicants_allowed:
        out.append(f"emqx.replicants: {release.edition} EMQX {release.version} has no replicant nodes "
                   "(core + replicant is Enterprise-only since 5.8.0); set replicants to 0, or use edition enterprise")
    if plan.replicants and plan.cores < 2:
        out.append(f"emqx.cores: {plan.cores} core cannot serve {plan.replicants} replicant(s) through a core "
                   "restart; use 3 cores")
    if plan.replicants == 0 and nodes > 3:
        out.append(f"emqx.cores: {plan.cores} core nodes and no replicants: EMQX 5 keeps all-core clusters to 3 "
                   "nodes at most (every core replicates every write); use 3 cores plus replicants (Enterprise)")
    if nodes >= 10 and plan.replicants and plan.cores > 5:
        out.append(f"emqx.cores: {plan.cores} cores in a {nodes}-node cluster; from 10 nodes on, keep 3 (at most "
                   "5) cores that take no clients and put the rest in replicants")
    if production and (plan.cores < 3 or plan.cores % 2 == 0):
        out.append(f"emqx.cores: production needs an odd number of cores, at least 3 (got {plan.cores}), so a "
                   "core can fail without losing the quorum of the database; use 3 or 5")
    if release.open_source and nodes > 3:
        out.append(f"emqx: open-source EMQX {release.version} is limited here to 3 nodes (got {nodes}); "
                   "use edition enterprise with a licence for more")
    if release.license_reason and nodes > 1 and not has_license:
        # Production needs 3 cores (below), so a single node is no fix there.
        out.append(f"licenseKey: not set, but a cluster of {nodes} nodes needs one: {release.license_reason}; run "
                   "`pulumi config set --secret licenseKey <key>`" + ("" if production else ", or use 1 node"))
    return out
