"""loadBalancer: the stack-owned load balancer in front of EMQX, and whether it carries the capacity target."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from components import load_balancer_tier, sizing
from components.config_reader import Problems, Section
from components.render.emqx import LISTENERS
from components.settings.cloud import CloudSettings
from components.settings.common import Target
from components.settings.emqx import EmqxSettings


@dataclass(frozen=True)
class HealthCheckSettings:
    interval_seconds: int
    timeout_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int


@dataclass(frozen=True)
class LoadBalancerSettings:
    # clb: one pay-by-LCU CLB; nlb: an NLB across the stack's zones (components/load_balancer_tier.py).
    type: load_balancer_tier.LoadBalancerType
    address_type: Literal["internet", "intranet"]
    scheduler: Literal["wrr", "wlc", "rr"]
    idle_timeout_seconds: int
    health_check: HealthCheckSettings
    deletion_protection: bool
    # Whether the plain-text listeners (1883, 8083) are served; an internet load balancer serves TLS only by default.
    allow_plain_text: bool = True

    @property
    def served_ports(self) -> tuple[int, ...]:
        return tuple(p for kind, _, p in LISTENERS if self.allow_plain_text or kind in ("ssl", "wss"))


@dataclass(frozen=True)
class Limits:
    """What one cloud's load balancer accepts (only where the stack owns it)."""

    idle: tuple[int, int]  # idleTimeoutSeconds
    interval: tuple[int, int]  # healthCheck.intervalSeconds
    timeout: tuple[int, int]  # healthCheck.timeoutSeconds
    threshold: tuple[int, int]  # healthy/unhealthy thresholds


# AWS: the stack's NLB (components/aws/load_balancer.py). aws.lb.Listener tcp_idle_timeout_seconds 60-6000;
# aws.lb.TargetGroup health_check interval 5-300, timeout 2-120, thresholds 2-10 (pulumi_aws lb docstrings; AWS ELB
# Network Load Balancers guide, update-idle-timeout.html, target-group-health-checks.html). The Alibaba limits are
# in _load_balancer.
AWS_LIMITS = Limits(idle=(60, 6000), interval=(5, 300), timeout=(2, 120), threshold=(2, 10))


def parse_load_balancer(section: Section, emqx: EmqxSettings | None, cloud: CloudSettings | None,
                        production: bool, target: Target | None = None) -> LoadBalancerSettings:
    if target == "aws":
        settings = _aws_load_balancer(section, emqx, cloud, production)
    else:
        settings = _load_balancer(section, emqx, cloud, production)
    if emqx is not None and emqx.auth.certificates_only:
        # EMQX's plain-text listeners are off then (render/auth.py): the load balancer must not offer them either.
        settings = replace(settings, allow_plain_text=False)
    return settings


