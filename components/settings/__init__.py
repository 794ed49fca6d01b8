"""The one place that reads stack config: parse, validate (every problem at once), and derive the plan.

`load()` is what `__main__.py` calls. `parse()` is the pure core: raw config values in, frozen `Settings` out, or
`ConfigError` listing every problem with its config key, what is wrong and how to fix it. Nothing else in the
program reads `pulumi.Config`.

The sections live in their own modules, each with its dataclass(es) and its parser: stack (the runtime's config, the
stack name, top-level keys, target, tags), cloud, network, cluster, node_pools, emqx, auth, load_balancer,
node_tuning, monitoring, rebalance, load_test, existing, charts; common holds what they share, and derive what they
decide together once read (sizing, pool sizes, tuning profile, address plan). A rule that depends on the target lives
in the section whose key it reports, in that module's per-target table or dispatch (e.g. cluster.VERSION_TABLES,
node_pools.POOL_RULES, cloud.CLOUD_PARSERS).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components import sizing, tuning
from components.config_reader import Section
from components.settings.auth import (
    URL,
    AclRule,
    AuthSettings,
    HttpAuthSettings,
    JwtSettings,
    X509Settings,
    mqtt_users_problems,
)
from components.settings.aws import AwsSettings, admin_partition_problems, nlb_rule_problems, parse_aws_keys
from components.settings.charts import ChartSettings, charts_target_problems, parse_charts
from components.settings.cloud import CloudSettings, parse_cloud, provider_region_problems
from components.settings.cluster import (
    ACK_MINORS,
    DEFAULT_NODE_IMAGE,
    NODE_IMAGES,
    VERSION_TABLES,
    ApiServerSettings,
    ClusterSettings,
    NodeImage,
    parse_cluster,
    version_warnings,
)
from components.settings.common import (
    CLB_MAX_TAGS,
    DNS_LABEL,
    MAX_DEPTH,
    MAX_KEYS,
    MAX_NODES,
    MAX_SECRET_TEXT,
    MAX_TEXT,
    NAME_LIMIT,
    OTHER_NAMESPACES,
    PROJECT,
    SECRET_KEYS,
    SECTION_KEYS,
    STACK_NAME,
    STACK_NAME_MAX,
    STORAGE_CLASS,
    TARGETS,
    ConfigError,
    Target,
    secret,
)
from components.settings.derive import Sections, derive
from components.settings.emqx import CertificateSettings, EmqxSettings, emqx_target_problems, parse_emqx
from components.settings.emqx import topology_problems as _topology_problems
from components.settings.existing import ExistingClusterSettings, kubeconfig_problems, parse_existing
from components.settings.load_balancer import (
    HealthCheckSettings,
    LoadBalancerSettings,
    load_balancer_capacity_problems,
    parse_load_balancer,
)
from components.settings.load_test import LoadTestRun, parse_load_test
from components.settings.monitoring import MonitoringSettings, parse_monitoring
from components.settings.network import PRIVATE_RANGES, NetworkSettings, client_reach_problems, parse_network
from components.settings.node_pools import NodePoolSettings, parse_pools
from components.settings.node_pools import load_test_pool as _load_test_pool
from components.settings.node_tuning import parse_tuning
from components.settings.rebalance import RebalanceRun, parse_rebalance
from components.settings.stack import bounds_problem as _bounds_problem
from components.settings.stack import decode as _decode
from components.settings.stack import (
    drop_what_skipped_keys_caused,
    parse_tags,
    parse_target,
    raw_config,
    read_top_level,
    stack_name_problem,
    target_scope_problems,
)
from components.settings.vm import (
    Mode,
    VmPackage,
    VmRole,
    VmSettings,
    drop_what_vms_ignore,
    parse_mode,
    parse_vm,
    placeholder_warnings,
    tls_problems,
)

__all__ = [
    "ACK_MINORS",
    "CLB_MAX_TAGS",
    "DEFAULT_NODE_IMAGE",
    "DNS_LABEL",
    "MAX_DEPTH",
    "MAX_KEYS",
    "MAX_NODES",
    "MAX_SECRET_TEXT",
    "MAX_TEXT",
    "NAME_LIMIT",
    "NODE_IMAGES",
    "OTHER_NAMESPACES",
    "PRIVATE_RANGES",
    "PROJECT",
    "SECRET_KEYS",
    "SECTION_KEYS",
    "STACK_NAME",
    "STACK_NAME_MAX",
    "STORAGE_CLASS",
    "TARGETS",
    "URL",
    "VERSION_TABLES",
    "AclRule",
    "ApiServerSettings",
    "AuthSettings",
    "AwsSettings",
    "CertificateSettings",
    "ChartSettings",
    "CloudSettings",
    "ClusterSettings",
    "ConfigError",
    "EmqxSettings",
    "ExistingClusterSettings",
    "HealthCheckSettings",
    "HttpAuthSettings",
    "JwtSettings",
    "LoadBalancerSettings",
    "LoadTestRun",
    "MonitoringSettings",
    "NetworkSettings",
    "NodeImage",
    "NodePoolSettings",
    "RebalanceRun",
    "Settings",
    "Target",
    "VmPackage",
    "VmRole",
    "VmSettings",
    "X509Settings",
    # Private helpers some tests call directly.
    "_bounds_problem",
    "_decode",
    "_load_test_pool",
    "_topology_problems",
    "load",
    "parse",
    "raw_config",
    "stack_name_problem",
]


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
    # Non-fatal notes __main__ logs with pulumi.log.warn (e.g. an EKS minor past the end of standard support).
    warnings: tuple[str, ...] = ()
    aws: AwsSettings | None = None  # target aws only (components/settings/aws.py)
    mode: Mode = "kubernetes"  # top-level key `mode`; vm: EMQX on ECS instances, target alicloud only
    vm: VmSettings | None = None  # mode vm only (components/settings/vm.py)
    # Secret top-level keys tlsCertificate, tlsPrivateKey (mode vm): the PEM chain and key EMQX serves on 8883/8084.
    tls_certificate: pulumi.Output[str] | None = None
    tls_private_key: pulumi.Output[str] | None = None
    # The cores' own pool beside replicants (nodePools.core; sized and typed by the planner), else None.
    core_pool: NodePoolSettings | None = None

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


def parse(values: Mapping[str, Any], *, stack: str, secret_keys: set[str] | frozenset[str] = frozenset()) -> Settings:
    """Every section read in a fixed order (the order problems are listed in), then what they decide together."""
    top = read_top_level(values, stack=stack, secret_keys=secret_keys)
    problems, values = top.problems, top.values
    values = drop_what_vms_ignore(values, problems)
    root = Section("", dict(values), problems)
    target = parse_target(root)
    mode = parse_mode(root, target)
    production = root.boolean("production", False)
    tags = parse_tags(root, target)
    cluster_section = root.section("cluster")
    cluster = parse_cluster(cluster_section, target, production)
    emqx = parse_emqx(root.section("emqx"), production)
    existing = parse_existing(root.section("existing"), target)
    cloud = parse_cloud(root.section("cloud"), target, production)
    provider_region_problems(cloud, top.provider_config, problems, target)
    load_test = parse_load_test(root.section("loadTest"), emqx, existing, values.get("mqttUsers"))
    pools = parse_pools(root.section("nodePools"), target, load_test)
    load_balancer_section = root.section("loadBalancer")
    load_balancer = parse_load_balancer(load_balancer_section, emqx, cloud, production, target)
    vm_fields = parse_vm(root, mode, emqx, production)
    tls = tls_problems(values, mode, target, load_balancer, problems)
    monitoring = parse_monitoring(root.section("monitoring"))
    rebalance = parse_rebalance(root.section("rebalance"))
    charts = parse_charts(root.section("charts"))
    tuning_overrides = parse_tuning(root.section("tuning"))
    network_section = root.section("network")
    network_fields = parse_network(network_section, target)
    aws_keys = parse_aws_keys(target, production, cluster=cluster_section, network=network_section,
                              load_balancer=load_balancer_section)
    if aws_keys is not None and cloud is not None and cloud.region:
        admin_partition_problems(aws_keys.admin_principal_arns, cloud.region, problems)
    target_scope_problems(root, values, target)
    mqtt_users_problems(values, emqx, problems)
    emqx_target_problems(emqx, target, values, problems)
    kubeconfig_problems(values, target, problems)
    charts_target_problems(charts, target, problems)
    # Unknown top-level keys were reported above with the namespace they need.
    root.accept(*values.keys())
    root.finish()

    derived = derive(Sections(target=target, production=production, cloud=cloud, network_fields=network_fields,
                              cluster=cluster, pools=pools, emqx=emqx, load_balancer=load_balancer,
                              tuning=tuning_overrides, rebalance=rebalance, load_test=load_test, existing=existing,
                              aws_keys=aws_keys, vm=vm_fields, tls=tls),
                     values, problems)
    load_balancer_capacity_problems(load_balancer, emqx, derived.plan, cloud, target, problems)
    client_reach_problems(load_balancer, network_fields, problems)
    if target == "aws":
        nlb_rule_problems(load_balancer.served_ports, network_fields, problems)
    drop_what_skipped_keys_caused(top)
    plan, profile, pools = derived.plan, derived.profile, derived.pools or pools
    if (problems or emqx is None or plan is None or profile is None or target is None
            or mode is None or (mode == "vm" and derived.vm is None)):
        raise ConfigError(problems.items or ["emqx: could not be read; see the README's configuration reference"])
    return Settings(project=PROJECT, stack=stack, target=target, production=production, tags=tags, cloud=cloud,
                    network=derived.network, cluster=cluster, system_pool=pools.system, emqx_pool=pools.emqx,
                    loadgen_pool=pools.loadgen, emqx=emqx, sizing=plan, tuning=profile, load_balancer=load_balancer,
                    monitoring=monitoring, rebalance=rebalance, load_test=load_test, existing=existing, charts=charts,
                    license_key=secret(values, "licenseKey"), kubeconfig=secret(values, "kubeconfig"),
                    mqtt_users=secret(values, "mqttUsers"),
                    warnings=(*version_warnings(cluster, target), *placeholder_warnings(derived.vm)),
                    aws=derived.aws, mode=mode or "kubernetes", vm=derived.vm,
                    tls_certificate=secret(values, "tlsCertificate"), tls_private_key=secret(values, "tlsPrivateKey"),
                    core_pool=pools.core)
