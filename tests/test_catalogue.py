"""The node-shape catalogue: every figure it states has a source with a URL and the date read; unknown is None."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from components import sizing
from components.catalogue import SOURCE_KEYS, alicloud, aws, cost


@pytest.mark.parametrize("catalogue", [alicloud, aws], ids=["alicloud", "aws"])
def test_every_stated_figure_names_a_source_with_a_url_and_a_date(catalogue: Any) -> None:
    assert catalogue.INSTANCE_TYPES
    for name, entry in catalogue.INSTANCE_TYPES.items():
        values = dataclasses.asdict(entry)
        for figure in SOURCE_KEYS:
            if values[figure] is None:
                assert figure not in entry.sources, f"{name}.{figure} is unknown but claims a source"
                continue
            key = entry.sources.get(figure)
            assert key in catalogue.SOURCES, f"{name}.{figure} = {values[figure]} has no source"
            source = catalogue.SOURCES[key]
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


# --- the stack's cost estimate by role --------------------------------------------------------------------------------

LOAD_TEST_STACK = {
    "target": "alicloud",
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
    "emqx": {"edition": "opensource", "version": "5.8.9", "capacity": {"connections": 200_000, "messageRate": 20_000},
             "auth": {"allowAnonymous": True}},
    "loadTest": {"runs": [{"name": "r1", "connections": 200_000, "connectRate": 2000}]},
}


def _settings(values: dict[str, object]) -> object:
    from components.settings import SECRET_KEYS, parse

    return parse(values, stack="test", secret_keys={k for k in SECRET_KEYS if k in values})


def _priced(monkeypatch: pytest.MonkeyPatch, prices: dict[str, float]) -> None:
    """The catalogue as it will be once prices are read: the same entries with a price each."""
    table = {name: dataclasses.replace(entry, price_per_hour=prices.get(name, 1.0), currency=alicloud.CURRENCY)
             for name, entry in alicloud.INSTANCE_TYPES.items()}
    monkeypatch.setattr(alicloud, "INSTANCE_TYPES", table)


def test_the_load_generator_pool_is_a_role_of_its_own_while_runs_keep_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    without = {k: v for k, v in LOAD_TEST_STACK.items() if k != "loadTest"}
    assert "load_generators" not in cost.stack_cost(_settings(without))["roles"]  # type: ignore[operator]
    settings = _settings(LOAD_TEST_STACK)
    pool = settings.loadgen_pool  # type: ignore[attr-defined]
    roles = cost.stack_cost(settings)["roles"]
    assert isinstance(roles, dict)
    # 200k clients: 4 pods of idle clients at 58,054 each, one node per pod, on the pool's default type.
    assert roles["load_generators"]["instance_type"] == "ecs.c7.2xlarge" == pool.instance_types[0]
    assert roles["load_generators"]["count_at_rest"] == roles["load_generators"]["count_at_peak"] == pool.count == 4
    # Priced: the role costs its nodes for a month, and the stack's total carries it.
    _priced(monkeypatch, {"ecs.c7.2xlarge": 2.0})
    priced, unpriced_base = cost.stack_cost(settings), cost.stack_cost(_settings(without))
    role = priced["roles"]["load_generators"]  # type: ignore[index]
    assert role["monthly_at_rest"] == pytest.approx(2.0 * 4 * sizing.HOURS_PER_MONTH)
    # The load balancer and the NAT gateway stay unpriced: the total says so rather than a partial sum.
    assert priced["monthly_at_rest"] == unpriced_base["monthly_at_rest"] == "unknown"


# --- the published figures, against Alibaba's own tables --------------------------------------------------------------

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
DOCS = SCHEMAS / "alibaba-ecs-docs"
PAGES = {"ecs.c7": "322eaab8/compute-optimized-instance-families.md",
         "ecs.g7": "322eaab8/general-purpose-instance-families.md"}


@pytest.mark.parametrize("vendored", ["alibaba-ecs-docs", "aws-ec2-docs"])
def test_the_vendored_tables_are_the_recorded_upstream_bytes(vendored: str) -> None:
    root = SCHEMAS / vendored
    text = (root / "SOURCE.md").read_text(encoding="utf-8")
    sums = dict((p, d) for d, p in re.findall(r"^([0-9a-f]{64})  (\S+)$", text, flags=re.MULTILINE))
    assert set(sums) == {str(p.relative_to(root)) for p in root.glob("*/*") if p.is_file()}
    for path, digest in sums.items():
        assert hashlib.sha256((root / path).read_bytes()).hexdigest() == digest, f"{path} was edited"


def _table_rows(page: str, family: str) -> dict[str, dict[str, str]]:
    """Each `|ecs.<family>.<size>|...|` row of the page, by column header (the header row above it)."""
    rows: dict[str, dict[str, str]] = {}
    header: list[str] = []
    for line in (DOCS / page).read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == "Instance type":
            header = cells
        elif cells and cells[0].startswith(f"{family}.") and header:
            rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def _number(cell: str) -> float:
    """`2/burstable up to 10` -> 2 (the baseline); `Up to 250,000` -> 250000; `1,200,000` -> 1200000."""
    match = re.search(r"[0-9][0-9,.]*", cell)
    assert match, cell
    return float(match.group(0).replace(",", ""))


@pytest.mark.parametrize("family", sorted(PAGES))
def test_the_network_figures_are_alibaba_s_published_ones(family: str) -> None:
    rows = _table_rows(PAGES[family], family)
    ours = {n: t for n, t in alicloud.INSTANCE_TYPES.items() if t.family == family}
    assert ours and set(ours) <= set(rows), "every catalogue type of the family is in Alibaba's table"
    for name, entry in ours.items():
        row = rows[name]
        vcpu = next(v for k, v in row.items() if k.startswith("vCPU"))
        assert (entry.vcpu, entry.memory_gib) == (_number(vcpu), _number(row["Memory \\(GiB\\)"])), name
        assert entry.bandwidth_gbps == _number(row["Baseline/burst bandwidth \\(Gbit/s\\)"]), name
        assert entry.pps == _number(row["Packet forwarding rate \\(pps\\)"]), name
        assert entry.connections == _number(row["Connections"]), name


def test_families_without_a_readable_table_stay_unknown() -> None:
    for entry in alicloud.INSTANCE_TYPES.values():
        if entry.family not in PAGES:
            assert (entry.bandwidth_gbps, entry.pps, entry.connections, entry.price_per_hour) == (None,) * 4


AWS_PAGE = SCHEMAS / "aws-ec2-docs" / "d2899614" / "compute-optimized-instances.md"


def _aws_tables() -> dict[str, dict[str, list[str]]]:
    """The page's tables keyed by their second header cell ("Default vCPUs", "Network performance", "Baseline
    bandwidth (Gbps)"), each as type -> its other cells, with the page's Markdown escapes removed."""
    tables: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in AWS_PAGE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            current = None
            continue
        cells = [c.strip().replace("\\", "") for c in line.strip().strip("|").split("|")]
        if not cells:
            current = None
        elif cells[0] == "Instance type":
            current = tables.setdefault(cells[1], {})
        elif current is not None and not cells[0].startswith("---"):
            current[cells[0].rstrip(" \u2020")] = cells[1:]  # the page marks bursting types with a dagger
    return tables


