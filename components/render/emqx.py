"""Pure renderers for the EMQX cluster: HOCON config, the operator's EMQX / EmqxEnterprise spec, Rebalance specs.

Secrets never enter these objects: the licence key and the dashboard password reach the pods as environment
variables from a Kubernetes Secret (`secret_name`), so the custom resource, which many roles can read, holds no
secret, and the rendered spec stays plain, reviewable text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Ports are EMQX defaults (FACTS.md section 1); the names are the operator's listener names.
LISTENERS: tuple[tuple[str, str, int], ...] = (
    ("tcp", "mqtt", 1883),
    ("ssl", "mqtts", 8883),
    ("ws", "ws", 8083),
    ("wss", "wss", 8084),
)
DASHBOARD_PORT = 18083
TLS_MOUNT = "/opt/emqx/etc/certs/listeners"
LICENSE_ENV = "EMQX_LICENSE__KEY"
DASHBOARD_PASSWORD_ENV = "EMQX_DASHBOARD__DEFAULT_PASSWORD"
SECRET_LICENSE_KEY = "license-key"
SECRET_DASHBOARD_PASSWORD = "dashboard-password"
LEGACY_LICENSE_FILE = "emqx.lic"
READY_TIMEOUT_SECONDS = 1800


@dataclass(frozen=True)
class ServiceBinding:
    """How a Service of the EMQX cluster meets the platform (load balancer annotations, type, fixed node ports)."""

    type: str = "ClusterIP"
    annotations: Mapping[str, str] = field(default_factory=dict)
    node_ports: Mapping[int, int] = field(default_factory=dict)  # service port -> nodePort
    external_traffic_policy: str | None = None
    load_balancer_class: str | None = None


@dataclass(frozen=True)
class Placement:
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, str]] = ()
    zone_count: int = 1


@dataclass(frozen=True)
class EmqxSpecInputs:
    name: str
    image: str
    cores: int
    replicants: int
    max_connections_per_node: int
    acceptors: int
    keepalive_seconds: int
    pod_cpu: str
    pod_memory: str
    pod_sysctls: Sequence[Mapping[str, str]]
    placement: Placement
    listeners: ServiceBinding
    dashboard: ServiceBinding
    secret_name: str
    tls_secret_name: str
    license_secret_name: str
    with_license: bool
    core_storage_gib: int
    storage_class: str | None
    # The issuer writes ca.crt (our self-signed CA does; ACME issuers, for one, do not): only then is it configured.
    tls_ca_file: bool = True
    # The listen() backlog; the kernel caps it at the pod's net.core.somaxconn, and EMQX's default is 1024, so
    # without it a larger somaxconn changes nothing.
    listen_backlog: int = 1024
    # A digest of the licence key (never the key): a new licence must restart the pods, which read it at start.
    license_digest: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


def max_ports(max_connections_per_node: int) -> int:
    """The Erlang port limit: the node's client capacity plus 5% (at least 4096) for cluster links, files, the
    dashboard and internal ports. Listener max_connections count per listener, so this is the only node-wide
    ceiling; Erlang may round it up (EMQX's docs), so it bounds the total only roughly."""
    return max_connections_per_node + max(4096, max_connections_per_node // 20)


def hocon(inputs: EmqxSpecInputs) -> str:
    """etc/emqx.conf-style config for the cluster. `node.*` and `dashboard.*` apply when pods are created."""
    lines = [
        "# Rendered by emqx-platform from the stack config; edit the stack, not this text.",
        f"node.max_ports = {max_ports(inputs.max_connections_per_node)}",
        # Clients send PINGREQ every keepalive; EMQX drops them after keepalive x multiplier of silence.
        "mqtt.keepalive_multiplier = 1.5",
    ]
    for kind, _, port in LISTENERS:
        prefix = f"listeners.{kind}.default"
        lines.append(f'{prefix}.bind = "0.0.0.0:{port}"')
        lines.append(f"{prefix}.acceptors = {inputs.acceptors}")
        lines.append(f"{prefix}.max_connections = {inputs.max_connections_per_node}")
        lines.append(f"{prefix}.tcp_options.backlog = {inputs.listen_backlog}")
        if kind in ("ssl", "wss"):
            lines.append(f'{prefix}.ssl_options.certfile = "{TLS_MOUNT}/tls.crt"')
            lines.append(f'{prefix}.ssl_options.keyfile = "{TLS_MOUNT}/tls.key"')
            if inputs.tls_ca_file:
                lines.append(f'{prefix}.ssl_options.cacertfile = "{TLS_MOUNT}/ca.crt"')
    lines.append(f'dashboard.listeners.http.bind = "0.0.0.0:{DASHBOARD_PORT}"')
    if inputs.with_license:
        lines.append(f"# license.key comes from the environment ({LICENSE_ENV}), from Secret {inputs.secret_name}.")
    return "\n".join(lines) + "\n"


def _env(inputs: EmqxSpecInputs) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {
            "name": DASHBOARD_PASSWORD_ENV,
            "valueFrom": {"secretKeyRef": {"name": inputs.secret_name, "key": SECRET_DASHBOARD_PASSWORD}},
        }
    ]
    if inputs.with_license:
        env.append(
            {
                "name": LICENSE_ENV,
                "valueFrom": {"secretKeyRef": {"name": inputs.secret_name, "key": SECRET_LICENSE_KEY}},
            }
        )
    return env


RESTART_ANNOTATION = "emqx-platform/restart-digest"


def restart_digest(inputs: EmqxSpecInputs) -> str:
    """Changes exactly when running pods cannot pick a change up: `node.*` settings (the operator does not push
    them to a running cluster) and the licence (read from the environment at start). In the pod template, so a
    change becomes the operator's blue-green rollout."""
    node_lines = [line for line in hocon(inputs).splitlines() if line.startswith("node.")]
    material = "\n".join([*node_lines, inputs.license_digest])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _pod_labels(inputs: EmqxSpecInputs, role: str) -> dict[str, str]:
    return {**inputs.labels, "apps.emqx.io/instance": inputs.name, "apps.emqx.io/db-role": role}


def _scheduling(inputs: EmqxSpecInputs, role: str) -> dict[str, Any]:
    """One EMQX pod per node (each is sized to its node) and pods of a role spread evenly over the zones."""
    instance = {"apps.emqx.io/instance": inputs.name}
    out: dict[str, Any] = {
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": dict(instance)}, "topologyKey": "kubernetes.io/hostname"}
                ]
            }
        },
    }
    if inputs.placement.zone_count > 1:
        out["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                # Cores hold the database: never stack them in one zone. Replicants may skew rather than stay
                # Pending when a zone is short of nodes.
                "whenUnsatisfiable": "DoNotSchedule" if role == "core" else "ScheduleAnyway",
                "labelSelector": {"matchLabels": {**instance, "apps.emqx.io/db-role": role}},
            }
        ]
    if inputs.placement.node_selector:
        out["nodeSelector"] = dict(inputs.placement.node_selector)
    if inputs.placement.tolerations:
        out["tolerations"] = [dict(t) for t in inputs.placement.tolerations]
    return out


