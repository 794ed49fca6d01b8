"""Load-test runs: how many emqtt-bench pods a run needs, what each one does, and how long the run takes.

Pure (no Pulumi import): the settings refuse runs with it, the workload renders Jobs from it, the preview shows it.

The limit that shapes the plan: a TCP connection is identified by (source address, source port, destination
address, destination port), so one source address opens at most as many connections to one destination
address:port as it has ephemeral ports (net.ipv4.ip_local_port_range minus ip_local_reserved_ports, from the same
tuning profile the pods get: components/tuning.py). Through the load balancer every generator dials one VIP:port, and
in the cluster one Service address:port, so each generator pod (one pod address) stays under that count, with room
left for sockets of reconnecting clients still in TIME_WAIT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from components.tuning import TuningProfile

# emqx/emqtt-bench's newest release tag (git tag in github.com/emqx/emqtt-bench, 0.6.2 = ffbef96d, 2026-02-24). Its
# release workflow pushes the tag as the Docker Hub image tag (.github/workflows/release.yaml: docker/metadata-action
# type=ref,event=tag). The options the program writes are checked against schemas/emqtt-bench/0.6.2/emqtt_bench.erl.
BENCH_TAG = "0.6.2"
BENCH_IMAGE = f"emqx/emqtt-bench:{BENCH_TAG}"
# The verifier: a stdlib-only Python script (components/render/loadtest_verifier.py) in a ConfigMap.
VERIFIER_IMAGE = "python:3.13.9-slim"


def images(registry: str | None) -> tuple[str, str]:
    """(emqtt-bench, verifier) image references, from charts.imageRegistry's mirror when one is set: Docker Hub's
    paths kept under it (<registry>/emqx/emqtt-bench, <registry>/library/python for the official image), the same
    layout the charts' images get (workloads/operator.py, workloads/cert_manager.py)."""
    if not registry:
        return BENCH_IMAGE, VERIFIER_IMAGE
    return f"{registry}/{BENCH_IMAGE}", f"{registry}/library/{VERIFIER_IMAGE}"

# Share of a source address's ephemeral ports a pod plans to use: the rest covers sockets of clients that dropped and
# reconnect while their old socket sits in TIME_WAIT (net.ipv4.tcp_fin_timeout of the profile bounds FIN_WAIT_2 only).
PORT_FILL = 0.9
# What a full emqtt-bench pod asks for: an Erlang VM holding tens of thousands of idle MQTT clients needs about 40 KiB
# each (emqtt process heap plus socket buffers at the profile's 4 KiB tcp_rmem/tcp_wmem defaults): 64k x 40 KiB is
# about 2.5 GiB; CPU goes to connects and publishes. A pod with fewer clients asks for its share (pod_requests), so
# a small run fits small nodes.
POD_CPU_MILLI = 2000
POD_MEMORY_MIB = 3072
CLIENT_MEMORY_KIB = 40
VM_MEMORY_MIB = 256  # the Erlang VM and emqtt-bench's own processes without clients
MIN_POD_CPU_MILLI = 250
FULL_POD_CLIENTS = 58_000  # about PORT_FILL of the default profile's 64,505 ports: the pod the full request is for
# Node room kept for the kubelet, the node tuning DaemonSet and the CNI.
NODE_RESERVED_CPU_MILLI = 500
NODE_RESERVED_MEMORY_MIB = 2048
# Seconds the verifier lets counters settle after the last generator finished connecting, and the slack each step
# of the run gets on top of its planned length (pods scheduled late, images pulled).
SETTLE_SECONDS = 30
RAMP_SLACK = 1.5
IMAGE_PULL_SECONDS = 300
# An indexed Job runs at most this many pods (Kubernetes: completions <= 100000 for completionMode Indexed).
MAX_PODS = 100_000

Role = Literal["sub", "pub", "conn"]
ROLES: tuple[Role, ...] = ("sub", "pub", "conn")


def ephemeral_ports(port_range: str, reserved: str = "") -> int:
    """Ports a pod's address can use as source ports: net.ipv4.ip_local_port_range minus reserved ports in it."""
    low, high = (int(p) for p in port_range.split())
    taken: set[int] = set()
    for item in filter(None, reserved.replace(" ", "").split(",")):
        a, _, b = item.partition("-")
        taken.update(range(int(a), int(b or a) + 1))
    return sum(1 for p in range(low, high + 1) if p not in taken)


@dataclass(frozen=True)
class BenchPod:
    """One index of the generator Job: one emqtt-bench process of one role."""

    index: int
    role: Role
    clients: int
    # emqtt-bench --startnumber: this pod's clients get sequence numbers start + 1 .. start + clients (its %i), so a
    # publisher and the subscriber with the same number share a topic when the pattern uses %i.
    start_number: int
    connect_rate: int  # connections per second this pod opens (emqtt-bench --connrate)
    source_addresses: int = 1  # a pod's own address; a CNI with several addresses per pod could give more

    @property
    def clients_per_source(self) -> int:
        return math.ceil(self.clients / self.source_addresses)


@dataclass(frozen=True)
class RunPlan:
    pods: tuple[BenchPod, ...]
    per_source_limit: int  # ephemeral ports of one source address towards one destination address:port
    publish_interval_ms: int  # emqtt-bench --interval_of_msg: each publisher's gap between messages
    message_rate: float  # what the publishers together send at that interval (messages/s)
    ramp_seconds: int  # the slowest pod's connect time at its share of the run's connect rate

    def count(self, role: Role) -> int:
        return sum(p.clients for p in self.pods if p.role == role)

    @property
    def connections(self) -> int:
        return sum(p.clients for p in self.pods)


