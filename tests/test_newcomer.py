"""What confused a new user (issue 13, section 3), each point as the user met it.

Expected values come from the stack files (dev: 2 cores over 2 zones, open-source 5.8.9), EMQX's release tags and
release notes (cited in components/emqx_versions.py), the operator's blue-green rollout (both clusters side by
side at the peak) and the Makefile's own text.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from components import emqx_versions, sizing
from components.settings import ConfigError, parse
from components.zone_notes import split_over_zones, zone_notes
from preview import engine, writers
from preview.__main__ import main

if TYPE_CHECKING:
    from conftest import StackRunner

REPO = Path(__file__).resolve().parent.parent
NODE_POOL = "alicloud:cs/nodePool:NodePool"


def stack_values(name: str) -> dict[str, Any]:
    """A stack file's project settings as the program reads them (short keys, plain values)."""
    document = yaml.safe_load((REPO / "stacks" / f"Pulumi.{name}.yaml").read_text())
    return {k.split(":", 1)[1]: v for k, v in document["config"].items() if k.startswith("emqx-platform:")}


def problems(values: dict[str, Any], secret_keys: frozenset[str] = frozenset()) -> list[str]:
    with pytest.raises(ConfigError) as error:
        parse(values, stack="dev", secret_keys=secret_keys)
    return error.value.problems


def accepted(values: dict[str, Any], secret_keys: frozenset[str] = frozenset()) -> Any:
    return parse(values, stack="dev", secret_keys=secret_keys)


# -------------------------------------------------------------------------------------------- sizing


