"""The stack as a whole: reading config from the Pulumi runtime, the stack name, the top-level keys (their namespace,
size and secrecy), the target, the tags, and which sections a target takes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components.config_reader import Problems, Section, key_text, shown, suggest, type_name
from components.settings.common import (
    CLB_MAX_TAGS,
    MAX_DEPTH,
    MAX_KEYS,
    MAX_NODES,
    MAX_SECRET_TEXT,
    MAX_TEXT,
    NAME_LIMIT,
    OTHER_NAMESPACES,
    PROJECT,
    SECRET_KEYS,
    SECTION_KEYS,
    STACK_NAME,
    STACK_NAME_MAX,
    TARGETS,
    ConfigError,
    Target,
)

AWS_MAX_TAGS = 50
# Sections that only a cloud target (one whose cluster the stack creates) reads.
CLOUD_SECTIONS = ("cloud", "network", "nodePools", "loadBalancer")


def raw_config() -> tuple[dict[str, Any], set[str]]:
    """The stack's config values (JSON-decoded where structured) and which of the project's keys are secret.

    The project's keys come without their namespace (`emqx`); every other key keeps its namespace
    (`alicloud:region`), so that `parse` can refuse a misspelt namespace instead of never seeing it.
    """
    merged: dict[str, Any] = {}
    merged.update(pulumi.runtime.config.get_config_env())
    merged.update(pulumi.runtime.config.CONFIG.get())
    secret_full = set(pulumi.runtime.config.get_config_secret_keys_env())
    secret_full |= set(pulumi.runtime.config._SECRET_KEYS.get())  # pyright: ignore[reportPrivateUsage]
    prefix = f"{PROJECT}:"
    values: dict[str, Any] = {}
    for full_key, text in merged.items():
        if full_key.startswith(prefix):
            values[full_key[len(prefix) :]] = decode(text)
        else:
            # Other namespaces are only checked, never read: no need to decode them.
            values[full_key] = text
    secrets = {k[len(prefix) :] for k in secret_full if k.startswith(prefix)}
    return values, secrets


def decode(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    stripped = text.strip()
    if (stripped[:1] in "{[" or stripped in ("true", "false", "null")
            or re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", stripped)):
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError):
            # Not JSON after all, an integer past Python's digit limit, or nesting deeper than the decoder's
            # stack: left as text, which the settings then refuse with a short message.
            return text
    return text


def stack_name_problem(stack: object) -> tuple[str, str] | None:
    """(what is wrong, how to fix) when the stack name cannot make valid cloud names, or None."""
    fix = (f"use a stack name of 1-{STACK_NAME_MAX} letters, digits and hyphens (not at the ends), "
           "e.g. `pulumi stack init prod`")
    if not isinstance(stack, str) or not stack:
        return ("is empty", fix)
    if len(stack) > STACK_NAME_MAX:
        return (f"{shown(stack)} is {len(stack)} characters; the ACK cluster and node pool names derived from it "
                f"(emqx-<stack>-...) must fit {NAME_LIMIT}", fix)
    if not re.fullmatch(STACK_NAME, stack, re.ASCII):
        return (f"{shown(stack)} has characters Alibaba Cloud names do not accept", fix)
    return None


def bounds_problem(value: object, *, secret: bool) -> str | None:
    """Why one config value is too large to read (too deep, too many items, too long a text), or None.

    Walks without recursion, so a value nested thousands deep is measured, not followed.
    """
    nodes = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return f"has more than {MAX_NODES:,} values"
        if depth > MAX_DEPTH:
            return f"is nested more than {MAX_DEPTH} levels deep"
        if isinstance(item, str):
            limit = MAX_SECRET_TEXT if secret else MAX_TEXT
            if len(item) > limit:
                return f"holds a text of {len(item):,} characters (at most {limit:,})"
        elif isinstance(item, Mapping):
            for k, v in item.items():  # pyright: ignore[reportUnknownVariableType]
                stack.append((k, depth + 1))  # pyright: ignore[reportUnknownArgumentType]
                stack.append((v, depth + 1))  # pyright: ignore[reportUnknownArgumentType]
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)  # pyright: ignore[reportUnknownVariableType]
    return None


def namespace_problems(values: Mapping[str, Any], problems: Problems) -> None:
    """Keys of another namespace: a provider's are left to it, anything else is refused with a suggestion."""
    for key in values:
        namespace, _, name = str(key).partition(":")
        if namespace in OTHER_NAMESPACES:
            continue
        known = (PROJECT, *OTHER_NAMESPACES)
        close = suggest(namespace, known)
        fix = (f"did you mean {close}:{key_text(name)}?" if close
               else f"use the project's namespace ({PROJECT}:) or a provider's ({', '.join(OTHER_NAMESPACES)})")
        problems.add(key_text(key), "is in an unknown namespace", fix)


