"""A Network Load Balancer owned by the stack, with one TCP listener and one `ip` target group per port; the AWS Load
Balancer Controller only keeps the target groups filled with the EMQX pods, through the TargetGroupBinding objects
of components/render/target_group_binding.py.

Why this split (the analogue of the Alibaba CLB/NLB in components/alicloud/): the address survives re-creation of
the EMQX resource and its Services (the controller never owns the NLB), and the listeners, health checks, idle
timeout and drain behaviour are reviewed code here rather than Service annotations. The Services stay ClusterIP.

TLS stays on EMQX: every listener is plain TCP (8883 and 8084 pass TLS through), so EMQX keeps seeing client
certificates and the TCP idle timeout applies to every port (a TLS listener's would be fixed at 350 s).

Security groups: the NLB has its own (security groups can be set only when an NLB is created): MQTT ports from the
client networks, the dashboard port only from the admin networks; the node security group accepts these ports only
from the NLB's group. With client IP preservation on, the targets still see the NLB's group as the source to match
(https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-security-groups.html).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_network

import pulumi
import pulumi_aws as aws

from components.render.emqx import client_urls, dashboard_url
from components.render.target_group_binding import DASHBOARD_PORT, SCHEMES, port_label

# aws.lb.Listener tcp_idle_timeout_seconds: TCP listeners on an NLB only, 60-6000 s (SDK docstring; AWS ELB
# update-idle-timeout.html).
IDLE_TIMEOUT_RANGE = (60, 6000)
# aws.lb.TargetGroup health_check on an NLB: interval 5-300 s, timeout 2-120 s, thresholds 2-10 (AWS ELB
# target-group-health-checks.html).
HEALTH_INTERVAL_RANGE = (5, 300)
HEALTH_TIMEOUT_RANGE = (2, 120)
HEALTH_THRESHOLD_RANGE = (2, 10)
# aws.lb.TargetGroup deregistration_delay: 0-3600 s (SDK docstring).
DEREGISTRATION_DELAY_RANGE = (0, 3600)
# Amazon VPC quotas, "Inbound or outbound rules per security group": 60 by default (adjustable; IPv4 and IPv6
# counted apart). The NLB's group takes one rule per MQTT port and client CIDR plus one per admin CIDR; past the
# quota AuthorizeSecurityGroupIngress fails (RulesPerSecurityGroupLimitExceeded) halfway through `pulumi up`.
SECURITY_GROUP_RULES_QUOTA = 60


# ELB names (load balancer, target group): at most 32 characters, letters, digits and hyphens (ELBv2 API
# CreateLoadBalancer, CreateTargetGroup). Pulumi auto-names both as `<resource name>-<7 random>` and refuses, at
# preview, a resource name that leaves no room for the suffix ("name '...' plus 7 random chars is longer than maximum
# length 32": pulumi/sdk resource.NewUniqueHex; pulumi-aws maps aws_lb and aws_lb_target_group to maxlen 32, PR #1932).
ELB_NAME_MAX = 32
AUTONAME_SUFFIX = 8  # "-" and 7 random characters


def elb_resource_name(name: str, suffix: str) -> str:
    """`<name>-<suffix>` when its auto-name fits ELB's 32 characters; otherwise the name cut short plus a digest of
    the whole name (stable for a stack, distinct between stacks), so a long stack name still deploys."""
    full = f"{name}-{suffix}"
    room = ELB_NAME_MAX - AUTONAME_SUFFIX
    if len(full) <= room:
        return full
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    keep = room - len(suffix) - len(digest) - 2
    return f"{name[:keep].rstrip('-')}-{digest}-{suffix}"


def _within(value: int, bounds: tuple[int, int], what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"{what}: {value!r} is outside what an AWS NLB accepts ({bounds[0]}-{bounds[1]})")


def cidr_label(cidr: str) -> str:
    """A CIDR as a resource-name part (10.0.0.0/8 -> 10-0-0-0-8): a rule keeps its name when other CIDRs come or go."""
    return cidr.replace(".", "-").replace("/", "-").replace(":", "-")


@dataclass(frozen=True)
class AwsLoadBalancerSpec:
    # internal: addresses in the private subnets only; internet-facing: the public subnets' (the caller passes the
    # matching subnet_ids).
    internal: bool
    # The MQTT listener ports to serve (TLS only on the internet unless plain text is allowed: the settings decide).
    mqtt_ports: tuple[int, ...]
    client_cidrs: tuple[str, ...]
    admin_cidrs: tuple[str, ...]
    idle_timeout_seconds: int
    health_interval_seconds: int
    health_timeout_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int
    # How long a deregistered pod keeps its connections before the NLB closes them: longer than an EMQX pod's stop
    # during the operator's blue-green rollout (the caller passes it from sizing), so the pod closes them itself.
    deregistration_delay_seconds: int
    cross_zone: bool
    deletion_protection: bool
    tags: Mapping[str, str] = field(default_factory=dict[str, str])

    def __post_init__(self) -> None:
        if not self.mqtt_ports:
            raise ValueError("mqtt_ports: the load balancer must serve at least one MQTT port")
        unknown = [p for p in self.mqtt_ports if p not in SCHEMES]
        if unknown or len(set(self.mqtt_ports)) != len(self.mqtt_ports):
            raise ValueError(f"mqtt_ports: {list(self.mqtt_ports)} must be distinct EMQX listener ports "
                             f"({sorted(SCHEMES)})")
        for what, cidrs in (("client_cidrs", self.client_cidrs), ("admin_cidrs", self.admin_cidrs)):
            for cidr in cidrs:
                try:
                    ip_network(cidr, strict=True)
                except ValueError as error:
                    raise ValueError(f"{what}: {cidr!r} is not a network address with prefix ({error})") from None
        if not self.client_cidrs:
            raise ValueError("client_cidrs: no client network could reach the MQTT listeners")
        for family in (4, 6):
            rules = (len(self.mqtt_ports) * sum(ip_network(c).version == family for c in self.client_cidrs)
                     + sum(ip_network(c).version == family for c in self.admin_cidrs))
            if rules > SECURITY_GROUP_RULES_QUOTA:
                raise ValueError(f"client_cidrs: {len(self.mqtt_ports)} ports x {len(self.client_cidrs)} client CIDRs "
                                 f"+ {len(self.admin_cidrs)} admin CIDRs need {rules} IPv{family} rules on the NLB's "
                                 f"security group, over EC2's default quota of {SECURITY_GROUP_RULES_QUOTA}: merge "
                                 "client CIDRs into fewer, wider ones")
        _within(self.idle_timeout_seconds, IDLE_TIMEOUT_RANGE, "idle_timeout_seconds")
        _within(self.health_interval_seconds, HEALTH_INTERVAL_RANGE, "health_interval_seconds")
        _within(self.health_timeout_seconds, HEALTH_TIMEOUT_RANGE, "health_timeout_seconds")
        # ELBv2: "ValidationError: Health check interval must be greater than the timeout" (seen on NLB target
        # groups: aws-load-balancer-controller issue #2951; hashicorp/terraform-provider-aws PR #48071).
        if self.health_timeout_seconds >= self.health_interval_seconds:
            raise ValueError(f"health_timeout_seconds: {self.health_timeout_seconds} must be below "
                             f"health_interval_seconds ({self.health_interval_seconds}): AWS refuses the target group")
        _within(self.healthy_threshold, HEALTH_THRESHOLD_RANGE, "healthy_threshold")
        _within(self.unhealthy_threshold, HEALTH_THRESHOLD_RANGE, "unhealthy_threshold")
        _within(self.deregistration_delay_seconds, DEREGISTRATION_DELAY_RANGE, "deregistration_delay_seconds")

    @property
    def ports(self) -> tuple[int, ...]:
        return (*self.mqtt_ports, DASHBOARD_PORT)


def _cidr_args(cidr: str) -> dict[str, str]:
    return {"cidr_ipv6": cidr} if ":" in cidr else {"cidr_ipv4": cidr}


class AwsLoadBalancer(pulumi.ComponentResource):
    load_balancer_arn: pulumi.Output[str]
    address: pulumi.Output[str]
    listener_hostnames: pulumi.Output[list[str]]
    security_group_id: pulumi.Output[str]
    target_group_arns: dict[int, pulumi.Output[str]]
    endpoints: pulumi.Output[dict[str, str]]
    dashboard_url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        spec: AwsLoadBalancerSpec,
        vpc_id: pulumi.Input[str],
        subnet_ids: Sequence[pulumi.Input[str]],
        node_security_group_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("emqx-platform:aws:LoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**spec.tags, "component": "loadbalancer"}
        if len(subnet_ids) < 1:
            raise ValueError("subnet_ids: the NLB needs a subnet in at least one zone")

        sg = aws.ec2.SecurityGroup(f"{name}-nlb", vpc_id=vpc_id,
                                   description="EMQX NLB: MQTT from clients, dashboard from admins",
                                   tags={**tags, "Name": f"{name}-nlb"}, opts=child)
        self.security_group_id = sg.id
        allowed = [(port, cidr, "MQTT clients") for port in spec.mqtt_ports for cidr in spec.client_cidrs]
        allowed += [(DASHBOARD_PORT, cidr, "EMQX dashboard and API") for cidr in spec.admin_cidrs]
        for port, cidr, why in allowed:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-nlb-{port}-{cidr_label(cidr)}", security_group_id=sg.id, ip_protocol="tcp",
                from_port=port, to_port=port, description=why, tags=tags, opts=child, **_cidr_args(cidr))
        for port in spec.ports:
            # The NLB's group must let traffic and health checks out to the targets: a new group has no egress rule
            # once the provider removes AWS's default allow-all (ec2.SecurityGroup docstring), and none is wider.
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-nlb-to-nodes-{port}", security_group_id=sg.id, ip_protocol="tcp", from_port=port,
                to_port=port, referenced_security_group_id=node_security_group_id,
                description=f"{port_label(port)} to EMQX pods", tags=tags, opts=child)
            # Pods take VPC addresses on the nodes' ENIs (VPC CNI), so the node group's security group is the
            # pods' group: it admits these ports only from the NLB.
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-nodes-from-nlb-{port}", security_group_id=node_security_group_id, ip_protocol="tcp",
                from_port=port, to_port=port, referenced_security_group_id=sg.id,
                description=f"{port_label(port)} from the EMQX NLB", tags=tags, opts=child)

        nlb = aws.lb.LoadBalancer(
            elb_resource_name(name, "nlb"),
            load_balancer_type="network",
            internal=spec.internal,
            subnets=list(subnet_ids),
            security_groups=[sg.id],
            # Off by default on an NLB: each zone's address then only reaches that zone's pods, and a zone with
            # fewer EMQX pods gets as many clients as the others (and cross-zone traffic is billed when on).
            enable_cross_zone_load_balancing=spec.cross_zone,
            enable_deletion_protection=spec.deletion_protection,
            ip_address_type="ipv4",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=spec.deletion_protection),
        )
        self.load_balancer_arn = nlb.arn
        self.address = nlb.dns_name
        # Clients dial the NLB's DNS name: the listener certificate of our own CA must name it.
        self.listener_hostnames = nlb.dns_name.apply(lambda n: [n] if n else [])

        self.target_group_arns = {}
        for port in spec.ports:
            label = port_label(port)
            # No `name`: Pulumi's auto-name lets a replacement exist before the old group goes; the resource name
            # leaves it room within ELB's 32 characters (elb_resource_name).
            group = aws.lb.TargetGroup(
                elb_resource_name(name, label),
                port=port,
                protocol="TCP",
                # Pod IPs, registered by the load balancer controller (TargetGroupBinding targetType ip): no node
                # ports, and readiness gates hold a rollout until the new pod is healthy in the NLB.
                target_type="ip",
                vpc_id=vpc_id,
                ip_address_type="ipv4",
                # Off by default for ip targets over TCP (edit-target-group-attributes.html): EMQX, its ACLs and
                # its logs should see the client's address, as behind the Alibaba load balancers. Cost: no NAT
                # loopback, "even though [EKS pods] have different IP addresses" a client pod on the node of the
                # EMQX pod it is routed to times out (ELB NLB troubleshooting, "NAT loopback"); EMQX nodes are
                # tainted for EMQX alone and load generators run on their own nodes, so no client shares one.
                preserve_client_ip="true",
                proxy_protocol_v2=False,
                deregistration_delay=spec.deregistration_delay_seconds,
                # After the delay, close what is left rather than let clients hang on a pod that is gone: they
                # reconnect through a healthy target (default false: connections would stay until idle timeout).
                connection_termination=True,
                health_check=aws.lb.TargetGroupHealthCheckArgs(
                    enabled=True,
                    protocol="TCP",
                    port="traffic-port",
                    interval=spec.health_interval_seconds,
                    timeout=spec.health_timeout_seconds,
                    healthy_threshold=spec.healthy_threshold,
                    unhealthy_threshold=spec.unhealthy_threshold,
                ),
                tags=tags,
                opts=child,
            )
            self.target_group_arns[port] = group.arn
            aws.lb.Listener(
                f"{name}-{label}",
                load_balancer_arn=nlb.arn,
                port=port,
                protocol="TCP",
                default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=group.arn)],
                # MQTT connections are long-lived and mostly idle between PINGREQs: keepalive x 1.5 must stay under
                # this (FACTS.md section 4).
                tcp_idle_timeout_seconds=spec.idle_timeout_seconds,
                tags=tags,
                opts=child,
            )

        # Client URLs per scheme, as on Alibaba.
        self.endpoints = nlb.dns_name.apply(lambda a: client_urls(a, spec.mqtt_ports))
        self.dashboard_url = nlb.dns_name.apply(dashboard_url)
        self.register_outputs({
            "address": self.address,
            "endpoints": self.endpoints,
            "dashboard_url": self.dashboard_url,
            "load_balancer_arn": self.load_balancer_arn,
            "target_group_arns": {str(p): arn for p, arn in self.target_group_arns.items()},
        })
