"""EMQX capacity model: from a stated target to node counts and per-node limits.

Pure (no Pulumi import). Every number below is either a published figure (see SOURCES) or an estimate
that says so; the plan's notes repeat the estimates so an operator knows which numbers to re-measure.

Model, per node that takes client connections (a replicant, or a core in an all-core cluster):
- memory: BASE_NODE_MEMORY_GIB + connections x MEMORY_PER_CONNECTION_BYTES must fit in the EMQX pod;
- CPU: message operations (inbound PUBLISH + deliveries) / MSG_OPS_PER_VCPU_QOS1 x QOS_COST must fit in
  the pod's vCPU;
- headroom: only (1 - headroom) of either may be planned, so a node can be lost or a burst absorbed.
Core nodes in a core + replicant cluster take no clients (as in the 100M test), so they are not counted
as client capacity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from components import load_balancer_tier
from components.catalogue import alicloud as alicloud_catalogue
from components.catalogue.model import InstanceType

GIB = 1024**3
MIB = 1024**2

SOURCES: dict[str, str] = {
    "emqx-100m": (
        "EMQX 5.0 blog 'Reaching 100M MQTT connections with EMQX 5.0' (May 2022): 100M connections on "
        "23 x c6g.metal (64 vCPU / 128 GiB), 3 core + 20 replicant, ~5M connections and ~113 GiB per "
        "replicant, cores took no clients; 1-to-1 pub/sub peaking at 1M msg/s."
    ),
    "emqx-perf-reference": (
        "emqx-docs 'EMQX Performance Reference': single node 4 vCPU / 8 GiB, EMQX 5.1.6, ~40k msg/s QoS1 at ~75% CPU."
    ),
    "emqx-4.3-10m": "EMQX 4.3 benchmark report: 10M connections on 5 x 32-core / 64 GB nodes (2M per node).",
    "alibaba-naming": (
        "Alibaba Cloud ECS instance naming: 'large' = 2 vCPU, 'Nxlarge' = 4N vCPU; family c = 1:2 vCPU:GiB, g = 1:4."
    ),
    "ack-reservation": (
        "ACK 'Resource reservation policy' example: a 4-vCPU node with 7925980Ki memory shows "
        "Allocatable cpu 3900m, memory 5824732Ki."
    ),
    "reserve-tiers": (
        "Tiered kubelet reservation used by GKE and TKE (memory 25% of the first 4 GiB, 20% of the next 4, "
        "10% of the next 8, 6% up to 128 GiB, 2% above; TKE CPU 0.1 core for the first 4, 2.5% up to 64, "
        "1.25% up to 128, 0.5% above)."
    ),
}

# 113 GiB held 5M connections on one replicant (emqx-100m); ~23.7 KiB per mostly idle connection.
REF_REPLICANT_MEMORY_GIB = 113.0
REF_REPLICANT_CONNECTIONS = 5_000_000
MEMORY_PER_CONNECTION_BYTES = REF_REPLICANT_MEMORY_GIB * GIB / REF_REPLICANT_CONNECTIONS
# Twice the most EMQX has been shown to hold on one node (5M, above): beyond it the memory model is a guess, and the
# open-file limit derived from it (tuning.default_nofile: 2 x connections, to a power of two) would pass the kernel's
# fs.nr_open ceiling on very large shapes. Bigger targets take more nodes instead.
MAX_CONNECTIONS_PER_NODE = 2 * REF_REPLICANT_CONNECTIONS

# Estimate: an EMQX node with no clients (VM, tables, dashboard). Counted on top of the per-connection
# figure, which already includes each 100M-test replicant's own baseline, so it errs on the safe side.
BASE_NODE_MEMORY_GIB = 1.0

# 40k msg/s at 75% of 4 vCPU (emqx-perf-reference). Counted as message operations (inbound + outbound)
# although the benchmark may have counted inbound only: if so, real capacity is up to twice this.
REF_MSG_RATE = 40_000
REF_VCPU = 4
REF_CPU_UTILISATION = 0.75
MSG_OPS_PER_VCPU_QOS1 = REF_MSG_RATE / (REF_VCPU * REF_CPU_UTILISATION)

# Model assumption, not a measurement: with n client nodes and subscribers spread evenly over them, a delivery's
# subscriber sits on another node than the publisher (n-1)/n of the time (EMQX forwards such a message to the
# subscriber's node over its cluster RPC, then that node delivers it). Each forward is counted as one more message
# operation on top of the delivery; the single-node benchmark behind MSG_OPS_PER_VCPU_QOS1 had none.
CROSS_NODE_FORWARD_COST = 1.0

# Estimates for TLS connections (the benchmarks above ran plain TCP): a TLS connection keeps its session state and
# buffers (TLS_MEMORY_FACTOR times a plain connection's memory) and costs encryption on every message
# (TLS_CPU_FACTOR times a plain message operation). Only applied to CapacityTarget.tls_share of the load.
TLS_MEMORY_FACTOR = 2.0
TLS_CPU_FACTOR = 1.5

# Estimates, not measurements: QoS0 skips the PUBACK round and inflight tracking, QoS2 adds a second
# round trip and the awaiting-rel state.
QOS_THROUGHPUT_FACTOR: dict[int, float] = {0: 1.5, 1: 1.0, 2: 0.5}

# Estimate of what a node pool's daemonsets take (CNI such as Terway, kube-proxy, CSI, log and metrics
# agents); kept off the EMQX pod so it is never the one evicted or throttled.
DAEMONSET_CPU_MILLI = 500
DAEMONSET_MEMORY_MIB = 1024
EVICTION_HARD_MEMORY_MIB = 100  # kubelet default memory.available<100Mi

# A small cluster stays all-core; beyond this many client nodes EMQX 5 advises core + replicant.
MAX_ALL_CORE_NODES = 3
MAX_REPLICANTS = 500  # emqx.replicants' maximum in the settings
CORES_WITH_REPLICANTS = 3

# EMQX defaults that the plan has to be checked against (emqx.conf): node.max_ports = 1048576.
ERLANG_DEFAULT_MAX_PORTS = 1_048_576


@dataclass(frozen=True)
class NodeShape:
    vcpu: int
    memory_gib: float


def _family(prefix: str, gib_per_vcpu: float, sizes: dict[str, int]) -> dict[str, NodeShape]:
    return {f"{prefix}.{size}": NodeShape(vcpu, vcpu * gib_per_vcpu) for size, vcpu in sizes.items()}


# Sizes every listed Alibaba family offers (alibaba-naming: large = 2 vCPU, Nxlarge = 4N).
_ALIBABA_SIZES = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "16xlarge": 64}
_AWS_C6G = {
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "12xlarge": 48,
    "16xlarge": 64,
    "metal": 64,
}
_AWS_C7G = _AWS_C6G
_AWS_X86_6I = {
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "12xlarge": 48,
    "16xlarge": 64,
    "24xlarge": 96,
    "32xlarge": 128,
    "metal": 128,
}

INSTANCE_SHAPES: dict[str, NodeShape] = {
    # The catalogue's Alibaba families first (components/catalogue/alicloud.py), then the older table.
    **{name: NodeShape(t.vcpu, t.memory_gib) for name, t in alicloud_catalogue.INSTANCE_TYPES.items()},
    **_family("ecs.c7", 2, _ALIBABA_SIZES),
    **_family("ecs.g7", 4, _ALIBABA_SIZES),
    **_family("ecs.c8i", 2, _ALIBABA_SIZES),
    **_family("ecs.g8i", 4, _ALIBABA_SIZES),
    **_family("ecs.c7a", 2, _ALIBABA_SIZES),
    **_family("ecs.g7a", 4, _ALIBABA_SIZES),
    **_family("c6g", 2, _AWS_C6G),
    **_family("c7g", 2, _AWS_C7G),
    **_family("c6i", 2, _AWS_X86_6I),
    **_family("m6i", 4, _AWS_X86_6I),
}


@dataclass(frozen=True)
class CapacityTarget:
    connections: int  # concurrent MQTT connections
    message_rate: int  # inbound PUBLISH/s across the cluster
    payload_bytes: int = 256
    qos: int = 1
    fanout: float = 1.0  # deliveries per inbound message
    tls_share: float = 0.0  # share of connections (and their messages) on TLS listeners


@dataclass(frozen=True)
class SizingPlan:
    cores: int
    replicants: int  # 0 = all-core cluster
    client_nodes: int  # nodes that take client connections (replicants if any, else cores)
    connections_per_node: int  # planned connections per client node at the target
    max_connections_per_node: int  # listener max_connections: capacity with headroom, >= planned
    node_shape: NodeShape
    pod_cpu: str  # EMQX container requests = limits
    pod_memory: str
    planned_vcpu: int  # node vCPU over all EMQX nodes (what is paid for)
    planned_memory_gib: float
    cpu_utilisation: float  # at the target, per client node, of the pod's CPU
    memory_utilisation: float  # at the target, per client node, of the pod's memory
    notes: tuple[str, ...]
    # Cores on their own, smaller nodes (with replicants only; with_core_shape): None = node_shape, pod_cpu, pod_memory.
    core_shape: NodeShape | None = None
    core_pod_cpu: str | None = None
    core_pod_memory: str | None = None


@dataclass(frozen=True)
class NodeCapacity:
    """What one EMQX pod on a node of a given shape can carry at 100% (no headroom)."""

    pod_cpu_milli: int
    pod_memory_mib: int
    connections: int
    message_ops: float  # message operations per second (inbound + deliveries)


def _tiered(amount: float, tiers: tuple[tuple[float, float], ...], above: float) -> float:
    """Sum rate x slice over consecutive (upper bound, rate) slices, then `above` for the rest."""
    reserved, lower = 0.0, 0.0
    for upper, rate in tiers:
        if amount <= lower:
            return reserved
        reserved += (min(amount, upper) - lower) * rate
        lower = upper
    return reserved + max(0.0, amount - lower) * above


def kubelet_reserved_cpu_milli(vcpu: int) -> int:
    """CPU a node keeps for the kubelet and system (reserve-tiers; matches ACK's 4-vCPU example)."""
    # A flat 0.1 core covers the first four cores; the tiers start above them.
    cores = 0.1 + _tiered(vcpu, ((4, 0.0), (64, 0.025), (128, 0.0125)), 0.005)
    return math.ceil(cores * 1000)


def kubelet_reserved_memory_mib(memory_gib: float) -> int:
    """Memory a node keeps for the kubelet, system and hard eviction threshold (reserve-tiers)."""
    gib = _tiered(memory_gib, ((4, 0.25), (8, 0.20), (16, 0.10), (128, 0.06)), 0.02)
    return math.ceil(gib * 1024) + EVICTION_HARD_MEMORY_MIB


# The kubelet's capacity is the memory the OS sees (MemTotal), less than the instance's nominal size (firmware,
# kernel, crash kernel): ACK's published 4 vCPU / 8 GiB example node reports 7925980Ki (ack-reservation). Applied
# to every shape; larger instances lose a smaller share, so this errs on the safe side.
MEMTOTAL_RATIO = 7925980 / (8 * 1024 * 1024)


def node_capacity(shape: NodeShape, qos: int = 1) -> NodeCapacity:
    """What one EMQX pod may request on a node of the nominal `shape` (its instance type's vCPU and GiB)."""
    cpu_milli = shape.vcpu * 1000 - kubelet_reserved_cpu_milli(shape.vcpu) - DAEMONSET_CPU_MILLI
    # Round down so the request fits whatever rounding the node reports allocatable with.
    cpu_milli = (cpu_milli // 100) * 100
    seen_gib = shape.memory_gib * MEMTOTAL_RATIO
    mem_mib = int(seen_gib * 1024) - kubelet_reserved_memory_mib(seen_gib) - DAEMONSET_MEMORY_MIB
    mem_mib = (mem_mib // 64) * 64
    usable_bytes = mem_mib * MIB - BASE_NODE_MEMORY_GIB * GIB
    connections = min(MAX_CONNECTIONS_PER_NODE, max(0, int(usable_bytes // MEMORY_PER_CONNECTION_BYTES)))
    ops = cpu_milli / 1000 * MSG_OPS_PER_VCPU_QOS1 * QOS_THROUGHPUT_FACTOR[qos]
    return NodeCapacity(cpu_milli, mem_mib, connections, max(0.0, ops))


# A VM runs EMQX beside the OS alone: no kubelet reserve, no daemonsets, no pod limit (VM mode, README). Estimates of
# what the OS and the cloud's agents (Cloud Assistant, CloudMonitor, journald, sshd) keep, not measurements.
VM_OS_CPU_MILLI = 200
VM_OS_MEMORY_MIB = 512


def vm_node_capacity(shape: NodeShape, qos: int = 1) -> NodeCapacity:
    """What EMQX may use on a plain VM of the nominal `shape`: the OS-visible memory (MEMTOTAL_RATIO) and every vCPU,
    less the OS estimates above."""
    cpu_milli = ((shape.vcpu * 1000 - VM_OS_CPU_MILLI) // 100) * 100
    mem_mib = ((int(shape.memory_gib * MEMTOTAL_RATIO * 1024) - VM_OS_MEMORY_MIB) // 64) * 64
    usable_bytes = mem_mib * MIB - BASE_NODE_MEMORY_GIB * GIB
    connections = min(MAX_CONNECTIONS_PER_NODE, max(0, int(usable_bytes // MEMORY_PER_CONNECTION_BYTES)))
    ops = cpu_milli / 1000 * MSG_OPS_PER_VCPU_QOS1 * QOS_THROUGHPUT_FACTOR[qos]
    return NodeCapacity(max(0, cpu_milli), max(0, mem_mib), connections, max(0.0, ops))


def message_ops(target: CapacityTarget, client_nodes: int = 1) -> float:
    """Message operations per second over the cluster: inbound PUBLISH, deliveries, the deliveries' cross-node
    forwards ((n-1)/n of them with n client nodes, CROSS_NODE_FORWARD_COST each), weighted for the TLS share."""
    deliveries = target.message_rate * target.fanout
    n = max(1, client_nodes)
    ops = target.message_rate + deliveries + deliveries * (n - 1) / n * CROSS_NODE_FORWARD_COST
    return ops * (1.0 + target.tls_share * (TLS_CPU_FACTOR - 1.0))


def connection_weight(target: CapacityTarget) -> float:
    """Memory of the average connection, in plain connections (TLS ones count TLS_MEMORY_FACTOR)."""
    return 1.0 + target.tls_share * (TLS_MEMORY_FACTOR - 1.0)


def _fits(target: CapacityTarget, cap: NodeCapacity, nodes: int, usable: float, ops_nodes: int) -> bool:
    """Whether `nodes` client nodes carry the target within `usable` of each; the cross-node share is that of
    `ops_nodes` client nodes (after a loss, the survivors' own count)."""
    conn = target.connections * connection_weight(target)
    return (conn <= cap.connections * usable * nodes + 1e-6
            and message_ops(target, ops_nodes) <= cap.message_ops * usable * nodes + 1e-6)


def _smallest_count(target: CapacityTarget, cap: NodeCapacity, usable: float) -> int:
    """The fewest client nodes that carry the target within `usable` of each. Per node the load only falls as nodes
    are added (the cross-node share grows more slowly than the count), so a bisection finds it."""
    if cap.connections == 0 or cap.message_ops == 0 or usable <= 0:
        return 1_000_000_000
    conn = target.connections * connection_weight(target)
    # With every delivery crossing nodes (the share's limit) the count is an upper bound.
    full = (target.message_rate * (1 + target.fanout * (1 + CROSS_NODE_FORWARD_COST))
            * (1.0 + target.tls_share * (TLS_CPU_FACTOR - 1.0)))
    high = max(1, math.ceil(max(conn / (cap.connections * usable), full / (cap.message_ops * usable)) - 1e-9))
    low = 1
    while low < high:
        mid = (low + high) // 2
        if _fits(target, cap, mid, usable, mid):
            high = mid
        else:
            low = mid + 1
    return low


def _needed_nodes(target: CapacityTarget, cap: NodeCapacity, headroom: float) -> int:
    return max(1, _smallest_count(target, cap, 1.0 - headroom))


def _nodes_surviving_a_loss(target: CapacityTarget, cap: NodeCapacity) -> int:
    """Client nodes such that the rest still carry the target at full capacity when any one is lost."""
    return 1 + max(1, _smallest_count(target, cap, 1.0))


def _check_inputs(
    target: CapacityTarget,
    shape: NodeShape,
    cores: int | None,
    replicants: int | None,
    headroom: float,
    min_client_nodes: int,
    key: str,
) -> list[str]:
    errors: list[str] = []
    if target.connections < 0:
        errors.append(f"{key}.connections: must be >= 0, got {target.connections}")
    if target.message_rate < 0:
        errors.append(f"{key}.message_rate: must be >= 0, got {target.message_rate}")
    if target.qos not in QOS_THROUGHPUT_FACTOR:
        errors.append(f"{key}.qos: must be 0, 1 or 2, got {target.qos}")
    if target.fanout < 0:
        errors.append(f"{key}.fanout: must be >= 0, got {target.fanout}")
    if target.payload_bytes < 0:
        errors.append(f"{key}.payload_bytes: must be >= 0, got {target.payload_bytes}")
    if not 0.0 <= target.tls_share <= 1.0:
        errors.append(f"{key}.tls_share: must be in [0, 1], got {target.tls_share}")
    if not 0.0 <= headroom < 1.0:
        errors.append(f"{key}.headroom: must be in [0, 1), got {headroom}")
    if shape.vcpu <= 0 or shape.memory_gib <= 0:
        errors.append(f"{key}.node_shape: vcpu and memory must be positive, got {shape}")
    if cores is not None and cores < 1:
        errors.append(f"{key}.cores: must be at least 1, got {cores}")
    if replicants is not None and replicants < 0:
        errors.append(f"{key}.replicants: must be >= 0, got {replicants}")
    if min_client_nodes < 1:
        errors.append(f"{key}.min_client_nodes: must be at least 1, got {min_client_nodes}")
    return errors


def _shortfall(
    target: CapacityTarget, cap: NodeCapacity, nodes: int, needed: int, headroom: float, role: str, field: str,
    key: str, larger_shape: str, replicants_allowed: bool,
) -> str:
    usable = 1.0 - headroom
    # Never suggest a count the settings or the topology rules would refuse next, and name the keys that change.
    limit = MAX_ALL_CORE_NODES if field == "cores" else MAX_REPLICANTS
    lower = f"a lower {key}.capacity target"
    if needed <= limit:
        fix = f"set {key}.{field} to at least {needed}, or use {larger_shape}"
    elif field == "cores":
        fix = (f"an all-core cluster stops at {MAX_ALL_CORE_NODES} nodes and this shape would need {needed}: use "
               f"{larger_shape}, {_with_replicants(key, replicants_allowed)}, or {lower}")
    else:
        fix = (f"this shape would need {needed:,} replicants, above the {MAX_REPLICANTS} the settings allow: use "
               f"{larger_shape} or {lower}")
    return (
        f"{key}.{field}: {nodes} {role} carry {int(cap.connections * usable * nodes / connection_weight(target)):,} "
        f"connections and {int(cap.message_ops * usable * nodes):,} msg ops/s at {headroom:.0%} headroom, but the "
        f"target needs {target.connections:,} connections and {int(message_ops(target, nodes)):,} msg ops/s: {fix}"
    )


def derived_all_core_problem(nodes: int, shape: NodeShape, *, key: str, larger_shape: str,
                             replicants_allowed: bool) -> str:
    """For a plan whose all-core count was derived, not set: the target is what asks for it, so the message names
    the target and the settings that would carry it, never a key the user did not set."""
    return (f"{key}.capacity: the target needs {nodes} client nodes of {shape.vcpu} vCPU / {shape.memory_gib:g} GiB, "
            f"and an all-core cluster stops at {MAX_ALL_CORE_NODES} nodes; use {larger_shape}, "
            f"{_with_replicants(key, replicants_allowed)}, or a lower {key}.capacity target")


def _with_replicants(key: str, replicants_allowed: bool) -> str:
    if replicants_allowed:
        return f"{CORES_WITH_REPLICANTS} cores plus replicants ({key}.replicants)"
    return (f"{CORES_WITH_REPLICANTS} cores plus replicants, which need EMQX 5 Enterprise ({key}.edition: enterprise "
            "and a licenseKey)")


def plan_capacity(
    target: CapacityTarget,
    shape: NodeShape,
    *,
    cores: int | None = None,
    replicants: int | None = None,
    replicants_allowed: bool = True,
    headroom: float = 0.3,
    min_client_nodes: int = 1,
    survive_node_loss: bool = False,
    key: str = "emqx",
    larger_shape: str = "a larger node shape",
    vm: bool = False,
) -> tuple[SizingPlan | None, list[str]]:
    """Derive (None) or check (given) core and replicant counts for `target` on nodes of `shape`.

    survive_node_loss: the client nodes left after losing any one must still carry the whole target (at full
    capacity, the headroom spent), as production must through a node failure or a drain.
    larger_shape: how the stack gets larger nodes, named by its setting (e.g. a larger type in
    nodePools.emqx.instanceTypes), for the fixes the messages suggest.
    vm: EMQX runs on a plain VM (vm_node_capacity), not in a pod (node_capacity).
    """
    errors = _check_inputs(target, shape, cores, replicants, headroom, min_client_nodes, key)
    if errors:
        return None, errors
    cap = vm_node_capacity(shape, target.qos) if vm else node_capacity(shape, target.qos)
    if cap.connections == 0 or cap.message_ops == 0:
        return None, [
            f"{key}.node_shape: {shape.vcpu} vCPU / {shape.memory_gib} GiB leaves no room for "
            f"an EMQX pod after the kubelet reserve and daemonsets; use {larger_shape}"
        ]
    needed = max(_needed_nodes(target, cap, headroom), min_client_nodes)
    after_loss = _nodes_surviving_a_loss(target, cap) if survive_node_loss else 0
    needed = max(needed, after_loss)

    if replicants and not replicants_allowed:
        return None, [
            f"{key}.replicants: replicant nodes need EMQX Enterprise; set {key}.replicants to 0 "
            f"or use the Enterprise edition"
        ]

    if replicants is None:
        if cores is None:
            if needed <= MAX_ALL_CORE_NODES or not replicants_allowed:
                cores, replicants = needed, 0
            else:
                cores, replicants = CORES_WITH_REPLICANTS, needed
        elif cores >= needed:
            replicants = 0
        elif replicants_allowed:
            replicants = needed
        else:
            return None, [_shortfall(target, cap, cores, needed, headroom, "cores", "cores", key, larger_shape,
                                     replicants_allowed)]
    elif cores is None:
        cores = CORES_WITH_REPLICANTS if replicants > 0 else needed

    client_nodes = replicants if replicants > 0 else cores
    if client_nodes < after_loss:
        field = "replicants" if replicants > 0 else "cores"
        return None, [
            f"{key}.{field}: {client_nodes} client node(s) cannot carry the target once one is lost (each carries "
            f"at most {cap.connections:,} connections and {int(cap.message_ops):,} msg ops/s; production plans "
            f"for a node loss); "
            # `needed` also covers the headroom, so the count named is one that passes both checks.
            + (f"set {key}.{field} to at least {needed}, or use {larger_shape}"
               if needed <= (MAX_ALL_CORE_NODES if field == "cores" else MAX_REPLICANTS)
               else f"use {larger_shape} or a lower {key}.capacity target")
        ]
    if client_nodes < needed:
        field, role = ("replicants", "replicants") if replicants > 0 else ("cores", "cores")
        return None, [_shortfall(target, cap, client_nodes, needed, headroom, role, field, key, larger_shape,
                                 replicants_allowed)]

    return _plan(target, shape, cap, cores, replicants, client_nodes, headroom, replicants_allowed, vm=vm), []


def _plan(
    target: CapacityTarget,
    shape: NodeShape,
    cap: NodeCapacity,
    cores: int,
    replicants: int,
    client_nodes: int,
    headroom: float,
    replicants_allowed: bool,
    *,
    vm: bool = False,
) -> SizingPlan:
    usable = 1.0 - headroom
    per_node = math.ceil(target.connections / client_nodes)
    max_conn = max(per_node, int(cap.connections * usable / connection_weight(target)))
    ops_per_node = message_ops(target, client_nodes) / client_nodes
    mem_used = BASE_NODE_MEMORY_GIB * GIB + per_node * MEMORY_PER_CONNECTION_BYTES * connection_weight(target)
    total_nodes = cores + replicants
    share = (f"EMQX gets {cap.pod_cpu_milli}m CPU / {cap.pod_memory_mib}Mi of a {shape.vcpu} vCPU / "
             f"{shape.memory_gib:g} GiB VM: {VM_OS_CPU_MILLI}m / {VM_OS_MEMORY_MIB}Mi stay with the OS (estimate)")
    notes = [
        share if vm else f"pod gets {cap.pod_cpu_milli}m CPU / {cap.pod_memory_mib}Mi of a {shape.vcpu} vCPU / "
        f"{shape.memory_gib:g} GiB node: kubelet reserve {kubelet_reserved_cpu_milli(shape.vcpu)}m / "
        f"{kubelet_reserved_memory_mib(shape.memory_gib)}Mi (tiered estimate) and {DAEMONSET_CPU_MILLI}m / "
        f"{DAEMONSET_MEMORY_MIB}Mi for daemonsets stay off it",
        f"capacity per client node at 100%: {cap.connections:,} connections "
        f"({MEMORY_PER_CONNECTION_BYTES / 1024:.1f} KiB each, 100M test), {int(cap.message_ops):,} msg ops/s "
        f"({MSG_OPS_PER_VCPU_QOS1:,.0f} per vCPU at QoS1, x{QOS_THROUGHPUT_FACTOR[target.qos]} for "
        f"QoS{target.qos} (estimate)); {int(message_ops(target, client_nodes)):,} msg ops/s at the target, "
        f"counting the cross-node forwards of (n-1)/n of the deliveries (model assumption)",
    ]
    if target.tls_share:
        notes.append(f"{target.tls_share:.0%} of connections on TLS: x{TLS_MEMORY_FACTOR} memory and x{TLS_CPU_FACTOR} "
                     "CPU each (estimates)")
    if replicants:
        notes.append(f"{cores} cores take no clients; the load balancer sends them to the {replicants} replicants"
                     if vm else f"{cores} cores take no clients; the listeners Service selects the {replicants} "
                     "replicants")
    elif client_nodes > MAX_ALL_CORE_NODES:
        notes.append(
            f"all-core cluster of {cores} nodes: EMQX advises core + replicant (Enterprise) above "
            f"{MAX_ALL_CORE_NODES} nodes" + ("" if replicants_allowed else "; replicants not allowed")
        )
    if max_conn >= ERLANG_DEFAULT_MAX_PORTS:
        notes.append(
            f"max_connections {max_conn:,} is above EMQX's default node.max_ports ({ERLANG_DEFAULT_MAX_PORTS:,}):"
            f" node.max_ports and the open-file limits must be raised with it (the renderers do)"
        )
    if client_nodes == 1:
        notes.append("a single client node: losing it disconnects every client")
    elif not _fits(target, cap, client_nodes - 1, 1.0, client_nodes - 1):
        notes.append("losing one client node would leave the rest unable to carry the target: raise headroom")
    if target.payload_bytes > 4096:
        notes.append(f"payload {target.payload_bytes} B is far above the benchmarks' small payloads: measure")
    notes.append("max_connections applies per listener (tcp, ssl, ws, wss each count separately)")
    return SizingPlan(
        cores=cores,
        replicants=replicants,
        client_nodes=client_nodes,
        connections_per_node=per_node,
        max_connections_per_node=max_conn,
        node_shape=shape,
        pod_cpu=f"{cap.pod_cpu_milli}m",
        pod_memory=f"{cap.pod_memory_mib}Mi",
        planned_vcpu=total_nodes * shape.vcpu,
        planned_memory_gib=total_nodes * shape.memory_gib,
        cpu_utilisation=ops_per_node / cap.message_ops,
        memory_utilisation=mem_used / (cap.pod_memory_mib * MIB),
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------------------------
# Reconnect storms and rollouts: how fast a node admits new connections, and how long the operator's blue-green
# rollout takes at that pace. Pure functions of the plan; the renderers and the load balancer tier use them.

# Estimate, not a measurement: the time within which the clients of a lost client node must all be admitted again.
# Their reconnects spread over the survivors (the load balancer sends each to a healthy backend); each survivor
# admits at the listener's max_conn_rate, and what it cannot take yet waits in the listen backlog or is refused and
# retried by the client's backoff. A minute keeps the outage short without a CPU spike of TLS handshakes.
STORM_ADMISSION_SECONDS = 60
# Below this a node would throttle ordinary churn (deploys of client fleets, network blips): never plan lower.
MIN_CONN_RATE_PER_NODE = 1_000
# EMQX's evacuation waits wait_health_check (default 60 s; emqx_node_rebalance.hrl DEFAULT_WAIT_HEALTH_CHECK, the
# operator 2.2.29 does not pass it) before evicting, then waits wait_takeover between connections and sessions.
EVACUATION_HEALTH_CHECK_SECONDS = 60
# Long enough for an evicted client's reconnect backoff, so its session is taken over rather than evicted.
EVACUATION_WAIT_TAKEOVER_SECONDS = 60
# The operator waits this long after the new pods are Available before it removes an old one.
ROLLOUT_INITIAL_DELAY_SECONDS = 10
# Estimates: scheduling, image pull and cluster join of the new pods (a node pool may have to add the rollout's
# surge nodes first, which on ACK takes minutes), and the stop of each old pod (terminationGracePeriodSeconds 30).
ROLLOUT_POD_START_SECONDS = 600
ROLLOUT_POD_STOP_SECONDS = 30
# pulumi.com/timeoutSeconds of the EMQX resource: the estimate times this margin, never under 30 minutes.
ROLLOUT_TIMEOUT_MARGIN = 2.0
ROLLOUT_TIMEOUT_FLOOR_SECONDS = 1800


@dataclass(frozen=True)
class Evacuation:
    """The operator's updateStrategy.evacuationStrategy (and a Rebalance's rates): per second, per source node."""

    conn_evict_rate: int
    sess_evict_rate: int
    wait_takeover: int


def storm_connection_rate(plan: SizingPlan) -> int:
    """Connections per second one client node admits per listener (`max_conn_rate`) during a reconnect storm.

    After a client node is lost, its `connections_per_node` clients reconnect at once and spread over the
    survivors; each survivor must admit its share within STORM_ADMISSION_SECONDS. With one client node there are
    no survivors: its clients come back to the restarted node, which admits them all within the same time.
    """
    survivors = max(1, plan.client_nodes - 1)
    rate = math.ceil(plan.connections_per_node / survivors / STORM_ADMISSION_SECONDS)
    return max(MIN_CONN_RATE_PER_NODE, rate)


def storm_cluster_rate(plan: SizingPlan) -> int:
    """New connections per second the whole cluster admits at most (every client node at its `max_conn_rate`): what
    the load balancer in front must pass without refusing."""
    return storm_connection_rate(plan) * plan.client_nodes


def evacuation(plan: SizingPlan) -> Evacuation:
    """Eviction rates for the operator's blue-green rollout: a node is emptied no faster than one node admits the
    evicted clients (they reconnect through the load balancer to the new nodes), so a rollout never causes more
    load than the storm the plan already carries."""
    rate = storm_connection_rate(plan)
    return Evacuation(conn_evict_rate=rate, sess_evict_rate=rate, wait_takeover=EVACUATION_WAIT_TAKEOVER_SECONDS)


def rollout_seconds(plan: SizingPlan, strategy: Evacuation, *, evacuates: bool) -> int:
    """Upper estimate of one blue-green rollout by the EMQX Operator 2.2.29 (controllers/apps/v2beta1/sync_pods.go).

    The operator starts the whole new core StatefulSet and replicant ReplicaSet, waits initialDelaySeconds after
    they are Available, then removes the old pods one at a time: replicants first, then cores (oldest first; a
    core goes only when no old replicant is left). An old node that holds sessions on Enterprise is evacuated
    first (EMQX: wait_health_check, connections at conn_evict_rate, wait_takeover, sessions at sess_evict_rate;
    counted as if every session outlived its connection); any other old node goes after waitTakeover.
    `evacuates`: Enterprise (open source has no evacuation: its clients are cut and reconnect).
    """
    per_client_node = strategy.wait_takeover + ROLLOUT_POD_STOP_SECONDS
    if evacuates:
        per_client_node += (EVACUATION_HEALTH_CHECK_SECONDS
                            + math.ceil(plan.connections_per_node / strategy.conn_evict_rate)
                            + math.ceil(plan.connections_per_node / strategy.sess_evict_rate))
    other_nodes = plan.cores + plan.replicants - plan.client_nodes
    per_other_node = strategy.wait_takeover + ROLLOUT_POD_STOP_SECONDS
    return (ROLLOUT_POD_START_SECONDS + ROLLOUT_INITIAL_DELAY_SECONDS + plan.client_nodes * per_client_node
            + other_nodes * per_other_node)


def rollout_timeout_seconds(plan: SizingPlan, strategy: Evacuation, *, evacuates: bool) -> int:
    """How long Pulumi waits for the EMQX resource to be Ready again: the rollout estimate with a margin, whole
    minutes."""
    seconds = max(ROLLOUT_TIMEOUT_FLOOR_SECONDS,
                  math.ceil(rollout_seconds(plan, strategy, evacuates=evacuates) * ROLLOUT_TIMEOUT_MARGIN))
    return math.ceil(seconds / 60) * 60


def rebalance_timeout_seconds(plan: SizingPlan, strategy: Evacuation, *, wait_health_check: int) -> int:
    """How long Pulumi waits for a Rebalance run to reach Completed: moving at most one node's planned connections
    and sessions at the run's rates, with the rollout margin, whole minutes."""
    seconds = (wait_health_check + strategy.wait_takeover
               + math.ceil(plan.connections_per_node / strategy.conn_evict_rate)
               + math.ceil(plan.connections_per_node / strategy.sess_evict_rate))
    seconds = max(600, math.ceil(seconds * ROLLOUT_TIMEOUT_MARGIN))
    return math.ceil(seconds / 60) * 60


# ---------------------------------------------------------------------------------------------------------------
# Cores beside replicants: their own, smaller nodes. EMQX's docs ("Enable Core + Replicant Cluster", emqx-core-roles):
# cores are the authoritative source of the shared state (routing table, client channels, retained messages,
# configuration) and do every write of it; replicants take the clients, hold a full read copy and hand writes to the
# cores. So a core's load follows the rate of those writes, not the message rate: every message is routed and
# delivered by the replicants. Estimates, not measurements (no published core benchmark was found): re-measure with a
# load test's reconnect storm and adjust.

# A connect writes the channel registry and, with per-client topic filters (the stacks' devices/<user>/#), one route;
# the lost node's stale channel is removed: three transactions per admitted client, on every core (each core applies
# every transaction).
CORE_TRANSACTIONS_PER_CONNECT = 3
# Estimate: transactions one core vCPU applies per second.
CORE_TRANSACTIONS_PER_VCPU = 5_000
# Estimate: each core keeps every client's channel registry entry and route (ETS rows with their keys).
CORE_MEMORY_PER_CONNECTION_BYTES = 1024
# The operator's example gives a core 512Mi; a production core is kept at one vCPU and 2 GiB at least (estimate).
CORE_MIN_POD_CPU_MILLI = 1000
CORE_MIN_POD_MEMORY_MIB = 2048


@dataclass(frozen=True)
class CoreDemand:
    """What one core that takes no clients needs at 100% (the headroom comes on top)."""

    cpu_milli: int
    memory_mib: int
    transactions_per_second: int


def core_demand(target: CapacityTarget, plan: SizingPlan) -> CoreDemand:
    """A core's work for the replicant plan: the transactions of the reconnect storm the replicants admit at most
    (storm_cluster_rate) and a copy of every client's registry entry and route."""
    tps = storm_cluster_rate(plan) * CORE_TRANSACTIONS_PER_CONNECT
    cpu = max(CORE_MIN_POD_CPU_MILLI, math.ceil(tps / CORE_TRANSACTIONS_PER_VCPU * 1000))
    memory = max(CORE_MIN_POD_MEMORY_MIB, math.ceil(
        (BASE_NODE_MEMORY_GIB * GIB + target.connections * CORE_MEMORY_PER_CONNECTION_BYTES) / MIB))
    return CoreDemand(cpu, memory, tps)


def core_shape_problem(shape: NodeShape, demand: CoreDemand, headroom: float) -> str | None:
    """Why a core pod on `shape` cannot hold `demand` within (1 - headroom) of its CPU and memory; None if it can."""
    cap = node_capacity(shape)
    usable = 1.0 - headroom
    if demand.cpu_milli > cap.pod_cpu_milli * usable:
        return (f"a core needs {demand.cpu_milli}m CPU ({demand.transactions_per_second:,} transactions/s in a "
                f"reconnect storm) and a {shape.vcpu} vCPU node gives it {int(cap.pod_cpu_milli * usable)}m at "
                f"{headroom:.0%} headroom")
    if demand.memory_mib > cap.pod_memory_mib * usable:
        return (f"a core needs {demand.memory_mib}Mi and a {shape.memory_gib:g} GiB node gives it "
                f"{int(cap.pod_memory_mib * usable)}Mi at {headroom:.0%} headroom")
    return None


def with_core_shape(plan: SizingPlan, shape: NodeShape, target: CapacityTarget, headroom: float) -> SizingPlan:
    """The plan with its cores on nodes of `shape` (their own pool): pod size, paid vCPU and memory, a note."""
    assert plan.replicants > 0, "cores get their own shape only beside replicants"
    cap, demand = node_capacity(shape), core_demand(target, plan)
    note = (f"{plan.cores} cores on their own {shape.vcpu} vCPU / {shape.memory_gib:g} GiB nodes (pod "
            f"{cap.pod_cpu_milli}m / {cap.pod_memory_mib}Mi): {demand.cpu_milli}m for "
            f"{demand.transactions_per_second:,} transactions/s in a reconnect storm and {demand.memory_mib}Mi for "
            f"every client's registry entry and route (estimates: {CORE_TRANSACTIONS_PER_CONNECT} transactions per "
            f"connect, {CORE_TRANSACTIONS_PER_VCPU:,} per vCPU, {CORE_MEMORY_PER_CONNECTION_BYTES} B per client)")
    return replace(plan, core_shape=shape, core_pod_cpu=f"{cap.pod_cpu_milli}m",
                   core_pod_memory=f"{cap.pod_memory_mib}Mi",
                   planned_vcpu=plan.cores * shape.vcpu + plan.replicants * plan.node_shape.vcpu,
                   planned_memory_gib=plan.cores * shape.memory_gib + plan.replicants * plan.node_shape.memory_gib,
                   notes=(*plan.notes, note))


def smallest_core_type(target: CapacityTarget, plan: SizingPlan, headroom: float,
                       catalogue: Mapping[str, InstanceType], family: str = "") -> tuple[str | None, str]:
    """The catalogue's cheapest type (known prices first, then fewest vCPU and GiB, then the replicants' `family`,
    then catalogue order) whose node holds a core of this replicant plan; else None and why the largest could not."""
    demand = core_demand(target, plan)
    order = {name: i for i, name in enumerate(catalogue)}
    ranked = sorted(catalogue.values(), key=lambda t: (t.price_per_hour is None, t.price_per_hour or 0.0, t.vcpu,
                                                       t.memory_gib, t.family != family, order[t.name]))
    reason = "the catalogue is empty"
    for itype in ranked:
        problem = core_shape_problem(NodeShape(itype.vcpu, itype.memory_gib), demand, headroom)
        if problem is None:
            return itype.name, ""
        reason = problem
    return None, reason


# ---------------------------------------------------------------------------------------------------------------
# The planner: which instance types, and how many, carry the target at the lowest cost (components/catalogue). An
# all-core cluster (up to MAX_ALL_CORE_NODES) runs on one shape; beside replicants the cores get the smallest shape
# that holds their database work (above), and both kinds of fleet compete.

HOURS_PER_MONTH = 730  # 365 x 24 / 12: how cloud price pages turn an hourly price into a monthly one


@dataclass(frozen=True)
class FleetChoice:
    instance_type: str  # the client nodes' (replicants, or every node of an all-core cluster)
    plan: SizingPlan
    price_per_hour: float | None  # one node, on demand; None: unknown
    currency: str | None
    core_type: str | None = None  # the cores' own type beside replicants; None: instance_type
    core_price_per_hour: float | None = None
    order: int = 0  # the client type's place in the catalogue: the last tie-break

    @property
    def nodes(self) -> int:
        return self.plan.cores + self.plan.replicants

    @property
    def monthly_cost(self) -> float | None:
        """EMQX nodes at rest, list price; None when a price is unknown."""
        if self.core_type is None:
            return None if self.price_per_hour is None else self.price_per_hour * self.nodes * HOURS_PER_MONTH
        if self.price_per_hour is None or self.core_price_per_hour is None:
            return None
        return (self.price_per_hour * self.plan.replicants
                + self.core_price_per_hour * self.plan.cores) * HOURS_PER_MONTH

    def describe(self) -> str:
        p = self.plan
        if self.core_type is not None:
            return f"{p.cores} x {self.core_type} (cores) + {p.replicants} x {self.instance_type} (replicants)"
        if p.replicants:
            return f"{p.cores} cores + {p.replicants} replicants x {self.instance_type}"
        return f"{p.cores} x {self.instance_type}"

    def rank(self) -> tuple[bool, float, int, float, int, int, str]:
        # Cheapest first where prices are known; without a price, fewest vCPU (then GiB) stands in for cost: within a
        # family Alibaba's on-demand price grows with the size, so this is the order a price list would give there.
        # Equal fleets keep the catalogue's order (it lists the families it prefers first).
        cost = self.monthly_cost
        return (cost is None, cost or 0.0, self.plan.planned_vcpu, self.plan.planned_memory_gib, self.nodes,
                self.order, self.core_type or "")


@dataclass(frozen=True)
class Rejection:
    instance_type: str
    reason: str


@dataclass(frozen=True)
class FleetOptions:
    headroom: float = 0.3
    production: bool = False
    zones: int = 2
    replicants_allowed: bool = True
    cores: int | None = None  # pinned (emqx.cores)
    replicants: int | None = None  # pinned (emqx.replicants)
    load_balancer: load_balancer_tier.LoadBalancerType | None = None  # None: not checked
    families: tuple[str, ...] = field(default=())  # () = every family of the catalogue
    core_type: str | None = None  # pinned (nodePools.core.instanceTypes); None: the planner's


def min_client_nodes(options: FleetOptions) -> int:
    """Production survives a node loss (two at least) and spreads client nodes over its zones, one per zone at
    least, so a zone's load balancer address always has a local backend."""
    return max(2, options.zones) if options.production else 1


def _client_plans(target: CapacityTarget, shape: NodeShape, options: FleetOptions
                  ) -> tuple[list[SizingPlan], list[str]]:
    """The plans a client shape offers: the derived (or pinned) one and, when that is all-core and nothing is pinned,
    in production the same at 3 cores, and the same client count as replicants beside CORES_WITH_REPLICANTS cores
    (their own smaller shape may cost less)."""
    common = {"replicants_allowed": options.replicants_allowed, "headroom": options.headroom,
              "min_client_nodes": min_client_nodes(options), "survive_node_loss": options.production,
              "key": "emqx", "larger_shape": "a larger instance type"}
    plan, errors = plan_capacity(target, shape, cores=options.cores, replicants=options.replicants, **common)
    if plan is None:
        return [], errors
    plans = [plan]
    if plan.replicants == 0 and options.cores is None and options.replicants is None:
        if options.production and plan.cores < CORES_WITH_REPLICANTS:
            # Production needs an odd number of cores, 3 at least: the same shape, all-core at 3.
            three, _ = plan_capacity(target, shape, cores=CORES_WITH_REPLICANTS, replicants=0, **common)
            if three is not None:
                plans.append(three)
        if options.replicants_allowed:
            split, _ = plan_capacity(target, shape, cores=CORES_WITH_REPLICANTS, replicants=plan.client_nodes,
                                     **common)
            if split is not None:
                plans.append(split)
    return plans, []


def fleet_candidates(
    target: CapacityTarget,
    options: FleetOptions,
    catalogue: Mapping[str, InstanceType] | None = None,
    core_catalogue: Mapping[str, InstanceType] | None = None,
) -> tuple[list[FleetChoice], list[Rejection]]:
    """Every fleet of the catalogue that can carry the target (cheapest first), and why the other types cannot. Beside
    replicants the cores take the smallest type of core_catalogue (default: the catalogue) that holds them, or the
    pinned options.core_type."""
    types = alicloud_catalogue.INSTANCE_TYPES if catalogue is None else catalogue
    core_types = types if core_catalogue is None else core_catalogue
    chosen: list[FleetChoice] = []
    rejected: list[Rejection] = []
    for order, (name, itype) in enumerate(types.items()):
        if options.families and itype.family not in options.families:
            continue
        plans, errors = _client_plans(target, NodeShape(itype.vcpu, itype.memory_gib), options)
        if not plans:
            rejected.append(Rejection(name, errors[0] if errors else "cannot carry the target"))
            continue
        reasons: list[str] = []
        for plan in plans:
            core_type: str | None = None
            core_price: float | None = None
            if plan.replicants:
                if options.core_type is not None:
                    core_type = options.core_type
                    problem = (core_shape_problem(_shape(core_types, core_type), core_demand(target, plan),
                                                  options.headroom) if core_type in core_types
                               else f"{core_type} is not in the catalogue")
                    if problem:
                        reasons.append(f"the pinned core type {core_type}: {problem}")
                        continue
                else:
                    core_type, why = smallest_core_type(target, plan, options.headroom, core_types, itype.family)
                    if core_type is None:
                        reasons.append(f"no type holds its cores: {why}")
                        continue
                core_price = core_types[core_type].price_per_hour
                plan = with_core_shape(plan, _shape(core_types, core_type), target, options.headroom)
            reason = fleet_problem(plan, options)
            if reason:
                reasons.append(reason)
                continue
            chosen.append(FleetChoice(name, plan, itype.price_per_hour, itype.currency, core_type, core_price, order))
        if reasons and not any(c.instance_type == name for c in chosen):
            rejected.append(Rejection(name, reasons[0]))
    chosen.sort(key=FleetChoice.rank)
    return chosen, rejected


def _shape(types: Mapping[str, InstanceType], name: str) -> NodeShape:
    return NodeShape(types[name].vcpu, types[name].memory_gib)


def fleet_problem(plan: SizingPlan, options: FleetOptions) -> str | None:
    """Topology and load balancer rules a plan must also meet (the settings refuse the same)."""
    if plan.replicants == 0 and plan.cores > MAX_ALL_CORE_NODES:
        return (f"needs {plan.cores} all-core nodes, and an all-core cluster stops at {MAX_ALL_CORE_NODES}"
                + ("" if options.replicants_allowed else " (replicants need Enterprise)"))
    if options.production and (plan.cores < 3 or plan.cores % 2 == 0):
        return f"{plan.cores} cores: production needs an odd number, at least 3"
    if plan.client_nodes < min_client_nodes(options):
        return f"{plan.client_nodes} client nodes: fewer than the {min_client_nodes(options)} production spreads over"
    if options.load_balancer is not None:
        cap = load_balancer_tier.limits(options.load_balancer, options.zones)
        storm = storm_cluster_rate(plan)
        if storm > cap.new_connections_per_second:
            return (f"its reconnect storm ({storm:,} new connections/s) is above the {options.load_balancer} "
                    f"limit of {cap.new_connections_per_second:,}/s")
    return None


def choose_fleet(target: CapacityTarget, options: FleetOptions,
                 catalogue: Mapping[str, InstanceType] | None = None) -> FleetChoice | None:
    chosen, _ = fleet_candidates(target, options, catalogue)
    return chosen[0] if chosen else None


def pinned_cost_note(pinned: FleetChoice, best: FleetChoice, *,
                     catalogue_file: str = "components/catalogue/alicloud.py") -> str | None:
    """A note when the stack's pinned fleet costs more than the planner's, with the difference."""
    if pinned.rank() <= best.rank():
        return None
    p, b = pinned.plan, best.plan
    text = (f"the pinned fleet ({pinned.describe()}: {p.planned_vcpu} vCPU / {p.planned_memory_gib:g} GiB) is larger "
            f"than the planner's ({best.describe()}: {b.planned_vcpu} vCPU / {b.planned_memory_gib:g} GiB), "
            f"{p.planned_vcpu - b.planned_vcpu:+} vCPU")
    if pinned.monthly_cost is not None and best.monthly_cost is not None:
        text += f", {pinned.monthly_cost - best.monthly_cost:+,.0f} {pinned.currency}/month"
    else:
        text += f"; list prices unknown ({catalogue_file})"
    return (text + ": remove nodePools.emqx.instanceTypes / nodePools.core.instanceTypes / emqx.cores / "
            "emqx.replicants to let the planner choose")


@dataclass(frozen=True)
class RoleCost:
    role: str
    instance_type: str | None
    count_at_rest: int
    count_at_peak: int
    price_per_hour: float | None  # one unit; None: unknown

    def monthly(self, count: int) -> float | None:
        return None if self.price_per_hour is None else self.price_per_hour * count * HOURS_PER_MONTH


def cost_estimate(roles: list[RoleCost], currency: str | None) -> dict[str, object]:
    """Monthly list cost by role, at rest and at the rollout peak; a role without a price is "unknown" and so is the
    total then (never a partial sum presented as the whole)."""

    def total(at: str) -> float | str:
        values = [r.monthly(r.count_at_rest if at == "rest" else r.count_at_peak) for r in roles]
        return "unknown" if any(v is None for v in values) else round(sum(v for v in values if v is not None), 2)

    def shown(value: float | None) -> float | str:
        return "unknown" if value is None else round(value, 2)

    return {
        "currency": currency or "unknown",
        "hours_per_month": HOURS_PER_MONTH,
        "roles": {r.role: {"instance_type": r.instance_type, "count_at_rest": r.count_at_rest,
                           "count_at_peak": r.count_at_peak, "monthly_at_rest": shown(r.monthly(r.count_at_rest)),
                           "monthly_at_peak": shown(r.monthly(r.count_at_peak))} for r in roles},
        "monthly_at_rest": total("rest"),
        "monthly_at_peak": total("peak"),
    }


def cost_note(estimate: dict[str, object]) -> str:
    roles = estimate["roles"]
    assert isinstance(roles, dict)
    parts = [f"{role} {v['count_at_rest']}"
             + (f"->{v['count_at_peak']}" if v["count_at_peak"] != v["count_at_rest"] else "")
             + (f" x {v['instance_type']}" if v["instance_type"] else "") + f": {v['monthly_at_rest']}"
             for role, v in roles.items()]
    return (f"monthly list cost ({estimate['currency']}), at rest {estimate['monthly_at_rest']}, at the rollout peak "
            f"{estimate['monthly_at_peak']}; " + "; ".join(parts))
