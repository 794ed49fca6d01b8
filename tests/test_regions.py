"""The region table: well-formed ids, the stacks' zones present, and zone ids that fit the derived names."""

from __future__ import annotations

from pathlib import Path

import yaml

from components import regions, settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_listed_region_and_zone_is_a_well_formed_id() -> None:
    for region, zones in regions.ZONES.items():
        assert regions.region_syntax_problem(region) is None, region
        assert zones and len(set(zones)) == len(zones), region
        for zone in zones:
            assert regions.zone_syntax_problem(zone, region) is None, zone
            assert regions.is_listed(region, zone)


def test_the_stacks_regions_and_zones_are_in_the_table() -> None:
    for stack in sorted((ROOT / "stacks").glob("Pulumi.*.yaml")):
        config = yaml.safe_load(stack.read_text())["config"]
        cloud = config.get("emqx-platform:cloud")
        # The table is Alibaba's; an aws stack's zones are checked against its region by the settings.
        if cloud and config.get("emqx-platform:target") == "alicloud":
            assert all(regions.is_listed(cloud["region"], z) for z in cloud["zones"]), stack
    assert {"cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"} <= set(regions.ZONES["cn-hangzhou"])


def test_node_pool_names_fit_for_every_listed_zone_and_the_longest_stack_name() -> None:
    longest = max(len(z) for zones in regions.ZONES.values() for z in zones)
    assert len(f"emqx-{'x' * settings.STACK_NAME_MAX}-emqx-{'z' * longest}") <= settings.NAME_LIMIT


def test_ids_with_characters_an_id_cannot_have_are_refused() -> None:
    for region in ("cn-hangzhou/", "cn-hangzhou\n", "Cn-hangzhou", "cn-\uff48angzhou", "x" * 40, "cn"):
        assert regions.region_syntax_problem(region), region
    for zone in ("cn-hangzhou-h\n", "cn-hangzhou-H", "cn-hangzhou--h", "cn-hangzhou-hhhhhh", "cn-beijing-a"):
        assert regions.zone_syntax_problem(zone, "cn-hangzhou"), zone
