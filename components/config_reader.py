"""A small typed reader over raw stack config that collects every problem instead of stopping at the first.

Stack config arrives as JSON-ish values (YAML objects, strings, numbers). Each `Section` reads one object, records
which keys it consumed, and reports the rest as unknown, so a typo is never silently ignored.
"""

from __future__ import annotations

import collections
import difflib
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

_MISSING = object()

# Echoed values are cut: a config value can be megabytes long (a pasted file, a hostile input), and an error
# message must stay readable and quick to print.
ECHO_LIMIT = 60
# A problem line longer than this is cut in the middle, whatever produced it (a net under every echo).
PROBLEM_LIMIT = 600
# A list or map in the config longer than this is refused before anything walks it item by item.
MAX_ITEMS = 256
# Problems listed in one error; past this they are counted, so a config of 100,000 stray keys gives a readable error.
MAX_PROBLEMS = 100


def key_text(key: object) -> str:
    """A config key as it appears in a message: as is when short and printable, else quoted and cut."""
    text = str(key)
    return text if 0 < len(text) <= ECHO_LIMIT and text.isprintable() else shown(text)


def shown(value: object, limit: int = ECHO_LIMIT) -> str:
    """repr() of a value, cut to `limit` characters with an ellipsis and the total length when longer."""
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}... ({len(value):,} characters)"
    try:
        text = repr(value)
    except RecursionError:  # a value nested thousands deep
        return f"<a deeply nested {type(value).__name__}>"
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return f"the text {shown(value)}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return type(value).__name__


class _Messages(list[str]):
    """Problem lines, each cut to PROBLEM_LIMIT characters however it was added, at most MAX_PROBLEMS listed."""

    dropped = 0

    @staticmethod
    def _cut(message: str) -> str:
        if len(message) <= PROBLEM_LIMIT:
            return message
        half = PROBLEM_LIMIT // 2
        return f"{message[:half]} [... {len(message) - 2 * half:,} characters cut ...] {message[-half:]}"

    def append(self, message: str) -> None:
        if len(self) < MAX_PROBLEMS:
            super().append(self._cut(message))
            return
        self.dropped += 1
        summary = f"(more): {self.dropped:,} more problem(s) not listed; fix the ones above and run again"
        if len(self) == MAX_PROBLEMS:
            super().append(summary)
        else:
            self[MAX_PROBLEMS] = summary

    def extend(self, messages: Iterable[str]) -> None:
        for message in messages:
            self.append(message)


class Problems:
    """Every config problem found in one run, in the order found."""

    def __init__(self) -> None:
        self.items: list[str] = _Messages()

    def add(self, key: str, what: str, fix: str) -> None:
        self.items.append(f"{key}: {what}; {fix}")

    def extend(self, messages: Sequence[str]) -> None:
        self.items.extend(messages)

    def __bool__(self) -> bool:
        return bool(self.items)

    def about(self, *prefixes: str) -> bool:
        """Whether any problem so far concerns one of these keys (or keys under them)."""
        return any(p == k or p.startswith((k + ":", k + ".", k + "[")) for p in self.items for k in prefixes)


