"""A CLB owned by the stack, with its TCP listeners and vServer groups; the ACK cloud controller (CCM) only fills the
groups with the nodes that run EMQX.

Why this split: the address survives re-creation of the EMQX resources and their Services (the CCM never owns the
load balancer), listeners carry our health checks, scheduler and idle timeout as reviewed code, and backends still
follow the pods as they scale, because the CCM binds each Service port to its vServer group through the
`vgroup-port` annotation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_alicloud as alicloud

from components.render.emqx import DASHBOARD_PORT, LISTENERS
from components.settings import LoadBalancerSettings

ANNOTATION = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
# Fixed node ports, so the security group can name them instead of opening the whole NodePort range.
NODE_PORTS: Mapping[int, int] = {1883: 31883, 8883: 31884, 8083: 31083, 8084: 31084, DASHBOARD_PORT: 31808}
SCHEMES = {1883: "mqtt", 8883: "mqtts", 8083: "ws", 8084: "wss"}


class ClassicLoadBalancer(pulumi.ComponentResource):
    load_balancer_id: pulumi.Output[str]
    address: pulumi.Output[str]
    listener_annotations: pulumi.Output[dict[str, str]]
    dashboard_annotations: pulumi.Output[dict[str, str]]
    endpoints: pulumi.Output[dict[str, str]]
    dashboard_url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        settings: LoadBalancerSettings,
        vswitch_id: pulumi.Input[str],
        zones: Sequence[str],
        admin_cidrs: Sequence[str],
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("emqx-platform:alicloud:ClassicLoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tagged = {**tags, "component": "loadbalancer"}
        clb = alicloud.slb.ApplicationLoadBalancer(
            f"{name}-clb",
            load_balancer_name=f"{name}-clb",
            address_type=settings.address_type,
            load_balancer_spec=settings.spec,
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

        # The dashboard and REST API answer only admin networks, whatever the address type.
        acl = alicloud.slb.Acl(f"{name}-admins", name=f"{name}-admins", ip_version="ipv4", tags=tagged, opts=child)
        for i, cidr in enumerate(admin_cidrs):
            alicloud.slb.AclEntryAttachment(f"{name}-admins-{i}", acl_id=acl.id, entry=cidr, comment="admin network",
                                            opts=child)

        hc = settings.health_check
        groups: dict[int, pulumi.Output[str]] = {}
        for port in [p for _, _, p in LISTENERS] + [DASHBOARD_PORT]:
            label = SCHEMES.get(port, "dashboard")
            group = alicloud.slb.ServerGroup(f"{name}-{label}", load_balancer_id=clb.id, name=f"{name}-{label}",
                                             tags=tagged, opts=child)
            groups[port] = group.id
            locked = port == DASHBOARD_PORT
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

        common = {f"{ANNOTATION}id": clb.id, f"{ANNOTATION}force-override-listeners": "false"}

        def binding(ports: Sequence[int]) -> pulumi.Output[dict[str, str]]:
            vgroup = pulumi.Output.all(*[groups[p] for p in ports]).apply(
                lambda ids: ",".join(f"{gid}:{p}" for gid, p in zip(ids, ports, strict=True))
            )
            return pulumi.Output.all(common[f"{ANNOTATION}id"], vgroup).apply(
                lambda v: {
                    f"{ANNOTATION}id": v[0],
                    f"{ANNOTATION}force-override-listeners": "false",
                    f"{ANNOTATION}vgroup-port": v[1],
                }
            )

        self.listener_annotations = binding([p for _, _, p in LISTENERS])
        self.dashboard_annotations = binding([DASHBOARD_PORT])
        self.endpoints = clb.address.apply(
            lambda a: {
                scheme: f"{scheme}://{a}:{port}" + ("/mqtt" if scheme in ("ws", "wss") else "")
                for port, scheme in SCHEMES.items()
            }
        )
        self.dashboard_url = clb.address.apply(lambda a: f"http://{a}:{DASHBOARD_PORT}")
        self.register_outputs({"address": self.address, "endpoints": self.endpoints,
                               "dashboard_url": self.dashboard_url})
