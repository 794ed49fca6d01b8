"""components/settings/node_tuning.py: the tuning section's parser and the profile built once the sizing is known."""

from __future__ import annotations

import dataclasses
from typing import Any

from components import tuning
from components.config_reader import Problems, Section
from components.render.emqx import max_ports
from components.settings import parse
from components.settings.cluster import parse_cluster
from components.settings.node_tuning import TuningOverrides, build_tuning_profile, parse_tuning

ALICLOUD: dict[str, Any] = {
    "target": "alicloud",
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
    "emqx": {"edition": "opensource", "version": "5.8.9", "capacity": {"connections": 20000, "messageRate": 2000}},
}


def overrides(raw: Any) -> tuple[TuningOverrides, list[str]]:
    problems = Problems()
    section = Section("tuning", raw, problems)
    parsed = parse_tuning(section)
    section.finish()
    return parsed, problems.items


def keys(found: list[str]) -> list[str]:
    return [p.split(":", 1)[0] for p in found]


def test_nothing_set_is_no_override() -> None:
    parsed, found = overrides(None)
    assert found == [] and dict(parsed.sysctls) == {} and parsed.nofile is None


def test_a_misspelt_sysctl_and_an_open_file_limit_out_of_range_are_refused() -> None:
    _, found = overrides({"sysctls": {"net.core.somaxconm": 1024}, "nofile": 1000})
    assert len(found) == 2
    assert found[0].startswith('tuning.sysctls["net.core.somaxconm"]: unknown') and "net.core.somaxconn" in found[0]
    assert found[1].startswith("tuning.nofile: 1000 is below the minimum 65536")
    _, found = overrides({"nofile": tuning.NR_OPEN_MAX + 1})
    assert keys(found) == ["tuning.nofile"] and "fs.nr_open" in found[0]


def test_the_profile_follows_the_plan_and_the_cluster_minor() -> None:
    plan = parse(ALICLOUD, stack="test").sizing
    cluster = parse_cluster(Section("cluster", None, Problems()), "alicloud", False)
    parsed, _ = overrides(None)
    problems = Problems()
    profile = build_tuning_profile(parsed, plan, cluster, problems)
    assert problems.items == [] and profile is not None
    assert profile.nofile > max_ports(plan.max_connections_per_node)


def test_an_open_file_limit_not_above_the_ports_is_refused() -> None:
    plan = dataclasses.replace(parse(ALICLOUD, stack="test").sizing, max_connections_per_node=1_000_000)
    cluster = parse_cluster(Section("cluster", None, Problems()), "alicloud", False)
    ports = max_ports(plan.max_connections_per_node)
    problems = Problems()
    build_tuning_profile(TuningOverrides(sysctls={}, nofile=ports), plan, cluster, problems)
    assert keys(problems.items)[0] == "tuning.nofile" and f"node.max_ports ({ports}" in problems.items[0]
    fine = Problems()
    assert build_tuning_profile(TuningOverrides(sysctls={}, nofile=ports + 1), plan, cluster, fine) is not None
    assert not any(p.startswith("tuning.nofile: ") and "node.max_ports" in p for p in fine.items)
