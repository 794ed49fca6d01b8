"""`make policy STACK=<name>`: the policy pack (policy/) over the stack's offline plan, no CLI, no cloud.

Runs the offline preview in-process (or reads a plan.json with --plan), hands every resource to the pack's policies
through pulumi-policy's own argument types, as the CLI's analyzer would, and prints each violation.
Exit status: 0 no violation; 1 violations; 2 the stack cannot be previewed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from pulumi_policy import (  # noqa: E402
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy import pack, rules  # noqa: E402
from preview import engine, writers  # noqa: E402


@dataclass(frozen=True)
class Violation:
    policy: str
    resource: str  # type::name, or the stack
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.resource}: {self.message}"


def _urn(stack: str, entry: Mapping[str, Any]) -> str:
    return f"urn:pulumi:{stack}::{engine.PROJECT}::{entry['type']}::{entry['name']}"


def _options(entry: Mapping[str, Any]) -> PolicyResourceOptions:
    options = cast(Mapping[str, Any], entry.get("options") or {})
    return PolicyResourceOptions(
        protect=bool(options.get("protect", False)),
        ignore_changes=list(options.get("ignoreChanges", [])),
        delete_before_replace=options.get("deleteBeforeReplace"),
        aliases=[json.dumps(a, sort_keys=True) for a in options.get("aliases", [])],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=entry.get("parent"),
    )


def _referenced(value: Any, by_id: Mapping[str, PolicyResource]) -> list[PolicyResource]:
    """The resources whose ids an input holds (the input itself, or the items of a list input)."""
    items = cast(list[Any], value) if isinstance(value, list) else [value]
    return [by_id[v] for v in items if isinstance(v, str) and v in by_id]


def check_plan(plan: Mapping[str, Any], facts: rules.StackFacts) -> list[Violation]:
    """Every violation of the pack's policies in an offline plan (preview/writers.plan_document)."""
    stack = str(plan.get("stack", facts.stack))
    if stack != facts.stack:
        # Another stack's facts would judge the plan by the wrong rules (dev's skip every production policy).
        raise ValueError(f"the plan is of stack {stack!r}, the facts of stack {facts.stack!r}")
    entries = cast(list[Mapping[str, Any]], plan["resources"])
    policies = pack.policies(lambda: facts)
    found: list[Violation] = []
    by_name: dict[str, list[PolicyResource]] = {}
    stack_resources: list[PolicyResource] = []
    for entry in entries:
        resource = PolicyResource(entry["type"], entry["inputs"], _urn(stack, entry), entry["name"], _options(entry),
                                  None, None, [], {})
        stack_resources.append(resource)
        by_name.setdefault(entry["name"], []).append(resource)
    # The offline preview's id of a resource the program creates is "<name>-id" (preview/engine.py PreviewMocks
    # new_resource); the plan keeps inputs, not property dependencies, so they are rebuilt from the ids an input
    # holds, as the CLI's analyzer hands them over (pulumi_policy/policy.py property_dependencies).
    by_id = {f"{entry['name']}-id": resource for entry, resource in zip(entries, stack_resources, strict=True)}
    for entry, resource in zip(entries, stack_resources, strict=True):
        resource.dependencies = [d for name in entry.get("dependencies", []) for d in by_name.get(name, [])]
        resource.property_dependencies = {key: deps for key, value in cast(Mapping[str, Any], entry["inputs"]).items()
                                          if (deps := _referenced(value, by_id))}
    for policy in policies:
        if isinstance(policy, ResourceValidationPolicy):
            for entry, resource in zip(entries, stack_resources, strict=True):
                args = ResourceValidationArgs(resource.resource_type, resource.props, resource.urn, resource.name,
                                              resource.opts, None)
                where = f"{entry['type']}::{entry['name']}"
                policy.validate(args, lambda message, _urn=None, where=where, name=policy.name:
                                found.append(Violation(name, where, message)))
        elif isinstance(policy, StackValidationPolicy):
            policy.validate(StackValidationArgs(stack_resources),
                            lambda message, urn=None, name=policy.name:
                            found.append(Violation(name, urn or f"stack {stack}", message)))
    return found


def stack_facts(stack: str, stacks_dir: Path = REPO_ROOT / "stacks") -> rules.StackFacts:
    config, secret_keys = engine.load_stack_config(stacks_dir / f"Pulumi.{stack}.yaml")
    return rules.facts_from_config(stack, config, secret_keys)


def stack_plan(stack: str, stacks_dir: Path = REPO_ROOT / "stacks") -> dict[str, Any]:
    config, secret_keys = engine.load_stack_config(stacks_dir / f"Pulumi.{stack}.yaml")
    recording = engine.run_program(REPO_ROOT / "__main__.py", stack=stack, config=config, secret_keys=secret_keys)
    return writers.plan_document(recording)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/policy_check.py", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", help="stack name: reads stacks/Pulumi.<stack>.yaml (default: the plan's stack "
                        "with --plan, dev without)")
    parser.add_argument("--plan", type=Path, help="judge this plan.json instead of previewing the stack")
    args = parser.parse_args(argv)
    stack: str = args.stack or "dev"
    try:
        plan = json.loads(args.plan.read_text()) if args.plan else None
    except (OSError, ValueError) as error:
        print(f"error: cannot read the plan {args.plan}: {error}", file=sys.stderr)
        return 2
    if plan is not None:
        # The plan says which stack it is (preview/writers.plan_document): its facts, never a default stack's, judge
        # it, or a production plan would be judged as dev and skip every production rule.
        planned = plan.get("stack") if isinstance(plan, dict) else None
        if not isinstance(planned, str) or not planned:
            print(f"error: {args.plan} names no stack (\"stack\"); write it with `make preview`", file=sys.stderr)
            return 2
        if args.stack and args.stack != planned:
            print(f"error: {args.plan} is the plan of stack {planned}, not {args.stack}; drop --stack or pass "
                  f"--stack {planned}", file=sys.stderr)
            return 2
        stack = planned
    try:
        facts = stack_facts(stack)
        plan = plan if plan is not None else stack_plan(stack)
    except Exception as error:  # the preview's own message: `make preview STACK=...` shows it in full
        print(f"error: stack {stack} cannot be previewed: {error}\nhint: run `make preview STACK={stack}`",
              file=sys.stderr)
        return 2
    violations = check_plan(plan, facts)
    for v in violations:
        print(v)
    print(f"policy pack {pack.PACK_NAME}: {len(rules.RULES)} policies, {len(plan['resources'])} resources, "
          f"{len(violations)} violation(s) in stack {stack}")
    return 1 if violations else 0

if __name__ == "__main__":
    sys.exit(main())
