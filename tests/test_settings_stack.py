"""components/settings/stack.py: the stack name, the top-level keys, the target, the tags and which sections a target
takes; components/settings/derive.py, what the sections decide together."""

from __future__ import annotations

from typing import Any

import pytest

from components.config_reader import Problems, Section
from components.settings import ConfigError
from components.settings.common import MAX_KEYS, MAX_TEXT
from components.settings.stack import (
    CLOUD_SECTIONS,
    bounds_problem,
    decode,
    drop_what_skipped_keys_caused,
    parse_tags,
    parse_target,
    read_top_level,
    stack_name_problem,
    target_scope_problems,
)


def keys(found: list[str]) -> list[str]:
    return [p.split(":", 1)[0] for p in found]


def root(values: dict[str, Any]) -> tuple[Section, Problems]:
    problems = Problems()
    return Section("", values, problems), problems


def test_stack_names_that_make_valid_cloud_names() -> None:
    assert stack_name_problem("prod") is None and stack_name_problem("a" * 24) is None
    for bad in ("", "a" * 25, "a_b", "-dev", 3):
        assert stack_name_problem(bad) is not None, bad


def test_the_top_level_splits_namespaces_and_refuses_what_is_not_read() -> None:
    top = read_top_level({"target": "alicloud", "alicloud:region": "cn-hangzhou", "emqx-platfrom:x": 1,
                          "licenseKey": "k", "bogus": 1}, stack="dev", secret_keys={"licenseKey"})
    assert top.values == {"target": "alicloud", "licenseKey": "k", "bogus": 1}
    assert top.provider_config == {"alicloud:region": "cn-hangzhou", "emqx-platfrom:x": 1}
    assert keys(top.problems.items) == ["emqx-platfrom", "emqx-platform"]
    assert "did you mean emqx-platform:x?" in top.problems.items[0]


def test_secrets_in_plain_text_and_secrets_where_none_belong() -> None:
    top = read_top_level({"licenseKey": "k", "emqx": {"name": "x"}}, stack="dev", secret_keys={"emqx"})
    assert keys(top.problems.items) == ["emqx", "licenseKey"]
    assert top.skipped == {"emqx"} and "emqx" not in top.values


def test_what_a_skipped_key_caused_is_dropped() -> None:
    top = read_top_level({"emqx": "x" * (MAX_TEXT + 1)}, stack="dev", secret_keys=set())
    assert keys(top.problems.items) == ["emqx"] and top.skipped == {"emqx"}
    top.problems.add("emqx.capacity", "is required", "set it")
    top.problems.add("cloud.region", "is required", "set it")
    drop_what_skipped_keys_caused(top)
    assert keys(top.problems.items) == ["emqx", "cloud.region"]


def test_a_bad_stack_name_or_too_many_keys_stop_at_once() -> None:
    with pytest.raises(ConfigError, match="stack name"):
        read_top_level({}, stack="a_b", secret_keys=set())
    with pytest.raises(ConfigError, match=f"{MAX_KEYS + 1:,} keys"):
        read_top_level({f"k{i}": i for i in range(MAX_KEYS + 1)}, stack="dev", secret_keys=set())


def test_values_are_decoded_and_measured() -> None:
    assert decode('{"a": [1, 2]}') == {"a": [1, 2]} and decode("true") is True and decode("12") == 12
    assert decode("cn-hangzhou") == "cn-hangzhou" and decode("{not json") == "{not json"
    assert bounds_problem({"a": [1, 2]}, secret=False) is None
    assert bounds_problem("x" * (MAX_TEXT + 1), secret=False) is not None
    assert bounds_problem("x" * (MAX_TEXT + 1), secret=True) is None


def test_the_target_is_required_and_one_of_the_known() -> None:
    section, problems = root({})
    assert parse_target(section) is None and keys(problems.items) == ["target"]
    section, problems = root({"target": "gcp"})
    assert parse_target(section) is None and keys(problems.items) == ["target"]
    section, problems = root({"target": "aws"})
    assert parse_target(section) == "aws" and problems.items == []


def test_tags_the_program_sets_and_the_clbs_limit() -> None:
    section, problems = root({"tags": {"stack": "x", "team": "iot"}})
    assert parse_tags(section, "alicloud") == (("stack", "x"), ("team", "iot"))
    assert keys(problems.items) == ["tags"] and "set by the program" in problems.items[0]
    eight = {f"t{i}": "v" for i in range(8)}
    section, problems = root({"tags": eight})
    parse_tags(section, "alicloud")
    assert keys(problems.items) == ["tags"] and "CLB accepts at most 10" in problems.items[0]
    section, problems = root({"tags": eight})
    parse_tags(section, "existing")
    assert problems.items == []


def test_sections_of_another_target_are_refused_whole() -> None:
    values: dict[str, Any] = {"target": "existing", "cloud": {"region": "x"}, "nodePools": {}}
    section, problems = root(values)
    section.accept(*values)
    target_scope_problems(section, values, "existing")
    section.finish()
    assert keys(problems.items) == ["cloud", "nodePools"] and set(CLOUD_SECTIONS) >= {"cloud", "nodePools"}
    values = {"target": "alicloud", "existing": {"context": "x"}}
    section, problems = root(values)
    target_scope_problems(section, values, "alicloud")
    assert keys(problems.items) == ["existing"]


def test_aws_tags_follow_aws_rules() -> None:
    # AWS: 50 tags per resource, the program sets up to 6; the aws: prefix is AWS's own; Name is set by the program.
    section, problems = root({"tags": {f"k{i}": "v" for i in range(45)}})
    parse_tags(section, "aws")
    assert keys(problems.items) == ["tags"] and "AWS allows 50" in problems.items[0]
    section, problems = root({"tags": {f"k{i}": "v" for i in range(44)}})
    parse_tags(section, "aws")
    assert problems.items == []
    section, problems = root({"tags": {"aws:owner": "x", "Name": "y"}})
    parse_tags(section, "aws")
    assert sorted(keys(problems.items)) == ["tags", "tags.aws"] or len(problems.items) == 2, problems.items
