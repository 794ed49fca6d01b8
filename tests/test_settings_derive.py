"""components/settings/derive.py: what the sections decide together once each is read."""

from __future__ import annotations

from typing import Any

from components.config_reader import Problems, Section
from components.settings.cloud import parse_cloud
from components.settings.cluster import parse_cluster
from components.settings.derive import SIZING_INPUTS, Sections, derive
from components.settings.emqx import parse_emqx
from components.settings.load_balancer import parse_load_balancer
from components.settings.network import parse_network
from components.settings.node_pools import parse_pools
from components.settings.node_tuning import parse_tuning


def sections(target: str = "alicloud", emqx: Any = None) -> tuple[Sections, Problems]:
    problems = Problems()
    cloud = parse_cloud(Section("cloud", {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
                                problems), target, False)  # type: ignore[arg-type]
    parsed_emqx = parse_emqx(Section("emqx", emqx, problems), False)
    existing = None
    return Sections(
        target=target,  # type: ignore[arg-type]
        production=False,
        cloud=cloud,
        network_fields=parse_network(Section("network", None, problems), target),  # type: ignore[arg-type]
        cluster=parse_cluster(Section("cluster", None, problems), target, False),  # type: ignore[arg-type]
        pools=parse_pools(Section("nodePools", None, problems), target, ()),  # type: ignore[arg-type]
        emqx=parsed_emqx,
        load_balancer=parse_load_balancer(Section("loadBalancer", None, problems), parsed_emqx, cloud, False),
        tuning=parse_tuning(Section("tuning", None, problems)),
        rebalance=(),
        load_test=(),
        existing=existing,
    ), problems


def test_an_alicloud_stack_gets_a_plan_sized_pools_a_profile_and_an_address_plan() -> None:
    s, problems = sections()
    assert problems.items == []
    derived = derive(s, {}, problems)
    assert problems.items == []
    assert derived.plan is not None and derived.profile is not None and derived.pools is not None
    assert derived.pools.emqx is not None
    assert derived.pools.emqx.count == derived.plan.cores + derived.plan.replicants
    # The planner chose the type (nodePools.emqx.instanceTypes not set), and says so in the plan's notes.
    assert any(note.startswith("planner chose") for note in derived.plan.notes)
    assert derived.network is not None and derived.network.plan is not None


def test_nothing_is_derived_from_a_section_already_reported_as_wrong() -> None:
    for key in SIZING_INPUTS:
        s, problems = sections()
        problems.add(key, "is wrong", "fix it")
        derived = derive(s, {}, problems)
        assert derived.plan is None and derived.profile is None and derived.network is None
        assert derived.pools is s.pools
        assert problems.items == [f"{key}: is wrong; fix it"]


def test_a_problem_elsewhere_still_lets_the_sizing_run() -> None:
    s, problems = sections()
    problems.add("monitoring.labels", "is wrong", "fix it")
    derived = derive(s, {}, problems)
    assert derived.plan is not None and derived.profile is not None


def test_the_planners_note_names_its_basis_while_prices_are_unknown() -> None:
    # No list price could be read (components/catalogue): the note must not call the fewest-vCPU fleet the cheapest.
    s, problems = sections()
    derived = derive(s, {}, problems)
    assert derived.plan is not None
    (note,) = [n for n in derived.plan.notes if n.startswith("planner chose")]
    assert "fewest vCPU" in note and "cheapest" not in note
