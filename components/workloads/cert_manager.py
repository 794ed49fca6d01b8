"""cert-manager, pinned, on the system pool: the EMQX Operator's webhooks and our listener certificates need it."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.render.emqx import Placement
from components.workloads.helm import pinned_release

REPOSITORY = "https://charts.jetstack.io"
NAMESPACE = "cert-manager"


def values(placement: Placement) -> dict[str, object]:
    scheduling: dict[str, object] = {"nodeSelector": dict(placement.node_selector)} if placement.node_selector else {}
    return {
        # The chart installs and upgrades its own CRDs only with this value.
        "crds": {"enabled": True, "keep": True},
        **scheduling,
        "webhook": dict(scheduling),
        "cainjector": dict(scheduling),
        "startupapicheck": dict(scheduling),
    }


class CertManager(pulumi.ComponentResource):
    release: k8s.helm.v3.Release

    def __init__(self, name: str, *, version: str, placement: Placement, shared: bool = False,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("emqx-platform:workloads:CertManager", name, None, opts)
        self.release = pinned_release(
            f"{name}-cert-manager",
            chart="cert-manager",
            version=version,
            repository=REPOSITORY,
            namespace=NAMESPACE,
            values=values(placement),
            parent=self,
            shared=shared,
        )
        self.register_outputs({"status": self.release.status})
