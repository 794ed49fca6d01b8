"""tools/plan_diff.py: the Markdown a reviewer reads, from two hand-made plans."""

from __future__ import annotations

import base64
import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tools import plan_diff
from tools.plan_diff import Plan

SWITCH = "alicloud:vpc/switch:Switch"
VPC = "alicloud:vpc/network:Network"


def _resource(type_: str, name: str, inputs: dict[str, Any], protect: bool = False) -> dict[str, Any]:
    return {"type": type_, "name": name, "parent": None, "dependencies": [], "options": {"protect": protect},
            "inputs": inputs}


def _user_data(script: str) -> str:
    return base64.b64encode(script.encode()).decode()


BASE = Plan(
    document={
        "resources": [
            _resource(VPC, "vpc", {"cidrBlock": "10.20.0.0/16"}, protect=True),
            _resource(SWITCH, "sw-h", {"cidrBlock": "10.20.0.0/18", "zoneId": "cn-hangzhou-h"}),
            _resource(plan_diff.CLUSTER, "ack", {"version": "1.35.7-aliyun.1", "podCidr": "172.20.0.0/16"},
                      protect=True),
            _resource(plan_diff.NODE_POOL, "emqx-h", {"instanceTypes": ["ecs.c7.16xlarge"],
                                                       "preUserData": _user_data("#!/bin/bash\nfs.file-max 1\n")}),
            _resource(plan_diff.EMQX, "emqx", {"spec": {"image": "emqx/emqx:5.8.9", "coreTemplate": {
                "spec": {"replicas": 3}}}}),
            _resource("kubernetes:core/v1:Secret", "secrets", {"stringData": {"license-key": "[secret]"}}),
            _resource("kubernetes:core/v1:Namespace", "ns", {"metadata": {"name": "emqx"}}),
        ],
        "outputs": {"sizing": {"cores": 3, "replicants": 2}},
    },
    files={"manifests/emqx-emqx-emqx.yaml": "spec:\n  image: emqx/emqx:5.8.9\n"},
)


def _head() -> Plan:
    head = copy.deepcopy(BASE)
    resources = {r["name"]: r for r in head.document["resources"]}
    resources["sw-h"]["inputs"]["cidrBlock"] = "10.20.0.0/19"
    resources["ack"]["inputs"]["version"] = "1.34.3-aliyun.1"
    resources["emqx-h"]["inputs"]["preUserData"] = _user_data("#!/bin/bash\nfs.file-max 2\n")
    resources["emqx"]["inputs"]["spec"]["image"] = "emqx/emqx:5.10.3"
    resources["secrets"]["inputs"]["stringData"]["license-key"] = "hunter2-plain"
    head.document["resources"] = [r for r in head.document["resources"] if r["name"] != "vpc"]
    head.document["resources"].append(_resource("kubernetes:core/v1:ConfigMap", "acl", {"data": {"a": "b"}}))
    head.document["outputs"]["sizing"]["replicants"] = 3
    head.files["manifests/emqx-emqx-emqx.yaml"] = "spec:\n  image: emqx/emqx:5.10.3\n"
    head.files["user-data/emqx-h.pre-user-data.sh"] = "#!/bin/bash\n"
    return head


def test_added_removed_and_changed_resources_are_listed() -> None:
    text = plan_diff.render("prod", "main", BASE, _head())
    assert text.startswith(plan_diff.COMMENT_MARKER)
    assert "**1 added, 1 removed, 5 changed**" in text
    assert "- `kubernetes:core/v1:ConfigMap::acl`" in text.split("### Added", 1)[1].split("###", 1)[0]
    assert f"- `{VPC}::vpc`" in text.split("### Removed", 1)[1].split("###", 1)[0]
    assert "| `cidrBlock` | `10.20.0.0/18` | `10.20.0.0/19` |" in text
    assert "| `sizing.replicants` | `2` | `3` |" in text
    assert "Namespace::ns" not in text  # unchanged


def test_warnings_a_reviewer_must_not_miss() -> None:
    warnings = plan_diff.changes(BASE, _head())[3]
    joined = "\n".join(warnings)
    assert f"replaces `{SWITCH}::sw-h`: `cidrBlock`" in joined
    assert "downgrades" in joined and "1.34.3-aliyun.1" in joined
    assert "rolls EMQX's pods" in joined and "image" in joined
    assert "replaces the nodes of" in joined and "preUserData" in joined
    assert f"removes `{VPC}::vpc`, which is `protect`ed" in joined
    assert f"changes `{plan_diff.CLUSTER}::ack`, which is `protect`ed" in joined
    # An upgrade and a change outside the table are not flagged.
    head = copy.deepcopy(BASE)
    for r in head.document["resources"]:
        if r["name"] == "ack":
            r["inputs"]["version"] = "1.36.1-aliyun.1"
        if r["name"] == "ns":
            r["inputs"]["metadata"]["labels"] = {"a": "b"}
    assert [w for w in plan_diff.changes(BASE, head)[3] if "downgrade" in w or "Namespace" in w] == []


