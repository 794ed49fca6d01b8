"""The validators must reject what the API server would reject; each test proves one way to fail."""

from __future__ import annotations

import copy
import re
import time
from typing import Any

import pytest

from tests import validators
from tests.validators import (
    go_regex_to_python,
    validate_crd_object,
    validate_k8s,
    validate_manifest,
    validate_metadata,
)

IMAGE = "emqx/emqx-enterprise:5.8.6"


def emqx(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps.emqx.io/v2beta1",
        "kind": "EMQX",
        "metadata": {"name": "emqx", "namespace": "emqx", "labels": {"app.kubernetes.io/name": "emqx"}},
        "spec": {"image": IMAGE, **spec},
    }


def realistic_emqx() -> dict[str, Any]:
    resources = {"requests": {"cpu": "61900m", "memory": "120384Mi"}, "limits": {"cpu": 62, "memory": "120384Mi"}}
    return emqx(
        config={"mode": "Merge", "data": "listeners.tcp.default.max_connections = 1000000\n"},
        coreTemplate={
            "spec": {
                "replicas": 3,
                "resources": resources,
                "maxUnavailable": 1,
                "volumeClaimTemplates": {
                    "storageClassName": "alicloud-disk-essd",
                    "resources": {"requests": {"storage": "20Gi"}},
                    "accessModes": ["ReadWriteOnce"],
                },
            }
        },
        replicantTemplate={
            "spec": {
                "replicas": 2,
                "resources": resources,
                "minAvailable": 1,
                "nodeSelector": {"node-pool": "emqx"},
                "tolerations": [{"key": "emqx", "operator": "Exists", "effect": "NoSchedule"}],
            }
        },
        listenersServiceTemplate={
            "enabled": True,
            "metadata": {"annotations": {"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-spec": "slb.s3.large"}},
            "spec": {"type": "LoadBalancer", "ports": [{"name": "mqtt", "port": 1883, "targetPort": 1883}]},
        },
        updateStrategy={
            "type": "Recreate",
            "initialDelaySeconds": 10,
            "evacuationStrategy": {"connEvictRate": 1000, "sessEvictRate": 1000, "waitTakeover": 10},
        },
    )


def rebalance(**strategy: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps.emqx.io/v2beta1",
        "kind": "Rebalance",
        "metadata": {"name": "rebalance-1", "namespace": "emqx"},
        "spec": {"instanceName": "emqx", "instanceKind": "EMQX", "rebalanceStrategy": strategy},
    }


def service(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "emqx-listeners", "namespace": "emqx"},
        "spec": {"type": "LoadBalancer", "ports": [{"name": "mqtt", "port": 1883, "targetPort": "mqtt"}], **spec},
    }


def any_mentions(errors: list[str], *needles: str) -> bool:
    return any(all(n in e for n in needles) for e in errors)


# --- EMQX custom resources -----------------------------------------------------------------------------


def test_minimal_emqx_is_valid() -> None:
    assert validate_crd_object(emqx()) == []


def test_realistic_emqx_is_valid() -> None:
    assert validate_crd_object(realistic_emqx()) == []


def test_emqx_without_image_fails() -> None:
    obj = emqx()
    del obj["spec"]["image"]
    assert any_mentions(validate_crd_object(obj), "spec", "'image' is a required property")


def test_unknown_field_under_core_template_spec_fails() -> None:
    errors = validate_crd_object(emqx(coreTemplate={"spec": {"replicas": 3, "replica": 3}}))
    assert any_mentions(errors, "spec.coreTemplate.spec", "'replica' was unexpected")


def test_unknown_field_deep_in_pod_fields_fails() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "In", "value": ["v"]}]}]
            }
        }
    }
    errors = validate_crd_object(emqx(replicantTemplate={"spec": {"affinity": affinity}}))
    assert any_mentions(errors, "matchExpressions[0]", "'value' was unexpected")


def test_unknown_top_level_field_fails() -> None:
    obj = emqx()
    obj["specs"] = {}
    assert any_mentions(validate_crd_object(obj), "'specs' was unexpected")


def test_wrong_type_fails() -> None:
    errors = validate_crd_object(emqx(coreTemplate={"spec": {"replicas": "3"}}))
    assert any_mentions(errors, "spec.coreTemplate.spec.replicas", "not of type 'integer'")


