"""The verdict over EMQX's REST API responses, on the response shapes of the pinned EMQX versions.

Shapes (identical for v5.8.9 and e5.10.3 in the fields read here):
- GET /api/v5/stats: a list of per-node objects, apps/emqx_management/src/emqx_mgmt_api_stats.erl
  fields(per_node_data) = node, durable_subscriptions.count, then fields(aggregated_data);
- GET /api/v5/metrics?aggregate=false: a list of per-node objects, emqx_mgmt_api_metrics.erl fields(node_metrics)
  = node, then every counter of emqx_metrics (v5.8.9 include/emqx_metrics.hrl, e5.10.3 emqx_metrics:all_metrics/0).
A node whose RPC fails is missing from either list (list/2 and cluster_metrics/1 skip it): partial failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from components.render import loadtest_verifier as verifier
from components.render.loadtest_verifier import Expected, Sample, decide

NODES = ("emqx@emqx-core-0.emqx-headless.emqx.svc.cluster.local",
         "emqx@emqx-core-1.emqx-headless.emqx.svc.cluster.local")
# Counters and gauges both versions declare, with their names as the API writes them.
STATS_FIELDS = ("channels.count", "channels.max", "connections.count", "connections.max", "delayed.count",
                "delayed.max", "live_connections.count", "live_connections.max", "cluster_sessions.count",
                "cluster_sessions.max", "retained.count", "retained.max", "sessions.count", "sessions.max",
                "suboptions.count", "suboptions.max", "subscribers.count", "subscribers.max", "subscriptions.count",
                "subscriptions.max", "subscriptions.shared.count", "subscriptions.shared.max", "topics.count",
                "topics.max", "durable_subscriptions.count")
METRICS_FIELDS = ("bytes.received", "bytes.sent", "packets.received", "packets.sent", "packets.connect.received",
                  "packets.connack.sent", "packets.connack.error", "packets.connack.auth_error",
                  "packets.publish.received", "packets.publish.sent", "messages.received", "messages.sent",
                  "messages.dropped", "messages.dropped.await_pubrel_timeout", "messages.dropped.no_subscribers",
                  "messages.forward", "messages.delivered", "messages.acked", "delivery.dropped",
                  "client.connected", "client.disconnected", "session.created", "authentication.failure")

EXPECTED = Expected(connections=100_000, message_rate=1000.0, nodes=2, rate_tolerance=0.1, max_dropped_ratio=0.001)


def _stats(connections: dict[str, int]) -> list[dict[str, Any]]:
    return [{"node": n, **dict.fromkeys(STATS_FIELDS, 0), "connections.count": c, "live_connections.count": c}
            for n, c in connections.items()]


def _metrics(received: dict[str, int], dropped: dict[str, int] | None = None,
             refused: dict[str, int] | None = None) -> list[dict[str, Any]]:
    return [{"node": n, **dict.fromkeys(METRICS_FIELDS, 7), "messages.received": r,
             "messages.dropped": (dropped or {}).get(n, 0), "packets.connack.error": (refused or {}).get(n, 0)}
            for n, r in received.items()]


def _round_trip(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the verifier gets: the body as JSON text, decoded."""
    return json.loads(json.dumps(rows))


HALF = {NODES[0]: 50_000, NODES[1]: 50_000}
BEFORE = Sample(time=100.0, stats=_round_trip(_stats(HALF)),
                metrics=_round_trip(_metrics({NODES[0]: 1_000_000, NODES[1]: 2_000_000})))


def _after(**changes: Any) -> Sample:
    # 300 s at 1000 messages/s: 300,000 more messages, split over the nodes.
    base = dict(time=400.0, stats=_stats(HALF), metrics=_metrics({NODES[0]: 1_150_000, NODES[1]: 2_150_000}))
    return Sample(**{**base, **changes})


def test_a_run_that_held_its_target_passes() -> None:
    verdict = decide(EXPECTED, BEFORE, _after())
    assert verdict.passed, verdict.reasons
    assert verdict.numbers["message_rate"] == 1000.0
    assert verdict.numbers["connections_end"] == 100_000


def test_a_node_missing_from_a_response_fails_the_run() -> None:
    partial = _after(metrics=_metrics({NODES[0]: 1_300_000}))  # node 1's RPC failed: it is left out
    verdict = decide(EXPECTED, BEFORE, partial)
    assert not verdict.passed
    assert any("1 of 2 EMQX nodes answered" in r for r in verdict.reasons)


