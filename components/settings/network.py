"""network: the VPC's address ranges and who may reach the load balancer, per target; the address plan."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from components.aws.address_plan import AddressPlan, plan_addresses
from components.config_reader import Problems, Section
from components.network_plan import NetworkPlan, plan_network
from components.settings.cloud import CloudSettings
from components.settings.common import Target
from components.settings.load_balancer import LoadBalancerSettings
from components.settings.node_pools import NodePoolSettings


@dataclass(frozen=True)
class NetworkSettings:
    vpc_cidr: str
    plugin: Literal["flannel", "terway", "vpc-cni"]  # vpc-cni: aws (pods take VPC addresses)
    pod_cidr: str | None
    service_cidr: str
    client_cidrs: tuple[str, ...]
    admin_cidrs: tuple[str, ...]
    plan: NetworkPlan | None  # None for targets without a VPC of ours


def parse_network(section: Section, target: Target | None) -> dict[str, Any] | None:
    """The network fields as read (the plan comes once the node counts are known); None for a target without a
    network of ours."""
    parser = NETWORK_PARSERS.get(target) if target else None
    return parser(section) if parser else None


def _admin_cidr_problems(section: Section, admins: tuple[str, ...]) -> None:
    for i, cidr in enumerate(admins):
        if int(cidr.rsplit("/", 1)[1]) < 8:
            section.problems.add(
                f"network.adminCidrs[{i}]",
                f"{cidr} opens the dashboard and REST API (18083) to a large part of the internet",
                "list your admin networks or VPN ranges (a /8 or narrower) instead",
            )


def _with_access(section: Section, *, vpc_cidr: str, plugin: str | None, pod_cidr: str | None,
                 service_cidr: str) -> dict[str, Any]:
    """Every cloud's network fields: its own address ranges, then who may reach the listeners (clientCidrs) and the
    dashboard (adminCidrs, the VPC by default), read last on every cloud."""
    clients = section.cidrs("clientCidrs", ("0.0.0.0/0",), min_items=1)
    admins = section.cidrs("adminCidrs", (vpc_cidr,), min_items=1)
    _admin_cidr_problems(section, admins)
    return {
        "vpc_cidr": vpc_cidr,
        "plugin": plugin,
        "pod_cidr": pod_cidr,
        "service_cidr": service_cidr,
        "client_cidrs": clients,
        "admin_cidrs": admins,
    }


def _alicloud(section: Section) -> dict[str, Any]:
    vpc = section.cidr("vpcCidr", "10.0.0.0/16")
    plugin = section.string("plugin", "flannel", choices=("flannel", "terway"))
    pod_cidr = section.cidr("podCidr", "172.20.0.0/16") if plugin == "flannel" else None
    if plugin == "terway" and section.has("podCidr"):
        section.string("podCidr")
        section.problems.add("network.podCidr", "does not apply to terway (pods use pod vSwitches in the VPC)",
                             "remove it")
    service = section.cidr("serviceCidr", "172.21.0.0/20")
    return _with_access(section, vpc_cidr=vpc, plugin=plugin, pod_cidr=pod_cidr, service_cidr=service)


def _aws(section: Section) -> dict[str, Any]:
    vpc = section.cidr("vpcCidr", "10.0.0.0/16")
    for name in ("plugin", "podCidr"):
        if section.has(name):
            section.accept(name)
            # The VPC CNI (the vpc-cni add-on) gives every pod an address of its node's subnet: there is no overlay
            # to choose and no pod range of its own (EKS User Guide, "Amazon VPC CNI").
            section.problems.add(f"network.{name}", "does not apply to aws: the VPC CNI gives pods addresses from "
                                 "the nodes' subnets in network.vpcCidr", "remove it")
    # EKS's own default Service range when the VPC is in 10.0.0.0/8 (kubernetes_network_config.service_ipv4_cidr
    # docstring): /12 to /24, private, outside the VPC (checked with the address plan).
    service = section.cidr("serviceCidr", "172.20.0.0/16")
    return _with_access(section, vpc_cidr=vpc, plugin="vpc-cni", pod_cidr=None, service_cidr=service)


# One parser per cloud target; a target missing here has no network section.
NETWORK_PARSERS: dict[str, Callable[[Section], dict[str, Any]]] = {"alicloud": _alicloud, "aws": _aws}


def plan_network_settings(target: Target, fields: Mapping[str, Any] | None, cloud: CloudSettings | None,
                          pools: tuple[NodePoolSettings | None, NodePoolSettings | None, NodePoolSettings | None],
                          problems: Problems) -> NetworkSettings | None:
    """The address plan for every node the pools (system, emqx, loadgen) may hold at once."""
    if target != "alicloud" or cloud is None or fields is None or problems.about("cloud", "network"):
        return None
    max_nodes = max_pool_nodes(cloud, pools)
    net_plan, net_problems = plan_network(
        vpc_cidr=fields["vpc_cidr"],
        zones=cloud.zones,
        network_plugin=fields["plugin"],
        max_nodes=max_nodes,
        max_pods_per_node=MAX_PODS_PER_NODE,
        pod_cidr=fields["pod_cidr"],
        service_cidr=fields["service_cidr"],
        key="network",
    )
    problems.extend(net_problems)
    return NetworkSettings(plan=net_plan, **fields)


# Pods per node the address plans are sized for: one EMQX pod per EMQX node plus the DaemonSets; system nodes hold
# the operator, cert-manager, the load balancer controller, the autoscaler and monitoring.
MAX_PODS_PER_NODE = 64


def max_pool_nodes(cloud: CloudSettings,
                   pools: tuple[NodePoolSettings | None, NodePoolSettings | None, NodePoolSettings | None]) -> int:
    """Every node the pools (system, emqx, loadgen) may hold at once: EMQX pools per zone (rounded up) with rollout
    room, system, load generators."""
    system_pool, emqx_pool, loadgen_pool = pools
    emqx_nodes = emqx_pool.count + (emqx_pool.rollout_surge or 0) if emqx_pool else 0
    return emqx_nodes + 2 * len(cloud.zones) + (system_pool.count if system_pool else 0) + (
        loadgen_pool.count if loadgen_pool and loadgen_pool.enabled else 0
    )


def plan_aws_network(fields: Mapping[str, Any] | None, cloud: CloudSettings | None,
                     pools: tuple[NodePoolSettings | None, NodePoolSettings | None, NodePoolSettings | None],
                     production: bool, problems: Problems) -> tuple[NetworkSettings | None, AddressPlan | None]:
    """aws: the network as read (its `plan` None) and the AWS address plan (components/aws/address_plan.py)."""
    if cloud is None or fields is None or problems.about("cloud", "network"):
        return None, None
    address_plan, plan_problems = plan_addresses(
        vpc_cidr=fields["vpc_cidr"], zones=cloud.zones, max_nodes=max_pool_nodes(cloud, pools),
        max_pods_per_node=MAX_PODS_PER_NODE, service_cidr=fields["service_cidr"], key="network",
        zones_key="cloud.zones", min_zones=3 if production else 2)
    problems.extend(plan_problems)
    return NetworkSettings(plan=None, **fields), address_plan


# Address ranges no client on the internet has: a load balancer on the internet never sees them as sources.
PRIVATE_RANGES = tuple(ipaddress.IPv4Network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16"))


def client_reach_problems(load_balancer: LoadBalancerSettings, network: Mapping[str, Any] | None,
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
