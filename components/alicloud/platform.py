"""Alibaba Cloud's side of the seam: network, ACK cluster and load balancer, handed on as one `Platform`."""

from __future__ import annotations

import pulumi
import pulumi_alicloud as alicloud

from components import sizing
from components.alicloud.cluster import AckCluster
from components.alicloud.loadbalancer import NODE_PORTS, ClassicLoadBalancer
from components.alicloud.network import AlicloudNetwork
from components.alicloud.nlb import NLB_CLASS, NetworkLoadBalancer
from components.platform import Platform
from components.pools import pool_placement
from components.render.emqx import Placement, ServiceBinding
from components.settings import Settings
from components.tuning import render_ack_pre_user_data, render_conntrack_keeper

# ACK's CSI class that binds a disk only once its pod is scheduled (WaitForFirstConsumer): cloud disks are zonal, so
# a disk created before scheduling could land in a zone the core's spread constraint then cannot use.
DEFAULT_STORAGE_CLASS = "alicloud-disk-topology-alltype"


class AlicloudPlatform(pulumi.ComponentResource):
    platform: Platform
    provider: alicloud.Provider
    cluster_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    endpoints: pulumi.Output[dict[str, str]]
    dashboard_url: pulumi.Output[str]
    api_server_lb_id: pulumi.Output[str]
    load_balancer_id: pulumi.Output[str]
    api_server_acl_id: pulumi.Output[str] | None

    def __init__(self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("emqx-platform:alicloud:Platform", name, None, opts)
        assert settings.cloud and settings.network and settings.network.plan
        assert settings.system_pool and settings.emqx_pool
        # The region comes from the stack (cloud.region), never from whatever ALICLOUD_REGION the shell happens to
        # hold: zones and the address plan were validated against it. Children inherit this provider.
        self.provider = alicloud.Provider(f"{name}-alicloud", region=settings.cloud.region,
                                          opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, providers=[self.provider])
        tags = {"stack": settings.stack, "project": settings.project, **dict(settings.tags)}
        plan = settings.network.plan

        lb_settings = settings.load_balancer
        network = AlicloudNetwork(name, plan=plan, client_cidrs=settings.network.client_cidrs,
                                  admin_cidrs=settings.network.admin_cidrs, node_ports=NODE_PORTS,
                                  plugin=settings.network.plugin, nlb_probes=lb_settings.type == "nlb", tags=tags,
                                  protect=settings.cluster.deletion_protection, mqtt_ports=lb_settings.served_ports,
                                  opts=child)
        cluster = AckCluster(
            name,
            settings=settings.cluster,
            plugin=settings.network.plugin,
            pod_cidr=plan.pod_cidr,
            service_cidr=plan.service_cidr,
            # Flannel carves each node's pod block from the pod CIDR; the provider's default differs from ACK's.
            node_cidr_mask=plan.node_cidr_mask if plan.pod_cidr else None,
            zones=settings.cloud.zones,
            node_vswitch_ids=network.node_vswitch_ids,
            pod_vswitch_ids=network.pod_vswitch_ids,
            security_group_id=network.security_group_id,
            system_pool=settings.system_pool,
            emqx_pool=settings.emqx_pool,
            loadgen_pool=settings.loadgen_pool,
            tuning_script=render_ack_pre_user_data(settings.tuning),
            conntrack_keeper=render_conntrack_keeper(settings.tuning),
            # The reconciler needs only a shell and chroot: EMQX's image, from the registry the stack already uses.
            reconciler_image=settings.emqx.release.image,
            allowed_unsafe_sysctls=settings.tuning.kubelet_allowed_unsafe_sysctls(),
            vpc_cidr=plan.vpc_cidr,
            tags=tags,
            protect=settings.cluster.deletion_protection,
            # Nodes pull images and run ACK's setup as they boot: the NAT route must be there first.
            cloud_provider=self.provider,
            after=network.egress,
            core_pool=settings.core_pool,
            opts=child,
        )
        lb: ClassicLoadBalancer | NetworkLoadBalancer
        if lb_settings.type == "nlb":
            lb = NetworkLoadBalancer(name, settings=lb_settings, vpc_id=network.vpc_id,
                                     vswitch_ids=network.node_vswitch_ids, zones=settings.cloud.zones,
                                     client_cidrs=settings.network.client_cidrs,
                                     admin_cidrs=settings.network.admin_cidrs, plugin=settings.network.plugin,
                                     listener_cps=sizing.storm_cluster_rate(settings.sizing), tags=tags, opts=child)
        else:
            lb = ClassicLoadBalancer(name, settings=lb_settings, vswitch_id=network.node_vswitch_ids[0],
                                     zones=settings.cloud.zones, admin_cidrs=settings.network.admin_cidrs,
                                     plugin=settings.network.plugin, tags=tags, opts=child)
        emqx_selector, emqx_tolerations = pool_placement("emqx", dedicated=True)
        system_selector, _ = pool_placement("system", dedicated=False)
        core_placement = None
        if settings.core_pool is not None:
            core_selector, core_tolerations = pool_placement(settings.core_pool.name, dedicated=True)
            core_placement = Placement(node_selector=core_selector, tolerations=core_tolerations,
                                       zone_count=len(settings.cloud.zones))
        # Local: only nodes running EMQX become backends, and clients' source addresses reach EMQX.
        # An NLB is served by the CCM's NLB controller only for Services of its class (immutable on a Service).
        service = ServiceBinding(type="LoadBalancer", node_ports=NODE_PORTS, external_traffic_policy="Local",
                                 load_balancer_class=NLB_CLASS if lb_settings.type == "nlb" else None)
        self.platform = Platform(
            provider=cluster.provider,
            emqx_placement=Placement(node_selector=emqx_selector, tolerations=emqx_tolerations,
                                     zone_count=len(settings.cloud.zones)),
            system_placement=Placement(node_selector=system_selector, zone_count=len(settings.cloud.zones)),
            core_placement=core_placement,
            storage_class=settings.emqx.storage_class or DEFAULT_STORAGE_CLASS,
            listeners=service,
            dashboard=service,
            listener_annotations=lb.listener_annotations,
            dashboard_annotations=lb.dashboard_annotations,
            listener_addresses=lb.listener_addresses,
            listener_hostnames=lb.listener_hostnames,
            # The reconciler too: a raised open-file limit must reach containerd on running nodes before the
            # operator starts EMQX pods that expect it (EMQX_NODE__MAX_PORTS).
            depends_on=[*cluster.node_pools, cluster.reconciler, lb],
        )
        self.cluster_id = cluster.cluster_id
        self.api_server_lb_id = cluster.api_server_lb_id
        self.api_server_acl_id = cluster.api_server_acl_id
        self.kubeconfig = cluster.kubeconfig
        self.endpoints = lb.endpoints
        self.load_balancer_id = lb.load_balancer_id
        self.dashboard_url = lb.dashboard_url
        self.register_outputs({"cluster_id": self.cluster_id, "endpoints": self.endpoints,
                               "dashboard_url": self.dashboard_url})
