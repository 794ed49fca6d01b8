"""The one place that reads stack config: parse, validate (every problem at once), and derive the plan.

`load()` is what `__main__.py` calls. `parse()` is the pure core: raw config values in, frozen `Settings` out, or
`ConfigError` listing every problem with its config key, what is wrong and how to fix it. Nothing else in the
program reads `pulumi.Config`.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import pulumi

from components import sizing, tuning
from components.config_reader import Problems, Section, dns_name_problem
from components.emqx_versions import EmqxRelease, parse_release
from components.network_plan import NetworkPlan, plan_network
from components.render.emqx import max_ports

PROJECT = "emqx-platform"

# Top-level keys of the project's namespace. Secrets are separate top-level keys so that
# `pulumi config set --secret <key>` encrypts exactly them and nothing else.
SECRET_KEYS = ("licenseKey", "kubeconfig")
SECTION_KEYS = (
    "target",
    "production",
    "cloud",
    "network",
    "cluster",
    "nodePools",
    "emqx",
    "loadBalancer",
    "tuning",
    "monitoring",
    "rebalance",
    "existing",
    "charts",
    "tags",
)

Target = Literal["alicloud", "aws", "existing"]
TARGETS: tuple[str, ...] = ("alicloud", "aws", "existing")
DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"


class ConfigError(pulumi.RunError):
    """Bad stack config. A RunError, so `pulumi up` prints the message without a Python traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"the stack config has {len(problems)} problem(s); nothing was created:\n{lines}"
        )


@dataclass(frozen=True)
class CloudSettings:
    region: str
    zones: tuple[str, ...]


@dataclass(frozen=True)
class NetworkSettings:
    vpc_cidr: str
    plugin: Literal["flannel", "terway"]
    pod_cidr: str | None
    service_cidr: str
    client_cidrs: tuple[str, ...]
    admin_cidrs: tuple[str, ...]
    plan: NetworkPlan | None  # None for targets without a VPC of ours


@dataclass(frozen=True)
class ClusterSettings:
    kubernetes_version: str  # the provider's version string, e.g. "1.35.7-aliyun.1"
    kubernetes_minor: str  # "1.35": what the kubelet and the sysctl safe-list depend on
    spec: str
    api_server_public: bool


@dataclass(frozen=True)
class NodePoolSettings:
    name: str
    enabled: bool
    instance_types: tuple[str, ...]
    count: int
    disk_category: str
    disk_gib: int
    # Nodes the pool may add while the operator's blue-green rollout runs the new EMQX set beside the old one
    # (one EMQX pod per node); 0 = a fixed-size pool; None (as read) = derived from the topology.
    rollout_surge: int | None = None


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


@dataclass(frozen=True)
class HealthCheckSettings:
    interval_seconds: int
    timeout_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int


@dataclass(frozen=True)
class LoadBalancerSettings:
    address_type: Literal["internet", "intranet"]
    spec: str
    scheduler: Literal["wrr", "wlc", "rr"]
    idle_timeout_seconds: int
    health_check: HealthCheckSettings
    deletion_protection: bool


@dataclass(frozen=True)
class MonitoringSettings:
    prometheus_operator: bool
    labels: tuple[tuple[str, str], ...]
    scrape_interval: str
    grafana_dashboard: bool
    dashboard_namespace: str | None  # None: the EMQX namespace


@dataclass(frozen=True)
class RebalanceRun:
    name: str
    conn_evict_rate: int
    sess_evict_rate: int
    wait_takeover: int
    wait_health_check: int
    abs_conn_threshold: int
    rel_conn_threshold: str
    abs_sess_threshold: int
    rel_sess_threshold: str


@dataclass(frozen=True)
class ExistingClusterSettings:
    context: str | None
    storage_class: str | None
    listener_service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"]
    node_selector: tuple[tuple[str, str], ...]
    node_shape: sizing.NodeShape
    # We cannot configure an existing cluster's kubelets: unless their allowlist is known to carry the profile's
    # unsafe sysctls, EMQX pods ask only for the safe ones (the kubelet would refuse the pod otherwise).
    unsafe_sysctls_allowed: bool


