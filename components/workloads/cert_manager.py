"""cert-manager, pinned, on the system pool: the EMQX Operator's webhooks and our listener certificates need it."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.render.emqx import Placement
from components.workloads.helm import pinned_release

REPOSITORY = "https://charts.jetstack.io"
NAMESPACE = "cert-manager"


# The chart's components and their images (quay.io/jetstack/cert-manager-<name>).
COMPONENTS = {"": "controller", "webhook": "webhook", "cainjector": "cainjector", "startupapicheck": "startupapicheck",
              "acmesolver": "acmesolver"}


def values(placement: Placement, image_registry: str | None = None) -> dict[str, object]:
    def component(image: str) -> dict[str, object]:
        out: dict[str, object] = {}
        # acmesolver pods are started by the controller for ACME challenges; the chart only takes their image.
        if placement.node_selector and image != "acmesolver":
            out["nodeSelector"] = dict(placement.node_selector)
        if image_registry:
            out["image"] = {"repository": f"{image_registry}/jetstack/cert-manager-{image}"}
        return out

    result: dict[str, object] = {
        # The chart installs and upgrades its own CRDs only with this value.
        "crds": {"enabled": True, "keep": True},
        **component(COMPONENTS[""]),
    }
    for key, image in COMPONENTS.items():
        if key and (values_of := component(image)):
            result[key] = values_of
    return result


class CertManager(pulumi.ComponentResource):
    release: k8s.helm.v3.Release

    def __init__(self, name: str, *, version: str, placement: Placement, shared: bool = False,
                 image_registry: str | None = None, after: Sequence[pulumi.Resource] = (),
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("emqx-platform:workloads:CertManager", name, None, opts)
        self.release = pinned_release(
            f"{name}-cert-manager",
            chart="cert-manager",
            version=version,
            repository=REPOSITORY,
            namespace=NAMESPACE,
            values=values(placement, image_registry),
            parent=self,
            depends_on=after,
            shared=shared,
        )
        self.register_outputs({"status": self.release.status})
