"""The one place that reads stack config: parse, validate (every problem at once), and derive the plan.

`load()` is what `__main__.py` calls. `parse()` is the pure core: raw config values in, frozen `Settings` out, or
`ConfigError` listing every problem with its config key, what is wrong and how to fix it. Nothing else in the
program reads `pulumi.Config`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pulumi

from components import load_balancer_tier, loadtest, regions, sizing, tuning
from components.config_reader import (
    Problems,
    Section,
    cidr_problem,
    dns_name_problem,
    key_text,
    shown,
    suggest,
    type_name,
)
from components.emqx_versions import EmqxRelease, parse_release
from components.network_plan import NetworkPlan, plan_network
from components.render import auth as auth_render
from components.render.emqx import LISTENERS, max_ports

PROJECT = "emqx-platform"

# Top-level keys of the project's namespace. Secrets are separate top-level keys so that
# `pulumi config set --secret <key>` encrypts exactly them and nothing else.
# mqttUsers: the built-in database's bootstrap users, `user:password` lines (components/render/auth.py).
SECRET_KEYS = ("licenseKey", "kubeconfig", "mqttUsers")
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
    "loadTest",
    "existing",
    "charts",
    "tags",
)

Target = Literal["alicloud", "aws", "existing"]
TARGETS: tuple[str, ...] = ("alicloud", "aws", "existing")
DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
# A StorageClass name is a DNS subdomain: at most 253 characters (Kubernetes' object name rule).
STORAGE_CLASS = r"(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?"


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
class AclRule:
    permission: Literal["allow", "deny"]
    action: Literal["publish", "subscribe", "all"]
    topics: tuple[str, ...]
    # At most one of these; none: the rule is about every client.
    username: str | None = None
    clientid: str | None = None
    ipaddr: str | None = None


@dataclass(frozen=True)
class JwtSettings:
    jwks_endpoint: str | None  # one of the two
    public_key: str | None
    token_from: Literal["password", "username"] = "password"


@dataclass(frozen=True)
class HttpAuthSettings:
    url: str


@dataclass(frozen=True)
class X509Settings:
    ca_secret_name: str | None  # None: the stack's own CA (the listener Secret's ca.crt)
    username_from: Literal["cn", "dn", "disabled"] = "cn"


@dataclass(frozen=True)
class AuthSettings:
    """emqx.auth: who may connect (the authentication chain, in order) and what they may do (authorization)."""

    allow_anonymous: bool = False
    built_in_database: bool = True
    user_id_type: Literal["username", "clientid"] = "username"
    superusers: tuple[str, ...] = ()
    jwt: JwtSettings | None = None
    http: HttpAuthSettings | None = None
    x509: X509Settings | None = None
    no_match: Literal["allow", "deny"] = "deny"
    deny_action: Literal["ignore", "disconnect"] = "ignore"
    acl_rules: tuple[AclRule, ...] = ()

    @property
    def certificates_only(self) -> bool:
        """Client certificates are the only credential: the plain-text listeners (no certificate asked) are off."""
        return (self.x509 is not None and not self.allow_anonymous
                and not (self.built_in_database or self.jwt or self.http))


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
    auth: AuthSettings = AuthSettings()


@dataclass(frozen=True)
class HealthCheckSettings:
    interval_seconds: int
    timeout_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int


@dataclass(frozen=True)
class LoadBalancerSettings:
    # clb: one pay-by-LCU CLB; nlb: an NLB across the stack's zones (components/load_balancer_tier.py).
    type: load_balancer_tier.LoadBalancerType
    address_type: Literal["internet", "intranet"]
    scheduler: Literal["wrr", "wlc", "rr"]
    idle_timeout_seconds: int
    health_check: HealthCheckSettings
    deletion_protection: bool
    # Whether the plain-text listeners (1883, 8083) are served; an internet load balancer serves TLS only by default.
    allow_plain_text: bool = True

    @property
    def served_ports(self) -> tuple[int, ...]:
        return tuple(p for kind, _, p in LISTENERS if self.allow_plain_text or kind in ("ssl", "wss"))


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
class LoadTestRun:
    """loadTest.runs[]: one emqtt-bench run and the verdict on it (components/loadtest.py, workloads/loadtest.py)."""

    name: str
    connections: int  # clients held, publishers and subscribers included
    connect_rate: int
    publishers: int
    subscribers: int
    topic: str
    message_rate: int  # messages/s all publishers send together
    payload_bytes: int
    qos: int
    duration_seconds: int  # the measured window, after every client has connected
    target: Literal["loadBalancer", "inCluster"]
    username: str | None  # a user of mqttUsers, when the built-in database authenticates
    rate_tolerance: float
    max_dropped_ratio: float
    # Where the run is in the config (loadTest.runs[i]), for problems found once the tuning profile is known. Not
    # part of the run's content: moving a run in the list is not a new run (workloads/loadtest.py leaves it out).
    key: str = field(default="", compare=False)

    def plan(self, per_source_limit: int) -> loadtest.RunPlan:
        return loadtest.plan_run(connections=self.connections, publishers=self.publishers,
                                 subscribers=self.subscribers, connect_rate=self.connect_rate,
                                 message_rate=self.message_rate, per_source_limit=per_source_limit)


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
    mqtt_users: pulumi.Output[str] | None = None  # `user:password` lines, for the built-in database's bootstrap
    load_test: tuple[LoadTestRun, ...] = ()

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
    """The stack's config values (JSON-decoded where structured) and which of the project's keys are secret.

    The project's keys come without their namespace (`emqx`); every other key keeps its namespace
    (`alicloud:region`), so that `parse` can refuse a misspelt namespace instead of never seeing it.
    """
    merged: dict[str, Any] = {}
    merged.update(pulumi.runtime.config.get_config_env())
    merged.update(pulumi.runtime.config.CONFIG.get())
    secret_full = set(pulumi.runtime.config.get_config_secret_keys_env())
    secret_full |= set(pulumi.runtime.config._SECRET_KEYS.get())  # pyright: ignore[reportPrivateUsage]
    prefix = f"{PROJECT}:"
    values: dict[str, Any] = {}
    for full_key, text in merged.items():
        if full_key.startswith(prefix):
            values[full_key[len(prefix) :]] = _decode(text)
        else:
            # Other namespaces are only checked, never read: no need to decode them.
            values[full_key] = text
    secrets = {k[len(prefix) :] for k in secret_full if k.startswith(prefix)}
    return values, secrets


def _decode(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    stripped = text.strip()
    if (stripped[:1] in "{[" or stripped in ("true", "false", "null")
            or re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", stripped)):
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError):
            # Not JSON after all, an integer past Python's digit limit, or nesting deeper than the decoder's
            # stack: left as text, which the settings then refuse with a short message.
            return text
    return text


def load() -> Settings:
    """Settings for the running stack; raises ConfigError before anything is registered."""
    # The stack name first: every cloud name derives from it, and nothing should be read for a stack that
    # cannot be deployed.
    stack = pulumi.get_stack()
    refused = stack_name_problem(stack)
    if refused:
        raise ConfigError([f"stack name: {refused[0]}; {refused[1]}"])
    values, secret_keys = raw_config()
    return parse(values, stack=stack, secret_keys=secret_keys)


# The program names its resources emqx-<stack>-<what>; the strictest cloud names derived from that are:
# - the ACK cluster, emqx-<stack>-ack: 1-63 letters, digits and hyphens, not starting with a hyphen (ACK's
#   CreateCluster `name`, https://www.alibabacloud.com/help/doc-detail/90776.htm; the provider's cs.ManagedKubernetes
#   docstring states no limit);
# - the node pools, emqx-<stack>-emqx-<zone> and emqx-<stack>-loadgen: taken to follow the cluster's 63-character
#   rule (the provider's `node_pool_name` documents no limit of its own);
# - the CLB and its server groups, emqx-<stack>-clb / -dashboard: at most 80 (pulumi_alicloud slb LoadBalancer
#   `load_balancer_name`); VPC, vSwitch, NAT, EIP, security group: 2-128 and must start with a letter
#   (pulumi_alicloud vpc.Network, vpc.Switch, vpc.NatGateway, ecs.EipAddress, ecs.SecurityGroup docstrings).
# Letters, digits and hyphens are the characters all of them accept (ACK refuses `.` and `_`). 24 characters leave
# the node pool names room for zone ids of up to 28 characters (the longest in components/regions.py is 16);
# `_cloud` refuses a zone (from cloud.extraZones) that would not fit beside a stack name of the maximum length.
STACK_NAME_MAX = 24
CLB_MAX_TAGS = 10
STACK_NAME = r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?"
NAME_LIMIT = 63  # ACK cluster and node pool names
# Namespaces whose keys belong to someone else and may sit in a stack file: Pulumi's own, and the providers the
# program uses (random generates the dashboard password); aws for the EKS target once it exists.
OTHER_NAMESPACES = ("alicloud", "aws", "kubernetes", "pulumi", "random")
# Bounds on one config value, checked before anything walks it: far above anything a real stack sets.
MAX_DEPTH = 12
MAX_NODES = 5_000
MAX_TEXT = 16 * 1024
MAX_SECRET_TEXT = 256 * 1024  # a kubeconfig with inline certificates is a few KiB to a few tens of KiB
MAX_KEYS = 200  # top-level keys of all namespaces in one stack


def stack_name_problem(stack: object) -> tuple[str, str] | None:
    """(what is wrong, how to fix) when the stack name cannot make valid cloud names, or None."""
    fix = (f"use a stack name of 1-{STACK_NAME_MAX} letters, digits and hyphens (not at the ends), "
           "e.g. `pulumi stack init prod`")
    if not isinstance(stack, str) or not stack:
        return ("is empty", fix)
    if len(stack) > STACK_NAME_MAX:
        return (f"{shown(stack)} is {len(stack)} characters; the ACK cluster and node pool names derived from it "
                f"(emqx-<stack>-...) must fit {NAME_LIMIT}", fix)
    if not re.fullmatch(STACK_NAME, stack, re.ASCII):
        return (f"{shown(stack)} has characters Alibaba Cloud names do not accept", fix)
    return None


def _bounds_problem(value: object, *, secret: bool) -> str | None:
    """Why one config value is too large to read (too deep, too many items, too long a text), or None.

    Walks without recursion, so a value nested thousands deep is measured, not followed.
    """
    nodes = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return f"has more than {MAX_NODES:,} values"
        if depth > MAX_DEPTH:
            return f"is nested more than {MAX_DEPTH} levels deep"
        if isinstance(item, str):
            limit = MAX_SECRET_TEXT if secret else MAX_TEXT
            if len(item) > limit:
                return f"holds a text of {len(item):,} characters (at most {limit:,})"
        elif isinstance(item, Mapping):
            for k, v in item.items():  # pyright: ignore[reportUnknownVariableType]
                stack.append((k, depth + 1))  # pyright: ignore[reportUnknownArgumentType]
                stack.append((v, depth + 1))  # pyright: ignore[reportUnknownArgumentType]
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)  # pyright: ignore[reportUnknownVariableType]
    return None


def _namespace_problems(values: Mapping[str, Any], problems: Problems) -> None:
    """Keys of another namespace: a provider's are left to it, anything else is refused with a suggestion."""
    for key in values:
        namespace, _, name = str(key).partition(":")
        if namespace in OTHER_NAMESPACES:
            continue
        known = (PROJECT, *OTHER_NAMESPACES)
        close = suggest(namespace, known)
        fix = (f"did you mean {close}:{key_text(name)}?" if close
               else f"use the project's namespace ({PROJECT}:) or a provider's ({', '.join(OTHER_NAMESPACES)})")
        problems.add(key_text(key), "is in an unknown namespace", fix)


