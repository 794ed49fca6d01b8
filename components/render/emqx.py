"""Pure renderers for the EMQX cluster: HOCON config, the operator's EMQX / EmqxEnterprise spec, Rebalance specs.

Secrets never enter these objects: the dashboard password reaches the pods as an environment variable and the
licence as a file, both from a Kubernetes Secret (`secret_name`), so the custom resource, which many roles can
read, holds no secret, and the rendered spec stays plain, reviewable text.

Which settings reach running pods (EMQX Operator 2.2.29, controllers/apps/v2beta1/sync_emqx_config.go): for EMQX
5.7 and later the operator PUTs the whole `config.data` to /api/v5/configs?ignore_readonly=true, and EMQX drops the
root keys `node` and `rpc` and every `cluster` key but `cluster.links` (emqx_conf_cli.erl check_config) while
applying the rest live. The operator creates the new core StatefulSet before it rewrites the config map the pods
mount by subPath, so boot-only settings written in `config.data` would never reach new pods either: they go into
the pod templates as `EMQX_*` environment variables (bin/emqx: HOCON_ENV_OVERRIDE_PREFIX=EMQX_, `__` for a dot),
where a change is itself a pod-template change and so the operator's blue-green rollout.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.render.auth import AuthInputs, hocon_lines, legacy_config, pod_files
from components.sizing import ROLLOUT_INITIAL_DELAY_SECONDS, Evacuation

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
# EMQX Enterprise 5.4.0 and later read `license.key = "file://<path>"` and re-read the file every 2 minutes
# (apps/emqx_license emqx_license_parser.erl parse/2, emqx_license_checker.erl REFRESH_INTERVAL; added by commit
# caaf8113fc, first in e5.4.0). The Secret is mounted as a directory (not subPath), so the kubelet replaces the
# file when the Secret changes and a renewal reaches running nodes without a restart.
LICENSE_MOUNT = "/opt/emqx/etc/license"
LICENSE_FILE = "emqx.lic"
DASHBOARD_PASSWORD_ENV = "EMQX_DASHBOARD__DEFAULT_PASSWORD"
SECRET_LICENSE_KEY = "license-key"
SECRET_DASHBOARD_PASSWORD = "dashboard-password"
LEGACY_LICENSE_FILE = "emqx.lic"
# EMQX defaults (apps/emqx/src/emqx_schema.erl, 5.8.9 and 5.10.3): written only when the plan differs from them.
DEFAULT_ACCEPTORS = 16
DEFAULT_BACKLOG = 1024
# Old cores stay in the database schema as "stopped" until cluster.autoclean (EMQX default 24h, a duration;
# emqx_conf_schema.erl fields("cluster"), readOnly) after every core rollout. Short, so a rollout leaves no
# stopped member for long; a core down longer than this rejoins through the operator's DNS discovery at restart.
CLUSTER_AUTOCLEAN = "5m"


# When the caller has no plan (tests, tools): EMQX's evacuation API defaults for the wait.
DEFAULT_EVACUATION = Evacuation(conn_evict_rate=1000, sess_evict_rate=1000, wait_takeover=60)


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
    # A digest of the licence key (never the key): where the licence is read only at start (EMQX Enterprise before
    # 5.4, and 4.4), a new licence must restart the pods.
    license_digest: str = ""
    # Whether this release reads `license.key = "file://..."` (Enterprise 5.4.0 and later).
    license_from_file: bool = True
    # Connections per second each listener of a node admits (listeners.*.max_conn_rate); 0 = EMQX's default.
    max_conn_rate: int = 0
    # The operator's blue-green rollout: eviction rates per old node.
    evacuation: Evacuation = field(default_factory=lambda: DEFAULT_EVACUATION)
    labels: Mapping[str, str] = field(default_factory=dict)
    # MQTT client authentication and authorization (components/render/auth.py); None renders none of it.
    auth: AuthInputs | None = None
    # Cores beside replicants on their own pool (README, Sizing model): where they run and their pod size. None: the
    # placement, pod_cpu and pod_memory above, as for every all-core cluster.
    core_placement: Placement | None = None
    core_pod_cpu: str | None = None
    core_pod_memory: str | None = None


def client_urls(address: str, ports: Sequence[int]) -> dict[str, str]:
    """Client URLs per scheme of the listeners on `ports`, whichever load balancer answers at `address` (MQTT over
    WebSocket on EMQX's default path /mqtt)."""
    return {
        scheme: f"{scheme}://{address}:{port}" + ("/mqtt" if scheme in ("ws", "wss") else "")
        for _, scheme, port in LISTENERS if port in ports
    }


def dashboard_url(address: str) -> str:
    return f"http://{address}:{DASHBOARD_PORT}"


def max_ports(max_connections_per_node: int) -> int:
    """The Erlang port limit: the node's client capacity plus 5% (at least 4096) for cluster links, files, the
    dashboard and internal ports. Listener max_connections count per listener, so this is the only node-wide
    ceiling; Erlang may round it up (EMQX's docs), so it bounds the total only roughly."""
    return max_connections_per_node + max(4096, max_connections_per_node // 20)


def boot_env(inputs: EmqxSpecInputs) -> list[dict[str, str]]:
    """Settings EMQX reads only at boot and refuses at runtime (readOnly in emqx_conf_schema.erl, dropped from the
    operator's config push), as environment variables of both pod templates."""
    return [
        {"name": "EMQX_NODE__MAX_PORTS", "value": str(max_ports(inputs.max_connections_per_node))},
        {"name": "EMQX_CLUSTER__AUTOCLEAN", "value": CLUSTER_AUTOCLEAN},
    ]


# EMQX 4.4 starts the VM with +P 2097152 (etc/emqx.conf node.process_limit, v4.4.19), one process or more per
# connection; 5.x derives it as 2 x max_ports, which 4.4 does not.
LEGACY_DEFAULT_PROCESS_LIMIT = 2_097_152
ERLANG_LIMIT_MAX = 134_217_727  # node.process_limit / node.max_ports: Value: Number [1024-134217727]


def legacy_process_limit(max_connections_per_node: int) -> int:
    """node.process_limit for EMQX 4.4: two processes per port, never below 4.4's own default."""
    return min(ERLANG_LIMIT_MAX, max(LEGACY_DEFAULT_PROCESS_LIMIT, 2 * max_ports(max_connections_per_node)))


def listener_lines(
    kind: str, port: int, *, acceptors: int, max_connections: int, max_conn_rate: int, listen_backlog: int
) -> list[str]:
    """The bind and the limits of one default MQTT listener, on Kubernetes and on VMs alike; keys equal to EMQX's
    defaults are left out."""
    prefix = f"listeners.{kind}.default"
    # The operator reads the binds to name the listeners Service's ports (util.go GetListenersServicePorts).
    lines = [f'{prefix}.bind = "0.0.0.0:{port}"']
    if acceptors != DEFAULT_ACCEPTORS:
        lines.append(f"{prefix}.acceptors = {acceptors}")
    lines.append(f"{prefix}.max_connections = {max_connections}")
    if max_conn_rate:
        # A rate string (emqx_limiter_schema.erl: "1000/s"); per listener and node, applied live.
        lines.append(f'{prefix}.max_conn_rate = "{max_conn_rate}/s"')
    if listen_backlog != DEFAULT_BACKLOG:
        lines.append(f"{prefix}.tcp_options.backlog = {listen_backlog}")
    return lines


def hocon(inputs: EmqxSpecInputs) -> str:
    """etc/emqx.conf-style config for the cluster; the operator pushes it to running nodes. Keys equal to EMQX's
    defaults are left out, and so is the dashboard listener, whose bind the operator sets itself (add_emqx_core.go
    and add_emqx_repl.go: EMQX_DASHBOARD__LISTENERS__HTTP__BIND, 18083 when the config names none: util.go
    GetDashboardPortMap)."""
    lines = ["# Rendered by emqx-platform from the stack config; edit the stack, not this text."]
    for kind, _, port in LISTENERS:
        prefix = f"listeners.{kind}.default"
        lines += listener_lines(kind, port, acceptors=inputs.acceptors,
                                max_connections=inputs.max_connections_per_node,
                                max_conn_rate=inputs.max_conn_rate, listen_backlog=inputs.listen_backlog)
        if kind in ("ssl", "wss"):
            lines.append(f'{prefix}.ssl_options.certfile = "{TLS_MOUNT}/tls.crt"')
            lines.append(f'{prefix}.ssl_options.keyfile = "{TLS_MOUNT}/tls.key"')
            if inputs.tls_ca_file:
                lines.append(f'{prefix}.ssl_options.cacertfile = "{TLS_MOUNT}/ca.crt"')
    if inputs.with_license and inputs.license_from_file:
        lines.append(f'license.key = "file://{LICENSE_MOUNT}/{LICENSE_FILE}"')
    elif inputs.with_license:
        lines.append(f"# license.key comes from the environment ({LICENSE_ENV}), from Secret {inputs.secret_name}.")
    if inputs.auth is not None:
        lines += hocon_lines(inputs.auth)
    return "\n".join(lines) + "\n"


def _env(inputs: EmqxSpecInputs) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {
            "name": DASHBOARD_PASSWORD_ENV,
            "valueFrom": {"secretKeyRef": {"name": inputs.secret_name, "key": SECRET_DASHBOARD_PASSWORD}},
        },
        *boot_env(inputs),
    ]
    if inputs.with_license and not inputs.license_from_file:
        env.append(
            {
                "name": LICENSE_ENV,
                "valueFrom": {"secretKeyRef": {"name": inputs.secret_name, "key": SECRET_LICENSE_KEY}},
            }
        )
    return env


RESTART_ANNOTATION = "emqx-platform/restart-digest"


def restart_digest(inputs: EmqxSpecInputs) -> str | None:
    """Changes exactly when running pods cannot pick a change up and nothing else in the pod template changes: a
    new licence where the release reads it only at start (from the environment). Boot-only settings are environment
    variables already, and a licence file is re-read live. In the pod template, so a change becomes the operator's
    blue-green rollout; None when there is nothing to track."""
    if not inputs.with_license or inputs.license_from_file:
        return None
    return hashlib.sha256(inputs.license_digest.encode()).hexdigest()[:16]


def _annotations(inputs: EmqxSpecInputs) -> dict[str, str]:
    digest = restart_digest(inputs)
    return {RESTART_ANNOTATION: digest} if digest else {}


def _pod_labels(inputs: EmqxSpecInputs, role: str) -> dict[str, str]:
    return {**inputs.labels, "apps.emqx.io/instance": inputs.name, "apps.emqx.io/db-role": role}


def _scheduling(inputs: EmqxSpecInputs, role: str) -> dict[str, Any]:
    """One EMQX pod per node (each is sized to its node) and pods of a role spread evenly over the zones; cores on
    their own pool when the platform gives them one."""
    placement = (inputs.core_placement if role == "core" and inputs.core_placement is not None
                 else inputs.placement)
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
    if placement.zone_count > 1:
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
    if placement.node_selector:
        out["nodeSelector"] = dict(placement.node_selector)
    if placement.tolerations:
        out["tolerations"] = [dict(t) for t in placement.tolerations]
    return out


def _resources(inputs: EmqxSpecInputs, role: str) -> dict[str, str]:
    if role == "core" and inputs.core_pod_cpu and inputs.core_pod_memory:
        return {"cpu": inputs.core_pod_cpu, "memory": inputs.core_pod_memory}
    return {"cpu": inputs.pod_cpu, "memory": inputs.pod_memory}


def _template(inputs: EmqxSpecInputs, role: str, replicas: int) -> dict[str, Any]:
    resources = _resources(inputs, role)
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
    if inputs.with_license and inputs.license_from_file:
        # Only the licence key of the Secret, as a file in its own directory: a subPath mount would never see a
        # renewal (Kubernetes updates projected Secret keys in place, subPath mounts not at all).
        spec["extraVolumes"].append({"name": "license", "secret": {
            "secretName": inputs.secret_name, "items": [{"key": SECRET_LICENSE_KEY, "path": LICENSE_FILE}]}})
        spec["extraVolumeMounts"].append({"name": "license", "mountPath": LICENSE_MOUNT, "readOnly": True})
    if inputs.auth is not None:
        volumes, mounts = pod_files(inputs.auth)
        spec["extraVolumes"] += volumes
        spec["extraVolumeMounts"] += mounts
    # Voluntary disruptions (drains, upgrades) take one pod at a time.
    spec["maxUnavailable"] = 1
    if role == "core":
        spec["volumeClaimTemplates"] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": f"{inputs.core_storage_gib}Gi"}},
            **({"storageClassName": inputs.storage_class} if inputs.storage_class else {}),
        }
    metadata: dict[str, Any] = {"labels": _pod_labels(inputs, role)}
    if annotations := _annotations(inputs):
        metadata["annotations"] = annotations
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


