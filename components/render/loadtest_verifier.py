"""A load-test run's verdict from EMQX's own counters, and the script that reaches it in the cluster.

Standard library only: this file is shipped unchanged in a ConfigMap and run by a plain Python image, so the
function the tests exercise is the one that decides the run.

The responses read (EMQX v5.8.9 and e5.10.3 alike, apps/emqx_management):
- GET /api/v5/stats (no `aggregate`): a list of per-node objects {"node", "connections.count",
  "live_connections.count", ...} (emqx_mgmt_api_stats.erl fields(per_node_data)). A node whose RPC fails is left
  out of the list without an error (list/2 skips `{error, _}`): a short list is how partial failure shows.
- GET /api/v5/metrics?aggregate=false: a list of per-node objects {"node", "messages.received", "messages.dropped",
  "packets.connack.error", ...} (emqx_mgmt_api_metrics.erl cluster_metrics/1 drops nodes whose RPC failed). These
  counters only grow while a node runs; a value that went down means the node restarted during the run.
The aggregated forms are not used: they sum whatever nodes answered, so a missing node looks like lower load.
Counter names as EMQX v5.8.9 declares them (apps/emqx/include/emqx_metrics.hrl): `delivery.dropped` is the total of
messages discarded on the way to a subscriber (its `delivery.dropped.*` are that total's breakdown, so only the total
is counted), `messages.delivered` counts each message handed to a subscription.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

CONNECTIONS = "live_connections.count"
RECEIVED = "messages.received"
DROPPED = "messages.dropped"
DELIVERY_DROPPED = "delivery.dropped"
DELIVERED = "messages.delivered"
REJECTED = "packets.connack.error"
# How long a sample of the window may be retried through failing requests (a node restarting, a rollout's 503s).
SAMPLE_RETRY_SECONDS = 120
RETRY_PAUSE_SECONDS = 5


@dataclass(frozen=True)
class Expected:
    connections: int  # clients the generators hold
    message_rate: float  # messages/s the publishers send together
    nodes: int  # EMQX nodes that must answer
    rate_tolerance: float  # the measured rate may differ from message_rate by this share
    max_dropped_ratio: float  # dropped messages per received message; rejected connects per connection
    subscribers: int = 0  # with subscribers, every received message must be delivered at least once


@dataclass(frozen=True)
class Sample:
    """Per-node responses of GET /api/v5/stats and GET /api/v5/metrics?aggregate=false, taken at `time` (s)."""

    time: float
    stats: list[dict[str, Any]]
    metrics: list[dict[str, Any]]


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: list[str]
    numbers: dict[str, float] = field(default_factory=dict)


def _by_node(rows: object) -> dict[str, dict[str, Any]]:
    if not isinstance(rows, list):
        return {}
    return {str(r["node"]): r for r in rows if isinstance(r, dict) and "node" in r}


def _number(row: dict[str, Any], key: str) -> int | None:
    value = row.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def decide(expected: Expected, before: Sample, after: Sample) -> Verdict:
    """Pass only if every node answered both times, the clients held the target through the window, the message
    rate stayed within the tolerance, and dropped messages and refused connects stayed under the threshold."""
    reasons: list[str] = []
    numbers: dict[str, float] = {}
    for label, sample in (("start", before), ("end", after)):
        for what, rows in (("stats", sample.stats), ("metrics", sample.metrics)):
            answered = len(_by_node(rows))
            if answered < expected.nodes:
                reasons.append(f"{what} at the {label}: {answered} of {expected.nodes} EMQX nodes answered")
    for label, sample in (("start", before), ("end", after)):
        held = sum(_number(r, CONNECTIONS) or 0 for r in _by_node(sample.stats).values())
        numbers[f"connections_{label}"] = held
        if held < expected.connections:
            reasons.append(f"{held:,} connections at the {label} of the window, below the target "
                           f"{expected.connections:,}")
    elapsed = after.time - before.time
    if elapsed <= 0:
        reasons.append("the window has no length")
        return Verdict(False, reasons, numbers)
    start, end = _by_node(before.metrics), _by_node(after.metrics)
    deltas = {RECEIVED: 0, DROPPED: 0, DELIVERY_DROPPED: 0, DELIVERED: 0, REJECTED: 0}
    for node in sorted(set(start) & set(end)):
        for key in deltas:
            a, b = _number(start[node], key), _number(end[node], key)
            if a is None or b is None:
                reasons.append(f"{node}: no {key} counter in the metrics response")
            elif b < a:
                reasons.append(f"{node}: {key} went from {a} down to {b}, so the node restarted during the window")
            else:
                deltas[key] += b - a
    rate = deltas[RECEIVED] / elapsed
    delivered_rate = deltas[DELIVERED] / elapsed
    dropped = deltas[DROPPED] + deltas[DELIVERY_DROPPED]
    numbers.update(window_seconds=elapsed, message_rate=rate, expected_message_rate=expected.message_rate,
                   delivered_rate=delivered_rate, dropped=deltas[DROPPED], delivery_dropped=deltas[DELIVERY_DROPPED],
                   rejected_connects=deltas[REJECTED])
    allowed = expected.rate_tolerance * expected.message_rate
    if expected.message_rate > 0 and abs(rate - expected.message_rate) > allowed:
        reasons.append(f"received {rate:,.1f} messages/s, outside {expected.rate_tolerance:.0%} of the planned "
                       f"{expected.message_rate:,.1f}")
    if expected.subscribers and expected.message_rate > 0 and delivered_rate < rate * (1 - expected.rate_tolerance):
        # Each received message reaches at least one subscriber (a %i topic pairs them one to one; a shared topic
        # reaches every subscriber): fewer deliveries than that means subscribers did not get them.
        reasons.append(f"delivered {delivered_rate:,.1f} messages/s to subscribers, below the {rate:,.1f} received "
                       f"less {expected.rate_tolerance:.0%}")
    if dropped > expected.max_dropped_ratio * max(deltas[RECEIVED], 1):
        reasons.append(f"{dropped:,} messages dropped ({deltas[DROPPED]:,} {DROPPED}, {deltas[DELIVERY_DROPPED]:,} "
                       f"{DELIVERY_DROPPED}) of {deltas[RECEIVED]:,} received, above the "
                       f"{expected.max_dropped_ratio:g} threshold")
    if deltas[REJECTED] > expected.max_dropped_ratio * expected.connections:
        reasons.append(f"{deltas[REJECTED]:,} connects refused (CONNACK with an error), above the "
                       f"{expected.max_dropped_ratio:g} threshold")
    return Verdict(not reasons, reasons, numbers)


# --- in the cluster -------------------------------------------------------------------------------------------------

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def _request(url: str, *, method: str = "GET", body: object = None, headers: dict[str, str] | None = None,
             context: ssl.SSLContext | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=30, context=context) as response:
        return json.loads(response.read() or b"null")


def _login(api: str) -> str:
    """The dashboard's admin login (POST /api/v5/login, emqx_dashboard_api.erl): a token that lives in this process
    only, asked for again at every sample because it expires (dashboard.token_expired_time, 60 min by default). The
    password comes from the stack's EMQX Secret through the environment."""
    return _request(f"{api}/login", method="POST", body={
        "username": "admin", "password": os.environ["EMQX_DASHBOARD_PASSWORD"]})["token"]


