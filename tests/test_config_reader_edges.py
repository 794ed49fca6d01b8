"""The config reader's edges a user meets: each refusal names the key, the wrong value and the fix to write; sizes are
refused one past their limit, not at it; long problems keep both ends. Pure: Section and Problems only."""

from __future__ import annotations

import re
from typing import Any

import pytest

from components.config_reader import MAX_ITEMS, PROBLEM_LIMIT, Problems, Section, key_text, suggest


def _read(raw: dict[str, Any], key: str = "top") -> tuple[Section, Problems]:
    problems = Problems()
    return Section(key, raw, problems), problems


def _fix(problem: str) -> str:
    """The fix part of a problem line ("key: what; fix")."""
    assert "; " in problem, problem
    return problem.split("; ", 1)[1]


# --- the fix a refusal names is the one to write (the default hint of each getter) --------------------------------


@pytest.mark.parametrize(("getter", "args", "raw", "fix"), [
    ("string", {"required": True}, None, "set it in the stack config"),
    ("string", {}, 5, "quote the value"),
    ("integer", {"required": True}, None, "set a whole number"),
    ("integer", {}, "5", "write it without quotes"),
    ("integer", {"minimum": 6}, 5, "use at least 6"),
    ("integer", {"maximum": 4}, 5, "use at most 4"),
    ("boolean", {"default": False}, "yes", "write true or false"),
    ("strings", {}, "a", "write a YAML list"),
    ("strings", {"min_items": 2}, None, "list at least 2 value(s)"),
    ("mapping", {}, "a", "write a YAML mapping"),
    ("items", {}, "a", "write a YAML list"),
    ("cidr", {"default": "10.0.0.0/8"}, "10.0.0/8x", "write it as a.b.c.d/n, e.g. 10.0.0.0/16"),
])
def test_each_refusal_names_the_fix_to_write(getter: str, args: dict[str, Any], raw: object, fix: str) -> None:
    section, problems = _read({"k": raw} if raw is not None else {})
    getattr(section, getter)("k", **args)
    (problem,) = problems.items
    assert problem.startswith("top.k: ") and _fix(problem) == fix


def test_a_hint_given_by_the_caller_replaces_the_generic_fix() -> None:
    section, problems = _read({"n": 99, "s": "x!"})
    section.integer("n", maximum=10, hint="lower emqx.cores")
    section.string("s", pattern="[a-z]+", hint="use lower-case letters")
    section.string("r", required=True, hint="set the region")
    assert [_fix(p) for p in problems.items] == ["lower emqx.cores", "use lower-case letters", "set the region"]


def test_a_section_that_is_not_an_object_says_to_write_a_mapping_and_is_read_as_empty() -> None:
    section, problems = _read(["a"])  # type: ignore[arg-type]
    assert section.integer("x", 3) == 3 and not section.has("x")
    (problem,) = problems.items
    assert problem.startswith("top: must be an object, got a list") and _fix(problem) == "write it as a YAML mapping"


def test_a_required_subsection_is_reported_with_the_command_that_sets_it() -> None:
    root, problems = _read({}, key="")
    root.section("cloud", required=True)
    root.section("network")  # optional: nothing to report
    (problem,) = problems.items
    assert problem == "cloud: is required but not set; set it with `pulumi config set --path cloud...`"


def test_a_present_subsection_is_read_and_its_keys_are_full_paths() -> None:
    root, problems = _read({"cloud": {"zones": "x"}}, key="")
    cloud = root.section("cloud", required=True)
    assert cloud.present and cloud.strings("zones") == ()
    assert [p.split(":")[0] for p in problems.items] == ["cloud.zones"]


# --- list and map sizes: the limit is accepted, one more refused with both numbers ---------------------------------


@pytest.mark.parametrize("getter", ["strings", "items"])
def test_a_list_at_the_item_limit_is_read_and_one_more_is_refused(getter: str) -> None:
    at_limit = [f"v{i}" for i in range(MAX_ITEMS)] if getter == "strings" else [{} for _ in range(MAX_ITEMS)]
    section, problems = _read({"k": at_limit})
    assert len(getattr(section, getter)("k")) == MAX_ITEMS and problems.items == []
    section, problems = _read({"k": [*at_limit, at_limit[0] if getter == "items" else "extra"]})
    assert len(getattr(section, getter)("k")) == 0
    (problem,) = problems.items
    assert problem.startswith(f"top.k: has {MAX_ITEMS + 1:,} items") and _fix(problem) == f"list at most {MAX_ITEMS}"


