"""The seam between a cloud and Kubernetes: everything the workloads need from wherever the cluster came from.

Alibaba Cloud and an existing cluster (and later AWS) each produce one `Platform`; the workloads never branch on the
cloud.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.render.emqx import Placement, ServiceBinding


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