@dataclass(frozen=True)
class ChartSettings:
    cert_manager_version: str
    emqx_operator_version: str
    # An existing cluster may already run either: one per cluster, and the operator's chart owns the EMQX CRDs.
    install_cert_manager: bool = True
    install_operator: bool = True
    # A mirror for the charts' images (<registry>/jetstack/..., <registry>/emqx/...), e.g. where Docker Hub and
    # quay.io are slow or unreachable.
    image_registry: str | None = None


@dataclass(frozen=True)
class Settings:
    project: str
    stack: str
    target: Target
    production: bool
    tags: tuple[tuple[str, str], ...]
    cloud: CloudSettings | None
    network: NetworkSettings | None
    cluster: ClusterSettings
    system_pool: NodePoolSettings | None
    emqx_pool: NodePoolSettings | None
    loadgen_pool: NodePoolSettings | None
    emqx: EmqxSettings
    sizing: sizing.SizingPlan
    tuning: tuning.TuningProfile
    load_balancer: LoadBalancerSettings
    monitoring: MonitoringSettings
    rebalance: tuple[RebalanceRun, ...]
    existing: ExistingClusterSettings | None
    charts: ChartSettings
    license_key: pulumi.Output[str] | None
    kubeconfig: pulumi.Output[str] | None

    @property
    def has_license(self) -> bool:
        return self.license_key is not None

    @property
    def pod_sysctls(self) -> list[dict[str, str]]:
        """The EMQX pods' securityContext.sysctls: what the kubelets where they land will accept."""
        wanted = self.tuning.pod_security_context_sysctls()
        if self.existing is None or self.existing.unsafe_sysctls_allowed:
            return wanted
        safe = tuning.safe_sysctls(self.cluster.kubernetes_minor)
        return [s for s in wanted if s["name"] in safe]


# ---------------------------------------------------------------------------------------------------------------
# Reading config from the Pulumi runtime


def raw_config() -> tuple[dict[str, Any], set[str]]:
    """The project's config values (JSON-decoded where structured) and which keys are secret."""
    merged: dict[str, Any] = {}
    merged.update(pulumi.runtime.config.get_config_env())
    merged.update(pulumi.runtime.config.CONFIG.get())
    secret_full = set(pulumi.runtime.config.get_config_secret_keys_env())
    secret_full |= set(pulumi.runtime.config._SECRET_KEYS.get())  # pyright: ignore[reportPrivateUsage]
    prefix = f"{PROJECT}:"
    values: dict[str, Any] = {}
    for full_key, text in merged.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        values[key] = _decode(text)
    secrets = {k[len(prefix) :] for k in secret_full if k.startswith(prefix)}
    return values, secrets


