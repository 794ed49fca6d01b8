"""The node-shape catalogue: every figure it states has a source with a URL and the date read; unknown is None."""

from __future__ import annotations

import dataclasses
import datetime

from components import sizing
from components.catalogue import SOURCE_KEYS, alicloud


def test_every_stated_figure_names_a_source_with_a_url_and_a_date() -> None:
    assert alicloud.INSTANCE_TYPES
    for name, entry in alicloud.INSTANCE_TYPES.items():
        values = dataclasses.asdict(entry)
        for figure in SOURCE_KEYS:
            if values[figure] is None:
                assert figure not in entry.sources, f"{name}.{figure} is unknown but claims a source"
                continue
            key = entry.sources.get(figure)
            assert key in alicloud.SOURCES, f"{name}.{figure} = {values[figure]} has no source"
            source = alicloud.SOURCES[key]
            assert source.url.startswith("https://") and source.says
            datetime.date.fromisoformat(source.read)


def test_a_price_comes_with_its_currency_and_region() -> None:
    for entry in alicloud.INSTANCE_TYPES.values():
        if entry.price_per_hour is not None:
            assert entry.currency == alicloud.CURRENCY and entry.region == alicloud.REGION


def test_shapes_follow_the_published_naming_rule() -> None:
    # alibaba-naming: large = 2 vCPU, Nxlarge = 4N; c families 2 GiB per vCPU, g families 4.
    assert (alicloud.INSTANCE_TYPES["ecs.c7.large"].vcpu, alicloud.INSTANCE_TYPES["ecs.c7.large"].memory_gib) == (2, 4)
    assert (alicloud.INSTANCE_TYPES["ecs.g8i.4xlarge"].vcpu,
            alicloud.INSTANCE_TYPES["ecs.g8i.4xlarge"].memory_gib) == (16, 64)
    assert alicloud.INSTANCE_TYPES["ecs.c8y.16xlarge"].arch == "arm64"
    assert {t.family for t in alicloud.INSTANCE_TYPES.values()} == {"ecs.c7", "ecs.c8i", "ecs.c8y", "ecs.g7",
                                                                     "ecs.g8i"}


def test_the_sizing_table_knows_every_catalogue_type() -> None:
    for name, entry in alicloud.INSTANCE_TYPES.items():
        assert sizing.INSTANCE_SHAPES[name] == sizing.NodeShape(entry.vcpu, entry.memory_gib)
