"""The stack-owned load balancer of a VM-mode EMQX cluster: the same NLB (default) or CLB as the Kubernetes mode
(nlb.py, loadbalancer.py: listeners 1883/8883/8083/8084 and 18083, TCP health checks, the dashboard only from admin
networks), with the ECS instances registered as backends here, where on ACK the cloud controller fills the groups.

Backends: `nlb.ServerGroupServerAttachment(server_type="Ecs")` into the NLB's Instance server groups, or
`slb.ServerGroupServerAttachment(type="ecs")` into the CLB's vServer groups (pulumi-alicloud; VM.md §4), each at the
EMQX port itself: nothing sits between the load balancer and EMQX on a VM (no node ports).

TLS stays on EMQX, as in nlb.py: TCP pass-through keeps client certificates visible to EMQX.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_alicloud as alicloud

from components.alicloud.loadbalancer import ClassicLoadBalancer
from components.alicloud.nlb import NetworkLoadBalancer
from components.render.emqx import DASHBOARD_PORT
from components.settings import LoadBalancerSettings


class VmLoadBalancer(pulumi.ComponentResource):
    address: pulumi.Output[str]
    endpoints: pulumi.Output[dict[str, str]]
    dashboard_url: pulumi.Output[str]
    listener_addresses: pulumi.Output[list[str]]
    listener_hostnames: pulumi.Output[list[str]]
    load_balancer_id: pulumi.Output[str]

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
        listener_cps: int,
        backends: Sequence[tuple[str, pulumi.Input[str]]],
        tags: Mapping[str, str],
        ports: Sequence[int] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("emqx-platform:alicloud:VmLoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The load balancer takes addresses in the node vSwitches; made to wait for the instances (its VPC input
        # resolves only once they exist), it cannot take a node's fixed address (vm_address_plan).
        after_nodes = pulumi.Output.all(vpc_id, *[i for _, i in backends]).apply(lambda v: str(v[0]))
        # The plugin only picks the CCM backend-type annotation, which nothing reads on VMs.
        if settings.type == "nlb":
            lb: NetworkLoadBalancer | ClassicLoadBalancer = NetworkLoadBalancer(
                name, settings=settings, vpc_id=after_nodes, vswitch_ids=vswitch_ids, zones=zones,
                client_cidrs=client_cidrs, admin_cidrs=admin_cidrs, plugin="terway", listener_cps=listener_cps,
                tags=tags, ports=ports, opts=child)
        else:
            first_vswitch = pulumi.Output.all(after_nodes, vswitch_ids[0]).apply(lambda v: str(v[1]))
            lb = ClassicLoadBalancer(name, settings=settings, vswitch_id=first_vswitch, zones=zones,
                                     admin_cidrs=admin_cidrs, plugin="terway", tags=tags, ports=ports, opts=child)

        # The same ports as the listeners (and as EMQX serves: render/vm_node.py VmListeners.served_ports).
        for port in [*(ports if ports is not None else settings.served_ports), DASHBOARD_PORT]:
            group_id = lb.server_group_ids[port]
            for node_label, instance_id in backends:
                if settings.type == "nlb":
                    alicloud.nlb.ServerGroupServerAttachment(
                        f"{name}-{port}-{node_label}", server_group_id=group_id, server_id=instance_id,
                        server_type="Ecs", port=port, weight=100, description=f"EMQX {node_label}", opts=child)
                else:
                    alicloud.slb.ServerGroupServerAttachment(
                        f"{name}-{port}-{node_label}", server_group_id=group_id, server_id=instance_id,
                        type="ecs", port=port, weight=100, description=f"EMQX {node_label}", opts=child)

        self.load_balancer_id = lb.load_balancer_id
        self.address = lb.address
        self.endpoints = lb.endpoints
        self.dashboard_url = lb.dashboard_url
        self.listener_addresses = lb.listener_addresses
        self.listener_hostnames = lb.listener_hostnames
        self.register_outputs({"address": self.address, "endpoints": self.endpoints,
                               "dashboard_url": self.dashboard_url})
