"""Load-test runs: pod planning (property test), settings refusals, the pool, naming, and strict validation."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components import loadtest, tuning
from components.render import loadtest as render
from components.render.emqx import Placement
from components.render.loadtest_verifier import Expected
from components.settings import SECRET_KEYS, ConfigError, parse
from tests.validators import validate_manifest

# The default profile's client side: ip_local_port_range "1024 65535" (64,512 ports) minus EMQX's 7 listener and
# cluster ports it reserves (1883, 4370, 5369, 8083, 8084, 8883, 18083), all inside that range.
DEFAULT_PORTS = 65535 - 1024 + 1 - 7

ALICLOUD: dict[str, Any] = {
    "target": "alicloud",
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
    "emqx": {"edition": "opensource", "version": "5.8.9",
             "capacity": {"connections": 200_000, "messageRate": 20_000},
             "auth": {"allowAnonymous": True}},
}
RUN: dict[str, Any] = {"name": "two-hundred-k", "connections": 200_000, "connectRate": 2000, "publishers": 1000,
                       "subscribers": 1000, "messageRate": 10_000, "durationSeconds": 600}


def _parse(values: dict[str, Any]) -> Any:
    return parse(values, stack="test", secret_keys={k for k in SECRET_KEYS if k in values})


def _problems(values: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        _parse(values)
    return err.value.problems


def _with_runs(*runs: dict[str, Any], base: dict[str, Any] = ALICLOUD) -> dict[str, Any]:
    return {**base, "loadTest": {"runs": list(runs)}}


# --- pod planning ---------------------------------------------------------------------------------------------------


def test_the_default_profile_gives_each_pod_address_its_ephemeral_ports() -> None:
    profile = tuning.build_profile(max_connections_per_node=100_000, kubernetes_version="1.35")
    assert loadtest.source_port_limit(profile) == DEFAULT_PORTS
    assert loadtest.ephemeral_ports("32768 60999") == 28232  # the kernel's own default range
    assert loadtest.ephemeral_ports("1000 1009", "1001,1003-1005") == 6


@settings(max_examples=300, deadline=None)
@given(connections=st.integers(1, 3_000_000), pub_share=st.floats(0, 1), sub_share=st.floats(0, 1),
       connect_rate=st.integers(1, 50_000), limit=st.integers(1, 64_512), addresses=st.integers(1, 4))
def test_no_source_address_exceeds_its_ports_and_the_pods_add_up_to_the_target(
        connections: int, pub_share: float, sub_share: float, connect_rate: int, limit: int, addresses: int) -> None:
    publishers = int(connections * pub_share)
    subscribers = int((connections - publishers) * sub_share)
    plan = loadtest.plan_run(connections=connections, publishers=publishers, subscribers=subscribers,
                             connect_rate=connect_rate, message_rate=publishers, per_source_limit=limit,
                             source_addresses=addresses)
    for pod in plan.pods:
        assert pod.clients_per_source <= limit
        assert pod.clients >= 1
    assert plan.connections == connections
    assert (plan.count("pub"), plan.count("sub")) == (publishers, subscribers)
    # No pod mixes roles: every message leaves one pod and arrives at another, through the load balancer.
    assert all(p.role in loadtest.ROLES for p in plan.pods)
    assert [p.index for p in plan.pods] == list(range(len(plan.pods)))
    # Publishers and subscribers are numbered 1..n within their role, so %i topics pair them one to one.
    for role in ("pub", "sub"):
        numbers = [n for p in plan.pods if p.role == role for n in range(p.start_number + 1,
                                                                          p.start_number + p.clients + 1)]
        assert numbers == list(range(1, plan.count(role) + 1))  # type: ignore[arg-type]


def test_one_million_clients_through_one_address_need_eighteen_pods() -> None:
    # 90% of 64,505 ports is 58,054 clients per pod: 1,000,000 / 58,054 = 17.2, so 18 pods.
    plan = loadtest.plan_run(connections=1_000_000, publishers=0, subscribers=0, connect_rate=5000, message_rate=0,
                             per_source_limit=DEFAULT_PORTS)
    assert len(plan.pods) == 18
    assert max(p.clients for p in plan.pods) == math.ceil(1_000_000 / 18)


def test_generator_nodes_follow_the_pods_requests() -> None:
    # ecs.c7.2xlarge: 8 vCPU (7.5 after the node's share) / 2 vCPU per pod = 3; 16 GiB - 2 GiB / 3 GiB = 4.
    assert loadtest.pods_per_node(8, 16) == 3
    assert loadtest.nodes_for(4, 8, 16) == 2
    assert loadtest.nodes_for(1, 2, 4) == 0  # too small for one pod


# --- settings -------------------------------------------------------------------------------------------------------


def test_a_run_is_read_with_its_defaults() -> None:
    run = _parse(_with_runs(RUN)).load_test[0]
    assert (run.name, run.connections, run.target, run.qos, run.topic) == (
        "two-hundred-k", 200_000, "loadBalancer", 1, "bench/%i")


def test_a_run_beyond_the_capacity_is_refused_with_the_capacity_it_needs() -> None:
    problems = _problems(_with_runs({**RUN, "connections": 250_000, "messageRate": 25_000}))
    about = [p for p in problems if p.startswith("loadTest.runs[0].connections:")]
    assert about and "at least 250,000" in about[0]
    rate = [p for p in problems if p.startswith("loadTest.runs[0].messageRate:")]
    assert rate and "at least 25,000" in rate[0]


@pytest.mark.parametrize(("change", "key"), [
    ({"subscribers": 0}, "loadTest.runs[0].subscribers"),
    ({"messageRate": 0}, "loadTest.runs[0].messageRate"),
    ({"publishers": 3, "messageRate": 2000}, "loadTest.runs[0].messageRate"),  # 1.5 ms between messages
    ({"publishers": 150_000, "subscribers": 60_000}, "loadTest.runs[0].connections"),
    ({"name": "Not A Label"}, "loadTest.runs[0].name"),
    ({"target": "elsewhere"}, "loadTest.runs[0].target"),
])
def test_runs_the_generators_or_the_verdict_cannot_do_are_refused(change: dict[str, Any], key: str) -> None:
    assert any(p.startswith(f"{key}:") for p in _problems(_with_runs({**RUN, **change})))


def test_two_runs_of_one_name_are_refused() -> None:
    assert any(p.startswith("loadTest.runs[1].name:") for p in _problems(_with_runs(RUN, RUN)))


def test_a_broker_that_admits_only_known_users_needs_a_user_for_the_generators() -> None:
    closed = {**ALICLOUD, "emqx": {**ALICLOUD["emqx"], "auth": {}}}
    assert any(p.startswith("loadTest.runs[0].username:") for p in _problems(_with_runs(RUN, base=closed)))
    # A user needs the users' secret to come from.
    named = _with_runs({**RUN, "username": "bench"}, base=closed)
    assert any(p.startswith("loadTest.runs[0].username:") and "mqttUsers" in p for p in _problems(named))


def test_an_existing_cluster_is_tested_in_the_cluster_only() -> None:
    existing = {"target": "existing", "cluster": {"kubernetesMinor": "1.33"},
                "emqx": {"capacity": {"connections": 10_000}, "auth": {"allowAnonymous": True}}}
    run = {"name": "small", "connections": 5000}
    assert any(p.startswith("loadTest.runs[0].target:") for p in _problems(_with_runs(run, base=existing)))
    assert _parse(_with_runs({**run, "target": "inCluster"}, base=existing)).load_test[0].target == "inCluster"


def test_runs_switch_the_load_generator_pool_on_and_size_it() -> None:
    assert _parse(ALICLOUD).loadgen_pool.enabled is False
    pool = _parse(_with_runs(RUN)).loadgen_pool
    # 1,000 subscribers (1 pod), 1,000 publishers (1 pod), 198,000 idle clients at 58,054 per pod (4 pods): 6 pods,
    # 3 per ecs.c7.2xlarge: 2 nodes.
    assert (pool.enabled, pool.count) == (True, 2)
    small = {**_with_runs(RUN), "nodePools": {"loadgen": {"count": 1}}}
    assert any(p.startswith("nodePools.loadgen.count:") for p in _problems(small))
    off = {**_with_runs(RUN), "nodePools": {"loadgen": {"enabled": False}}}
    assert any(p.startswith("nodePools.loadgen.enabled:") for p in _problems(off))


# --- objects --------------------------------------------------------------------------------------------------------


def _spec(**changes: Any) -> render.RunSpec:
    base: dict[str, Any] = dict(
        name="r1", namespace="emqx", emqx_name="emqx", emqx_secret="emqx-secrets", port=1883, tls=False,
        keepalive_seconds=60, topic="bench/%i", qos=1, payload_bytes=256, duration_seconds=300, username="bench",
        expected=Expected(connections=10_000, message_rate=1000.0, nodes=2, rate_tolerance=0.1,
                          max_dropped_ratio=0.001), emqx_nodes=2)
    return render.RunSpec(**{**base, **changes})


PLAN = loadtest.plan_run(connections=130_000, publishers=1000, subscribers=1000, connect_rate=1000,
                         message_rate=1000, per_source_limit=DEFAULT_PORTS)


def test_every_object_of_a_run_passes_strict_validation() -> None:
    objects = render.manifests(_spec(), PLAN, placement=Placement(node_selector={"emqx-platform/pool": "loadgen"},
                                                                  tolerations=[{"key": "emqx-platform/dedicated",
                                                                                "operator": "Equal",
                                                                                "value": "loadgen",
                                                                                "effect": "NoSchedule"}]),
                               sysctls=[{"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"}],
                               credentials_secret="lt-creds")
    assert {o["kind"] for o in objects} == {"ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Job"}
    for obj in objects:
        assert validate_manifest(obj, "1.35") == [], obj["metadata"]["name"]


def test_run_objects_are_named_from_their_content() -> None:
    name = render.run_object_name(_spec(), PLAN)
    assert name.startswith("lt-r1-") and len(name) == len("lt-r1-") + 8
    assert render.run_object_name(_spec(), PLAN) == name
    assert render.run_object_name(_spec(duration_seconds=301), PLAN) != name
    # The longest run name still fits the job-name label (63).
    longest = render.run_object_name(_spec(name="a" * 40), PLAN) + "-verify"
    assert len(longest) <= 63


def test_the_generator_job_is_indexed_one_pod_per_planned_pod() -> None:
    job = render.bench_job(_spec(), PLAN, "lt-r1-x", placement=Placement(), sysctls=[], credentials_secret=None,
                           timeout=100)
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == len(PLAN.pods) == 5  # 1 sub, 1 pub, 3 idle
    assert job["spec"]["backoffLimit"] == 0


# --- under mocks ----------------------------------------------------------------------------------------------------


def test_the_program_runs_the_test_on_the_tuned_loadgen_pool(run_stack) -> None:
    rec = run_stack(_with_runs(RUN))
    pools = [r for r in rec.by_type("alicloud:cs/nodePool:NodePool") if r.inputs["nodePoolName"].endswith("-loadgen")]
    assert len(pools) == 1 and pools[0].inputs["desiredSize"] == "2"
    assert pools[0].inputs["taints"] == [{"key": "emqx-platform/dedicated", "value": "loadgen",
                                          "effect": "NoSchedule"}]
    jobs = {r.inputs["metadata"]["name"]: r for r in rec.by_type("kubernetes:batch/v1:Job")}
    bench = next(r for n, r in jobs.items() if n.endswith("-bench"))
    verify = next(r for n, r in jobs.items() if n.endswith("-verify"))
    assert bench.inputs["metadata"]["name"].startswith("lt-two-hundred-k-")
    pod = bench.inputs["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"emqx-platform/pool": "loadgen"}
    assert {"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"} in pod["securityContext"]["sysctls"]
    assert bench.inputs["spec"]["completions"] == 6
    # The generators dial the load balancer's address, not the Service.
    host = next(e for e in pod["containers"][0]["env"] if e["name"] == "BENCH_HOST")["value"]
    assert "svc" not in host
    # pulumi up waits for the verdict with a timeout from the run: 600 s window and more.
    assert int(verify.inputs["metadata"]["annotations"]["pulumi.com/timeoutSeconds"]) > 600
    for r in (bench, verify):
        obj = {"apiVersion": "batch/v1", "kind": "Job", "metadata": r.inputs["metadata"], "spec": r.inputs["spec"]}
        assert validate_manifest(obj, "1.35") == []
    assert rec.outputs["load_test_results"]["two-hundred-k"].endswith("-result")


def test_the_preview_summary_shows_each_run_and_its_pods(run_stack) -> None:
    from preview import writers

    summary = writers.render_summary(run_stack(_with_runs(RUN)), None)
    line = next(line for line in summary.splitlines() if line.startswith("load test two-hundred-k"))
    assert "6 generator pods: 1 sub (1,000 clients), 1 pub (1,000 clients), 4 conn (198,000 clients)" in line
    assert "10,000 msg/s for 600s" in line


def test_the_generators_password_reaches_them_from_a_secret_only(run_stack) -> None:
    closed = {**ALICLOUD, "emqx": {**ALICLOUD["emqx"], "auth": {}}, "mqttUsers": {"secure": "bench:a-long-password-1"}}
    # The offline engine hands the program a placeholder for the secret: `offline-secret-<key>`, a line that parses
    # as user `offline-secret-emqx-platform` (preview/engine.py _placeholder).
    rec = run_stack(_with_runs({**RUN, "username": "offline-secret-emqx-platform"}, base=closed))
    secrets = [r for r in rec.by_type("kubernetes:core/v1:Secret")
               if r.inputs["metadata"]["name"].endswith("-credentials")]
    assert len(secrets) == 1
    bench = next(r for r in rec.by_type("kubernetes:batch/v1:Job") if r.inputs["metadata"]["name"].endswith("-bench"))
    env = {e["name"]: e for e in bench.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["BENCH_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == secrets[0].inputs["metadata"]["name"]
    assert "mqttUsers" not in json.dumps(bench.inputs)  # the placeholder's password part
    script = bench.inputs["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert '--username offline-secret-emqx-platform --password "$BENCH_PASSWORD"' in script
