"""An NLB owned by the stack, for targets one CLB cannot carry (components/load_balancer_tier.py): the same design
as the CLB in loadbalancer.py, one TCP listener and one server group per port, which the ACK cloud controller (CCM)
only fills with the nodes (or pods) that run EMQX.

Why the design carries over: the CCM's NLB controller (cloud-provider-alibaba-cloud pkg/controller/service/nlbv2,
Services with `loadBalancerClass: alibabacloud.com/nlb`) reuses an NLB named by the `...-loadbalancer-id`
annotation as user-managed, skips its listeners when `force-override-listeners` is "false" (model_applier.go), and
binds each Service port to a server group of ours through `vgroup-port` (server_groups.go setServerGroupServers:
it refuses only groups it created itself). It then adds nodes at the node port (Local, server group type Instance)
or pod ENIs, as the Service's backend-type says.

What differs from the CLB: an NLB has an address per zone (clients dial its DNS name), no ACL (the dashboard is
restricted by a security group on the NLB), health checks every 5-50 s, connection draining on the server group,
and a new-connections/s limit per listener. TLS stays on EMQX (the certificates are the listeners'); the NLB could
terminate it (TCPSSL listeners), but then EMQX would no longer see client certificates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_alicloud as alicloud

from components import load_balancer_tier, sizing
from components.alicloud.loadbalancer import SCHEMES, endpoints, service_annotations
from components.alicloud.network import cidr_label
from components.render.emqx import DASHBOARD_PORT, dashboard_url
from components.settings import LoadBalancerSettings

NLB_CLASS = "alibabacloud.com/nlb"  # cloud-provider-alibaba-cloud pkg/controller/helper/service_utils.go NLBClass
# nlb.ServerGroup scheduler values (terraform-provider-alicloud resource_alicloud_nlb_server_group: Wrr, Rr, Sch, Tch,
# Qch); the settings refuse wlc for an NLB.
SCHEDULERS = {"wrr": "Wrr", "rr": "Rr"}
# Longer than an EMQX pod's stop (terminationGracePeriodSeconds, sizing.ROLLOUT_POD_STOP_SECONDS): when the CCM
# removes a backend whose pod is stopping, the pod closes its connections itself before the NLB would cut them.
CONNECTION_DRAIN_SECONDS = max(10, 2 * sizing.ROLLOUT_POD_STOP_SECONDS)


class NetworkLoadBalancer(pulumi.ComponentResource):
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
        vpc_id: pulumi.Input[str],
        vswitch_ids: Sequence[pulumi.Input[str]],
        zones: Sequence[str],
        client_cidrs: Sequence[str],
        admin_cidrs: Sequence[str],
        plugin: str,
        listener_cps: int,
        tags: Mapping[str, str],
        ports: Sequence[int] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("emqx-platform:alicloud:NetworkLoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tagged = {**tags, "component": "loadbalancer"}

        # An NLB has no ACL: a security group on it decides who reaches which listener.
        sg = alicloud.ecs.SecurityGroup(f"{name}-nlb-sg", security_group_name=f"{name}-nlb", vpc_id=vpc_id,
                                        description="EMQX NLB: MQTT from clients, dashboard from admins",
                                        tags=tagged, opts=child)
        # The NLB probes its own VIPs with ICMP to keep them in its DNS name ('Performance metrics and limits',
        # other limits); the same rule serves path-MTU discovery.
        alicloud.ecs.SecurityGroupRule(f"{name}-nlb-sg-icmp", security_group_id=sg.id, type="ingress",
                                       ip_protocol="icmp", port_range="-1/-1", cidr_ip="0.0.0.0/0", policy="accept",
                                       nic_type="intranet", priority=1, description="ICMP (VIP probes, PMTU)",
                                       opts=child)
        # Only the listeners the settings serve (TLS only on the internet unless allowPlainText).
        # `ports`: VM mode without a listener key pair serves the plain-text ports only (vm_cluster_spec.py).
        mqtt_ports = tuple(ports) if ports is not None else settings.served_ports
        allowed = [(port, cidr, "MQTT clients") for port in mqtt_ports for cidr in client_cidrs]
        allowed += [(DASHBOARD_PORT, cidr, "EMQX dashboard and API") for cidr in admin_cidrs]
        for port, cidr, why in allowed:
            alicloud.ecs.SecurityGroupRule(f"{name}-nlb-sg-{port}-{cidr_label(cidr)}", security_group_id=sg.id,
                                           type="ingress", ip_protocol="tcp", port_range=f"{port}/{port}",
                                           cidr_ip=cidr, policy="accept", nic_type="intranet", priority=1,
                                           description=why, opts=child)

        nlb = alicloud.nlb.LoadBalancer(
            f"{name}-nlb",
            load_balancer_name=f"{name}-nlb",
            address_type="Intranet" if settings.address_type == "intranet" else "Internet",
            vpc_id=vpc_id,
            # One VIP per zone, in the zone's node vSwitch: limits grow with the zones (load_balancer_tier).
            zone_mappings=[alicloud.nlb.LoadBalancerZoneMappingArgs(vswitch_id=vsw, zone_id=zone)
                           for vsw, zone in zip(vswitch_ids, zones, strict=True)],
            security_group_ids=[sg.id],
            deletion_protection_config=alicloud.nlb.LoadBalancerDeletionProtectionConfigArgs(
                enabled=settings.deletion_protection,
                reason="EMQX-address-kept" if settings.deletion_protection else None,
            ),
            tags=tagged,
            opts=pulumi.ResourceOptions(parent=self, protect=settings.deletion_protection),
        )
        self.load_balancer_id = nlb.id
        self.address = nlb.dns_name
        # Clients dial the NLB's DNS name (its VIPs follow the zones): our own CA's certificate must name it.
        self.listener_hostnames = nlb.dns_name.apply(lambda n: [n] if n else [])
        # The zone VIPs, for the listener certificate's IP SANs (clients that dial an address rather than the name).
        self.listener_addresses = nlb.zone_mappings.apply(
            lambda zms: [a for z in zms if (a := z.private_ipv4_address if settings.address_type == "intranet"
                                            else z.public_ipv4_address)]
        )

        hc = settings.health_check
        groups: dict[int, pulumi.Output[str]] = {}
        for port in [*mqtt_ports, DASHBOARD_PORT]:
            label = SCHEMES.get(port, "dashboard")
            group = alicloud.nlb.ServerGroup(
                f"{name}-nlb-{label}",
                server_group_name=f"{name}-nlb-{label}",
                # Instance groups take the ECS (node port) or ENI (pod) backends the CCM adds.
                server_group_type="Instance",
                protocol="TCP",
                vpc_id=vpc_id,
                scheduler=SCHEDULERS[settings.scheduler],
                # EMQX and the security group see the client's own address, as behind the CLB.
                preserve_client_ip_enabled=True,
                connection_drain_enabled=True,
                connection_drain_timeout=CONNECTION_DRAIN_SECONDS,
                health_check=alicloud.nlb.ServerGroupHealthCheckArgs(
                    health_check_enabled=True,
                    health_check_type="TCP",
                    health_check_interval=hc.interval_seconds,
                    health_check_connect_timeout=hc.timeout_seconds,
                    healthy_threshold=hc.healthy_threshold,
                    unhealthy_threshold=hc.unhealthy_threshold,
                ),
                tags=tagged,
                opts=child,
            )
            groups[port] = group.id
            alicloud.nlb.Listener(
                f"{name}-nlb-{label}",
                load_balancer_id=nlb.id,
                listener_protocol="TCP",
                listener_port=port,
                server_group_id=group.id,
                # MQTT connections are long-lived and mostly idle between PINGREQs.
                idle_timeout=settings.idle_timeout_seconds,
                # A reconnect storm passes at the rate the cluster admits it (each listener's max_conn_rate on
                # every client node, sizing.storm_cluster_rate); beyond it the NLB refuses and clients back off.
                cps=min(listener_cps, load_balancer_tier.NLB_MAX_LISTENER_CPS) if port in SCHEMES else None,
                listener_description=f"{label} -> EMQX",
                tags=tagged,
                opts=child,
            )

        # Port -> server group: the cloud controller fills them on ACK, VM mode registers its instances itself.
        self.server_group_ids = groups
        self.listener_annotations = service_annotations(nlb.id, groups, mqtt_ports, plugin)
        self.dashboard_annotations = service_annotations(nlb.id, groups, [DASHBOARD_PORT], plugin)
        self.endpoints = endpoints(nlb.dns_name, mqtt_ports)
        self.dashboard_url = nlb.dns_name.apply(dashboard_url)
        self.register_outputs({"address": self.address, "endpoints": self.endpoints,
                               "dashboard_url": self.dashboard_url})
