"""Offline validators for every manifest the program emits (test-side library).

- Built-in kinds: kubernetes-validate's STRICT JSON schemas (unknown fields are errors). We build the
  validator ourselves from its packaged schemas so that every error is reported, not just the first.
- EMQX Operator kinds: jsonschema over the CRD's openAPIV3Schema, read from the copies vendored in
  schemas/emqx-operator/<operator version>/ (schemas/emqx-operator/SOURCE.md) and
  converted to what the API server enforces (structural schema: unknown fields are pruned, so a strict
  field validation rejects them; int-or-string; nullable; Go regexp syntax; list-type map/set keys).
- cert-manager and Prometheus Operator kinds: JSON schemas generated from published models, installed on
  demand by tests/schemas_thirdparty.py.
Every function returns a list of one-line messages, [] when the object is valid.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema.exceptions
import jsonschema.validators
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

DEFAULT_K8S_VERSION = "1.31"

REPO_ROOT = Path(__file__).resolve().parent.parent
VENDORED_CRDS = REPO_ROOT / "schemas" / "emqx-operator"
# The operator release whose CRDs validate what we emit: the chart version the program installs by default.
OPERATOR_VERSION = "2.2.29"


def crds_dir(version: str = OPERATOR_VERSION) -> Path:
    """The vendored EMQX Operator CRDs of one operator release (inside the repository: a clone has nothing beside
    it)."""
    return VENDORED_CRDS / version


# Only the storage versions: the deprecated ones are served but must never be emitted.
CRD_FILES: dict[tuple[str, str], str] = {
    ("apps.emqx.io/v2beta1", "EMQX"): "apps.emqx.io_emqxes.yaml",
    ("apps.emqx.io/v2beta1", "Rebalance"): "apps.emqx.io_rebalances.yaml",
    ("apps.emqx.io/v1beta4", "EmqxEnterprise"): "apps.emqx.io_emqxenterprises.yaml",
    ("apps.emqx.io/v1beta4", "EmqxBroker"): "apps.emqx.io_emqxbrokers.yaml",
}

# CEL rules in the CRDs, expressed as JSON schema. A rule not listed here makes loading fail, so a new
# CRD release cannot silently weaken validation.
CEL_RULES: dict[str, dict[str, Any]] = {
    "has(self.minAvailable) && has(self.maxUnavailable) ? false : true": {
        "not": {"required": ["minAvailable", "maxUnavailable"]}
    },
}

# Kubernetes apimachinery validation (k8s.io/apimachinery/pkg/util/validation).
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(rf"{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*")
_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL)
_QUALIFIED_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_ANNOTATIONS_MAX_BYTES = 256 * 1024


class SchemaConversionError(Exception):
    """The CRD uses a construct this converter does not know how to enforce."""


# ---------------------------------------------------------------------------------------------------------
# Go regexp (RE2, Perl flags) -> Python re


def go_regex_to_python(pattern: str) -> str:
    """Translate an RE2 pattern as the API server reads it into a Python pattern meaning the same.

    Two differences matter for the CRDs: in RE2 a '-' right after a class escape such as \\d inside
    [...] is a literal (Python rejects '\\d-_' as a bad range), and '$' without the m flag matches only at
    the very end of the text (Python's '$' also matches before a final newline). The Prometheus Operator
    CRDs also put a flag group such as '(?i)' mid-pattern, which Python only takes scoped.
    """
    out: list[str] = []
    i, in_class, n, depth, scoped = 0, False, len(pattern), 0, 0
    while i < n:
        c = pattern[i]
        flags = re.match(r"\(\?([imsU]+)\)", pattern[i:]) if not in_class else None
        if flags:
            # RE2 lets "(?i)" stand anywhere and act to the end; Python wants it scoped: "(?i:...)".
            if depth:
                raise SchemaConversionError(f"flag group inside a group in {pattern!r}")
            if "U" in flags.group(1):
                raise SchemaConversionError(f"RE2 ungreedy flag has no Python equivalent in {pattern!r}")
            out.append(f"(?{flags.group(1)}:")
            scoped += 1
            i += flags.end()
            continue
        if c == "\\" and i + 1 < n:
            esc = pattern[i : i + 2]
            if esc == "\\z":
                out.append("\\Z")
            else:
                out.append(esc)
            i += 2
            if in_class and esc[1] in "dDwWsS" and i < n and pattern[i] == "-" and i + 1 < n and pattern[i + 1] != "]":
                out.append("\\-")
                i += 1
            continue
        if in_class:
            if c == "]":
                in_class = False
            out.append(c)
        elif c == "[":
            in_class = True
            out.append(c)
            # A ']' (or '^]') right after '[' is a literal member, not the end of the class.
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                out.append("\\]")
                i += 1
        elif c == "$":
            out.append(r"\Z")
        else:
            depth += (c == "(") - (c == ")")
            out.append(c)
        i += 1
    return "".join(out) + ")" * scoped


# ---------------------------------------------------------------------------------------------------------
# CRD openAPIV3Schema -> strict JSON schema


def _convert(node: dict[str, Any], path: str) -> dict[str, Any]:
    if node.get("nullable"):
        # Wrapping (rather than adding "null" to type) keeps enum, pattern and the rest meaning the same.
        inner = _convert({k: v for k, v in node.items() if k != "nullable"}, path)
        return {"anyOf": [inner, {"type": "null"}]}
    s = dict(node)
    if s.get("x-kubernetes-int-or-string") and "anyOf" not in s:
        s["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "pattern" in s:
        s["pattern"] = go_regex_to_python(s["pattern"])
    if s.get("format") == "int32" and s.get("type") == "integer":
        # The API server decodes int32 fields into Go int32: larger values are rejected.
        s.setdefault("allOf", []).append({"minimum": -(2**31), "maximum": 2**31 - 1})
    rules = s.pop("x-kubernetes-validations", None)
    if rules:
        for rule in rules:
            translated = CEL_RULES.get(rule["rule"])
            if translated is None:
                raise SchemaConversionError(f"{path}: no translation for CEL rule {rule['rule']!r}")
            # The CRD's own message is what the API server would answer with.
            s.setdefault("allOf", []).append({**translated, "x-message": rule.get("message", rule["rule"])})
    if "required" in s and "properties" in s:
        # The API server fills defaults in before it validates, so a defaulted field is never missing.
        s["required"] = [r for r in s["required"] if "default" not in s["properties"].get(r, {})]
    if s.get("x-kubernetes-list-type") == "set":
        s["uniqueItems"] = True
    preserve = bool(s.get("x-kubernetes-preserve-unknown-fields"))
    if "properties" in s:
        s["properties"] = {k: _convert(v, f"{path}.{k}") for k, v in s["properties"].items()}
    if isinstance(s.get("additionalProperties"), dict):
        s["additionalProperties"] = _convert(s["additionalProperties"], f"{path}[*]")
    if s.get("type") == "object" and not preserve and "additionalProperties" not in s:
        # Structural schemas prune whatever is not declared; strict field validation rejects it.
        s["additionalProperties"] = False
    if isinstance(s.get("items"), dict):
        s["items"] = _convert(s["items"], f"{path}[]")
    for key in ("anyOf", "allOf", "oneOf"):
        if key in s:
            s[key] = [_convert(sub, path) for sub in s[key]]
    if isinstance(s.get("not"), dict):
        s["not"] = _convert(s["not"], path)
    return s


def _list_map_keys(validator: Any, keys: list[str], instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    """x-kubernetes-list-type: map: no two items may share their key fields (defaults fill absent keys)."""
    if schema.get("x-kubernetes-list-type") != "map" or not isinstance(instance, list):
        return
    item_props = schema.get("items", {}).get("properties", {})
    seen: dict[str, int] = {}
    for index, item in enumerate(instance):
        if not isinstance(item, dict):
            continue
        ident = json.dumps([item.get(k, item_props.get(k, {}).get("default")) for k in keys])
        if ident in seen:
            key = dict(zip(keys, json.loads(ident), strict=True))
            yield ValidationError(f"items {seen[ident]} and {index} share the map key {key}")
        else:
            seen[ident] = index


_CrdValidator = jsonschema.validators.extend(Draft202012Validator, {"x-kubernetes-list-map-keys": _list_map_keys})


@cache
def _crd_validator(api_version: str, kind: str) -> Any:
    file = crds_dir() / CRD_FILES[(api_version, kind)]
    with file.open() as fh:
        # The C loader is ~7x faster on the 665 KB EMQX CRD; both are safe loaders.
        crd = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if crd["spec"]["names"]["kind"] != kind:
        raise SchemaConversionError(f"{file}: holds kind {crd['spec']['names']['kind']}, expected {kind}")
    version = api_version.split("/", 1)[1]
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            schema = copy.deepcopy(v["schema"]["openAPIV3Schema"])
            break
    else:
        raise SchemaConversionError(f"{file}: no version {version}")
    # The API server validates metadata itself (as ObjectMeta); _validate_metadata does that here.
    schema["properties"]["metadata"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema["properties"]["apiVersion"] = {"const": api_version}
    schema["properties"]["kind"] = {"const": kind}
    schema.setdefault("required", [])
    schema["required"] = sorted({*schema["required"], "apiVersion", "kind", "metadata"})
    converted = _convert(schema, kind)
    _CrdValidator.check_schema(converted)
    return _CrdValidator(converted)


# ---------------------------------------------------------------------------------------------------------
# Built-in kinds (kubernetes-validate's packaged strict schemas)


def _k8s_schema_dir(k8s_version: str) -> Any:
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    wanted = tuple(int(p) for p in k8s_version.lstrip("v").split(".")[:2])
    versions = sorted(
        (tuple(int(p) for p in d.name[1:].split("-")[0].split(".")[:2]), d.name)
        for d in root.iterdir()
        if d.name.startswith("v") and d.name.endswith("-local-strict")
    )
    matching = [name for ver, name in versions if ver == wanted]
    if not matching:
        raise ValueError(
            f"kubernetes-validate has no strict schemas for Kubernetes {k8s_version}; "
            f"it has {[f'{v[0]}.{v[1]}' for v, _ in versions]}"
        )
    return root.joinpath(matching[0])


@cache
def _k8s_registry(k8s_version: str) -> tuple[Any, Registry]:
    directory = _k8s_schema_dir(k8s_version)
    definitions = json.loads(directory.joinpath("_definitions.json").read_text())
    return directory, Resource.from_contents(definitions) @ Registry()


def _k8s_file_name(api_version: str, kind: str) -> str:
    # kubernetes-validate names files <kind>-<group's first label>-<version>.json
    group, _, version = api_version.rpartition("/")
    prefix = f"{group.split('.')[0]}-" if group else ""
    return f"{kind.lower()}-{prefix}{version}.json"


@cache
def _k8s_validator(api_version: str, kind: str, k8s_version: str) -> Draft202012Validator | None:
    directory, registry = _k8s_registry(k8s_version)
    file = directory.joinpath(_k8s_file_name(api_version, kind))
    if not file.is_file():
        return None
    schema = json.loads(file.read_text())
    # The file name keeps only the group's first label: make sure the group really matches.
    enum = schema.get("properties", {}).get("apiVersion", {}).get("enum")
    if enum and api_version not in enum:
        return None
    return Draft202012Validator(schema, registry=Resource.from_contents(schema) @ registry)


@cache
def _object_meta_validator(k8s_version: str) -> Draft202012Validator:
    _, registry = _k8s_registry(k8s_version)
    ref = {"$ref": "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    return Draft202012Validator(ref, registry=registry)


# ---------------------------------------------------------------------------------------------------------
# Messages and metadata


def _where(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = meta.get("name") if isinstance(meta, dict) else None
    return f"{obj.get('kind', '?')}/{name or '?'}"


def _path(error: ValidationError, prefix: str = "") -> str:
    parts = [prefix] if prefix else []
    for p in error.absolute_path:
        if isinstance(p, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{p}]"]
        else:
            parts.append(str(p))
    return ".".join(parts) or "(root)"


def _message(error: ValidationError) -> str:
    custom = error.schema.get("x-message") if isinstance(error.schema, dict) else None
    text = " ".join(str(custom or error.message).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _flatten(error: ValidationError) -> list[ValidationError]:
    """An anyOf/oneOf failure as the errors of the branch the value was meant for.

    Optional fields are often [X, null] unions: a non-null value belongs to X, so X's errors are the
    useful ones. With several real branches, the best match stands in for them.
    """
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [error]
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    real = [errs for errs in branches.values() if not (len(errs) == 1 and errs[0].schema == {"type": "null"})]
    if len(real) == 1:
        return [leaf for sub in real[0] for leaf in _flatten(sub)]
    best = jsonschema.exceptions.best_match(error.context)
    return _flatten(best) if best is not None else [error]


def _errors(validator: Any, instance: Any, where: str, prefix: str = "") -> list[str]:
    found = [leaf for e in validator.iter_errors(instance) for leaf in _flatten(e)]
    found.sort(key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{where}: {_path(e, prefix)}: {_message(e)}" for e in found]


def _qualified_name_errors(key: str) -> list[str]:
    prefix, slash, name = key.rpartition("/")
    problems: list[str] = []
    if slash and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(prefix)):
        problems.append(f"prefix {prefix!r} must be a DNS-1123 subdomain")
    if not name or len(name) > 63 or not _QUALIFIED_NAME_PART.fullmatch(name):
        problems.append(
            f"name part {name!r} must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
        )
    return problems


def validate_metadata(
    meta: Any, where: str, *, require_name: bool = True, namespaced: bool = True, k8s_version: str = DEFAULT_K8S_VERSION
) -> list[str]:
    """ObjectMeta as the API server checks it: fields and types, then name/namespace/label syntax."""
    if not isinstance(meta, dict):
        return [f"{where}: metadata: must be an object"]
    errors = _errors(_object_meta_validator(k8s_version), meta, where, "metadata")
    name = meta.get("name")
    if name is None:
        if require_name and not meta.get("generateName"):
            errors.append(f"{where}: metadata.name: required")
    elif not isinstance(name, str) or len(name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(name):
        errors.append(
            f"{where}: metadata.name: {name!r} is not a DNS-1123 subdomain "
            f"(lower-case alphanumerics, '-' and '.', at most 253)"
        )
    ns = meta.get("namespace")
    if ns is not None:
        if not namespaced:
            errors.append(f"{where}: metadata.namespace: this kind is cluster-scoped")
        elif not isinstance(ns, str) or len(ns) > 63 or not _DNS1123_LABEL_RE.fullmatch(ns):
            errors.append(f"{where}: metadata.namespace: {ns!r} is not a DNS-1123 label")
    labels = meta.get("labels")
    if isinstance(labels, dict):
        for k, v in labels.items():
            errors += [f"{where}: metadata.labels: key {k!r}: {p}" for p in _qualified_name_errors(str(k))]
            # A non-string value is already a type error from the schema.
            if isinstance(v, str) and (len(v) > 63 or not _LABEL_VALUE.fullmatch(v)):
                errors.append(
                    f"{where}: metadata.labels[{k!r}]: value {v!r} must be a string of at most 63 "
                    f"alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
                )
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        size = 0
        for k, v in annotations.items():
            errors += [f"{where}: metadata.annotations: key {k!r}: {p}" for p in _qualified_name_errors(str(k).lower())]
            size += len(str(k)) + len(str(v))
        if size > _ANNOTATIONS_MAX_BYTES:
            errors.append(f"{where}: metadata.annotations: {size} bytes, more than the 256 KiB the API server takes")
    return sorted(set(errors), key=errors.index)


# ---------------------------------------------------------------------------------------------------------
# Public API


def validate_k8s(
    obj: dict[str, Any], k8s_version: str = DEFAULT_K8S_VERSION, *, require_name: bool = True
) -> list[str]:
    """A built-in kind against kubernetes-validate's strict schema for `k8s_version`; [] when valid."""
    if not isinstance(obj, dict):
        return [f"manifest must be an object, got {type(obj).__name__}"]
    api_version, kind, where = obj.get("apiVersion"), obj.get("kind"), _where(obj)
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [f"{where}: apiVersion and kind are required strings"]
    validator = _k8s_validator(api_version, kind, k8s_version)
    if validator is None:
        return [f"{where}: no Kubernetes {k8s_version} schema for {api_version} {kind}"]
    errors = _errors(validator, obj, where)
    meta = obj.get("metadata")
    if meta is None:
        if require_name:
            errors.append(f"{where}: metadata: required")
        return errors
    meta_errors = validate_metadata(
        meta, where, require_name=require_name, namespaced=kind not in _CLUSTER_SCOPED, k8s_version=k8s_version
    )
    # The strict schema already reported metadata's fields and types; keep only the new findings.
    return errors + [e for e in meta_errors if e not in errors]


_CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "ClusterRole",
        "ClusterRoleBinding",
        "StorageClass",
        "CustomResourceDefinition",
        "PriorityClass",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "APIService",
        "CSIDriver",
        "RuntimeClass",
        "ClusterIssuer",
    }
)


