"""monitoring: the Prometheus Operator objects and the Grafana dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from components.config_reader import Section
from components.settings.common import DNS_LABEL


@dataclass(frozen=True)
class MonitoringSettings:
    prometheus_operator: bool
    labels: tuple[tuple[str, str], ...]
    scrape_interval: str
    grafana_dashboard: bool
    dashboard_namespace: str | None  # None: the EMQX namespace


def parse_monitoring(section: Section) -> MonitoringSettings:
    enabled = section.boolean("prometheusOperator", False)
    labels = section.string_map("labels", kind="label")
    interval = section.string("scrapeInterval", "15s", pattern=r"[1-9][0-9]{0,3}(s|m)",
                              hint="a duration such as 15s (1s to 9999m)")
    if interval is not None and (int(interval[:-1]) * (60 if interval.endswith("m") else 1)) > 600:
        # Prometheus marks a series stale after 5 min without a sample: a longer interval leaves gaps in every panel
        # and makes rate() over the alerts' windows empty.
        section.problems.add("monitoring.scrapeInterval", f"{interval} is longer than 10 minutes, so series go stale "
                             "between scrapes", "use 10s to 1m")
        interval = None
    dashboard = section.boolean("grafanaDashboard", True)
    dashboard_namespace = section.string("dashboardNamespace", None, pattern=DNS_LABEL,
                                         hint="the namespace your Grafana's dashboard sidecar watches")
    return MonitoringSettings(prometheus_operator=enabled, labels=labels, scrape_interval=interval or "15s",
                              grafana_dashboard=dashboard, dashboard_namespace=dashboard_namespace)
