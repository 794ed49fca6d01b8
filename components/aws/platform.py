"""AWS's side of the seam: VPC, EKS cluster, node groups, NLB, in-cluster controllers and storage, handed on as one
`Platform` (the workloads never branch on the cloud).

Order, as the pieces need it: network -> cluster (pre-node add-ons: pod identity agent, vpc-cni, kube-proxy) ->
node groups (after their zone's NAT route) -> coredns -> load balancer controller, EBS CSI add-on and StorageClass,
Cluster Autoscaler (when a pool has rollout room) -> the workloads (Platform.depends_on). The TargetGroupBindings are
companions: EmqxCluster creates them in the EMQX namespace after it exists and before the EMQX resource, so the
controller's readiness gates are injected into the first EMQX pods.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components import sizing
from components.aws.autoscaler import AutoscalerSpec, ClusterAutoscaler
from components.aws.cluster import EksCluster
from components.aws.lb_controller import AwsLoadBalancerController, LbControllerSpec
from components.aws.load_balancer import AwsLoadBalancer, AwsLoadBalancerSpec
from components.aws.network import AwsNetwork
from components.aws.node_groups import EksNodeGroups
from components.aws.spec import AwsNetworkSpec, EksClusterSpec, NodeGroupSpec, Scaling, zonal_scaling
from components.aws.storage import STORAGE_CLASS, EbsStorage, EbsStorageSpec
from components.platform import Companion, Platform
from components.pools import EMQX_CORE_POOL, pool_placement
from components.render.emqx import Placement, ServiceBinding
from components.render.target_group_binding import emqx_target_group_bindings
from components.settings import NodePoolSettings, Settings
from components.settings.aws import partition_of
from components.tuning import render_eks_user_data

# The namespace label that makes the load balancer controller inject its readiness gates into the EMQX pods
# (aws-load-balancer-controller docs/deploy/pod_readiness_gate.md): a rollout then waits until each new pod is
# healthy in the NLB's target group before the operator removes an old one.
READINESS_GATE_LABEL = {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}

# How long the NLB keeps a deregistered EMQX pod's connections open. The controller deregisters a pod when it starts
# terminating (it keeps only ready endpoints, and a terminating pod's is not: aws-load-balancer-controller v3.5.0
# pkg/backend/endpoint_resolver.go); from then on only the pod's stop is left (terminationGracePeriodSeconds,
# sizing.ROLLOUT_POD_STOP_SECONDS), in which EMQX closes its own connections and clients reconnect through the
# healthy targets. Twice that stop lets EMQX close them itself; connection termination then cuts what a hung pod
# left. Not the rollout's duration (sizing.rollout_seconds): an Enterprise evacuation moves the clients off while
# the old pod is still a registered, healthy target, so a longer delay would hold nothing but a draining entry. The
# same rule as the Alibaba NLB's connection drain (components/alicloud/nlb.py CONNECTION_DRAIN_SECONDS).
DEREGISTRATION_DELAY_SECONDS = max(10, 2 * sizing.ROLLOUT_POD_STOP_SECONDS)


def fixed_scaling(pool: NodePoolSettings) -> Scaling:
    """A group that spans the zones and never grows: count nodes at rest and at the peak."""
    return Scaling(pool.count, pool.count, pool.count)


def node_group_specs(settings: Settings, user_data: str) -> list[NodeGroupSpec]:
    """The system group, the EMQX groups (one per zone, rollout room as on Alibaba: min = count, max = count +
    surge, split over the zones) and, when enabled, the load-generator group. Tuned nodes (EMQX and load
    generators, as the ACK pools) get the tuning renderer's user data."""
    assert settings.cloud and settings.system_pool and settings.emqx_pool
    system, emqx, loadgen = settings.system_pool, settings.emqx_pool, settings.loadgen_pool
    specs = [
        NodeGroupSpec(role="system", instance_types=system.instance_types, scaling=(fixed_scaling(system),),
                      disk_gib=system.disk_gib),
        NodeGroupSpec(role="emqx", instance_types=emqx.instance_types,
                      scaling=zonal_scaling(emqx.count, emqx.rollout_surge or 0, len(settings.cloud.zones)),
                      disk_gib=emqx.disk_gib, user_data=user_data),
    ]
    core = settings.core_pool
    if core is not None:
        # The cores' own zonal groups beside replicants (nodePools.core), tuned like the EMQX groups: core pods carry
        # the same sysctls and open-file limit.
        zones = len(settings.cloud.zones)
        specs.append(NodeGroupSpec(role="emqx-core", instance_types=core.instance_types,
                                   scaling=zonal_scaling(core.count, core.rollout_surge or 0, zones),
                                   disk_gib=core.disk_gib, user_data=user_data))
    if loadgen is not None and loadgen.enabled and loadgen.count:
        # Load generators open many outgoing connections: the same kernel profile (source ports, conntrack, open
        # files) and the same kubelet allowlist for the generator pods' sysctls, as the ACK loadgen pool.
        specs.append(NodeGroupSpec(role="loadgen", instance_types=loadgen.instance_types,
                                   scaling=(fixed_scaling(loadgen),), disk_gib=loadgen.disk_gib, user_data=user_data))
    return specs


