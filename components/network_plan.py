"""Address plan for an ACK cluster in one Alibaba Cloud VPC: vSwitches per zone, pod and Service ranges.

Pure: no Pulumi import. `plan_network` checks every CIDR and the capacity of every block, collects every problem
as a one-line message that starts with the config key, and returns a plan only when there is none.

Alibaba limits used here, each from Alibaba's own reference:
- VPC: RFC 1918 blocks or their subnets, mask /8 to /28 (VPC API CreateVpc; older pages said /8 to /24).
  ACK's network planning page allows only the three RFC 1918 blocks for a cluster's VPC.
- vSwitch: mask /16 to /29; the first address and the last three of every vSwitch are reserved by the system
  (VPC API CreateVSwitch: for 192.168.1.0/24 that is .0, .253, .254 and .255).
- Terway pod vSwitch: one per node vSwitch zone, mask at most /25 (ACK API CreateCluster, pod_vswitch_ids).
- Flannel pod CIDR (container_cidr): 10.0.0.0/8, 172.16-31.0.0/12-16, 192.168.0.0/16 or their subnets.
  ACK splits it into one block per node; the block mask (node_cidr_mask) may be 24 to 28 (pulumi-alicloud
  `cs.ManagedKubernetes.node_cidr_mask`, default 24; the CreateCluster API itself defaults to 26).
- Service CIDR: 10.0.0.0/16-24, 172.16-31.0.0/16-24 or 192.168.0.0/16-24 (ACK API CreateCluster).
- Flannel also adds one VPC route entry per node; a route table holds 200 entries unless the quota is raised.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass

from components import cidr

IPv4Network = ipaddress.IPv4Network

# The RFC 1918 blocks in the order a free range is suggested from: 172.16/12, then 10/8, then 192.168/16.
RFC1918: tuple[IPv4Network, ...] = (cidr.RFC1918[1], cidr.RFC1918[0], cidr.RFC1918[2])
VPC_PREFIX_RANGE = (8, 28)
VSWITCH_PREFIX_RANGE = (16, 29)
VSWITCH_RESERVED_ADDRESSES = 4
POD_VSWITCH_MAX_PREFIX = 25
SERVICE_PREFIX_RANGE = (16, 24)
NODE_CIDR_MASK_RANGE = (24, 28)
# host-local IPAM under flannel never hands out a block's network address, its broadcast address or the
# address of the cni0 bridge (the pods' gateway), so a /26 block holds 61 pods, not 64.
FLANNEL_ADDRESSES_NOT_FOR_PODS = 3
# ACK ignores node_cidr_mask under terway; this is what the provider sends when it is unset.
PROVIDER_DEFAULT_NODE_CIDR_MASK = 24

FLANNEL = "flannel"
TERWAY = "terway"
NETWORK_PLUGINS = (FLANNEL, TERWAY)


@dataclass(frozen=True)
class ZoneSubnets:
    """The vSwitches of one zone: nodes always, pods only under terway."""

    zone: str
    node_cidr: str
    pod_cidr: str | None


@dataclass(frozen=True)
class NetworkPlan:
    vpc_cidr: str
    zones: tuple[ZoneSubnets, ...]
    pod_cidr: str | None  # flannel only: the cluster-wide pod range outside the VPC
    service_cidr: str
    node_cidr_mask: int  # flannel only in effect; ACK ignores it under terway


@dataclass(frozen=True)
class _Keys:
    vpc: str
    pod: str
    service: str
    plugin: str
    pods_per_node: str
    zones: str


def usable_vswitch_addresses(prefixlen: int) -> int:
    """Addresses Alibaba lets resources take from a vSwitch of this size."""
    return 2 ** (32 - prefixlen) - VSWITCH_RESERVED_ADDRESSES


def pods_per_flannel_block(node_cidr_mask: int) -> int:
    return 2 ** (32 - node_cidr_mask) - FLANNEL_ADDRESSES_NOT_FOR_PODS


def _largest_prefix_holding(addresses_needed: int, overhead: int) -> int:
    """The longest prefix (smallest block) with at least `addresses_needed` addresses after `overhead`."""
    return 32 - math.ceil(math.log2(addresses_needed + overhead))


def _first_free_block(prefixlen: int, avoid: Sequence[IPv4Network]) -> IPv4Network | None:
    """The lowest block of this size, in 172.16/12, then 10/8, then 192.168/16, that overlaps none of `avoid`."""
    size = 2 ** (32 - prefixlen)
    for block in RFC1918:
        if block.prefixlen > prefixlen:
            continue
        start = int(block.network_address)
        end = int(block.broadcast_address)
        while start + size - 1 <= end:
            candidate = IPv4Network((start, prefixlen))
            clash = next((a for a in avoid if candidate.overlaps(a)), None)
            if clash is None:
                return candidate
            # jump past the clash, re-aligned to the block size
            start = ((int(clash.broadcast_address) + 1 + size - 1) // size) * size
    return None


def _suggestion(prefixlen: int, avoid: Sequence[IPv4Network]) -> str:
    free = _first_free_block(prefixlen, avoid)
    return f"choose e.g. {free}" if free is not None else "choose a private range that overlaps neither"


def _check_zones(zones: Sequence[str], key: str, min_zones: int, errors: list[str]) -> bool:
    if isinstance(zones, str):
        errors.append(f"{key}: must be a list of zone IDs, got the text {zones!r}; write it as a YAML list")
        return False
    ok = True
    blanks = [i for i, z in enumerate(zones) if not isinstance(z, str) or not z.strip()]
    if blanks:
        errors.append(f"{key}: entries {blanks} are empty; give each zone's ID, e.g. cn-hangzhou-h")
        ok = False
    seen: set[str] = set()
    duplicates: list[str] = []
    for zone in zones:
        if isinstance(zone, str) and zone in seen and zone not in duplicates:
            duplicates.append(zone)
        if isinstance(zone, str):
            seen.add(zone)
    if duplicates:
        errors.append(f"{key}: {', '.join(duplicates)} listed more than once; list each zone once")
        ok = False
    if len(seen) > MAX_ZONES:
        errors.append(
            f"{key}: {len(seen)} zones given; the address plan leaves room for {MAX_ZONES} (each zone keeps its "
            f"slot when zones are added); use at most {MAX_ZONES}"
        )
        ok = False
    if len(seen) < min_zones:
        errors.append(
            f"{key}: {len(seen)} distinct zone(s) given, at least {min_zones} needed so the cluster "
            "survives the loss of a zone; add zones of the same region (3 recommended for production)"
        )
        ok = False
    return ok


def _node_cidr_mask(max_pods_per_node: int, key: str, errors: list[str]) -> int | None:
    """The smallest per-node flannel block (longest mask) that still holds `max_pods_per_node` pods."""
    low, high = NODE_CIDR_MASK_RANGE
    for mask in range(high, low - 1, -1):
        if pods_per_flannel_block(mask) >= max_pods_per_node:
            return mask
    errors.append(
        f"{key}: {max_pods_per_node} pods per node do not fit a flannel node block: the largest ACK allows "
        f"(/{low}) holds {pods_per_flannel_block(low)}; use at most {pods_per_flannel_block(low)}"
    )
    return None


# Zones a plan leaves room for. Append new zones at the end of cloud.zones: a zone's slot is its position.
MAX_ZONES = 4


def _layout(
    vpc: IPv4Network,
    zones: Sequence[str],
    plugin: str,
    max_nodes: int,
    max_pods_per_node: int,
    keys: _Keys,
    errors: list[str],
) -> tuple[ZoneSubnets, ...] | None:
    """Carve equal slots from the VPC: one node vSwitch per zone, and under terway one pod vSwitch per zone.

    Every zone's vSwitches are sized for all `max_nodes` nodes (and all their pods), not a share of them:
    when a zone fails, the node pools scale the surviving zones up to the full count, so one zone must be
    able to hold the whole cluster.
    """
    per_zone = 2 if plugin == TERWAY else 1
    # Slots are sized for MAX_ZONES whatever the zones are today: a zone added later takes the next free slot,
    # and the existing vSwitches keep their CIDRs (a changed CIDR would replace a vSwitch that holds nodes).
    slot_bits = math.ceil(math.log2(MAX_ZONES * per_zone))
    # a vSwitch cannot be larger than /16, so a big VPC leaves room for later vSwitches instead
    slot_prefix = max(vpc.prefixlen + slot_bits, VSWITCH_PREFIX_RANGE[0])

    need_node = _largest_prefix_holding(max_nodes, VSWITCH_RESERVED_ADDRESSES)
    need = need_node
    if plugin == TERWAY:
        need_pod = min(
            _largest_prefix_holding(max_nodes * max_pods_per_node, VSWITCH_RESERVED_ADDRESSES),
            POD_VSWITCH_MAX_PREFIX,
        )
        need = min(need_node, need_pod)
        if need_pod < VSWITCH_PREFIX_RANGE[0]:
            errors.append(
                f"{keys.pods_per_node}: {max_nodes} nodes x {max_pods_per_node} pods = "
                f"{max_nodes * max_pods_per_node} pod addresses in one zone exceed the largest vSwitch "
                f"(/16, {usable_vswitch_addresses(16)} usable); lower maxPodsPerNode or use flannel"
            )
            return None
    if need_node < VSWITCH_PREFIX_RANGE[0]:
        errors.append(
            f"{keys.vpc}: {max_nodes} nodes in one zone exceed the largest vSwitch "
            f"(/16, {usable_vswitch_addresses(16)} usable); plan fewer nodes per cluster"
        )
        return None

    if slot_prefix > need:
        wanted_vpc = need - slot_bits
        kinds = "node and pod vSwitch" if plugin == TERWAY else "node vSwitch"
        have = max(0, usable_vswitch_addresses(min(slot_prefix, 32)))
        if plugin == TERWAY and slot_prefix > POD_VSWITCH_MAX_PREFIX and need == POD_VSWITCH_MAX_PREFIX:
            why = f"but ACK wants terway pod vSwitches of /{POD_VSWITCH_MAX_PREFIX} or larger"
        else:
            demand = f"{max_nodes} nodes" + (f" x {max_pods_per_node} pods" if plugin == TERWAY else "")
            why = f"too few for all {demand} in one zone after a zone outage"
        errors.append(
            f"{keys.vpc}: {vpc} gives each zone (room for {MAX_ZONES}) a /{slot_prefix} {kinds} ({have} usable after "
            f"Alibaba's {VSWITCH_RESERVED_ADDRESSES} reserved addresses), {why}; use a /{wanted_vpc} or larger "
            f"VPC, e.g. {IPv4Network((int(vpc.network_address), wanted_vpc), strict=False)}"
        )
        return None

    slots = list(vpc.subnets(new_prefix=slot_prefix))
    plan: list[ZoneSubnets] = []
    for i, zone in enumerate(zones):
        node = slots[i * per_zone]
        pod = slots[i * per_zone + 1] if plugin == TERWAY else None
        plan.append(ZoneSubnets(zone=zone, node_cidr=str(node), pod_cidr=None if pod is None else str(pod)))
    return tuple(plan)


def plan_network(
    *,
    vpc_cidr: str,
    zones: Sequence[str],
    network_plugin: str,
    max_nodes: int,
    max_pods_per_node: int,
    pod_cidr: str | None,
    service_cidr: str,
    key: str = "network",
    zones_key: str = "cloud.zones",
    min_zones: int = 2,
) -> tuple[NetworkPlan | None, list[str]]:
    """Plan vSwitches, pod and Service ranges; return (plan, []) or (None, every problem found).

    Messages name `<key>.vpcCidr`, `<key>.podCidr`, `<key>.serviceCidr`, `<key>.plugin`,
    `<key>.maxPodsPerNode` and `zones_key`. `max_nodes` comes from sizing, not from config, so a value below 1
    is a programming error and raises.
    """
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, got {max_nodes}")
    keys = _Keys(
        vpc=f"{key}.vpcCidr",
        pod=f"{key}.podCidr",
        service=f"{key}.serviceCidr",
        plugin=f"{key}.plugin",
        pods_per_node=f"{key}.maxPodsPerNode",
        zones=zones_key,
    )
    errors: list[str] = []

    plugin_ok = network_plugin in NETWORK_PLUGINS
    if not plugin_ok:
        errors.append(f"{keys.plugin}: {network_plugin!r} is not a network plugin ACK offers; use flannel or terway")
    pods_ok = max_pods_per_node >= 1
    if not pods_ok:
        errors.append(f"{keys.pods_per_node}: {max_pods_per_node} is below 1; allow at least 1 pod per node")
    zones_ok = _check_zones(zones, keys.zones, min_zones, errors)

    vpc = cidr.parse(vpc_cidr, keys.vpc, "the VPC CIDR", errors, canonical=False)
    vpc_ok = vpc is not None
    if vpc is not None:
        vpc_ok = cidr.check_private(vpc, keys.vpc, "an ACK cluster's VPC", errors) and vpc_ok
        vpc_ok = cidr.check_prefix(vpc, keys.vpc, "VPC CIDRs", VPC_PREFIX_RANGE, errors, cloud="Alibaba") and vpc_ok

    service = cidr.parse(service_cidr, keys.service, "the Service CIDR", errors, canonical=False)
    if service is not None:
        cidr.check_private(service, keys.service, "the Service CIDR", errors)
        cidr.check_prefix(service, keys.service, "Service CIDRs", SERVICE_PREFIX_RANGE, errors, cloud="Alibaba")

    pods: IPv4Network | None = None
    if network_plugin == TERWAY and pod_cidr is not None:
        errors.append(
            f"{keys.pod}: only flannel uses a pod CIDR; under terway pods take addresses from the pod "
            "vSwitches in the VPC, so remove it"
        )
    elif network_plugin == FLANNEL:
        if pod_cidr is None:
            avoid = [n for n in (vpc, service) if n is not None]
            errors.append(f"{keys.pod}: flannel needs a pod CIDR outside the VPC; {_suggestion(16, avoid)}")
        else:
            pods = cidr.parse(pod_cidr, keys.pod, "the pod CIDR", errors, canonical=False)
            if pods is not None:
                cidr.check_private(pods, keys.pod, "the flannel pod CIDR", errors)

    named = [(keys.vpc, vpc), (keys.pod, pods), (keys.service, service)]
    present = [(k, n) for k, n in named if n is not None]
    for i, (later_key, later) in enumerate(present):
        for earlier_key, earlier in present[:i]:
            if later.overlaps(earlier):
                others = [n for k, n in present if k != later_key]
                errors.append(
                    f"{later_key}: {later} overlaps {earlier_key} {earlier}; {_suggestion(later.prefixlen, others)}"
                )

    node_cidr_mask = PROVIDER_DEFAULT_NODE_CIDR_MASK
    if network_plugin == FLANNEL and pods_ok:
        mask = _node_cidr_mask(max_pods_per_node, keys.pods_per_node, errors)
        if mask is not None:
            node_cidr_mask = mask
            if pods is not None:
                _check_flannel_capacity(pods, mask, max_nodes, keys.pod, errors)

    layout: tuple[ZoneSubnets, ...] | None = None
    if vpc is not None and vpc_ok and zones_ok and plugin_ok and pods_ok:
        layout = _layout(vpc, list(zones), network_plugin, max_nodes, max_pods_per_node, keys, errors)

    if errors or layout is None or vpc is None or service is None:
        return None, errors
    return (
        NetworkPlan(
            vpc_cidr=str(vpc),
            zones=layout,
            pod_cidr=None if pods is None else str(pods),
            service_cidr=str(service),
            node_cidr_mask=node_cidr_mask,
        ),
        [],
    )


def _check_flannel_capacity(pods: IPv4Network, mask: int, max_nodes: int, key: str, errors: list[str]) -> None:
    if pods.prefixlen > mask:
        errors.append(
            f"{key}: {pods} is smaller than one node's /{mask} block; use a /{mask - math.ceil(math.log2(max_nodes))}"
            " or larger"
        )
        return
    blocks = 2 ** (mask - pods.prefixlen)
    if blocks < max_nodes:
        wanted = mask - math.ceil(math.log2(max_nodes))
        errors.append(
            f"{key}: {pods} holds {blocks} node blocks of /{mask}, fewer than the {max_nodes} nodes planned; "
            f"use a /{wanted} or larger"
        )
