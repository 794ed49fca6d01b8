"""Turn a Recording into what a reviewer reads: plan.json, Kubernetes manifests, node user data, a tree.

Everything here works on the already-redacted values of the Recording, and `write_outputs` refuses to write
a tree in which a known secret (or its base64 form) still appears anywhere: a leak fails the preview.

Pure: imports nothing from pulumi.
"""

from __future__ import annotations

import base64
import binascii
import email
import json
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from preview.engine import SECRET_TEXT, RecordedResource, Recording
from preview.fakes import PLACEHOLDER_TEXT

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_POOL = "alicloud:cs/nodePool:NodePool"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ECS_INSTANCE = "alicloud:ecs/instance:Instance"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EMQX = "kubernetes:apps.emqx.io/v2beta1:EMQX"

# What a reviewer needs to see per resource type in the printed tree (dotted paths into the inputs).
# An entry is `path` or `label=path`. Extend as the program grows; a type not listed shows only its name.
SHOWN_INPUTS: dict[str, tuple[str, ...]] = {
    "alicloud:cs/managedKubernetes:ManagedKubernetes": ("version", "clusterSpec", "podCidr", "serviceCidr"),
    # Its size is shown by _pool_size: desiredSize, or scalingConfig's range for a pool with rollout room.
    NODE_POOL: ("nodePoolName", "instanceTypes", "systemDiskCategory", "dataDisks"),
    "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer": ("loadBalancerSpec", "addressType"),
    "alicloud:slb/listener:Listener": ("protocol", "frontendPort", "backendPort", "scheduler", "establishedTimeout"),
    "alicloud:nlb/loadBalancer:LoadBalancer": ("addressType", "loadBalancerType"),
    "alicloud:nlb/listener:Listener": ("listenerProtocol", "listenerPort", "idleTimeout"),
    "alicloud:vpc/network:Network": ("cidrBlock",),
    "alicloud:vpc/switch:Switch": ("zoneId", "cidrBlock"),
    ECS_INSTANCE: ("instanceType", "privateIp"),
    # AWS (components/aws/): what decides addresses, versions, exposure and rollout behaviour.
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("availabilityZone", "cidrBlock"),
    "aws:ec2/natGateway:NatGateway": ("connectivityType",),
    EKS_CLUSTER: ("name", "version", "private=vpcConfig.endpointPrivateAccess",
                  "public=vpcConfig.endpointPublicAccess", "auth=accessConfig.authenticationMode",
                  "deletionProtection"),
    "aws:eks/addon:Addon": ("addonName",),
    # Its size is shown by _pool_size: scalingConfig, a range for a group with rollout room.
    EKS_NODE_GROUP: ("nodeGroupName", "instanceTypes", "amiType"),
    LAUNCH_TEMPLATE: ("imds=metadataOptions.httpTokens",
                      "hops=metadataOptions.httpPutResponseHopLimit"),
    "aws:lb/loadBalancer:LoadBalancer": ("loadBalancerType", "internal", "crossZone=enableCrossZoneLoadBalancing",
                                         "enableDeletionProtection"),
    "aws:lb/listener:Listener": ("protocol", "port", "idleTimeout=tcpIdleTimeoutSeconds"),
    "aws:lb/targetGroup:TargetGroup": ("protocol", "port", "targetType", "preserveClientIp", "deregistrationDelay",
                                       "connectionTermination", "interval=healthCheck.interval"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ("fromPort", "cidrIpv4",
                                                                  "from=referencedSecurityGroupId"),
    "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding": ("metadata.name", "service=spec.serviceRef.name",
                                                             "port=spec.serviceRef.port"),
    HELM_RELEASE: ("chart", "version", "namespace"),
    EMQX: ("spec.image", "cores=spec.coreTemplate.spec.replicas", "replicants=spec.replicantTemplate.spec.replicas"),
    "kubernetes:apps.emqx.io/v2beta1:Rebalance": ("spec.instanceName", "spec.rebalanceStrategy.connEvictRate"),
    "kubernetes:core/v1:Service": ("metadata.namespace", "spec.type", "spec.ports"),
    "kubernetes:core/v1:Namespace": ("metadata.name",),
    "random:index/randomPassword:RandomPassword": ("length",),
}
# Longest stack output printed whole in the summary.
OUTPUT_LIMIT = 2000
_KUBERNETES_DEFAULT: tuple[str, ...] = ("metadata.namespace", "metadata.name")
_NOT_MANIFESTS = {
    HELM_RELEASE,
    "kubernetes:helm.sh/v4:Chart",
    "kubernetes:yaml/v2:ConfigGroup",
    "kubernetes:yaml/v2:ConfigFile",
}


class SecretLeak(RuntimeError):
    """A known secret survived redaction; nothing is written."""


# --------------------------------------------------------------------------------------------- plan


def plan_document(recording: Recording) -> dict[str, Any]:
    return {
        "stack": recording.stack,
        "resources": [
            {
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "dependencies": list(r.dependencies),
                # What `pulumi up`/`destroy` will do with it beyond its inputs: protect refuses deletion,
                # retainOnDelete leaves it in the cloud, aliases adopt an existing resource under a new name.
                "options": _sorted(r.options),
                "inputs": _sorted(r.inputs),
            }
            for r in recording.resources
        ],
        "outputs": _sorted(recording.outputs),
        "placeholders": {
            "note": "made up by the offline preview for what the cloud assigns on `pulumi up` (ids, addresses); "
                    f"the printed preview shows them as {PLACEHOLDER_TEXT}",
            "values": sorted(recording.placeholders),
        },
    }


def label_placeholders(value: Any, placeholders: Iterable[str]) -> Any:
    """The value with every made-up cloud value (whole, or inside a URL) shown as PLACEHOLDER_TEXT."""
    known = sorted(placeholders, key=len, reverse=True)
    if not known:
        return value
    # Longest first, and never inside a longer word: 10.0.0.10 must not eat the start of 10.0.0.100.
    pattern = re.compile(r"(?<![A-Za-z0-9_.-])(?:" + "|".join(map(re.escape, known)) + r")(?![A-Za-z0-9_])")

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return pattern.sub(PLACEHOLDER_TEXT, v)
        if isinstance(v, dict):
            return {k: walk(x) for k, x in cast(dict[str, Any], v).items()}
        if isinstance(v, list):
            return [walk(x) for x in cast(list[Any], v)]
        return v

    return walk(value)


# ----------------------------------------------------------------------------------------- manifests


def is_manifest(resource: RecordedResource) -> bool:
    """A Kubernetes object (built-in kind or custom resource) the program applies as is."""
    return (
        resource.custom
        and resource.type.startswith("kubernetes:")
        and resource.type not in _NOT_MANIFESTS
        and resource.type.count(":") == 2
    )


def api_version_of(token: str) -> str:
    """`kubernetes:core/v1:Service` -> v1; `kubernetes:apps.emqx.io/v2beta1:EMQX` -> apps.emqx.io/v2beta1."""
    group_version = token.split(":")[1]
    return group_version.removeprefix("core/")


def manifest_object(resource: RecordedResource) -> dict[str, Any]:
    """The object as it would be applied: apiVersion, kind, metadata first, then whatever else was declared."""
    inputs = dict(resource.inputs)
    head: dict[str, Any] = {
        "apiVersion": inputs.pop("apiVersion", None) or api_version_of(resource.type),
        "kind": inputs.pop("kind", None) or resource.type.rsplit(":", 1)[1],
    }
    if "metadata" in inputs:
        head["metadata"] = _sorted(inputs.pop("metadata"))
    return {**head, **{k: _sorted(inputs[k]) for k in sorted(inputs)}}


def _sorted(value: Any) -> Any:
    # The wire keeps no key order; sorting makes two previews of the same stack byte-identical.
    if isinstance(value, dict):
        mapping = cast(dict[str, Any], value)
        return {k: _sorted(mapping[k]) for k in sorted(mapping)}
    if isinstance(value, list):
        return [_sorted(v) for v in cast(list[Any], value)]
    return value


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text) or "_"