def _template(inputs: EmqxSpecInputs, role: str, replicas: int) -> dict[str, Any]:
    resources = {"cpu": inputs.pod_cpu, "memory": inputs.pod_memory}
    spec: dict[str, Any] = {
        "replicas": replicas,
        # Requests equal limits: the Guaranteed QoS class keeps the kubelet from evicting a broker under pressure.
        "resources": {"requests": dict(resources), "limits": dict(resources)},
        "env": _env(inputs),
        "podSecurityContext": {
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "fsGroup": 1000,
            "fsGroupChangePolicy": "OnRootMismatch",
            "sysctls": [dict(s) for s in inputs.pod_sysctls],
        },
        "extraVolumes": [{"name": "listener-tls", "secret": {"secretName": inputs.tls_secret_name}}],
        "extraVolumeMounts": [{"name": "listener-tls", "mountPath": TLS_MOUNT, "readOnly": True}],
        **_scheduling(inputs, role),
    }
    # Voluntary disruptions (drains, upgrades) take one pod at a time.
    spec["maxUnavailable"] = 1
    if role == "core":
        spec["volumeClaimTemplates"] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": f"{inputs.core_storage_gib}Gi"}},
            **({"storageClassName": inputs.storage_class} if inputs.storage_class else {}),
        }
    metadata = {"labels": _pod_labels(inputs, role), "annotations": {RESTART_ANNOTATION: restart_digest(inputs)}}
    return {"metadata": metadata, "spec": spec}


def _service(binding: ServiceBinding, ports: list[dict[str, Any]]) -> dict[str, Any]:
    for port in ports:
        node_port = binding.node_ports.get(port["port"])
        if node_port is not None and binding.type in ("NodePort", "LoadBalancer"):
            port["nodePort"] = node_port
    spec: dict[str, Any] = {"type": binding.type, "ports": ports}
    if binding.external_traffic_policy and binding.type in ("NodePort", "LoadBalancer"):
        spec["externalTrafficPolicy"] = binding.external_traffic_policy
    if binding.load_balancer_class and binding.type == "LoadBalancer":
        spec["loadBalancerClass"] = binding.load_balancer_class
    template: dict[str, Any] = {"enabled": True, "spec": spec}
    if binding.annotations:
        template["metadata"] = {"annotations": dict(binding.annotations)}
    return template


