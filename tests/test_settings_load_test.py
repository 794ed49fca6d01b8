"""components/settings/load_test.py: the loadTest section's parser; node_pools.load_test_pool, the generators' pool."""

from __future__ import annotations

from typing import Any

from components import sizing
from components.config_reader import Problems, Section
from components.settings import parse
from components.settings.emqx import EmqxSettings, parse_emqx
from components.settings.existing import ExistingClusterSettings
from components.settings.load_test import LoadTestRun, parse_load_test
from components.settings.node_pools import NodePoolSettings, load_test_pool

RUN: dict[str, Any] = {"name": "small", "connections": 1000, "publishers": 100, "subscribers": 100,
                       "messageRate": 1000, "username": "bench"}
ALICLOUD: dict[str, Any] = {
    "target": "alicloud",
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
    "emqx": {"edition": "opensource", "version": "5.8.9", "capacity": {"connections": 20000, "messageRate": 2000}},
}


def an_emqx(raw: Any = None) -> EmqxSettings:
    parsed = parse_emqx(Section("emqx", raw, Problems()), False)
    assert parsed is not None
    return parsed


def runs(raw: Any, emqx: EmqxSettings | None = None, existing: ExistingClusterSettings | None = None,
         mqtt_users: object = "bench:a-long-password-1") -> tuple[tuple[LoadTestRun, ...], list[str]]:
    problems = Problems()
    section = Section("loadTest", raw, problems)
    parsed = parse_load_test(section, emqx if emqx is not None else an_emqx(), existing, mqtt_users)
    section.finish()
    return parsed, problems.items


def keys(found: list[str]) -> list[str]:
    return [p.split(":", 1)[0] for p in found]


def test_a_run_is_read_with_its_defaults() -> None:
    parsed, found = runs({"runs": [RUN]})
    assert found == [] and len(parsed) == 1
    run = parsed[0]
    assert (run.connect_rate, run.topic, run.payload_bytes, run.qos, run.duration_seconds, run.target) == (
        1000, "bench/%i", 256, 1, 300, "loadBalancer")
    assert run.key == "loadTest.runs[0]"


def test_a_run_with_a_problem_is_not_planned() -> None:
    parsed, found = runs({"runs": [dict(RUN, subscribers=0)]})
    assert parsed == () and "loadTest.runs[0].subscribers" in keys(found)


def test_a_run_above_the_capacity_is_refused() -> None:
    _, found = runs({"runs": [dict(RUN, connections=20_000)]}, an_emqx({"capacity": {"connections": 10_000}}))
    assert keys(found) == ["loadTest.runs[0].connections"] and "emqx.capacity.connections" in found[0]


def test_publishers_and_rates_must_agree() -> None:
    _, found = runs({"runs": [dict(RUN, messageRate=0)]})
    assert keys(found) == ["loadTest.runs[0].messageRate"]
    _, found = runs({"runs": [dict(RUN, publishers=200)]})
    assert keys(found) == ["loadTest.runs[0].publishers"] and "reach nobody" in found[0]
    # emqtt-bench paces each publisher in whole milliseconds: 100 publishers cannot send 150,000 messages/s.
    _, found = runs({"runs": [dict(RUN, messageRate=150_000)]}, an_emqx({"capacity": {"messageRate": 1_000_000}}))
    assert keys(found) == ["loadTest.runs[0].messageRate"] and "whole number of milliseconds" in found[0]


def test_names_are_unique_and_users_known() -> None:
    _, found = runs({"runs": [RUN, RUN]})
    assert keys(found) == ["loadTest.runs[1].name"]
    _, found = runs({"runs": [dict(RUN, username=None)]})
    assert keys(found) == ["loadTest.runs[0].username"] and "only known users" in found[0]
    _, found = runs({"runs": [RUN]}, mqtt_users=None)
    assert keys(found) == ["loadTest.runs[0].username"] and "mqttUsers is not set" in found[0]


def test_an_existing_cluster_has_no_load_balancer_address() -> None:
    existing = ExistingClusterSettings(None, None, "NodePort", (), sizing.NodeShape(8, 16.0), False)
    _, found = runs({"runs": [RUN]}, existing=existing)
    assert keys(found) == ["loadTest.runs[0].target"]
    _, found = runs({"runs": [dict(RUN, target="inCluster")]}, existing=existing)
    assert found == []


def test_the_generators_pool_follows_the_largest_run() -> None:
    settings = parse(ALICLOUD, stack="test")
    parsed, _ = runs({"runs": [RUN]})
    pool = NodePoolSettings("loadgen", True, ("ecs.c7.2xlarge",), 0, "cloud_essd", 120, rollout_surge=0)
    problems = Problems()
    sized = load_test_pool(parsed, settings.tuning, pool, problems)
    assert problems.items == [] and sized is not None and sized.count >= 1
    off = NodePoolSettings("loadgen", False, ("ecs.c7.2xlarge",), 0, "cloud_essd", 120, rollout_surge=0)
    problems = Problems()
    load_test_pool(parsed, settings.tuning, off, problems)
    assert keys(problems.items) == ["nodePools.loadgen.enabled"]
    # Without runs, or before the tuning profile is known, the pool is left as read.
    assert load_test_pool((), settings.tuning, off, Problems()) is off
    assert load_test_pool(parsed, None, off, Problems()) is off