def manifest_files(recording: Recording) -> list[tuple[str, dict[str, Any]]]:
    """(file name, object) in registration order: `<NN>-<kind>-<namespace>-<name>.yaml`.

    An object without metadata.namespace gets `_` there (cluster-scoped, or the provider's default namespace),
    one without metadata.name the Pulumi resource name (the provider would auto-name it from that).
    """
    resources = [r for r in recording.resources if is_manifest(r)]
    width = max(2, len(str(len(resources))))
    files: list[tuple[str, dict[str, Any]]] = []
    for index, resource in enumerate(resources, start=1):
        obj = manifest_object(resource)
        metadata = obj.get("metadata")
        meta = cast(dict[str, Any], metadata) if isinstance(metadata, dict) else {}
        namespace = str(meta.get("namespace") or "_")
        name = str(meta.get("name") or resource.name)
        kind = str(obj["kind"]).lower()
        files.append((f"{index:0{width}d}-{_safe(kind)}-{_safe(namespace)}-{_safe(name)}.yaml", obj))
    return files


class _ManifestDumper(yaml.SafeDumper):
    """Multi-line strings (HOCON, scripts) as literal blocks, so they read as they will land."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_ManifestDumper.add_representer(str, _represent_str)


def to_yaml(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_ManifestDumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


# ----------------------------------------------------------------------------------------- user data


def _decode(value: Any) -> str:
    if value == SECRET_TEXT:
        return SECRET_TEXT + "\n"
    try:
        return base64.b64decode(str(value), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        # Not base64 (the provider would reject it); show what was passed rather than hide it.
        return str(value)


def user_data_files(recording: Recording) -> list[tuple[str, str]]:
    """Each node's user data as the node receives it (base64-decoded): (file name, text)."""
    files: list[tuple[str, str]] = []
    for r in recording.resources:
        if r.type == NODE_POOL:
            pool = _safe(str(r.inputs.get("nodePoolName") or r.inputs.get("name") or r.name))
            if r.inputs.get("preUserData") is not None:
                files.append((f"{pool}.pre-user-data.sh", _decode(r.inputs["preUserData"])))
            if r.inputs.get("userData") is not None:
                files.append((f"{pool}.user-data", _decode(r.inputs["userData"])))
        elif r.type == LAUNCH_TEMPLATE and r.inputs.get("userData") is not None:
            files.append((f"{_safe(r.name)}.user-data.mime", _decode(r.inputs["userData"])))
        elif r.type == ECS_INSTANCE and r.inputs.get("userData") is not None:
            # VM mode: one cloud-config per EMQX node (components/render/vm_node.py), named by its instance.
            node = _safe(str(r.inputs.get("instanceName") or r.name))
            files.append((f"{node}.yaml", _decode(r.inputs["userData"])))
    return files


