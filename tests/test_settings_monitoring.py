"""components/settings/monitoring.py: the monitoring section's parser."""

from __future__ import annotations

from typing import Any

from components.config_reader import Problems, Section
from components.settings.monitoring import MonitoringSettings, parse_monitoring


def monitoring(raw: Any) -> tuple[MonitoringSettings, list[str]]:
    problems = Problems()
    section = Section("monitoring", raw, problems)
    parsed = parse_monitoring(section)
    section.finish()
    return parsed, problems.items


def keys(found: list[str]) -> list[str]:
    return [p.split(":", 1)[0] for p in found]


def test_the_defaults() -> None:
    assert monitoring(None) == (MonitoringSettings(prometheus_operator=False, labels=(), scrape_interval="15s",
                                                   grafana_dashboard=True, dashboard_namespace=None), [])


def test_a_full_section_is_read() -> None:
    parsed, found = monitoring({"prometheusOperator": True, "labels": {"release": "kps"}, "scrapeInterval": "1m",
                                "grafanaDashboard": False, "dashboardNamespace": "grafana"})
    assert found == []
    assert parsed == MonitoringSettings(True, (("release", "kps"),), "1m", False, "grafana")


def test_a_scrape_interval_past_ten_minutes_is_refused() -> None:
    assert monitoring({"scrapeInterval": "600s"})[1] == []
    parsed, found = monitoring({"scrapeInterval": "11m"})
    assert keys(found) == ["monitoring.scrapeInterval"] and "stale" in found[0]
    assert parsed.scrape_interval == "15s"
    _, found = monitoring({"scrapeInterval": "15"})
    assert keys(found) == ["monitoring.scrapeInterval"]


def test_bad_labels_and_namespaces_are_refused() -> None:
    _, found = monitoring({"labels": {"bad key!": "x"}, "dashboardNamespace": "Grafana"})
    assert keys(found) == ["monitoring.labels.bad key!", "monitoring.dashboardNamespace"]