def project_key_problems(values: Mapping[str, Any], secret_keys: set[str] | frozenset[str],
                          problems: Problems) -> set[str]:
    """Unknown, oversized and wrongly secret project keys; returns the keys not to read any further."""
    skip: set[str] = set()
    for key in values:
        if key not in SECTION_KEYS and key not in SECRET_KEYS:
            close = suggest(key, SECTION_KEYS + SECRET_KEYS)
            fix = (f"did you mean {PROJECT}:{close}?" if close
                   else "remove it; see the README's configuration reference")
            problems.add(f"{PROJECT}:{key_text(key)}", "is not a known setting", fix)
            continue
        too_big = bounds_problem(values[key], secret=key in SECRET_KEYS)
        if too_big:
            problems.add(key, too_big, "shorten it; see the README's configuration reference")
            skip.add(key)
        elif key in SECRET_KEYS and not isinstance(values[key], str):
            problems.add(key, f"must be text, got {type_name(values[key])}",
                         f"set it with `pulumi config set --secret {key} <value>`")
        elif key in secret_keys and key not in SECRET_KEYS:
            # The program reads these keys as plain values: a `secure:` value inside would reach resource inputs,
            # logs and the preview's files without its secret marker. Only the licence and kubeconfig are secrets.
            how = (f"`pulumi config set --path {key}.<field> <value>`" if isinstance(values[key], Mapping | list)
                   else f"`pulumi config set {key} <value>`")
            problems.add(key, f"holds a secret (`secure:`) value, but {key} is not a secret setting and would "
                         f"be handled as plain text", f"set the value without --secret ({how}); only "
                         f"{', '.join(SECRET_KEYS)} are secrets")
            # Nothing else reads it: a later message must not echo the value (under the CLI, the plain text).
            skip.add(key)
    return skip


@dataclass(frozen=True)
class TopLevel:
    """The config after the checks on its top-level keys, with where their problems stand."""

    problems: Problems
    values: dict[str, Any]  # the project's keys that are read further
    provider_config: dict[str, Any]  # keys of other namespaces (alicloud:region, ...)
    skipped: set[str]  # project keys refused whole (too large, or a secret where none belongs)
    reported_about_skipped: int  # problems up to here are about the keys themselves


def read_top_level(values: Mapping[str, Any], *, stack: str, secret_keys: set[str] | frozenset[str]) -> TopLevel:
    """The stack name and the top-level keys; raises ConfigError at once where nothing else is worth reading."""
    refused = stack_name_problem(stack)
    if refused:
        raise ConfigError([f"stack name: {refused[0]}; {refused[1]}"])
    if len(values) > MAX_KEYS:
        # Hundreds of keys are not a stack config (it has ~20): listing each would bury the message, and walking them
        # all would take seconds.
        raise ConfigError([f"config: {len(values):,} keys; the project reads {len(SECTION_KEYS) + len(SECRET_KEYS)}"
                           " and providers a few more; remove what is not config"])
    problems = Problems()
    provider_config = {k: v for k, v in values.items() if ":" in str(k)}
    namespace_problems(provider_config, problems)
    values = {k: v for k, v in values.items() if ":" not in str(k)}
    skipped = project_key_problems(values, secret_keys, problems)
    reported_about_skipped = len(problems.items)
    values = {k: v for k, v in values.items() if k not in skipped}
    for key in SECRET_KEYS:
        if key in values and key not in secret_keys:
            problems.add(
                key,
                "is stored in plain text",
                f"remove it and set it again with `pulumi config set --secret {key} ...`",
            )
    return TopLevel(problems, values, provider_config, skipped, reported_about_skipped)


