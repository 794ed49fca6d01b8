"""Address plan for an EKS cluster in one AWS VPC: a private and a public subnet per zone, in slots that never move.

Pure: no Pulumi import. `plan_addresses` checks every CIDR and the capacity of every subnet, collects every problem
as a one-line message that starts with the config key, and returns a plan only when there is none.

AWS limits used here, from AWS's own reference:
- VPC and subnet IPv4 blocks: "between a /16 netmask (65,536 IP addresses) and /28 netmask (16 IP addresses)";
  AWS reserves "the first four and the last IPv4 address in each subnet's CIDR block" (EC2 API CreateSubnet,
  CreateVpc; VPC User Guide "Subnet CIDR blocks"). A subnet's CIDR cannot change after creation, so a changed plan
  would replace the subnet and everything in it: hence the fixed slots.
- VPC ranges: RFC 1918 blocks are what the VPC User Guide recommends; publicly routable ranges are not accepted here.
- EKS Service CIDR (`kubernetes_network_config.service_ipv4_cidr`): private, /24 to /12, must not overlap the VPC
  (pulumi_aws eks/cluster.py docstring; EKS API KubernetesNetworkConfigRequest).
- VPC CNI gives every pod an address from its node's subnet, and by default keeps one spare ENI's worth of addresses
  warm on every node (amazon-vpc-cni-k8s docs, WARM_ENI_TARGET=1), so a node holds up to about twice the addresses
  its pods use: the private subnets are sized for that.

Layout (slot i is the zone's position in cloud.zones; append new zones at the end): the VPC is cut into 8 blocks;
blocks 0..3 are the private subnets of slots 0..3, block 7 is cut into 8 again and its first 4 are the public
subnets of slots 0..3; blocks 4..6 and the rest of block 7 stay free for later use. Nothing depends on how many
zones exist, so adding a zone never renumbers an existing subnet.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass

from components import cidr

IPv4Network = ipaddress.IPv4Network

VPC_PREFIX_RANGE = (16, 28)
SUBNET_PREFIX_RANGE = (16, 28)
SUBNET_RESERVED_ADDRESSES = 5
SERVICE_PREFIX_RANGE = (12, 24)
# Zones a plan leaves room for; most regions have 3 to 6 Availability Zones, and an EMQX cluster uses 2 or 3.
MAX_ZONES = 4
# log2 of the blocks the VPC is cut into (8): 4 private slots, 3 free blocks, 1 block for the public subnets.
_SPLIT_BITS = 3
_PUBLIC_BLOCK = 7
# Public subnets hold NAT gateways (one address each) and the internet-facing NLB. ELB: "verify that each
# Availability Zone subnet for your load balancer has a CIDR block with at least a /27 bitmask ... and at least
# eight free IP addresses per subnet" (ELB Network Load Balancers guide, network-load-balancers.html). The private
# subnets carry the internal NLB's addresses and are always larger.
LB_SUBNET_MAX_PREFIX = 27
# VPC CNI's warm pool: a node may hold about twice the pod addresses it uses (module docstring).
VPC_CNI_WARM_FACTOR = 2


@dataclass(frozen=True)
class ZoneSubnets:
    """The subnets of one zone; `slot` is its position in cloud.zones and fixes its CIDRs forever."""

    zone: str
    slot: int
    private_cidr: str  # nodes and pods (VPC CNI), the internal NLB's addresses
    public_cidr: str  # NAT gateway, internet-facing NLB


@dataclass(frozen=True)
class AddressPlan:
    vpc_cidr: str
    zones: tuple[ZoneSubnets, ...]
    service_cidr: str | None


def usable_subnet_addresses(prefixlen: int) -> int:
    """Addresses AWS lets resources take from a subnet of this size."""
    return 2 ** (32 - prefixlen) - SUBNET_RESERVED_ADDRESSES


def subnet_prefixes(vpc_prefixlen: int) -> tuple[int, int]:
    """(private, public) prefix lengths of every slot's subnets in a VPC of this size."""
    private = max(vpc_prefixlen + _SPLIT_BITS, SUBNET_PREFIX_RANGE[0])
    return private, private + _SPLIT_BITS


def slot_subnets(vpc: IPv4Network, slot: int) -> tuple[IPv4Network, IPv4Network]:
    """(private, public) subnets of one slot; depends on nothing but the VPC and the slot."""
    if not 0 <= slot < MAX_ZONES:
        raise ValueError(f"slot {slot} is outside 0..{MAX_ZONES - 1}")
    private_prefix, public_prefix = subnet_prefixes(vpc.prefixlen)
    block = 2 ** (32 - private_prefix)
    base = int(vpc.network_address)
    private = IPv4Network((base + slot * block, private_prefix))
    public_base = base + _PUBLIC_BLOCK * block
    public = IPv4Network((public_base + slot * 2 ** (32 - public_prefix), public_prefix))
    return private, public