def test_a_node_that_restarted_during_the_window_fails_the_run() -> None:
    restarted = _after(metrics=_metrics({NODES[0]: 1_150_000, NODES[1]: 150_000}))
    verdict = decide(EXPECTED, BEFORE, restarted)
    assert not verdict.passed and any("restarted" in r for r in verdict.reasons)


def test_connections_below_the_target_fail_the_run() -> None:
    verdict = decide(EXPECTED, BEFORE, _after(stats=_stats({NODES[0]: 50_000, NODES[1]: 49_999})))
    assert not verdict.passed and any("99,999 connections" in r for r in verdict.reasons)


@pytest.mark.parametrize(("received", "passes"), [(269_999, False), (270_000, True), (330_000, True),
                                                  (330_001, False)])
def test_the_message_rate_must_stay_within_the_tolerance(received: int, passes: bool) -> None:
    # 10% of 1000/s over 300 s: 270,000 to 330,000 messages.
    after = _after(metrics=_metrics({NODES[0]: 1_000_000 + received, NODES[1]: 2_000_000}))
    assert decide(EXPECTED, BEFORE, after).passed is passes


def test_dropped_messages_and_refused_connects_above_the_threshold_fail_the_run() -> None:
    # 0.001 of 300,000 received is 300 dropped.
    at_limit = _after(metrics=_metrics({NODES[0]: 1_150_000, NODES[1]: 2_150_000}, dropped={NODES[0]: 300}))
    assert decide(EXPECTED, BEFORE, at_limit).passed
    over = _after(metrics=_metrics({NODES[0]: 1_150_000, NODES[1]: 2_150_000}, dropped={NODES[0]: 301}))
    assert not decide(EXPECTED, BEFORE, over).passed
    refused = _after(metrics=_metrics({NODES[0]: 1_150_000, NODES[1]: 2_150_000}, refused={NODES[1]: 101}))
    assert any("refused" in r for r in decide(EXPECTED, BEFORE, refused).reasons)


def test_an_error_body_instead_of_a_list_fails_the_run() -> None:
    # e.g. {"code": "BAD_RPC", ...}: not per-node data, so no node answered.
    error = Sample(time=400.0, stats={"code": "BAD_RPC"}, metrics={"code": "BAD_RPC"})  # type: ignore[arg-type]
    verdict = decide(EXPECTED, BEFORE, error)
    assert not verdict.passed and any("0 of 2" in r for r in verdict.reasons)


def test_the_verifier_script_runs_on_the_standard_library_alone() -> None:
    # It is shipped as a file into a plain Python image: importing it must need nothing of this project.
    code = f"import runpy; runpy.run_path({verifier.__file__!r}, run_name='not_main')"
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_the_script_samples_after_the_ramp_and_exits_with_the_verdict(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Any) -> None:
    expected = {"connections": 100_000, "message_rate": 1000.0, "nodes": 2, "rate_tolerance": 0.1,
                "max_dropped_ratio": 0.001}
    ramp = [{NODES[0]: 10_000, NODES[1]: 10_000}, HALF]  # still connecting, then at the target
    received = iter([{NODES[0]: 1_000_000, NODES[1]: 2_000_000}, {NODES[0]: 1_150_000, NODES[1]: 2_150_000}])
    calls: list[str] = []

    def fake(url: str, *, method: str = "GET", body: object = None, **_: object) -> Any:
        calls.append(f"{method} {url.rsplit('/', 1)[-1]}")
        if url.endswith("/login"):
            assert body == {"username": "admin", "password": "pw"}
            return {"token": "t"}
        if url.endswith("/stats"):
            return _stats(ramp.pop(0) if len(ramp) > 1 else ramp[0])
        return _metrics(next(received)) if "metrics" in url else None

    published = _script(monkeypatch, tmp_path, fake, expected)
    assert verifier.main() == 0
    assert published[0]["passed"] is True and published[0]["run"] == "r1"
    # Logged in again for every sample (tokens expire), and the window is the configured 300 s.
    assert calls.count("POST login") == 4
    assert published[0]["numbers"]["window_seconds"] == 300


def test_a_failed_verdict_is_a_failed_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verifier, "decide", lambda *a: verifier.Verdict(False, ["x"]))
    monkeypatch.setattr(verifier, "_sample", lambda api, metrics=True: BEFORE)
    monkeypatch.setattr(verifier, "_publish", lambda result: None)
    monkeypatch.setattr(verifier.time, "sleep", lambda s: None)
    monkeypatch.setattr(verifier.json, "load", lambda f: {
        "name": "r", "expected": EXPECTED.__dict__, "wait_for_ramp_seconds": 0, "settle_seconds": 0,
        "duration_seconds": 1})
    monkeypatch.setattr("builtins.open", lambda *a, **k: None)
    monkeypatch.setenv("RUN_FILE", "x")
    monkeypatch.setenv("EMQX_API", "x")
    assert verifier.main() == 1


