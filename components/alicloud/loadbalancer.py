"""A CLB owned by the stack, with its TCP listeners and vServer groups; the ACK cloud controller (CCM) only fills the
groups with the nodes (or pods) that run EMQX. `nlb.py` is the same design on an NLB, for targets one CLB cannot
carry (components/load_balancer_tier.py).

Why this split: the address survives re-creation of the EMQX resources and their Services (the CCM never owns the
load balancer), listeners carry our health checks, scheduler and idle timeout as reviewed code, and backends still
follow the pods as they scale, because the CCM binds each Service port to its vServer group through the
`vgroup-port` annotation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_alicloud as alicloud

from components.alicloud.network import cidr_label
from components.render.emqx import DASHBOARD_PORT, LISTENERS, client_urls, dashboard_url
from components.settings import LoadBalancerSettings

ANNOTATION = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
# The CCM's backend kind (cloud-provider-alibaba-cloud pkg/controller/helper/service_utils.go BackendType): nodes at
# the node port under flannel, whose pod addresses are not in the VPC; the pods' own ENIs under terway. Set rather
# than left to the cluster's default, because the security group opens exactly the ports this choice dials
# (network.backend_ports).
BACKEND_TYPE = "service.beta.kubernetes.io/backend-type"
BACKEND_TYPES = {"flannel": "ecs", "terway": "eni"}
# Fixed node ports, so the security group can name them instead of opening the whole NodePort range.
NODE_PORTS: Mapping[int, int] = {1883: 31883, 8883: 31884, 8083: 31083, 8084: 31084, DASHBOARD_PORT: 31808}
SCHEMES = {1883: "mqtt", 8883: "mqtts", 8083: "ws", 8084: "wss"}
MQTT_PORTS: tuple[int, ...] = tuple(p for _, _, p in LISTENERS)


def service_annotations(load_balancer_id: pulumi.Input[str], groups: Mapping[int, pulumi.Input[str]],
                        ports: Sequence[int], plugin: str) -> pulumi.Output[dict[str, str]]:
    """What binds a Service to the stack's load balancer: the CCM reuses it (`id`), leaves its listeners alone
    (`force-override-listeners: "false"`) and only keeps each port's group filled (`vgroup-port`). The same
    annotations serve CLB and NLB (CCM clbv1 and nlbv2 both honour a user-managed load balancer and groups)."""
    vgroup = pulumi.Output.all(*[groups[p] for p in ports]).apply(
        lambda ids: ",".join(f"{gid}:{p}" for gid, p in zip(ids, ports, strict=True))
    )
    return pulumi.Output.all(load_balancer_id, vgroup).apply(
        lambda v: {
            f"{ANNOTATION}id": v[0],
            f"{ANNOTATION}force-override-listeners": "false",
            f"{ANNOTATION}vgroup-port": v[1],
            BACKEND_TYPE: BACKEND_TYPES[plugin],
        }
    )


def endpoints(address: pulumi.Output[str], ports: Sequence[int] = MQTT_PORTS) -> pulumi.Output[dict[str, str]]:
    return address.apply(lambda a: client_urls(a, ports))


class ClassicLoadBalancer(pulumi.ComponentResource):
    load_balancer_id: pulumi.Output[str]
    address: pulumi.Output[str]
    listener_addresses: pulumi.Output[list[str]]
    listener_hostnames: pulumi.Output[list[str]]
    listener_annotations: pulumi.Output[dict[str, str]]
    dashboard_annotations: pulumi.Output[dict[str, str]]
    endpoints: pulumi.Output[dict[str, str]]
    dashboard_url: pulumi.Output[str]
    server_group_ids: dict[int, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        *,
        settings: LoadBalancerSettings,
        vswitch_id: pulumi.Input[str],
        zones: Sequence[str],
        admin_cidrs: Sequence[str],
        plugin: str,
        tags: Mapping[str, str],
        ports: Sequence[int] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("emqx-platform:alicloud:ClassicLoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tagged = {**tags, "component": "loadbalancer"}
        clb = alicloud.slb.ApplicationLoadBalancer(
            f"{name}-clb",
            load_balancer_name=f"{name}-clb",
            address_type=settings.address_type,
            # Pay-as-you-go CLBs are sold only pay-by-LCU since 2025-06-01 (CreateLoadBalancer); such an instance
            # scales by itself and takes no spec (the provider ignores load_balancer_spec with PayByCLCU). An
            # existing pay-by-spec CLB is converted in place (ModifyLoadBalancerInstanceChargeType), not replaced.
            instance_charge_type="PayByCLCU",
            # An intranet CLB lives in a vSwitch; an internet one takes a public address instead.
            vswitch_id=vswitch_id if settings.address_type == "intranet" else None,
            master_zone_id=zones[0],
            slave_zone_id=zones[1] if len(zones) > 1 else None,
            payment_type="PayAsYouGo",
            delete_protection="on" if settings.deletion_protection else "off",
            tags=tagged,
            opts=pulumi.ResourceOptions(parent=self, protect=settings.deletion_protection),
        )
        self.load_balancer_id = clb.id
        self.address = clb.address
        self.listener_addresses = clb.address.apply(lambda a: [a] if a else [])
        # A CLB is dialled by its address; it has no DNS name of its own.
        self.listener_hostnames = pulumi.Output.from_input([])

        # The dashboard and REST API answer only admin networks, whatever the address type.
        acl = alicloud.slb.Acl(f"{name}-admins", name=f"{name}-admins", ip_version="ipv4", tags=tagged, opts=child)
        for i, cidr in enumerate(admin_cidrs):
            # Named by CIDR, so removing one admin network leaves the others' entries alone. The alias adopts the
            # entry created under its old positional name instead of adding the same CIDR twice (refused by the
            # ACL) and deleting it after; it assumes admin_cidrs is unchanged by the first update with this code.
            alicloud.slb.AclEntryAttachment(f"{name}-admins-{cidr_label(cidr)}", acl_id=acl.id, entry=cidr,
                                            comment="admin network",
                                            opts=pulumi.ResourceOptions(parent=self, aliases=[
                                                pulumi.Alias(name=f"{name}-admins-{i}")]))

        hc = settings.health_check
        groups: dict[int, pulumi.Output[str]] = {}
        # Only the listeners the settings serve (TLS only on the internet unless allowPlainText): with no listener a
        # port is not reachable through the load balancer, whatever the CCM does with the Service's other ports (it
        # leaves the listeners of a reused load balancer alone: force-override-listeners "false").
        # `ports`: VM mode without a listener key pair serves the plain-text ports only (vm_cluster_spec.py).
        mqtt_ports = tuple(ports) if ports is not None else settings.served_ports
        for port in [*mqtt_ports, DASHBOARD_PORT]:
            label = SCHEMES.get(port, "dashboard")
            group = alicloud.slb.ServerGroup(f"{name}-{label}", load_balancer_id=clb.id, name=f"{name}-{label}",
                                             tags=tagged, opts=child)
            groups[port] = group.id
            locked = port == DASHBOARD_PORT
            # No new-connection limit here: a CLB listener has none to set (slb.Listener offers `bandwidth`, a
            # throughput cap); EMQX's per-listener max_conn_rate paces a reconnect storm instead.
            alicloud.slb.Listener(
                f"{name}-{label}",
                load_balancer_id=clb.id,
                protocol="tcp",
                frontend_port=port,
                server_group_id=group.id,
                scheduler=settings.scheduler,
                # MQTT connections are long-lived and mostly idle between PINGREQs.
                established_timeout=settings.idle_timeout_seconds,
                health_check="on",
                health_check_type="tcp",
                health_check_interval=hc.interval_seconds,
                health_check_timeout=hc.timeout_seconds,
                healthy_threshold=hc.healthy_threshold,
                unhealthy_threshold=hc.unhealthy_threshold,
                acl_status="on" if locked else "off",
                acl_type="white" if locked else None,
                acl_ids=[acl.id] if locked else None,
                description=f"{label} -> EMQX",
                opts=child,
            )

        # Port -> server group: the cloud controller fills them on ACK, VM mode registers its instances itself.
        self.server_group_ids = groups
        self.listener_annotations = service_annotations(clb.id, groups, mqtt_ports, plugin)
        self.dashboard_annotations = service_annotations(clb.id, groups, [DASHBOARD_PORT], plugin)
        self.endpoints = endpoints(clb.address, mqtt_ports)
        self.dashboard_url = clb.address.apply(dashboard_url)
        self.register_outputs({"address": self.address, "endpoints": self.endpoints,
                               "dashboard_url": self.dashboard_url})
