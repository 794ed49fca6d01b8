"""Run the real Pulumi program under Pulumi's mock engine and record what it would create.

No CLI, no credentials, no network: the program runs in-process exactly as the Python language host runs it
(`run_in_stack` over the program file), with a resource monitor that answers from `preview.fakes` and records
every registration. Each run gets its own contextvars context, event loop and mock monitor, so several
programs (or one program with several configs) can run in one process without leaking into each other.

Secrets are tracked two ways, belt and braces:
- by marker: the SDK sends secret values wrapped in Pulumi's secret signature at the exact place they occur
  (the monitor reads the raw protobuf, before the SDK would push secretness up to the top-level property);
- by value: every secret config placeholder and every secret the fakes generate (and their base64 forms) is
  remembered, and any string containing one becomes `[secret]` too.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextvars
import json
import logging
import os
import re
import runpy
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from google.protobuf import json_format, struct_pb2

from preview import fakes

PROJECT = "emqx-platform"
SECRET_TEXT = "[secret]"
UNKNOWN_TEXT = "[unknown]"
STACK_TYPE = "pulumi:pulumi:Stack"

# Pulumi's wire signatures (pulumi/runtime/rpc.py); fixed by the engine protocol.
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
_ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

# Shorter strings are too likely to occur by chance to redact on sight (e.g. a 4-char password "true").
_MIN_SECRET_LEN = 6


# --------------------------------------------------------------------------------------------- config


def _placeholder(key: str) -> str:
    return f"offline-secret-{key}"


def _replace_secure(value: Any, key: str) -> tuple[Any, bool]:
    """Swap every `{secure: ...}` inside a config value for a placeholder; report whether any was found."""
    if isinstance(value, dict):
        mapping = cast(dict[str, Any], value)
        if set(mapping) == {"secure"}:
            return _placeholder(key), True
        found = False
        out: dict[str, Any] = {}
        for k, v in mapping.items():
            out[k], hit = _replace_secure(v, f"{key}.{k}")
            found = found or hit
        return out, found
    if isinstance(value, list):
        found = False
        items: list[Any] = []
        for i, v in enumerate(cast(list[Any], value)):
            item, hit = _replace_secure(v, f"{key}[{i}]")
            items.append(item)
            found = found or hit
        return items, found
    return value, False


def config_text(value: Any) -> str:
    """The string the Pulumi CLI hands the program: strings as is, anything else as its JSON text."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def qualify_key(key: str, project: str = PROJECT) -> str:
    return key if ":" in key else f"{project}:{key}"


def config_from_mapping(values: Mapping[str, Any], project: str = PROJECT) -> tuple[dict[str, str], list[str]]:
    """Config as the CLI hands it to the program, from the `config:` mapping of a stack file.

    Keys without a namespace get the project's. A `{secure: ...}` value (anywhere inside a value) cannot be
    decrypted offline: it becomes `offline-secret-<key>` and the key is listed as secret, as the CLI lists a
    decrypted secret.
    """
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in values.items():
        full_key = qualify_key(str(key), project)
        plain, is_secret = _replace_secure(value, full_key)
        config[full_key] = config_text(plain)
        if is_secret:
            secret_keys.append(full_key)
    return config, secret_keys


class StackFileError(ValueError):
    """A stack file that cannot be read as config: where (file, line, column), what, and a one-line fix."""

    def __init__(self, path: Path | str, line: int, column: int, problem: str, hint: str) -> None:
        self.path, self.line, self.column, self.problem, self.hint = str(path), line, column, problem, hint
        super().__init__(f"{path}:{line}:{column}: {problem}\nhint: {hint}")


# Bounds on a stack file, checked before YAML builds anything: a real stack file is a few KiB with a few hundred
# values (a secure kubeconfig adds tens of KiB), so these only stop hostile or broken input.
MAX_STACK_FILE_BYTES = 256 * 1024
MAX_YAML_NODES = 20_000
MAX_YAML_DEPTH = 32
_ECHO = 60