def test_int32_overflow_fails() -> None:
    assert validate_crd_object(emqx(coreTemplate={"spec": {"replicas": 2**31 - 1}})) == []
    errors = validate_crd_object(emqx(coreTemplate={"spec": {"replicas": 2**31}}))
    assert any_mentions(errors, "spec.coreTemplate.spec.replicas")


@pytest.mark.parametrize("quantity", ["2", 2, "500m", "1.5", "64Gi", "1e3"])
def test_int_or_string_quantities_pass(quantity: object) -> None:
    obj = emqx(coreTemplate={"spec": {"resources": {"limits": {"cpu": quantity}}}})
    assert validate_crd_object(obj) == []


@pytest.mark.parametrize("quantity", ["lots", "2 GiB", "1.5.1", True, [1]])
def test_bad_quantities_fail(quantity: object) -> None:
    obj = emqx(coreTemplate={"spec": {"resources": {"limits": {"cpu": quantity}}}})
    assert any_mentions(validate_crd_object(obj), "resources.limits.cpu")


def test_min_available_and_max_unavailable_together_fail_with_crd_message() -> None:
    assert validate_crd_object(emqx(coreTemplate={"spec": {"minAvailable": 1}})) == []
    errors = validate_crd_object(emqx(coreTemplate={"spec": {"minAvailable": 1, "maxUnavailable": 1}}))
    assert any_mentions(errors, "spec.coreTemplate.spec", "mutually exclusive")


def test_duplicate_list_map_keys_fail() -> None:
    ports = [{"name": "mqtt", "port": 1883}, {"name": "mqtt2", "port": 1883, "protocol": "TCP"}]
    errors = validate_crd_object(emqx(listenersServiceTemplate={"spec": {"ports": ports}}))
    assert any_mentions(errors, "spec.listenersServiceTemplate.spec.ports", "share the map key")
    ports[1]["protocol"] = "UDP"
    assert validate_crd_object(emqx(listenersServiceTemplate={"spec": {"ports": ports}})) == []


def test_go_class_escape_pattern_accepts_dash_and_underscore() -> None:
    # bootstrapAPIKeys[].key is ^[a-zA-Z\d-_]+$ in the CRD; RE2 reads '-' after \d as a literal.
    good = emqx(bootstrapAPIKeys=[{"key": "ci-key_1", "secret": "s3cret-value"}])
    assert validate_crd_object(good) == []
    bad = emqx(bootstrapAPIKeys=[{"key": "ci.key", "secret": "s3cret-value"}])
    assert any_mentions(validate_crd_object(bad), "bootstrapAPIKeys[0].key")


def test_go_regex_translation_keeps_re2_meaning() -> None:
    translated = go_regex_to_python(r"^[a-zA-Z\d-_]+$")
    assert re.search(translated, "a-b_c9")
    assert not re.search(translated, "a.b")
    # RE2: '$' is end of text, so a trailing newline does not match (Python's '$' would match).
    assert not re.search(translated, "abc\n")
    assert re.search(go_regex_to_python(r"^[]a]+$"), "]a")
    assert re.search(go_regex_to_python(r"^a\z"), "a") and not re.search(go_regex_to_python(r"^a\z"), "a\n")
    case_insensitive = go_regex_to_python(r"^(?i)(abort|warn)?$")
    assert re.search(case_insensitive, "WARN") and re.search(case_insensitive, "")
    assert not re.search(case_insensitive, "warnx")


def test_deprecated_version_is_refused() -> None:
    obj = emqx()
    obj["apiVersion"] = "apps.emqx.io/v2alpha1"
    assert any_mentions(validate_crd_object(obj), "not an EMQX Operator kind we validate")


def test_wrong_kind_against_crd_fails() -> None:
    obj = emqx()
    obj["kind"] = "Emqx"
    assert validate_crd_object(obj) != []


def test_rebalance_valid_and_missing_conn_evict_rate() -> None:
    assert validate_crd_object(rebalance(connEvictRate=10)) == []
    errors = validate_crd_object(rebalance(sessEvictRate=10))
    assert any_mentions(errors, "spec.rebalanceStrategy", "'connEvictRate' is a required property")


def test_rebalance_conn_evict_rate_below_minimum_fails() -> None:
    assert any_mentions(validate_crd_object(rebalance(connEvictRate=0)), "connEvictRate")


def test_rebalance_defaulted_fields_are_not_required() -> None:
    # instanceKind is listed as required but has a default, which the API server fills in first.
    obj = rebalance(connEvictRate=10)
    del obj["spec"]["instanceKind"]
    assert validate_crd_object(obj) == []