def per_pod_clients(per_source_limit: int, source_addresses: int = 1) -> int:
    """The most clients one pod plans: PORT_FILL of each source address's ports."""
    return max(1, int(per_source_limit * PORT_FILL)) * source_addresses


def publish_interval_ms(publishers: int, message_rate: int) -> int:
    """Each publisher's gap (ms) so that all of them together send message_rate; 0 when it cannot be 1 ms or more."""
    if publishers == 0 or message_rate == 0:
        return 0
    return round(1000 * publishers / message_rate)


def plan_run(*, connections: int, publishers: int, subscribers: int, connect_rate: int, message_rate: int,
             per_source_limit: int, source_addresses: int = 1) -> RunPlan:
    """Pods for a run: subscribers, publishers and idle connections each in pods of their own, so that every
    message leaves one pod and arrives at another (through the load balancer, or the Service, like devices'
    messages), and no pod's source address holds more than PORT_FILL of its ports."""
    if publishers + subscribers > connections:
        raise ValueError("publishers and subscribers are part of the connections")
    cap = per_pod_clients(per_source_limit, source_addresses)
    pods: list[BenchPod] = []
    for role, total in (("sub", subscribers), ("pub", publishers), ("conn", connections - publishers - subscribers)):
        if total == 0:
            continue
        n = math.ceil(total / cap)
        start = 0
        for i in range(n):
            clients = total // n + (1 if i < total % n else 0)
            rate = max(1, round(connect_rate * clients / connections))
            pods.append(BenchPod(index=len(pods), role=role, clients=clients, start_number=start,  # type: ignore[arg-type]
                                 connect_rate=rate, source_addresses=source_addresses))
            start += clients
    interval = publish_interval_ms(publishers, message_rate)
    rate = publishers * 1000 / interval if interval else 0.0
    ramp = max((math.ceil(p.clients / p.connect_rate) for p in pods), default=0)
    return RunPlan(pods=tuple(pods), per_source_limit=per_source_limit, publish_interval_ms=interval,
                   message_rate=rate, ramp_seconds=ramp)


def pod_requests(clients: int) -> tuple[int, int]:
    """(CPU millicores, memory MiB) a generator pod of `clients` asks for: the VM plus CLIENT_MEMORY_KIB per client
    (in 64 MiB steps), and CPU in proportion to a full pod's, both capped at the full pod's request."""
    memory = VM_MEMORY_MIB + math.ceil(clients * CLIENT_MEMORY_KIB / 1024 / 64) * 64
    cpu = math.ceil(POD_CPU_MILLI * clients / FULL_POD_CLIENTS / 50) * 50
    return min(POD_CPU_MILLI, max(MIN_POD_CPU_MILLI, cpu)), min(POD_MEMORY_MIB, memory)


def largest_pod_clients(plan: RunPlan) -> int:
    return max((p.clients for p in plan.pods), default=0)


def pods_per_node(vcpu: int, memory_gib: float, clients: int = FULL_POD_CLIENTS) -> int:
    """Generator pods of `clients` one node holds: at most one (the Job's required podAntiAffinity,
    render/loadtest.py), so that a pod's planned share of source ports holds even where the CNI SNATs pod traffic
    to the node's address; none when the node is too small for the pod's requests."""
    cpu_request, memory_request = pod_requests(clients)
    cpu = (vcpu * 1000 - NODE_RESERVED_CPU_MILLI) // cpu_request
    memory = (int(memory_gib * 1024) - NODE_RESERVED_MEMORY_MIB) // memory_request
    return 1 if min(cpu, memory) >= 1 else 0


def nodes_for(pods: int, vcpu: int, memory_gib: float, clients: int = FULL_POD_CLIENTS) -> int:
    """Load-generator nodes for a run's pods: one each, or 0 when the shape holds none."""
    return pods if pods_per_node(vcpu, memory_gib, clients) else 0


def connect_rate_fits(pod: BenchPod) -> bool:
    """emqtt-bench 0.6.2 start/2 spreads a pod's clients over NoWorkers = max(schedulers, ceil(rate/1000)) workers,
    or one per client when there are fewer clients, and asserts Interval = 1000 * NoWorkers div rate >= 1
    (schemas/emqtt-bench/0.6.2/emqtt_bench.erl, `true = (Interval >= 1)`): it crashes unless
    rate <= 1000 x clients."""
    return pod.connect_rate <= 1000 * pod.clients


def wait_for_ramp_seconds(plan: RunPlan) -> int:
    """How long the verifier waits for the target connections before it calls the run failed."""
    return math.ceil(plan.ramp_seconds * RAMP_SLACK) + 60


def generator_seconds(plan: RunPlan, duration_seconds: int) -> int:
    """How long each generator keeps its clients: ramp (with slack), settle, the measured hold, and a minute more
    so the verifier's last sample still sees every client."""
    return wait_for_ramp_seconds(plan) + SETTLE_SECONDS + duration_seconds + 60


def timeout_seconds(plan: RunPlan, duration_seconds: int) -> int:
    """pulumi.com/timeoutSeconds for the run's Jobs: the generators' time plus pulling images and scheduling."""
    return generator_seconds(plan, duration_seconds) + IMAGE_PULL_SECONDS + 60


def source_port_limit(profile: TuningProfile) -> int:
    """Source ports of one pod address under the tuning profile the generator pods get (its pod sysctls)."""
    # Without the key in the profile, the kernel's default range (Documentation/networking/ip-sysctl.rst).
    port_range = profile.value_of("net.ipv4.ip_local_port_range") or "32768 60999"
    return ephemeral_ports(port_range, profile.value_of("net.ipv4.ip_local_reserved_ports") or "")