def _load_balancer(section: Section, emqx: EmqxSettings | None, cloud: CloudSettings | None,
                   production: bool) -> LoadBalancerSettings:
    keepalive = emqx.keepalive_seconds if emqx else 60
    zones = len(cloud.zones) if cloud else 2
    if section.has("spec"):
        section.accept("spec")
        # The provider ignores load_balancer_spec for PayByCLCU, and ModifyLoadBalancerInstanceSpec refuses
        # pay-by-LCU instances: a spec here could only mislead (load_balancer_tier.SOURCES clb-create, clb-faq).
        section.problems.add("loadBalancer.spec", "pay-by-specification CLBs are no longer sold (since 2025-06-01); "
                             "the stack's pay-by-LCU CLB scales by itself and takes no spec",
                             "remove it; for more than one CLB carries, set loadBalancer.type: nlb")
    derived = (load_balancer_tier.default_type(zones, emqx.capacity.connections, emqx.headroom) if emqx
               else "clb")
    kind = section.string("type", derived, choices=load_balancer_tier.TYPES) or derived
    address_type = section.string("addressType", "intranet", choices=("internet", "intranet"))
    # wrr by default: CLB's API reference accepts wlc for TCP listeners but its console no longer offers it, so an
    # account may refuse it; long-lived connections are evened out by a Rebalance run after a scale-out instead.
    scheduler = section.string("scheduler", "wrr", choices=("wrr", "wlc", "rr"))
    if kind == "nlb" and scheduler == "wlc":
        # nlb.ServerGroup takes Wrr, Rr, Sch, Tch or Qch (terraform-provider-alicloud nlb_server_group scheduler).
        section.problems.add("loadBalancer.scheduler", "an NLB server group has no least-connections scheduler",
                             "use wrr or rr, and even out connections with a rebalance run after a scale-out")
    # MQTT clients send PINGREQ every keepalive; brokers drop a client after 1.5 x keepalive of silence. The LB must
    # not drop a quiet but healthy connection first.
    minimum_idle = int(keepalive * 1.5) + 1
    idle = section.integer("idleTimeoutSeconds", 900, minimum=10, maximum=900)
    # Only where the stack owns the load balancer (a cloud target): an existing cluster's is not ours to judge.
    if cloud is not None and idle is not None and idle <= keepalive * 1.5:
        section.problems.add("loadBalancer.idleTimeoutSeconds",
                             f"{idle}s is not above 1.5 x emqx.keepaliveSeconds ({keepalive}s) = {keepalive * 1.5:g}s, "
                             "so the load balancer would cut idle MQTT clients",
                             f"use at least {minimum_idle}, or lower emqx.keepaliveSeconds")
    hc = section.section("healthCheck")
    # NLB health checks run every 5-50 s (nlb.ServerGroup health_check_interval); CLB's every 1-50 s.
    fastest = 5 if kind == "nlb" else 1
    interval = hc.integer("intervalSeconds", max(2, fastest), minimum=fastest, maximum=50,
                          hint=f"a {kind.upper()} checks every {fastest} to 50 s")
    timeout = hc.integer("timeoutSeconds", 5, minimum=1, maximum=300)
    healthy = hc.integer("healthyThreshold", 5, minimum=2, maximum=10)
    unhealthy = hc.integer("unhealthyThreshold", 2, minimum=2, maximum=10)
    # Production keeps its address through a mistaken destroy; anything else must go with `pulumi destroy`.
    protect = section.boolean("deletionProtection", production)
    # An internet load balancer serves MQTT over TLS only (8883, 8084) unless told otherwise: credentials sent in
    # plain text on the internet are anyone's.
    plain = section.boolean("allowPlainText", address_type != "internet")
    if plain and address_type == "internet" and production:
        section.problems.add("loadBalancer.allowPlainText", "a production broker on the internet would take "
                             "passwords and messages in plain text (1883, 8083)", "remove it: clients connect "
                             "with TLS on 8883 (MQTT) or 8084 (WebSocket)")
    return LoadBalancerSettings(
        type=kind,  # type: ignore[arg-type]
        address_type=address_type or "intranet",  # type: ignore[arg-type]
        scheduler=scheduler or "wrr",  # type: ignore[arg-type]
        idle_timeout_seconds=idle or 900,
        health_check=HealthCheckSettings(interval_seconds=interval or max(2, fastest), timeout_seconds=timeout or 5,
                                         healthy_threshold=healthy or 5, unhealthy_threshold=unhealthy or 2),
        deletion_protection=protect,
        allow_plain_text=plain,
    )