def test_the_aws_figures_are_aws_s_published_ones() -> None:
    tables = _aws_tables()
    hardware, performance = tables["Default vCPUs"], tables["Network performance"]
    baseline = tables["Baseline bandwidth (Gbps)"]
    assert aws.INSTANCE_TYPES
    for name, entry in aws.INSTANCE_TYPES.items():
        assert (entry.vcpu, entry.memory_gib) == (int(hardware[name][0]), float(hardware[name][1])), name
        # A type that bursts states its baseline in the credit table; the others sustain their stated figure.
        expected = float(baseline[name][0]) if name in baseline else _number(performance[name][0])
        assert not performance[name][0].startswith("Up to") or name in baseline, name
        assert entry.bandwidth_gbps == expected, name
        assert (entry.pps, entry.connections, entry.price_per_hour) == (None, None, None), name
    assert not {t.family for t in aws.INSTANCE_TYPES.values()} & set(aws.FAMILIES_NOT_READ)


# --- cost by cloud ----------------------------------------------------------------------------------------------------

def _stack_settings(name: str) -> Any:
    from components import settings as program_settings
    from preview import engine

    prefix = "emqx-platform:"
    config, secret_keys = engine.load_stack_config(Path(__file__).resolve().parent.parent / "stacks"
                                                   / f"Pulumi.{name}.yaml")
    values = {k.removeprefix(prefix): program_settings._decode(v)  # pyright: ignore[reportPrivateUsage]
              for k, v in config.items() if k.startswith(prefix)}
    return program_settings.parse(values, stack=name, secret_keys={k.removeprefix(prefix) for k in secret_keys})