def has_rollout_room(settings: Settings) -> bool:
    return any(pool is not None and pool.enabled and (pool.rollout_surge or 0) > 0
               for pool in (settings.system_pool, settings.emqx_pool, settings.loadgen_pool, settings.core_pool))


TGB_IMMUTABLE_FIELDS = ("spec.targetGroupARN", "spec.targetType", "spec.ipAddressType", "spec.vpcID")


class AwsPlatform(pulumi.ComponentResource):
    platform: Platform
    provider: aws.Provider
    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    endpoints: pulumi.Output[dict[str, str]]
    dashboard_url: pulumi.Output[str]
    load_balancer_arn: pulumi.Output[str]

    def __init__(self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("emqx-platform:aws:Platform", name, None, opts)
        assert settings.cloud and settings.network and settings.aws
        assert settings.system_pool and settings.emqx_pool
        aws_settings, lb_settings = settings.aws, settings.load_balancer
        # The region comes from the stack (cloud.region), never from whatever AWS_REGION the shell holds: zones and
        # the address plan were validated against it. Children inherit this provider.
        self.provider = aws.Provider(f"{name}-aws", region=settings.cloud.region,
                                     opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, providers=[self.provider])
        tags = {"stack": settings.stack, "project": settings.project, **dict(settings.tags)}
        protect = settings.cluster.deletion_protection
        partition = partition_of(settings.cloud.region)

        network = AwsNetwork(name, spec=AwsNetworkSpec(plan=aws_settings.plan, nat_per_zone=aws_settings.nat_per_zone,
                                                       tags=tags, protect=protect), opts=child)
        api = settings.cluster.api_server
        cluster = EksCluster(
            name,
            spec=EksClusterSpec(
                kubernetes_version=settings.cluster.kubernetes_version,
                region=settings.cloud.region,
                admin_principal_arns=aws_settings.admin_principal_arns,
                log_types=aws_settings.log_types,
                log_retention_days=aws_settings.log_retention_days,
                deletion_protection=protect,
                protect=protect,
                support_type=aws_settings.support_type,
                endpoint_public_access=api.public,
                public_access_cidrs=tuple(api.allowed_cidrs) if api.public else (),
                service_cidr=aws_settings.plan.service_cidr,
                partition=partition,
                tags=tags,
            ),
            # The control plane's ENIs go into the private subnets; nothing public reaches them.
            subnet_ids=network.private_subnet_ids,
            opts=child,
        )
        nodes = EksNodeGroups(
            name,
            cluster_name=cluster.cluster_name,
            # The cluster's output, not the setting: the groups follow only once the control plane is upgraded.
            kubernetes_version=cluster.cluster.version,
            cluster_security_group_id=cluster.cluster_security_group_id,
            vpc_id=network.vpc_id,
            zones=network.zones,
            subnet_ids=network.private_subnet_ids,
            groups=node_group_specs(settings, render_eks_user_data(settings.tuning)),
            tags=tags,
            partition=partition,
            # A node without vpc-cni, kube-proxy and the pod identity agent never turns Ready; without its zone's
            # NAT route it cannot pull images or join.
            after=[*cluster.pre_node_addons, *network.egress],
            opts=child,
        )
        post_node = cluster.add_post_node_addons(nodes.node_groups)
        # The controllers call AWS APIs by name: cluster DNS (coredns) must run first, and nodes to run on.
        in_cluster = [*nodes.node_groups, *post_node]
        k8s_child = pulumi.ResourceOptions(parent=self, providers=[self.provider, cluster.provider])

        emqx_selector, emqx_tolerations = pool_placement("emqx", dedicated=True)
        system_selector, _ = pool_placement("system", dedicated=False)
        core_selector, core_tolerations = pool_placement(EMQX_CORE_POOL, dedicated=True)

        lb = AwsLoadBalancer(
            name,
            spec=AwsLoadBalancerSpec(
                internal=lb_settings.address_type == "intranet",
                mqtt_ports=lb_settings.served_ports,
                client_cidrs=settings.network.client_cidrs,
                admin_cidrs=settings.network.admin_cidrs,
                idle_timeout_seconds=lb_settings.idle_timeout_seconds,
                health_interval_seconds=lb_settings.health_check.interval_seconds,
                health_timeout_seconds=lb_settings.health_check.timeout_seconds,
                healthy_threshold=lb_settings.health_check.healthy_threshold,
                unhealthy_threshold=lb_settings.health_check.unhealthy_threshold,
                deregistration_delay_seconds=DEREGISTRATION_DELAY_SECONDS,
                cross_zone=aws_settings.cross_zone,
                deletion_protection=lb_settings.deletion_protection,
                tags=tags,
            ),
            vpc_id=network.vpc_id,
            # An internal NLB takes addresses in the nodes' subnets; an internet-facing one in the public subnets.
            subnet_ids=(network.private_subnet_ids if lb_settings.address_type == "intranet"
                        else network.public_subnet_ids),
            node_security_group_id=nodes.node_security_group_id,
            opts=child,
        )
        controller = AwsLoadBalancerController(
            name,
            spec=LbControllerSpec(region=settings.cloud.region, node_selector=system_selector, tags=tags),
            cluster_name=cluster.cluster_name,
            vpc_id=network.vpc_id,
            node_security_group_id=nodes.node_security_group_id,
            cluster_security_group_id=cluster.cluster_security_group_id,
            after=in_cluster,
            opts=k8s_child,
        )
        storage = EbsStorage(name, spec=EbsStorageSpec(storage_class=STORAGE_CLASS, partition=partition, tags=tags),
                             cluster_name=cluster.cluster_name, after=in_cluster, opts=k8s_child)
        if has_rollout_room(settings):
            ClusterAutoscaler(
                name,
                spec=AutoscalerSpec(region=settings.cloud.region,
                                    kubernetes_version=settings.cluster.kubernetes_version,
                                    node_selector=system_selector, tags=tags),
                cluster_name=cluster.cluster_name,
                after=in_cluster,
                opts=k8s_child,
            )

        # The target groups follow the operator's Services; the Services themselves stay ClusterIP (no node ports,
        # no annotations: the NLB is this stack's, not the Service's).
        service = ServiceBinding(type="ClusterIP")
        zones = len(settings.cloud.zones)
        self.platform = Platform(
            provider=cluster.provider,
            emqx_placement=Placement(node_selector=emqx_selector, tolerations=emqx_tolerations, zone_count=zones),
            system_placement=Placement(node_selector=system_selector, zone_count=zones),
            core_placement=(Placement(node_selector=core_selector, tolerations=core_tolerations, zone_count=zones)
                            if settings.core_pool is not None else None),
            storage_class=settings.emqx.storage_class or STORAGE_CLASS,
            listeners=service,
            dashboard=service,
            # NLB addresses are not stable (one per zone, reassigned by AWS): clients and the certificate use its
            # DNS name.
            listener_addresses=[],
            listener_hostnames=lb.listener_hostnames,
            # The controller's webhooks admit the bindings and inject the readiness gates; the storage class must
            # exist before a core's claim names it.
            depends_on=[*in_cluster, controller.release, storage],
            namespace_labels=READINESS_GATE_LABEL,
            # The controller's webhook refuses a change of target group or target type on a binding
            # (webhooks/elbv2/targetgroupbinding_validator.go): a new target group is a new binding.
            companions=[Companion(obj, replace_on_changes=TGB_IMMUTABLE_FIELDS) for obj in emqx_target_group_bindings(
                emqx_name=settings.emqx.name, namespace=settings.emqx.namespace,
                target_group_arns=lb.target_group_arns, mqtt_ports=lb_settings.served_ports)],
        )
        self.cluster_name = cluster.cluster_name
        self.kubeconfig = cluster.kubeconfig
        self.endpoints = lb.endpoints
        self.dashboard_url = lb.dashboard_url
        self.load_balancer_arn = lb.load_balancer_arn
        self.register_outputs({"cluster_name": self.cluster_name, "endpoints": self.endpoints,
                               "dashboard_url": self.dashboard_url, "load_balancer_arn": self.load_balancer_arn})