def _project_key_problems(values: Mapping[str, Any], secret_keys: set[str] | frozenset[str],
                          problems: Problems) -> set[str]:
    """Unknown, oversized and wrongly secret project keys; returns the keys not to read any further."""
    skip: set[str] = set()
    for key in values:
        if key not in SECTION_KEYS and key not in SECRET_KEYS:
            close = suggest(key, SECTION_KEYS + SECRET_KEYS)
            fix = (f"did you mean {PROJECT}:{close}?" if close
                   else "remove it; see the README's configuration reference")
            problems.add(f"{PROJECT}:{key_text(key)}", "is not a known setting", fix)
            continue
        too_big = _bounds_problem(values[key], secret=key in SECRET_KEYS)
        if too_big:
            problems.add(key, too_big, "shorten it; see the README's configuration reference")
            skip.add(key)
        elif key in SECRET_KEYS and not isinstance(values[key], str):
            problems.add(key, f"must be text, got {type_name(values[key])}",
                         f"set it with `pulumi config set --secret {key} <value>`")
        elif key in secret_keys and key not in SECRET_KEYS:
            # The program reads these keys as plain values: a `secure:` value inside would reach resource inputs,
            # logs and the preview's files without its secret marker. Only the licence and kubeconfig are secrets.
            how = (f"`pulumi config set --path {key}.<field> <value>`" if isinstance(values[key], Mapping | list)
                   else f"`pulumi config set {key} <value>`")
            problems.add(key, f"holds a secret (`secure:`) value, but {key} is not a secret setting and would "
                         f"be handled as plain text", f"set the value without --secret ({how}); only "
                         f"{', '.join(SECRET_KEYS)} are secrets")
            # Nothing else reads it: a later message must not echo the value (under the CLI, the plain text).
            skip.add(key)
    return skip


# ---------------------------------------------------------------------------------------------------------------
# Parsing and validation (pure apart from wrapping secret values in Outputs)