def test_an_aws_stack_is_priced_in_usd_from_the_aws_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _stack_settings("aws-prod")
    estimate = cost.stack_cost(settings)
    assert estimate["currency"] == "USD"
    roles = estimate["roles"]
    assert isinstance(roles, dict)
    assert settings.core_pool is not None  # the planner puts the cores on their own groups
    assert roles["cores"]["instance_type"] == settings.core_pool.instance_types[0]
    assert roles["client_nodes"]["instance_type"] == settings.emqx_pool.instance_types[0]
    for role in ("cores", "client_nodes", "system_pool"):
        assert roles[role]["instance_type"] in aws.INSTANCE_TYPES, role
    assert (roles["cores"]["count_at_rest"], roles["cores"]["count_at_peak"]) == (3, 6)
    # Production on AWS: a NAT gateway per zone (network.natPerZone's default).
    assert roles["nat"]["count_at_rest"] == 3 and "NAT gateway" in roles["nat"]["instance_type"]
    # Priced, each role costs its own type's price for its nodes.
    table = {n: dataclasses.replace(e, price_per_hour=0.5 if n == roles["cores"]["instance_type"] else 2.0,
                                    currency="USD") for n, e in aws.INSTANCE_TYPES.items()}
    monkeypatch.setattr(aws, "INSTANCE_TYPES", table)
    priced = cost.stack_cost(settings)["roles"]
    assert priced["cores"]["monthly_at_rest"] == pytest.approx(0.5 * 3 * sizing.HOURS_PER_MONTH)  # type: ignore[index]
    assert priced["client_nodes"]["monthly_at_peak"] == pytest.approx(  # type: ignore[index]
        2.0 * 2 * settings.sizing.replicants * sizing.HOURS_PER_MONTH)


def test_alicloud_cores_on_their_own_pool_are_priced_on_its_type() -> None:
    settings = _stack_settings("prod")
    estimate = cost.stack_cost(settings)
    roles = estimate["roles"]
    assert estimate["currency"] == "CNY" and isinstance(roles, dict)
    assert settings.core_pool is not None
    assert roles["cores"]["instance_type"] == settings.core_pool.instance_types[0] != roles["client_nodes"][
        "instance_type"]
    assert roles["nat"]["count_at_rest"] == 1


def test_a_vm_stack_is_priced_by_its_own_roles() -> None:
    settings = _stack_settings("vm-prod")
    roles = cost.stack_cost(settings)["roles"]
    assert isinstance(roles, dict)
    vm = settings.vm
    assert roles["cores"]["instance_type"] == vm.cores.instance_type
    assert roles["cores"]["count_at_rest"] == roles["cores"]["count_at_peak"] == vm.cores.count
    assert roles.get("client_nodes", {}).get("count_at_rest", 0) == vm.replicants.count
    assert "system_pool" not in roles
