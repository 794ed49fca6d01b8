"""A small harness that builds components directly under Pulumi's mocks (preview=False, so every apply runs) and
records what each resource received: type, name, inputs, parent, dependencies, protect.

    run = build_under_mocks(lambda: {"endpoints": AwsLoadBalancer("lb", spec=..., ...).endpoints})
    run.one("aws:lb/targetGroup:TargetGroup", "lb-mqtt").inputs["targetType"]

Each run has its own contextvars context and event loop, so runs do not leak into each other or into the program
runs of tests/conftest.py. Resources the cloud would fill get made-up values here: `arn` and, for a load balancer,
`dnsName`.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks
from pulumi.runtime import settings as pulumi_settings

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


def _plain(value: Any) -> Any:
    """Struct numbers come back as floats: give integral ones back as ints, as the program wrote them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in cast(dict[str, Any], value).items()}
    if isinstance(value, list):
        return [_plain(v) for v in cast(list[Any], value)]
    return value


class _Mocks(mocks.Mocks):
    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ.startswith("aws:"):
            outputs.setdefault("arn", fake_arn(args.typ, args.name))
        if args.typ == "aws:lb/loadBalancer:LoadBalancer":
            outputs["dnsName"] = FAKE_DNS
        return f"{args.name}-id", outputs

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


def build_under_mocks(build: Callable[[], Mapping[str, Any]]) -> Run:
    """Run `build` (which constructs components and returns the Outputs to resolve) under mocks."""
    return contextvars.copy_context().run(_run, build)


def _run(build: Callable[[], Mapping[str, Any]]) -> Run:
    records: list[Registered] = []
    urns: dict[str, str] = {}
    impl = _Mocks()

    class Monitor(mocks.MockMonitor):
        def RegisterResource(self, request: Any) -> Any:
            if self.make_urn(request.parent, request.type, request.name) in urns:
                # The real engine refuses a duplicate URN; the stock mock monitor silently overwrites.
                raise ValueError(f"duplicate resource {request.type} {request.name}")
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                urns[response.urn] = f"{request.type}::{request.name}"
                records.append(Registered(
                    type=request.type,
                    name=request.name,
                    inputs=_plain(json_format.MessageToDict(request.object)),
                    parent=request.parent,
                    dependencies=tuple(request.dependencies),
                    protect=bool(request.protect),
                    provider=request.provider,
                    replace_on_changes=tuple(sorted(request.replaceOnChanges)),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                ))
            return response

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    resolved: dict[str, Any] = {}
    try:
        pulumi_settings.ROOT.set(None)
        pulumi.runtime.set_mocks(impl, project="emqx-platform", stack="test", preview=False, monitor=Monitor(impl))
        runtime_settings = cast(Any, pulumi_settings.SETTINGS)
        runtime_settings.outputs = set()
        runtime_settings.lock = threading.Lock()

        @pulumi.runtime.test
        def body() -> pulumi.Output[None]:
            outs = build()
            return pulumi.Output.all(*outs.values()).apply(
                lambda values: resolved.update(dict(zip(outs.keys(), values, strict=True))))

        body()
    finally:
        loop.close()
        asyncio.set_event_loop(asyncio.new_event_loop())
    # Parents and dependencies by "type::name", the way the tests name resources.
    resources = tuple(
        Registered(type=r.type, name=r.name, inputs=r.inputs, parent=urns.get(r.parent, r.parent),
                   dependencies=tuple(urns.get(d, d) for d in r.dependencies), protect=r.protect,
                   provider=r.provider, replace_on_changes=r.replace_on_changes,
                   delete_before_replace=r.delete_before_replace)
        for r in records
    )
    return Run(resources=resources, outputs=resolved)
