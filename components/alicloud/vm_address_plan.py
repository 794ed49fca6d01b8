"""Fixed private IPs for VM-mode EMQX nodes, from the node vSwitches of components/network_plan.py. Pure.

network_plan gives each zone a vSwitch CIDR but no host addresses; on VMs every node's address must be known before
any instance exists (the static seeds are rendered into user data), and must never change: `ecs.Instance.private_ip`
can only be set with `vswitch_id`, and changing it reboots the instance (pulumi-alicloud ecs.Instance), while the
node name `emqx@<ip>` is immutable for EMQX (emqx-docs deploy/cluster/create-cluster.md).

Rule: the k-th node of a role (k counts from 0 and only grows) lives in zone k mod Z and takes the address
network + host_offset + role_base + k of that zone's vSwitch. The address depends on nothing but the role, k and the
zone's CIDR, so adding nodes never renumbers existing ones, and two nodes never share an address (distinct role_base
+ k). Appending zones moves existing nodes to other zones (k mod Z changes): the settings must refuse that for a
running cluster, or pin zones per node.

Alibaba reserves the first address and the last three of every vSwitch (VPC API CreateVSwitch; network_plan header),
so an address must fall in [network + 1, broadcast - 3]. host_offset (default 10) keeps the lowest addresses clear;
the NAT gateway and the NLB's zone VIPs take an address of these vSwitches automatically, and Alibaba does not
document which. The load balancer is created after the nodes (VmLoadBalancer depends on them), so its VIPs cannot
take a node's address; the NAT gateway exists before them (nodes download the package through it), so a clash with
it would be a create error at the first `pulumi up`, never a silently moved node.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from components.alicloud.vm_spec import Role

DEFAULT_HOST_OFFSET = 10
# Replicants number from here: room for this many cores without either role renumbering the other.
ROLE_BASE: Mapping[Role, int] = {"core": 0, "replicant": 64}
# The last three addresses of a vSwitch are the system's (VPC API CreateVSwitch).
RESERVED_AT_END = 3


@dataclass(frozen=True)
class NodeAddress:
    role: Role
    ordinal: int
    zone: str
    vswitch_cidr: str
    private_ip: str


def usable_range(cidr: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    net = ipaddress.IPv4Network(cidr)
    return net.network_address + 1, net.broadcast_address - RESERVED_AT_END


def node_address(vswitch_cidr: str, role: Role, ordinal: int, host_offset: int = DEFAULT_HOST_OFFSET) -> str:
    """The fixed address of the `ordinal`-th node of `role` in a vSwitch; ValueError if it does not fit."""
    if ordinal < 0:
        raise ValueError(f"ordinal must be 0 or more, got {ordinal}")
    if host_offset < 1:
        raise ValueError(f"host_offset must be at least 1 (the vSwitch's first address is reserved), got {host_offset}")
    if role == "core" and ordinal >= ROLE_BASE["replicant"]:
        raise ValueError(f"at most {ROLE_BASE['replicant']} cores fit the address plan, got core {ordinal}")
    net = ipaddress.IPv4Network(vswitch_cidr)
    address = net.network_address + host_offset + ROLE_BASE[role] + ordinal
    low, high = usable_range(vswitch_cidr)
    if not low <= address <= high:
        raise ValueError(
            f"{role} {ordinal}: {address} is outside the usable addresses {low}-{high} of vSwitch {vswitch_cidr}; "
            "use a larger VPC (network.vpcCidr) or a smaller host offset"
        )
    return str(address)


def plan_addresses(zone_cidrs: Sequence[tuple[str, str]], role: Role, count: int,
                   host_offset: int = DEFAULT_HOST_OFFSET) -> tuple[NodeAddress, ...]:
    """Addresses for `count` nodes of one role spread over the zones, given as (zone, node vSwitch CIDR) pairs in the
    order of network_plan's plan (`[(z.zone, z.node_cidr) for z in plan.zones]`)."""
    if not zone_cidrs:
        raise ValueError("at least one zone is needed")
    out: list[NodeAddress] = []
    for k in range(count):
        zone, cidr = zone_cidrs[k % len(zone_cidrs)]
        out.append(NodeAddress(role=role, ordinal=k, zone=zone, vswitch_cidr=cidr,
                               private_ip=node_address(cidr, role, k, host_offset)))
    return tuple(out)
