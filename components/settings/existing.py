"""existing: a Kubernetes cluster the stack deploys onto instead of creating one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from components import sizing
from components.config_reader import Problems, Section
from components.settings.common import STORAGE_CLASS, Target


@dataclass(frozen=True)
class ExistingClusterSettings:
    context: str | None
    storage_class: str | None
    listener_service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"]
    node_selector: tuple[tuple[str, str], ...]
    node_shape: sizing.NodeShape
    # We cannot configure an existing cluster's kubelets: unless their allowlist is known to carry the profile's
    # unsafe sysctls, EMQX pods ask only for the safe ones (the kubelet would refuse the pod otherwise).
    unsafe_sysctls_allowed: bool


def parse_existing(section: Section, target: Target | None) -> ExistingClusterSettings | None:
    if target != "existing":
        return None
    context = section.string("context", None)
    storage_class = section.string("storageClass", None, pattern=STORAGE_CLASS,
                                   hint="a StorageClass name: a DNS subdomain of at most 253 characters")
    service_type = section.string("listenerServiceType", "NodePort", choices=("ClusterIP", "NodePort", "LoadBalancer"))
    selector = section.string_map("nodeSelector", kind="label")
    shape = section.section("nodeShape")
    vcpu = shape.integer("vcpu", 4, minimum=1, maximum=1024)
    memory = shape.number("memoryGiB", 8.0, minimum=1.0, maximum=32768.0)
    unsafe = section.boolean("unsafeSysctlsAllowed", False)
    return ExistingClusterSettings(context=context, storage_class=storage_class, unsafe_sysctls_allowed=unsafe,
                                   listener_service_type=service_type or "NodePort",  # type: ignore[arg-type]
                                   node_selector=selector,
                                   node_shape=sizing.NodeShape(vcpu=vcpu or 4, memory_gib=memory))


def kubeconfig_problems(values: Mapping[str, Any], target: Target | None, problems: Problems) -> None:
    if target is not None and target != "existing" and "kubeconfig" in values:
        problems.add("kubeconfig", "only applies when target is 'existing'", "remove it: the stack makes its own")