def emqx_spec(inputs: EmqxSpecInputs) -> dict[str, Any]:
    """spec of an apps.emqx.io/v2beta1 EMQX."""
    listener_ports = [
        {"name": name, "port": port, "protocol": "TCP", "targetPort": port} for _, name, port in LISTENERS
    ]
    spec: dict[str, Any] = {
        "image": inputs.image,
        "imagePullPolicy": "IfNotPresent",
        # Leftover StatefulSets/PVCs of earlier blue-green rollouts kept for rollback.
        "revisionHistoryLimit": 3,
        "config": {"mode": "Merge", "data": hocon(inputs)},
        "updateStrategy": {
            "type": "Recreate",
            "initialDelaySeconds": 10,
            "evacuationStrategy": {"connEvictRate": 1000, "sessEvictRate": 1000, "waitTakeover": 10},
        },
        "coreTemplate": _template(inputs, "core", inputs.cores),
        "listenersServiceTemplate": _service(inputs.listeners, listener_ports),
        "dashboardServiceTemplate": _service(
            inputs.dashboard,
            [{"name": "dashboard", "port": DASHBOARD_PORT, "protocol": "TCP", "targetPort": DASHBOARD_PORT}],
        ),
    }
    if inputs.replicants:
        spec["replicantTemplate"] = _template(inputs, "replicant", inputs.replicants)
    return spec


def emqx_enterprise_v4_spec(inputs: EmqxSpecInputs, version: str, repository: str) -> dict[str, Any]:
    """spec of an apps.emqx.io/v1beta4 EmqxEnterprise (EMQX Enterprise 4.4, legacy fleets)."""
    config = {
        "node.max_ports": str(max_ports(inputs.max_connections_per_node)),
        "listener.tcp.external.max_connections": str(inputs.max_connections_per_node),
        "listener.tcp.external.acceptors": str(inputs.acceptors),
        "listener.tcp.external.backlog": str(inputs.listen_backlog),
        "listener.ssl.external.backlog": str(inputs.listen_backlog),
        "listener.ssl.external.max_connections": str(inputs.max_connections_per_node),
        "listener.ssl.external.certfile": f"{TLS_MOUNT}/tls.crt",
        "listener.ssl.external.keyfile": f"{TLS_MOUNT}/tls.key",
        "listener.ws.external.max_connections": str(inputs.max_connections_per_node),
        "listener.wss.external.max_connections": str(inputs.max_connections_per_node),
        "listener.wss.external.certfile": f"{TLS_MOUNT}/tls.crt",
        "listener.wss.external.keyfile": f"{TLS_MOUNT}/tls.key",
    }
    if inputs.tls_ca_file:
        config["listener.ssl.external.cacertfile"] = f"{TLS_MOUNT}/ca.crt"
    resources = {"cpu": inputs.pod_cpu, "memory": inputs.pod_memory}
    scheduling = _scheduling(inputs, "core")
    scheduling.pop("topologySpreadConstraints", None)  # not in the v1beta4 pod template
    listener_ports = [
        {"name": name, "port": port, "protocol": "TCP", "targetPort": port} for _, name, port in LISTENERS
    ]
    service = _service(inputs.listeners, listener_ports)
    service.pop("enabled")
    spec: dict[str, Any] = {
        "replicas": inputs.cores,
        "template": {
            "metadata": {
                "labels": _pod_labels(inputs, "core"),
                "annotations": {RESTART_ANNOTATION: restart_digest(inputs)},
            },
            "spec": {
                **scheduling,
                "podSecurityContext": {
                    "runAsUser": 1000,
                    "runAsGroup": 1000,
                    "fsGroup": 1000,
                    "sysctls": [dict(s) for s in inputs.pod_sysctls],
                },
                "emqxContainer": {
                    "image": {"repository": repository, "version": version},
                    # EMQX 4.4's dashboard.default_user.password; applied when the admin user is first created.
                    "env": [{"name": "EMQX_DASHBOARD__DEFAULT_USER__PASSWORD", "valueFrom": {"secretKeyRef": {
                        "name": inputs.secret_name, "key": SECRET_DASHBOARD_PASSWORD}}}],
                    "emqxConfig": config,
                    "resources": {"requests": dict(resources), "limits": dict(resources)},
                    "volumeMounts": [{"name": "listener-tls", "mountPath": TLS_MOUNT, "readOnly": True}],
                },
                "volumes": [{"name": "listener-tls", "secret": {"secretName": inputs.tls_secret_name}}],
            },
        },
        "serviceTemplate": {"metadata": service.get("metadata", {}), "spec": service["spec"]},
        "blueGreenUpdate": {
            "initialDelaySeconds": 60,
            "evacuationStrategy": {"connEvictRate": 1000, "sessEvictRate": 1000, "waitTakeover": 10},
        },
        "persistent": {
            "metadata": {"name": f"{inputs.name}-data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": f"{inputs.core_storage_gib}Gi"}},
                **({"storageClassName": inputs.storage_class} if inputs.storage_class else {}),
            },
        },
    }
    if inputs.with_license:
        spec["license"] = {"secretName": inputs.license_secret_name}
    return spec


def rebalance_spec(*, instance_name: str, instance_kind: str, strategy: Mapping[str, Any]) -> dict[str, Any]:
    return {"instanceName": instance_name, "instanceKind": instance_kind, "rebalanceStrategy": dict(strategy)}


def rebalance_object_name(instance_name: str, run_name: str, spec: Mapping[str, Any]) -> str:
    """A Rebalance cannot be updated (the webhook rejects it): a changed run gets a new name, hence a new object."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:8]
    return f"{instance_name}-{run_name}-{digest}"