def test_v1beta4_enterprise_minimal() -> None:
    obj = {
        "apiVersion": "apps.emqx.io/v1beta4",
        "kind": "EmqxEnterprise",
        "metadata": {"name": "emqx-ee"},
        "spec": {
            "replicas": 3,
            "template": {"spec": {"emqxContainer": {"image": {"repository": "emqx/emqx-ee", "version": "4.4.19"}}}},
        },
    }
    assert validate_crd_object(obj) == []
    obj["spec"]["replica"] = 3
    assert any_mentions(validate_crd_object(obj), "'replica' was unexpected")


# --- metadata --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("meta", "needle"),
    [
        ({"name": "EMQX"}, "metadata.name"),
        ({"name": "emqx_1"}, "metadata.name"),
        ({"name": "a" * 254}, "metadata.name"),
        ({"name": "emqx", "namespace": "Prod"}, "metadata.namespace"),
        ({"name": "emqx", "namespace": "a.b"}, "metadata.namespace"),
        ({"name": "emqx", "labels": {"app": "-bad"}}, "metadata.labels"),
        ({"name": "emqx", "labels": {"app": "x" * 64}}, "metadata.labels"),
        ({"name": "emqx", "labels": {"Bad_Prefix/app": "x"}}, "metadata.labels"),
        ({"name": "emqx", "labels": {"app": 1}}, "metadata.labels"),
        ({"name": "emqx", "annotations": {"pulumi.com/timeoutSeconds": 600}}, "metadata.annotations"),
        ({"name": "emqx", "annotations": {"a": "x" * (256 * 1024)}}, "metadata.annotations"),
        ({"name": "emqx", "lables": {}}, "'lables' was unexpected"),
        ({}, "metadata.name"),
    ],
)
def test_bad_metadata_fails(meta: dict[str, Any], needle: str) -> None:
    obj = emqx()
    obj["metadata"] = meta
    assert any_mentions(validate_crd_object(obj), needle)


def test_good_metadata_passes() -> None:
    meta = {
        "name": "emqx.prod-1",
        "namespace": "emqx-system",
        "labels": {"app.kubernetes.io/part-of": "emqx", "empty": ""},
        "annotations": {"pulumi.com/waitFor": "condition=Ready", "Upper/Case": "ok"},
    }
    assert validate_metadata(meta, "EMQX/x") == []


def test_generated_names_allowed_when_not_required() -> None:
    obj = emqx()
    del obj["metadata"]["name"]
    assert validate_crd_object(obj) != []
    assert validate_crd_object(obj, require_name=False) == []


# --- built-in kinds ----------------------------------------------------------------------------------------


def test_service_is_valid() -> None:
    assert validate_k8s(service()) == []


def test_service_unknown_field_fails_in_strict_mode() -> None:
    errors = validate_k8s(service(externalTrafficPolicy="Local", loadBalancerSourceRange=["10.0.0.0/8"]))
    assert any_mentions(errors, "spec", "'loadBalancerSourceRange' was unexpected")


def test_service_wrong_type_reports_every_error() -> None:
    errors = validate_k8s(service(ports=[{"port": "1883"}], sessionAffinity=1))
    assert any_mentions(errors, "spec.ports[0].port") and any_mentions(errors, "spec.sessionAffinity")


def test_built_in_bad_name_fails() -> None:
    obj = service()
    obj["metadata"]["name"] = "EMQX"
    assert any_mentions(validate_k8s(obj), "metadata.name")


def test_cluster_scoped_kind_with_namespace_fails() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "emqx", "namespace": "default"}}
    assert any_mentions(validate_k8s(ns), "cluster-scoped")


