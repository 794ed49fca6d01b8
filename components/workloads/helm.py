"""A pinned, awaited Helm release: how every chart of this project is installed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s


def pinned_release(resource_name: str, *, chart: str, version: str, repository: str, namespace: str,
                   values: Mapping[str, object], parent: pulumi.Resource,
                   depends_on: Sequence[pulumi.Resource] = (), shared: bool = False) -> k8s.helm.v3.Release:
    """shared: the release serves a cluster this stack does not own; destroying the stack leaves it installed
    (the operator's chart owns the EMQX CRDs, whose removal would delete every EMQX cluster on it)."""
    return k8s.helm.v3.Release(
        resource_name,
        name=chart,
        chart=chart,
        version=version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repository),
        namespace=namespace,
        create_namespace=True,
        values=dict(values),
        # Awaited: what comes next (the operator's webhooks, the EMQX resource) needs this release running.
        skip_await=False,
        timeout=600,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on), retain_on_delete=shared),
    )
