"""The stack's VPC on Alibaba Cloud: one node vSwitch per zone (and pod vSwitches for Terway), NAT for image pulls,
and the node security group with least-privilege ingress."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_alicloud as alicloud

from components.network_plan import NetworkPlan
from components.render.emqx import DASHBOARD_PORT, LISTENERS


class AlicloudNetwork(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    node_vswitch_ids: list[pulumi.Output[str]]
    pod_vswitch_ids: list[pulumi.Output[str]]
    # Absent with node_security_group=False (VM mode: vm_security_group.py guards the nodes).
    security_group_id: pulumi.Output[str]
    # What must exist before a node boots: its route to the internet (image pulls, ACK's own node setup).
    egress: list[pulumi.Resource]

    def __init__(
        self,
        name: str,
        *,
        plan: NetworkPlan,
        client_cidrs: tuple[str, ...],
        admin_cidrs: tuple[str, ...],
        node_ports: Mapping[int, int],
        plugin: str,
        nlb_probes: bool,
        tags: Mapping[str, str],
        protect: bool,
        mqtt_ports: Sequence[int] | None = None,
        node_security_group: bool = True,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("emqx-platform:alicloud:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=protect)
        tagged = {**tags, "component": "network"}

        vpc = alicloud.vpc.Network(f"{name}-vpc", vpc_name=f"{name}-vpc", cidr_block=plan.vpc_cidr, tags=tagged,
                                   opts=kept)
        self.vpc_id = vpc.id
        self.node_vswitch_ids = []
        self.pod_vswitch_ids = []
        for zone in plan.zones:
            vsw = alicloud.vpc.Switch(f"{name}-nodes-{zone.zone}", vswitch_name=f"{name}-nodes-{zone.zone}",
                                      vpc_id=vpc.id, zone_id=zone.zone, cidr_block=zone.node_cidr, tags=tagged,
                                      opts=child)
            self.node_vswitch_ids.append(vsw.id)
            if zone.pod_cidr:
                pod = alicloud.vpc.Switch(f"{name}-pods-{zone.zone}", vswitch_name=f"{name}-pods-{zone.zone}",
                                          vpc_id=vpc.id, zone_id=zone.zone, cidr_block=zone.pod_cidr, tags=tagged,
                                          opts=child)
                self.pod_vswitch_ids.append(pod.id)

        # Nodes have no public addresses: one enhanced NAT gateway with an EIP lets them pull images.
        nat = alicloud.vpc.NatGateway(f"{name}-nat", nat_gateway_name=f"{name}-nat", vpc_id=vpc.id,
                                      vswitch_id=self.node_vswitch_ids[0], nat_type="Enhanced",
                                      payment_type="PayAsYouGo", network_type="internet", tags=tagged, opts=child)
        eip = alicloud.ecs.EipAddress(f"{name}-nat-eip", address_name=f"{name}-nat-eip",
                                      internet_charge_type="PayByTraffic", payment_type="PayAsYouGo",
                                      bandwidth="100", tags=tagged, opts=child)
        binding = alicloud.ecs.EipAssociation(f"{name}-nat-eip", allocation_id=eip.id, instance_id=nat.id,
                                              instance_type="Nat", opts=child)
        self.egress = []
        # Terway pods have addresses of their own in the pod vSwitches: they need the route out too (image pulls
        # by init containers, cert-manager reaching an ACME server).
        routed = [(f"{name}-snat-{z.zone}", vsw) for z, vsw in zip(plan.zones, self.node_vswitch_ids, strict=True)]
        routed += [(f"{name}-snat-pods-{z.zone}", vsw)
                   for z, vsw in zip([z for z in plan.zones if z.pod_cidr], self.pod_vswitch_ids, strict=True)]
        for snat_name, vsw_id in routed:
            snat = alicloud.vpc.SnatEntry(snat_name, snat_table_id=nat.snat_table_ids, source_vswitch_id=vsw_id,
                                          snat_ip=eip.ip_address,
                                          opts=pulumi.ResourceOptions(parent=self, depends_on=[binding]))
            self.egress.append(snat)
        if not node_security_group:
            # VM mode: VPC, node vSwitches and egress only; the ACK node group below is for Kubernetes nodes.
            self.register_outputs({"vpc_id": self.vpc_id})
            return

        # inner_access_policy Accept lets the members of this group reach each other on every port: kubelet, the
        # flannel overlay (VXLAN between node addresses, so the EMQX cluster ports 4370/5369 between pods never show
        # up as such on a node's interface) and, under terway, pod ENIs, which join this group. Nothing outside the
        # group talks to those ports, so they get no rule; everything else is listed below, port by port.
        sg = alicloud.ecs.SecurityGroup(f"{name}-nodes", security_group_name=f"{name}-nodes", vpc_id=vpc.id,
                                        inner_access_policy="Accept", tags=tagged,
                                        description="EMQX platform nodes: MQTT from clients, dashboard from admins",
                                        opts=child)
        self.security_group_id = sg.id
        # ACK's recommended inbound rules for cluster security groups start with ICMP (all types) from 0.0.0.0/0
        # (ACK 'Configure and manage cluster security groups'): among other things the 'fragmentation needed'
        # messages of path-MTU discovery, which come from whatever router sits on a client's path.
        alicloud.ecs.SecurityGroupRule(f"{name}-icmp", security_group_id=sg.id, type="ingress", ip_protocol="icmp",
                                       port_range="-1/-1", cidr_ip="0.0.0.0/0", policy="accept", nic_type="intranet",
                                       priority=1, description="ICMP (path-MTU discovery), as ACK recommends",
                                       opts=child)
        # The MQTT ports the load balancer serves (TLS only on the internet unless allowPlainText): a port it does
        # not serve gets no rule, so clients cannot reach it at the nodes either.
        mqtt = list(mqtt_ports) if mqtt_ports is not None else [p for _, _, p in LISTENERS]
        for port in backend_ports(mqtt, plugin, node_ports):
            for i, cidr in enumerate(client_cidrs):
                self._ingress(f"{name}-mqtt-{port}-{cidr_label(cidr)}", sg, port, cidr, "MQTT clients",
                              was=f"{name}-mqtt-{port}-{i}")
            # An NLB probes its backends from local addresses in its own vSwitches, which are the node vSwitches.
            for zone in plan.zones if nlb_probes else ():
                self._ingress(f"{name}-nlb-probe-{port}-{cidr_label(zone.node_cidr)}", sg, port, zone.node_cidr,
                              "NLB health checks")
        for port in backend_ports([DASHBOARD_PORT], plugin, node_ports):
            for i, cidr in enumerate(admin_cidrs):
                self._ingress(f"{name}-dashboard-{port}-{cidr_label(cidr)}", sg, port, cidr,
                              "EMQX dashboard and API", was=f"{name}-dashboard-{port}-{i}")
            for zone in plan.zones if nlb_probes else ():
                self._ingress(f"{name}-nlb-probe-{port}-{cidr_label(zone.node_cidr)}", sg, port, zone.node_cidr,
                              "NLB health checks")
        if plan.pod_cidr:
            # Flannel pods reach node-local services (DNS, kubelet ports) from the pod CIDR.
            alicloud.ecs.SecurityGroupRule(f"{name}-pods", security_group_id=sg.id, type="ingress",
                                           ip_protocol="all", port_range="-1/-1", cidr_ip=plan.pod_cidr,
                                           policy="accept", nic_type="intranet", priority=1,
                                           description="pod CIDR", opts=child)
        self.register_outputs({"vpc_id": self.vpc_id, "security_group_id": self.security_group_id})

    def _ingress(self, rule_name: str, sg: alicloud.ecs.SecurityGroup, port: int, cidr: str, why: str,
                 was: str | None = None) -> None:
        # Rules used to be named by their CIDR's list position. Without the alias, Pulumi would create the renamed
        # rule and then delete the old one; both are the same rule to the ECS API (group, protocol, port, source,
        # policy, priority), so the delete would revoke the rule just "created", leaving the port closed while the
        # state says open. The alias adopts the rule in place. It assumes the CIDR lists are unchanged by the first
        # `pulumi up` with this code (change them in a later update).
        aliases = [pulumi.Alias(name=was)] if was else None
        alicloud.ecs.SecurityGroupRule(rule_name, security_group_id=sg.id, type="ingress", ip_protocol="tcp",
                                       port_range=f"{port}/{port}", cidr_ip=cidr, policy="accept",
                                       nic_type="intranet", priority=1, description=why,
                                       opts=pulumi.ResourceOptions(parent=self, aliases=aliases))


def cidr_label(cidr: str) -> str:
    """A CIDR as a resource-name part (10.0.0.0/8 -> 10-0-0-0-8): a rule keeps its name when other CIDRs come or go."""
    return cidr.replace(".", "-").replace("/", "-").replace(":", "-")


def backend_ports(ports: Sequence[int], plugin: str, node_ports: Mapping[int, int]) -> list[int]:
    """The ports load-balanced traffic arrives at on this security group's members, for the Services' `ports`.

    flannel: the cloud controller adds nodes (backend-type ecs) at the Service's node port; pod addresses are not
    in the VPC, and nothing listens on the service port at a node's address. terway: it adds the pods' ENIs
    (backend-type eni), which sit in this group, at the container port; node ports are never dialled. The load
    balancer components set backend-type to match (loadbalancer.BACKEND_TYPES).
    """
    if plugin == "terway":
        return sorted(ports)
    return sorted(node_ports[p] for p in ports)