def validate_crd_object(obj: dict[str, Any], *, require_name: bool = True) -> list[str]:
    """An EMQX Operator custom resource against its CRD, strictly; [] when valid."""
    if not isinstance(obj, dict):
        return [f"manifest must be an object, got {type(obj).__name__}"]
    api_version, kind, where = obj.get("apiVersion"), obj.get("kind"), _where(obj)
    if (api_version, kind) not in CRD_FILES:
        known = ", ".join(f"{a} {k}" for a, k in CRD_FILES)
        return [f"{where}: {api_version} {kind} is not an EMQX Operator kind we validate ({known})"]
    errors = _errors(_crd_validator(str(api_version), str(kind)), obj, where)
    if "metadata" in obj:
        errors += validate_metadata(obj["metadata"], where, require_name=require_name)
    return errors


# The AWS Load Balancer Controller's TargetGroupBinding CRD, vendored unchanged with its SOURCE.md.
TGB_API_VERSION = "elbv2.k8s.aws/v1beta1"
TGB_KIND = "TargetGroupBinding"
TGB_CRD_DIR = REPO_ROOT / "schemas" / "aws-load-balancer-controller"
TGB_CRD_FILE = "elbv2.k8s.aws_targetgroupbindings.yaml"


@cache
def tgb_validator(chart_version: str) -> Any:
    """The CRD's served storage version, converted the way the EMQX CRDs are (unknown fields rejected,
    int-or-string, Go regexps)."""
    crd = yaml.safe_load((TGB_CRD_DIR / chart_version / TGB_CRD_FILE).read_text(encoding="utf-8"))
    group, version_name = TGB_API_VERSION.split("/")
    assert crd["spec"]["names"]["kind"] == TGB_KIND and crd["spec"]["group"] == group
    version = next(v for v in crd["spec"]["versions"] if v["name"] == version_name)
    assert version["served"] and version["storage"], "emit the storage version only"
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema["properties"]["apiVersion"] = {"const": TGB_API_VERSION}
    schema["properties"]["kind"] = {"const": TGB_KIND}
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata", "spec"})
    converted = _convert(schema, TGB_KIND)
    _CrdValidator.check_schema(converted)
    return _CrdValidator(converted)