def drop_what_skipped_keys_caused(top: TopLevel) -> None:
    if top.skipped:
        # A key refused whole (too large, or a secret where none belongs) was not read: what its absence then
        # caused ("cloud.region is required") would only bury the one message that matters.
        problems = top.problems
        problems.items[top.reported_about_skipped:] = [
            p for p in problems.items[top.reported_about_skipped:]
            if not any(p.startswith((k + ":", k + ".", k + "[")) for k in top.skipped)]


def parse_target(root: Section) -> Target | None:
    value = root.string("target", None, choices=TARGETS, required=True,
                        hint="set it to alicloud, aws or existing: `pulumi config set target alicloud`")
    return value  # type: ignore[return-value]


def parse_tags(root: Section, target: Target | None) -> tuple[tuple[str, str], ...]:
    problems = root.problems
    tags = root.string_map("tags", kind="tag")
    reserved = {"stack", "project", "component", "pool"} | ({"Name"} if target == "aws" else set())
    reserved_tags = sorted({k for k, _ in tags} & reserved)
    if reserved_tags:
        problems.add("tags", f"{', '.join(reserved_tags)} are set by the program on every resource",
                     "use other tag keys")
    if target == "aws":
        # AWS: at most 50 user tags per resource, and the aws: prefix is AWS's own (Tagging AWS Resources User
        # Guide, "Tag naming limits and requirements"). The program sets up to 6 (stack, project, component, pool,
        # Name, and the load balancer controller's kubernetes.io/role subnet tag).
        for key in sorted(k for k, _ in tags if k.lower().startswith("aws:")):
            problems.add(f"tags.{key}", "the aws: prefix is reserved for AWS's own tags", "use another tag key")
        # The IAM roles and the EKS cluster carry these tags too: IAM's Tag type takes keys and values only of
        # [\p{L}\p{Z}\p{N}_.:/=+\-@] (IAM API Reference, Tag; the same set the Tagging User Guide calls "generally
        # allowed"), and no aws: prefix on values either. EC2 alone would take more, so the plan would fail halfway.
        for key, value in tags:
            bad = sorted({ch for ch in key + value if not (ch.isalnum() or ch.isspace() or ch in "_.:/=+-@")})
            if bad:
                problems.add(f"tags.{key}", f"has {' '.join(repr(ch) for ch in bad)}, which AWS tags (IAM, EKS) do not "
                             "take", "use letters, digits, spaces and _ . : / = + - @ only")
            elif value.lower().startswith("aws:"):
                problems.add(f"tags.{key}", "the aws: prefix is reserved for AWS, in tag values too",
                             "use another value")
        if len(tags) > AWS_MAX_TAGS - 6:
            problems.add("tags", f"{len(tags)} tags; AWS allows {AWS_MAX_TAGS} per resource and the program sets up "
                         "to 6", f"use at most {AWS_MAX_TAGS - 6}")
    elif len(tags) > 16:
        problems.add("tags", f"{len(tags)} tags; Alibaba Cloud allows 20 per resource and the program sets up to 4",
                     "use at most 16")
    elif target == "alicloud" and len(tags) > CLB_MAX_TAGS - 3:
        # The CLB takes at most 10 tags (pulumi_alicloud slb.ApplicationLoadBalancer `tags`), and carries stack,
        # project and component: more would fail on `pulumi up`, after the network and cluster exist.
        problems.add("tags", f"{len(tags)} tags; the stack's CLB accepts at most {CLB_MAX_TAGS} and the program "
                     "sets 3 on it", f"use at most {CLB_MAX_TAGS - 3}")
    return tags


def target_scope_problems(root: Section, values: Mapping[str, Any], target: Target | None) -> None:
    """Sections of another target, and sections whose target is not known."""
    problems = root.problems
    # Keys belonging to other targets are an error rather than silently ignored: a stack that sets
    # `cloud` while targeting an existing cluster probably targets the wrong thing.
    if target == "existing":
        for name in CLOUD_SECTIONS:
            if name in values:
                problems.add(name, "has no effect when target is 'existing'", "remove it, or set target to a cloud")
                root.ignore(name)
    elif target is not None and "existing" in values:
        problems.add("existing", f"only applies when target is 'existing' (target is {target!r})", "remove it")
        root.ignore("existing")
    elif target is None:
        # Which of these sections apply depends on the target: with none (or an unknown one) their keys cannot be
        # checked, and listing each as unknown would bury the one problem that matters, the target itself.
        for name in (*CLOUD_SECTIONS, "existing"):
            root.ignore(name)