def big_target(values: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(values)
    changed["emqx"]["capacity"] = {"connections": 2_000_000, "messageRate": 2_000}
    return changed


def test_a_derived_node_count_never_blames_a_key_the_stack_does_not_set() -> None:
    values = big_target(stack_values("dev"))
    del values["emqx"]["cores"]
    found = problems(values)
    assert not any(p.startswith("emqx.cores") for p in found), found
    (message,) = [p for p in found if p.startswith("emqx")]
    assert message.startswith("emqx.capacity:")
    assert "nodePools.emqx.instanceTypes" in message and "emqx.edition: enterprise" in message


def test_the_sizing_fix_names_the_keys_and_never_a_count_the_settings_refuse() -> None:
    found = problems(big_target(stack_values("dev")))  # emqx.cores: 2 on open source, which stops at 3 nodes
    (message,) = [p for p in found if p.startswith("emqx")]
    assert "nodePools.emqx.instanceTypes" in message
    assert not re.search(r"set emqx\.cores to at least ([4-9]|[1-9][0-9])", message)


def test_each_suggested_fix_is_accepted_by_the_settings() -> None:
    values = big_target(stack_values("dev"))
    del values["emqx"]["cores"]
    # A larger instance type in nodePools.emqx.instanceTypes: the largest c7 carries 2M on 3 nodes or fewer.
    larger = copy.deepcopy(values)
    larger["nodePools"]["emqx"]["instanceTypes"] = ["ecs.c7.16xlarge"]
    larger["loadBalancer"] = {"type": "nlb", "addressType": "intranet"}
    assert accepted(larger).sizing.cores <= sizing.MAX_ALL_CORE_NODES
    # EMQX 5 Enterprise with replicants and a licence key.
    enterprise = copy.deepcopy(values)
    enterprise["emqx"] |= {"edition": "enterprise", "version": "5.8.9"}
    enterprise["licenseKey"] = "a-licence"
    enterprise["loadBalancer"] = {"type": "nlb", "addressType": "intranet"}
    plan = accepted(enterprise, frozenset({"licenseKey"})).sizing
    assert plan.cores == 3 and plan.replicants > 0


def test_production_is_never_told_to_use_one_node() -> None:
    values = stack_values("prod")
    values.pop("licenseKey", None)
    (message,) = [p for p in problems(values) if p.startswith("licenseKey")]
    assert "1 node" not in message
    dev = stack_values("dev")
    dev["emqx"] |= {"edition": "enterprise", "version": "5.10.3"}
    (message,) = [p for p in problems(dev) if p.startswith("licenseKey")]
    assert "or use 1 node" in message


# -------------------------------------------------------------------------------------------- target


@pytest.mark.parametrize("target", [None, "alicluod", 7])
def test_a_missing_or_invalid_target_is_the_only_problem_reported(target: object) -> None:
    values = stack_values("dev")
    if target is None:
        del values["target"]
    else:
        values["target"] = target
    values["kubeconfig"] = "apiVersion: v1"
    found = problems(values, frozenset({"kubeconfig"}))
    assert len(found) == 1 and found[0].startswith("target:"), found


def test_production_no_is_text_as_the_cli_reads_it_and_then_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Already so before issue 13 (preview/engine.py resolves YAML 1.2 core scalars only): kept as a regression test.
    text = (REPO / "stacks" / "Pulumi.dev.yaml").read_text().replace("production: false", "production: no")
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.dev.yaml").write_text(text)
    config, _ = engine.load_stack_config(stacks / "Pulumi.dev.yaml")
    assert config["emqx-platform:production"] == "no"
    assert main(["--stack", "dev", "--stacks-dir", str(stacks), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "production: must be true or false, got the text 'no'" in capsys.readouterr().err


# -------------------------------------------------------------------------------------------- versions


@pytest.mark.parametrize(("edition", "version"), [
    ("opensource", "5.8.9"), ("opensource", "5.7.2"), ("opensource", "5.1.1"),
    ("enterprise", "5.10.4"), ("enterprise", "5.9.3"), ("enterprise", "5.8.11"), ("enterprise", "5.8.5"),
    ("enterprise", "5.7.2"), ("enterprise", "4.4.14"), ("enterprise", "4.4.33"),
])
def test_released_versions_are_accepted(edition: str, version: str) -> None:
    release, found = emqx_versions.parse_release(edition, version, None)
    assert release is not None and found == []


@pytest.mark.parametrize(("edition", "version", "nearest"), [
    ("opensource", "5.8.99", "5.8.9"),
    ("opensource", "5.8.10", "5.8.9"),  # 5.8.10 exists as Enterprise only
    ("enterprise", "5.10.9", "5.10.4"),
    ("enterprise", "4.4.40", "4.4.33"),
    ("opensource", "5.2.5", "5.2.1 or 5.3.0"),
])
def test_an_unreleased_version_is_refused_with_the_nearest_released(edition: str, version: str, nearest: str) -> None:
    release, found = emqx_versions.parse_release(edition, version, None)
    assert release is None
    (message,) = found
    assert message.startswith("emqx.version:") and f"use {nearest}," in message
    assert emqx_versions.RELEASES_READ in message and "emqx.allowUnlistedVersion: true" in message


def test_the_override_lets_a_newer_release_through_the_settings() -> None:
    values = stack_values("dev")
    values["emqx"]["version"] = "5.8.99"
    assert any(p.startswith("emqx.version: 5.8.99 is not a released") for p in problems(values))
    values["emqx"]["allowUnlistedVersion"] = True
    assert accepted(values).emqx.release.image == "emqx/emqx:5.8.99"


# -------------------------------------------------------------------------------------------- zones


def test_zone_split_matches_the_node_pools_the_program_registers(run_stack: StackRunner) -> None:
    values = stack_values("dev")
    values["cloud"]["zones"] = ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"]
    rec = run_stack(values)
    at_rest = {}
    for pool in rec.by_type(NODE_POOL):
        name = pool.inputs["nodePoolName"]
        if "-emqx-" in name:
            at_rest[name.rsplit("-emqx-", 1)[1]] = pool.inputs["scalingConfig"]["minSize"]
    assert split_over_zones(2, 3) == [at_rest.get(z, 0) for z in values["cloud"]["zones"]] == [1, 1, 0]
    notes = [m for level, m in rec.diagnostics if level == "info" and m.startswith("zones: ")]
    (empty,) = [n for n in notes if "no EMQX node at rest" in n]
    assert empty.startswith("zones: cn-hangzhou-j get no EMQX node at rest")
    # The slot note lists each zone's node vSwitch CIDR as registered.
    (order,) = [n for n in notes if "zone order" in n]
    for switch in rec.by_type("alicloud:vpc/switch:Switch"):
        if "-nodes-" in switch.name:
            assert f"{switch.inputs['zoneId']} {switch.inputs['cidrBlock']}" in order


def test_zone_notes_are_quiet_when_every_zone_has_a_node() -> None:
    notes = zone_notes(["a-1", "a-2"], emqx_nodes=2, rollout_surge=2)
    assert notes == []
    notes = zone_notes(["a-1", "a-2", "a-3", "a-4"], emqx_nodes=2, rollout_surge=3, node_cidrs=["x", "y", "z", "w"])
    assert notes[0].startswith("a-3, a-4 get no EMQX node at rest (a-3 only during a rollout)")
    assert "a-1 x, a-2 y, a-3 z, a-4 w" in notes[1]


# -------------------------------------------------------------------------------------------- preview


def test_plan_json_carries_each_resources_options(tmp_path: Path) -> None:
    assert main(["--stack", "prod", "--out", str(tmp_path), "--quiet"]) == 0
    plan = json.loads((tmp_path / "prod" / "plan.json").read_text())
    by_name = {r["name"]: r for r in plan["resources"]}
    # prod is production: its cluster is protected (README, tearing down).
    assert by_name["emqx-prod-ack"]["options"]["protect"] is True
    assert set(by_name["emqx-prod-ack"]["options"]) == {"protect", "retainOnDelete", "deleteBeforeReplace",
                                                       "replaceOnChanges", "ignoreChanges", "aliases"}
    assert by_name["emqx-prod-nlb"]["options"]["protect"] is True
    # Security group rules are named by CIDR, with an alias to their old positional name (alicloud/network.py).
    rule = by_name["emqx-prod-mqtt-31883-10-0-0-0-8"]
    assert rule["options"]["aliases"] == [{"spec": {"name": "emqx-prod-mqtt-31883-0", "parentUrn": ""}}]


def test_plan_json_on_an_existing_cluster_retains_shared_releases(run_stack: StackRunner) -> None:
    rec = run_stack("local")
    plan = writers.plan_document(rec)
    releases = [r for r in plan["resources"] if r["type"] == "kubernetes:helm.sh/v3:Release"]
    assert releases and all(r["options"]["retainOnDelete"] is True for r in releases)


def test_the_printed_preview_shows_pool_sizes_and_labels_placeholders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--stack", "dev", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    # dev: 2 cores over 2 zones, one per zone; the operator's blue-green rollout runs both clusters at the peak.
    pools = [line for line in out.splitlines() if "alicloud:cs.NodePool  emqx-dev-emqx-" in line]
    assert len(pools) == 2 and all("nodes=1 (at rest; 2 at the rollout peak)" in line for line in pools)
    assert "node pools: system 2 nodes; emqx 2 nodes at rest, 4 at the rollout peak" in out
    for made_up in ("10.0.0.100", "emqx-dev-ack-id"):
        assert made_up not in out
    assert "cluster_id = <from the cloud>" in out and "mqtt://<from the cloud>:1883" in out
    # Outputs whole, not cut with "...".
    sizing_line = next(line for line in out.splitlines() if line.startswith("  sizing = "))
    assert json.loads(sizing_line.split(" = ", 1)[1])["cores"] == 2
    plan = json.loads((tmp_path / "dev" / "plan.json").read_text())
    assert {"10.0.0.100", "emqx-dev-ack-id"} <= set(plan["placeholders"]["values"])
    assert plan["outputs"]["cluster_id"] == "emqx-dev-ack-id"


def test_placeholders_are_labelled_only_as_whole_words() -> None:
    labelled = writers.label_placeholders({"a": "mqtt://10.0.0.100:1883", "b": ["10.0.0.10", "10.0.0.101"]},
                                          {"10.0.0.10", "10.0.0.100"})
    assert labelled == {"a": "mqtt://<from the cloud>:1883", "b": ["<from the cloud>", "10.0.0.101"]}


# -------------------------------------------------------------------------------------------- make


def test_the_first_install_shows_progress() -> None:
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("$(STAMP): ", 1)[1].split("\n\n", 1)[0]
    pip = next(line for line in recipe.splitlines() if "pip install" in line)
    assert "--quiet" not in pip and " -q" not in pip
    assert any(line.strip().startswith("@echo") for line in recipe.splitlines())


def test_readme_quick_start_names_every_apt_package_ci_installs() -> None:
    quick_start = (REPO / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    ci = (REPO / ".ci" / "run").read_text()
    for package in re.findall(r"need_apt\+=\(([a-z0-9-]+)\)", ci):
        assert f"`{package}`" in quick_start, package


def test_the_preview_never_replaces_or_removes_a_folder_it_did_not_write(tmp_path: Path) -> None:
    from preview.__main__ import main as preview_main

    out = tmp_path / "out"
    precious = out / "docs"
    precious.mkdir(parents=True)
    (precious / "operations.md").write_text("keep me\n", encoding="utf-8")
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    # A failed run (no such stack file) leaves the folder alone.
    assert preview_main(["--stack", "docs", "--stacks-dir", str(stacks), "--out", str(out), "--quiet"]) == 2
    assert (precious / "operations.md").read_text(encoding="utf-8") == "keep me\n"
    # A successful run refuses to replace it.
    (stacks / "Pulumi.docs.yaml").write_text((REPO / "stacks" / "Pulumi.local.yaml").read_text(encoding="utf-8"),
                                             encoding="utf-8")
    assert preview_main(["--stack", "docs", "--stacks-dir", str(stacks), "--out", str(out), "--quiet"]) == 2
    assert (precious / "operations.md").read_text(encoding="utf-8") == "keep me\n"
    # Its own output it replaces, and removes after a failure.
    assert preview_main(["--stack", "local", "--stacks-dir", str(REPO / "stacks"), "--out", str(out), "--quiet"]) == 0
    assert (out / "local" / "plan.json").is_file()
    assert preview_main(["--stack", "local", "--stacks-dir", str(REPO / "stacks"), "--out", str(out), "--quiet"]) == 0
    assert preview_main(["--stack", "local", "--stacks-dir", str(stacks), "--out", str(out), "--quiet"]) == 2
    assert not (out / "local").exists()
