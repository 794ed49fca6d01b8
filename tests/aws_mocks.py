"""Components built directly under the offline engine's mocks (preview/engine.py run_function: preview=False, so
every apply runs), seen the way the AWS component tests name things: parents and dependencies as "type::name".

    run = build_under_mocks(lambda: {"endpoints": AwsLoadBalancer("lb", spec=..., ...).endpoints})
    run.one("aws:lb/targetGroup:TargetGroup", "lb-mqtt").inputs["targetType"]

Resources the cloud would fill get made-up values here, predictable from the resource: `arn` for every AWS
resource and, for a load balancer, `dnsName`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest

from preview import engine

FAKE_DNS = "emqx-nlb-0123456789.elb.eu-west-1.amazonaws.com"


def fake_arn(token: str, name: str) -> str:
    """The ARN the mocks give the resource of that type token and name."""
    return f"arn:aws:test:::{token.split(':')[1]}/{name}"


@dataclass(frozen=True)
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    parent: str
    dependencies: tuple[str, ...]
    protect: bool
    provider: str
    replace_on_changes: tuple[str, ...] = ()
    delete_before_replace: bool = False


@dataclass(frozen=True)
class Run:
    resources: tuple[Registered, ...]
    outputs: dict[str, Any]

    def by_type(self, token: str) -> list[Registered]:
        return [r for r in self.resources if r.type == token]

    def one(self, token: str, name: str) -> Registered:
        found = [r for r in self.by_type(token) if r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected one {token} named {name!r}, found {[r.name for r in self.by_type(token)]}")
        return found[0]

    def depends_on(self, resource: Registered, token: str, name: str) -> bool:
        return f"{token}::{name}" in resource.dependencies


class _AwsFakes(dict[str, Any]):
    """The engine's fakes, with every AWS type answered by fake_arn (and FAKE_DNS for a load balancer)."""

    def get(self, token: str, default: Any = None) -> Any:  # type: ignore[override]
        if not token.startswith("aws:"):
            return super().get(token, default)

        def fake(name: str, _inputs: Mapping[str, Any]) -> dict[str, Any]:
            out = {"arn": fake_arn(token, name)}
            if token == "aws:lb/loadBalancer:LoadBalancer":
                out["dnsName"] = FAKE_DNS
            return out
        return fake


def build_under_mocks(build: Callable[[], Mapping[str, Any]]) -> Run:
    """Run `build` (which constructs components and returns the Outputs to resolve) under the engine's mocks."""

    def body() -> None:
        for key, value in build().items():
            pulumi.export(key, value)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine.fakes, "RESOURCE_FAKES", _AwsFakes(engine.fakes.RESOURCE_FAKES))
        rec = engine.run_function(body)
    by_urn = {r.urn: f"{r.type}::{r.name}" for r in rec.resources}
    resources = tuple(
        Registered(type=r.type, name=r.name, inputs=r.raw_inputs,
                   parent=by_urn.get(r.parent_urn or "", r.parent_urn or ""),
                   dependencies=tuple(by_urn.get(u, u) for u in r.dependency_urns),
                   protect=bool(r.options.get("protect")), provider=r.provider or "",
                   replace_on_changes=tuple(r.options.get("replaceOnChanges", ())),
                   delete_before_replace=bool(r.options.get("deleteBeforeReplace")))
        for r in rec.resources
    )
    return Run(resources=resources, outputs=dict(rec.outputs))