def _evacuation(strategy: Evacuation) -> dict[str, int]:
    return {"connEvictRate": strategy.conn_evict_rate, "sessEvictRate": strategy.sess_evict_rate,
            "waitTakeover": strategy.wait_takeover}


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
        # Replace: the operator PUTs /api/v5/configs?mode=replace (2.2.29 sync_emqx_config.go), and EMQX replaces
        # each root the config names, leaving other roots alone (emqx_conf_cli.erl update_config_cluster). What the
        # stack stops rendering under a root it owns (an authenticator, an ACL source, a listener option) then goes
        # from the running cluster too; Merge would keep it until the pods restart.
        "config": {"mode": "Replace", "data": hocon(inputs)},
        "updateStrategy": {
            "type": "Recreate",
            "initialDelaySeconds": ROLLOUT_INITIAL_DELAY_SECONDS,
            "evacuationStrategy": _evacuation(inputs.evacuation),
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
    ports = max_ports(inputs.max_connections_per_node)
    config = {
        "node.max_ports": str(ports),
        "node.process_limit": str(legacy_process_limit(inputs.max_connections_per_node)),
        "listener.tcp.external.acceptors": str(inputs.acceptors),
        "listener.ssl.external.certfile": f"{TLS_MOUNT}/tls.crt",
        "listener.ssl.external.keyfile": f"{TLS_MOUNT}/tls.key",
        "listener.wss.external.certfile": f"{TLS_MOUNT}/tls.crt",
        "listener.wss.external.keyfile": f"{TLS_MOUNT}/tls.key",
    }
    for kind in ("tcp", "ssl", "ws", "wss"):
        # Every external listener of 4.4 has its own backlog (1024 in etc/emqx.conf) and max_conn_rate (1000/s,
        # ssl 500/s; an integer per second, priv/emqx.schema listener.<kind>.$name.max_conn_rate), v4.4.19.
        config[f"listener.{kind}.external.max_connections"] = str(inputs.max_connections_per_node)
        config[f"listener.{kind}.external.backlog"] = str(inputs.listen_backlog)
        if inputs.max_conn_rate:
            config[f"listener.{kind}.external.max_conn_rate"] = str(inputs.max_conn_rate)
    if inputs.tls_ca_file:
        config["listener.ssl.external.cacertfile"] = f"{TLS_MOUNT}/ca.crt"
    if inputs.auth is not None:
        config.update(legacy_config(inputs.auth.settings))
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
            # emqxConfig becomes environment variables of the pod template (operator 2.2.29,
            # controllers/apps/v1beta4/generated.go), so a node.* change is itself a pod-template change; the
            # licence file is read at start, hence the digest.
            "metadata": {"labels": _pod_labels(inputs, "core"), **(
                {"annotations": annotations} if (annotations := _annotations(inputs)) else {})},
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
            "evacuationStrategy": _evacuation(inputs.evacuation),
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
