"""A load-test run's verdict as the stack exports it (`load_test_verdicts`), from its result ConfigMap's data.

Pure: the workload (components/workloads/loadtest.py) reads the ConfigMap back and hands its `data` here. What the
ConfigMap holds is written by the verifier (components/render/loadtest_verifier.py main/_publish): `verdict.json` =
{"run", "passed", "reasons", "numbers"}, its numbers being those `decide` measured (connections_start,
connections_end, window_seconds, message_rate, expected_message_rate, delivered_rate, dropped, delivery_dropped,
rejected_connects). Only those fields are taken, and only numbers and text from them: nothing else the ConfigMap
might hold reaches the stack output. The ConfigMap holds no secret (the verifier's password stays in its Secret and
its environment).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

VERDICT_KEY = "verdict.json"
PASSED, FAILED, PENDING, UNREADABLE = "passed", "failed", "pending", "unreadable"


def verdict_output(data: Mapping[str, str] | None, configmap: str) -> dict[str, Any]:
    """{"configmap", "verdict", "reasons", **numbers}: `verdict` is passed or failed as the verifier decided,
    pending while the ConfigMap has no verdict yet (an offline preview), unreadable if it is not the verifier's."""
    out: dict[str, Any] = {"configmap": configmap}
    text = (data or {}).get(VERDICT_KEY)
    if text is None:
        return {**out, "verdict": PENDING, "reasons": [f"no {VERDICT_KEY} in the ConfigMap yet"]}
    try:
        result = json.loads(text)
    except ValueError as error:
        return {**out, "verdict": UNREADABLE, "reasons": [f"{VERDICT_KEY} is not JSON: {error}"]}
    if not isinstance(result, dict) or not isinstance(result.get("passed"), bool):
        return {**out, "verdict": UNREADABLE, "reasons": [f"{VERDICT_KEY} holds no verdict"]}
    reasons = result.get("reasons")
    numbers = result.get("numbers")
    out.update(verdict=PASSED if result["passed"] else FAILED,
               reasons=[r for r in reasons if isinstance(r, str)] if isinstance(reasons, list) else [])
    if isinstance(numbers, dict):
        out.update({str(k): v for k, v in numbers.items()
                    if isinstance(v, int | float) and not isinstance(v, bool) and k not in out})
    return out
