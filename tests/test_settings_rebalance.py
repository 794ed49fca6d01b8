"""components/settings/rebalance.py: the rebalance section's parser and the edition rule."""

from __future__ import annotations

from typing import Any

from components.config_reader import Problems, Section
from components.settings.emqx import parse_emqx
from components.settings.rebalance import RebalanceRun, parse_rebalance, ratio_text, rebalance_edition_problems


def rebalance(raw: Any) -> tuple[tuple[RebalanceRun, ...], list[str]]:
    problems = Problems()
    section = Section("rebalance", raw, problems)
    parsed = parse_rebalance(section)
    section.finish()
    return parsed, problems.items


def keys(found: list[str]) -> list[str]:
    return [p.split(":", 1)[0] for p in found]


def test_a_run_is_read_with_its_defaults() -> None:
    runs, found = rebalance({"runs": [{"name": "after-scale-out-1", "connEvictRate": 500}]})
    assert found == []
    assert runs == (RebalanceRun(name="after-scale-out-1", conn_evict_rate=500, sess_evict_rate=500, wait_takeover=60,
                                 wait_health_check=60, abs_conn_threshold=1000, rel_conn_threshold="1.1",
                                 abs_sess_threshold=1000, rel_sess_threshold="1.1"),)


def test_required_fields_ratios_and_names_are_checked() -> None:
    runs, found = rebalance({"runs": [{"name": "a", "connEvictRate": 1, "relConnThreshold": 1.0},
                                      {"name": "a", "connEvictRate": 1}, {"connEvictRate": 1}]})
    assert keys(found) == ["rebalance.runs[0].relConnThreshold", "rebalance.runs[1].name", "rebalance.runs[2].name"]
    assert "EMQX refuses" in found[0] and "required" in found[2]
    assert [r.name for r in runs] == ["a", "a"]


def test_ratios_keep_every_digit() -> None:
    assert ratio_text(1.1) == "1.1" and ratio_text(2.0) == "2" and ratio_text(1.0000001) == "1.0000001"


def test_rebalancing_is_enterprise_only() -> None:
    runs, _ = rebalance({"runs": [{"name": "a", "connEvictRate": 1}]})
    open_source = parse_emqx(Section("emqx", None, Problems()), False)
    enterprise = parse_emqx(Section("emqx", {"edition": "enterprise", "version": "5.10.3"}, Problems()), False)
    assert open_source is not None and enterprise is not None
    problems = Problems()
    rebalance_edition_problems(runs, open_source, problems)
    assert keys(problems.items) == ["rebalance.runs"] and "Enterprise-only" in problems.items[0]
    for emqx, given in ((enterprise, runs), (open_source, ())):
        fine = Problems()
        rebalance_edition_problems(given, emqx, fine)
        assert fine.items == []
