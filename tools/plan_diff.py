"""`make diff STACK=<name> BASE=<git ref>`: what a pull request changes in a stack, as review-ready Markdown.

Renders the offline plan (python -m preview) of the stack at BASE (a git worktree in a temporary directory) and in
the working tree, and prints: resources added, removed and changed (input by input, secrets masked), Kubernetes
manifests and node user data as unified diffs, the stack outputs (sizing) before and after, and warnings for what a
reviewer must not miss: an input the cloud cannot change in place (the resource is replaced), a change that rolls
EMQX's pods, a change to a `protect`ed resource. No CLI, no cloud, no credentials.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import difflib
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
SECRET_TEXT = "[secret]"  # preview/engine.py SECRET_TEXT: what the offline plan shows for a Pulumi secret
COMMENT_MARKER = "<!-- emqx-platform plan-diff -->"
# Values longer than this (scripts, base64 user data, EMQX config text) are shown as a unified diff, not inline.
INLINE_LIMIT = 120

# Inputs the cloud cannot change in place: a change replaces the resource (delete and create, a new id and address).
# From the Terraform provider the Pulumi provider bridges (aliyun/terraform-provider-alicloud, `ForceNew: true` in
# alicloud/resource_alicloud_vswitch.go, resource_alicloud_cs_managed_kubernetes.go,
# resource_alicloud_cs_kubernetes_node_pool.go, resource_alicloud_slb_load_balancer.go,
# resource_alicloud_nlb_load_balancer.go, resource_alicloud_security_group_rule.go, resource_alicloud_slb_listener.go).
REPLACED_BY: dict[str, tuple[str, ...]] = {
    "alicloud:vpc/switch:Switch": ("cidrBlock", "zoneId", "vpcId"),
    "alicloud:cs/managedKubernetes:ManagedKubernetes": ("podCidr", "serviceCidr", "nodeCidrMask", "proxyMode",
                                                        "clusterDomain", "ipStack", "profile"),
    "alicloud:cs/nodePool:NodePool": ("clusterId", "securityGroupIds", "securityGroupId", "type",
                                      "deploymentSetId", "ramRoleName"),
    "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer": ("addressType", "address", "addressIpVersion",
                                                                     "vswitchId", "masterZoneId", "slaveZoneId",
                                                                     "resourceGroupId"),
    "alicloud:nlb/loadBalancer:LoadBalancer": ("loadBalancerType", "vpcId", "addressIpVersion",
                                               "bandwidthPackageId", "paymentType"),
    "alicloud:ecs/securityGroupRule:SecurityGroupRule": ("securityGroupId", "type", "ipProtocol", "policy",
                                                         "priority", "cidrIp", "sourceSecurityGroupId", "portRange",
                                                         "nicType", "prefixListId"),
    "alicloud:slb/listener:Listener": ("loadBalancerId", "frontendPort", "backendPort", "protocol"),
}
CLUSTER = "alicloud:cs/managedKubernetes:ManagedKubernetes"
NODE_POOL = "alicloud:cs/nodePool:NodePool"
EMQX = "kubernetes:apps.emqx.io/v2beta1:EMQX"
# What rolls EMQX's pods: the operator replaces pods on a change of the image or the pod templates
# (apps.emqx.io/v2beta1 EMQX spec.coreTemplate / spec.replicantTemplate); a node pool with updateNodes replaces its
# nodes on a change of their image, type, user data or kubelet settings, evicting the EMQX pods on them.
EMQX_ROLLING = ("spec.image", "spec.coreTemplate", "spec.replicantTemplate")
NODE_ROLLING = ("instanceTypes", "imageType", "preUserData", "userData", "kubeletConfiguration", "systemDiskCategory",
                "systemDiskSize", "dataDisks", "runtimeVersion")
_SECRET_TYPES = ("kubernetes:core/v1:Secret",)


@dataclass
class Plan:
    """One side of the diff: the plan document and the files the preview wrote beside it."""

    document: dict[str, Any] = field(default_factory=lambda: {"resources": [], "outputs": {}})
    files: dict[str, str] = field(default_factory=dict)  # manifests/<name>, user-data/<name> -> text
    error: str | None = None


# ------------------------------------------------------------------------------------------- rendering plans


def _mask_secret_objects(value: Any) -> bool:
    """Every Kubernetes Secret in the value (a manifest, or a List's items) with its data values masked in place;
    True when one was found."""
    found = False
    if isinstance(value, dict):
        obj = cast(dict[str, Any], value)
        if obj.get("kind") == "Secret":
            found = True
            for section in ("data", "stringData"):
                if isinstance(obj.get(section), dict):
                    obj[section] = {k: SECRET_TEXT for k in cast(dict[str, Any], obj[section])}
        for v in obj.values():
            found = _mask_secret_objects(v) or found
    elif isinstance(value, list):
        for v in cast(list[Any], value):
            found = _mask_secret_objects(v) or found
    return found


def mask_manifest(text: str) -> str:
    """The manifest with every Secret's data/stringData values shown as [secret], as the input table shows them:
    the diff is posted where anyone can read it, and base64 `data` is plain text to anyone who decodes it."""
    if "Secret" not in text:
        return text
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return f"(a manifest that cannot be read as YAML and may hold a Secret: not shown, {len(text)} characters)\n"
    if not _mask_secret_objects(documents):
        return text
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False, allow_unicode=True)


def read_plan(out_dir: Path) -> Plan:
    files: dict[str, str] = {}
    for folder in ("manifests", "user-data"):
        for path in sorted((out_dir / folder).glob("*")) if (out_dir / folder).is_dir() else []:
            # The preview numbers manifests in apply order: without the number, adding one does not rename the rest.
            text = path.read_text()
            files[f"{folder}/{re.sub(r'^[0-9]+-', '', path.name)}"] = mask_manifest(text) if folder == "manifests" \
                else text
    return Plan(json.loads((out_dir / "plan.json").read_text()), files)


def preview(root: Path, stack: str, out: Path) -> Plan:
    """The offline plan of `stack` as the code and stack file under `root` produce it."""
    if not (root / "stacks" / f"Pulumi.{stack}.yaml").is_file():
        return Plan(error=f"no stacks/Pulumi.{stack}.yaml at this revision")
    run = subprocess.run([sys.executable, "-m", "preview", "--stack", stack, "--out", str(out), "--quiet"],
                         cwd=root, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        return Plan(error=(run.stderr.strip() or run.stdout.strip() or f"exit {run.returncode}")[-2000:])
    return read_plan(out / stack)


def preview_at(ref: str, stack: str, scratch: Path) -> Plan:
    """The offline plan at a git ref: a detached worktree in `scratch`, removed afterwards."""
    tree = scratch / "base"
    subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach", "--quiet", str(tree), ref],
                   check=True, capture_output=True, text=True)
    try:
        return preview(tree, stack, scratch / "base-out")
    finally:
        subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(tree)],
                       check=False, capture_output=True)


# -------------------------------------------------------------------------------------------- comparing plans


def _key(resource: Mapping[str, Any]) -> str:
    return f"{resource['type']}::{resource['name']}"


def flatten(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, leaf) pairs; lists indexed as [i]."""
    if isinstance(value, Mapping) and value:
        for k, v in cast(Mapping[str, Any], value).items():
            yield from flatten(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list) and value:
        for i, v in enumerate(cast(list[Any], value)):
            yield from flatten(v, f"{path}[{i}]")
    else:
        yield path, value


def _masked(resource_type: str, path: str, value: Any) -> Any:
    # A Secret's data is shown as [secret] whatever the plan holds: the diff is posted where anyone can read it.
    if resource_type in _SECRET_TYPES and path.split(".", 1)[0] in ("data", "stringData"):
        return SECRET_TEXT
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _decoded(value: str) -> str:
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return value
    return text if text.isprintable() or "\n" in text else value


def unified(before: str, after: str, name: str) -> str:
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 f"a/{name}", f"b/{name}", n=2)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _starts(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith((p + ".", p + "[")) for p in prefixes)


