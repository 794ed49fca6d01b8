"""The seam between a cloud and Kubernetes: everything the workloads need from wherever the cluster came from.

Alibaba Cloud (ACK), AWS (EKS) and an existing cluster each produce one `Platform`; the workloads never branch on the
cloud. VM mode has no Kubernetes and no Platform (components/alicloud/vm_cluster.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.render.emqx import Placement, ServiceBinding


@dataclass(frozen=True)
class Companion:
    """A custom object the platform needs beside EMQX (apiVersion, kind, metadata, spec; the spec may hold Outputs)."""

    object: Mapping[str, Any]
    # Fields its controller refuses to change in place: a change replaces the object, the old one deleted first
    # (two objects may not claim one target group, for instance).
    replace_on_changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Platform:
    provider: k8s.Provider
    emqx_placement: Placement
    system_placement: Placement
    storage_class: str | None
    listeners: ServiceBinding
    dashboard: ServiceBinding
    # Load balancer annotations are known only after the load balancer exists.
    listener_annotations: pulumi.Input[Mapping[str, str]] = field(default_factory=dict)
    dashboard_annotations: pulumi.Input[Mapping[str, str]] = field(default_factory=dict)
    # Addresses clients dial for the MQTT listeners (the load balancer's), for the TLS certificate.
    listener_addresses: pulumi.Input[Sequence[str]] = ()
    # Names clients dial for them (an NLB's DNS name), for the TLS certificate of our own CA.
    listener_hostnames: pulumi.Input[Sequence[str]] = ()
    # Resources the cluster must have before any workload (node pools ready, the load balancer bound).
    depends_on: Sequence[pulumi.Resource] = ()
    # Labels the EMQX namespace needs from this platform (AWS: the load balancer controller injects its readiness
    # gates only into pods of a namespace labelled for it).
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    # Objects this platform needs in the EMQX namespace before the EMQX resource exists, as rendered custom objects
    # (apiVersion, kind, metadata, spec; the spec may hold Outputs). AWS: the TargetGroupBindings, which must exist
    # before EMQX's pods are created for their readiness gates to be injected.
    companions: Sequence[Companion] = ()
    # The cores' own pool beside replicants (nodePools.core); None: the cores run where emqx_placement says.
    core_placement: Placement | None = None
