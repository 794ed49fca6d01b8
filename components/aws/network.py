"""The stack's VPC on AWS: a private (nodes, pods) and a public (NAT, internet-facing NLB) subnet per zone, an
internet gateway, NAT gateways and the route tables that tie them together.

NAT: zonal gateways, one per zone in production and one in dev. The SDK's regional NAT
(`aws.ec2.NatGateway(availability_mode="regional")`, pulumi_aws 7.x; zonal is its default) was considered: in its
automatic mode it "expand[s] to new AZs ... upon detection of an elastic network interface" (SDK docstring), so the
first nodes of a zone boot before their zone's egress exists, and its manual mode needs the EIPs per zone anyway.
Per-zone gateways with their own EIPs and per-zone routes give the same zone independence with addresses and routes
fixed before any node boots (the VPC user guide's standard design), and stay readable in the plan.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.aws.spec import AwsNetworkSpec

# Load Balancer Controller subnet discovery (aws-load-balancer-controller docs/deploy/subnet_discovery.md). This
# stack passes its subnets explicitly; the tags keep anything else the controller creates in the right subnets.
PUBLIC_ELB_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_TAG = "kubernetes.io/role/internal-elb"


class AwsNetwork(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    zones: list[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    nat_public_ips: list[pulumi.Output[str]]
    # What must exist before a node boots: its route to the internet (image pulls, joining the cluster).
    egress: list[pulumi.Resource]

    def __init__(self, name: str, *, spec: AwsNetworkSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("emqx-platform:aws:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**spec.tags, "component": "network"}

        def named(resource: str) -> dict[str, str]:
            return {**tags, "Name": resource}

        # DNS support and hostnames: the private API endpoint resolves only with both (EKS cluster-endpoint.adoc).
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=spec.plan.vpc_cidr, enable_dns_support=True,
                          enable_dns_hostnames=True, tags=named(f"{name}-vpc"),
                          opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=spec.protect)))
        self.vpc_id = vpc.id
        self.vpc_cidr = spec.plan.vpc_cidr
        self.zones = [z.zone for z in spec.plan.zones]
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=named(f"{name}-igw"), opts=child)

        self.private_subnet_ids, self.public_subnet_ids = [], []
        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        for z in spec.plan.zones:
            # No public addresses on launch, even here: NAT gateways carry EIPs and NLBs their own addresses.
            public = aws.ec2.Subnet(f"{name}-public-{z.zone}", vpc_id=vpc.id, availability_zone=z.zone,
                                    cidr_block=z.public_cidr, map_public_ip_on_launch=False,
                                    tags={**named(f"{name}-public-{z.zone}"), PUBLIC_ELB_TAG: "1"}, opts=child)
            private = aws.ec2.Subnet(f"{name}-private-{z.zone}", vpc_id=vpc.id, availability_zone=z.zone,
                                     cidr_block=z.private_cidr, map_public_ip_on_launch=False,
                                     tags={**named(f"{name}-private-{z.zone}"), INTERNAL_ELB_TAG: "1"}, opts=child)
            public_subnets.append(public)
            private_subnets.append(private)
            self.public_subnet_ids.append(public.id)
            self.private_subnet_ids.append(private.id)

        public_rt = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id,
                                       routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0",
                                                                           gateway_id=igw.id)],
                                       tags=named(f"{name}-public"), opts=child)
        for z, subnet in zip(spec.plan.zones, public_subnets, strict=True):
            aws.ec2.RouteTableAssociation(f"{name}-public-{z.zone}", subnet_id=subnet.id,
                                          route_table_id=public_rt.id, opts=child)

        nat_zones = spec.plan.zones if spec.nat_per_zone else spec.plan.zones[:1]
        nats: list[aws.ec2.NatGateway] = []
        self.nat_public_ips = []
        for z, subnet in zip(nat_zones, public_subnets, strict=False):
            eip = aws.ec2.Eip(f"{name}-nat-{z.zone}", domain="vpc", tags=named(f"{name}-nat-{z.zone}"), opts=child)
            # A NAT gateway's traffic leaves through the internet gateway: the route must exist first.
            nat = aws.ec2.NatGateway(f"{name}-nat-{z.zone}", allocation_id=eip.allocation_id, subnet_id=subnet.id,
                                     connectivity_type="public", tags=named(f"{name}-nat-{z.zone}"),
                                     opts=pulumi.ResourceOptions.merge(child,
                                                                       pulumi.ResourceOptions(depends_on=[igw])))
            nats.append(nat)
            self.nat_public_ips.append(eip.public_ip)

        self.egress = []
        for i, (z, subnet) in enumerate(zip(spec.plan.zones, private_subnets, strict=True)):
            # A zone's nodes leave through their own zone's NAT when there is one.
            nat = nats[i] if spec.nat_per_zone else nats[0]
            rt = aws.ec2.RouteTable(f"{name}-private-{z.zone}", vpc_id=vpc.id,
                                    routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0",
                                                                        nat_gateway_id=nat.id)],
                                    tags=named(f"{name}-private-{z.zone}"), opts=child)
            self.egress.append(aws.ec2.RouteTableAssociation(f"{name}-private-{z.zone}", subnet_id=subnet.id,
                                                             route_table_id=rt.id, opts=child))
        self.egress += nats
        self.register_outputs({"vpc_id": self.vpc_id, "private_subnet_ids": self.private_subnet_ids,
                               "public_subnet_ids": self.public_subnet_ids, "nat_public_ips": self.nat_public_ips})