# Explicit tags a stack file may carry: the plain types the Pulumi CLI hands over. Anything else (`!!python/...`,
# `!!binary`, `!!set`, `!!timestamp`, local `!tags`) is refused rather than built.
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq"))


def _cut(text: str) -> str:
    return repr(text) if len(text) <= _ECHO else f"{text[:_ECHO]!r}... ({len(text):,} characters)"


class _MarkedProblem(yaml.YAMLError):
    def __init__(self, mark: yaml.Mark | None, problem: str, hint: str) -> None:
        super().__init__(problem)
        self.mark, self.problem, self.hint = mark, problem, hint


class _StackFileLoader(yaml.SafeLoader):
    """PyYAML's safe loader, stricter where a stack file must be unambiguous and bounded.

    - Anchors and aliases are refused when composed, before anything could expand them (an alias bomb is a few
      lines that expand to billions of nodes), and nodes and depth are counted while composing.
    - A key given twice in one mapping, at any depth, is refused: YAML would keep the last one silently.
    - Only YAML 1.2 core scalars resolve implicitly, as the Pulumi CLI's YAML reader does: `yes`/`on` stay text,
      `2024-01-01` stays text (not a date), `1:30` stays text (not 90), `<<` is an ordinary key (no merge).
    """

    yaml_implicit_resolvers: dict[Any, list[tuple[str, Any]]] = {}  # noqa: RUF012  (PyYAML's class-level table)

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nodes = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # pyright: ignore[reportIncompatibleMethodOverride]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _MarkedProblem(event.start_mark, "YAML anchors and aliases (&name, *name) are not accepted",
                                 "write each value out in full")
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!" and tag not in _PLAIN_TAGS:
            raise _MarkedProblem(event.start_mark, f"the tag {_cut(str(tag))} is not accepted",
                                 "remove the tag: stack files hold text, numbers, booleans, lists and mappings")
        self._nodes += 1
        if self._nodes > MAX_YAML_NODES:
            raise _MarkedProblem(event.start_mark, f"the file holds more than {MAX_YAML_NODES:,} values",
                                 "a stack file sets a few hundred values at most; remove what is not config")
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _MarkedProblem(event.start_mark, f"values are nested more than {MAX_YAML_DEPTH} levels deep",
                                     "flatten the value; no setting nests that deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_seen: dict[str, yaml.Node] = {}
        for key_node, _ in node.value:
            if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:str"):
                raise _MarkedProblem(key_node.start_mark, "a mapping key is not text",
                                     "quote the key (e.g. 'on': or '1':), or remove it")
            key = cast(str, key_node.value)
            if key in first_seen:
                first = first_seen[key].start_mark.line + 1
                raise _MarkedProblem(key_node.start_mark, f"the key {_cut(key)} is given twice (first on line "
                                     f"{first})", "keep one of them: YAML would silently keep only the last")
            first_seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    # At most 40 digits: longer numerals stay text (Python refuses to parse over 4,300 digits anyway).
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0|[1-9][0-9_]{0,39})$", list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     # A dot or an exponent makes a float: `0777` stays text rather than becoming 777.0.
     r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]{0,39}\.[0-9_]{0,40})(?:[eE][-+]?[0-9]{1,3})?"
     r"|[-+]?[0-9][0-9_]{0,39}[eE][-+]?[0-9]{1,3}"
     r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+.0123456789")),
):
    _StackFileLoader.add_implicit_resolver(_tag, re.compile(_pattern, re.ASCII), _first)


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _node_mark(node: yaml.Node | None) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1) if node is not None else (1, 1)


