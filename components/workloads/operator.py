"""The EMQX Operator, pinned, on the system pool, installed after cert-manager."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.render.emqx import Placement

REPOSITORY = "https://repos.emqx.io/charts"
NAMESPACE = "emqx-operator-system"


def values(placement: Placement) -> dict[str, object]:
    out: dict[str, object] = {
        # The chart keeps its CRDs in templates/ behind this value (Helm's skip-crds does nothing for it); the EMQX
        # CRD is too large for client-side apply, so the chart, not us, must install it.
        "skipCRDs": False,
    }
    if placement.node_selector:
        out["nodeSelector"] = dict(placement.node_selector)
    return out


class EmqxOperator(pulumi.ComponentResource):
    release: k8s.helm.v3.Release

    def __init__(self, name: str, *, version: str, placement: Placement, after: Sequence[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("emqx-platform:workloads:EmqxOperator", name, None, opts)
        self.release = k8s.helm.v3.Release(
            f"{name}-emqx-operator",
            name="emqx-operator",
            chart="emqx-operator",
            version=version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=REPOSITORY),
            namespace=NAMESPACE,
            create_namespace=True,
            values=values(placement),
            skip_await=False,
            timeout=600,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
        )
        self.register_outputs({"status": self.release.status})
