"""components/settings/load_balancer.py: the loadBalancer section's parser and the capacity check."""

from __future__ import annotations

import dataclasses
from typing import Any

from components import load_balancer_tier, sizing
from components.config_reader import Problems, Section
from components.settings import parse
from components.settings.cloud import CloudSettings
from components.settings.emqx import EmqxSettings, parse_emqx
from components.settings.load_balancer import (
    LoadBalancerSettings,
    load_balancer_capacity_problems,
    parse_load_balancer,
)

CLOUD = CloudSettings(region="cn-hangzhou", zones=("cn-hangzhou-h", "cn-hangzhou-i"))
ALICLOUD: dict[str, Any] = {
    "target": "alicloud",
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
    "emqx": {"edition": "opensource", "version": "5.8.9", "capacity": {"connections": 20000, "messageRate": 2000}},
}


def an_emqx(raw: Any = None) -> EmqxSettings:
    problems = Problems()
    parsed = parse_emqx(Section("emqx", raw, problems), False)
    assert parsed is not None and problems.items == []
    return parsed


def balancer(raw: Any, emqx: EmqxSettings | None = None, cloud: CloudSettings | None = CLOUD,
             production: bool = False) -> tuple[LoadBalancerSettings, list[str]]:
    problems = Problems()
    section = Section("loadBalancer", raw, problems)
    parsed = parse_load_balancer(section, emqx if emqx is not None else an_emqx(), cloud, production)
    section.finish()
    return parsed, problems.items


def keys(found: list[str]) -> list[str]:
    return [p.split(":", 1)[0] for p in found]


def test_the_defaults() -> None:
    parsed, found = balancer(None)
    assert found == []
    assert (parsed.type, parsed.address_type, parsed.scheduler, parsed.idle_timeout_seconds) == (
        "clb", "intranet", "wrr", 900)
    assert parsed.allow_plain_text and parsed.served_ports == (1883, 8883, 8083, 8084)
    assert parsed.health_check.interval_seconds == 2 and not parsed.deletion_protection


def test_an_internet_load_balancer_serves_tls_only_unless_told() -> None:
    parsed, found = balancer({"addressType": "internet"})
    assert found == [] and not parsed.allow_plain_text and parsed.served_ports == (8883, 8084)
    _, found = balancer({"addressType": "internet", "allowPlainText": True}, production=True)
    assert keys(found) == ["loadBalancer.allowPlainText"]


def test_certificate_only_auth_switches_plain_text_off() -> None:
    emqx = an_emqx({"auth": {"builtInDatabase": {"enabled": False}, "x509": {}}})
    parsed, found = balancer(None, emqx)
    assert found == [] and not parsed.allow_plain_text


def test_the_idle_timeout_must_outlast_the_keepalive() -> None:
    # Above 1.5 x keepalive, not equal to it: 900 s outlasts 599 s (898.5) but not 600 s.
    _, found = balancer({"idleTimeoutSeconds": 900}, an_emqx({"keepaliveSeconds": 599}))
    assert found == []
    _, found = balancer({"idleTimeoutSeconds": 900}, an_emqx({"keepaliveSeconds": 600}))
    assert keys(found) == ["loadBalancer.idleTimeoutSeconds"] and "at least 901" in found[0]
    _, found = balancer({"idleTimeoutSeconds": 90}, an_emqx({"keepaliveSeconds": 60}))
    assert keys(found) == ["loadBalancer.idleTimeoutSeconds"] and "at least 91" in found[0]
    # An existing cluster's load balancer is not the stack's to judge.
    _, found = balancer({"idleTimeoutSeconds": 90}, an_emqx({"keepaliveSeconds": 60}), cloud=None)
    assert found == []


def test_nlb_rules_and_the_retired_spec() -> None:
    _, found = balancer({"type": "nlb", "scheduler": "wlc", "healthCheck": {"intervalSeconds": 2}})
    assert keys(found) == ["loadBalancer.scheduler", "loadBalancer.healthCheck.intervalSeconds"]
    _, found = balancer({"spec": "slb.s3.large"})
    assert keys(found) == ["loadBalancer.spec"] and "nlb" in found[0]


def test_a_target_the_load_balancer_cannot_carry_is_refused() -> None:
    settings = parse(ALICLOUD, stack="test")
    clb, _ = balancer({"type": "clb"})
    big = dataclasses.replace(settings.emqx, capacity=dataclasses.replace(settings.emqx.capacity,
                                                                          connections=50_000_000))
    assert load_balancer_tier.shortfalls("clb", 2, 50_000_000, big.headroom, sizing.storm_cluster_rate(settings.sizing))
    problems = Problems()
    load_balancer_capacity_problems(clb, big, settings.sizing, CLOUD, "alicloud", problems)
    assert keys(problems.items) == ["loadBalancer.type"]
    # The tier limits are Alibaba's: other targets are not judged by them.
    for target in ("existing", "aws"):
        other = Problems()
        load_balancer_capacity_problems(clb, big, settings.sizing, CLOUD, target, other)  # type: ignore[arg-type]
        assert other.items == []
    fits = Problems()
    load_balancer_capacity_problems(clb, settings.emqx, settings.sizing, CLOUD, "alicloud", fits)
    assert fits.items == []