def test_group_must_match_not_just_its_first_label() -> None:
    obj = {"apiVersion": "apps.example.com/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {}}
    assert any_mentions(validate_k8s(obj), "no Kubernetes")


def test_unsupported_kubernetes_version_raises() -> None:
    with pytest.raises(ValueError, match="no strict schemas"):
        validate_k8s(service(), "1.9")


# --- dispatch ---------------------------------------------------------------------------------------------


def test_manifest_dispatch() -> None:
    assert validate_manifest(realistic_emqx()) == []
    assert validate_manifest(service()) == []
    assert any_mentions(validate_manifest(emqx(coreTemplate={"spec": {"bogus": 1}})), "'bogus' was unexpected")


@pytest.mark.parametrize(
    "obj",
    [
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        {"apiVersion": "v1", "kind": "Serivce", "metadata": {"name": "w"}},
        {"kind": "Service"},
        ["not", "an", "object"],
    ],
)
def test_unknown_kinds_are_errors_never_silent(obj: Any) -> None:
    assert validate_manifest(obj) != []


def test_a_missing_crd_copy_is_an_error_not_a_pass(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(validators, "crds_dir", lambda version=validators.OPERATOR_VERSION: tmp_path)
    validators._crd_validator.cache_clear()
    try:
        with pytest.raises(FileNotFoundError):
            validate_crd_object(emqx())
    finally:
        monkeypatch.undo()
        validators._crd_validator.cache_clear()


# --- cert-manager and Prometheus Operator (exported third-party schemas) ------------------------------------


CERTIFICATE = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Certificate",
    "metadata": {"name": "emqx-tls", "namespace": "emqx"},
    "spec": {
        "secretName": "emqx-tls",
        "issuerRef": {"name": "emqx-ca", "kind": "Issuer"},
        "dnsNames": ["mqtt.example.com"],
        "duration": "2160h",
        "privateKey": {"algorithm": "ECDSA", "size": 256},
    },
}
ISSUER = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Issuer",
    "metadata": {"name": "emqx-ca", "namespace": "emqx"},
    "spec": {"selfSigned": {}},
}
POD_MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PodMonitor",
    "metadata": {"name": "emqx", "namespace": "emqx"},
    "spec": {
        "selector": {"matchLabels": {"apps.emqx.io/instance": "emqx"}},
        "podMetricsEndpoints": [{"port": "dashboard", "path": "/api/v5/prometheus/stats", "interval": "15s"}],
    },
}
PROMETHEUS_RULE = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PrometheusRule",
    "metadata": {"name": "emqx", "namespace": "emqx"},
    "spec": {
        "groups": [
            {
                "name": "emqx",
                "rules": [
                    {
                        "alert": "EMQXDown",
                        "expr": "up{job='emqx'} == 0",
                        "for": "5m",
                        "labels": {"severity": "critical"},
                    }
                ],
            }
        ]
    },
}


@pytest.mark.parametrize("obj", [CERTIFICATE, ISSUER, POD_MONITOR, PROMETHEUS_RULE], ids=lambda o: o["kind"])
def test_third_party_kinds_valid(obj: dict[str, Any]) -> None:
    assert validate_manifest(obj) == []


@pytest.mark.parametrize(
    ("obj", "mutate", "needle"),
    [
        (CERTIFICATE, lambda o: o["spec"].update(dnsName=["x"]), "'dnsName' was unexpected"),
        (CERTIFICATE, lambda o: o["spec"]["privateKey"].update(algorithm="DSA"), "spec.privateKey.algorithm"),
        (CERTIFICATE, lambda o: o["spec"].pop("issuerRef"), "'issuerRef' is a required property"),
        (ISSUER, lambda o: o["spec"].update(selfsigned={}), "'selfsigned' was unexpected"),
        (POD_MONITOR, lambda o: o["spec"]["podMetricsEndpoints"][0].update(interval=15), "interval"),
        (POD_MONITOR, lambda o: o["spec"].update(endpoints=[]), "'endpoints' was unexpected"),
        (PROMETHEUS_RULE, lambda o: o["spec"]["groups"][0]["rules"][0].pop("expr"), "'expr' is a required property"),
        (PROMETHEUS_RULE, lambda o: o["metadata"].update(name="EMQX"), "metadata.name"),
    ],
)
def test_third_party_kinds_fail(obj: dict[str, Any], mutate: Any, needle: str) -> None:
    bad = copy.deepcopy(obj)
    mutate(bad)
    assert any_mentions(validate_manifest(bad), needle)


# --- cost -------------------------------------------------------------------------------------------------------


def test_loading_and_validating_is_fast() -> None:
    validators._crd_validator.cache_clear()
    start = time.perf_counter()
    validate_crd_object(emqx())
    load = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(20):
        validate_crd_object(realistic_emqx())
    per_object = (time.perf_counter() - start) / 20
    print(f"EMQX CRD load+first validation {load:.2f}s, then {per_object * 1000:.1f} ms per object")
    assert load < 5.0
    assert per_object < 0.1