def _aws_load_balancer(section: Section, emqx: EmqxSettings | None, cloud: CloudSettings | None,
                       production: bool) -> LoadBalancerSettings:
    limits = AWS_LIMITS
    keepalive = emqx.keepalive_seconds if emqx else 60
    problems = section.problems
    # An NLB scales by itself and routes each TCP flow by a hash of it (ELB User Guide for Network Load Balancers,
    # "How Elastic Load Balancing works": flow hash algorithm): no spec, no scheduler.
    for name, why in (("spec", "an NLB takes no size: it scales by itself"),
                      ("scheduler", "an NLB routes each connection by a flow hash; there is no scheduler to choose "
                                    "(even out connections with a rebalance run after a scale-out)")):
        if section.has(name):
            section.accept(name)
            problems.add(f"loadBalancer.{name}", f"does not apply to aws: {why}", "remove it")
    if section.has("type") and section.raw.get("type") == "clb":
        section.accept("type")
        problems.add("loadBalancer.type", "clb is Alibaba's Classic Load Balancer; on aws the stack builds a Network "
                     "Load Balancer whose ip target groups the load balancer controller keeps filled "
                     "(components/aws/load_balancer.py)", "remove it, or set nlb")
    else:
        section.string("type", "nlb", choices=("nlb",))
    address_type = section.string("addressType", "intranet", choices=("internet", "intranet"))
    minimum_idle = int(keepalive * 1.5) + 1
    idle = section.integer("idleTimeoutSeconds", 900, minimum=limits.idle[0], maximum=limits.idle[1],
                           hint=f"an NLB's TCP idle timeout is {limits.idle[0]} to {limits.idle[1]} s")
    if cloud is not None and idle is not None and idle <= keepalive * 1.5:
        problems.add("loadBalancer.idleTimeoutSeconds",
                     f"{idle}s is not above 1.5 x emqx.keepaliveSeconds ({keepalive}s) = {keepalive * 1.5:g}s, "
                     "so the load balancer would cut idle MQTT clients",
                     f"use at least {minimum_idle}, or lower emqx.keepaliveSeconds")
    hc = section.section("healthCheck")
    interval = hc.integer("intervalSeconds", 5, minimum=limits.interval[0], maximum=limits.interval[1],
                          hint=f"an NLB checks every {limits.interval[0]} to {limits.interval[1]} s")
    # ELBv2 refuses a target group whose health-check timeout is not below its interval ("ValidationError: Health
    # check interval must be greater than the timeout": aws-load-balancer-controller issue #2951, on an NLB target
    # group; hashicorp/terraform-provider-aws PR #48071). Default: the NLB's TCP default (10 s), kept below it.
    default_timeout = max(limits.timeout[0], min(10, (interval or 5) - 1))
    timeout = hc.integer("timeoutSeconds", default_timeout, minimum=limits.timeout[0], maximum=limits.timeout[1],
                         hint=f"an NLB health check times out after {limits.timeout[0]} to {limits.timeout[1]} s")
    if interval is not None and timeout is not None and timeout >= interval:
        problems.add("loadBalancer.healthCheck.timeoutSeconds",
                     f"{timeout}s is not below healthCheck.intervalSeconds ({interval}s); AWS refuses such a target "
                     "group", f"use at most {interval - 1}, or raise intervalSeconds")
    healthy = hc.integer("healthyThreshold", 5, minimum=limits.threshold[0], maximum=limits.threshold[1])
    unhealthy = hc.integer("unhealthyThreshold", 2, minimum=limits.threshold[0], maximum=limits.threshold[1])
    protect = section.boolean("deletionProtection", production)
    plain = section.boolean("allowPlainText", address_type != "internet")
    if plain and address_type == "internet" and production:
        problems.add("loadBalancer.allowPlainText", "a production broker on the internet would take passwords and "
                     "messages in plain text (1883, 8083)", "remove it: clients connect with TLS on 8883 (MQTT) or "
                     "8084 (WebSocket)")
    return LoadBalancerSettings(
        type="nlb",
        address_type=address_type or "intranet",  # type: ignore[arg-type]
        scheduler="wrr",  # not used on aws (flow hash)
        idle_timeout_seconds=idle or 900,
        health_check=HealthCheckSettings(interval_seconds=interval or 5, timeout_seconds=timeout or default_timeout,
                                         healthy_threshold=healthy or 5, unhealthy_threshold=unhealthy or 2),
        deletion_protection=protect,
        allow_plain_text=plain,
    )


def load_balancer_capacity_problems(load_balancer: LoadBalancerSettings, emqx: EmqxSettings | None,
                                    plan: sizing.SizingPlan | None, cloud: CloudSettings | None,
                                    target: Target | None, problems: Problems) -> None:
    """Refuse a target the chosen load balancer cannot carry: connections with the target's headroom, and the
    reconnect storm after a client node is lost (load_balancer_tier)."""
    # load_balancer_tier holds Alibaba's CLB and NLB limits: another cloud's limits get their own check here.
    if emqx is None or plan is None or cloud is None or target != "alicloud":
        return
    zones = len(cloud.zones)
    connections, headroom = emqx.capacity.connections, emqx.headroom
    # What the cluster admits when a lost node's clients come back; the load balancer must pass it.
    storm = sizing.storm_cluster_rate(plan)
    reasons = load_balancer_tier.shortfalls(load_balancer.type, zones, connections, headroom, storm)
    if not reasons:
        return
    if load_balancer.type == "clb" and not load_balancer_tier.shortfalls("nlb", zones, connections, headroom, storm):
        nlb = load_balancer_tier.limits("nlb", zones)
        fix = (f"set loadBalancer.type: nlb ({nlb.connections:,} connections and "
               f"{nlb.new_connections_per_second:,} new connections/s in {zones} zones), or lower the target")
    else:
        fix = "add zones to cloud.zones (NLB limits grow per zone), or split the target over several stacks"
    problems.add("loadBalancer.type", "; ".join(reasons), fix)
