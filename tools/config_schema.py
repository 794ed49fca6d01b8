"""`make config-schema`: schema/stack-config.schema.json, a JSON Schema of stacks/Pulumi.<stack>.yaml.

Generated from the settings code and its documentation, never written by hand:
- the keys are those the settings parser reads (components/config_reader.Section.read_paths, collected by parsing two
  complete configs as tests/test_readme.py does) plus the README's configuration reference;
- each key's type, range, enum, default and description come from that README table (its `type`, `default` and
  `meaning` columns; tests/test_defaults.py proves the defaults there are the code's).
A key the parser reads but the table does not describe gets no type constraint (the README test fails on it anyway).

The schema only refuses what the parser refuses: every leaf also takes null (the parser reads null as "not set"),
types the README leaves open (objects, durations, "text / int") take anything, and unknown keys are refused as the
parser's `finish()` refuses them. `--check` exits 1 when the checked-in file differs from what would be generated.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from components.config_reader import Section  # noqa: E402
from components.settings import OTHER_NAMESPACES, PROJECT, SECRET_KEYS, ConfigError, parse  # noqa: E402

SCHEMA_PATH = REPO_ROOT / "schema" / "stack-config.schema.json"
SCHEMA_ID = "https://github.com/emqx-platform/emqx-platform/schema/stack-config.schema.json"
MODELINE = "# yaml-language-server: $schema=../schema/stack-config.schema.json"

# Complete configs (one per target) make the parser read every key it knows; tests/test_readme.py and
# tests/test_runbook.py take the keys from here too.
_ALICLOUD: dict[str, Any] = {
    "target": "alicloud",
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
    "emqx": {"edition": "enterprise", "version": "5.10.3", "cores": 3, "replicants": 2},
    "rebalance": {"runs": [{"name": "a", "connEvictRate": 10}]},
    "licenseKey": "k",
}
_AWS: dict[str, Any] = {
    "target": "aws",
    "cloud": {"region": "us-east-1", "zones": ["us-east-1a", "us-east-1b"]},
    "cluster": {"admins": ["arn:aws:iam::111122223333:role/admin"]},
    "emqx": {"cores": 1},
}
_EXISTING: dict[str, Any] = {"target": "existing", "emqx": {"cores": 1}, "cluster": {"kubernetesMinor": "1.31"},
                             "loadTest": {"runs": [{"name": "a", "connections": 10, "target": "inCluster",
                                                    "username": "u"}]},
                             "mqttUsers": "u:a-long-password"}


def read_paths() -> set[str]:
    """Every key path (list items as `[]`) the settings parser reads."""
    Section.read_paths.clear()
    for values in (_ALICLOUD, _AWS, _EXISTING):
        # The parser reads every key before it raises (it collects every problem first): a cross-field rule that
        # refuses one of these configs (a new key's rule) must not hide the keys from the schema.
        with contextlib.suppress(ConfigError):
            parse(values, stack="schema", secret_keys={"licenseKey", "mqttUsers"})
    paths = set(Section.read_paths) | set(SECRET_KEYS)
    Section.read_paths.clear()
    return paths


# ------------------------------------------------------------------------------------------ the README table


def readme_cells(row: str) -> list[str]:
    """The cells of one table row; `a` \\| `b` inside a cell is one cell."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


def readme_table_rows(readme: str) -> list[str]:
    """The configuration reference's rows, header and rule left out."""
    table = readme.split("<!-- config-reference", 1)[1].split("\n\n", 2)[1]
    return [r for r in table.splitlines() if r.startswith("|")][2:]


def readme_rows(readme: str) -> Iterator[tuple[str, str, str, str]]:
    """(key, type, default, meaning) per key of the configuration reference; `a` / `.b` cells split per key."""
    for row in readme_table_rows(readme):
        key_cell, type_cell, default_cell, meaning = [*readme_cells(row), "", "", "", ""][:4]
        names = re.findall(r"`([^`]+)`", key_cell)
        keys = [names[0].rsplit(".", 1)[0] + n if n.startswith(".") else n for n in names]
        types = type_cell.split(" / ") if len(type_cell.split(" / ")) == len(keys) else [type_cell] * len(keys)
        defaults = default_cell.split(" / ")
        defaults = defaults if len(defaults) == len(keys) else [default_cell] * len(keys)
        for key, type_text, default in zip(keys, types, defaults, strict=True):
            yield key, type_text.strip(), default.strip(), meaning


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    if "type" in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return schema


# ECMA-262 (JSON Schema's pattern dialect) searches: anchored, so that the whole value must be a label.
_DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# A range the `meaning` column states for a whole number ("...; 60 to 86400"), a clause of its own.
_MEANING_RANGE = re.compile(r"(?:^|; )([0-9][0-9,]*) to ([0-9][0-9,]*)(?:$|;)")
# The `default` cell of a key the parser requires whenever its object is there (not "required (alicloud)": that one
# is required only for one target, a rule across keys).
REQUIRED = "required"


