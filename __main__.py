"""Entry point: read the stack's settings, build its platform, put EMQX on it, export what operators need."""

import pulumi

from components import settings as settings_module
from components.alicloud.platform import AlicloudPlatform
from components.alicloud.vm_cluster import VmCluster
from components.aws.platform import AwsPlatform
from components.catalogue.cost import stack_cost
from components.existing import ExistingCluster
from components.sizing import cost_note
from components.workloads.cert_manager import CertManager
from components.workloads.emqx_cluster import EmqxCluster
from components.workloads.loadtest import LoadTests
from components.workloads.monitoring import EmqxMonitoring
from components.workloads.operator import EmqxOperator
from components.workloads.rebalance import Rebalances
from components.zone_notes import zone_notes

settings = settings_module.load()
name = f"emqx-{settings.stack}"
for note in settings.sizing.notes:
    pulumi.log.info(f"sizing: {note}")
# Non-fatal notes from the settings (e.g. an EKS minor past its end of standard support), once per run.
for warning in settings.warnings:
    pulumi.log.warn(warning)
if settings.cloud is not None and settings.emqx_pool is not None:
    # Zones without an EMQX node, and zone order fixing subnets, would otherwise go unsaid (components/zone_notes.py).
    network_plan = settings.network.plan if settings.network is not None else None
    subnets = [z.node_cidr for z in network_plan.zones] if network_plan is not None else []
    for note in zone_notes(settings.cloud.zones, settings.emqx_pool.count, settings.emqx_pool.rollout_surge or 0,
                           subnets):
        pulumi.log.info(f"zones: {note}")

platform = None
if settings.mode == "vm":
    # EMQX on ECS instances: no Kubernetes, so none of the workloads below (README, VM mode).
    vms = VmCluster(name, settings)
    pulumi.export("mqtt_endpoints", vms.endpoints)
    pulumi.export("dashboard_url", vms.dashboard_url)
    pulumi.export("load_balancer_id", vms.load_balancer_id)
    pulumi.export("dashboard_password", vms.dashboard_password)
    pulumi.export("nodes", [{"name": n, "private_ip": ip, "instance_id": i}
                            for n, ip, i in zip(vms.node_names, vms.private_ips, vms.instance_ids, strict=True)])
    # Per node, the digest of its files: what the last `pulumi up` rolled out (render/vm_node.py node_digest).
    pulumi.export("rollout_digests", vms.rollout_digests)
elif settings.target == "alicloud":
    cloud = AlicloudPlatform(name, settings)
    platform = cloud.platform
    pulumi.export("cluster_id", cloud.cluster_id)
    pulumi.export("kubeconfig", cloud.kubeconfig)
    pulumi.export("mqtt_endpoints", cloud.endpoints)
    pulumi.export("dashboard_url", cloud.dashboard_url)
    # The CLB or NLB the cloud controller fills (on-call looks it up in the console or the CLI).
    pulumi.export("load_balancer_id", cloud.load_balancer_id)
    if cloud.api_server_acl_id is not None:
        # The access list to bind to the API server's listener 6443 once (README, Known limits).
        pulumi.export("api_server_acl_id", cloud.api_server_acl_id)
        pulumi.export("api_server_lb_id", cloud.api_server_lb_id)
elif settings.target == "aws":
    eks = AwsPlatform(name, settings)
    platform = eks.platform
    pulumi.export("cluster_name", eks.cluster_name)
    # Secret: it names the cluster and its endpoint; every use runs `aws eks get-token` (AWS CLI where it runs).
    pulumi.export("kubeconfig", eks.kubeconfig)
    pulumi.export("mqtt_endpoints", eks.endpoints)
    pulumi.export("dashboard_url", eks.dashboard_url)
    # The stack's NLB (on-call looks it up in the console or with `aws elbv2 describe-load-balancers`).
    pulumi.export("load_balancer_arn", eks.load_balancer_arn)
else:
    platform = ExistingCluster(name, settings).platform

if platform is not None:
    # A component's depends_on does not reach its children: each release is handed what it must wait for.
    k8s_opts = pulumi.ResourceOptions(provider=platform.provider)
    shared = settings.target == "existing"
    before_operator: list[pulumi.Resource] = list(platform.depends_on)
    if settings.charts.install_cert_manager:
        before_operator.append(CertManager(name, version=settings.charts.cert_manager_version,
                                           placement=platform.system_placement, shared=shared,
                                           image_registry=settings.charts.image_registry, after=platform.depends_on,
                                           opts=k8s_opts).release)
    before_emqx: list[pulumi.Resource] = list(before_operator)
    if settings.charts.install_operator:
        before_emqx = [EmqxOperator(name, version=settings.charts.emqx_operator_version,
                                    placement=platform.system_placement, after=before_operator, shared=shared,
                                    image_registry=settings.charts.image_registry, opts=k8s_opts).release]
    emqx = EmqxCluster(name, settings=settings, platform=platform, after=before_emqx)

    if settings.rebalance:
        Rebalances(name, runs=settings.rebalance, instance_name=settings.emqx.name,
                   instance_kind=settings.emqx.release.kind, namespace=settings.emqx.namespace,
                   plan=settings.sizing, provider=platform.provider, after=[emqx.resource])
    if settings.load_test:
        # Runs one after another once EMQX is up; each run's plan and verdict land in the ConfigMap named here.
        load_tests = LoadTests(name, settings=settings, platform=platform, after=[emqx.resource])
        pulumi.export("load_test_results", load_tests.results)
        # Each run's verdict and numbers, read back from its ConfigMap once its verifier Job completed (unknown in a
        # preview of a new run): {run: {configmap, verdict, reasons, connections_start, message_rate, dropped, ...}}.
        pulumi.export("load_test_verdicts", load_tests.verdicts)
    if settings.monitoring.prometheus_operator:
        EmqxMonitoring(name, settings=settings.monitoring, emqx_name=settings.emqx.name,
                       namespace=settings.emqx.namespace,
                       plan=settings.sizing,
                       provider=platform.provider, after=[emqx.resource])

    pulumi.export("emqx_namespace", emqx.namespace)
    pulumi.export("dashboard_password", emqx.dashboard_password)

# Monthly list cost by role, at rest and at the rollout peak ("unknown" where the catalogue has no price).
cost = stack_cost(settings)
pulumi.log.info(f"cost: {cost_note(cost)}")
pulumi.export("cost", cost)
pulumi.export("sizing", {
    "cores": settings.sizing.cores,
    "replicants": settings.sizing.replicants,
    "max_connections_per_node": settings.sizing.max_connections_per_node,
    "planned_vcpu": settings.sizing.planned_vcpu,
    "planned_memory_gib": settings.sizing.planned_memory_gib,
})
