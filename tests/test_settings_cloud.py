"""components/settings/cloud.py: the cloud section's parser, called directly (per target)."""

from __future__ import annotations

from typing import Any

from components.config_reader import Problems, Section
from components.settings.cloud import CLOUD_PARSERS, CloudSettings, parse_cloud, provider_region_problems


def cloud(raw: Any, target: str | None = "alicloud",
          production: bool = False) -> tuple[CloudSettings | None, list[str]]:
    problems = Problems()
    section = Section("cloud", raw, problems)
    parsed = parse_cloud(section, target, production)  # type: ignore[arg-type]
    section.finish()
    return parsed, problems.items


def keys(found: list[str]) -> list[str]:
    return [p.split(":", 1)[0] for p in found]


def test_an_alicloud_cloud_is_read() -> None:
    parsed, found = cloud({"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]})
    assert found == []
    assert parsed == CloudSettings(region="cn-hangzhou", zones=("cn-hangzhou-h", "cn-hangzhou-i"))


def test_targets_without_a_cloud_section_read_nothing() -> None:
    # The dispatch is keyed by target: only the targets in the table have a cloud section.
    assert set(CLOUD_PARSERS) == {"alicloud", "aws"}
    for target in ("existing", None):
        parsed, found = cloud({"region": "cn-hangzhou"}, target)
        assert parsed is None
        # Nothing was read, so finish() reports the key as unknown: the caller ignores the section for such targets.
        assert keys(found) == ["cloud.region"]


def test_the_region_is_required() -> None:
    _, found = cloud({"zones": ["cn-hangzhou-h", "cn-hangzhou-i"]})
    assert keys(found) == ["cloud.region"] and "required" in found[0]


def test_production_needs_three_zones_and_others_two() -> None:
    two = {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]}
    assert cloud(two, production=False)[1] == []
    _, found = cloud(two, production=True)
    assert keys(found) == ["cloud.zones"]
    _, found = cloud({"region": "cn-hangzhou", "zones": ["cn-hangzhou-h"]})
    assert keys(found) == ["cloud.zones"]


def test_a_malformed_region_is_refused() -> None:
    _, found = cloud({"region": "CN_Hangzhou", "zones": ["a", "b"]})
    assert keys(found) == ["cloud.region"] and "'CN_Hangzhou'" in found[0]


def test_an_unknown_region_is_refused_with_a_suggestion() -> None:
    _, found = cloud({"region": "cn-hangzou", "zones": ["cn-hangzou-a", "cn-hangzou-b"]})
    assert keys(found) == ["cloud.region"] and "did you mean cn-hangzhou?" in found[0]


def test_a_region_the_table_lacks_is_accepted_with_its_zones_listed_as_extra() -> None:
    raw = {"region": "cn-newregion", "zones": ["cn-newregion-a", "cn-newregion-b"],
           "extraZones": ["cn-newregion-a", "cn-newregion-b"]}
    parsed, found = cloud(raw)
    assert found == [] and parsed is not None and parsed.region == "cn-newregion"


def test_a_zone_of_another_region_and_an_unknown_zone_are_refused() -> None:
    _, found = cloud({"region": "cn-hangzhou", "zones": ["cn-shanghai-a", "cn-hangzhou-h"]})
    assert keys(found) == ["cloud.zones[0]"]
    _, found = cloud({"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-z"]})
    assert keys(found) == ["cloud.zones[1]"] and "extraZones" in found[0]


def test_an_extra_zone_must_be_one_of_the_zones() -> None:
    _, found = cloud({"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"],
                      "extraZones": ["cn-hangzhou-q"]})
    assert keys(found) == ["cloud.extraZones[0]"]


def test_a_zone_too_long_for_node_pool_names_is_refused() -> None:
    # emqx-<24 characters>-emqx-<zone> must fit 63: a 29-character zone does not (28 would).
    region = "ap-" + "x" * 25
    zones = [region + "a", region + "b"]
    _, found = cloud({"region": region, "zones": zones, "extraZones": zones})
    assert keys(found) == ["cloud.zones[0]", "cloud.zones[1]"] and "of up to 64 characters, over ACK's 63" in found[0]


def test_a_provider_region_must_match_cloud_region() -> None:
    parsed = CloudSettings(region="cn-hangzhou", zones=("cn-hangzhou-h", "cn-hangzhou-i"))
    problems = Problems()
    provider_region_problems(parsed, {"alicloud:region": "cn-hangzhou"}, problems)
    assert problems.items == []
    provider_region_problems(parsed, {"alicloud:region": "cn-shanghai"}, problems)
    assert len(problems.items) == 1 and problems.items[0].startswith("alicloud:region: 'cn-shanghai' differs")
    # Without a cloud (an existing cluster), the provider key is not compared with anything.
    other = Problems()
    provider_region_problems(None, {"alicloud:region": "cn-shanghai"}, other)
    assert other.items == []