def load_stack_config(path: Path) -> tuple[dict[str, str], list[str]]:
    """Read `stacks/Pulumi.<stack>.yaml` into (config, secret keys).

    Raises StackFileError (file, line, column, hint) for anything that is not a readable, bounded YAML mapping
    with a `config:` mapping; nothing of the file is built before its size, aliases, tags and depth are checked.
    """
    path = Path(path)
    with path.open("rb") as handle:
        data = handle.read(MAX_STACK_FILE_BYTES + 1)
    if len(data) > MAX_STACK_FILE_BYTES:
        raise StackFileError(path, 1, 1, f"the file is larger than {MAX_STACK_FILE_BYTES // 1024} KiB",
                             "a stack file holds settings only; move large content out of it")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise StackFileError(path, line, column, f"the file is not UTF-8 (byte 0x{data[error.start]:02x})",
                             "save the file as UTF-8") from None
    loader: _StackFileLoader | None = None
    try:
        # The reader checks every character when it is made: inside the try, so a control character is reported.
        loader = _StackFileLoader(text)
        root = loader.get_single_node()
        document = loader.construct_document(root) if root is not None else None
    except _MarkedProblem as error:
        line, column = (error.mark.line + 1, error.mark.column + 1) if error.mark else (1, 1)
        raise StackFileError(path, line, column, error.problem, error.hint) from None
    except yaml.reader.ReaderError as error:
        line, column = _line_column(text, error.position)
        raise StackFileError(path, line, column, f"the character U+{error.character:04X} is not allowed in YAML",
                             "remove control characters from the file") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = " ".join(p for p in (error.context, error.problem) if p) or "not valid YAML"
        raise StackFileError(path, line, column, f"not valid YAML: {what}",
                             "fix the YAML at that place (indentation, a missing ':' or closing quote)") from None
    except yaml.YAMLError as error:  # any other parser complaint still names the file
        raise StackFileError(path, 1, 1, f"not valid YAML: {_cut(str(error))}", "fix the YAML syntax") from None
    finally:
        if loader is not None:
            loader.dispose()
    if document is None:
        return {}, []
    if not isinstance(document, dict):
        raise StackFileError(path, *_node_mark(root), f"the file holds {type(document).__name__}, not a mapping",
                             "a stack file is a mapping with a `config:` key")
    config_node = next((v for k, v in cast(yaml.MappingNode, root).value if k.value == "config"), None)
    raw = cast(dict[str, Any], document).get("config")
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        raise StackFileError(path, *_node_mark(config_node), f"`config` holds {type(raw).__name__}, not a mapping",
                             "write `config:` as a mapping of `namespace:key: value` lines")
    return config_from_mapping(cast(dict[str, Any], raw))


def secret_placeholders(config: Mapping[str, str], secret_keys: Iterable[str]) -> set[str]:
    """Every string that stands for a secret config value (whole values, and nested placeholders)."""
    found: set[str] = set()
    for key in secret_keys:
        text = config.get(key)
        if text is None:
            continue
        found.add(text)
        marker = _placeholder(key)
        start = text.find(marker)
        while start != -1:
            end = start + len(marker)
            while end < len(text) and text[end] not in "\"',} \n":
                end += 1
            found.add(text[start:end])
            start = text.find(marker, end)
    return found


# ------------------------------------------------------------------------------------------ recording


@dataclass(frozen=True)
class RecordedResource:
    type: str
    name: str
    urn: str
    parent: str | None
    dependencies: tuple[str, ...]
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    custom: bool
    provider: str | None = None
    parent_urn: str | None = None
    # Resource options the engine acts on: protect, retainOnDelete, deleteBeforeReplace, replaceOnChanges,
    # ignoreChanges, aliases; customTimeouts where set.
    options: dict[str, Any] = field(default_factory=dict[str, Any])
    # The URNs behind `dependencies` (names alone are ambiguous across types).
    dependency_urns: tuple[str, ...] = ()
    # Unredacted values for tests that must follow a secret to where it lands. Never written or printed.
    raw_inputs: dict[str, Any] = field(default_factory=dict[str, Any], repr=False, compare=False)
    raw_outputs: dict[str, Any] = field(default_factory=dict[str, Any], repr=False, compare=False)


@dataclass(frozen=True)
class RecordedCall:
    token: str
    args: dict[str, Any]
    mocked: bool
    provider: str | None = None  # the provider instance's name, None for the default provider