def _redact_text(text: str, secrets: Iterable[str]) -> str:
    # Decoding can reveal a secret that was only present base64-encoded; then the whole file is withheld.
    return SECRET_TEXT + "\n" if any(s in text for s in secrets) else text


# --------------------------------------------------------------------------------------------- print


def short_type(token: str) -> str:
    """`alicloud:cs/nodePool:NodePool` -> alicloud:cs.NodePool, `kubernetes:core/v1:Service` -> ...core/v1.Service."""
    parts = token.split(":")
    if len(parts) != 3:
        return token
    package, module, kind = parts
    if package == "pulumi" and module == "providers":
        return f"provider:{kind}"
    segments = module.split("/")
    if len(segments) > 1 and segments[-1].lower() == kind.lower():
        segments = segments[:-1]
    if segments == ["index"]:
        return f"{package}:{kind}"
    return f"{package}:{'/'.join(segments)}.{kind}"


def _lookup(inputs: Mapping[str, Any], path: str) -> Any:
    value: Any = inputs
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = cast(dict[str, Any], value).get(part)
    return value


def _brief(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pool_size(inputs: Mapping[str, Any]) -> str | None:
    """A node pool's size: fixed (desiredSize), or at rest and at the rollout peak (scalingConfig min and max).
    An EKS node group always has scalingConfig: a range when max exceeds min (the autoscaler's room)."""
    scaling = _lookup(inputs, "scalingConfig")
    if isinstance(scaling, dict) and "enable" not in scaling and "maxSize" in scaling:
        low, high = _lookup(inputs, "scalingConfig.minSize"), _lookup(inputs, "scalingConfig.maxSize")
        return f"nodes={low}" if low == high else f"nodes={low} (at rest; {high} at the rollout peak)"
    if isinstance(scaling, dict) and cast(dict[str, Any], scaling).get("enable"):
        low, high = _lookup(inputs, "scalingConfig.minSize"), _lookup(inputs, "scalingConfig.maxSize")
        return f"nodes={low} (at rest; {high} at the rollout peak)"
    desired = inputs.get("desiredSize")
    return None if desired is None else f"nodes={desired}"


def shown_settings(resource: RecordedResource, placeholders: Iterable[str] = ()) -> str:
    paths = SHOWN_INPUTS.get(resource.type)
    if paths is None and is_manifest(resource):
        paths = _KUBERNETES_DEFAULT
    inputs = label_placeholders(resource.inputs, placeholders)
    pairs: list[str] = []
    for entry in paths or ():
        label, _, path = entry.rpartition("=")
        value = _lookup(inputs, path)
        if value is not None:
            pairs.append(f"{label or path.rsplit('.', 1)[-1]}={_brief(value)}")
    if resource.type in (NODE_POOL, EKS_NODE_GROUP):
        size = _pool_size(inputs)
        if size:
            pairs.insert(min(2, len(pairs)), size)
    return " ".join(pairs)


def pool_totals(recording: Recording) -> list[str]:
    """Nodes per pool (pools split by zone added up): at rest, and at the rollout peak where that differs."""
    totals: dict[str, tuple[int, int]] = {}
    for pool in recording.by_type(NODE_POOL):
        labels = {item.get("key"): item.get("value") for item in pool.inputs.get("labels") or []}
        name = str(next((v for k, v in labels.items() if str(k).endswith("/pool")), pool.name))
        scaling = pool.inputs.get("scalingConfig") or {}
        if scaling.get("enable"):
            low, high = int(scaling.get("minSize") or 0), int(scaling.get("maxSize") or 0)
        else:
            low = high = int(pool.inputs.get("desiredSize") or 0)
        at_rest, peak = totals.get(name, (0, 0))
        totals[name] = (at_rest + low, peak + high)
    for group in recording.by_type(EKS_NODE_GROUP):
        # EKS: labels are a map; the EMQX pool is one group per zone, added up here.
        labels = group.inputs.get("labels") or {}
        name = str(next((v for k, v in labels.items() if str(k).endswith("/pool")), group.name))
        scaling = group.inputs.get("scalingConfig") or {}
        low, high = int(scaling.get("minSize") or 0), int(scaling.get("maxSize") or 0)
        at_rest, peak = totals.get(name, (0, 0))
        totals[name] = (at_rest + low, peak + high)
    return [f"{name} {low} nodes" + (f" at rest, {high} at the rollout peak" if high != low else "")
            for name, (low, high) in totals.items()]


def render_tree(recording: Recording) -> str:
    children: dict[str | None, list[RecordedResource]] = {}
    for r in recording.resources:
        children.setdefault(r.parent_urn, []).append(r)
    lines = [f"stack {recording.stack}"]

    def walk(parent: str | None, depth: int) -> None:
        for r in children.get(parent, []):
            settings = shown_settings(r, recording.placeholders)
            line = f"{'  ' * depth}+ {short_type(r.type)}  {r.name}"
            lines.append(f"{line}  {settings}" if settings else line)
            walk(r.urn, depth + 1)

    walk(None, 1)
    return "\n".join(lines) + "\n"


def _safe_sysctls(recording: Recording) -> frozenset[str]:
    """Sysctls the cluster's kubelets accept without an allowlist, for the Kubernetes version the stack creates
    (the oldest Kubernetes this project supports when it does not create the cluster)."""
    from components.tuning import safe_sysctls

    clusters = (recording.by_type("alicloud:cs/managedKubernetes:ManagedKubernetes")
                or recording.by_type(EKS_CLUSTER))
    version = str(clusters[0].inputs.get("version", "1.29")) if clusters else "1.29"
    return safe_sysctls(".".join(version.split(".")[:2]))


_SYSCTL_LINE = re.compile(r"^([a-z]+(?:\.[a-z0-9_-]+)+)\s+(?:=\s*|raise\s+|set\s+)?(\S.*)$")
_NODEADM_PART = "application/node.eks.aws"


def _eks_node_groups(recording: Recording) -> list[tuple[str, dict[str, str], set[str]]]:
    """(node group, labels, sysctls its kubelet allows) for each EKS node group: the allowlist is in the nodeadm
    NodeConfig part of its launch template's user data (components/tuning.py eks_node_config)."""
    allowed_by_template: dict[str, set[str]] = {}
    for template in recording.by_type(LAUNCH_TEMPLATE):
        if template.inputs.get("userData") is None:
            continue
        allowed: set[str] = set()
        for part in email.message_from_string(_decode(template.inputs["userData"])).walk():
            if part.get_content_type() != _NODEADM_PART:
                continue
            try:
                config = yaml.safe_load(str(part.get_payload())) or {}
            except yaml.YAMLError:
                continue
            found = _lookup(config, "spec.kubelet.config.allowedUnsafeSysctls") if isinstance(config, dict) else None
            allowed |= {str(s) for s in found or []}
        # The mocks (and Pulumi) give a launch template the id its node group's launchTemplate.id refers to.
        allowed_by_template[str(template.outputs.get("id") or f"{template.name}-id")] = allowed
    groups: list[tuple[str, dict[str, str], set[str]]] = []
    for group in recording.by_type(EKS_NODE_GROUP):
        template_id = str(_lookup(group.inputs, "launchTemplate.id") or "")
        labels = {str(k): str(v) for k, v in (group.inputs.get("labels") or {}).items()}
        groups.append((str(group.inputs.get("nodeGroupName", group.name)), labels,
                       allowed_by_template.get(template_id, set())))
    return groups


def render_tuning(recording: Recording) -> str:
    """Where the kernel tuning lands: each pool's node sysctls (from its decoded user data) and kubelet allowlist,
    the EMQX pods' sysctls, and whether every pod sysctl Kubernetes deems unsafe is allowed on the EMQX pool."""
    lines: list[str] = []
    allowed_by_pool: dict[str, tuple[dict[str, str], set[str]]] = {}
    for name, text in user_data_files(recording):
        # Stripped: inside a cloud-config (EKS) the script is indented under `content: |`.
        node_keys = [f"{m.group(1)}={m.group(2)}" for m in (_SYSCTL_LINE.match(line.strip())
                                                               for line in text.splitlines()) if m]
        lines.append(f"  node user data {name}: {len(text.splitlines())} lines; node sysctls: {' '.join(node_keys)}")
    for pool in recording.by_type(NODE_POOL):
        allowed = _lookup(pool.inputs, "kubeletConfiguration.allowedUnsafeSysctls") or []
        labels = {item["key"]: item.get("value", "") for item in pool.inputs.get("labels") or []}
        allowed_by_pool[str(pool.inputs.get("nodePoolName", pool.name))] = (labels, set(allowed))
        if allowed:
            lines.append(f"  pool {pool.inputs.get('nodePoolName', pool.name)}: kubelet allows {' '.join(allowed)}")
    for group_name, labels, allowed in _eks_node_groups(recording):
        allowed_by_pool[group_name] = (labels, allowed)
        if allowed:
            lines.append(f"  node group {group_name}: kubelet allows {' '.join(sorted(allowed))}")
    for emqx in recording.by_type(EMQX):
        pod = _lookup(emqx.inputs, "spec.coreTemplate.spec.podSecurityContext.sysctls") or []
        names = [f"{s['name']}={s['value']}" for s in pod]
        lines.append(f"  EMQX pods ({emqx.name}) sysctls: {' '.join(names)}")
        # Cores and replicants may sit on different pools (the cores' own beside replicants): check where each goes.
        selectors = [s for s in (_lookup(emqx.inputs, f"spec.{t}.spec.nodeSelector")
                                 for t in ("coreTemplate", "replicantTemplate")) if s]
        for pool_name, (labels, allowed) in allowed_by_pool.items():
            if not any(all(labels.get(k) == v for k, v in sel.items()) for sel in selectors):
                continue
            missing = sorted({s["name"] for s in pod} - allowed - _safe_sysctls(recording))
            verdict = "consistent" if not missing else f"NOT allowed by the kubelet: {' '.join(missing)}"
            lines.append(f"  EMQX pods on pool {pool_name}: {verdict}")
    return ("kernel tuning:\n" + "\n".join(lines) + "\n") if lines else ""


def load_test_lines(recording: Recording) -> list[str]:
    """Each load-test run and its planned generator pods, from the plan in its result ConfigMap
    (components/render/loadtest.py run_document)."""
    lines: list[str] = []
    for r in recording.by_type("kubernetes:core/v1:ConfigMap"):
        name = str(r.inputs.get("metadata", {}).get("name", ""))
        document = (r.inputs.get("data") or {}).get("plan.json")
        if not (name.startswith("lt-") and name.endswith("-result") and isinstance(document, str)):
            continue
        plan = json.loads(document)
        pods = Counter(p["role"] for p in plan["pods"])
        clients: Counter[str] = Counter()
        for p in plan["pods"]:
            clients[p["role"]] += p["clients"]
        roles = ", ".join(f"{pods[role]} {role} ({clients[role]:,} clients)" for role in ("sub", "pub", "conn")
                          if pods[role])
        lines.append(f"load test {plan['name']} ({name[:-len('-result')]}): {len(plan['pods'])} generator pods: "
                     f"{roles}; {plan['expected']['message_rate']:,.0f} msg/s for {plan['duration_seconds']}s")
    return sorted(lines)


def render_summary(recording: Recording, written: WrittenFiles | None) -> str:
    counts = Counter(short_type(r.type) for r in recording.resources)
    lines = [f"{len(recording.resources)} resources:"]
    lines += [f"  {count:3d} {kind}" for kind, count in sorted(counts.items())]
    totals = pool_totals(recording)
    if totals:
        lines.append("node pools: " + "; ".join(totals))
    lines += load_test_lines(recording)
    if recording.outputs:
        outputs = label_placeholders(recording.outputs, recording.placeholders)
        labelled = outputs != recording.outputs
        lines.append(f"stack outputs ({PLACEHOLDER_TEXT}: assigned by the cloud on `pulumi up`):" if labelled
                     else "stack outputs:")
        # Whole, not cut: the sizing and the endpoints are what a reader checks here (a bound only against a
        # runaway value).
        lines += [f"  {key} = {_brief(outputs[key], OUTPUT_LIMIT)}" for key in sorted(outputs)]
    for level, message in recording.diagnostics:
        if level in ("info", "warning", "error"):
            lines.append(f"{level}: {message}")
    if written is not None:
        lines.append(
            f"wrote {written.root}: plan.json, {written.manifests} manifests, {written.user_data} user-data files"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------- write


# Written into every output directory: only a directory carrying it is ever replaced or removed, so `--out .` with a
# stack named like a source folder cannot touch that folder.
MARKER = ".emqx-platform-preview"


class NotPreviewOutput(Exception):
    """`<out>/<stack>` exists and is not a directory the preview wrote."""


def _is_preview_output(target: Path) -> bool:
    if not target.is_dir() or target.is_symlink():
        return False
    if (target / MARKER).is_file():
        return True
    # Output of a preview from before the marker: exactly what it writes and nothing else.
    entries = {p.name for p in target.iterdir()}
    return "plan.json" in entries and entries <= {"plan.json", "manifests", "user-data"}


def remove_output(out_dir: Path, stack: str) -> bool:
    """Remove `<out_dir>/<stack>/` after a failed run; whether there was one. Only that directory is touched, and
    only when the preview wrote it (it carries MARKER)."""
    target = Path(out_dir) / stack
    if not _is_preview_output(target):
        return False
    retired = Path(tempfile.mkdtemp(prefix=f".{stack}.failed.", dir=out_dir))
    # Renamed first, so an interrupted removal never leaves a half-deleted tree under the stack's name.
    target.rename(retired / stack)
    shutil.rmtree(retired)
    return True


@dataclass(frozen=True)
class WrittenFiles:
    root: Path
    manifests: int
    user_data: int


def write_outputs(recording: Recording, out_dir: Path, stack: str) -> WrittenFiles:
    """Write `<out_dir>/<stack>/` (plan.json, manifests/, user-data/), replacing that stack's old output only.

    Built in a temporary sibling and swapped in at the end, so a failure leaves the previous output intact.
    """
    out_dir = Path(out_dir)
    secrets = sorted(recording.secret_values)
    files: dict[str, str] = {"plan.json": json.dumps(plan_document(recording), indent=2) + "\n"}
    manifests = manifest_files(recording)
    for name, obj in manifests:
        text = to_yaml(obj)
        used = sorted(p for p in recording.placeholders if p and p in text)
        # The manifest stays valid YAML to apply or validate; the comment says which values the cloud fills in.
        note = ("# Offline preview: stand-ins for what the cloud returns (see plan.json 'placeholders'): "
                + ", ".join(used) + "\n") if used else ""
        files[f"manifests/{name}"] = note + text
    user_data = user_data_files(recording)
    for name, text in user_data:
        files[f"user-data/{name}"] = _redact_text(text, secrets)
    for relative, text in files.items():
        if any(s in text for s in secrets):
            raise SecretLeak(f"a secret value would be written to {relative}; nothing was written")

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / stack
    if (target.exists() or target.is_symlink()) and not _is_preview_output(target):
        raise NotPreviewOutput(f"{target} exists and was not written by the preview; nothing was written "
                               "(choose another --out, or remove it yourself)")
    staging = Path(tempfile.mkdtemp(prefix=f".{stack}.", dir=out_dir))
    try:
        for sub in ("manifests", "user-data"):
            (staging / sub).mkdir()
        for relative, text in files.items():
            (staging / relative).write_text(text, encoding="utf-8")
        (staging / MARKER).write_text("written by `python -m preview`; replaced on the next preview of this stack\n",
                                      encoding="utf-8")
        os.chmod(staging, 0o755)
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{stack}.old.", dir=out_dir))
            target.rename(retired / stack)
            staging.rename(target)
            shutil.rmtree(retired)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return WrittenFiles(root=target, manifests=len(manifests), user_data=len(user_data))