def _version(text: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"[0-9]+", str(text).split("-", 1)[0]))


@dataclass
class Change:
    key: str
    type: str
    inputs: list[tuple[str, Any, Any]]  # path, before, after (masked)
    options: list[tuple[str, Any, Any]]


def changes(base: Plan, head: Plan) -> tuple[list[str], list[str], list[Change], list[str]]:
    """(added, removed, changed, warnings) between two plans."""
    before = {_key(r): r for r in base.document["resources"]}
    after = {_key(r): r for r in head.document["resources"]}
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed: list[Change] = []
    warnings: list[str] = []
    for key in removed:
        if (before[key].get("options") or {}).get("protect"):
            warnings.append(f"removes `{key}`, which is `protect`ed: `pulumi up` refuses until protect is lifted")
    for key in sorted(set(before) & set(after)):
        old, new = before[key], after[key]
        kind = str(new["type"])
        left, right = dict(flatten(old.get("inputs") or {})), dict(flatten(new.get("inputs") or {}))
        diffs = [(p, _masked(kind, p, left.get(p)), _masked(kind, p, right.get(p)))
                 for p in sorted(set(left) | set(right)) if left.get(p) != right.get(p)]
        lo, ro = old.get("options") or {}, new.get("options") or {}
        option_diffs = [(p, lo.get(p), ro.get(p)) for p in sorted(set(lo) | set(ro)) if lo.get(p) != ro.get(p)]
        if not diffs and not option_diffs:
            continue
        changed.append(Change(key, kind, diffs, option_diffs))
        paths = [p for p, _, _ in diffs]
        forcing = sorted({p for p in paths if _starts(p, REPLACED_BY.get(kind, ()))})
        if forcing:
            warnings.append(f"replaces `{key}`: {', '.join(f'`{p}`' for p in forcing)} cannot change in place "
                            "(a new resource, a new id and address)")
        if kind == CLUSTER and "version" in paths and _version(right.get("version")) < _version(left.get("version")):
            warnings.append(f"downgrades `{key}` from {left.get('version')} to {right.get('version')}: ACK upgrades "
                            "only, never downgrades")
        if kind == EMQX and any(_starts(p, EMQX_ROLLING) for p in paths):
            warnings.append(f"rolls EMQX's pods: `{key}` changes "
                            f"{', '.join(sorted({p.split('.')[1] for p in paths if _starts(p, EMQX_ROLLING)}))}")
        if kind == NODE_POOL and any(_starts(p, NODE_ROLLING) for p in paths):
            rolled = sorted({re.split(r"[.\[]", p)[0] for p in paths if _starts(p, NODE_ROLLING)})
            warnings.append(f"replaces the nodes of `{key}` ({', '.join(rolled)}), which rolls the EMQX pods on them")
        if lo.get("protect") or ro.get("protect"):
            warnings.append(f"changes `{key}`, which is `protect`ed")
    return added, removed, changed, warnings


