"""What the VM-mode components (`mode: vm`, EMQX on plain ECS instances) take: one plan per node and the cluster's
shared choices. Pure: no Pulumi import, so the cloud-init renderer and the settings can build and read them too.

A node's name, role, zone and private IP are fixed before any instance exists (vm_address_plan): the static seeds
in every node's user data are then known at render time, and a node keeps its name for life (EMQX node names are
immutable: emqx-docs deploy/cluster/create-cluster.md).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

Role = Literal["core", "replicant"]
ROLES: tuple[Role, ...] = ("core", "replicant")


@dataclass(frozen=True)
class DiskSpec:
    size_gib: int
    # ESSD: the category every current instance family takes (pulumi-alicloud ecs.Instance system_disk_category).
    category: str = "cloud_essd"


@dataclass(frozen=True)
class VmNodePlan:
    """One ECS instance running one EMQX node."""

    name: str  # resource and instance name part, e.g. "core-0"; also the host name
    role: Role
    zone: str
    # The node vSwitch's CIDR in that zone (network_plan.ZoneSubnets.node_cidr); the instance takes the zone's vSwitch.
    vswitch_cidr: str
    private_ip: str
    instance_type: str
    system_disk: DiskSpec
    # Cores keep the cluster's durable state (Mria/Mnesia under /var/lib/emqx) on a disk of their own; replicants
    # are stateless (emqx-docs deploy/cluster/mria-introduction.md) and get none.
    data_disk: DiskSpec | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"{self.name}: role must be core or replicant, got {self.role!r}")
        if self.role == "replicant" and self.data_disk is not None:
            raise ValueError(f"{self.name}: a replicant keeps no durable state; give it no data disk")
        if self.role == "core" and self.data_disk is None:
            raise ValueError(f"{self.name}: a core keeps the cluster's state; give it a data disk")
        if ipaddress.ip_address(self.private_ip) not in ipaddress.ip_network(self.vswitch_cidr):
            raise ValueError(f"{self.name}: {self.private_ip} is outside its vSwitch {self.vswitch_cidr}")

    @property
    def emqx_node_name(self) -> str:
        # name@IP: the form EMQ's own VM deployments use with static seeds (VM.md §1), known before boot.
        return f"emqx@{self.private_ip}"


@dataclass(frozen=True)
class SecretNames:
    """OOS encryption parameter names (2-180 characters of letters, digits, -, /, _; not starting with ALIYUN, ACS,
    ALIBABA, ALICLOUD or OOS: pulumi-alicloud oos.SecretParameter). The node reads them at boot by these names."""

    cookie: str
    dashboard_password: str
    license: str | None = None  # Enterprise only
    # The PEM chain and key EMQX serves on 8883/8084 (the load balancer passes TLS through).
    tls_cert: str | None = None
    tls_key: str | None = None
    # The built-in database's bootstrap file (hashed users, render/auth.py bootstrap_users).
    mqtt_users: str | None = None

    def all(self) -> tuple[str, ...]:
        return tuple(n for n in (self.cookie, self.dashboard_password, self.license, self.tls_cert, self.tls_key,
                                 self.mqtt_users) if n)


@dataclass(frozen=True)
class VmClusterSpec:
    """The shared choices of one VM-mode EMQX cluster."""

    # An ECS image ID. ecs.Instance takes no image family: resolve a family to an ID before (ecs.get_images) and pin
    # it; the nodes ignore later image changes anyway (vm_nodes).
    image_id: str
    nodes: tuple[VmNodePlan, ...]
    secret_names: SecretNames
    tags: tuple[tuple[str, str], ...] = ()
    protect: bool = False
    # The instance RAM role's name (RAM role names: 1-64 characters of letters, digits, '.', '-', '_').
    role_name: str = "emqx-node"
    # KMS key for the OOS encryption parameters; None: OOS's default service key.
    kms_key_id: str | None = None
    # Cloud disks encrypted at rest with the account's default ECS key (ESSD supports it on current families).
    encrypt_disks: bool = True
    # How long one node's day-two command may run: package install, restart and rejoin (vm_rollout).
    rollout_timeout_seconds: int = 900

    def __post_init__(self) -> None:
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise ValueError(f"node names must be unique, got {names}")
        ips = [n.private_ip for n in self.nodes]
        if len(set(ips)) != len(ips):
            raise ValueError(f"node private IPs must be unique, got {ips}")
        if not any(n.role == "core" for n in self.nodes):
            raise ValueError("a cluster needs at least one core node")

    @property
    def cores(self) -> tuple[VmNodePlan, ...]:
        return tuple(n for n in self.nodes if n.role == "core")

    @property
    def seeds(self) -> tuple[str, ...]:
        # Cores are the static seeds; replicants find the cores through them (VM.md §2, PERF-TF core-only seeds).
        return tuple(n.emqx_node_name for n in self.cores)