def test_a_map_at_the_entry_limit_is_read_and_one_more_is_refused() -> None:
    at_limit = {f"k{i}": "v" for i in range(MAX_ITEMS)}
    section, problems = _read({"m": at_limit})
    assert len(section.mapping("m")) == MAX_ITEMS and problems.items == []
    section, problems = _read({"m": {**at_limit, "one-more": "v"}})
    assert section.mapping("m") == {}
    (problem,) = problems.items
    assert problem.startswith(f"top.m: has {MAX_ITEMS + 1:,} entries") and _fix(problem) == f"set at most {MAX_ITEMS}"


def test_every_duplicate_of_a_list_is_named_in_order() -> None:
    section, problems = _read({"zones": ["b", "a", "b", "c", "a"]})
    assert section.strings("zones") == ("b", "a", "b", "c", "a")  # reported, still read
    (problem,) = problems.items
    assert problem == "top.zones: lists 'a', 'b' more than once; list each value once"


# --- maps of text: the entry's own key, its wrong value, and syntax rules only where asked -------------------------


def test_a_map_entry_that_is_not_text_names_the_entry_and_the_type_it_got() -> None:
    section, problems = _read({"labels": {"team": 5, "app": "emqx"}})
    assert section.string_map("labels") == (("app", "emqx"),)
    (problem,) = problems.items
    assert problem == "top.labels.team: must be text, got a number; quote the value"


def test_a_plain_text_map_applies_no_label_or_tag_syntax() -> None:
    # Annotations and the like: any text key and value, even ones a label or a tag would refuse.
    entries = {"acs:owner": "https://example.com", "Example.com/Name": "-x-"}
    section, problems = _read({"m": entries})
    assert section.string_map("m") == tuple(sorted(entries.items())) and problems.items == []


def test_a_bad_label_key_is_echoed_in_the_problem() -> None:
    section, problems = _read({"labels": {"-bad-key": "v"}})
    assert section.string_map("labels", kind="label") == ()
    (problem,) = problems.items
    assert problem.startswith("top.labels.-bad-key: '-bad-key' is not a Kubernetes label key; use [prefix/]name")


def test_a_bad_label_value_is_echoed_with_the_rule() -> None:
    section, problems = _read({"labels": {"team": "-core"}})
    section.string_map("labels", kind="label")
    (problem,) = problems.items
    assert problem.startswith("top.labels.team: '-core' is not a Kubernetes label value")
    assert "63" in _fix(problem) and "alphanumeric at the ends" in _fix(problem)


# --- keys and long problems as shown ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "text"), [
    ("acceptors", "acceptors"),
    ("", "''"),  # an empty key would otherwise vanish from "top.: ..."
    ("a\nb", "'a\\nb'"),
    ("x" * 60, "x" * 60),
    ("x" * 61, repr("x" * 60) + "... (61 characters)"),
])
def test_a_key_is_shown_as_is_only_when_short_printable_and_not_empty(key: str, text: str) -> None:
    assert key_text(key) == text


def test_an_empty_unknown_key_is_still_visible() -> None:
    section, problems = _read({"": 1})
    section.integer("x")
    section.finish()
    (problem,) = problems.items
    assert problem.startswith("top.'': is not a known setting")


def test_a_long_problem_keeps_its_key_and_its_fix_and_says_how_much_was_cut() -> None:
    problems = Problems()
    what = "x" * 2_000
    problems.add("emqx.cores", what, "use at most 8")
    (line,) = problems.items
    full = f"emqx.cores: {what}; use at most 8"
    half = PROBLEM_LIMIT // 2
    assert line.startswith(full[:half]) and line.endswith(full[-half:])
    cut = re.search(r"\[\.\.\. ([0-9,]+) characters cut \.\.\.\]", line)
    assert cut is not None and int(cut.group(1).replace(",", "")) == len(full) - PROBLEM_LIMIT
    assert len(line) < PROBLEM_LIMIT + 40


def test_a_problem_at_the_length_limit_is_not_cut() -> None:
    problems = Problems()
    problems.add("k", "y" * (PROBLEM_LIMIT - len("k: ; fix")), "fix")
    (line,) = problems.items
    assert len(line) == PROBLEM_LIMIT and "cut" not in line


def test_a_misspelt_value_gets_the_single_closest_choice() -> None:
    assert suggest("opensourse", ["enterprise", "opensource"]) == "opensource"
    assert suggest("zzz", ["enterprise", "opensource"]) is None
