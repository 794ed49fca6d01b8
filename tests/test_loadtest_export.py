"""The `load_test_verdicts` stack output: each run's verdict read back from its result ConfigMap, after its Job.

Three checks, each independent of the code under test's own reasoning:
- what the verifier really writes (its main(), with the cluster faked at its edges) is what the export shows;
- under a mock engine that answers reads, in an update the ConfigMap is read with <namespace>/<name> only after the
  verifier Job is registered, and in a preview of a new run (the Job has no id yet) the id sent is Pulumi's unknown
  sentinel and the verdict stays unknown;
- the whole program exports the output (the offline engine answers the read with an empty ConfigMap: pending).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import io
import json
import threading
from collections.abc import Callable
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi.runtime import rpc

from components.platform import Platform
from components.render import loadtest_result
from components.render import loadtest_verifier as verifier
from components.render.emqx import Placement, ServiceBinding
from components.render.loadtest_verifier import Expected, Sample
from components.settings import SECRET_KEYS, parse
from preview import engine

NODES = ("emqx@a", "emqx@b")
EXPECTED = Expected(connections=1000, message_rate=100.0, nodes=2, rate_tolerance=0.1, max_dropped_ratio=0.001)


def _sample(at: float, connections: int, received: int, dropped: int = 0) -> Sample:
    stats = [{"node": n, "live_connections.count": connections // 2, "connections.count": connections // 2}
             for n in NODES]
    metrics = [{"node": n, "messages.received": received // 2, "messages.dropped": dropped // 2,
                "delivery.dropped": 0, "messages.delivered": received // 2, "packets.connack.error": 0}
               for n in NODES]
    return Sample(time=at, stats=stats, metrics=metrics)


def _verifier_writes(monkeypatch: pytest.MonkeyPatch, before: Sample, after: Sample) -> dict[str, str]:
    """The `data` the verifier's main() patches into the result ConfigMap, with the cluster faked at its edges: the
    run file and service-account token it opens, the TLS context, the API server, and the EMQX samples."""
    sent: list[dict[str, Any]] = []
    files = {"/verifier/run.json": json.dumps({"name": "r1"}), f"{verifier.SERVICE_ACCOUNT}/token": "token"}
    monkeypatch.setenv("RUN_FILE", "/verifier/run.json")
    monkeypatch.setenv("RUN_NAMESPACE", "emqx")
    monkeypatch.setenv("RESULT_CONFIGMAP", "lt-r1-x-result")
    monkeypatch.setattr(verifier, "open", lambda path, *a, **k: io.StringIO(files[path]), raising=False)
    monkeypatch.setattr(verifier.ssl, "create_default_context", lambda **_: None)
    monkeypatch.setattr(verifier, "_request", lambda url, **k: sent.append({"url": url, **k}))
    monkeypatch.setattr(verifier, "_run", lambda run: verifier.decide(EXPECTED, before, after))
    verifier.main()
    [patch] = sent
    assert patch["method"] == "PATCH" and patch["url"].endswith("/configmaps/lt-r1-x-result")
    return patch["body"]["data"]


def test_a_passed_run_exports_the_numbers_the_verifier_wrote(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _verifier_writes(monkeypatch, _sample(0, 1000, 0), _sample(100, 1000, 10_000))
    out = loadtest_result.verdict_output(data, "emqx/lt-r1-x-result")
    assert (out["verdict"], out["reasons"], out["configmap"]) == ("passed", [], "emqx/lt-r1-x-result")
    # 10,000 messages in 100 s, 1,000 connections at both ends: the measured figures, under the verifier's names.
    assert (out["message_rate"], out["connections_start"], out["connections_end"], out["dropped"]) == (
        100.0, 1000, 1000, 0)
    written = json.loads(data[loadtest_result.VERDICT_KEY])["numbers"]
    assert set(out) == {"configmap", "verdict", "reasons", *written}


def test_a_failed_run_exports_why(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _verifier_writes(monkeypatch, _sample(0, 600, 0), _sample(100, 600, 10_000, dropped=5000))
    out = loadtest_result.verdict_output(data, "emqx/r")
    assert out["verdict"] == "failed"
    assert any("connections" in r for r in out["reasons"]) and any("dropped" in r for r in out["reasons"])
    assert (out["connections_end"], out["dropped"]) == (600, 5000)


def test_a_configmap_without_the_verifier_s_verdict_is_not_taken_for_one() -> None:
    assert loadtest_result.verdict_output(None, "ns/r")["verdict"] == "pending"
    assert loadtest_result.verdict_output({"plan.json": "{}"}, "ns/r")["verdict"] == "pending"
    assert loadtest_result.verdict_output({"verdict.json": "{"}, "ns/r")["verdict"] == "unreadable"
    assert loadtest_result.verdict_output({"verdict.json": '{"passed": "yes"}'}, "ns/r")["verdict"] == "unreadable"
    # Only numbers and text come through: nothing else a hand-edited ConfigMap might hold.
    odd = {"verdict.json": json.dumps({"passed": True, "reasons": ["x", {"y": 1}],
                                       "numbers": {"message_rate": 5, "note": "text", "flag": True}})}
    assert loadtest_result.verdict_output(odd, "ns/r") == {"configmap": "ns/r", "verdict": "passed",
                                                            "reasons": ["x"], "message_rate": 5}


# --- the read, under a mock engine that answers it ------------------------------------------------------------------


class _Mocks(pulumi.runtime.Mocks):
    """Records registrations and reads in order; answers a read like the engine: an unknown id is not read."""

    def __init__(self, data: dict[str, str]) -> None:
        self.data = data
        self.events: list[tuple[str, str, str]] = []  # (register|read, type, name or id)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.resource_id:  # ReadResource passes the id asked for (a registration passes its import id, "")
            self.events.append(("read", args.typ, args.resource_id))
            if args.resource_id == rpc.UNKNOWN:
                return "", {}
            return args.resource_id, {"data": self.data}
        self.events.append(("register", args.typ, args.inputs.get("metadata", {}).get("name", args.name)))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


def _run_component(mocks: _Mocks, body: Callable[[], pulumi.Output[Any]]) -> tuple[bool, Any]:
    """Run `body` under `mocks` in a context and event loop of its own (as preview/engine.py does); return whether
    the Output it gives is known, and its value."""

    def inner() -> tuple[bool, Any]:
        from pulumi.runtime import settings as pulumi_settings
        from pulumi.runtime import stack as pulumi_stack

        previous = engine._installed_loop()  # pyright: ignore[reportPrivateUsage]
        loop = asyncio.new_event_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=1))
        asyncio.set_event_loop(loop)
        try:
            pulumi_settings.ROOT.set(cast(Any, object()))
            pulumi.runtime.set_mocks(mocks, project="emqx-platform", stack="test", preview=False)
            pulumi_settings.ROOT.set(None)
            runtime_settings = cast(Any, pulumi_settings.SETTINGS)
            runtime_settings.outputs, runtime_settings.lock = set(), threading.Lock()
            runtime_settings.package_refs, runtime_settings.base_providers_by_ref = {}, {}
            held: list[pulumi.Output[Any]] = []
            loop.run_until_complete(pulumi_stack.run_in_stack(lambda: held.append(body())))
            known = loop.run_until_complete(held[0].is_known())
            return known, loop.run_until_complete(held[0].future()) if known else None
        finally:
            loop.close()
            # Give back the caller's loop (or a fresh one), as the engine does: later tests make Outputs on it.
            engine._restore_loop(previous)  # pyright: ignore[reportPrivateUsage]

    return contextvars.copy_context().run(inner)


def _component_verdict(data: dict[str, str], *, read_id_dependencies: bool = False) -> tuple[_Mocks, bool, Any]:
    """Run LoadTests for one run; its verdict Output, or with read_id_dependencies the names of the resources the id
    handed to ConfigMap.get waits on."""
    from components.workloads import loadtest

    values = {"target": "alicloud", "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
              "emqx": {"edition": "opensource", "version": "5.8.9", "capacity": {"connections": 20_000},
                       "auth": {"allowAnonymous": True}},
              "loadTest": {"runs": [{"name": "r1", "connections": 10_000, "target": "inCluster"}]}}
    settings = parse(values, stack="test", secret_keys={k for k in SECRET_KEYS if k in values})
    mocks = _Mocks(data)
    ids: list[pulumi.Input[str]] = []
    real_get = k8s.core.v1.ConfigMap.get

    def recording_get(resource_name: str, id: pulumi.Input[str], opts: Any = None) -> Any:
        ids.append(id)
        return real_get(resource_name, id, opts=opts)

    def body() -> pulumi.Output[Any]:
        platform = Platform(provider=k8s.Provider("k8s", kubeconfig="{}"), emqx_placement=Placement(),
                            system_placement=Placement(), storage_class=None, listeners=ServiceBinding(),
                            dashboard=ServiceBinding())
        verdict = loadtest.LoadTests("emqx-test", settings=settings, platform=platform, after=[]).verdicts["r1"]
        if not read_id_dependencies:
            return verdict
        (read_id,) = ids
        return pulumi.Output.from_input(read_id.resources()).apply(  # type: ignore[union-attr]
            lambda found: sorted(r._name for r in found))  # pyright: ignore[reportPrivateUsage]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(k8s.core.v1.ConfigMap, "get", staticmethod(recording_get))
        known, value = _run_component(mocks, body)
    return mocks, known, value


WRITTEN = {"plan.json": "{}", "verdict.json": json.dumps(
    {"run": "r1", "passed": True, "reasons": [], "numbers": {"connections_end": 10_000, "message_rate": 0.0}})}


def test_an_update_reads_the_verdict_after_the_verifier_job_and_exports_it() -> None:
    mocks, known, value = _component_verdict(WRITTEN)
    reads = [e for e in mocks.events if e[0] == "read"]
    assert len(reads) == 1 and reads[0][1] == "kubernetes:core/v1:ConfigMap"
    namespace, name = reads[0][2].split("/")
    assert namespace == "emqx" and name.startswith("lt-r1-") and name.endswith("-result")
    # The read comes after the verifier Job's registration (whose create returns once the Job is Complete).
    verify_job = next(i for i, e in enumerate(mocks.events)
                      if e[:2] == ("register", "kubernetes:batch/v1:Job") and e[2].endswith("-verify"))
    assert mocks.events.index(reads[0]) > verify_job
    assert known and value == {"configmap": reads[0][2], "verdict": "passed", "reasons": [],
                               "connections_end": 10_000, "message_rate": 0.0}


def test_the_read_waits_on_the_verifier_job_so_a_preview_of_a_new_run_reads_nothing() -> None:
    # The id handed to ConfigMap.get is derived from the verifier Job's id: the SDK awaits it before the read, and in
    # a preview of a new run it is unknown, which the engine does not read (module docstring, with the sources).
    # Run with preview=False, so the dependency is what is checked, not a preview that checks nothing.
    _, known, names = _component_verdict(WRITTEN, read_id_dependencies=True)
    assert known and any(n.endswith("-verify-job") for n in names), names


def test_the_program_exports_each_run_s_verdict(run_stack) -> None:
    from tests.test_loadtest import RUN, _with_runs

    rec = run_stack(_with_runs(RUN))
    verdict = rec.outputs["load_test_verdicts"]["two-hundred-k"]
    result = rec.outputs["load_test_results"]["two-hundred-k"]
    # The offline engine answers the read with an empty ConfigMap (no cluster ran the verifier).
    assert verdict == {"configmap": f"emqx/{result}", "verdict": "pending",
                       "reasons": ["no verdict.json in the ConfigMap yet"]}