@dataclass(frozen=True)
class Recording:
    stack: str
    resources: tuple[RecordedResource, ...]
    outputs: dict[str, Any]
    calls: tuple[RecordedCall, ...]
    diagnostics: tuple[tuple[str, str], ...] = ()
    secret_values: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    # What preview.fakes made up for values the cloud assigns on `pulumi up` (ids, addresses, DNS names).
    placeholders: frozenset[str] = frozenset()

    def by_type(self, token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == token]

    def one(self, token: str, name: str | None = None) -> RecordedResource:
        found = [r for r in self.by_type(token) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.by_type(token)]
            wanted = token if name is None else f"{token} named {name!r}"
            raise LookupError(f"expected exactly one {wanted}, found {len(found)} (this type: {names})")
        return found[0]

    def named(self, name: str) -> RecordedResource:
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected exactly one resource named {name!r}, found {[r.type for r in found]}")
        return found[0]

    @property
    def unmocked_calls(self) -> list[RecordedCall]:
        return [c for c in self.calls if not c.mocked]


# ------------------------------------------------------------------------------------------ redaction


def is_wrapped_secret(value: Any) -> bool:
    return isinstance(value, dict) and cast(dict[str, Any], value).get(_SIG_KEY) == _SECRET_SIG


def _wrap_secret(value: Any) -> dict[str, Any]:
    return {_SIG_KEY: _SECRET_SIG, "value": value}


def unwrap(value: Any) -> Any:
    """The plain value with every secret marker removed."""
    if is_wrapped_secret(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in cast(dict[str, Any], value).items()}
    if isinstance(value, list):
        return [unwrap(v) for v in cast(list[Any], value)]
    return value


def mask(value: Any) -> Any:
    """A secret with its shape kept: keys and list lengths stay, every scalar becomes `[secret]`.

    Keeping the shape keeps a Secret's `data` a map, so written manifests still validate as Kubernetes objects.
    """
    if is_wrapped_secret(value):
        return mask(value["value"])
    if isinstance(value, dict):
        return {k: mask(v) for k, v in cast(dict[str, Any], value).items()}
    if isinstance(value, list):
        return [mask(v) for v in cast(list[Any], value)]
    return SECRET_TEXT


def redact(value: Any, secret_values: Iterable[str]) -> Any:
    """The value as it may be shown: secret-marked parts masked, strings holding a known secret `[secret]`."""
    needles = [s for s in secret_values if len(s) >= _MIN_SECRET_LEN]

    def walk(v: Any) -> Any:
        if is_wrapped_secret(v):
            return mask(v)
        if isinstance(v, dict):
            return {k: walk(x) for k, x in cast(dict[str, Any], v).items()}
        if isinstance(v, list):
            return [walk(x) for x in cast(list[Any], v)]
        if isinstance(v, str) and any(n in v for n in needles):
            return SECRET_TEXT
        return v

    return walk(value)


def _secret_strings(value: Any, inside: bool = False) -> set[str]:
    """Strings that are, in their entirety, a secret (a secret wrapper directly around a string)."""
    if is_wrapped_secret(value):
        return _secret_strings(value["value"], True)
    if isinstance(value, str):
        return {value} if inside else set()
    if isinstance(value, dict):
        return set().union(*(_secret_strings(v) for v in cast(dict[str, Any], value).values()))
    if isinstance(value, list):
        return set().union(*(_secret_strings(v) for v in cast(list[Any], value)))
    return set()


def with_encodings(secrets: Iterable[str]) -> set[str]:
    """Secrets plus their base64 forms: Kubernetes Secret `data` and user data carry them encoded."""
    out: set[str] = set()
    for s in secrets:
        if len(s) < _MIN_SECRET_LEN:
            continue
        out.add(s)
        out.add(base64.b64encode(s.encode()).decode())
    return out


# ------------------------------------------------------------------------------ protobuf -> python


