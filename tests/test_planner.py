"""The planner picks the fleet: never one that breaks a constraint, cost (or its vCPU stand-in) monotone in the
target, pinned fleets checked and compared."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components import load_balancer_tier, sizing
from components.catalogue.model import InstanceType
from components.sizing import CapacityTarget, FleetOptions

SEED = CapacityTarget(connections=1_000_000, message_rate=500_000, payload_bytes=1024, qos=1, fanout=1.0)
PROD = FleetOptions(headroom=0.3, production=True, zones=3, load_balancer="nlb")


def _violations(target: CapacityTarget, choice: sizing.FleetChoice, options: FleetOptions) -> list[str]:
    """Every constraint, recomputed here from the plan and the published capacity figures."""
    plan = choice.plan
    cap = sizing.node_capacity(plan.node_shape, target.qos)
    n = plan.client_nodes
    usable = 1 - options.headroom
    weight = sizing.connection_weight(target)
    out = []
    if target.connections * weight > cap.connections * usable * n + 1e-6:
        out.append("connections above the headroom")
    if sizing.message_ops(target, n) > cap.message_ops * usable * n + 1e-6:
        out.append("message operations above the headroom")
    if options.production:
        if n < 2 or target.connections * weight > cap.connections * (n - 1) + 1e-6 \
                or sizing.message_ops(target, n - 1) > cap.message_ops * (n - 1) + 1e-6:
            out.append("cannot lose a node")
        if n < options.zones:
            out.append("fewer client nodes than zones")
        if plan.cores < 3 or plan.cores % 2 == 0:
            out.append("production cores")
    if plan.replicants == 0 and plan.cores > sizing.MAX_ALL_CORE_NODES:
        out.append("all-core above 3")
    if plan.connections_per_node > plan.max_connections_per_node:
        out.append("listener limit below the planned connections")
    if options.load_balancer is not None:
        lb = load_balancer_tier.limits(options.load_balancer, options.zones)
        if sizing.storm_cluster_rate(plan) > lb.new_connections_per_second:
            out.append("reconnect storm above the load balancer")
    # One EMQX pod per node: the plan's vCPU is that of exactly cores + replicants nodes, the cores on their own
    # shape when they have one.
    core_shape = plan.core_shape or plan.node_shape
    if plan.planned_vcpu != plan.cores * core_shape.vcpu + plan.replicants * plan.node_shape.vcpu:
        out.append("not one pod per node")
    if plan.core_shape is not None:
        if plan.replicants == 0:
            out.append("cores on their own shape in an all-core cluster")
        # The cores' work (independently: the storm's transactions and every client's registry entry) within the
        # headroom of their own pod.
        core_cap = sizing.node_capacity(plan.core_shape)
        tps = sizing.storm_cluster_rate(plan) * sizing.CORE_TRANSACTIONS_PER_CONNECT
        cpu = max(sizing.CORE_MIN_POD_CPU_MILLI, tps / sizing.CORE_TRANSACTIONS_PER_VCPU * 1000)
        memory = max(sizing.CORE_MIN_POD_MEMORY_MIB,
                     (sizing.GIB + target.connections * sizing.CORE_MEMORY_PER_CONNECTION_BYTES) / sizing.MIB)
        if cpu > core_cap.pod_cpu_milli * usable + 1e-6 or memory > core_cap.pod_memory_mib * usable + 1e-6:
            out.append("cores above the headroom")
        if plan.core_pod_cpu != f"{core_cap.pod_cpu_milli}m" or plan.core_pod_memory != f"{core_cap.pod_memory_mib}Mi":
            out.append("core pod not sized to its node")
        if choice.core_type is None:
            out.append("cores on their own shape without a type")
    return out


targets = st.builds(
    lambda conn, per_conn, fanout, qos, tls: CapacityTarget(connections=conn,
                                                            message_rate=int(conn * per_conn),
                                                            qos=qos, fanout=fanout, tls_share=tls),
    st.integers(min_value=1_000, max_value=100_000_000),
    st.sampled_from([0.0, 0.01, 0.1, 0.5]),
    st.sampled_from([0.0, 1.0, 2.0]),
    st.sampled_from([0, 1, 2]),
    st.sampled_from([0.0, 0.5, 1.0]),
)
options = st.builds(FleetOptions, headroom=st.sampled_from([0.0, 0.2, 0.3, 0.5]), production=st.booleans(),
                    zones=st.sampled_from([3]), load_balancer=st.sampled_from([None, "nlb"]))


@settings(max_examples=60, deadline=None)
@given(targets, options)
def test_the_planner_never_returns_a_fleet_that_breaks_a_constraint(target: CapacityTarget,
                                                                     opts: FleetOptions) -> None:
    chosen, rejected = sizing.fleet_candidates(target, opts)
    for choice in chosen:
        assert _violations(target, choice, opts) == [], choice.instance_type
    assert chosen == sorted(chosen, key=sizing.FleetChoice.rank)
    assert all(r.reason for r in rejected)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1_000, max_value=50_000_000), st.floats(min_value=1.0, max_value=2.0),
       st.sampled_from([0.0, 0.1]), options)
def test_cost_is_monotone_in_the_target(connections: int, factor: float, rate: float, opts: FleetOptions) -> None:
    small = CapacityTarget(connections=connections, message_rate=int(connections * rate))
    large = CapacityTarget(connections=int(connections * factor), message_rate=int(connections * factor * rate))
    a, b = sizing.choose_fleet(small, opts), sizing.choose_fleet(large, opts)
    if b is None:
        return
    assert a is not None, "a smaller target has no fleet while a larger one has"
    # Prices are unknown in the catalogue, so vCPU (then GiB) stands in for cost.
    assert a.rank()[:4] <= b.rank()[:4]


def test_prices_rank_before_vcpu_when_known() -> None:
    cheap_big = InstanceType("x.big", "x", 64, 128, price_per_hour=1.0, currency="CNY")
    dear_small = InstanceType("x.small", "x", 32, 64, price_per_hour=10.0, currency="CNY")
    chosen, _ = sizing.fleet_candidates(SEED, PROD, {"x.big": cheap_big, "x.small": dear_small})
    assert chosen[0].instance_type == "x.big"
    assert chosen[0].monthly_cost == pytest.approx(1.0 * chosen[0].nodes * 730)


def test_the_seed_scenario_costs_less_than_the_seed_fleet() -> None:
    best = sizing.choose_fleet(SEED, PROD)
    assert best is not None and _violations(SEED, best, PROD) == []
    assert best.plan.planned_vcpu < 320  # the seed's 5 x ecs.c7.16xlarge
    assert best.plan.cpu_utilisation <= 0.7 and best.plan.memory_utilisation <= 0.7


def test_a_pinned_fleet_that_cannot_carry_the_target_is_refused_with_the_nodes_it_needs() -> None:
    pinned = FleetOptions(headroom=0.3, production=True, zones=3, cores=3, replicants=3)
    chosen, rejected = sizing.fleet_candidates(SEED, pinned)
    small = {r.instance_type: r.reason for r in rejected}["ecs.c7.2xlarge"]
    assert small.startswith("emqx.replicants:") and "at least" in small
    needed = int(small.split("at least ")[1].split(",")[0].split(" ")[0])
    # The count it names does carry the target, and one fewer does not.
    shape = sizing.INSTANCE_SHAPES["ecs.c7.2xlarge"]
    ok, _ = sizing.plan_capacity(SEED, shape, cores=3, replicants=needed, survive_node_loss=True, min_client_nodes=3)
    short, _ = sizing.plan_capacity(SEED, shape, cores=3, replicants=needed - 1, survive_node_loss=True,
                                    min_client_nodes=3)
    assert ok is not None and short is None
    assert all(c.plan.replicants == 3 for c in chosen)


def test_a_pinned_fleet_dearer_than_the_planners_is_noted_with_the_difference() -> None:
    best = sizing.choose_fleet(SEED, PROD)
    pinned = sizing.choose_fleet(SEED, FleetOptions(headroom=0.3, production=True, zones=3, cores=3, replicants=3),
                                 {"ecs.c7.16xlarge": sizing.alicloud_catalogue.INSTANCE_TYPES["ecs.c7.16xlarge"]})
    assert best is not None and pinned is not None
    note = sizing.pinned_cost_note(pinned, best)
    assert note is not None and f"{384 - best.plan.planned_vcpu:+} vCPU" in note
    assert sizing.pinned_cost_note(best, best) is None


def test_cross_node_forwards_follow_the_client_node_count() -> None:
    t = CapacityTarget(connections=1, message_rate=1_000, fanout=2.0)
    assert sizing.message_ops(t, 1) == 3_000
    # 4 nodes: 3/4 of the 2,000 deliveries cross, one more operation each.
    assert sizing.message_ops(t, 4) == pytest.approx(3_000 + 1_500 * sizing.CROSS_NODE_FORWARD_COST)
    assert math.isclose(sizing.message_ops(CapacityTarget(1, 1_000, fanout=0.0, tls_share=1.0), 3),
                        1_000 * sizing.TLS_CPU_FACTOR)


def test_cost_estimate_is_unknown_when_a_price_is() -> None:
    roles = [sizing.RoleCost("cores", "a", 3, 6, 1.0), sizing.RoleCost("nat", "n", 1, 1, None)]
    est = sizing.cost_estimate(roles, "CNY")
    assert est["monthly_at_rest"] == "unknown"
    assert est["roles"]["cores"]["monthly_at_peak"] == pytest.approx(6 * 730)  # type: ignore[index]
    known = sizing.cost_estimate(roles[:1], "CNY")
    assert known["monthly_at_rest"] == pytest.approx(3 * 730) and known["monthly_at_peak"] == pytest.approx(6 * 730)


@pytest.mark.parametrize("argv", [["--connections", "0"], ["--connections", "-5"], ["--headroom", "1.5"],
                                  ["--tls-share", "2"], ["--connections", "1M"], ["--zones", "0"]])
def test_make_size_refuses_what_a_stack_would_refuse(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from tools import size

    with pytest.raises(SystemExit) as exit_:
        size.parser().parse_args(argv)
    assert exit_.value.code == 2
    assert "error: argument" in capsys.readouterr().err
