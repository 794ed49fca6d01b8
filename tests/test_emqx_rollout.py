"""Rollout time, eviction rates and reconnect-storm admission, derived from the plan (components/sizing.py), and
the README's rollout table recomputed from the stack files."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import sizing
from components.settings import Settings, parse
from components.workloads.emqx_cluster import rollout_estimate, rollout_table

ROOT = Path(__file__).resolve().parents[1]
SHAPE = sizing.NodeShape(vcpu=64, memory_gib=128)


def _plan(per_node: int, client_nodes: int, cores: int = 3) -> sizing.SizingPlan:
    replicants = client_nodes if cores == 3 and client_nodes > 0 else 0
    return sizing.SizingPlan(
        cores=cores if replicants else client_nodes, replicants=replicants, client_nodes=client_nodes,
        connections_per_node=per_node, max_connections_per_node=per_node * 2, node_shape=SHAPE, pod_cpu="1",
        pod_memory="1Gi", planned_vcpu=1, planned_memory_gib=1.0, cpu_utilisation=0.5, memory_utilisation=0.5,
        notes=(),
    )


def _stack_settings(name: str) -> Settings:
    raw = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text())["config"]
    values: dict[str, Any] = {k.split(":", 1)[1]: v for k, v in raw.items()}
    secrets = {k for k, v in values.items() if isinstance(v, dict) and "secure" in v}
    for key in secrets:
        # Any text for the licence; for mqttUsers it must read as a `user:password` line.
        values[key] = "placeholder:placeholder"
    return parse(values, stack=name, secret_keys=secrets)


# The operator's blue-green rollout: `mode: vm` stacks (no operator; one node at a time) are not in it.
STACKS = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml")
                if "emqx-platform:mode: vm" not in p.read_text())


# ---------------------------------------------------------------- reconnect storms


def test_a_lost_nodes_clients_are_admitted_by_the_survivors_within_the_window() -> None:
    plan = _plan(per_node=333_334, client_nodes=3)
    rate = sizing.storm_connection_rate(plan)
    assert rate == math.ceil(333_334 / 2 / 60) == 2778
    # Two survivors at that rate take the lost node's clients within a minute, and not much faster.
    assert 333_334 / (2 * rate) <= sizing.STORM_ADMISSION_SECONDS < 333_334 / (2 * (rate - 1))
    assert sizing.storm_cluster_rate(plan) == 3 * rate


@pytest.mark.parametrize(("per_node", "clients", "rate"), [
    (10_000, 2, 1_000),  # below the floor: ordinary churn is never throttled
    (60_000, 2, 1_000),  # exactly the floor
    (60_060, 2, 1_001),
    (120_000, 1, 2_000),  # one client node: its clients come back to it after its restart
    (5_000_000, 20, 4_386),
])
def test_storm_rate_boundaries(per_node: int, clients: int, rate: int) -> None:
    assert sizing.storm_connection_rate(_plan(per_node, clients)) == rate


# ---------------------------------------------------------------- rollouts


def test_evacuation_empties_a_node_no_faster_than_one_node_admits() -> None:
    plan = _plan(per_node=333_334, client_nodes=3)
    strategy = sizing.evacuation(plan)
    assert strategy.conn_evict_rate == strategy.sess_evict_rate == sizing.storm_connection_rate(plan)
    assert strategy.wait_takeover == 60


def test_rollout_time_counts_every_old_node_one_at_a_time() -> None:
    plan = _plan(per_node=333_334, client_nodes=3)
    strategy = sizing.evacuation(plan)
    evict = math.ceil(333_334 / 2778)  # 120 s of connections, as long again for sessions
    per_replicant = 60 + evict + 60 + evict + 30
    per_core = 60 + 30
    assert sizing.rollout_seconds(plan, strategy, evacuates=True) == 600 + 10 + 3 * per_replicant + 3 * per_core
    # Open source has no evacuation: nodes go after waitTakeover.
    assert sizing.rollout_seconds(plan, strategy, evacuates=False) == 600 + 10 + 6 * 90


def test_more_connections_per_node_take_longer_and_the_timeout_follows() -> None:
    small, large = _plan(100_000, 3), _plan(2_000_000, 3)
    slow = sizing.Evacuation(conn_evict_rate=1000, sess_evict_rate=1000, wait_takeover=60)
    assert sizing.rollout_seconds(large, slow, evacuates=True) > sizing.rollout_seconds(small, slow, evacuates=True)
    timeout = sizing.rollout_timeout_seconds(large, slow, evacuates=True)
    assert timeout >= 2 * sizing.rollout_seconds(large, slow, evacuates=True) and timeout % 60 == 0
    # Never below 30 minutes, whatever the plan.
    assert sizing.rollout_timeout_seconds(_plan(10, 1, cores=1), slow, evacuates=False) == 1800


def test_a_rebalance_waits_long_enough_to_move_one_nodes_connections() -> None:
    plan = _plan(per_node=333_334, client_nodes=3)
    rates = sizing.Evacuation(conn_evict_rate=500, sess_evict_rate=500, wait_takeover=60)
    needed = 60 + 60 + 2 * math.ceil(333_334 / 500)
    timeout = sizing.rebalance_timeout_seconds(plan, rates, wait_health_check=60)
    assert timeout >= 2 * needed and timeout % 60 == 0
    assert sizing.rebalance_timeout_seconds(_plan(10, 2), rates, wait_health_check=0) == 600


# ---------------------------------------------------------------- the stacks and the README


@pytest.mark.parametrize("stack", STACKS)
def test_each_stacks_rollout_fits_in_what_pulumi_waits(stack: str) -> None:
    estimate = rollout_estimate(_stack_settings(stack))
    assert estimate.timeout_seconds >= 2 * estimate.seconds
    assert estimate.evacuation.conn_evict_rate == estimate.max_conn_rate


def test_readme_rollout_table_is_what_the_stacks_give() -> None:
    expected = rollout_table({name: _stack_settings(name) for name in STACKS})
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- rollout-table -->\n", 1)[1].split("<!-- /rollout-table -->", 1)[0]
    assert table == expected, f"update the README's rollout table to:\n{expected}"