def parse(values: Mapping[str, Any], *, stack: str, secret_keys: set[str] | frozenset[str] = frozenset()) -> Settings:
    refused = stack_name_problem(stack)
    if refused:
        raise ConfigError([f"stack name: {refused[0]}; {refused[1]}"])
    if len(values) > MAX_KEYS:
        # Hundreds of keys are not a stack config (it has ~20): listing each would bury the message, and walking them
        # all would take seconds.
        raise ConfigError([f"config: {len(values):,} keys; the project reads {len(SECTION_KEYS) + len(SECRET_KEYS)}"
                           " and providers a few more; remove what is not config"])
    problems = Problems()
    provider_config = {k: v for k, v in values.items() if ":" in str(k)}
    _namespace_problems(provider_config, problems)
    values = {k: v for k, v in values.items() if ":" not in str(k)}
    skipped = _project_key_problems(values, secret_keys, problems)
    reported_about_skipped = len(problems.items)
    values = {k: v for k, v in values.items() if k not in skipped}
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
    elif target == "alicloud" and len(tags) > CLB_MAX_TAGS - 3:
        # The CLB takes at most 10 tags (pulumi_alicloud slb.ApplicationLoadBalancer `tags`), and carries stack,
        # project and component: more would fail on `pulumi up`, after the network and cluster exist.
        problems.add("tags", f"{len(tags)} tags; the stack's CLB accepts at most {CLB_MAX_TAGS} and the program "
                     "sets 3 on it", f"use at most {CLB_MAX_TAGS - 3}")

    cluster = _cluster(root.section("cluster"), target, production)
    emqx = _emqx(root.section("emqx"), production)
    existing = _existing(root.section("existing"), target)
    cloud = _cloud(root.section("cloud"), target, production)
    ambient_region = provider_config.get("alicloud:region")
    if cloud is not None and cloud.region and ambient_region is not None and ambient_region != cloud.region:
        # The program builds its own provider in cloud.region (alicloud/platform.py); the default provider this key
        # configures creates nothing, so a different value only says the stack is not where the reader thinks.
        problems.add("alicloud:region", f"{shown(str(ambient_region))} differs from cloud.region "
                     f"({cloud.region}), which is where every resource goes", "remove alicloud:region, or set "
                     "cloud.region to the region you mean")
    load_test = _load_test(root.section("loadTest"), emqx, existing, values.get("mqttUsers"))
    pools = root.section("nodePools")
    system_pool = _pool(pools.section("system"), "system", target, default_types=("ecs.g7.xlarge",), count=2)
    emqx_pool = _pool(pools.section("emqx"), "emqx", target, default_types=("ecs.c7.xlarge",), count=None)
    loadgen_pool = _pool(pools.section("loadgen"), "loadgen", target, default_types=("ecs.c7.2xlarge",), count=0,
                         enabled_default=bool(load_test))
    load_balancer = _load_balancer(root.section("loadBalancer"), emqx, cloud, production)
    if emqx is not None and emqx.auth.certificates_only:
        # EMQX's plain-text listeners are off then (render/auth.py): the load balancer must not offer them either.
        load_balancer = replace(load_balancer, allow_plain_text=False)
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
                root.ignore(name)
    elif target is not None and "existing" in values:
        problems.add("existing", f"only applies when target is 'existing' (target is {target!r})", "remove it")
        root.ignore("existing")
    elif target is None:
        # Which of these sections apply depends on the target: with none (or an unknown one) their keys cannot be
        # checked, and listing each as unknown would bury the one problem that matters, the target itself.
        for name in ("cloud", "network", "nodePools", "loadBalancer", "existing"):
            root.ignore(name)
    _mqtt_users_problems(values, emqx, problems)
    if emqx is not None and emqx.release.open_source and "licenseKey" in values:
        problems.add("licenseKey", f"open-source EMQX {emqx.release.version} takes no licence, and it would "
                     "still be handed to the pods", "remove it, or set emqx.edition to enterprise")
    if target == "alicloud" and emqx is not None and emqx.core_storage_gib < 20:
        problems.add("emqx.coreStorage.sizeGiB", f"{emqx.core_storage_gib} GiB is below the 20 GiB minimum of "
                     "an Alibaba Cloud ESSD disk, so the volume would never be provisioned", "use at least 20")
    if target is not None and target != "existing" and "kubeconfig" in values:
        problems.add("kubeconfig", "only applies when target is 'existing'", "remove it: the stack makes its own")
    if target is not None and target != "existing":
        for toggle, installed in (("installCertManager", charts.install_cert_manager),
                                  ("installOperator", charts.install_operator)):
            if not installed:
                problems.add(f"charts.{toggle}", f"false only makes sense on an existing cluster; the {target} "
                             "cluster this stack creates has nothing installed", "remove it")
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
    fleet_notes: list[str] = []
    if emqx is not None and target is not None and not problems.about(*sizing_inputs):
        if target == "alicloud" and emqx_pool is not None and cloud is not None:
            emqx_pool, fleet_notes = _planned_emqx_pool(values, emqx, emqx_pool, cloud, load_balancer, production)
        shape = _node_shape(target, emqx_pool, existing, problems)
        # How this stack gets larger nodes, named by its setting, for the fixes the sizing suggests.
        larger_shape = ("larger nodes (existing.nodeShape, with nodes to match)" if target == "existing"
                        else "a larger instance type in nodePools.emqx.instanceTypes")
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
                larger_shape=larger_shape,
            )
            problems.extend(sizing_problems)
        if rebalance and not emqx.release.rebalance_allowed:
            problems.add("rebalance.runs", f"rebalancing is Enterprise-only; {emqx.release.edition} EMQX "
                         f"{emqx.release.version} has no rebalance API", "remove the runs, or use edition enterprise")
        if (plan is not None and shape is not None and emqx.requested_cores is None and plan.replicants == 0
                and plan.cores > sizing.MAX_ALL_CORE_NODES):
            # The sizing derived more all-core nodes than EMQX 5 runs: one message naming what the user can change,
            # instead of topology rules that blame emqx.cores, which the stack does not set.
            problems.items.append(sizing.derived_all_core_problem(
                plan.cores, shape, key="emqx", larger_shape=larger_shape,
                replicants_allowed=emqx.release.replicants_allowed))
            plan = None
        if plan is not None:
            problems.extend(_topology_problems(plan, emqx.release, production, "licenseKey" in values))
            if fleet_notes:
                plan = replace(plan, notes=plan.notes + tuple(fleet_notes))
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
        loadgen_pool = _load_test_pool(load_test, profile, loadgen_pool, problems, existing)
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

    _load_balancer_capacity(load_balancer, emqx, plan, cloud if target == "alicloud" else None, problems)
    _client_reach_problems(load_balancer, network_raw, problems)
    if skipped:
        # A key refused whole (too large, or a secret where none belongs) was not read: what its absence then
        # caused ("cloud.region is required") would only bury the one message that matters.
        problems.items[reported_about_skipped:] = [
            p for p in problems.items[reported_about_skipped:]
            if not any(p.startswith((k + ":", k + ".", k + "[")) for k in skipped)]
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
        load_test=load_test,
        existing=existing,
        charts=charts,
        license_key=_secret(values, "licenseKey"),
        kubeconfig=_secret(values, "kubeconfig"),
        mqtt_users=_secret(values, "mqttUsers"),
    )


def _secret(values: Mapping[str, Any], key: str) -> pulumi.Output[str] | None:
    value = values.get(key)
    if value is None:
        return None
    # `pulumi config set --secret licenseKey "$(cat file)"` keeps a trailing newline that is not part of the key.
    return pulumi.Output.secret(value.strip() if isinstance(value, str) else json.dumps(value))


