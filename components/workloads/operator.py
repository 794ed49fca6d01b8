"""The EMQX Operator, pinned, on the system pool, installed after cert-manager."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.render.emqx import Placement
from components.workloads.helm import pinned_release

REPOSITORY = "https://repos.emqx.io/charts"
NAMESPACE = "emqx-operator-system"


def values(placement: Placement, image_registry: str | None = None) -> dict[str, object]:
    out: dict[str, object] = {
        # The chart keeps its CRDs in templates/ behind this value (Helm's skip-crds does nothing for it); the EMQX
        # CRD is too large for client-side apply, so the chart, not us, must install it.
        "skipCRDs": False,
    }
    if placement.node_selector:
        out["nodeSelector"] = dict(placement.node_selector)
    if image_registry:
        out["image"] = {"repository": f"{image_registry}/emqx/emqx-operator-controller"}
    return out


class EmqxOperator(pulumi.ComponentResource):
    release: k8s.helm.v3.Release

    def __init__(self, name: str, *, version: str, placement: Placement, after: Sequence[pulumi.Resource],
                 shared: bool = False, image_registry: str | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("emqx-platform:workloads:EmqxOperator", name, None, opts)
        self.release = pinned_release(
            f"{name}-emqx-operator",
            chart="emqx-operator",
            version=version,
            repository=REPOSITORY,
            namespace=NAMESPACE,
            values=values(placement, image_registry),
            parent=self,
            shared=shared,
            depends_on=after,
        )
        self.register_outputs({"status": self.release.status})
