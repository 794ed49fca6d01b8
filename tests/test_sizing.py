"""The capacity model against published figures (hand-computed here), plus properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components import sizing
from components.sizing import (
    INSTANCE_SHAPES,
    SOURCES,
    CapacityTarget,
    NodeShape,
    kubelet_reserved_cpu_milli,
    kubelet_reserved_memory_mib,
    node_capacity,
    plan_capacity,
)
from tests.validators import validate_crd_object

C6G_METAL = NodeShape(vcpu=64, memory_gib=128)  # as published for the 100M test
SEED_SHAPE = INSTANCE_SHAPES["ecs.c7.16xlarge"]
SEED = CapacityTarget(connections=1_000_000, message_rate=500_000, payload_bytes=1024, qos=1)


def cpu_of(quantity: str) -> float:
    m = re.fullmatch(r"(\d+)m", quantity)
    assert m, quantity
    return int(m.group(1)) / 1000


def mib_of(quantity: str) -> int:
    m = re.fullmatch(r"(\d+)Mi", quantity)
    assert m, quantity
    return int(m.group(1))


# --- published reference points -------------------------------------------------------------------------


def test_100m_reference_plans_21_replicants_under_kubernetes() -> None:
    # Published: 20 replicants held 5M connections each in ~113 GiB of a 128 GiB c6g.metal, on plain VMs. Under
    # Kubernetes the pod gets less: the OS sees 128 x 0.945 = 120.95 GiB; the tiered reserve takes
    # 1 + 0.8 + 0.8 + 6% of 104.95 = 8.90 GiB (+100Mi eviction), daemonsets 1 GiB, EMQX's base 1 GiB, leaving
    # ~109.9 GiB = 4.86M connections of 23.7 KiB. 100M / 4.86M = 20.6, so 21 replicants, one more than the VMs.
    plan, errors = plan_capacity(CapacityTarget(100_000_000, 1_000_000), C6G_METAL, headroom=0.0)
    assert errors == []
    assert plan is not None
    assert (plan.cores, plan.replicants, plan.client_nodes) == (3, 21, 21)
    assert plan.connections_per_node == 4_761_905  # 100M / 21, rounded up
    assert 4_800_000 <= plan.max_connections_per_node <= 4_900_000  # the node's capacity at 0% headroom
    assert plan.planned_vcpu == 24 * 64 and plan.planned_memory_gib == 24 * 128


def test_100m_reference_with_20_replicants_is_refused_under_kubernetes() -> None:
    plan, errors = plan_capacity(
        CapacityTarget(100_000_000, 1_000_000), C6G_METAL, cores=3, replicants=20, headroom=0.0
    )
    assert plan is None
    assert len(errors) == 1 and errors[0].startswith("emqx.replicants:") and "at least 21" in errors[0]


def test_memory_per_idle_connection_is_about_23_kb() -> None:
    # FACTS: ~23 KB per idle connection under the 100M workload (113 GiB / 5M = 24.3e3 bytes).
    cap = node_capacity(C6G_METAL)
    pod_bytes = mib_of(f"{cap.pod_memory_mib}Mi") * 2**20
    per_connection = pod_bytes / cap.connections
    assert 22_000 < per_connection < 25_000


def test_emqx_43_report_2m_per_32_core_64_gb_node() -> None:
    # EMQX 4.3 report: 10M connections on 5 x 32-core / 64 GB nodes.
    plan, errors = plan_capacity(
        CapacityTarget(10_000_000, 0), NodeShape(32, 64), headroom=0.0, replicants_allowed=False
    )
    assert errors == [] and plan is not None
    assert plan.client_nodes <= 5


def test_perf_reference_single_node_qos1() -> None:
    # emqx-docs: 4 vCPU / 8 GiB did ~40k msg/s QoS1 at ~75% CPU => 40000 / 3 per vCPU at 100%.
    # The pod keeps fewer than 4 vCPU; its utilisation at 40k msg ops is 40000 / (pod_vcpu x 40000/3).
    target = CapacityTarget(connections=1_000, message_rate=20_000, fanout=1.0, qos=1)  # 40k ops
    plan, errors = plan_capacity(target, NodeShape(4, 8), headroom=0.0)
    assert errors == [] and plan is not None
    assert plan.client_nodes == 1
    assert plan.cpu_utilisation == pytest.approx(3 / cpu_of(plan.pod_cpu), rel=1e-6)
    assert cpu_of(plan.pod_cpu) < 4


def test_qos_factors_order() -> None:
    ops = {q: node_capacity(C6G_METAL, q).message_ops for q in (0, 1, 2)}
    assert ops[0] > ops[1] > ops[2]


# --- kubelet reserve against published tables ---------------------------------------------------------------


@pytest.mark.parametrize(("vcpu", "milli"), [(4, 100), (32, 800), (96, 2000), (196, 2740)])
def test_cpu_reserve_matches_published_examples(vcpu: int, milli: int) -> None:
    # ACK: 4 vCPU -> allocatable 3900m. TKE table: 32c -> 0.8, 96c -> 2, 196c -> 2.74 cores.
    assert kubelet_reserved_cpu_milli(vcpu) == milli


@pytest.mark.parametrize(("gib", "mb"), [(2, 512), (8, 1843), (12, 2252), (32, 3645), (320, 13475)])
def test_memory_reserve_matches_published_tiers(gib: float, mb: int) -> None:
    # TKE table (MB as printed, 1 GB = 1024 MB), plus the kubelet's 100Mi hard eviction threshold.
    assert abs(kubelet_reserved_memory_mib(gib) - (mb + 100)) <= 1


def test_pod_fits_ack_published_allocatable() -> None:
    # ACK example: a nominal 4 vCPU / 8 GiB instance (ecs.c7.xlarge is one) shows capacity 4 CPU / 7925980Ki and
    # allocatable 3900m / 5824732Ki. The program passes nominal shapes (INSTANCE_SHAPES), so that is what is
    # tested; a pod that requests more than allocatable stays Pending forever.
    shape = INSTANCE_SHAPES["ecs.c7.xlarge"]
    assert (shape.vcpu, shape.memory_gib) == (4, 8)
    cap = node_capacity(shape)
    assert cap.pod_cpu_milli <= 3900
    # The daemonsets' share (flannel, kube-proxy, CSI, logging) must remain next to the EMQX pod.
    assert cap.pod_memory_mib * 1024 <= 5824732 - 512 * 1024


# --- the seed stack ----------------------------------------------------------------------------------------------


def test_seed_is_feasible_with_3_cores_2_replicants() -> None:
    # The seed's 3 + 2 carries the load with 20% headroom, no longer 30%: half of the 500k deliveries/s cross from
    # the publisher's replicant to the other, each counted as one more message operation (CROSS_NODE_FORWARD_COST).
    assert plan_capacity(SEED, SEED_SHAPE, cores=3, replicants=2, headroom=0.3)[0] is None
    plan, errors = plan_capacity(SEED, SEED_SHAPE, cores=3, replicants=2, headroom=0.2)
    assert errors == [] and plan is not None
    assert (plan.cores, plan.replicants, plan.client_nodes) == (3, 2, 2)
    assert plan.connections_per_node == 500_000
    assert plan.max_connections_per_node >= 500_000
    # 500k in + 500k out + 250k forwards over 2 pods of 61.9 vCPU at 40000/3 per vCPU: 1.25e6 / 2 / (61.9 x 13333.3)
    assert plan.cpu_utilisation == pytest.approx(1.25e6 / 2 / (cpu_of(plan.pod_cpu) * 40000 / 3), rel=1e-6)
    assert plan.cpu_utilisation <= 0.8
    assert plan.planned_vcpu == 5 * 64 and plan.planned_memory_gib == 5 * 128


def test_seed_plan_renders_a_valid_emqx_resource() -> None:
    plan, _ = plan_capacity(SEED, SEED_SHAPE, cores=3, replicants=3)
    assert plan is not None
    resources = {
        "requests": {"cpu": plan.pod_cpu, "memory": plan.pod_memory},
        "limits": {"cpu": plan.pod_cpu, "memory": plan.pod_memory},
    }
    cr = {
        "apiVersion": "apps.emqx.io/v2beta1",
        "kind": "EMQX",
        "metadata": {"name": "emqx"},
        "spec": {
            "image": "emqx/emqx-enterprise:5.8.6",
            "coreTemplate": {"spec": {"replicas": plan.cores, "resources": resources}},
            "replicantTemplate": {"spec": {"replicas": plan.replicants, "resources": resources}},
        },
    }
    assert validate_crd_object(cr) == []


def test_too_few_replicants_names_the_key() -> None:
    plan, errors = plan_capacity(SEED, SEED_SHAPE, cores=3, replicants=1, key="stacks.prod.emqx")
    assert plan is None
    assert len(errors) == 1
    msg = errors[0]
    assert msg.startswith("stacks.prod.emqx.replicants:")
    # 3, not 2: the deliveries crossing between replicants count too (CROSS_NODE_FORWARD_COST)
    assert "at least 3" in msg and "1,000,000" in msg and "\n" not in msg


def test_too_few_cores_in_all_core_cluster_names_cores() -> None:
    plan, errors = plan_capacity(SEED, SEED_SHAPE, cores=1, replicants=0)
    # 3, not 2: with two cores half the deliveries cross between them (CROSS_NODE_FORWARD_COST)
    assert plan is None and errors[0].startswith("emqx.cores:") and "at least 3" in errors[0]


def test_explicit_cores_without_replicants_allowed_and_too_small() -> None:
    plan, errors = plan_capacity(SEED, SEED_SHAPE, cores=1, replicants_allowed=False)
    assert plan is None and errors[0].startswith("emqx.cores:")


def test_replicants_need_enterprise() -> None:
    plan, errors = plan_capacity(SEED, SEED_SHAPE, cores=3, replicants=2, replicants_allowed=False)
    assert plan is None and errors[0].startswith("emqx.replicants:") and "Enterprise" in errors[0]


def test_small_target_stays_all_core() -> None:
    plan, errors = plan_capacity(CapacityTarget(10_000, 1_000), INSTANCE_SHAPES["ecs.g7.xlarge"], min_client_nodes=3)
    assert errors == [] and plan is not None
    assert (plan.cores, plan.replicants, plan.client_nodes) == (3, 0, 3)


def test_large_target_without_enterprise_is_all_core_with_a_note() -> None:
    plan, errors = plan_capacity(CapacityTarget(20_000_000, 0), C6G_METAL, replicants_allowed=False)
    assert errors == [] and plan is not None
    assert plan.replicants == 0 and plan.cores > 3
    assert any("core + replicant" in n for n in plan.notes)


@pytest.mark.parametrize(
    ("kwargs", "target", "key"),
    [
        ({"headroom": 1.0}, SEED, "emqx.headroom"),
        ({"headroom": -0.1}, SEED, "emqx.headroom"),
        ({"cores": 0}, SEED, "emqx.cores"),
        ({"replicants": -1}, SEED, "emqx.replicants"),
        ({}, CapacityTarget(1, 1, qos=3), "emqx.qos"),
        ({}, CapacityTarget(-1, 1), "emqx.connections"),
    ],
)
def test_bad_inputs_are_one_line_errors_naming_the_key(
    kwargs: dict[str, object], target: CapacityTarget, key: str
) -> None:
    plan, errors = plan_capacity(target, SEED_SHAPE, **kwargs)  # type: ignore[arg-type]
    assert plan is None and any(e.startswith(f"{key}:") for e in errors)
    assert all("\n" not in e for e in errors)


def test_tiny_node_is_refused() -> None:
    plan, errors = plan_capacity(SEED, NodeShape(1, 1))
    assert plan is None and errors[0].startswith("emqx.node_shape:")


# --- instance shapes ----------------------------------------------------------------------------------------------


def test_instance_shapes_follow_published_naming() -> None:
    assert "alibaba-naming" in SOURCES
    assert INSTANCE_SHAPES["ecs.c7.16xlarge"] == NodeShape(64, 128)
    assert INSTANCE_SHAPES["ecs.g7.large"] == NodeShape(2, 8)
    assert INSTANCE_SHAPES["c6g.metal"] == NodeShape(64, 128)
    assert INSTANCE_SHAPES["m6i.metal"] == NodeShape(128, 512)
    for name, shape in INSTANCE_SHAPES.items():
        if not name.startswith("ecs."):
            continue
        family, size = name.split(".")[1:]
        n = size.removesuffix("xlarge")
        vcpu = 2 if size == "large" else 4 * int(n or 1)
        assert shape.vcpu == vcpu, name
        assert shape.memory_gib == vcpu * (2 if family.startswith("c") else 4), name


# --- properties ------------------------------------------------------------------------------------------------------

targets = st.builds(
    CapacityTarget,
    connections=st.integers(0, 200_000_000),
    message_rate=st.integers(0, 5_000_000),
    payload_bytes=st.integers(0, 4096),
    qos=st.sampled_from([0, 1, 2]),
    fanout=st.floats(0, 10),
)
shapes = st.sampled_from(sorted(INSTANCE_SHAPES.values(), key=lambda s: (s.vcpu, s.memory_gib))[4:])
headrooms = st.floats(0, 0.6)


@settings(max_examples=150, deadline=None)
@given(targets, shapes, headrooms, st.integers(0, 50_000_000))
def test_more_connections_never_fewer_nodes(
    target: CapacityTarget, shape: NodeShape, headroom: float, extra: int
) -> None:
    bigger = CapacityTarget(
        target.connections + extra, target.message_rate, target.payload_bytes, target.qos, target.fanout
    )
    small, _ = plan_capacity(target, shape, headroom=headroom)
    large, _ = plan_capacity(bigger, shape, headroom=headroom)
    assert small is not None and large is not None
    assert large.client_nodes >= small.client_nodes
    assert large.cores + large.replicants >= small.cores + small.replicants


@settings(max_examples=150, deadline=None)
@given(targets, shapes, headrooms)
def test_planned_capacity_covers_target(target: CapacityTarget, shape: NodeShape, headroom: float) -> None:
    plan, errors = plan_capacity(target, shape, headroom=headroom)
    assert errors == [] and plan is not None
    assert plan.client_nodes * plan.connections_per_node >= target.connections
    assert plan.connections_per_node <= plan.max_connections_per_node
    assert plan.client_nodes * plan.max_connections_per_node >= target.connections
    assert plan.cpu_utilisation <= 1 - headroom + 1e-9
    assert plan.memory_utilisation <= 1.0
    assert cpu_of(plan.pod_cpu) < shape.vcpu and mib_of(plan.pod_memory) < shape.memory_gib * 1024


@settings(max_examples=100, deadline=None)
@given(targets, shapes, headrooms)
def test_derived_counts_are_minimal(target: CapacityTarget, shape: NodeShape, headroom: float) -> None:
    plan, _ = plan_capacity(target, shape, headroom=headroom)
    assert plan is not None
    again, errors = plan_capacity(target, shape, cores=plan.cores, replicants=plan.replicants, headroom=headroom)
    assert errors == [] and again == plan
    if plan.client_nodes > 1:
        # One client node fewer must not carry the target (replicants are only planned above 3 nodes).
        fewer = (plan.cores, plan.replicants - 1) if plan.replicants else (plan.cores - 1, 0)
        short, errs = plan_capacity(target, shape, cores=fewer[0], replicants=fewer[1], headroom=headroom)
        assert short is None and errs


def test_a_huge_node_is_planned_within_what_emqx_and_the_kernel_take() -> None:
    # 32 TiB of memory would model ~1.4 billion connections and an open-file limit past fs.nr_open.
    from components import tuning

    cap = sizing.node_capacity(sizing.NodeShape(vcpu=1024, memory_gib=32768))
    assert cap.connections == sizing.MAX_CONNECTIONS_PER_NODE == 10_000_000
    target = sizing.CapacityTarget(connections=1_000, message_rate=10, payload_bytes=64, qos=1)
    plan, errors = sizing.plan_capacity(target, sizing.NodeShape(vcpu=1024, memory_gib=32768), cores=1, replicants=0)
    assert not errors and plan is not None
    assert plan.max_connections_per_node <= sizing.MAX_CONNECTIONS_PER_NODE
    assert tuning.default_nofile(plan.max_connections_per_node) <= tuning.NR_OPEN_MAX
