"""components/settings/existing.py: the existing section's parser and the kubeconfig per target."""

from __future__ import annotations

from typing import Any

from components import sizing
from components.config_reader import Problems, Section
from components.settings.existing import ExistingClusterSettings, kubeconfig_problems, parse_existing


def existing(raw: Any, target: str | None = "existing") -> tuple[ExistingClusterSettings | None, list[str]]:
    problems = Problems()
    section = Section("existing", raw, problems)
    parsed = parse_existing(section, target)  # type: ignore[arg-type]
    return parsed, problems.items


def keys(found: list[str]) -> list[str]:
    return [p.split(":", 1)[0] for p in found]


def test_the_defaults() -> None:
    default = ExistingClusterSettings(context=None, storage_class=None, listener_service_type="NodePort",
                                      node_selector=(), node_shape=sizing.NodeShape(4, 8.0),
                                      unsafe_sysctls_allowed=False)
    assert existing(None) == (default, [])


def test_only_an_existing_target_reads_it() -> None:
    for target in ("alicloud", "aws", None):
        assert existing({"context": "x"}, target) == (None, [])


def test_a_full_section_is_read() -> None:
    parsed, found = existing({"context": "prod", "storageClass": "gp3", "listenerServiceType": "LoadBalancer",
                              "nodeSelector": {"pool": "emqx"}, "nodeShape": {"vcpu": 16, "memoryGiB": 64},
                              "unsafeSysctlsAllowed": True})
    assert found == [] and parsed is not None
    assert parsed.node_shape == sizing.NodeShape(16, 64.0) and parsed.node_selector == (("pool", "emqx"),)
    assert parsed.listener_service_type == "LoadBalancer" and parsed.unsafe_sysctls_allowed


def test_bad_values_are_refused() -> None:
    _, found = existing({"storageClass": "GP3", "listenerServiceType": "ExternalName", "nodeSelector": {"a": "b c"},
                         "nodeShape": {"vcpu": 0, "memoryGiB": 0.5}})
    assert keys(found) == ["existing.storageClass", "existing.listenerServiceType", "existing.nodeSelector.a",
                           "existing.nodeShape.vcpu", "existing.nodeShape.memoryGiB"]


def test_a_kubeconfig_belongs_to_an_existing_cluster() -> None:
    for target, expected in (("existing", []), ("alicloud", ["kubeconfig"]), ("aws", ["kubeconfig"]), (None, [])):
        problems = Problems()
        kubeconfig_problems({"kubeconfig": "apiVersion: v1"}, target, problems)  # type: ignore[arg-type]
        assert keys(problems.items) == expected, target
    # The value is secret: no message quotes it.
    problems = Problems()
    kubeconfig_problems({"kubeconfig": "apiVersion: v1"}, "alicloud", problems)
    assert "apiVersion" not in problems.items[0]
