"""The EMQX cluster: namespace, secrets, listener TLS from cert-manager, and the operator's custom resource."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import sizing
from components.platform import Platform
from components.render import auth, certificates
from components.render.emqx import (
    LEGACY_LICENSE_FILE,
    SECRET_DASHBOARD_PASSWORD,
    SECRET_LICENSE_KEY,
    EmqxSpecInputs,
    emqx_enterprise_v4_spec,
    emqx_spec,
)
from components.settings import Settings

MANAGED_BY = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "emqx-platform"}


def spec_inputs(settings: Settings, platform: Platform) -> EmqxSpecInputs:
    """What the renderer needs, from the settings and the platform (annotations are filled in later)."""
    emqx, plan = settings.emqx, settings.sizing
    return EmqxSpecInputs(
        name=emqx.name,
        image=emqx.release.image,
        cores=plan.cores,
        replicants=plan.replicants,
        max_connections_per_node=plan.max_connections_per_node,
        acceptors=emqx.acceptors,
        keepalive_seconds=emqx.keepalive_seconds,
        pod_cpu=plan.pod_cpu,
        pod_memory=plan.pod_memory,
        pod_sysctls=settings.pod_sysctls,
        placement=platform.emqx_placement,
        # Only a plan with the cores on their own shape uses the platform's core pool.
        core_placement=platform.core_placement if plan.core_shape is not None else None,
        core_pod_cpu=plan.core_pod_cpu,
        core_pod_memory=plan.core_pod_memory,
        listeners=platform.listeners,
        dashboard=platform.dashboard,
        secret_name=f"{emqx.name}-secrets",
        license_secret_name=f"{emqx.name}-license",
        tls_secret_name=f"{emqx.name}-listener-tls",
        with_license=settings.has_license,
        core_storage_gib=emqx.core_storage_gib,
        storage_class=platform.storage_class,
        tls_ca_file=settings.emqx.certificates.issuer_kind is None,
        listen_backlog=next((int(s["value"]) for s in settings.pod_sysctls if s["name"] == "net.core.somaxconn"), 1024),
        license_from_file=emqx.release.license_from_file,
        max_conn_rate=sizing.storm_connection_rate(plan),
        evacuation=sizing.evacuation(plan),
        labels=MANAGED_BY,
        auth=auth.AuthInputs(
            settings=emqx.auth,
            # The bootstrap file sits beside the dashboard password in the stack's Secret, never in the CR.
            users_secret=f"{emqx.name}-secrets" if settings.mqtt_users is not None and emqx.auth.built_in_database
            else None,
            acl_config_map=f"{emqx.name}-acl",
        ),
    )


@dataclass(frozen=True)
class RolloutEstimate:
    """How a blue-green rollout of a stack's EMQX cluster runs: the operator's eviction rates, the listeners'
    admission rate, the estimated duration and how long Pulumi waits for it."""

    evacuation: sizing.Evacuation
    max_conn_rate: int
    seconds: int
    timeout_seconds: int


def rollout_estimate(settings: Settings) -> RolloutEstimate:
    """Only Enterprise evacuates; open-source nodes are stopped with their clients on them, who reconnect."""
    plan = settings.sizing
    strategy = sizing.evacuation(plan)
    evacuates = settings.emqx.release.edition == "enterprise"
    return RolloutEstimate(
        evacuation=strategy,
        max_conn_rate=sizing.storm_connection_rate(plan),
        seconds=sizing.rollout_seconds(plan, strategy, evacuates=evacuates),
        timeout_seconds=sizing.rollout_timeout_seconds(plan, strategy, evacuates=evacuates),
    )


def rollout_table(stacks: Mapping[str, Settings]) -> str:
    """The README's rollout table (Markdown), one row per stack."""
    rows = [
        "| stack | EMQX nodes | connections per client node | connEvictRate / max_conn_rate (per node, /s) "
        "| rollout, estimate | Pulumi waits |",
        "|---|---|---|---|---|---|",
    ]
    for name, settings in sorted(stacks.items()):
        plan, estimate = settings.sizing, rollout_estimate(settings)
        edition = settings.emqx.release.edition
        nodes = f"{plan.cores} core + {plan.replicants} replicant ({edition} {settings.emqx.release.version})"
        rows.append(
            f"| {name} | {nodes} | {plan.connections_per_node:,} | {estimate.evacuation.conn_evict_rate:,} / "
            f"{estimate.max_conn_rate:,} | {math.ceil(estimate.seconds / 60)} min | "
            f"{estimate.timeout_seconds // 60} min |"
        )
    return "\n".join(rows) + "\n"