def test_secrets_are_masked_even_when_the_plan_holds_plain_text() -> None:
    text = plan_diff.render("prod", "main", BASE, _head())
    assert "hunter2" not in text


def test_long_values_and_files_are_unified_diffs() -> None:
    text = plan_diff.render("prod", "main", BASE, _head())
    # The base64 user data is decoded for the reader.
    assert "-fs.file-max 1\n+fs.file-max 2" in text
    assert "-  image: emqx/emqx:5.8.9\n+  image: emqx/emqx:5.10.3" in text
    assert "+++ b/user-data/emqx-h.pre-user-data.sh" in text


def test_manifest_numbers_do_not_rename_files(tmp_path: Path) -> None:
    out = tmp_path / "s"
    (out / "manifests").mkdir(parents=True)
    (out / "manifests" / "07-emqx-emqx-emqx.yaml").write_text("x\n")
    (out / "plan.json").write_text('{"resources": [], "outputs": {}}')
    assert list(plan_diff.read_plan(out).files) == ["manifests/emqx-emqx-emqx.yaml"]


def test_no_change_and_a_failing_head_are_said_plainly(tmp_path: Path) -> None:
    assert "No change to the plan." in plan_diff.render("dev", "main", BASE, copy.deepcopy(BASE))
    missing = plan_diff.preview(REPO_ROOT, "no-such-stack", tmp_path)
    assert missing.error and "no stacks/Pulumi.no-such-stack.yaml" in missing.error
    assert "fails" in plan_diff.render("x", "main", BASE, missing)
    assert "everything below is shown as added" in plan_diff.render("dev", "main", missing, BASE)


def test_the_real_preview_of_a_stack_diffs_clean_against_itself(tmp_path: Path) -> None:
    plan = plan_diff.preview(REPO_ROOT, "local", tmp_path)
    assert plan.error is None and plan.document["resources"] and plan.files
    assert "No change to the plan." in plan_diff.render("local", "HEAD", plan, copy.deepcopy(plan))


WORKFLOW = REPO_ROOT / ".github" / "workflows" / "plan-diff.yml"


def test_workflow_needs_no_secrets_and_runs_for_forks() -> None:
    text = WORKFLOW.read_text()
    workflow = yaml.safe_load(text)
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"pull_request"}  # never pull_request_target: a fork's code never sees a write token
    assert "secrets." not in text
    assert workflow["permissions"] == {}
    job = workflow["jobs"]["plan-diff"]
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "make --no-print-directory diff" in text and plan_diff.COMMENT_MARKER in text


def test_workflow_passes_zizmor_offline() -> None:
    zizmor = Path(sys.executable).parent / "zizmor"
    run = subprocess.run([str(zizmor), "--offline", "--no-progress", str(WORKFLOW)], capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr


SECRET_MANIFEST = """apiVersion: v1
kind: Secret
metadata:
  name: emqx-secrets
stringData:
  license-key: {licence}
data:
  dashboard-password: {password}
type: Opaque
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: acl
data:
  acl.conf: allow all
"""


def test_secret_data_in_manifests_is_masked(tmp_path: Path) -> None:
    """The unified diff of manifests masks a Secret's values as the input table does (plain or base64)."""
    base, head = copy.deepcopy(BASE), copy.deepcopy(BASE)
    password = base64.b64encode(b"hunter2-plain").decode()
    base.files["manifests/secret-emqx-emqx-secrets.yaml"] = SECRET_MANIFEST.format(licence="old-licence-text",
                                                                                   password=password)
    head.files["manifests/secret-emqx-emqx-secrets.yaml"] = SECRET_MANIFEST.format(licence="new-licence-text",
                                                                                   password=password + "x")
    head.files["manifests/configmap-emqx-acl.yaml"] = "kind: ConfigMap\ndata:\n  acl.conf: deny all\n"
    text = plan_diff.render("prod", "main", base, head)
    assert "licence-text" not in text and password not in text
    assert "+  acl.conf: deny all" in text  # other manifests are diffed as they are
    # Files read from the preview's folder are masked too, a List's items included.
    out = tmp_path / "s"
    (out / "manifests").mkdir(parents=True)
    (out / "plan.json").write_text('{"resources": [], "outputs": {}}')
    listed = {"apiVersion": "v1", "kind": "List", "items": [yaml.safe_load(SECRET_MANIFEST.split("---")[0].format(
        licence="listed-licence", password=password))]}
    (out / "manifests" / "03-list.yaml").write_text(yaml.safe_dump(listed))
    read = plan_diff.read_plan(out).files["manifests/list.yaml"]
    assert "listed-licence" not in read and password not in read and plan_diff.SECRET_TEXT in read


def test_a_bad_base_ref_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan_diff.main(["--stack", "local", "--base", "no-such-ref-0123456789"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot check out --base no-such-ref-0123456789")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
