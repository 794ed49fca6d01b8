"""Load-test runs: pod planning (property test), settings refusals, the pool, naming, and strict validation."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
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


def test_generator_nodes_hold_one_pod_each() -> None:
    # Under flannel, pod traffic to the load balancer may leave with the node's address (SNAT), so two pods on a
    # node would share one address's ports: one pod per node, however large the node.
    assert loadtest.pods_per_node(8, 16) == 1
    assert loadtest.pods_per_node(64, 256) == 1
    assert loadtest.nodes_for(4, 8, 16) == 4
    # A full pod (2 CPU) does not fit a 2 vCPU node after the node's 0.5 vCPU: a small pod does.
    assert loadtest.nodes_for(1, 2, 4) == 0
    assert loadtest.nodes_for(1, 2, 4, clients=1000) == 1


def test_pod_requests_follow_the_clients_up_to_a_full_pod() -> None:
    # 1,000 clients x 40 KiB = 39 MiB, in 64 MiB steps, on top of the VM's 256 MiB; CPU at its floor.
    assert loadtest.pod_requests(1000) == (250, 320)
    # 58,054 clients (PORT_FILL of the default profile): 2,268 MiB -> 2,304 + 256; CPU at the full pod's 2 vCPU.
    assert loadtest.pod_requests(58_054) == (2000, 2560)
    assert loadtest.pod_requests(10_000_000) == (loadtest.POD_CPU_MILLI, loadtest.POD_MEMORY_MIB)


@settings(max_examples=300, deadline=None)
@given(connections=st.integers(1, 2_000_000), pub_share=st.floats(0, 1), rate_share=st.floats(0, 1),
       limit=st.integers(1, 64_512))
def test_a_connect_rate_the_settings_accept_never_trips_emqtt_bench_s_interval_assertion(
        connections: int, pub_share: float, rate_share: float, limit: int) -> None:
    # The settings accept connectRate up to 1000 x connections (emqtt-bench start/2 asserts its 1 ms interval).
    connect_rate = max(1, int(1000 * connections * rate_share))
    publishers = int(connections * pub_share / 2)
    plan = loadtest.plan_run(connections=connections, publishers=publishers, subscribers=publishers,
                             connect_rate=connect_rate, message_rate=publishers, per_source_limit=limit)
    assert all(loadtest.connect_rate_fits(p) for p in plan.pods)


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


def test_more_publishers_than_subscribers_on_a_numbered_topic_are_refused() -> None:
    problems = _problems(_with_runs({**RUN, "publishers": 2000, "messageRate": 20_000}))
    assert any(p.startswith("loadTest.runs[0].publishers:") and "at most 1,000" in p for p in problems)
    # Without %i every subscriber gets every publisher's messages: nothing is dropped for want of a subscriber.
    _parse(_with_runs({**RUN, "publishers": 2000, "messageRate": 20_000, "topic": "bench/all"}))


def test_a_connect_rate_emqtt_bench_cannot_pace_is_refused() -> None:
    # 10 clients at 20,000/s: emqtt-bench's per-worker interval 1000 x 10 div 20,000 is 0 ms, and start/2 crashes.
    small = {"name": "tiny", "connections": 10, "connectRate": 20_000}
    problems = _problems(_with_runs(small))
    assert any(p.startswith("loadTest.runs[0].connectRate:") and "at most 10,000" in p for p in problems)
    _parse(_with_runs({**small, "connectRate": 10_000}))


def test_the_readme_example_run_passes_the_production_acl() -> None:
    # prod's ACL lets a user publish and subscribe under devices/${username}/# only: the README's example topic must
    # stay there (emqtt-bench fills %u with the client's username).
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## Load tests"):]
    topic = re.search(r"topic: *\"?([^\s\"]+)", section)
    assert topic is not None
    assert topic.group(1).startswith("devices/%u/")


def test_two_runs_of_one_name_are_refused() -> None:
    assert any(p.startswith("loadTest.runs[1].name:") for p in _problems(_with_runs(RUN, RUN)))


def test_a_broker_that_admits_only_known_users_needs_a_user_for_the_generators() -> None:
    closed = {**ALICLOUD, "emqx": {**ALICLOUD["emqx"], "auth": {}}}
    assert any(p.startswith("loadTest.runs[0].username:") for p in _problems(_with_runs(RUN, base=closed)))
    # A user needs the users' secret to come from.
    named = _with_runs({**RUN, "username": "bench"}, base=closed)
    assert any(p.startswith("loadTest.runs[0].username:") and "mqttUsers" in p for p in _problems(named))


def test_a_run_whose_pods_cannot_fit_the_existing_nodes_is_refused() -> None:
    # The local stack's nodes: 2 vCPU / 4 GiB, 1.5 vCPU / 2 GiB after the node's share.
    existing = {"target": "existing", "cluster": {"kubernetesMinor": "1.33"},
                "existing": {"nodeShape": {"vcpu": 2, "memoryGiB": 4}},
                "emqx": {"capacity": {"connections": 60_000}, "auth": {"allowAnonymous": True}}}
    # 1,000 clients in one pod (250m, 320 MiB) fit such a node.
    _parse(_with_runs({"name": "small", "connections": 1000, "target": "inCluster"}, base=existing))
    # 50,000 clients in one pod ask for 1.75 vCPU (2 vCPU x 50,000 / 58,000, in 50m steps): refused with the fix.
    problems = _problems(_with_runs({"name": "big", "connections": 50_000, "target": "inCluster"}, base=existing))
    about = [p for p in problems if p.startswith("loadTest.runs[0].connections:")]
    assert about and "existing.nodeShape" in about[0] and "1750m CPU" in about[0]


def test_an_existing_cluster_is_tested_in_the_cluster_only() -> None:
    existing = {"target": "existing", "cluster": {"kubernetesMinor": "1.33"},
                "emqx": {"capacity": {"connections": 10_000}, "auth": {"allowAnonymous": True}}}
    run = {"name": "small", "connections": 5000}
    assert any(p.startswith("loadTest.runs[0].target:") for p in _problems(_with_runs(run, base=existing)))
    assert _parse(_with_runs({**run, "target": "inCluster"}, base=existing)).load_test[0].target == "inCluster"


def test_runs_switch_the_load_generator_pool_on_and_size_it() -> None:
    assert _parse(ALICLOUD).loadgen_pool.enabled is False
    pool = _parse(_with_runs(RUN)).loadgen_pool
    # 1,000 subscribers (1 pod), 1,000 publishers (1 pod), 198,000 idle clients at 58,054 per pod (4 pods): 6 pods.
    # 3 per ecs.c7.2xlarge by their requests, but one per node so that no two share a node's address: 6 nodes.
    assert (pool.enabled, pool.count) == (True, 6)
    small = {**_with_runs(RUN), "nodePools": {"loadgen": {"count": 5}}}
    assert any(p.startswith("nodePools.loadgen.count:") for p in _problems(small))
    off = {**_with_runs(RUN), "nodePools": {"loadgen": {"enabled": False}}}
    assert any(p.startswith("nodePools.loadgen.enabled:") for p in _problems(off))


# --- objects --------------------------------------------------------------------------------------------------------


RUN_FIELDS: dict[str, Any] = {**RUN, "name": "r1"}


def _spec(**changes: Any) -> render.RunSpec:
    base: dict[str, Any] = dict(run_fields=RUN_FIELDS,
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


def test_run_objects_are_named_from_the_run_s_own_settings_only() -> None:
    name = render.run_object_name(_spec())
    assert name.startswith("lt-r1-") and len(name) == len("lt-r1-") + 8
    assert render.run_object_name(_spec()) == name
    assert render.run_object_name(_spec(run_fields={**RUN_FIELDS, "durationSeconds": 301})) != name
    # What the stack adds around the run does not make it a new run (and take the measurement again).
    around = _spec(keepalive_seconds=30, emqx_nodes=5, port=8883, tls=True, emqx_name="other",
                   bench_image="mirror.example.com/emqx/emqtt-bench:0.6.2")
    assert render.run_object_name(around) == name
    # The longest run name still fits the job-name label (63).
    longest = render.run_object_name(_spec(name="a" * 40)) + "-verify"
    assert len(longest) <= 63


def test_one_generator_pod_per_node_is_required() -> None:
    job = render.bench_job(_spec(), PLAN, "lt-r1-x", placement=Placement(), sysctls=[], credentials_secret=None,
                           timeout=100)
    template = job["spec"]["template"]
    [term] = template["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    # The term selects this run's generator pods (and so each pod itself, as a required anti-affinity must).
    assert term["labelSelector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    assert term["labelSelector"]["matchLabels"]["emqx-platform/load-test"] == "lt-r1-x"


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
    assert len(pools) == 1 and pools[0].inputs["desiredSize"] == "6"  # one node per generator pod
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


def test_an_edited_run_is_a_new_resource_and_its_verdict_outlives_it(run_stack) -> None:
    rec = run_stack(_with_runs(RUN))
    result = next(r for r in rec.by_type("kubernetes:core/v1:ConfigMap")
                  if r.inputs["metadata"]["name"].endswith("-result"))
    run_object = result.inputs["metadata"]["name"].removesuffix("-result")
    # The Pulumi name carries the digest: an edited run is a new resource beside the old, not a replacement of it.
    assert run_object in result.name
    assert result.options["retainOnDelete"] is True
    ours = [r for r in rec.resources if r.inputs.get("metadata", {}).get("name", "").startswith(run_object)]
    assert len(ours) >= 7 and all(run_object in r.name for r in ours)
    # Everything else of the run goes with it, and what the stack feeds a taken run is not applied again.
    assert all(r.options.get("retainOnDelete") is not True for r in ours if r is not result)
    for job in rec.by_type("kubernetes:batch/v1:Job"):
        assert job.options["ignoreChanges"] == ["spec"]
    edited = run_stack(_with_runs({**RUN, "durationSeconds": 900}))
    assert not {r.name for r in ours} & {r.name for r in edited.resources}
    # A change outside the run (the stack's keepalive) leaves its names alone.
    around = run_stack({**_with_runs(RUN), "emqx": {**ALICLOUD["emqx"], "keepaliveSeconds": 30}})
    assert {r.name for r in ours} <= {r.name for r in around.resources}


def test_the_load_test_images_come_from_the_charts_mirror(run_stack) -> None:
    rec = run_stack({**_with_runs(RUN), "charts": {"imageRegistry": "registry.example.com/mirror"}})
    images = {r.inputs["metadata"]["name"].rsplit("-", 1)[1]:
              r.inputs["spec"]["template"]["spec"]["containers"][0]["image"]
              for r in rec.by_type("kubernetes:batch/v1:Job")}
    assert images == {"bench": "registry.example.com/mirror/emqx/emqtt-bench:0.6.2",
                      "verify": "registry.example.com/mirror/library/python:3.13.9-slim"}


@pytest.mark.parametrize("password", ["two words", "star*pass", "what?", "[abc]", "tab\tpass"])
def test_a_password_the_bench_launcher_would_split_is_refused_without_saying_it(password: str) -> None:
    from components.workloads import loadtest as workload

    with pytest.raises(ValueError) as err:
        workload._password(f"bench:{password}\n", "bench", "r1")
    assert "bench" in str(err.value) and password not in str(err.value)
    assert workload._password("bench:a-long-password_1.x\n", "bench", "r1") == "a-long-password_1.x"
