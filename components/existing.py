"""An existing Kubernetes cluster reached by kubeconfig: no cloud resources, only the seam."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.platform import Platform
from components.render.emqx import Placement, ServiceBinding
from components.settings import Settings


class ExistingCluster(pulumi.ComponentResource):
    platform: Platform

    def __init__(self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("emqx-platform:existing:Cluster", name, None, opts)
        existing = settings.existing
        assert existing is not None
        # Without a kubeconfig secret the provider uses the ambient kubeconfig (KUBECONFIG or ~/.kube/config).
        provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=settings.kubeconfig,
            context=existing.context,
            opts=pulumi.ResourceOptions(parent=self),
        )
        placement = Placement(node_selector=dict(existing.node_selector), zone_count=1)
        self.platform = Platform(
            provider=provider,
            emqx_placement=placement,
            system_placement=placement,
            storage_class=existing.storage_class,
            listeners=ServiceBinding(type=existing.listener_service_type),
            dashboard=ServiceBinding(type="ClusterIP"),
        )
        self.register_outputs({})