def _with(rows: list[dict[str, Any]], key: str, values: dict[str, int]) -> list[dict[str, Any]]:
    return [{**r, key: values[r["node"]]} for r in rows]


def test_messages_dropped_on_the_way_to_subscribers_count_as_dropped() -> None:
    # delivery.dropped (EMQX v5.8.9 emqx_metrics.hrl: "Total number of discarded messages when sending", e.g. a full
    # session queue) is apart from messages.dropped: 400 of 300,000 received is above 0.001.
    before = Sample(BEFORE.time, BEFORE.stats, _with(BEFORE.metrics, "delivery.dropped", dict.fromkeys(NODES, 0)))
    after = _after()
    after = Sample(after.time, after.stats, _with(after.metrics, "delivery.dropped", {NODES[0]: 100, NODES[1]: 300}))
    verdict = decide(EXPECTED, before, after)
    assert not verdict.passed and any("delivery.dropped" in r for r in verdict.reasons)
    assert verdict.numbers["delivery_dropped"] == 400


@pytest.mark.parametrize(("delivered", "passes"), [(300_000, True), (200_000, False)])
def test_with_subscribers_every_received_message_must_be_delivered(delivered: int, passes: bool) -> None:
    expected = Expected(**{**EXPECTED.__dict__, "subscribers": 1000})
    before = Sample(BEFORE.time, BEFORE.stats, _with(BEFORE.metrics, "messages.delivered", dict.fromkeys(NODES, 0)))
    after = _after()
    after = Sample(after.time, after.stats,
                   _with(after.metrics, "messages.delivered", {NODES[0]: delivered // 2, NODES[1]: delivered // 2}))
    verdict = decide(expected, before, after)
    assert verdict.passed is passes, verdict.reasons


def _script(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, fake: Any,
            expected: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The verifier script's environment: its run file, a clock that advances only when it sleeps, `fake` for
    EMQX's API; returns the verdicts it publishes."""
    run = {"name": "r1", "expected": expected or EXPECTED.__dict__, "wait_for_ramp_seconds": 600,
           "settle_seconds": 30, "duration_seconds": 300}
    (tmp_path / "run.json").write_text(json.dumps(run))
    for key, value in {"RUN_FILE": str(tmp_path / "run.json"), "EMQX_API": "http://emqx-dashboard:18083/api/v5",
                       "EMQX_DASHBOARD_PASSWORD": "pw"}.items():
        monkeypatch.setenv(key, value)
    clock = {"now": 0.0}
    monkeypatch.setattr(verifier.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(verifier.time, "sleep", lambda s: clock.__setitem__("now", clock["now"] + s))
    published: list[dict[str, Any]] = []
    monkeypatch.setattr(verifier, "_request", fake)
    monkeypatch.setattr(verifier, "_publish", published.append)
    return published


def _http_error(code: int) -> Exception:
    import urllib.error

    return urllib.error.HTTPError("http://emqx-dashboard:18083/api/v5/stats", code, "x", None, None)  # type: ignore[arg-type]


def test_a_503_while_waiting_is_tried_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    received = iter([{NODES[0]: 1_000_000, NODES[1]: 2_000_000}, {NODES[0]: 1_150_000, NODES[1]: 2_150_000}])
    failures = [_http_error(503)]

    def fake(url: str, **_: object) -> Any:
        if url.endswith("/login"):
            return {"token": "t"}
        if url.endswith("/stats"):
            if failures:
                raise failures.pop()
            return _stats(HALF)
        return _metrics(next(received))

    published = _script(monkeypatch, tmp_path, fake)
    assert verifier.main() == 0
    assert published[0]["passed"] is True


def test_an_error_without_a_verdict_writes_a_failing_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    def fake(url: str, **_: object) -> Any:
        if url.endswith("/login"):
            raise _http_error(401)  # not transient: a wrong password stays wrong
        raise AssertionError(url)

    published = _script(monkeypatch, tmp_path, fake)
    assert verifier.main() == 1
    assert published[0]["passed"] is False and "401" in published[0]["reasons"][0]
    assert "pw" not in json.dumps(published)