def _zones(zones: Sequence[str], key: str, min_zones: int, errors: list[str]) -> bool:
    if isinstance(zones, str):
        errors.append(f"{key}: must be a list of Availability Zones, got the text {zones!r}; write it as a YAML list")
        return False
    ok = True
    blanks = [i for i, z in enumerate(zones) if not isinstance(z, str) or not z.strip()]
    if blanks:
        errors.append(f"{key}: entries {blanks} are empty; give each Availability Zone, e.g. eu-west-1a")
        ok = False
    seen: list[str] = []
    duplicates: list[str] = []
    for zone in zones:
        if isinstance(zone, str) and zone.strip():
            if zone in seen and zone not in duplicates:
                duplicates.append(zone)
            elif zone not in seen:
                seen.append(zone)
    if duplicates:
        errors.append(f"{key}: {', '.join(duplicates)} listed more than once; list each zone once")
        ok = False
    if len(zones) > MAX_ZONES:
        errors.append(f"{key}: {len(zones)} zones given; the address plan has {MAX_ZONES} fixed slots (a zone keeps "
                      f"its subnets when zones are added); use at most {MAX_ZONES}")
        ok = False
    if len(seen) < min_zones:
        errors.append(f"{key}: {len(seen)} distinct zone(s) given, at least {min_zones} needed (EKS requires subnets "
                      "in two Availability Zones; 3 recommended for production)")
        ok = False
    return ok


def plan_addresses(
    *,
    vpc_cidr: object,
    zones: Sequence[str],
    max_nodes: int,
    max_pods_per_node: int,
    service_cidr: object = None,
    key: str = "network",
    zones_key: str = "cloud.zones",
    min_zones: int = 2,
) -> tuple[AddressPlan | None, list[str]]:
    """Plan the subnets of every zone; return (plan, []) or (None, every problem found).

    Messages name `<key>.vpcCidr`, `<key>.serviceCidr` and `zones_key`. Every zone's private subnet is sized for all
    `max_nodes` nodes and their pods (after a zone outage the surviving zones scale up to the full count).
    `max_nodes` and `max_pods_per_node` come from sizing, not config: values below 1 are programming errors.
    """
    if max_nodes < 1 or max_pods_per_node < 1:
        raise ValueError(f"max_nodes and max_pods_per_node must be at least 1, got {max_nodes}, {max_pods_per_node}")
    vpc_key, service_key = f"{key}.vpcCidr", f"{key}.serviceCidr"
    errors: list[str] = []
    zones_ok = _zones(zones, zones_key, min_zones, errors)

    vpc = cidr.parse(vpc_cidr, vpc_key, "the VPC CIDR", errors, canonical=True)
    vpc_ok = vpc is not None
    if vpc is not None:
        vpc_ok = cidr.check_private(vpc, vpc_key, "the VPC", errors) and vpc_ok
        vpc_ok = cidr.check_prefix(vpc, vpc_key, "VPC CIDRs", VPC_PREFIX_RANGE, errors, cloud="AWS") and vpc_ok

    service: IPv4Network | None = None
    if service_cidr is not None:
        service = cidr.parse(service_cidr, service_key, "the Service CIDR", errors, canonical=True)
        if service is not None:
            cidr.check_private(service, service_key, "the Service CIDR", errors)
            cidr.check_prefix(service, service_key, "Service CIDRs", SERVICE_PREFIX_RANGE, errors, cloud="AWS")
            if vpc is not None and service.overlaps(vpc):
                errors.append(f"{service_key}: {service} overlaps {vpc_key} {vpc}; EKS needs a Service range outside "
                              "the VPC, e.g. 172.20.0.0/16 or 10.100.0.0/16 (EKS's own defaults)")

    if vpc is not None and vpc_ok:
        _check_capacity(vpc, max_nodes, max_pods_per_node, vpc_key, errors)

    if errors or vpc is None or not zones_ok:
        return None, errors
    planned = []
    for slot, zone in enumerate(zones):
        private, public = slot_subnets(vpc, slot)
        planned.append(ZoneSubnets(zone=zone, slot=slot, private_cidr=str(private), public_cidr=str(public)))
    return AddressPlan(vpc_cidr=str(vpc), zones=tuple(planned),
                       service_cidr=None if service is None else str(service)), []


def _check_capacity(vpc: IPv4Network, max_nodes: int, max_pods_per_node: int, key: str, errors: list[str]) -> None:
    private_prefix, public_prefix = subnet_prefixes(vpc.prefixlen)
    # Each node: its own primary address plus its pods' addresses, times the VPC CNI warm pool.
    needed = max_nodes * (max_pods_per_node + 1) * VPC_CNI_WARM_FACTOR
    public_short = public_prefix > LB_SUBNET_MAX_PREFIX
    private_short = usable_subnet_addresses(private_prefix) < needed
    if not (public_short or private_short):
        return
    # The largest prefix whose private slot holds `needed` (VPC = private slot - 3 bits), capped at AWS's /16.
    wanted = min(32 - math.ceil(math.log2(needed + SUBNET_RESERVED_ADDRESSES)) - _SPLIT_BITS,
                 LB_SUBNET_MAX_PREFIX - 2 * _SPLIT_BITS)
    if public_short:
        why = (f"each zone's public subnet would be a /{public_prefix}, smaller than the /{LB_SUBNET_MAX_PREFIX} a "
               "load balancer subnet needs")
    else:
        why = (f"each zone's private subnet is a /{private_prefix} ({usable_subnet_addresses(private_prefix)} usable "
               f"after AWS's {SUBNET_RESERVED_ADDRESSES} reserved addresses), too few for {max_nodes} nodes x "
               f"({max_pods_per_node} pods + 1) x {VPC_CNI_WARM_FACTOR} for VPC CNI's warm pool = {needed} in one "
               "zone after a zone outage")
    if wanted < VPC_PREFIX_RANGE[0]:
        errors.append(f"{key}: {vpc}: {why}; even a /16 VPC (AWS's largest) is too small: plan fewer nodes or "
                      "fewer pods per node")
        return
    errors.append(f"{key}: {vpc}: {why}; use a /{wanted} or larger VPC, e.g. "
                  f"{IPv4Network((int(vpc.network_address), wanted), strict=False)}")