def _plain(value: Any) -> Any:
    """Wire JSON to Python, keeping secret markers where they occur; resource references become URNs."""
    if isinstance(value, dict):
        mapping = cast(dict[str, Any], value)
        sig = mapping.get(_SIG_KEY)
        if sig == _SECRET_SIG:
            return _wrap_secret(_plain(mapping.get("value")))
        if sig == _RESOURCE_SIG:
            return str(mapping.get("urn", ""))
        if sig in (_ASSET_SIG, _ARCHIVE_SIG):
            return {k: _plain(v) for k, v in mapping.items() if k != _SIG_KEY}
        return {k: _plain(v) for k, v in mapping.items()}
    if isinstance(value, list):
        return [_plain(v) for v in cast(list[Any], value)]
    if isinstance(value, float) and value.is_integer():
        # The wire has only doubles; Kubernetes schemas want integers where the program wrote integers.
        return int(value)
    if value == _UNKNOWN:
        return UNKNOWN_TEXT
    return value


def _struct(message: struct_pb2.Struct) -> dict[str, Any]:
    return cast(dict[str, Any], _plain(json_format.MessageToDict(message)))


def _urn_name(urn: str) -> str:
    return urn.split("::")[-1]


def _provider_name(reference: str) -> str | None:
    # A provider reference is "<provider urn>::<provider id>".
    if not reference:
        return None
    return _urn_name(reference.rsplit("::", 1)[0])


# ------------------------------------------------------------------------------------------- mocks


def _materialise(value: Any) -> tuple[Any, set[str]]:
    """Turn `fakes.Secret` markers into Pulumi's secret wrapper; collect the secret strings generated."""
    if isinstance(value, fakes.Secret):
        inner, found = _materialise(value.value)
        return _wrap_secret(inner), found | _secret_strings(_wrap_secret(inner))
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        found: set[str] = set()
        for k, v in cast(dict[str, Any], value).items():
            out[k], hit = _materialise(v)
            found |= hit
        return out, found
    if isinstance(value, list):
        items: list[Any] = []
        found = set()
        for v in cast(list[Any], value):
            item, hit = _materialise(v)
            items.append(item)
            found |= hit
        return items, found
    return value, set()


@dataclass
class _Registration:
    type: str
    name: str
    urn: str
    parent_urn: str
    dependency_urns: list[str]
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    custom: bool
    provider: str | None
    options: dict[str, Any]


class _Journal:
    """What one run saw. Monitor calls arrive on an executor thread, hence the lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.registrations: list[_Registration] = []
        self.by_urn: dict[str, _Registration] = {}
        self.calls: list[tuple[str, dict[str, Any], bool, str | None]] = []
        self.component_outputs: dict[str, dict[str, Any]] = {}
        self.generated_secrets: set[str] = set()
        self.diagnostics: list[tuple[str, str]] = []
        # Values the fakes made up for what the cloud would assign (ids, addresses): shown as placeholders.
        self.placeholders: set[str] = set()


class _JournalHandler(logging.Handler):
    """Keeps the program's log messages (pulumi.log.*) so they can be shown redacted, never raw."""

    def __init__(self, journal: _Journal) -> None:
        super().__init__(level=logging.INFO)
        self.journal = journal

    def emit(self, record: logging.LogRecord) -> None:
        with self.journal.lock:
            self.journal.diagnostics.append((record.levelname.lower(), record.getMessage()))


def _overlay(computed: Any, inputs: Any) -> Any:
    """The resource's state: its inputs, plus what the cloud computes, down to nested blocks.

    A provider returns an input block with its computed fields filled in (an NLB's zone mappings come back with
    each zone's address), so the fake's fields must survive inside the blocks the program passed, not only at the
    top.
    """
    if isinstance(computed, dict) and isinstance(inputs, dict):
        merged = dict(cast(dict[str, Any], computed))
        for key, value in cast(dict[str, Any], inputs).items():
            merged[key] = _overlay(merged[key], value) if key in merged else value
        return merged
    if isinstance(computed, list) and isinstance(inputs, list):
        pairs = zip(cast(list[Any], computed), cast(list[Any], inputs), strict=False)
        if len(cast(list[Any], computed)) == len(cast(list[Any], inputs)):
            return [_overlay(c, i) for c, i in pairs]
    return inputs


# Shorter made-up strings ("", "0") would match ordinary values when the writers label placeholders.
_MIN_PLACEHOLDER_LEN = 6