def validate_tgb_object(obj: dict[str, Any], *, require_name: bool = True) -> list[str]:
    # The chart the program installs is the release the CRD was vendored from (test_target_group_binding.py).
    from components.aws import lb_controller

    errors = _errors(tgb_validator(lb_controller.CHART_VERSION), obj, _where(obj))
    if "metadata" in obj:
        errors += validate_metadata(obj["metadata"], _where(obj), require_name=require_name)
    return errors


ThirdPartyValidator = Callable[[dict[str, Any]], list[str]]


def _thirdparty(api_version: str, kind: str) -> ThirdPartyValidator | None:
    # Imported here: plain CRD checks need neither the module nor its cache.
    try:
        from tests import schemas_thirdparty
    except ImportError:  # tests/ itself on sys.path (pytest's rootdir-less import mode)
        import schemas_thirdparty  # type: ignore[import-not-found, no-redef]

    if (api_version, kind) not in schemas_thirdparty.KINDS:
        return None

    def check(obj: dict[str, Any]) -> list[str]:
        try:
            validator = schemas_thirdparty.validator_for(api_version, kind, go_regex_to_python)
        except schemas_thirdparty.SchemaUnavailable as exc:
            return [f"{_where(obj)}: no offline schema for {api_version} {kind}: {exc}"]
        return _errors(validator, obj, _where(obj))

    return check