def _decode(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    stripped = text.strip()
    if stripped[:1] in "{[" or stripped in ("true", "false", "null") or re.fullmatch(r"-?\d+(\.\d+)?", stripped):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return text
    return text


def load() -> Settings:
    """Settings for the running stack; raises ConfigError before anything is registered."""
    values, secret_keys = raw_config()
    return parse(values, stack=pulumi.get_stack(), secret_keys=secret_keys)


# ---------------------------------------------------------------------------------------------------------------
# Parsing and validation (pure apart from wrapping secret values in Outputs)


def parse(values: Mapping[str, Any], *, stack: str, secret_keys: set[str] | frozenset[str] = frozenset()) -> Settings:
    problems = Problems()
    for key in values:
        if key not in SECTION_KEYS and key not in SECRET_KEYS:
            close = difflib.get_close_matches(key, SECTION_KEYS + SECRET_KEYS, n=1)
            fix = (f"did you mean {PROJECT}:{close[0]}?" if close
                   else "remove it; see the README's configuration reference")
            problems.add(f"{PROJECT}:{key}", "is not a known setting", fix)
    for key in SECRET_KEYS:
        if key in values and key not in secret_keys:
            problems.add(
                key,
                "is stored in plain text",
                f"remove it and set it again with `pulumi config set --secret {key} ...`",
            )

    root = Section("", dict(values), problems)
    target = _target(root)
    production = root.boolean("production", False)
    tags = root.string_map("tags", kind="tag")
    reserved_tags = sorted({k for k, _ in tags} & {"stack", "project", "component", "pool"})
    if reserved_tags:
        problems.add("tags", f"{', '.join(reserved_tags)} are set by the program on every resource",
                     "use other tag keys")
    if len(tags) > 16:
        problems.add("tags", f"{len(tags)} tags; Alibaba Cloud allows 20 per resource and the program sets up to 4",
                     "use at most 16")

    cluster = _cluster(root.section("cluster"), target)
    emqx = _emqx(root.section("emqx"), production)
    existing = _existing(root.section("existing"), target)
    cloud = _cloud(root.section("cloud"), target, production)
    pools = root.section("nodePools")
    system_pool = _pool(pools.section("system"), "system", target, default_types=("ecs.g7.xlarge",), count=2)
    emqx_pool = _pool(pools.section("emqx"), "emqx", target, default_types=("ecs.c7.xlarge",), count=None)
    loadgen_pool = _pool(pools.section("loadgen"), "loadgen", target, default_types=("ecs.c7.2xlarge",), count=0,
                         enabled_default=False)
    load_balancer = _load_balancer(root.section("loadBalancer"), emqx.keepalive_seconds if emqx else 60)
    monitoring = _monitoring(root.section("monitoring"))
    rebalance = _rebalance(root.section("rebalance"))
    charts = _charts(root.section("charts"))
    tuning_section = root.section("tuning")
    tuning_overrides = tuning_section.mapping("sysctls")
    problems.extend(tuning.validate_overrides(tuning_overrides, key="tuning.sysctls"))
    nofile_override = tuning_section.integer("nofile", None, minimum=65536, maximum=tuning.NR_OPEN_MAX,
                                             hint=f"at most {tuning.NR_OPEN_MAX}, the kernel's fs.nr_open ceiling")
    network_section = root.section("network")
    network_raw = _network_fields(network_section, target)

    # Keys belonging to other targets are an error rather than silently ignored: a stack that sets
    # `cloud` while targeting an existing cluster probably targets the wrong thing.
    if target == "existing":
        for name in ("cloud", "network", "nodePools", "loadBalancer"):
            if name in values:
                problems.add(name, "has no effect when target is 'existing'", "remove it, or set target to a cloud")
    elif target is not None and "existing" in values:
        problems.add("existing", f"only applies when target is 'existing' (target is {target!r})", "remove it")
    if emqx is not None and emqx.release.open_source and "licenseKey" in values:
        problems.add("licenseKey", f"open-source EMQX {emqx.release.version} takes no licence, and it would "
                     "still be handed to the pods", "remove it, or set emqx.edition to enterprise")
    if target == "alicloud" and emqx is not None and emqx.core_storage_gib < 20:
        problems.add("emqx.coreStorage.sizeGiB", f"{emqx.core_storage_gib} GiB is below the 20 GiB minimum of "
                     "an Alibaba Cloud ESSD disk, so the volume would never be provisioned", "use at least 20")
    if target != "existing" and "kubeconfig" in values:
        problems.add("kubeconfig", "only applies when target is 'existing'", "remove it: the stack makes its own")
    if target is not None and target != "existing":
        for toggle, installed in (("installCertManager", charts.install_cert_manager),
                                  ("installOperator", charts.install_operator)):
            if not installed:
                problems.add(f"charts.{toggle}", f"false only makes sense on an existing cluster; the {target} "
                             "cluster this stack creates has nothing installed", "remove it")
    if (emqx is not None and emqx.release.legacy
            and tuple(int(p) for p in charts.emqx_operator_version.split(".")[:2]) >= (2, 3)):
        problems.add("charts.emqxOperatorVersion", f"{charts.emqx_operator_version} no longer serves "
                     "apps.emqx.io/v1beta4, which EMQX 4.4 needs", "stay on 2.2.x (e.g. 2.2.29) while you run 4.4")
    if target == "aws":
        problems.add(
            "target",
            "'aws' (EKS) is not built yet: the node tuning renders EKS user data, but the network, cluster and "
            "load balancer components do not exist",
            "use 'alicloud', or 'existing' with an EKS cluster's kubeconfig",
        )

    # Unknown top-level keys were reported above with the namespace they need.
    root.accept(*values.keys())
    root.finish()

    plan: sizing.SizingPlan | None = None
    profile: tuning.TuningProfile | None = None
    network: NetworkSettings | None = None
    # Cross-field rules run on whatever their inputs are valid for, so one run reports as much as it can without
    # deriving anything from a value already reported as wrong.
    sizing_inputs = ("target", "production", "emqx", "nodePools", "existing", "cluster", "tuning")
    if emqx is not None and target is not None and not problems.about(*sizing_inputs):
        shape = _node_shape(target, emqx_pool, existing, problems)
        if shape is not None:
            plan, sizing_problems = sizing.plan_capacity(
                emqx.capacity,
                shape,
                cores=emqx.requested_cores,
                replicants=emqx.requested_replicants,
                replicants_allowed=emqx.release.replicants_allowed,
                headroom=emqx.headroom,
                min_client_nodes=2 if production else 1,
                survive_node_loss=production,
                key="emqx",
            )
            problems.extend(sizing_problems)
        if rebalance and not emqx.release.rebalance_allowed:
            problems.add("rebalance.runs", f"rebalancing is Enterprise-only; {emqx.release.edition} EMQX "
                         f"{emqx.release.version} has no rebalance API", "remove the runs, or use edition enterprise")
        if plan is not None:
            problems.extend(_topology_problems(plan, emqx.release, production, "licenseKey" in values))
            if emqx_pool is not None:
                emqx_pool = _emqx_pool_room(emqx_pool, plan)
                peak = plan.cores + plan.replicants
                surge = emqx_pool.rollout_surge or 0
                if production and surge == 0:
                    problems.add("nodePools.emqx.rolloutSurge", "0 leaves no node for the operator's blue-green "
                                 "rollout, so an image or resource change would hang with new pods Pending",
                                 f"leave it unset (derived: {peak}) or raise it")
                elif 0 < surge < peak:
                    problems.add("nodePools.emqx.rolloutSurge", f"{surge} nodes cannot hold the new cluster the "
                                 f"operator starts beside the old one ({peak} pods, one per node), so a rollout "
                                 "would hang", f"use at least {peak}, or 0 for a fixed pool you scale by hand")
            if emqx_pool is not None and emqx_pool.count and emqx_pool.count < plan.cores + plan.replicants:
                problems.add(
                    "nodePools.emqx.count",
                    f"{emqx_pool.count} nodes cannot hold {plan.cores} core(s) + {plan.replicants} replicant(s), "
                    "one EMQX pod per node",
                    f"use at least {plan.cores + plan.replicants}, or leave it unset to follow the sizing",
                )
            ports = max_ports(plan.max_connections_per_node)
            if nofile_override is not None and nofile_override <= ports:
                problems.add("tuning.nofile", f"{nofile_override} is not above node.max_ports ({ports}, from the "
                             "sizing): EMQX would run out of file descriptors before reaching its planned connections",
                             f"use more than {ports}, or leave it unset")
            try:
                profile = tuning.build_profile(
                    max_connections_per_node=plan.max_connections_per_node,
                    kubernetes_version=cluster.kubernetes_minor,
                    overrides={str(k): v for k, v in tuning_overrides.items()},
                    nofile=nofile_override,
                )
            except ValueError as error:
                # Overrides that contradict each other or the open-file limit the sizing needs.
                for line in str(error).splitlines():
                    problems.items.append(line if line.startswith("tuning.") else f"tuning.nofile: {line}")
        if (target == "alicloud" and cloud is not None and network_raw is not None and plan is not None
                and not problems.about("cloud", "network")):
            # Every node the pools may hold at once: EMQX pools per zone (rounded up) with rollout room, system,
            # load generators.
            emqx_nodes = emqx_pool.count + (emqx_pool.rollout_surge or 0) if emqx_pool else 0
            max_nodes = emqx_nodes + 2 * len(cloud.zones) + (system_pool.count if system_pool else 0) + (
                loadgen_pool.count if loadgen_pool and loadgen_pool.enabled else 0
            )
            net_plan, net_problems = plan_network(
                vpc_cidr=network_raw["vpc_cidr"],
                zones=cloud.zones,
                network_plugin=network_raw["plugin"],
                max_nodes=max_nodes,
                max_pods_per_node=64,
                pod_cidr=network_raw["pod_cidr"],
                service_cidr=network_raw["service_cidr"],
                key="network",
            )
            problems.extend(net_problems)
            network = NetworkSettings(plan=net_plan, **network_raw)

    if problems or emqx is None or plan is None or profile is None or target is None:
        raise ConfigError(problems.items or ["emqx: could not be read; see the README's configuration reference"])


    return Settings(
        project=PROJECT,
        stack=stack,
        target=target,
        production=production,
        tags=tags,
        cloud=cloud,
        network=network,
        cluster=cluster,
        system_pool=system_pool,
        emqx_pool=emqx_pool,
        loadgen_pool=loadgen_pool,
        emqx=emqx,
        sizing=plan,
        tuning=profile,
        load_balancer=load_balancer,
        monitoring=monitoring,
        rebalance=rebalance,
        existing=existing,
        charts=charts,
        license_key=_secret(values, "licenseKey"),
        kubeconfig=_secret(values, "kubeconfig"),
    )


def _secret(values: Mapping[str, Any], key: str) -> pulumi.Output[str] | None:
    value = values.get(key)
    if value is None:
        return None
    # `pulumi config set --secret licenseKey "$(cat file)"` keeps a trailing newline that is not part of the key.
    return pulumi.Output.secret(value.strip() if isinstance(value, str) else json.dumps(value))


def _emqx_pool_room(pool: NodePoolSettings, plan: sizing.SizingPlan) -> NodePoolSettings:
    """The EMQX pool's size: one node per EMQX pod, plus room for a blue-green rollout.

    The operator (2.2) starts the new cores, then the new replicants while the old cores still run, and removes
    the old sets only once the new replicants are ready: at the peak both whole clusters run side by side.
    """
    count = pool.count or plan.cores + plan.replicants
    surge = plan.cores + plan.replicants if pool.rollout_surge is None else pool.rollout_surge
    return replace(pool, count=count, rollout_surge=surge)


def _target(root: Section) -> Target | None:
    value = root.string("target", None, choices=TARGETS, required=True,
                        hint="set it to alicloud or existing: `pulumi config set target alicloud`")
    return value  # type: ignore[return-value]


def _cloud(section: Section, target: Target | None, production: bool) -> CloudSettings | None:
    if target != "alicloud":
        return None
    region = section.string("region", None, required=True, pattern=r"[a-z]{2}-[a-z0-9-]+",
                            hint="an Alibaba Cloud region id such as cn-hangzhou")
    zones = section.strings("zones", min_items=3 if production else 2,
                            hint="list the zone ids to spread nodes over, e.g. [cn-hangzhou-h, cn-hangzhou-i]")
    if region:
        for i, zone in enumerate(zones):
            if not zone.startswith(region + "-"):
                section.problems.add(
                    f"cloud.zones[{i}]",
                    f"{zone!r} is not a zone of region {region!r}",
                    f"use zone ids that start with '{region}-'",
                )
    return CloudSettings(region=region or "", zones=zones)


def _network_fields(section: Section, target: Target | None) -> dict[str, Any] | None:
    if target != "alicloud":
        return None
    vpc = section.cidr("vpcCidr", "10.0.0.0/16")
    plugin = section.string("plugin", "flannel", choices=("flannel", "terway"))
    pod_cidr = section.cidr("podCidr", "172.20.0.0/16") if plugin == "flannel" else None
    if plugin == "terway" and section.has("podCidr"):
        section.string("podCidr")
        section.problems.add("network.podCidr", "does not apply to terway (pods use pod vSwitches in the VPC)",
                             "remove it")
    service = section.cidr("serviceCidr", "172.21.0.0/20")
    clients = section.cidrs("clientCidrs", ("0.0.0.0/0",), min_items=1)
    admins = section.cidrs("adminCidrs", (vpc,), min_items=1)
    for i, cidr in enumerate(admins):
        if int(cidr.rsplit("/", 1)[1]) < 8:
            section.problems.add(
                f"network.adminCidrs[{i}]",
                f"{cidr} opens the dashboard and REST API (18083) to a large part of the internet",
                "list your admin networks or VPN ranges (a /8 or narrower) instead",
            )
    return {
        "vpc_cidr": vpc,
        "plugin": plugin,
        "pod_cidr": pod_cidr,
        "service_cidr": service,
        "client_cidrs": clients,
        "admin_cidrs": admins,
    }


def _cluster(section: Section, target: Target | None) -> ClusterSettings:
    # ACK creates clusters only on its three newest minor versions; 1.35 is one of them in late 2026.
    version = section.string("kubernetesVersion", "1.35.7-aliyun.1",
                             pattern=r"1\.\d{2}\.\d+(-aliyun\.\d+)?",
                             hint="an ACK version such as 1.35.7-aliyun.1 (see ACK's supported versions)")
    assert version is not None
    minor = ".".join(version.split(".")[:2])
    spec = section.string("spec", "ack.pro.small", choices=("ack.pro.small", "ack.standard"))
    public = section.boolean("apiServerPublic", False)
    if target == "existing":
        # Required: which sysctls a kubelet accepts without an allowlist depends on it, and a guess that is too new
        # gets every EMQX pod refused (SysctlForbidden).
        minor = section.string("kubernetesMinor", None, pattern=r"1\.\d{2}", required=True,
                               hint="the existing cluster's version as shown by `kubectl version`, e.g. 1.33") or minor
    return ClusterSettings(kubernetes_version=version, kubernetes_minor=minor, spec=spec or "ack.pro.small",
                           api_server_public=public)


def _pool(section: Section, name: str, target: Target | None, *, default_types: tuple[str, ...],
          count: int | None, enabled_default: bool = True) -> NodePoolSettings | None:
    if target != "alicloud":
        return None
    enabled = section.boolean("enabled", enabled_default) if name == "loadgen" else True
    types = section.strings("instanceTypes", default_types, min_items=1)
    for i, t in enumerate(types):
        if not re.fullmatch(r"ecs\.[a-z0-9-]+\.[a-z0-9]+", t):
            section.problems.add(f"nodePools.{name}.instanceTypes[{i}]", f"{t!r} is not an ECS instance type",
                                 "use a type such as ecs.c7.4xlarge")
    n = section.integer("count", count, minimum=0 if name == "loadgen" else 1, maximum=500)
    if name == "system" and n is not None and n < 2:
        section.problems.add("nodePools.system.count", f"{n} system node leaves the operator and cert-manager "
                             "with no room during node maintenance", "use at least 2")
    disk_category = section.string("diskCategory", "cloud_essd",
                                   choices=("cloud_essd", "cloud_essd_entry", "cloud_auto", "cloud_efficiency"))
    disk = section.integer("diskGiB", 120, minimum=40, maximum=2048)
    surge = section.integer("rolloutSurge", None, minimum=0, maximum=500) if name == "emqx" else 0
    return NodePoolSettings(rollout_surge=surge, name=name, enabled=enabled, instance_types=types, count=n or 0,
                            disk_category=disk_category or "cloud_essd", disk_gib=disk or 120)


def _emqx(section: Section, production: bool) -> EmqxSettings | None:
    edition = section.string("edition", "opensource", choices=("opensource", "enterprise"))
    version = section.string("version", "5.8.9", pattern=r"\d+\.\d+\.\d+",
                             hint="an EMQX release such as 5.8.9 or 5.10.3")
    repository = section.string("imageRepository", None, pattern=r"[a-z0-9./_-]+(:\d+)?[a-z0-9./_-]*",
                                hint="a registry path such as registry.example.com/emqx/emqx")
    # At most 36 characters: the operator names the core StatefulSet <name>-core-<hash of up to 10>, and its pods'
    # controller-revision-hash label <statefulset>-<hash of up to 10> must fit Kubernetes' 63.
    name = section.string("name", "emqx", pattern=r"[a-z0-9]([-a-z0-9]{0,34}[a-z0-9])?",
                          hint="a DNS label of at most 36 characters such as emqx")
    namespace = section.string("namespace", "emqx", pattern=DNS_LABEL, hint="a DNS label such as emqx")
    cores = section.integer("cores", None, minimum=1, maximum=31)
    replicants = section.integer("replicants", None, minimum=0, maximum=500)
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
    storage_class = storage.string("storageClass", None, pattern=r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
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
        release, release_problems = parse_release(edition, version, repository, key="emqx")
        section.problems.extend(release_problems)
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
    )


def _topology_problems(plan: sizing.SizingPlan, release: EmqxRelease, production: bool, has_license: bool) -> list[str]:
    """EMQX architecture and licence rules, on the final node counts."""
    out: list[str] = []
    nodes = plan.cores + plan.replicants
    if plan.replicants and not release.replicants_allowed:
        out.append(f"emqx.replicants: {release.edition} EMQX {release.version} has no replicant nodes "
                   "(core + replicant is Enterprise-only since 5.7); set replicants to 0, or use edition enterprise")
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
        out.append(f"licenseKey: not set, but a cluster of {nodes} nodes needs one: {release.license_reason}; run "
                   "`pulumi config set --secret licenseKey <key>`, or use 1 node")
    return out


def _node_shape(target: Target | None, pool: NodePoolSettings | None, existing: ExistingClusterSettings | None,
                problems: Problems) -> sizing.NodeShape | None:
    if target == "existing" and existing is not None:
        return existing.node_shape
    if pool is None or not pool.instance_types:
        return None
    shapes = []
    for i, t in enumerate(pool.instance_types):
        shape = sizing.INSTANCE_SHAPES.get(t)
        if shape is None:
            problems.add(f"nodePools.emqx.instanceTypes[{i}]", f"{t!r} is not in the sizing table, so its vCPU "
                         "and memory are unknown", "use a listed type (README: sizing) or add it to "
                         "components/sizing.py INSTANCE_SHAPES")
        else:
            shapes.append(shape)
    if not shapes:
        return None
    # Fallback instance types may be smaller: plan for the smallest so any of them can carry the load.
    return min(shapes, key=lambda s: (s.vcpu, s.memory_gib))


def _load_balancer(section: Section, keepalive: int) -> LoadBalancerSettings:
    address_type = section.string("addressType", "intranet", choices=("internet", "intranet"))
    spec = section.string("spec", "slb.s3.large", pattern=r"slb\.s[1-3]\.(small|medium|large)|slb\.s3\.xlarge",
                          hint="a CLB spec such as slb.s3.large")
    # wrr by default: CLB's API reference accepts wlc for TCP listeners but its console no longer offers it, so an
    # account may refuse it; long-lived connections are evened out by a Rebalance run after a scale-out instead.
    scheduler = section.string("scheduler", "wrr", choices=("wrr", "wlc", "rr"))
    # MQTT clients send PINGREQ every keepalive; brokers drop a client after 1.5 x keepalive of silence. The LB must
    # not drop a quiet but healthy connection first.
    minimum_idle = int(keepalive * 1.5) + 1
    idle = section.integer("idleTimeoutSeconds", 900, minimum=10, maximum=900)
    if idle is not None and idle <= keepalive * 1.5:
        section.problems.add("loadBalancer.idleTimeoutSeconds",
                             f"{idle}s is not above 1.5 x emqx.keepaliveSeconds ({keepalive}s) = {keepalive * 1.5:g}s, "
                             "so the load balancer would cut idle MQTT clients",
                             f"use at least {minimum_idle}, or lower emqx.keepaliveSeconds")
    hc = section.section("healthCheck")
    interval = hc.integer("intervalSeconds", 2, minimum=1, maximum=50)
    timeout = hc.integer("timeoutSeconds", 5, minimum=1, maximum=300)
    healthy = hc.integer("healthyThreshold", 5, minimum=2, maximum=10)
    unhealthy = hc.integer("unhealthyThreshold", 2, minimum=2, maximum=10)
    protect = section.boolean("deletionProtection", True)
    return LoadBalancerSettings(
        address_type=address_type or "intranet",  # type: ignore[arg-type]
        spec=spec or "slb.s3.large",
        scheduler=scheduler or "wrr",  # type: ignore[arg-type]
        idle_timeout_seconds=idle or 900,
        health_check=HealthCheckSettings(interval_seconds=interval or 2, timeout_seconds=timeout or 5,
                                         healthy_threshold=healthy or 5, unhealthy_threshold=unhealthy or 2),
        deletion_protection=protect,
    )


def _monitoring(section: Section) -> MonitoringSettings:
    enabled = section.boolean("prometheusOperator", False)
    labels = section.string_map("labels", kind="label")
    interval = section.string("scrapeInterval", "15s", pattern=r"\d+(s|m)", hint="a duration such as 15s")
    dashboard = section.boolean("grafanaDashboard", True)
    dashboard_namespace = section.string("dashboardNamespace", None, pattern=DNS_LABEL,
                                         hint="the namespace your Grafana's dashboard sidecar watches")
    return MonitoringSettings(prometheus_operator=enabled, labels=labels, scrape_interval=interval or "15s",
                              grafana_dashboard=dashboard, dashboard_namespace=dashboard_namespace)


def _rebalance(section: Section) -> tuple[RebalanceRun, ...]:
    runs: list[RebalanceRun] = []
    names: set[str] = set()
    for item in section.items("runs"):
        name = item.string("name", None, required=True, pattern=r"[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?",
                           hint="a short DNS label naming this run, e.g. after-scale-out-1")
        conn = item.integer("connEvictRate", None, minimum=1, maximum=100_000, required=True,
                            hint="connections evicted per second per source node, e.g. 500")
        sess = item.integer("sessEvictRate", 500, minimum=1, maximum=100_000)
        takeover = item.integer("waitTakeover", 60, minimum=0, maximum=3600)
        health = item.integer("waitHealthCheck", 60, minimum=0, maximum=3600)
        abs_conn = item.integer("absConnThreshold", 1000, minimum=1, maximum=100_000_000)
        rel_conn = item.number("relConnThreshold", 1.1, minimum=1.0, maximum=100.0,
                               hint="a ratio above 1.0, e.g. 1.1")
        abs_sess = item.integer("absSessThreshold", 1000, minimum=1, maximum=100_000_000)
        rel_sess = item.number("relSessThreshold", 1.1, minimum=1.0, maximum=100.0, hint="a ratio above 1.0")
        if name in names:
            item.problems.add(f"{item.key}.name", f"{name!r} is used by another run", "give each run its own name")
        if name is None or conn is None:
            continue
        names.add(name)
        runs.append(RebalanceRun(name=name, conn_evict_rate=conn, sess_evict_rate=sess or 500,
                                 wait_takeover=takeover if takeover is not None else 60,
                                 wait_health_check=health if health is not None else 60,
                                 abs_conn_threshold=abs_conn or 1000, rel_conn_threshold=f"{rel_conn:g}",
                                 abs_sess_threshold=abs_sess or 1000, rel_sess_threshold=f"{rel_sess:g}"))
    return tuple(runs)


def _existing(section: Section, target: Target | None) -> ExistingClusterSettings | None:
    if target != "existing":
        return None
    context = section.string("context", None)
    storage_class = section.string("storageClass", None, pattern=r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
    service_type = section.string("listenerServiceType", "NodePort", choices=("ClusterIP", "NodePort", "LoadBalancer"))
    selector = section.string_map("nodeSelector", kind="label")
    shape = section.section("nodeShape")
    vcpu = shape.integer("vcpu", 4, minimum=1, maximum=1024)
    memory = shape.number("memoryGiB", 8.0, minimum=1.0, maximum=32768.0)
    unsafe = section.boolean("unsafeSysctlsAllowed", False)
    return ExistingClusterSettings(context=context, storage_class=storage_class, unsafe_sysctls_allowed=unsafe,
                                   listener_service_type=service_type or "NodePort",  # type: ignore[arg-type]
                                   node_selector=selector,
                                   node_shape=sizing.NodeShape(vcpu=vcpu or 4, memory_gib=memory))


def _charts(section: Section) -> ChartSettings:
    cert_manager = section.string("certManagerVersion", "v1.21.1", pattern=r"v\d+\.\d+\.\d+")
    operator = section.string("emqxOperatorVersion", "2.2.29", pattern=r"\d+\.\d+\.\d+")
    install_cert_manager = section.boolean("installCertManager", True)
    install_operator = section.boolean("installOperator", True)
    registry = section.string("imageRegistry", None, pattern=r"[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)*",
                              hint="a registry host and optional path, e.g. registry.cn-hangzhou.aliyuncs.com/mirror")
    return ChartSettings(cert_manager_version=cert_manager or "v1.21.1", emqx_operator_version=operator or "2.2.29",
                         install_cert_manager=install_cert_manager, install_operator=install_operator,
                         image_registry=registry)