def _sample(api: str, *, metrics: bool = True) -> Sample:
    auth = {"Authorization": f"Bearer {_login(api)}"}
    now = time.monotonic()
    return Sample(time=now, stats=_request(f"{api}/stats", headers=auth),
                  metrics=_request(f"{api}/metrics?aggregate=false", headers=auth) if metrics else [])


def _publish(result: dict[str, Any]) -> None:
    """Write the result into the run's ConfigMap (the Role allows patching that one ConfigMap only)."""
    token = open(f"{SERVICE_ACCOUNT}/token").read()  # noqa: SIM115
    context = ssl.create_default_context(cafile=f"{SERVICE_ACCOUNT}/ca.crt")
    url = (f"https://kubernetes.default.svc/api/v1/namespaces/{os.environ['RUN_NAMESPACE']}/configmaps/"
           f"{os.environ['RESULT_CONFIGMAP']}")
    _request(url, method="PATCH", body={"data": {"verdict.json": json.dumps(result, indent=2)}},
             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/merge-patch+json"},
             context=context)


def _transient(error: Exception) -> bool:
    """A request worth trying again: the API unreachable for a moment, or answering 5xx/429 (a node restarting, a
    rollout in progress). A 4xx is an answer (a wrong password stays wrong)."""
    if isinstance(error, urllib.error.HTTPError):
        return error.code >= 500 or error.code == 429
    return isinstance(error, urllib.error.URLError | TimeoutError | ConnectionError)


def _sample_until(api: str, deadline: float, *, metrics: bool = True) -> Sample:
    """A sample, trying again through transient failures until the deadline; the last failure is raised then."""
    while True:
        try:
            return _sample(api, metrics=metrics)
        except Exception as error:
            if not _transient(error) or time.monotonic() > deadline:
                raise
            print(f"EMQX API: {error}; trying again", flush=True)
            time.sleep(RETRY_PAUSE_SECONDS)


def _run(run: dict[str, Any]) -> Verdict:
    expected = Expected(**run["expected"])
    api = os.environ["EMQX_API"]
    deadline = time.monotonic() + run["wait_for_ramp_seconds"]
    while True:
        held = sum(_number(r, CONNECTIONS) or 0
                   for r in _by_node(_sample_until(api, deadline, metrics=False).stats).values())
        print(f"{held} of {expected.connections} connections", flush=True)
        if held >= expected.connections or time.monotonic() > deadline:
            break
        time.sleep(10)
    time.sleep(run["settle_seconds"])
    before = _sample_until(api, time.monotonic() + SAMPLE_RETRY_SECONDS)
    time.sleep(run["duration_seconds"])
    after = _sample_until(api, time.monotonic() + SAMPLE_RETRY_SECONDS)
    return decide(expected, before, after)


def main() -> int:
    run = json.load(open(os.environ["RUN_FILE"]))  # noqa: SIM115
    try:
        verdict = _run(run)
    except Exception as error:
        # No verdict from the counters: the run fails, and says why where its verdict would be.
        verdict = Verdict(False, [f"the verifier could not finish: {type(error).__name__}: {error}"])
    result = {"run": run["name"], **asdict(verdict)}
    print(json.dumps(result, indent=2), flush=True)
    try:
        _publish(result)
    except Exception as error:
        print(f"could not write the verdict into the result ConfigMap: {error}", file=sys.stderr, flush=True)
        return 1
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