def _planned_emqx_pool(values: Mapping[str, Any], emqx: EmqxSettings, pool: NodePoolSettings, cloud: CloudSettings,
                       load_balancer: LoadBalancerSettings, production: bool) -> tuple[NodePoolSettings, list[str]]:
    """The EMQX pool's instance type: the planner's cheapest fleet (components/sizing.py fleet_candidates) unless
    nodePools.emqx.instanceTypes pins one; a pinned fleet that costs more than the planner's is noted."""
    pools = values.get("nodePools")
    emqx_raw = pools.get("emqx") if isinstance(pools, Mapping) else None
    pinned_type = isinstance(emqx_raw, Mapping) and "instanceTypes" in emqx_raw
    options = sizing.FleetOptions(headroom=emqx.headroom, production=production, zones=len(cloud.zones),
                                  replicants_allowed=emqx.release.replicants_allowed,
                                  cores=emqx.requested_cores, replicants=emqx.requested_replicants,
                                  load_balancer=load_balancer.type)
    chosen = sizing.choose_fleet(emqx.capacity, options)
    if not pinned_type:
        if chosen is None:
            # Nothing in the catalogue carries it: the default type's plan reports why, with the counts it needs.
            return pool, []
        return replace(pool, instance_types=(chosen.instance_type,)), [
            f"planner chose {chosen.nodes} x {chosen.instance_type} ({chosen.plan.planned_vcpu} vCPU / "
            f"{chosen.plan.planned_memory_gib:g} GiB), the cheapest fleet of the catalogue that carries the target "
            "(pin one with nodePools.emqx.instanceTypes)"]
    best = sizing.choose_fleet(emqx.capacity, replace(options, cores=None, replicants=None))
    smallest = min(pool.instance_types, key=lambda t: (sizing.INSTANCE_SHAPES[t].vcpu, t)
                   if t in sizing.INSTANCE_SHAPES else (0, t))
    pinned = sizing.fleet_candidates(emqx.capacity, options, {
        t: c for t, c in sizing.alicloud_catalogue.INSTANCE_TYPES.items() if t == smallest})[0]
    note = sizing.pinned_cost_note(pinned[0], best) if pinned and best else None
    return pool, [note] if note else []


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
    region = section.string("region", None, required=True, hint="an Alibaba Cloud region id such as cn-hangzhou")
    zones = section.strings("zones", min_items=3 if production else 2,
                            hint="list the zone ids to spread nodes over, e.g. [cn-hangzhou-h, cn-hangzhou-i]")
    # Zones the table in components/regions.py does not know yet (a new zone, or a region whose zone ids the
    # table lacks): listed here on purpose, so a typo in cloud.zones is still caught.
    extra = section.strings("extraZones", ())
    problems = section.problems
    if region is not None and (bad := regions.region_syntax_problem(region)):
        problems.add("cloud.region", f"{shown(region)} {bad}", "use a region id such as cn-hangzhou")
        region = None
    for key, listed in (("cloud.zones", zones), ("cloud.extraZones", extra)):
        for i, zone in enumerate(listed):
            bad = regions.zone_syntax_problem(zone, region) if region else None
            if region and bad:
                example = (regions.ZONES.get(region) or (region + "-a",))[0]
                problems.add(f"{key}[{i}]", f"{shown(zone)} {bad}", f"use zone ids of {region} such as {example}")
    if region is not None and not problems.about("cloud.zones", "cloud.extraZones"):
        if not regions.is_listed(region) and not (zones and set(zones) <= set(extra)):
            close = suggest(region, sorted(regions.ZONES))
            problems.add("cloud.region", f"{region!r} is not in the region table (components/regions.py)",
                         (f"did you mean {close}? " if close else "")
                         + "for a region the table lacks, list its zones in cloud.extraZones as well")
        elif regions.is_listed(region):
            for i, zone in enumerate(zones):
                if not regions.is_listed(region, zone) and zone not in extra:
                    problems.add(f"cloud.zones[{i}]", f"{zone!r} is not a known zone of {region}",
                                 f"known: {', '.join(regions.ZONES[region])}; if Alibaba Cloud opened it after the "
                                 "table was written, add it to cloud.extraZones too")
        for i, zone in enumerate(extra):
            if zone not in zones:
                problems.add(f"cloud.extraZones[{i}]", f"{zone!r} is not in cloud.zones", "remove it")
    # Node pools are named emqx-<stack>-emqx-<zone>, and ACK names stop at 63 characters (see STACK_NAME_MAX).
    for i, zone in enumerate(zones):
        longest = len(f"emqx-{'x' * STACK_NAME_MAX}-emqx-{zone}")
        if longest > NAME_LIMIT and not problems.about(f"cloud.zones[{i}]"):
            problems.add(f"cloud.zones[{i}]", f"{shown(zone)} would make node pool names of up to {longest} "
                         f"characters, over ACK's {NAME_LIMIT}", "use a shorter zone id")
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


def _cluster(section: Section, target: Target | None, production: bool) -> ClusterSettings:
    version = section.string("kubernetesVersion", "1.35.7-aliyun.1",
                             pattern=r"1\.[0-9]{2}\.[0-9]+(-aliyun\.[0-9]+)?",
                             hint="an ACK version such as 1.35.7-aliyun.1 (see ACK's supported versions)")
    assert version is not None
    minor = ".".join(version.split(".")[:2])
    # For a minor ACK released after the table above was written: the cloud's API is then the judge.
    unlisted_ok = section.boolean("allowUnlistedVersion", False)
    if target == "alicloud" and minor not in ACK_MINORS and not unlisted_ok:
        section.problems.add("cluster.kubernetesVersion", f"{shown(version)} is not on a minor ACK creates clusters "
                             f"on ({', '.join(ACK_MINORS)}, as of 2026-11)",
                             "use e.g. 1.35.7-aliyun.1; for a minor ACK released since, also set "
                             "cluster.allowUnlistedVersion: true")
    spec = section.string("spec", "ack.pro.small", choices=("ack.pro.small", "ack.standard"))
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
    # production endpoint on the internet is accepted only once the config says the list is bound.
    bound = api.boolean("accessListBound", False)
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
    if bound and not allowed:
        section.problems.add("cluster.apiServer.accessListBound", "is true but there is no access list",
                             "set cluster.apiServer.allowedCidrs, or remove accessListBound")
    image = section.string("nodeImage", DEFAULT_NODE_IMAGE, choices=tuple(NODE_IMAGES)) or DEFAULT_NODE_IMAGE
    newest = NODE_IMAGES[image].newest_minor
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
    return ClusterSettings(kubernetes_version=version, kubernetes_minor=minor, spec=spec or "ack.pro.small",
                           api_server=ApiServerSettings(public=public, allowed_cidrs=allowed, access_list_bound=bound),
                           node_image=image, deletion_protection=protected)


