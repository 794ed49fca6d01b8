"""JSON schemas for the cert-manager and Prometheus Operator kinds we emit, obtained offline from PyPI.

Nobody in this project wrote these schemas: they are exported from the cloudcoil model packages, which
are generated from the upstream CRDs (cert-manager v1.17.1, prometheus-operator v0.80.1). The packages
(and pydantic, which they need) are installed with pip into a gitignored cache, never into the venv:

    python -m tests.schemas_thirdparty            # what .ci/run should call once before pytest

That writes build/schemas/<kind>.json (override the place with $EMQX_SCHEMA_CACHE). validate() installs
on demand unless $EMQX_SCHEMAS_OFFLINE=1. The exported schemas drop the CRDs' regex patterns and CEL
rules, and the models ignore unknown fields, so we make them strict here: an object that declares
properties accepts no others.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

PINS = (
    "cloudcoil==0.6.0",
    "cloudcoil-models-cert-manager==1.17.1.0",
    "cloudcoil-models-prometheus-operator==0.80.1.0",
)

# (apiVersion, kind) -> (python module, model class)
KINDS: dict[tuple[str, str], tuple[str, str]] = {
    ("cert-manager.io/v1", "Certificate"): ("cloudcoil.models.cert_manager.v1", "Certificate"),
    ("cert-manager.io/v1", "Issuer"): ("cloudcoil.models.cert_manager.v1", "Issuer"),
    ("cert-manager.io/v1", "ClusterIssuer"): ("cloudcoil.models.cert_manager.v1", "ClusterIssuer"),
    ("monitoring.coreos.com/v1", "PodMonitor"): ("cloudcoil.models.prometheus_operator.v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("cloudcoil.models.prometheus_operator.v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"): ("cloudcoil.models.prometheus_operator.v1", "PrometheusRule"),
}

CACHE_ENV = "EMQX_SCHEMA_CACHE"
OFFLINE_ENV = "EMQX_SCHEMAS_OFFLINE"

_EXPORT = """
import importlib, json, sys
out = sys.argv[1]
for spec in json.loads(sys.argv[2]):
    model = getattr(importlib.import_module(spec["module"]), spec["cls"])
    with open(f"{out}/{spec['kind']}.json", "w") as fh:
        json.dump(model.model_json_schema(by_alias=True, mode="validation"), fh, indent=1, sort_keys=True)
"""


def cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / "build" / "schemas"


def _stamp() -> dict[str, Any]:
    return {"pins": list(PINS), "kinds": sorted(kind for _, kind in KINDS)}


def _ready(directory: Path) -> bool:
    stamp = directory / "stamp.json"
    return stamp.is_file() and json.loads(stamp.read_text()) == _stamp()


def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    # Output is kept for the error: pip's chatter would otherwise land in every test log.
    done = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise subprocess.CalledProcessError(done.returncode, cmd[:4], stderr=tail)


def ensure(install: bool = True) -> Path:
    """The directory with one JSON schema per kind; installs and exports them first when missing."""
    directory = cache_dir()
    if _ready(directory):
        return directory
    if not install:
        raise FileNotFoundError(f"no exported schemas in {directory}; run: python -m tests.schemas_thirdparty")
    directory.mkdir(parents=True, exist_ok=True)
    pylib = directory / "pylib"
    if pylib.exists():
        shutil.rmtree(pylib)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-input",
            "--disable-pip-version-check",
            "--target",
            str(pylib),
            *PINS,
        ]
    )
    specs = [{"module": m, "cls": c, "kind": k} for (_, k), (m, c) in KINDS.items()]
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        env = {**os.environ, "PYTHONPATH": str(pylib)}
        _run([sys.executable, "-c", _EXPORT, tmp, json.dumps(specs)], env=env)
        for file in Path(tmp).glob("*.json"):
            file.replace(directory / file.name)
    # The exported JSON is all that is needed from here on; the 30 MB of packages are not.
    shutil.rmtree(pylib)
    (directory / "stamp.json").write_text(json.dumps(_stamp()))
    return directory


def strict(schema: Any, translate_pattern: Callable[[str], str] = str) -> Any:
    """Every object that declares properties accepts no others (the models merely ignore extras)."""
    if isinstance(schema, dict):
        out = {k: strict(v, translate_pattern) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        if isinstance(out.get("pattern"), str):
            out["pattern"] = translate_pattern(out["pattern"])
        return out
    if isinstance(schema, list):
        return [strict(v, translate_pattern) for v in schema]
    return schema


class SchemaUnavailable(Exception):
    """The exported schemas are not in the cache and could not be made."""


@cache
def validator_for(api_version: str, kind: str, translate_pattern: Callable[[str], str] = str) -> Draft202012Validator:
    """A strict validator for one kind; patterns came from the CRDs in Go syntax: pass a translator."""
    if (api_version, kind) not in KINDS:
        raise SchemaUnavailable(f"{api_version} {kind} is not one of {sorted(KINDS)}")
    offline = os.environ.get(OFFLINE_ENV) == "1"
    try:
        schema = json.loads((ensure(install=not offline) / f"{kind}.json").read_text())
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SchemaUnavailable(str(exc)) from exc
    schema = strict(schema, translate_pattern)
    # metadata is ObjectMeta: tests/validators.py checks it against Kubernetes' own definition.
    schema["properties"]["metadata"] = {"type": "object"}  # validators.validate_metadata checks it
    schema["properties"]["apiVersion"] = {"const": api_version}
    schema["properties"]["kind"] = {"const": kind}
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


if __name__ == "__main__":
    print(ensure(install=True))
