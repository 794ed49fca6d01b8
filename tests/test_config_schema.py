"""schema/stack-config.schema.json: generated from the settings (not stale), valid, used by the stack files, and in
agreement with the parser: whatever the schema refuses, the parser refuses too."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components import settings as program_settings
from components.settings import vm as vm_settings
from preview import engine
from tests.conftest import REPO_ROOT
from tests.test_readme import documented_keys
from tools import config_schema

STACK_FILES = sorted((REPO_ROOT / "stacks").glob("Pulumi.*.yaml"))
SCHEMA: dict[str, Any] = json.loads(config_schema.SCHEMA_PATH.read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
PREFIX = f"{program_settings.PROJECT}:"


def test_checked_in_schema_is_not_stale() -> None:
    assert config_schema.SCHEMA_PATH.read_text() == config_schema.render_schema(), "run `make config-schema`"


def test_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_stack_files_point_editors_at_the_schema_and_satisfy_it(path: Path) -> None:
    text = path.read_text()
    assert text.splitlines()[0] == config_schema.MODELINE
    # The modeline is relative to the stack file: it must name the checked-in schema.
    target = (path.parent / config_schema.MODELINE.split("$schema=", 1)[1]).resolve()
    assert target == config_schema.SCHEMA_PATH
    assert not list(VALIDATOR.iter_errors(yaml.safe_load(text)))


def _node(path: str) -> dict[str, Any]:
    top, *rest = path.replace("[]", ".[]").split(".")
    node = SCHEMA["properties"]["config"]["properties"][PREFIX + top]
    for part in rest:
        node = node["items"] if part == "[]" else node["properties"][part]
    return node


def test_every_documented_key_is_in_the_schema_with_its_type_and_default() -> None:
    for key in documented_keys():
        assert "description" in _node(key) or "properties" in _node(key), key
    assert _node("network.vpcCidr")["default"] == "10.0.0.0/16"
    assert _node("network.plugin")["enum"] == ["flannel", "terway", None]
    assert _node("emqx.capacity.headroom")["maximum"] == 0.9
    assert _node("licenseKey")["required"] == ["secure"]


def test_load_test_runs_carry_their_types_ranges_patterns_and_required_keys() -> None:
    """Derived from the README rows of loadTest.runs[].*, as for every other key."""
    items = _node("loadTest.runs[]")
    assert items["required"] == ["connections", "name"]
    assert _node("loadTest.runs[].name")["pattern"] == "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    assert _node("loadTest.runs[].name")["maxLength"] == 40
    assert (_node("loadTest.runs[].durationSeconds")["minimum"],
            _node("loadTest.runs[].durationSeconds")["maximum"]) == (60, 86400)
    for rate in ("connectRate", "messageRate"):
        assert _node(f"loadTest.runs[].{rate}")["type"] == ["integer", "null"], rate
    assert _node("rebalance.runs[]")["required"] == ["connEvictRate", "name"]
    assert config_schema.type_schema("int /s") == {"type": "integer"}
    assert config_schema.type_schema("DNS label, at most 40")["maxLength"] == 40


_RUN = {"name": "one-thousand", "connections": 1000}


@pytest.mark.parametrize("run", [
    {"connections": 1000},  # no name
    {"name": "one-thousand"},  # no connections
    {**_RUN, "name": "One_Thousand"},
    {**_RUN, "name": "a" * 41},
    {**_RUN, "durationSeconds": 59},
    {**_RUN, "durationSeconds": 86401},
    {**_RUN, "connectRate": "fast"},
    {**_RUN, "messageRate": 1.5},
], ids=str)
def test_load_test_runs_the_schema_refuses_the_parser_refuses(run: dict[str, Any]) -> None:
    valid = copy.deepcopy(BASES["Pulumi.dev.yaml"])
    valid["config"][f"{PREFIX}loadTest"] = {"runs": [_RUN]}
    assert VALIDATOR.is_valid(valid) and not parser_refuses(valid)  # the premise: dev takes this run
    doc = copy.deepcopy(BASES["Pulumi.dev.yaml"])
    doc["config"][f"{PREFIX}loadTest"] = {"runs": [run]}
    assert not VALIDATOR.is_valid(doc), run
    assert parser_refuses(doc), run


# ------------------------------------------------------------------------------------ schema vs parser


def _leaves(node: dict[str, Any], path: str = "") -> Iterator[str]:
    if "properties" in node and "secure" not in node["properties"]:
        for name, child in node["properties"].items():
            yield from _leaves(child, f"{path}.{name}" if path else name)
    elif "items" in node and "properties" in node["items"]:
        yield from _leaves(node["items"], f"{path}[]")
    else:
        yield path


LEAVES = sorted(p for name, node in SCHEMA["properties"]["config"]["properties"].items()
                for p in _leaves(node, name.removeprefix(PREFIX)))
BASES = {p.name: cast(dict[str, Any], yaml.safe_load(p.read_text())) for p in STACK_FILES}


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    parts = path.replace("[]", ".[]").split(".")
    node: Any = doc["config"]
    key: Any = PREFIX + parts[0]
    for part in parts[1:]:
        if part == "[]":
            if not isinstance(node.get(key), list) or not node[key]:
                node[key] = [{}]
            node, key = node[key], 0
            continue
        if not isinstance(node[key] if isinstance(node, list) else node.get(key), dict):
            node[key] = {}
        node, key = node[key], part
    node[key] = value


def parser_refuses(doc: dict[str, Any]) -> bool:
    """Whether the settings parser refuses the stack file, read as the CLI hands it to the program."""
    config, secret_keys = engine.config_from_mapping(doc["config"])
    values = {(k.removeprefix(PREFIX) if k.startswith(PREFIX) else k):
              (program_settings._decode(v) if k.startswith(PREFIX) else v)  # pyright: ignore[reportPrivateUsage]
              for k, v in config.items()}
    secrets = {k.removeprefix(PREFIX) for k in secret_keys}
    try:
        program_settings.parse(values, stack="schema", secret_keys=secrets)
    except program_settings.ConfigError:
        return True
    return False


_SCALARS = (st.none() | st.booleans() | st.integers(-3, 3) | st.integers(-(10**9), 10**9)
            | st.floats(-1e6, 1e6, allow_nan=False) | st.text(max_size=12)
            | st.sampled_from(["10.0.0.0/8", "0.0.0.0/0", "cn-hangzhou-h", "true", "1", "nlb", "latest"]))
VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(sorted(BASES)), leaf=st.sampled_from(LEAVES), value=VALUES)
def test_what_the_schema_refuses_the_parser_refuses(base: str, leaf: str, value: Any) -> None:
    doc = copy.deepcopy(BASES[base])
    _set(doc, leaf, value)
    if not VALIDATOR.is_valid(doc):
        assert parser_refuses(doc), f"{leaf} = {value!r}: refused by the schema, accepted by the parser"


@settings(max_examples=60, deadline=None)
@given(base=st.sampled_from(sorted(BASES)), leaf=st.sampled_from(LEAVES), name=st.text("abcdefgxyz", min_size=3,
                                                                                         max_size=8))
def test_unknown_keys_are_refused_by_both(base: str, leaf: str, name: str) -> None:
    doc = copy.deepcopy(BASES[base])
    section = leaf.rsplit(".", 1)[0] if "." in leaf else None
    _set(doc, f"{section}.zz{name}" if section else f"zz{name}", 1)
    assert not VALIDATOR.is_valid(doc)
    assert parser_refuses(doc)


def test_shipped_stacks_are_accepted_by_both() -> None:
    for name, doc in BASES.items():
        assert VALIDATOR.is_valid(doc), name
        assert not parser_refuses(doc), name


# Sections and keys the parser refuses for the other target, a rule across keys the schema does not encode.
AWS_ONLY = ("cluster.admins", "cluster.logTypes", "cluster.logRetentionDays", "cluster.supportType",
            "network.natPerZone", "loadBalancer.crossZone")
# The README's default column holds Alibaba's default where aws's differs (stated in the meaning column).
ALICLOUD_ONLY = ("cloud.extraZones", "network.plugin", "network.podCidr", "cluster.spec", "cluster.nodeImage",
                 "cluster.allowUnlistedVersion", "cluster.apiServer.accessListBound", "cluster.kubernetesVersion",
                 "loadBalancer.scheduler", "nodePools.system.instanceTypes", "nodePools.system.diskCategory",
                 "nodePools.emqx.diskCategory", "nodePools.loadgen.instanceTypes", "nodePools.loadgen.diskCategory")
OTHER_TARGET_SECTIONS = {"alicloud": ("existing.", *AWS_ONLY), "aws": ("existing.", *ALICLOUD_ONLY),
                         "existing": ("cloud.", "network.", "nodePools.", "loadBalancer.", *AWS_ONLY)}
# Cross-field rules: the documented default is refused beside what this stack sets (prod: a licensed 5.10 cluster
# of 3 cores needs the enterprise edition, README: emqx.edition).
CROSS_FIELD = {("Pulumi.prod.yaml", "emqx.edition"), ("Pulumi.aws-prod.yaml", "emqx.edition"),
               ("Pulumi.vm-prod.yaml", "emqx.edition")}
# Keys of the other mode (README: mode): vm mode refuses what means nothing on VMs, kubernetes mode the vm section.
OTHER_MODE_SECTIONS = {"vm": ("mode", *vm_settings.VM_IGNORED), "kubernetes": ("vm.",)}


@pytest.mark.parametrize("base", sorted(BASES))
def test_documented_defaults_written_out_are_accepted(base: str) -> None:
    """The other direction, where it is decidable: a value the schema documents as the default, written out, is
    accepted wherever leaving the key out is (the same value), unless a rule across keys refuses it."""
    target = BASES[base]["config"][f"{PREFIX}target"]
    tried = 0
    for leaf in LEAVES:
        node = _node(leaf)
        if "[]" in leaf or "default" not in node or leaf.startswith(OTHER_TARGET_SECTIONS.get(target, ())):
            continue
        if (base, leaf) in CROSS_FIELD:
            continue
        mode = BASES[base]["config"].get(f"{PREFIX}mode", "kubernetes")
        if leaf.startswith(OTHER_MODE_SECTIONS[mode]):
            continue
        doc = copy.deepcopy(BASES[base])
        _set(doc, leaf, node["default"])
        assert VALIDATOR.is_valid(doc), leaf
        assert not parser_refuses(doc), f"{leaf}: its documented default {node['default']!r} is refused"
        tried += 1
    # 29: healthCheck.timeoutSeconds has no single literal default since aws derives it from the interval.
    assert tried >= 29
