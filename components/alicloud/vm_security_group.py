"""The security group of VM-mode EMQX nodes: MQTT from the clients (and the load balancer's health checks), the
dashboard from admins, the cluster ports only between the nodes themselves, and nothing else.

- Clients: both load balancers keep the client's own source address at the backend (NLB server groups with
  preserve_client_ip_enabled, components/alicloud/nlb.py; CLB TCP listeners pass it through), so the rule names the
  clients' CIDRs, not the load balancer.
- Health checks: an NLB probes its backends from local addresses in its zone vSwitches (nlb.py, network.py
  `nlb_probes`), here the node vSwitches: `probe_cidrs`.
- 4370 (Erlang distribution) and 5370 (gen_rpc, rpc.port_discovery stateless) between nodes only (emqx-docs
  install.md "Port Usage"; deploy/cluster/security.md: keep clustering ports internal). EMQ's own VM Terraform opens
  them to 0.0.0.0/0 (VM.md §1); here the only source is this group (`source_security_group_id`), and the group's
  inner access policy is Drop, so members reach each other on these two ports and no other.
- No SSH rule: operators use Cloud Assistant (the day-two channel, vm_rollout) or Session Manager, never port 22.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_alicloud as alicloud

from components.alicloud.network import cidr_label
from components.render.emqx import DASHBOARD_PORT

# EMQX's inter-node ports on VMs (emqx-docs install.md "Port Usage"; VM.md §2).
CLUSTER_PORTS: tuple[int, ...] = (4370, 5370)


class VmSecurityGroup(pulumi.ComponentResource):
    security_group_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        vpc_id: pulumi.Input[str],
        client_cidrs: Sequence[str],
        admin_cidrs: Sequence[str],
        mqtt_ports: Sequence[int],
        probe_cidrs: Sequence[str],
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("emqx-platform:alicloud:VmSecurityGroup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tagged = {**tags, "component": "vm-nodes"}
        sg = alicloud.ecs.SecurityGroup(
            f"{name}-sg", security_group_name=f"{name}-sg", vpc_id=vpc_id,
            # Drop: group members are not open to each other by default; only the cluster-port rules below are.
            inner_access_policy="Drop",
            description="EMQX VM nodes: MQTT from clients, dashboard from admins, 4370/5370 between nodes",
            tags=tagged, opts=child,
        )
        self.security_group_id = sg.id

        # Path-MTU discovery ('fragmentation needed') comes from any router on a client's path (network.py, as ACK
        # recommends for node groups).
        alicloud.ecs.SecurityGroupRule(f"{name}-icmp", security_group_id=sg.id, type="ingress", ip_protocol="icmp",
                                       port_range="-1/-1", cidr_ip="0.0.0.0/0", policy="accept", nic_type="intranet",
                                       priority=1, description="ICMP (path-MTU discovery)", opts=child)
        allowed = [(port, cidr, "MQTT clients") for port in mqtt_ports for cidr in client_cidrs]
        allowed += [(DASHBOARD_PORT, cidr, "EMQX dashboard and API") for cidr in admin_cidrs]
        allowed += [(port, cidr, "load balancer health checks") for port in [*mqtt_ports, DASHBOARD_PORT]
                    for cidr in probe_cidrs]
        seen: set[tuple[int, str]] = set()
        for port, cidr, why in allowed:
            if (port, cidr) in seen:  # an admin CIDR that is also a client or probe CIDR: one rule is enough
                continue
            seen.add((port, cidr))
            # Named by port and CIDR: a CIDR that goes away removes its rules and leaves the others alone.
            alicloud.ecs.SecurityGroupRule(f"{name}-{port}-{cidr_label(cidr)}", security_group_id=sg.id,
                                           type="ingress", ip_protocol="tcp", port_range=f"{port}/{port}",
                                           cidr_ip=cidr, policy="accept", nic_type="intranet", priority=1,
                                           description=why, opts=child)
        for port in CLUSTER_PORTS:
            # A source group needs nic_type intranet (pulumi-alicloud ecs.SecurityGroupRule source_security_group_id).
            alicloud.ecs.SecurityGroupRule(f"{name}-cluster-{port}", security_group_id=sg.id, type="ingress",
                                           ip_protocol="tcp", port_range=f"{port}/{port}",
                                           source_security_group_id=sg.id, policy="accept", nic_type="intranet",
                                           priority=1, description="EMQX cluster traffic between nodes",
                                           opts=child)
        self.register_outputs({"security_group_id": self.security_group_id})