def type_schema(type_text: str) -> dict[str, Any]:
    """The JSON Schema of a README `type` cell; {} where the cell names no checkable type."""
    text = type_text.strip()
    enum = re.findall(r"`([^`]+)`", text)
    if enum and re.fullmatch(r"(`[^`]+` *\\?\| *)+`[^`]+`", text):
        return {"enum": enum}
    if text in ("bool",):
        return {"type": "boolean"}
    # A whole number with its unit: `int`, `int s`, `int /s` (connections per second).
    if re.fullmatch(r"int( /?[a-z]+)?", text):
        return {"type": "integer"}
    if text in ("number", "int / number"):
        return {"type": "number"}
    if m := re.fullmatch(r"DNS label(?:, at most ([0-9]+))?", text):
        # RFC 1123 label, as components/settings/common.py DNS_LABEL and every name pattern it narrows it to: lowercase
        # alphanumerics and '-', alphanumeric at both ends, at most 63 characters (or the row's own limit).
        return {"type": "string", "pattern": _DNS_LABEL, "maxLength": int(m.group(1) or 63)}
    if text in ("text", "CIDR"):
        return {"type": "string"}
    if text in ("list of text", "list of CIDR", "list of CIDRs"):
        return {"type": "array", "items": {"type": "string"}}
    if text == "list of objects":
        return {"type": "array", "items": {"type": "object"}}
    if text.startswith("map"):
        return {"type": "object"}
    if m := re.fullmatch(r"([0-9]+)-([0-9]+)( \(.*\))?", text):
        return {"type": "integer", "minimum": int(m.group(1)), "maximum": int(m.group(2))}
    if m := re.fullmatch(r"([0-9]+\.[0-9]+)-([0-9]+\.[0-9]+)", text):
        return {"type": "number", "minimum": float(m.group(1)), "maximum": float(m.group(2))}
    if m := re.fullmatch(r"number > ([0-9.]+)", text):
        return {"type": "number", "exclusiveMinimum": float(m.group(1))}
    return {}


def _default(cell: str, keys: Iterable[str] = ()) -> tuple[bool, Any]:
    literal = re.fullmatch(r"`([^`]*)`", cell)
    # `<vpcCidr>` is a placeholder and `production` another key's value: rules, not literals (tests/test_defaults.py).
    if literal is None or "<" in literal.group(1) or literal.group(1) in keys:
        return False, None
    try:
        return True, yaml.safe_load(literal.group(1))
    except yaml.YAMLError:
        return False, None


def _plain(markdown: str) -> str:
    return re.sub(r"\[([^]]+)\]\([^)]+\)", r"\1", markdown).replace("\\|", "|").replace("`", "")


def leaf_schema(key: str, described: dict[str, tuple[str, str, str]]) -> dict[str, Any]:
    if key in SECRET_KEYS:
        # Refused by the parser in plain text: only `pulumi config set --secret` (a `secure:` value) is accepted.
        secure = {"type": "object", "properties": {"secure": {"type": "string"}}, "required": ["secure"],
                  "additionalProperties": False}
        meaning = described.get(key, ("", "", ""))[2]
        return {**secure, "description": _plain(meaning)}
    if key not in described:
        return {"description": "read by the settings but not described in the README's configuration reference"}
    type_text, default_cell, meaning = described[key]
    schema = type_schema(type_text)
    if schema.get("type") == "integer" and "minimum" not in schema and (m := _MEANING_RANGE.search(meaning)):
        schema = {**schema, "minimum": int(m.group(1).replace(",", "")), "maximum": int(m.group(2).replace(",", ""))}
    schema = _nullable(schema)
    schema["description"] = _plain(meaning) + (f" (default: {_plain(default_cell)})" if default_cell else "")
    known, default = _default(default_cell, described)
    if known:
        schema["default"] = default
    return schema


def build_schema(readme: str, paths: set[str]) -> dict[str, Any]:
    described = {key: (t, d, m) for key, t, d, m in readme_rows(readme)}
    keys = {k for k in paths if not any(q.startswith((k + ".", k + "[]")) for q in paths)} | set(described)
    tree: dict[str, Any] = {}
    for key in sorted(keys):
        node = tree
        parts = key.replace("[]", ".[]").split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node.setdefault(parts[-1], {"$leaf": key})

    def render(name: str, node: dict[str, Any]) -> dict[str, Any]:
        if "$leaf" in node and len(node) == 1:
            return leaf_schema(node["$leaf"], described)
        children = {k: v for k, v in node.items() if k != "$leaf"}
        if list(children) == ["[]"]:
            item = render(name, children["[]"])
            # A list item (loadTest.runs[], rebalance.runs[]) is refused without the keys the README marks required
            # (the parser reads them with required=True): an editor flags the missing key as the parser would.
            required = sorted(k for k, v in children["[]"].items() if k != "$leaf" and "$leaf" in v and len(v) == 1
                              and described.get(v["$leaf"], ("", "", ""))[1] == REQUIRED)
            return {"type": ["array", "null"], "items": {**item, "required": required} if required else item}
        return {"type": ["object", "null"], "additionalProperties": False,
                "properties": {k: render(k, v) for k, v in sorted(children.items())}}

    config_properties: dict[str, Any] = {}
    for top, node in sorted(tree.items()):
        schema = render(top, node)
        if schema.get("type") == ["boolean", "null"]:
            # A top-level scalar reaches the program as text (`pulumi config set production true`).
            schema = {**schema, "type": ["boolean", "string", "null"]}
        config_properties[f"{PROJECT}:{top}"] = schema
    others = "^(" + "|".join(re.escape(n) for n in OTHER_NAMESPACES) + "):"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"{PROJECT} stack file (stacks/Pulumi.<stack>.yaml)",
        "description": "Generated by `make config-schema` from components/settings/ and README.md "
                       "(Configuration reference); do not edit by hand.",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "properties": config_properties,
                "patternProperties": {others: {}},
                "additionalProperties": False,
            },
        },
    }


def render_schema() -> str:
    schema = build_schema((REPO_ROOT / "README.md").read_text(), read_paths())
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/config_schema.py", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the checked-in schema is stale")
    args = parser.parse_args(argv)
    text = render_schema()
    if args.check:
        if not SCHEMA_PATH.is_file() or SCHEMA_PATH.read_text() != text:
            print(f"error: {SCHEMA_PATH.relative_to(REPO_ROOT)} is stale\nhint: run `make config-schema`",
                  file=sys.stderr)
            return 1
        return 0
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(text)
    print(f"wrote {SCHEMA_PATH.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