def _cell(value: Any) -> str:
    if value is None:
        return "(unset)"
    text = _text(value).replace("|", "\\|").replace("\n", " ")
    return f"`{text}`"


def render(stack: str, base_ref: str, base: Plan, head: Plan) -> str:
    out = [COMMENT_MARKER, f"## Offline plan diff: stack `{stack}` (`{base_ref}` -> this change)", ""]
    if head.error:
        return "\n".join([*out, "The offline preview of this change fails:", "", "```", head.error, "```", ""])
    if base.error:
        out += [f"No plan at `{base_ref}` ({base.error.splitlines()[-1]}): everything below is shown as added.", ""]
    added, removed, changed, warnings = changes(base, head)
    out.append(f"**{len(added)} added, {len(removed)} removed, {len(changed)} changed** "
               f"({len(head.document['resources'])} resources in all)")
    out.append("")
    if warnings:
        out += ["### Warnings", "", *[f"- {w}" for w in warnings], ""]
    if added:
        out += ["### Added", "", *[f"- `{k}`" for k in added], ""]
    if removed:
        out += ["### Removed", "", *[f"- `{k}`" for k in removed], ""]
    long_diffs: list[str] = []
    if changed:
        out += ["### Changed", ""]
        for change in changed:
            out += [f"#### `{change.key}`", "", "| input | before | after |", "|---|---|---|"]
            for path, old, new in change.inputs:
                # Scripts, user data (base64, decoded for the reader) and config text read best as a diff.
                if any(len(_text(v)) > INLINE_LIMIT or "\n" in _decoded(_text(v)) for v in (old, new)):
                    out.append(f"| `{path}` | (long value) | (see the diff below) |")
                    long_diffs.append(unified(_decoded(_text(old)) if old is not None else "",
                                              _decoded(_text(new)) if new is not None else "",
                                              f"{change.key}/{path}"))
                else:
                    out.append(f"| `{path}` | {_cell(old)} | {_cell(new)} |")
            for path, old, new in change.options:
                out.append(f"| option `{path}` | {_cell(old)} | {_cell(new)} |")
            out.append("")
    if long_diffs:
        out += ["### Long values", "", "```diff", *[d.rstrip("\n") for d in long_diffs], "```", ""]
    # Masked here too, not only where the files are read: a Plan built any other way never shows a Secret's data.
    before_files = {n: mask_manifest(t) if n.startswith("manifests/") else t for n, t in base.files.items()}
    after_files = {n: mask_manifest(t) if n.startswith("manifests/") else t for n, t in head.files.items()}
    file_diffs = [unified(before_files.get(name, ""), after_files.get(name, ""), name)
                  for name in sorted(set(before_files) | set(after_files))
                  if before_files.get(name) != after_files.get(name)]
    if file_diffs:
        out += ["### Manifests and user data", "", "```diff", *[d.rstrip("\n") for d in file_diffs], "```", ""]
    outputs = [(p, o, n) for p, o, n in _output_changes(base, head)]
    if outputs:
        out += ["### Outputs (sizing) before and after", "", "| output | before | after |", "|---|---|---|",
                *[f"| `{p}` | {_cell(o)} | {_cell(n)} |" for p, o, n in outputs], ""]
    if not (added or removed or changed or file_diffs or outputs):
        out += ["No change to the plan.", ""]
    return "\n".join(out)


def _output_changes(base: Plan, head: Plan) -> list[tuple[str, Any, Any]]:
    left = dict(flatten(base.document.get("outputs") or {}))
    right = dict(flatten(head.document.get("outputs") or {}))
    return [(p, left.get(p), right.get(p)) for p in sorted(set(left) | set(right)) if left.get(p) != right.get(p)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/plan_diff.py", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--base", default="origin/main", help="git ref to compare with (default: origin/main)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="plan-diff-") as scratch:
        try:
            base = preview_at(args.base, args.stack, Path(scratch))
        except subprocess.CalledProcessError as error:
            # A ref git does not know (a typo, or a shallow clone without the base commit): git's own reason.
            reason = (str(error.stderr or "").strip().splitlines() or [f"git exit {error.returncode}"])[-1]
            print(f"error: cannot check out --base {args.base}: {reason} (fetch it, or pass a ref `git rev-parse` "
                  "knows)", file=sys.stderr)
            return 2
        head = preview(REPO_ROOT, args.stack, Path(scratch) / "head-out")
    sys.stdout.write(render(args.stack, args.base, base, head))
    return 1 if head.error else 0


if __name__ == "__main__":
    sys.exit(main())