class Section:
    """One config object: typed getters with defaults; unknown keys reported by `finish()`."""

    # Every key path any Section was asked for (list indexes folded to `[]`): the README test compares it with
    # the configuration reference, so a new setting cannot go undocumented.
    read_paths: ClassVar[set[str]] = set()

    def __init__(self, key: str, raw: object, problems: Problems, *, required: bool = False) -> None:
        self.key = key
        self.problems = problems
        self.present = raw is not None
        self._seen: set[str] = set()
        self._children: list[Section] = []
        # Children refused whole (e.g. a section of another target): their keys are not reported one by one.
        self._ignored: set[str] = set()
        if raw is None:
            self.raw: Mapping[str, Any] = {}
            if required:
                problems.add(key, "is required but not set", f"set it with `pulumi config set --path {key}...`")
        elif isinstance(raw, Mapping):
            self.raw = raw
        else:
            self.raw = {}
            problems.add(key, f"must be an object, got {type_name(raw)}", "write it as a YAML mapping")

    def path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def accept(self, *names: str) -> None:
        """Keys the caller validated by other means: not to be reported as unknown."""
        self._seen.update(names)

    def _get(self, name: str) -> object:
        self._seen.add(name)
        Section.read_paths.add(re.sub(r"\[[0-9]+\]", "[]", self.path(name)))
        return self.raw.get(name, _MISSING)

    def has(self, name: str) -> bool:
        return name in self.raw

    def section(self, name: str, *, required: bool = False) -> Section:
        value = self._get(name)
        child = Section(self.path(name), None if value is _MISSING else value, self.problems, required=required)
        self._children.append(child)
        return child

    def string(
        self,
        name: str,
        default: str | None = None,
        *,
        choices: Sequence[str] | None = None,
        pattern: str | None = None,
        hint: str = "",
        required: bool = False,
    ) -> str | None:
        value = self._get(name)
        key = self.path(name)
        if value is _MISSING or value is None:
            if required:
                self.problems.add(key, "is required but not set", hint or "set it in the stack config")
            return default
        if not isinstance(value, str):
            self.problems.add(key, f"must be text, got {type_name(value)}", hint or "quote the value")
            return default
        if choices is not None and value not in choices:
            close = suggest(value, choices)
            suggestion = f"did you mean {close!r}? " if close else ""
            self.problems.add(
                key, f"{shown(value)} is not one of {', '.join(choices)}", f"{suggestion}use one of those values"
            )
            return default
        # re.ASCII: with str patterns `\d` and `\w` match any Unicode digit or letter (`５` is a digit), which
        # would let full-width text through to int() and into cloud API calls.
        if pattern is not None and not re.fullmatch(pattern, value, re.ASCII):
            self.problems.add(key, f"{shown(value)} is not well formed", hint or f"it must match {pattern}")
            return default
        return value

    def integer(
        self,
        name: str,
        default: int | None = None,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        required: bool = False,
        hint: str = "",
    ) -> int | None:
        value = self._get(name)
        key = self.path(name)
        if value is _MISSING or value is None:
            if required:
                self.problems.add(key, "is required but not set", hint or "set a whole number")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.add(key, f"must be a whole number, got {type_name(value)}", "write it without quotes")
            return default
        if minimum is not None and value < minimum:
            self.problems.add(key, f"{value} is below the minimum {minimum}", hint or f"use at least {minimum}")
            return default
        if maximum is not None and value > maximum:
            self.problems.add(key, f"{value} is above the maximum {maximum}", hint or f"use at most {maximum}")
            return default
        return value

    def number(
        self, name: str, default: float, *, minimum: float, maximum: float, hint: str = ""
    ) -> float:
        value = self._get(name)
        key = self.path(name)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problems.add(key, f"must be a number, got {type_name(value)}", "write it without quotes")
            return default
        if not minimum <= value <= maximum:
            self.problems.add(key, f"{value} is outside {minimum}..{maximum}", hint or "use a value in that range")
            return default
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, bool):
            self.problems.add(self.path(name), f"must be true or false, got {type_name(value)}", "write true or false")
            return default
        return value

    def strings(
        self, name: str, default: Sequence[str] = (), *, min_items: int = 0, hint: str = ""
    ) -> tuple[str, ...]:
        value = self._get(name)
        key = self.path(name)
        if value is _MISSING or value is None:
            if min_items and not default:
                self.problems.add(key, "is required but not set", hint or f"list at least {min_items} value(s)")
            return tuple(default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problems.add(key, f"must be a list of text values, got {type_name(value)}", "write a YAML list")
            return tuple(default)
        if len(value) > MAX_ITEMS:
            self.problems.add(key, f"has {len(value):,} items", f"list at most {MAX_ITEMS}")
            return tuple(default)
        if len(value) < min_items:
            self.problems.add(key, f"has {len(value)} item(s), needs at least {min_items}", hint or "add more")
        counts = collections.Counter(value)
        dupes = sorted(v for v, n in counts.items() if n > 1)
        if dupes:
            self.problems.add(key, f"lists {', '.join(shown(v) for v in dupes[:5])} more than once",
                              "list each value once")
        return tuple(value)

    def cidrs(self, name: str, default: Sequence[str] = (), *, min_items: int = 0) -> tuple[str, ...]:
        values = self.strings(name, default, min_items=min_items)
        good: list[str] = []
        for i, value in enumerate(values):
            err = cidr_problem(value)
            if err:
                self.problems.add(f"{self.path(name)}[{i}]", err[0], err[1])
            else:
                good.append(value)
        return tuple(good)

    def cidr(self, name: str, default: str) -> str:
        value = self.string(name, default)
        assert value is not None
        err = cidr_problem(value)
        if err:
            self.problems.add(self.path(name), err[0], err[1])
            return default
        return value

    def mapping(self, name: str) -> Mapping[str, Any]:
        """A free-form mapping whose keys the caller validates itself."""
        value = self._get(name)
        if value is _MISSING or value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problems.add(self.path(name), f"must be an object, got {type_name(value)}", "write a YAML mapping")
            return {}
        if len(value) > MAX_ITEMS:
            self.problems.add(self.path(name), f"has {len(value):,} entries", f"set at most {MAX_ITEMS}")
            return {}
        return value

    def string_map(self, name: str, *, kind: str = "text") -> tuple[tuple[str, str], ...]:
        """A map of text to text; kind "label" checks Kubernetes label syntax, "tag" Alibaba Cloud tag syntax."""
        value = self.mapping(name)
        out: list[tuple[str, str]] = []
        for k, v in value.items():
            key = f"{self.path(name)}.{key_text(k)}"
            if not isinstance(v, str):
                self.problems.add(key, f"must be text, got {type_name(v)}", "quote the value")
                continue
            checks = {"label": _label_problem, "tag": _tag_problem}
            problem = checks[kind](str(k), v) if kind in checks else None
            if problem:
                self.problems.add(key, problem[0], problem[1])
            else:
                out.append((str(k), v))
        return tuple(sorted(out))

    def items(self, name: str) -> list[Section]:
        """A list of objects, each read as its own Section keyed `name[i]`."""
        value = self._get(name)
        if value is _MISSING or value is None:
            return []
        if not isinstance(value, list):
            self.problems.add(self.path(name), f"must be a list, got {type_name(value)}", "write a YAML list")
            return []
        if len(value) > MAX_ITEMS:
            self.problems.add(self.path(name), f"has {len(value):,} items", f"list at most {MAX_ITEMS}")
            return []
        out = []
        for i, item in enumerate(value):
            child = Section(f"{self.path(name)}[{i}]", item, self.problems)
            self._children.append(child)
            out.append(child)
        return out

    def finish(self) -> None:
        """Report keys nobody read, recursively."""
        for name in self.raw:
            if name not in self._seen:
                close = suggest(str(name), sorted(self._seen))
                fix = f"did you mean {close!r}?" if close else f"known keys: {', '.join(sorted(self._seen))}"
                self.problems.add(self.path(key_text(name)), "is not a known setting", fix)
        for child in self._children:
            if child.key not in self._ignored:
                child.finish()

    def ignore(self, name: str) -> None:
        """The caller refused `name` as a whole (with its own message): its keys are not reported one by one."""
        self._seen.add(name)
        self._ignored.add(self.path(name))


def suggest(value: str, choices: Sequence[str]) -> str | None:
    """The closest choice to a misspelt value, or None; long values are not compared (no choice is long)."""
    if len(value) > 4 * ECHO_LIMIT:
        return None
    close = difflib.get_close_matches(value, list(choices), n=1)
    return close[0] if close else None


def cidr_problem(value: str) -> tuple[str, str] | None:
    """(what is wrong, how to fix) for a malformed IPv4 CIDR, or None."""
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        try:
            net = ipaddress.IPv4Network(value, strict=False)
        except ValueError:
            return (f"{shown(value)} is not an IPv4 CIDR", "write it as a.b.c.d/n, e.g. 10.0.0.0/16")
        return (f"{shown(value)} has host bits set", f"did you mean {net.with_prefixlen}?")
    if "/" not in value:
        return (f"{shown(value)} has no prefix length", f"write it as {value}/32 or the network it belongs to")
    return None


_LABEL_NAME = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)"
_DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"


