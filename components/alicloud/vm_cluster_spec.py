"""What a VM-mode cluster is made of, decided from the settings before any resource exists: the node plans (cores
first, spread over the zones, fixed addresses), the secret parameter names, and each node's renderer spec. Pure: no
Pulumi import, so the tests check seeds, addresses and user data without a deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.alicloud import vm_address_plan
from components.alicloud.vm_spec import DiskSpec, SecretNames, VmClusterSpec, VmNodePlan
from components.render import vm_node
from components.render.emqx import LISTENERS
from components.render.vm_node import AliyunCli, EmqxPackage, OosSecretSource, VmListeners, VmNodeSpec

if TYPE_CHECKING:
    from components.settings import Settings

# Enough for the OS, the EMQX package and its logs (/var/log/emqx); the cores' state lives on their data disk.
SYSTEM_DISK_GIB = 40
# Cloud-init's join wait (render/vm_node.py) plus the package download and install: one node's day-two run.
ROLLOUT_TIMEOUT_SECONDS = 1800
# CLB health checks come from 100.64.0.0/10, which backend security groups must admit (Alibaba CLB "Health check
# FAQ"); an NLB probes from its own addresses in the node vSwitches (nlb.py).
CLB_PROBE_CIDRS: tuple[str, ...] = ("100.64.0.0/10",)


@dataclass(frozen=True)
class VmPlan:
    cluster: VmClusterSpec
    nodes: tuple[VmNodeSpec, ...]  # in cluster.nodes order: cores first

    @property
    def core_seeds(self) -> tuple[str, ...]:
        return self.cluster.seeds


def node_plans(settings: Settings) -> tuple[VmNodePlan, ...]:
    """Cores, then replicants, each role spread over the zones in the address plan's order (vm_address_plan)."""
    vm = settings.vm
    assert vm is not None
    zones = [(z.zone, z.node_cidr) for z in vm.plan.zones]
    out: list[VmNodePlan] = []
    for role, spec in (("core", vm.cores), ("replicant", vm.replicants)):
        for a in vm_address_plan.plan_addresses(zones, role, spec.count):  # type: ignore[arg-type]
            out.append(VmNodePlan(
                name=f"{a.role}-{a.ordinal}", role=a.role, zone=a.zone, vswitch_cidr=a.vswitch_cidr,
                private_ip=a.private_ip, instance_type=spec.instance_type, system_disk=DiskSpec(SYSTEM_DISK_GIB),
                data_disk=DiskSpec(spec.disk_gib) if a.role == "core" else None,
            ))
    return tuple(out)


def secret_names(name: str, settings: Settings, *, users: bool) -> SecretNames:
    """OOS parameter names under the stack's prefix (letters, digits, '-', '/', '_': oos.SecretParameter)."""
    return SecretNames(
        cookie=f"{name}/cookie",
        dashboard_password=f"{name}/dashboard-password",
        license=f"{name}/license" if settings.license_key is not None else None,
        tls_cert=f"{name}/tls-cert" if settings.tls_certificate is not None else None,
        tls_key=f"{name}/tls-key" if settings.tls_private_key is not None else None,
        mqtt_users=f"{name}/mqtt-users" if users else None,
    )


def served_ports(settings: Settings) -> tuple[int, ...]:
    """The MQTT ports the load balancer forwards and EMQX listens on: TLS ends on EMQX (the load balancer passes TCP
    through, as nlb.py), so the TLS ports are served only when the stack gives the nodes a key pair; the settings
    refuse a stack left with no port (components/settings/vm.py tls_problems)."""
    key_pair = settings.tls_certificate is not None and settings.tls_private_key is not None
    ports = tuple(p for kind, _, p in LISTENERS
                  if p in settings.load_balancer.served_ports and (key_pair or kind not in ("ssl", "wss")))
    if not ports:
        raise ValueError("no MQTT port to serve: set tlsCertificate and tlsPrivateKey, or loadBalancer.allowPlainText")
    return ports


def vm_plan(name: str, settings: Settings) -> VmPlan:
    """The cluster spec and every node's renderer spec; ValueError with every problem at once."""
    vm = settings.vm
    assert vm is not None and settings.cloud is not None
    users = settings.mqtt_users is not None and settings.emqx.auth.built_in_database
    names = secret_names(name, settings, users=users)
    cluster = VmClusterSpec(
        image_id=vm.image_id,
        nodes=node_plans(settings),
        secret_names=names,
        tags=(("stack", settings.stack), ("project", settings.project), *settings.tags),
        protect=vm.deletion_protection,
        role_name=f"{name}-node",
        rollout_timeout_seconds=ROLLOUT_TIMEOUT_SECONDS,
    )
    release = settings.emqx.release
    package = EmqxPackage(edition=release.edition, version=release.version, sha256=dict(vm.package.sha256),
                          mirror_base_url=vm.package.mirror_base_url)
    source = OosSecretSource(region=settings.cloud.region, ram_role_name=cluster.role_name,
                             cli=AliyunCli(vm.aliyun_cli_url, vm.aliyun_cli_sha256))
    served = served_ports(settings)
    listeners = VmListeners(
        max_connections_per_node=settings.sizing.max_connections_per_node,
        acceptors=settings.emqx.acceptors,
        tls="node",
        served_ports=tuple(served),
    )
    secrets = vm_node.SecretNames(cookie=names.cookie, dashboard_password=names.dashboard_password,
                                  license=names.license, tls_cert=names.tls_cert, tls_key=names.tls_key,
                                  mqtt_users=names.mqtt_users)
    profile = vm_node.vm_tuning(settings.tuning)
    specs = tuple(
        VmNodeSpec(node_name=n.emqx_node_name, role=n.role, core_seeds=cluster.seeds, package=package, os=vm.os,
                   arch=vm.arch, tuning=profile, listeners=listeners, secrets=secrets, secret_source=source,
                   auth=settings.emqx.auth,
                   # The disk vm_nodes attaches to a core: without this its state would stay on the system disk.
                   data_disk_gib=n.data_disk.size_gib if n.data_disk is not None else None)
        for n in cluster.nodes
    )
    return VmPlan(cluster=cluster, nodes=specs)