def validate_manifest(
    obj: dict[str, Any], k8s_version: str = DEFAULT_K8S_VERSION, *, require_name: bool = True
) -> list[str]:
    """Dispatch on apiVersion/kind; a kind without a schema is an error, never a silent pass."""
    if not isinstance(obj, dict):
        return [f"manifest must be an object, got {type(obj).__name__}"]
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [f"{_where(obj)}: apiVersion and kind are required strings"]
    if api_version.startswith("apps.emqx.io/"):
        return validate_crd_object(obj, require_name=require_name)
    if (api_version, kind) == (TGB_API_VERSION, TGB_KIND):
        return validate_tgb_object(obj, require_name=require_name)
    third = _thirdparty(api_version, kind)
    if third is not None:
        errors = third(obj)
        if "metadata" in obj:
            meta = validate_metadata(
                obj["metadata"],
                _where(obj),
                require_name=require_name,
                namespaced=kind not in _CLUSTER_SCOPED,
                k8s_version=k8s_version,
            )
            errors += [e for e in meta if e not in errors]
        return errors
    if _k8s_validator(api_version, kind, k8s_version) is not None:
        return validate_k8s(obj, k8s_version, require_name=require_name)
    return [f"{_where(obj)}: unknown kind {api_version} {kind}: no offline schema to validate it against"]