class EmqxCluster(pulumi.ComponentResource):
    resource: k8s.apiextensions.CustomResource
    dashboard_password: pulumi.Output[str]
    namespace: pulumi.Output[str]

    def __init__(self, name: str, *, settings: Settings, platform: Platform, after: Sequence[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("emqx-platform:workloads:EmqxCluster", name, None, opts)
        emqx = settings.emqx
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=platform.provider)
        inputs = spec_inputs(settings, platform)

        ns = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": emqx.namespace,
                                                           "labels": {**platform.namespace_labels, **MANAGED_BY}},
                                   opts=k8s_opts)
        self.namespace = ns.metadata.apply(lambda m: m.name or emqx.namespace)
        in_ns = pulumi.ResourceOptions(parent=self, provider=platform.provider, depends_on=[ns])

        # EMQX applies the default password only when its database is first created, so the value is generated
        # once and kept; rotating it later is a dashboard/API action, not a config change.
        password = random.RandomPassword(f"{name}-dashboard-password", length=24, special=False,
                                         opts=pulumi.ResourceOptions(parent=self))
        self.dashboard_password = pulumi.Output.secret(password.result)
        secret_data: dict[str, pulumi.Input[str]] = {SECRET_DASHBOARD_PASSWORD: password.result}
        licence_secrets: list[pulumi.Resource] = []
        if settings.license_key is not None and not emqx.release.legacy:
            secret_data[SECRET_LICENSE_KEY] = settings.license_key
        elif settings.license_key is not None:
            # The 4.4 operator mounts the whole licence Secret and takes whichever key it meets first as the licence
            # file, so that Secret holds the licence file and nothing else.
            licence_secrets.append(k8s.core.v1.Secret(
                f"{name}-license",
                metadata={"name": inputs.license_secret_name, "namespace": emqx.namespace, "labels": MANAGED_BY},
                type="Opaque",
                string_data=pulumi.Output.secret({LEGACY_LICENSE_FILE: settings.license_key}),
                opts=in_ns,
            ))
        if inputs.auth is not None and inputs.auth.users_secret and settings.mqtt_users is not None:
            # Hashed here (bootstrap_type = hash), so neither the Secret nor the pods hold a password in clear. One
            # random seed per stack, kept in its state, gives every user a salt that stays put across updates.
            seed = random.RandomId(f"{name}-mqtt-user-salt", byte_length=16, opts=pulumi.ResourceOptions(parent=self))
            superusers = emqx.auth.superusers
            secret_data[auth.SECRET_USERS] = pulumi.Output.all(settings.mqtt_users, seed.hex).apply(
                lambda args: auth.bootstrap_users(args[0], superusers, args[1]))
        secret = k8s.core.v1.Secret(
            f"{name}-secrets",
            metadata={"name": inputs.secret_name, "namespace": emqx.namespace, "labels": MANAGED_BY},
            type="Opaque",
            string_data=pulumi.Output.secret(secret_data),
            opts=in_ns,
        )

        acl_objects: list[pulumi.Resource] = []
        if emqx.auth.acl_rules and not emqx.release.legacy:
            # Keyed by a digest of the rules: a new rule set is a new path in EMQX's config (render/auth.py).
            acl_objects.append(k8s.core.v1.ConfigMap(
                f"{name}-acl",
                metadata={"name": f"{emqx.name}-acl", "namespace": emqx.namespace, "labels": MANAGED_BY},
                data={auth.acl_file_name(emqx.auth.acl_rules): auth.acl_file(emqx.auth.acl_rules)},
                opts=in_ns,
            ))

        tls_objects = certificates.listener_tls(
            emqx_name=emqx.name,
            namespace=emqx.namespace,
            secret_name=inputs.tls_secret_name,
            issuer_kind=emqx.certificates.issuer_kind,
            issuer_name=emqx.certificates.issuer_name,
            dns_names=emqx.certificates.dns_names,
            labels=MANAGED_BY,
        )
        tls_resources: list[pulumi.Resource] = []
        previous: list[pulumi.Resource] = [ns, *after]
        for obj in tls_objects:
            spec_input: pulumi.Input[dict[str, Any]] = obj["spec"]
            if obj["metadata"]["name"] == inputs.tls_secret_name and emqx.certificates.issuer_kind is None:
                # Clients that verify the server dial the load balancer's address: it must be on the certificate
                # (our own CA only: a public CA refuses private addresses).
                spec_input = pulumi.Output.all(platform.listener_addresses, platform.listener_hostnames).apply(
                    lambda found, spec=obj["spec"]: _with_load_balancer_names(spec, found[0], found[1])
                )
            res = k8s.apiextensions.CustomResource(
                f"{name}-{obj['kind'].lower()}-{obj['metadata']['name']}",
                api_version=obj["apiVersion"],
                kind=obj["kind"],
                metadata=obj["metadata"],
                spec=spec_input,
                opts=pulumi.ResourceOptions(parent=self, provider=platform.provider, depends_on=list(previous)),
            )
            tls_resources.append(res)
            previous = [res]

        companions: list[pulumi.Resource] = []
        for companion in platform.companions:
            obj = companion.object
            companions.append(k8s.apiextensions.CustomResource(
                f"{name}-{obj['kind'].lower()}-{obj['metadata']['name']}",
                api_version=obj["apiVersion"],
                kind=obj["kind"],
                metadata={**obj["metadata"], "namespace": emqx.namespace},
                spec=obj["spec"],
                # The platform's controllers (its depends_on) must be up to admit them.
                opts=pulumi.ResourceOptions(parent=self, provider=platform.provider,
                                            depends_on=[ns, *platform.depends_on],
                                            replace_on_changes=list(companion.replace_on_changes) or None,
                                            delete_before_replace=bool(companion.replace_on_changes)),
            ))

        # A digest of the licence, not secret itself, so the rendered spec stays reviewable.
        license_digest = (pulumi.Output.unsecret(settings.license_key.apply(
            lambda key: hashlib.sha256(key.encode()).hexdigest()[:16])) if settings.license_key is not None else "")
        spec = pulumi.Output.all(platform.listener_annotations, platform.dashboard_annotations, license_digest).apply(
            lambda args: _render(settings, replace(inputs, license_digest=args[2]), args[0], args[1])
        )
        self.resource = k8s.apiextensions.CustomResource(
            f"{name}-emqx",
            api_version=emqx.release.api_version,
            kind=emqx.release.kind,
            metadata={
                "name": emqx.name,
                "namespace": emqx.namespace,
                "labels": MANAGED_BY,
                "annotations": {
                    # Pulumi waits for the operator to report the cluster Ready, with time for a blue-green rollout.
                    "pulumi.com/waitFor": "condition=Ready",
                    "pulumi.com/timeoutSeconds": str(rollout_estimate(settings).timeout_seconds),
                },
            },
            spec=spec,
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=platform.provider,
                depends_on=[*after, secret, *licence_secrets, *acl_objects, *tls_resources, *companions,
                            *platform.depends_on],
            ),
        )
        self.register_outputs({"namespace": self.namespace, "dashboard_password": self.dashboard_password})


def _with_load_balancer_names(spec: Mapping[str, Any], addresses: Sequence[str],
                              hostnames: Sequence[str]) -> dict[str, Any]:
    out = dict(spec)
    if addresses:
        out["ipAddresses"] = list(addresses)
    names = [n for n in hostnames if n not in out.get("dnsNames", [])]
    if names:
        out["dnsNames"] = [*out.get("dnsNames", []), *names]
    return out


def _render(settings: Settings, inputs: EmqxSpecInputs, listener_annotations: Mapping[str, str],
            dashboard_annotations: Mapping[str, str]) -> dict[str, Any]:
    final = replace(
        inputs,
        listeners=replace(inputs.listeners, annotations=dict(listener_annotations or {})),
        dashboard=replace(inputs.dashboard, annotations=dict(dashboard_annotations or {})),
    )
    release = settings.emqx.release
    if release.legacy:
        repository = release.image.rsplit(":", 1)[0]
        return emqx_enterprise_v4_spec(final, release.version, repository)
    return emqx_spec(final)
