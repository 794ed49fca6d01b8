"""EMQX on plain ECS instances (`mode: vm`): one component wiring the VM pieces together in the stack's region.

Order of what exists before what, and why:
1. its own provider in cloud.region (as platform.py: never the shell's ALICLOUD_REGION);
2. the VPC, one node vSwitch per zone and NAT egress (network.py without its ACK node group): nodes download the
   EMQX package and the aliyun CLI at first boot;
3. the secrets as OOS encryption parameters and the instance RAM role reading exactly those (vm_secrets.py);
4. the nodes' security group (vm_security_group.py) and the instances, each with its fixed address and its own
   secret-free user data (vm_nodes.py, render/vm_node.py), created after the egress route, the parameters and the
   role's policy;
5. the load balancer with the instances as backends of every listener (vm_load_balancer.py): TCP pass-through, so
   EMQX serves TLS on 8883/8084 with the key pair from the parameters;
6. the day-two rollout (vm_rollout.py): one Cloud Assistant run per node, cores first, each after the previous
   node is back in the cluster, keyed by the node's files (render/vm_node.py node_digest). On the first `pulumi up`
   it waits for each node's first boot and finds nothing changed, so no node restarts.
"""

from __future__ import annotations

import pulumi
import pulumi_alicloud as alicloud
import pulumi_random as random

from components import sizing
from components.alicloud.network import AlicloudNetwork
from components.alicloud.vm_cluster_spec import CLB_PROBE_CIDRS, VmPlan, served_ports, vm_plan
from components.alicloud.vm_load_balancer import VmLoadBalancer
from components.alicloud.vm_nodes import VmNodes
from components.alicloud.vm_rollout import VmRollout, command_content
from components.alicloud.vm_secrets import VmSecrets
from components.alicloud.vm_security_group import VmSecurityGroup
from components.render import auth
from components.render.vm_node import render_vm_apply_script, render_vm_user_data
from components.settings import Settings


class VmCluster(pulumi.ComponentResource):
    provider: alicloud.Provider
    plan: VmPlan
    endpoints: pulumi.Output[dict[str, str]]
    dashboard_url: pulumi.Output[str]
    dashboard_password: pulumi.Output[str]
    load_balancer_id: pulumi.Output[str]
    node_names: list[str]
    private_ips: list[str]
    instance_ids: list[pulumi.Output[str]]
    rollout_digests: dict[str, str]

    def __init__(self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("emqx-platform:alicloud:VmCluster", name, None, opts)
        assert settings.cloud is not None and settings.network is not None and settings.vm is not None
        # Every node's spec and user data first: a problem fails the program before anything is registered.
        self.plan = plan = vm_plan(name, settings)
        user_data = [render_vm_user_data(n) for n in plan.nodes]
        apply_scripts = [render_vm_apply_script(n) for n in plan.nodes]
        for script in apply_scripts:
            command_content(script)  # with the rollout preamble, within Cloud Assistant's limit (vm_rollout)

        self.provider = alicloud.Provider(f"{name}-alicloud", region=settings.cloud.region,
                                          opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, providers=[self.provider])
        tags = dict(plan.cluster.tags)
        vm, lb_settings, net = settings.vm, settings.load_balancer, settings.network

        network = AlicloudNetwork(name, plan=vm.plan, client_cidrs=net.client_cidrs, admin_cidrs=net.admin_cidrs,
                                  node_ports={}, plugin=net.plugin, nlb_probes=False, tags=tags,
                                  protect=plan.cluster.protect, node_security_group=False, opts=child)
        vswitch_ids = {z.zone: vsw for z, vsw in zip(vm.plan.zones, network.node_vswitch_ids, strict=True)}

        # The bootstrap file is hashed here (render/auth.py bootstrap_users), as for Kubernetes: one random seed per
        # stack, kept in its state, gives every user a salt that stays put across updates.
        users_file: pulumi.Output[str] | None = None
        if plan.cluster.secret_names.mqtt_users is not None and settings.mqtt_users is not None:
            seed = random.RandomId(f"{name}-mqtt-user-salt", byte_length=16, opts=child)
            superusers = settings.emqx.auth.superusers
            users_file = pulumi.Output.all(settings.mqtt_users, seed.hex).apply(
                lambda args: auth.bootstrap_users(args[0], superusers, args[1]))
        identity = alicloud.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=self.provider))
        secrets = VmSecrets(
            name, names=plan.cluster.secret_names, region=settings.cloud.region, account_id=identity.account_id,
            role_name=plan.cluster.role_name, license_key=settings.license_key, kms_key_id=plan.cluster.kms_key_id,
            tags=tags, protect=plan.cluster.protect, tls_certificate=settings.tls_certificate,
            tls_private_key=settings.tls_private_key, mqtt_users_file=users_file, opts=child)

        nlb = lb_settings.type == "nlb"
        ports = served_ports(settings)
        security_group = VmSecurityGroup(
            name, vpc_id=network.vpc_id, client_cidrs=net.client_cidrs, admin_cidrs=net.admin_cidrs,
            mqtt_ports=ports,
            probe_cidrs=[z.node_cidr for z in vm.plan.zones] if nlb else list(CLB_PROBE_CIDRS), tags=tags,
            opts=child)
        nodes = VmNodes(name, spec=plan.cluster, vswitch_ids=vswitch_ids,
                        security_group_id=security_group.security_group_id, role_name=secrets.role_name,
                        user_data=user_data, after=[*network.egress, *secrets.ready], opts=child)
        lb = VmLoadBalancer(
            name, settings=lb_settings, vpc_id=network.vpc_id, vswitch_ids=network.node_vswitch_ids,
            zones=[z.zone for z in vm.plan.zones], client_cidrs=net.client_cidrs, admin_cidrs=net.admin_cidrs,
            listener_cps=sizing.storm_cluster_rate(settings.sizing),
            backends=[(n.name, i) for n, i in zip(plan.cluster.nodes, nodes.instance_ids, strict=True)],
            tags=tags, ports=ports, opts=child)
        # Cores first (the node order of the plan): replicants restart only once the cores they join are back.
        rollout = VmRollout(f"{name}-rollout", nodes=plan.cluster.nodes, instance_ids=nodes.instance_ids,
                            scripts=apply_scripts, timeout_seconds=plan.cluster.rollout_timeout_seconds,
                            opts=child)

        self.endpoints = lb.endpoints
        self.dashboard_url = lb.dashboard_url
        self.load_balancer_id = lb.load_balancer_id
        self.dashboard_password = secrets.dashboard_password
        self.node_names = nodes.node_names
        self.private_ips = nodes.private_ips
        self.instance_ids = nodes.instance_ids
        self.rollout_digests = rollout.digests
        self.register_outputs({
            "endpoints": self.endpoints,
            "dashboard_url": self.dashboard_url,
            "load_balancer_id": self.load_balancer_id,
            "node_names": self.node_names,
            "private_ips": self.private_ips,
            "rollout_digests": self.rollout_digests,
        })