def _leaf_strings(value: Any) -> set[str]:
    if is_wrapped_secret(value):
        return set()  # secrets are redacted on their own, never labelled
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_leaf_strings(v) for v in cast(dict[str, Any], value).values()))
    if isinstance(value, list):
        return set().union(*(_leaf_strings(v) for v in cast(list[Any], value)))
    return set()


def _make_mocks(journal: _Journal) -> Any:
    from pulumi.runtime import mocks

    class PreviewMocks(mocks.Mocks):
        def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            fake = fakes.RESOURCE_FAKES.get(args.typ)
            computed = fake(args.name, unwrap(args.inputs)) if fake else {}
            state, generated = _materialise(computed)
            with journal.lock:
                journal.generated_secrets |= generated
            resource_id = args.resource_id or f"{args.name}-id"
            merged = _overlay(state, args.inputs)
            invented = _leaf_strings(merged) - _leaf_strings(args.inputs) - generated
            with journal.lock:
                journal.placeholders |= {v for v in invented if len(v) >= _MIN_PLACEHOLDER_LEN}
                if not args.resource_id:
                    journal.placeholders.add(resource_id)
            return resource_id, merged

        def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
            fake = fakes.CALL_FAKES.get(args.token)
            result, generated = _materialise(fake(unwrap(args.args)) if fake else {})
            with journal.lock:
                journal.generated_secrets |= generated
                journal.calls.append((args.token, _plain(json.loads(json.dumps(args.args, default=str))),
                                      fake is not None, _provider_name(args.provider or "")))
            return result, []

    return PreviewMocks()


def _make_monitor(journal: _Journal, mocks_impl: Any) -> Any:
    from pulumi.runtime import mocks

    class RecordingMonitor(mocks.MockMonitor):
        # Reads the raw request so secrets stay marked where they occur, and keeps parent, dependencies and
        # provider, which MockResourceArgs leaves out.

        def RegisterResource(self, request: Any) -> Any:
            urn = self.make_urn(request.parent, request.type, request.name)
            if request.type == STACK_TYPE:
                return super().RegisterResource(request)
            with journal.lock:
                if urn in journal.by_urn:
                    # The real engine refuses this; the stock mock monitor silently overwrites.
                    raise ValueError(f"Duplicate resource URN '{urn}'; try giving it a unique name")
            inputs = _struct(request.object)
            secret_outputs = set(request.additionalSecretOutputs)
            response = super().RegisterResource(request)
            for key in secret_outputs:
                # The engine marks these secret after create (e.g. RandomPassword.result); the stock mock does not.
                _mark_secret(response.object, key)
            outputs = _struct(response.object)
            registration = _Registration(
                type=request.type,
                name=request.name,
                urn=urn,
                parent_urn=request.parent,
                dependency_urns=list(request.dependencies),
                inputs=inputs,
                outputs=outputs,
                custom=bool(request.custom),
                provider=_provider_name(request.provider),
                options={
                    "protect": bool(request.protect),
                    "retainOnDelete": bool(request.retainOnDelete),
                    "deleteBeforeReplace": bool(request.deleteBeforeReplace),
                    "replaceOnChanges": sorted(request.replaceOnChanges),
                    "ignoreChanges": sorted(request.ignoreChanges),
                    "aliases": _aliases(request),
                },
            )
            timeouts = {k: v for k in ("create", "update", "delete")
                        if (v := getattr(request.customTimeouts, k))}
            if timeouts:
                # Only where the program sets them, so plan.json (and its diffs) stay as they were elsewhere.
                registration.options["customTimeouts"] = timeouts
            with journal.lock:
                journal.registrations.append(registration)
                journal.by_urn[urn] = registration
                journal.generated_secrets |= _secret_strings(outputs)
            return response

        def RegisterResourceOutputs(self, request: Any) -> Any:
            with journal.lock:
                journal.component_outputs[request.urn] = _struct(request.outputs)
            return super().RegisterResourceOutputs(request)

    return RecordingMonitor(mocks_impl)