def _label_problem(key: str, value: str) -> tuple[str, str] | None:
    prefix, _, name = key.rpartition("/")
    if (prefix and (len(prefix) > 253 or not re.fullmatch(_DNS_SUBDOMAIN, prefix))) or not re.fullmatch(
        _LABEL_NAME, name
    ):
        return (f"{shown(key)} is not a Kubernetes label key", "use [prefix/]name, name up to 63 of [A-Za-z0-9-_.]")
    if value and not re.fullmatch(_LABEL_NAME, value):
        return (f"{shown(value)} is not a Kubernetes label value",
                "use up to 63 of [A-Za-z0-9-_.], alphanumeric at the ends")
    return None


def _tag_problem(key: str, value: str) -> tuple[str, str] | None:
    # Alibaba Cloud tags: key 1-128 characters, value up to 128, neither may start with aliyun or acs: nor contain
    # http:// or https://.
    for what, text, low in (("key", key, 1), ("value", value, 0)):
        reserved = text.startswith(("aliyun", "acs:")) or "http://" in text or "https://" in text
        if not low <= len(text) <= 128 or reserved:
            return (f"tag {what} {shown(text)} is not allowed by Alibaba Cloud",
                    "use 1-128 characters, not starting with 'aliyun' or 'acs:', without http(s)://")
    return None


def dns_name_problem(name: str) -> tuple[str, str] | None:
    """For certificate names: a DNS name, optionally with one leading wildcard label."""
    bare = name[2:] if name.startswith("*.") else name
    if len(bare) > 253 or not re.fullmatch(_DNS_SUBDOMAIN, bare) or any(len(p) > 63 for p in bare.split(".")):
        return (f"{shown(name)} is not a DNS name", "use lower-case names such as mqtt.example.com (or *.example.com)")
    return None