def _pool(section: Section, name: str, target: Target | None, *, default_types: tuple[str, ...],
          count: int | None, enabled_default: bool = True) -> NodePoolSettings | None:
    if target != "alicloud":
        return None
    enabled = section.boolean("enabled", enabled_default) if name == "loadgen" else True
    types = section.strings("instanceTypes", default_types, min_items=1)
    for i, t in enumerate(types):
        if not re.fullmatch(r"ecs\.[a-z0-9-]+\.[a-z0-9]+", t):
            section.problems.add(f"nodePools.{name}.instanceTypes[{i}]", f"{shown(t)} is not an ECS instance type",
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
    auth = _auth(section.section("auth"), production, release=release, own_ca=issuer_kind is None)
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


URL = r"https?://[!-~]{1,2000}"


def _auth(section: Section, production: bool, *, release: EmqxRelease | None, own_ca: bool) -> AuthSettings:
    """emqx.auth: components/render/auth.py renders it, and cites EMQX's schema for every key."""
    problems = section.problems
    legacy = release is not None and release.legacy
    anonymous = section.boolean("allowAnonymous", False)
    if production and anonymous:
        problems.add("emqx.auth.allowAnonymous", "a production broker would admit any client without credentials",
                     "remove it and give clients credentials: mqttUsers, emqx.auth.jwt, emqx.auth.http or "
                     "emqx.auth.x509 (README, MQTT authentication)")
    db = section.section("builtInDatabase")
    db_enabled = db.boolean("enabled", not anonymous and not legacy)
    id_type = db.string("userIdType", "username", choices=("username", "clientid")) or "username"
    superusers = db.strings("superusers", ())
    for i, name in enumerate(superusers):
        if not re.fullmatch(auth_render.USER_NAME, name, re.ASCII):
            problems.add(f"emqx.auth.builtInDatabase.superusers[{i}]", f"{shown(name)} is not a user name",
                         "use 1-128 printable ASCII characters without spaces or ':'")
    jwt: JwtSettings | None = None
    jwt_section = section.section("jwt")
    if jwt_section.present:
        endpoint = jwt_section.string("jwksEndpoint", None, pattern=URL, hint="an http(s):// URL of the JWKS")
        key = jwt_section.string("publicKey", None)
        token_from = jwt_section.string("from", "password", choices=("password", "username")) or "password"
        if (endpoint is None) == (key is None):
            problems.add("emqx.auth.jwt", "needs exactly one of jwksEndpoint and publicKey",
                         "set jwksEndpoint to your identity provider's JWKS URL, or publicKey to a PEM public key")
        if key is not None and "-----BEGIN PUBLIC KEY-----" not in key:
            problems.add("emqx.auth.jwt.publicKey", "is not a PEM public key",
                         "paste the key with its -----BEGIN PUBLIC KEY----- line")
        if production and endpoint is not None and endpoint.startswith("http://"):
            problems.add("emqx.auth.jwt.jwksEndpoint", "fetches the signing keys unencrypted, so anyone on the path "
                         "could read or swap them", "use an https:// URL")
        jwt = JwtSettings(jwks_endpoint=endpoint, public_key=key, token_from=token_from)  # type: ignore[arg-type]
    http: HttpAuthSettings | None = None
    http_section = section.section("http")
    if http_section.present:
        url = http_section.string("url", None, required=True, pattern=URL,
                                  hint="the http(s):// URL EMQX posts username, password and clientid to")
        if production and url is not None and url.startswith("http://"):
            problems.add("emqx.auth.http.url", "sends every client's password over plain http", "use an https:// URL")
        http = HttpAuthSettings(url=url) if url else None
    x509: X509Settings | None = None
    x509_section = section.section("x509")
    if x509_section.present:
        ca_secret = x509_section.string("caSecretName", None, pattern=STORAGE_CLASS,
                                        hint="the Secret in the EMQX namespace whose ca.crt signs client certificates")
        username_from = x509_section.string("usernameFrom", "cn", choices=("cn", "dn", "disabled")) or "cn"
        if not own_ca and ca_secret is None:
            problems.add("emqx.auth.x509.caSecretName", "is not set, and with emqx.tls.issuerKind the listener "
                         "Secret has no ca.crt to verify client certificates with", "name the Secret of the CA "
                         "that signs your clients' certificates, e.g. the Secret of a cert-manager CA Certificate")
        x509 = X509Settings(ca_secret_name=ca_secret, username_from=username_from)  # type: ignore[arg-type]
    if anonymous and (db_enabled or jwt or http):
        problems.add("emqx.auth.allowAnonymous", "EMQX 5 admits clients without credentials only when no "
                     "authenticator is configured", "remove allowAnonymous, or the authenticators "
                     "(builtInDatabase.enabled: false, jwt, http)")
    elif (not anonymous and not legacy and not (db_enabled or jwt or http or x509)
          and not problems.about("emqx.auth")):
        # An empty chain is how EMQX 5 admits everyone: turning every mechanism off is anonymous access by another
        # name, so it needs the same explicit setting (and is refused in production like it).
        problems.add("emqx.auth", "turns every authentication mechanism off, which lets any client in without "
                     "credentials", "configure one (builtInDatabase, jwt, http or x509)"
                     + ("" if production else ", or say so with emqx.auth.allowAnonymous: true"))
    authz = section.section("authorization")
    no_match = authz.string("noMatch", "deny", choices=("deny", "allow")) or "deny"
    deny_action = authz.string("denyAction", "ignore", choices=("ignore", "disconnect")) or "ignore"
    rules: list[AclRule] = []
    for item in authz.items("rules"):
        permission = item.string("permission", None, required=True, choices=("allow", "deny"))
        action = item.string("action", "all", choices=("publish", "subscribe", "all")) or "all"
        topics = item.strings("topics", (), min_items=1, hint="list topic filters, e.g. ['devices/${username}/#']")
        for i, topic in enumerate(topics):
            levels = topic.split("/")
            if not topic or len(topic) > 1024 or not topic.isprintable() or "#" in levels[:-1] or any(
                    ("#" in lv or "+" in lv) and len(lv) > 1 for lv in levels):
                problems.add(f"{item.key}.topics[{i}]", f"{shown(topic)} is not an MQTT topic filter",
                             "use levels separated by '/', '+' for one level and '#' only as the last")
        who = {k: item.string(k, None) for k in ("username", "clientid", "ipaddr")}
        chosen = [k for k, v in who.items() if v is not None]
        if len(chosen) > 1:
            problems.add(item.key, f"names {' and '.join(chosen)}; a rule is about one of them",
                         "split it into one rule each")
        if who["ipaddr"] is not None and (bad := cidr_problem(who["ipaddr"])):
            problems.add(f"{item.key}.ipaddr", bad[0], bad[1])
        if permission is not None:
            rules.append(AclRule(permission=permission, action=action, topics=topics,  # type: ignore[arg-type]
                                 username=who["username"], clientid=who["clientid"], ipaddr=who["ipaddr"]))
    if legacy:
        # 4.4 authenticates through plugins (emqx_auth_mnesia, _jwt, _http) configured outside emqxConfig, and
        # reads its ACL from a file the v1beta4 template does not mount: only the switches are rendered.
        for key, used in (("builtInDatabase", db.present), ("jwt", jwt is not None), ("http", http is not None),
                          ("x509", x509 is not None), ("authorization.rules", bool(rules))):
            if used:
                problems.add(f"emqx.auth.{key}", f"is not supported for EMQX {release.version if release else '4.4'} "
                             "(4.4 authenticates through plugins this program does not configure)",
                             "remove it and configure the 4.4 auth plugins in its dashboard, or use EMQX 5")
        db_enabled = False
    return AuthSettings(allow_anonymous=anonymous, built_in_database=db_enabled,
                        user_id_type=id_type, superusers=superusers,  # type: ignore[arg-type]
                        jwt=jwt, http=http, x509=x509, no_match=no_match,  # type: ignore[arg-type]
                        deny_action=deny_action, acl_rules=tuple(rules))  # type: ignore[arg-type]


def _mqtt_users_problems(values: Mapping[str, Any], emqx: EmqxSettings | None, problems: Problems) -> None:
    """mqttUsers against the auth settings; the value is secret, so no message quotes it."""
    text = values.get("mqttUsers")
    if emqx is None or not isinstance(text, str):
        return
    auth = emqx.auth
    if not auth.built_in_database:
        why = ("EMQX 4.4 has no built-in database here" if emqx.release.legacy
               else "emqx.auth.builtInDatabase is off")
        problems.add("mqttUsers", f"is set, but {why}, so nobody would read it",
                     "remove it" if emqx.release.legacy else "remove it, or turn the built-in database on")
        return
    for what in auth_render.user_problems(text):
        problems.add("mqttUsers", what, "set it again with `pulumi config set --secret mqttUsers "
                     "\"$(cat users.txt)\"`, one `user:password` line per user")
    names = {user for user, _ in auth_render.parse_users(text)}
    for i, name in enumerate(auth.superusers):
        if name not in names:
            problems.add(f"emqx.auth.builtInDatabase.superusers[{i}]", "is not a user in mqttUsers",
                         "add the user to mqttUsers, or remove it here")


def _topology_problems(plan: sizing.SizingPlan, release: EmqxRelease, production: bool, has_license: bool) -> list[str]:
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
            problems.add(f"nodePools.emqx.instanceTypes[{i}]", f"{shown(t)} is not in the sizing table, so its vCPU "
                         "and memory are unknown", "use a listed type (README: sizing) or add it to "
                         "components/sizing.py INSTANCE_SHAPES")
        else:
            shapes.append(shape)
    if not shapes:
        return None
    # Fallback instance types may be smaller: plan for the smallest so any of them can carry the load.
    return min(shapes, key=lambda s: (s.vcpu, s.memory_gib))


def _load_balancer(section: Section, emqx: EmqxSettings | None, cloud: CloudSettings | None,
                   production: bool) -> LoadBalancerSettings:
    keepalive = emqx.keepalive_seconds if emqx else 60
    zones = len(cloud.zones) if cloud else 2
    if section.has("spec"):
        section.accept("spec")
        # The provider ignores load_balancer_spec for PayByCLCU, and ModifyLoadBalancerInstanceSpec refuses
        # pay-by-LCU instances: a spec here could only mislead (load_balancer_tier.SOURCES clb-create, clb-faq).
        section.problems.add("loadBalancer.spec", "pay-by-specification CLBs are no longer sold (since 2025-06-01); "
                             "the stack's pay-by-LCU CLB scales by itself and takes no spec",
                             "remove it; for more than one CLB carries, set loadBalancer.type: nlb")
    derived = (load_balancer_tier.default_type(zones, emqx.capacity.connections, emqx.headroom) if emqx
               else "clb")
    kind = section.string("type", derived, choices=load_balancer_tier.TYPES) or derived
    address_type = section.string("addressType", "intranet", choices=("internet", "intranet"))
    # wrr by default: CLB's API reference accepts wlc for TCP listeners but its console no longer offers it, so an
    # account may refuse it; long-lived connections are evened out by a Rebalance run after a scale-out instead.
    scheduler = section.string("scheduler", "wrr", choices=("wrr", "wlc", "rr"))
    if kind == "nlb" and scheduler == "wlc":
        # nlb.ServerGroup takes Wrr, Rr, Sch, Tch or Qch (terraform-provider-alicloud nlb_server_group scheduler).
        section.problems.add("loadBalancer.scheduler", "an NLB server group has no least-connections scheduler",
                             "use wrr or rr, and even out connections with a rebalance run after a scale-out")
    # MQTT clients send PINGREQ every keepalive; brokers drop a client after 1.5 x keepalive of silence. The LB must
    # not drop a quiet but healthy connection first.
    minimum_idle = int(keepalive * 1.5) + 1
    idle = section.integer("idleTimeoutSeconds", 900, minimum=10, maximum=900)
    # Only where the stack owns the load balancer (a cloud target): an existing cluster's is not ours to judge.
    if cloud is not None and idle is not None and idle <= keepalive * 1.5:
        section.problems.add("loadBalancer.idleTimeoutSeconds",
                             f"{idle}s is not above 1.5 x emqx.keepaliveSeconds ({keepalive}s) = {keepalive * 1.5:g}s, "
                             "so the load balancer would cut idle MQTT clients",
                             f"use at least {minimum_idle}, or lower emqx.keepaliveSeconds")
    hc = section.section("healthCheck")
    # NLB health checks run every 5-50 s (nlb.ServerGroup health_check_interval); CLB's every 1-50 s.
    fastest = 5 if kind == "nlb" else 1
    interval = hc.integer("intervalSeconds", max(2, fastest), minimum=fastest, maximum=50,
                          hint=f"a {kind.upper()} checks every {fastest} to 50 s")
    timeout = hc.integer("timeoutSeconds", 5, minimum=1, maximum=300)
    healthy = hc.integer("healthyThreshold", 5, minimum=2, maximum=10)
    unhealthy = hc.integer("unhealthyThreshold", 2, minimum=2, maximum=10)
    # Production keeps its address through a mistaken destroy; anything else must go with `pulumi destroy`.
    protect = section.boolean("deletionProtection", production)
    # An internet load balancer serves MQTT over TLS only (8883, 8084) unless told otherwise: credentials sent in
    # plain text on the internet are anyone's.
    plain = section.boolean("allowPlainText", address_type != "internet")
    if plain and address_type == "internet" and production:
        section.problems.add("loadBalancer.allowPlainText", "a production broker on the internet would take "
                             "passwords and messages in plain text (1883, 8083)", "remove it: clients connect "
                             "with TLS on 8883 (MQTT) or 8084 (WebSocket)")
    return LoadBalancerSettings(
        type=kind,  # type: ignore[arg-type]
        address_type=address_type or "intranet",  # type: ignore[arg-type]
        scheduler=scheduler or "wrr",  # type: ignore[arg-type]
        idle_timeout_seconds=idle or 900,
        health_check=HealthCheckSettings(interval_seconds=interval or max(2, fastest), timeout_seconds=timeout or 5,
                                         healthy_threshold=healthy or 5, unhealthy_threshold=unhealthy or 2),
        deletion_protection=protect,
        allow_plain_text=plain,
    )


# Address ranges no client on the internet has: a load balancer on the internet never sees them as sources.
PRIVATE_RANGES = tuple(ipaddress.IPv4Network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16"))


def _client_reach_problems(load_balancer: LoadBalancerSettings, network: Mapping[str, Any] | None,
                           problems: Problems) -> None:
    """network.clientCidrs against an internet load balancer: reachable at all, and not plain text to everyone."""
    if network is None or load_balancer.address_type != "internet" or problems.about("network.clientCidrs"):
        return
    cidrs = [ipaddress.IPv4Network(c) for c in network["client_cidrs"]]
    if cidrs and all(any(c.subnet_of(r) for r in PRIVATE_RANGES) for c in cidrs):
        problems.add("network.clientCidrs", f"{', '.join(map(str, cidrs))} are private ranges, which clients on "
                     "the internet never come from, so the internet load balancer could not be reached",
                     "list the public ranges your clients connect from (0.0.0.0/0 for any), or set "
                     "loadBalancer.addressType: intranet")
    wide = [str(c) for c in cidrs if c.prefixlen < 8]
    if load_balancer.allow_plain_text and wide:
        problems.add("network.clientCidrs", f"{', '.join(wide)} opens plain-text MQTT (1883, 8083) to a large part "
                     "of the internet", "remove loadBalancer.allowPlainText (TLS only), or list your clients' "
                     "ranges (a /8 or narrower)")


def _load_balancer_capacity(load_balancer: LoadBalancerSettings, emqx: EmqxSettings | None,
                            plan: sizing.SizingPlan | None, cloud: CloudSettings | None, problems: Problems) -> None:
    """Refuse a target the chosen load balancer cannot carry: connections with the target's headroom, and the
    reconnect storm after a client node is lost (load_balancer_tier)."""
    if emqx is None or plan is None or cloud is None:
        return
    zones = len(cloud.zones)
    connections, headroom = emqx.capacity.connections, emqx.headroom
    # What the cluster admits when a lost node's clients come back; the load balancer must pass it.
    storm = sizing.storm_cluster_rate(plan)
    reasons = load_balancer_tier.shortfalls(load_balancer.type, zones, connections, headroom, storm)
    if not reasons:
        return
    if load_balancer.type == "clb" and not load_balancer_tier.shortfalls("nlb", zones, connections, headroom, storm):
        nlb = load_balancer_tier.limits("nlb", zones)
        fix = (f"set loadBalancer.type: nlb ({nlb.connections:,} connections and "
               f"{nlb.new_connections_per_second:,} new connections/s in {zones} zones), or lower the target")
    else:
        fix = "add zones to cloud.zones (NLB limits grow per zone), or split the target over several stacks"
    problems.add("loadBalancer.type", "; ".join(reasons), fix)


def _monitoring(section: Section) -> MonitoringSettings:
    enabled = section.boolean("prometheusOperator", False)
    labels = section.string_map("labels", kind="label")
    interval = section.string("scrapeInterval", "15s", pattern=r"[1-9][0-9]{0,3}(s|m)",
                              hint="a duration such as 15s (1s to 9999m)")
    if interval is not None and (int(interval[:-1]) * (60 if interval.endswith("m") else 1)) > 600:
        # Prometheus marks a series stale after 5 min without a sample: a longer interval leaves gaps in every panel
        # and makes rate() over the alerts' windows empty.
        section.problems.add("monitoring.scrapeInterval", f"{interval} is longer than 10 minutes, so series go stale "
                             "between scrapes", "use 10s to 1m")
        interval = None
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
        # EMQX refuses a ratio of exactly 1.0 (emqx_node_rebalance_api.erl: validator Value > 1.0), and so the run
        # would fail on the cluster, after `pulumi up` had reported success.
        for field_name, ratio in (("relConnThreshold", rel_conn), ("relSessThreshold", rel_sess)):
            if ratio <= 1.0:
                item.problems.add(f"{item.key}.{field_name}", f"{ratio:g} is not above 1.0, which EMQX refuses",
                                  "use a ratio above 1.0, e.g. 1.1")
        if name in names:
            item.problems.add(f"{item.key}.name", f"{name!r} is used by another run", "give each run its own name")
        if name is None or conn is None:
            continue
        names.add(name)
        runs.append(RebalanceRun(name=name, conn_evict_rate=conn, sess_evict_rate=sess or 500,
                                 wait_takeover=takeover if takeover is not None else 60,
                                 wait_health_check=health if health is not None else 60,
                                 abs_conn_threshold=abs_conn or 1000, rel_conn_threshold=_ratio_text(rel_conn),
                                 abs_sess_threshold=abs_sess or 1000, rel_sess_threshold=_ratio_text(rel_sess)))
    return tuple(runs)


def _load_test(section: Section, emqx: EmqxSettings | None, existing: ExistingClusterSettings | None,
               mqtt_users: object) -> tuple[LoadTestRun, ...]:
    """loadTest.runs[]: each a one-shot emqtt-bench run (components/loadtest.py), refused when it asks more of the
    cluster than emqx.capacity was sized for, or more than the generators and the verifier can do.

    Whether a run's username is one of mqttUsers is checked where the secret is opened (workloads/loadtest.py): an
    offline preview sees a placeholder for the secret, never its users."""
    runs: list[LoadTestRun] = []
    names: set[str] = set()
    problems = section.problems
    for item in section.items("runs"):
        key = item.key
        reported = len(problems.items)
        # At most 40 characters: Job names lt-<name>-<digest>-verify must stay within 63 (the job-name label).
        name = item.string("name", None, required=True, pattern=r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?",
                           hint="a DNS label of at most 40 characters naming this run, e.g. one-million")
        connections = item.integer("connections", None, minimum=1, maximum=200_000_000, required=True,
                                   hint="the clients to hold, e.g. 1000000")
        connect_rate = item.integer("connectRate", 1000, minimum=1, maximum=1_000_000) or 1000
        publishers = item.integer("publishers", 0, minimum=0, maximum=200_000_000) or 0
        subscribers = item.integer("subscribers", 0, minimum=0, maximum=200_000_000) or 0
        # Printable ASCII without spaces; emqtt-bench fills in %i (the client's number), %c, %u, %rand_N.
        topic = item.string("topic", "bench/%i", pattern=r"[!-~]{1,200}",
                            hint="a topic of printable ASCII without spaces, e.g. bench/%i") or "bench/%i"
        message_rate = item.integer("messageRate", 0, minimum=0, maximum=100_000_000) or 0
        payload = item.integer("payloadBytes", 256, minimum=1, maximum=268_435_455) or 256
        qos = item.integer("qos", 1, minimum=0, maximum=2)
        duration = item.integer("durationSeconds", 300, minimum=60, maximum=86_400) or 300
        target = item.string("target", "loadBalancer", choices=("loadBalancer", "inCluster")) or "loadBalancer"
        username = item.string("username", None, pattern=auth_render.USER_NAME,
                               hint="a user listed in mqttUsers")
        tolerance = item.number("rateTolerance", 0.1, minimum=0.01, maximum=0.5,
                                hint="the share the measured message rate may differ by, e.g. 0.1")
        dropped = item.number("maxDroppedRatio", 0.001, minimum=0.0, maximum=0.1,
                              hint="dropped messages per received message allowed, e.g. 0.001")
        if name in names:
            problems.add(f"{key}.name", f"{name!r} is used by another run", "give each run its own name")
        if connections is not None and publishers + subscribers > connections:
            problems.add(f"{key}.connections", f"{connections:,} is fewer than its {publishers:,} publishers and "
                         f"{subscribers:,} subscribers", f"use at least {publishers + subscribers:,}")
        if publishers and not subscribers:
            # EMQX drops a message nobody subscribed to (messages.dropped.no_subscribers), and the verdict counts
            # dropped messages.
            problems.add(f"{key}.subscribers", "is 0, so every published message would be dropped",
                         "add subscribers whose topic matches the publishers' (the same pattern with %i)")
        if publishers > subscribers and "%i" in topic:
            # Publisher n publishes to the topic of subscriber n (both numbered from 1, components/loadtest.py): the
            # publishers above the subscribers' count publish to topics nobody subscribes to, and EMQX counts those
            # messages as dropped, which fails the verdict.
            problems.add(f"{key}.publishers", f"{publishers:,} publishers but {subscribers:,} subscribers on a %i "
                         "topic: the extra publishers' messages reach nobody and count as dropped",
                         f"use at most {subscribers:,} publishers, or at least {publishers:,} subscribers")
        if connections is not None and connect_rate > 1000 * connections:
            # emqtt-bench 0.6.2 asserts a connect interval of at least 1 ms per worker (start/2: Interval =
            # 1000 * NoWorkers div ConnRate, `true = (Interval >= 1)`, schemas/emqtt-bench/0.6.2/emqtt_bench.erl), so
            # a pod may open at most 1000 connections per second per client it holds (loadtest.connect_rate_fits).
            problems.add(f"{key}.connectRate", f"{connect_rate:,} connections/s for {connections:,} clients: "
                         "emqtt-bench refuses to open more than 1,000 per second per client it holds",
                         f"use at most {1000 * connections:,}")
        if bool(publishers) != bool(message_rate):
            problems.add(f"{key}.messageRate", f"{message_rate:,} messages/s with {publishers:,} publishers",
                         "set both publishers and messageRate, or neither")
        elif publishers:
            interval = loadtest.publish_interval_ms(publishers, message_rate)
            planned = publishers * 1000 / interval if interval else 0.0
            if interval < 1 or abs(planned - message_rate) > 0.01 * message_rate:
                # emqtt-bench paces each publisher in whole milliseconds (--interval_of_msg).
                problems.add(f"{key}.messageRate", f"{message_rate:,} messages/s from {publishers:,} publishers is "
                             "not a whole number of milliseconds between one publisher's messages",
                             f"use a rate where 1000 x publishers / rate is a whole number (at most "
                             f"{publishers * 1000:,}), e.g. {publishers * 1000 // max(1, interval):,}")
        if emqx is not None:
            capacity = emqx.capacity
            if connections is not None and connections > capacity.connections:
                problems.add(f"{key}.connections", f"{connections:,} is above emqx.capacity.connections "
                             f"({capacity.connections:,}), which the cluster is sized for",
                             f"set emqx.capacity.connections to at least {connections:,}, or test fewer")
            if message_rate > capacity.message_rate:
                problems.add(f"{key}.messageRate", f"{message_rate:,} messages/s is above emqx.capacity.messageRate "
                             f"({capacity.message_rate:,})", f"set emqx.capacity.messageRate to at least "
                             f"{message_rate:,}, or test less")
            if emqx.release.legacy:
                problems.add(key, f"EMQX {emqx.release.version} serves the v4 REST API, and the verifier reads "
                             "EMQX 5's /api/v5", "remove the run, or use EMQX 5")
            auth = emqx.auth
            if username is None and not auth.allow_anonymous and auth.built_in_database:
                problems.add(f"{key}.username", "is not set, and the broker admits only known users",
                             "name a user listed in mqttUsers")
            elif username is not None and not auth.built_in_database:
                problems.add(f"{key}.username", "is set, but the built-in database is off", "remove it")
            elif username is not None and mqtt_users is None:
                problems.add(f"{key}.username", "names a user, but mqttUsers is not set", "add the user to mqttUsers "
                             "(`pulumi config set --secret mqttUsers ...`)")
            if not auth.allow_anonymous and not auth.built_in_database:
                problems.add(key, "the generators log in with a user of the built-in database, which is off",
                             "turn emqx.auth.builtInDatabase on for the test, or run it with allowAnonymous on a "
                             "stack that is not production")
        if target == "loadBalancer" and existing is not None:
            # The program knows the address only of a load balancer it made (components/alicloud/loadbalancer.py).
            problems.add(f"{key}.target", "is loadBalancer, but on an existing cluster the program does not know "
                         "the address clients dial", "use target: inCluster")
        if name is not None:
            names.add(name)
        if name is None or connections is None or qos is None or len(problems.items) > reported:
            # A run with a problem is not planned: its numbers may contradict each other.
            continue
        runs.append(LoadTestRun(name=name, connections=connections, connect_rate=connect_rate, publishers=publishers,
                                subscribers=subscribers, topic=topic, message_rate=message_rate,
                                payload_bytes=payload, qos=qos, duration_seconds=duration,
                                target=target,  # type: ignore[arg-type]
                                username=username, rate_tolerance=tolerance, max_dropped_ratio=dropped, key=key))
    return tuple(runs)


def _load_test_pool(runs: tuple[LoadTestRun, ...], profile: tuning.TuningProfile | None,
                    pool: NodePoolSettings | None, problems: Problems,
                    existing: ExistingClusterSettings | None = None) -> NodePoolSettings | None:
    """The load-generator pool, switched on and sized for the largest run (runs go one after another): one generator
    pod per node (the Job's required podAntiAffinity, render/loadtest.py). On an existing cluster, each run's pods
    must fit its nodes (existing.nodeShape)."""
    if not runs or profile is None:
        return pool
    limit = loadtest.source_port_limit(profile)
    if existing is not None:
        shape = existing.node_shape
        for run in runs:
            clients = loadtest.largest_pod_clients(run.plan(limit))
            if not loadtest.pods_per_node(shape.vcpu, shape.memory_gib, clients):
                cpu, memory = loadtest.pod_requests(clients)
                problems.add(f"{run.key}.connections", f"the run's generator pods of {clients:,} clients ask for "
                             f"{cpu}m CPU and {memory} MiB each, more than a {shape.vcpu} vCPU / "
                             f"{shape.memory_gib:g} GiB node (existing.nodeShape) holds beside the kubelet's share",
                             "test fewer connections, or run it on larger nodes (existing.nodeShape)")
    if pool is None:
        return pool
    plans = [run.plan(limit) for run in runs]
    pods = max(len(plan.pods) for plan in plans)
    clients = max(loadtest.largest_pod_clients(plan) for plan in plans)
    shapes = [sizing.INSTANCE_SHAPES[t] for t in pool.instance_types if t in sizing.INSTANCE_SHAPES]
    if len(shapes) != len(pool.instance_types):
        problems.add("nodePools.loadgen.instanceTypes", "has types whose vCPU and memory are not in the sizing table",
                     "use listed types (components/sizing.py INSTANCE_SHAPES)")
        return pool
    smallest = min(shapes, key=lambda s: (s.vcpu, s.memory_gib))
    nodes = loadtest.nodes_for(pods, smallest.vcpu, smallest.memory_gib, clients)
    if not pool.enabled:
        problems.add("nodePools.loadgen.enabled", "is false, but loadTest.runs need load generators",
                     "remove it, or remove the runs")
    elif nodes == 0:
        problems.add("nodePools.loadgen.instanceTypes", f"{smallest.vcpu} vCPU / {smallest.memory_gib:g} GiB holds "
                     "no generator pod", "use a larger type, e.g. ecs.c7.2xlarge")
    elif pool.count and pool.count < nodes:
        problems.add("nodePools.loadgen.count", f"{pool.count} nodes cannot hold the largest run's {pods} "
                     f"generator pods", f"use at least {nodes}, or leave it unset to follow the runs")
    return replace(pool, count=pool.count or nodes) if pool.enabled else pool


def _ratio_text(ratio: float) -> str:
    """The ratio as the operator passes it to EMQX: every digit kept (`:g` would turn 1.0000001 into "1", which
    EMQX refuses), shortest form that reads back as the same number."""
    text = repr(ratio)
    return text[:-2] if text.endswith(".0") else text


def _existing(section: Section, target: Target | None) -> ExistingClusterSettings | None:
    if target != "existing":
        return None
    context = section.string("context", None)
    storage_class = section.string("storageClass", None, pattern=STORAGE_CLASS,
                                   hint="a StorageClass name: a DNS subdomain of at most 253 characters")
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
    # cert-manager v1.15 introduced the chart value crds.enabled that the release sets (cert_manager.py); v2 does not
    # exist. The operator's 2.2 line serves apps.emqx.io/v2beta1 (EMQX, Rebalance) and v1beta4 (4.4), the kinds the
    # program renders; its CRDs are vendored for 2.2.29 (schemas/emqx-operator) and no later minor is released.
    cert_manager = section.string("certManagerVersion", "v1.21.1", pattern=r"v1\.[0-9]{1,3}\.[0-9]{1,3}",
                                  hint="a cert-manager release such as v1.21.1")
    if cert_manager is not None and int(cert_manager.split(".")[1]) < 15:
        section.problems.add("charts.certManagerVersion", f"{cert_manager} is older than v1.15, whose chart value "
                             "crds.enabled the program sets", "use v1.15.0 or later, e.g. v1.21.1")
        cert_manager = None
    operator = section.string("emqxOperatorVersion", "2.2.29", pattern=r"2\.2\.[0-9]{1,3}",
                              hint="an EMQX Operator 2.2 release such as 2.2.29 (the line whose kinds the program "
                              "renders)")
    install_cert_manager = section.boolean("installCertManager", True)
    install_operator = section.boolean("installOperator", True)
    registry = section.string("imageRegistry", None, pattern=r"[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*",
                              hint="a registry host and optional path, e.g. registry.cn-hangzhou.aliyuncs.com/mirror")
    return ChartSettings(cert_manager_version=cert_manager or "v1.21.1", emqx_operator_version=operator or "2.2.29",
                         install_cert_manager=install_cert_manager, install_operator=install_operator,
                         image_registry=registry)