def _aliases(request: Any) -> list[Any]:
    """The aliases a registration carries, as the engine would match them against the state.

    The SDK sends either full alias specs (`aliases`, when the monitor supports them, as the mock monitor says it
    does) or URNs it computed itself (`aliasURNs`, older engines): pulumi/runtime/resource.py prepare_aliases.
    """
    found: list[Any] = [json_format.MessageToDict(alias) for alias in request.aliases]
    found += [{"urn": urn} for urn in request.aliasURNs]
    return found


def _mark_secret(message: struct_pb2.Struct, key: str) -> None:
    if key not in message.fields:
        return
    value = message.fields[key]
    if value.HasField("struct_value"):
        fields = value.struct_value.fields
        if _SIG_KEY in fields and fields[_SIG_KEY].string_value == _SECRET_SIG:
            return
    wrapper = struct_pb2.Struct()
    wrapper.fields[_SIG_KEY].string_value = _SECRET_SIG
    wrapper.fields["value"].CopyFrom(value)
    message.fields[key].struct_value.CopyFrom(wrapper)


class _SerialExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each monitor call to completion before the event loop moves on.

    The SDK talks to the monitor through `run_in_executor`; with a thread pool, registration order (and so the
    numbering of written manifests) would depend on thread timing. Waiting here makes every run of the same
    program produce the same order: the order in which the program's resources became ready.
    """

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="preview-monitor")

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        concurrent.futures.wait([future])
        return future


# ---------------------------------------------------------------------------------------------- run


def run_program(
    program: Path,
    *,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    project: str = PROJECT,
) -> Recording:
    """Run a Pulumi program file under mocks (never in preview mode) and return what it registered.

    Raises whatever the program raises (a ConfigError stays a ConfigError), after outstanding work settles.
    """
    path = Path(program).resolve()

    def body() -> None:
        program_dir = str(path.parent)
        previous_cwd = os.getcwd()
        added_path = program_dir not in sys.path
        try:
            if added_path:
                sys.path.insert(0, program_dir)
            os.chdir(program_dir)
            runpy.run_path(str(path), run_name="__main__")
        finally:
            os.chdir(previous_cwd)
            if added_path and program_dir in sys.path:
                sys.path.remove(program_dir)

    context = contextvars.copy_context()
    return context.run(_run_in_context, body, stack, dict(config), list(secret_keys), project)


def run_function(
    body: Callable[[], object],
    *,
    stack: str = "test",
    config: dict[str, str] | None = None,
    secret_keys: list[str] | None = None,
    project: str = PROJECT,
) -> Recording:
    """`body` as the program, under the same mocks, fakes and recording as `run_program`: for tests that build
    components directly (never in preview mode)."""
    context = contextvars.copy_context()
    return context.run(_run_in_context, body, stack, dict(config or {}), list(secret_keys or []), project)


def _run_in_context(
    body: Callable[[], object], stack: str, config: dict[str, str], secret_keys: list[str], project: str
) -> Recording:
    import pulumi
    from pulumi.runtime import settings as pulumi_settings
    from pulumi.runtime import stack as pulumi_stack

    journal = _Journal()
    mocks_impl = _make_mocks(journal)
    monitor = _make_monitor(journal, mocks_impl)
    logger = logging.Logger("preview.program", level=logging.INFO)
    logger.addHandler(_JournalHandler(journal))

    previous_loop = _installed_loop()
    loop = asyncio.new_event_loop()
    loop.set_default_executor(_SerialExecutor())
    # A failed run leaves futures nobody awaited; the first failure is re-raised, so their echoes are noise.
    loop.set_exception_handler(lambda _loop, _context: None)
    asyncio.set_event_loop(loop)
    try:
        # set_mocks builds a root Stack when none exists; run_in_stack must build it instead (as the language
        # host does), so it registers the stack outputs we record. A stand-in root keeps set_mocks from it.
        pulumi_settings.ROOT.set(cast(Any, object()))
        pulumi.runtime.set_mocks(
            mocks_impl, project=project, stack=stack, preview=False, monitor=monitor, logger=logger
        )
        pulumi_settings.ROOT.set(None)
        # MockSettings leaves these to whatever the caller's context held: start each run with its own.
        runtime_settings = cast(Any, pulumi_settings.SETTINGS)
        runtime_settings.outputs = set()
        runtime_settings.lock = threading.Lock()
        runtime_settings.package_refs = {}
        runtime_settings.base_providers_by_ref = {}
        pulumi.runtime.set_all_config(dict(config), list(secret_keys))

        def program() -> None:
            body()

        loop.run_until_complete(pulumi_stack.run_in_stack(program))
    except BaseException as error:
        # What had been registered when the run failed: a config error must leave this empty (nothing deployed).
        error.registered_before_failure = [f"{r.type}::{r.name}" for r in journal.registrations]  # type: ignore[attr-defined]
        raise
    finally:
        _close_loop(loop)
        _restore_loop(previous_loop)

    return _build_recording(journal, stack, config, secret_keys, project)


def _installed_loop() -> asyncio.AbstractEventLoop | None:
    """The caller's current event loop, looked up without creating one as a side effect."""
    local = getattr(asyncio.get_event_loop_policy(), "_local", None)
    loop = getattr(local, "_loop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None


def _restore_loop(previous: asyncio.AbstractEventLoop | None) -> None:
    # Outputs the caller made before this run are bound to its loop: give that loop back. With none to give
    # back, leave a fresh one rather than none, so later Outputs (pulumi.Output.secret in a test) still work.
    if previous is not None and not previous.is_closed():
        asyncio.set_event_loop(previous)
    else:
        asyncio.set_event_loop(asyncio.new_event_loop())


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()


def _build_recording(
    journal: _Journal, stack: str, config: dict[str, str], secret_keys: list[str], project: str
) -> Recording:
    stack_urn = f"urn:pulumi:{stack}::{project}::{STACK_TYPE}::{project}-{stack}"
    known = secret_placeholders(config, secret_keys) | journal.generated_secrets
    for registration in journal.registrations:
        known |= _secret_strings(registration.inputs)
    stack_outputs = journal.component_outputs.get(stack_urn, {})
    known |= _secret_strings(stack_outputs)
    secrets = with_encodings(known)

    def parent_name(urn: str) -> str | None:
        if not urn or urn == stack_urn or urn.endswith(f"::{STACK_TYPE}::{project}-{stack}"):
            return None
        return _urn_name(urn)

    resources = tuple(
        RecordedResource(
            type=r.type,
            name=r.name,
            urn=r.urn,
            parent=parent_name(r.parent_urn),
            # The SDK gathers dependencies in a set: sorted, so two previews of one stack write the same plan.
            dependencies=tuple(sorted({_urn_name(u) for u in r.dependency_urns})),
            inputs=redact(r.inputs, secrets),
            outputs=redact(r.outputs if r.custom else journal.component_outputs.get(r.urn, {}), secrets),
            custom=r.custom,
            provider=r.provider,
            options=r.options,
            dependency_urns=tuple(sorted(set(r.dependency_urns))),
            parent_urn=r.parent_urn if parent_name(r.parent_urn) else None,
            raw_inputs=unwrap(r.inputs),
            raw_outputs=unwrap(r.outputs if r.custom else journal.component_outputs.get(r.urn, {})),
        )
        for r in journal.registrations
    )
    calls = tuple(RecordedCall(token=t, args=redact(a, secrets), mocked=m, provider=p) for t, a, m, p in journal.calls)
    return Recording(
        stack=stack,
        resources=resources,
        outputs=redact(stack_outputs, secrets),
        calls=calls,
        diagnostics=tuple((level, cast(str, redact(text, secrets))) for level, text in journal.diagnostics),
        secret_values=frozenset(secrets),
        placeholders=frozenset(p for p in journal.placeholders if not any(x in p for x in secrets)),
    )


def is_config_error(error: BaseException) -> bool:
    """The program's ConfigError, recognised without importing it (components/ may not exist yet)."""
    problems = getattr(error, "problems", None)
    return type(error).__name__ == "ConfigError" and isinstance(problems, list)
