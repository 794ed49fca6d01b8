"""The rules of policy/rules.py as pulumi-policy (CrossGuard) policies, all mandatory.

`policies(facts)` builds them around a function that returns the stack's facts: under the real CLI (policy/__main__.py)
from the stack config the CLI hands the pack, offline (tools/policy_check.py, the tests) from the stack file.
Building the policies starts nothing; only `PolicyPack(...)` serves them (pulumi_policy/policy.py PolicyPack.__init__
starts the analyzer's gRPC server), which is why that call lives in __main__.py alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy import rules

PACK_NAME = "emqx-platform"


def resource_of(args: ResourceValidationArgs) -> rules.Resource:
    return rules.Resource(type=args.resource_type, name=args.name, inputs=args.props, protect=bool(args.opts.protect))


def stack_resources(args: StackValidationArgs) -> list[rules.Resource]:
    return [rules.Resource(type=r.resource_type, name=r.name, inputs=r.props, protect=bool(r.opts.protect),
                           dependencies=tuple(d.name for d in r.dependencies),
                           property_dependencies={k: tuple(d.name for d in v)
                                                  for k, v in (r.property_dependencies or {}).items()})
            for r in args.resources]


def _resource_policy(rule: rules.Rule, facts: Callable[[], rules.StackFacts]) -> Policy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule.check(resource_of(args), facts()):
            report_violation(message, None)

    return ResourceValidationPolicy(name=rule.name, description=rule.description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY)


def _stack_policy(rule: rules.Rule, facts: Callable[[], rules.StackFacts]) -> Policy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for urn, message in rule.check(stack_resources(args), facts()):
            report_violation(message, urn)

    return StackValidationPolicy(name=rule.name, description=rule.description, validate=validate,
                                 enforcement_level=EnforcementLevel.MANDATORY)


def policies(facts: Callable[[], rules.StackFacts]) -> list[Policy]:
    return [(_stack_policy if rule.stack else _resource_policy)(rule, facts) for rule in rules.RULES]


def cli_facts() -> rules.StackFacts:
    """The facts of the stack the real CLI is previewing, from the config it passes the pack."""
    import asyncio
    import os

    import pulumi.runtime.config as pulumi_config

    # The analyzer calls policies on its gRPC worker threads (pulumi_policy/policy.py serves with a
    # ThreadPoolExecutor), which have no event loop, and the settings parser wraps the stack's secrets in
    # pulumi.Output, which needs one.
    try:
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())

    # pulumi-policy reads the stack config the CLI passes in the environment (pulumi_policy/policy.py
    # _configure_runtime_settings: get_config_env, PULUMI_STACK); the same variables a program reads.
    config: Mapping[str, Any] = pulumi_config.get_config_env()
    return rules.facts_from_config(os.environ.get("PULUMI_STACK", ""), {k: str(v) for k, v in config.items()},
                                   pulumi_config.get_config_secret_keys_env(), secrets_marked=False)
