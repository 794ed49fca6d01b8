"""components/settings/charts.py: the charts section's parser and the install toggles per target."""

from __future__ import annotations

from typing import Any

from components.config_reader import Problems, Section
from components.settings.charts import ChartSettings, charts_target_problems, parse_charts


def charts(raw: Any) -> tuple[ChartSettings, list[str]]:
    problems = Problems()
    section = Section("charts", raw, problems)
    parsed = parse_charts(section)
    section.finish()
    return parsed, problems.items


def keys(found: list[str]) -> list[str]:
    return [p.split(":", 1)[0] for p in found]


def test_the_defaults() -> None:
    assert charts(None) == (ChartSettings(cert_manager_version="v1.21.1", emqx_operator_version="2.2.29"), [])


def test_releases_are_checked() -> None:
    parsed, found = charts({"certManagerVersion": "v1.15.0", "emqxOperatorVersion": "2.2.30",
                            "imageRegistry": "registry.example.com:5000/mirror"})
    assert found == [] and parsed.cert_manager_version == "v1.15.0" and parsed.image_registry is not None
    parsed, found = charts({"certManagerVersion": "v1.14.9"})
    assert keys(found) == ["charts.certManagerVersion"] and "crds.enabled" in found[0]
    assert parsed.cert_manager_version == "v1.21.1"
    _, found = charts({"certManagerVersion": "1.15.0", "emqxOperatorVersion": "2.3.0", "imageRegistry": "Bad/Reg"})
    assert keys(found) == ["charts.certManagerVersion", "charts.emqxOperatorVersion", "charts.imageRegistry"]


def test_install_toggles_only_apply_to_existing_clusters() -> None:
    parsed, _ = charts({"installCertManager": False, "installOperator": False})
    existing = Problems()
    charts_target_problems(parsed, "existing", existing)
    assert existing.items == []
    for target in ("alicloud", "aws"):
        problems = Problems()
        charts_target_problems(parsed, target, problems)  # type: ignore[arg-type]
        assert keys(problems.items) == ["charts.installCertManager", "charts.installOperator"]
        assert f"the {target} cluster" in problems.items[0]
    # An unknown target is reported by the target itself.
    none = Problems()
    charts_target_problems(parsed, None, none)
    assert none.items == []
