"""Defaults, checked against what the README documents rather than against the code that sets them.

The configuration reference in README.md is the contract: its `default` column is parsed here and compared with the
default every settings getter is called with and with the value a config that omits the key ends up with, so the
README and the code cannot drift. Where a default is a rule rather than a number (the load balancer must outlast
MQTT's keepalive), the rule is asserted instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config_reader import Section
from components.render.emqx import ServiceBinding, emqx_spec
from components.settings import Settings, parse
from tests.test_emqx_render import INPUTS
from tests.test_readme import documented_keys
from tools import config_schema

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

ALICLOUD: dict[str, Any] = {
    "target": "alicloud",
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
    "emqx": {"edition": "enterprise", "version": "5.10.3", "cores": 3, "replicants": 2},
    "rebalance": {"runs": [{"name": "after-scale-out", "connEvictRate": 10}]},
    "licenseKey": "a-licence",
}
EXISTING: dict[str, Any] = {
    "target": "existing",
    "cluster": {"kubernetesMinor": "1.31"},
    "emqx": {"cores": 1},
}
# After ALICLOUD, so a key both read keeps Alibaba's default (the README's default column; aws's differing defaults
# are stated in the meaning column): this records the aws-only keys' defaults.
AWS: dict[str, Any] = {
    "target": "aws",
    "cloud": {"region": "us-east-1", "zones": ["us-east-1a", "us-east-1b"]},
    "cluster": {"admins": ["arn:aws:iam::111122223333:role/admin"]},
    "emqx": {"cores": 1},
}
# Last, so the defaults it records are only those the two above do not read (Section getters keep the first seen).
LOAD_TEST: dict[str, Any] = {**EXISTING, "emqx": {"cores": 1, "auth": {"allowAnonymous": True}},
                             "loadTest": {"runs": [{"name": "a", "connections": 10, "target": "inCluster"}]}}


def _settings(values: dict[str, Any]) -> Settings:
    return parse(values, stack="defaults", secret_keys={k for k in ("licenseKey", "kubeconfig") if k in values})


# --- the README's configuration reference ----------------------------------------------------------------------


# The README table is read by the one parser the schema generator and tests/test_readme.py use.
_cells = config_schema.readme_cells


def _rows() -> list[str]:
    return config_schema.readme_table_rows(README)


def _documented_keys() -> set[str]:
    return documented_keys()


def readme_defaults() -> dict[str, Any]:
    """key -> documented default, for every row whose default column gives one literal per key."""
    out: dict[str, Any] = {}
    for row in _rows():
        key_cell, _type, default_cell, *_ = _cells(row)
        names = re.findall(r"`([^`]+)`", key_cell)
        keys = [names[0].rsplit(".", 1)[0] + n if n.startswith(".") else n for n in names]
        literals = [re.fullmatch(r"`([^`]*)`", part.strip()) for part in default_cell.split(" / ")]
        if len(literals) != len(keys) or not all(literals):
            continue  # "derived", "required", "cores + replicants": a rule, not a literal
        for key, literal in zip(keys, literals, strict=True):
            assert literal is not None
            text = literal.group(1)
            if "<" in text or text in _documented_keys():
                continue  # a placeholder such as [<vpcCidr>], or another key's value (a rule, tested below)
            out[key] = yaml.safe_load(text)
    return out


def _same(documented: Any, actual: Any) -> bool:
    if isinstance(actual, tuple | list):
        return isinstance(documented, list) and list(actual) == documented
    if isinstance(documented, bool) or isinstance(actual, bool):
        return documented is actual
    if isinstance(documented, int | float) and isinstance(actual, int | float):
        return float(documented) == float(actual)
    if isinstance(documented, dict) and isinstance(actual, dict | tuple):
        return dict(actual) == documented
    return str(documented) == str(actual)


def test_the_readme_table_parses_into_many_literal_defaults() -> None:
    documented = readme_defaults()
    # A broken parser would make every comparison below vacuous.
    assert len(documented) >= 40, sorted(documented)
    kinds = {type(v) for v in documented.values()}
    assert {bool, int, float, str, list, dict} <= kinds, kinds  # YAML literals, not cell text


# --- the default each getter is called with --------------------------------------------------------------------

GETTERS = ("string", "integer", "number", "boolean", "strings", "cidrs", "cidr", "mapping")


def _record_defaults(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def wrap(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def getter(self: Section, key: str, *args: Any, **kwargs: Any) -> Any:
            path = re.sub(r"\[[0-9]+\]", "[]", self.path(key))
            if name == "mapping":
                seen.setdefault(path, {})
            elif args:
                seen.setdefault(path, args[0])
            elif "default" in kwargs:
                seen.setdefault(path, kwargs["default"])
            return original(self, key, *args, **kwargs)

        return getter

    for name in GETTERS:
        monkeypatch.setattr(Section, name, wrap(name, getattr(Section, name)))
    return seen


def _code_defaults(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen = _record_defaults(monkeypatch)
    for values in (ALICLOUD, EXISTING, AWS, LOAD_TEST):
        _settings(values)
    return seen


def test_every_documented_default_is_the_default_the_code_reads_with(monkeypatch: pytest.MonkeyPatch) -> None:
    code = _code_defaults(monkeypatch)
    documented = readme_defaults()
    compared = {k for k in documented if code.get(k) is not None}
    assert len(compared) >= 30, f"too few keys compared: {sorted(compared)}"
    # A documented default must be the one the getter is called with, not one patched in afterwards (`x or "a"`):
    # then a config that sets the key to a refused value falls back to the documented default too.
    unread = sorted(set(documented) - compared)
    assert not unread, f"documented defaults the settings getters are not called with: {unread}"
    drift = {k: (documented[k], code[k]) for k in sorted(compared) if not _same(documented[k], code[k])}
    assert not drift, f"README default vs code default: {drift}"


# --- the value a config that omits the key ends up with --------------------------------------------------------


def _effective(s: Settings) -> Iterator[tuple[str, Any]]:
    """Settings fields by their config key, for the defaults that are not just passed through a getter."""
    emqx, cap = s.emqx, s.emqx.capacity
    yield from {
        "production": s.production,
        "emqx.keepaliveSeconds": emqx.keepalive_seconds,
        "emqx.acceptors": emqx.acceptors,
        "emqx.capacity.connections": cap.connections,
        "emqx.capacity.messageRate": cap.message_rate,
        "emqx.capacity.payloadBytes": cap.payload_bytes,
        "emqx.capacity.qos": cap.qos,
        "emqx.capacity.fanout": cap.fanout,
        "emqx.capacity.headroom": emqx.headroom,
        "emqx.coreStorage.sizeGiB": emqx.core_storage_gib,
        "emqx.name": emqx.name,
        "emqx.namespace": emqx.namespace,
        "monitoring.prometheusOperator": s.monitoring.prometheus_operator,
        "monitoring.scrapeInterval": s.monitoring.scrape_interval,
        "monitoring.grafanaDashboard": s.monitoring.grafana_dashboard,
        "charts.certManagerVersion": s.charts.cert_manager_version,
        "charts.emqxOperatorVersion": s.charts.emqx_operator_version,
        "charts.installCertManager": s.charts.install_cert_manager,
        "charts.installOperator": s.charts.install_operator,
    }.items()
    if s.system_pool is not None:
        yield "nodePools.system.instanceTypes", s.system_pool.instance_types
        yield "nodePools.system.count", s.system_pool.count
        yield "nodePools.system.diskCategory", s.system_pool.disk_category
        yield "nodePools.system.diskGiB", s.system_pool.disk_gib
    if s.emqx_pool is not None:
        yield "nodePools.emqx.instanceTypes", s.emqx_pool.instance_types
        yield "nodePools.emqx.diskCategory", s.emqx_pool.disk_category
        yield "nodePools.emqx.diskGiB", s.emqx_pool.disk_gib
    if s.loadgen_pool is not None:
        yield "nodePools.loadgen.enabled", s.loadgen_pool.enabled
    if s.existing is not None:
        yield "existing.listenerServiceType", s.existing.listener_service_type
        yield "existing.nodeShape.vcpu", s.existing.node_shape.vcpu
        yield "existing.nodeShape.memoryGiB", s.existing.node_shape.memory_gib
        yield "existing.unsafeSysctlsAllowed", s.existing.unsafe_sysctls_allowed


@pytest.mark.parametrize("values", [ALICLOUD, EXISTING], ids=["alicloud", "existing"])
def test_omitted_keys_take_the_documented_default(values: dict[str, Any]) -> None:
    documented = readme_defaults()
    pairs = [(k, v) for k, v in _effective(_settings(values)) if k in documented and k not in _set_keys(values)]
    assert len(pairs) >= 15
    drift = {k: (documented[k], v) for k, v in pairs if not _same(documented[k], v)}
    assert not drift, f"README default vs value in effect: {drift}"


def _set_keys(values: dict[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for k, v in values.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= _set_keys(v, f"{prefix}{k}.")
    return out


def test_rebalance_run_defaults_are_the_documented_ones() -> None:
    documented = readme_defaults()
    (run,) = _settings(ALICLOUD).rebalance
    effective = {
        "rebalance.runs[].sessEvictRate": run.sess_evict_rate,
        "rebalance.runs[].waitTakeover": run.wait_takeover,
        "rebalance.runs[].waitHealthCheck": run.wait_health_check,
        "rebalance.runs[].absConnThreshold": run.abs_conn_threshold,
        "rebalance.runs[].absSessThreshold": run.abs_sess_threshold,
        "rebalance.runs[].relConnThreshold": float(run.rel_conn_threshold),
        "rebalance.runs[].relSessThreshold": float(run.rel_sess_threshold),
    }
    assert {k: documented[k] for k in effective} == effective
    # EMQX refuses a relative threshold of 1.0 or less: the node average itself would never be "balanced".
    assert float(run.rel_conn_threshold) > 1.0 and float(run.rel_sess_threshold) > 1.0


# --- defaults that are rules -----------------------------------------------------------------------------------


def test_a_default_documented_as_the_same_as_another_key_follows_it() -> None:
    # A default column of `other.key` or "same as `other.key`" names the key whose value the default follows.
    same_as: dict[str, str] = {}
    for row in _rows():
        key_cell, _type, default_cell, *_ = _cells(row)
        named = re.fullmatch(r"(?:same as )?`([^`]+)`", default_cell)
        if named and named.group(1) in _documented_keys():
            same_as[re.findall(r"`([^`]+)`", key_cell)[0]] = named.group(1)
    assert same_as.get("loadBalancer.deletionProtection") == "production"
    read = {"loadBalancer.deletionProtection": lambda s: s.load_balancer.deletion_protection,
            "cluster.deletionProtection": lambda s: s.cluster.deletion_protection,
            "production": lambda s: s.production}
    production = {**ALICLOUD, "production": True,
                  "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"]},
                  "nodePools": {"emqx": {"instanceTypes": ["ecs.c7.8xlarge"]}},
                  "emqx": {"edition": "enterprise", "version": "5.10.3", "cores": 3, "replicants": 3}}
    for values in (ALICLOUD, production):
        s = _settings(values)
        for key, other in same_as.items():
            if key not in read or other not in read:
                continue  # a rule documented for a key this test does not read yet
            assert read[key](s) == read[other](s), (key, values.get("production"))
    # dev must stay destroyable, production protected
    assert [_settings(v).load_balancer.deletion_protection for v in (ALICLOUD, production)] == [False, True]


def test_default_idle_timeout_outlasts_the_keepalive_by_more_than_half() -> None:
    # MQTT 5.0 section 3.1.2.10: the broker drops a client after 1.5 x keepalive without a packet; a load balancer
    # that cuts an idle connection first would drop healthy, quiet clients.
    s = _settings(ALICLOUD)
    assert s.load_balancer.idle_timeout_seconds > 1.5 * s.emqx.keepalive_seconds


def test_listener_and_dashboard_services_are_enabled_whatever_their_type() -> None:
    # The operator creates a listener or dashboard Service only while its template says enabled (emqx-operator
    # 2.2.29 CRD: listenersServiceTemplate.enabled, default true); a rendered false leaves the cluster unreachable.
    for kind in ("ClusterIP", "NodePort", "LoadBalancer"):
        from dataclasses import replace

        spec = emqx_spec(replace(INPUTS, listeners=ServiceBinding(type=kind), dashboard=ServiceBinding(type=kind)))
        assert spec["listenersServiceTemplate"]["enabled"] is True
        assert spec["dashboardServiceTemplate"]["enabled"] is True


def _spread(spec: dict[str, Any], template: str) -> str:
    (constraint,) = spec[template]["spec"]["topologySpreadConstraints"]
    assert constraint["topologyKey"] == "topology.kubernetes.io/zone"
    return constraint["whenUnsatisfiable"]


def test_replicants_spread_best_effort_and_cores_strictly() -> None:
    # README (Architecture): cores spread across zones (`DoNotSchedule`), replicants best-effort. Best effort is
    # Kubernetes' ScheduleAnyway (TopologySpreadConstraint.whenUnsatisfiable): a zone short of nodes must not leave a
    # replicant, hence a share of the clients, Pending.
    documented = re.search(r"cores spread across zones\s+\(`([A-Za-z]+)`\),\s+replicants spread best-effort", README)
    assert documented, "README's architecture section names the core spread"
    spec = emqx_spec(INPUTS)
    assert _spread(spec, "coreTemplate") == documented.group(1)
    assert _spread(spec, "replicantTemplate") == "ScheduleAnyway"


# --- every shipped stack, through the whole program (excluded from `make mutation`: slow under every mutant) ------

STACKS = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))


# `mode: vm` stacks run EMQX on ECS instances: no EMQX custom resource (tests/test_settings_vm.py covers them).
KUBERNETES_STACKS = [s for s in STACKS
                     if "emqx-platform:mode: vm" not in (ROOT / "stacks" / f"Pulumi.{s}.yaml").read_text()]


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_shipped_stack_emqx_services_are_enabled(run_stack, stack: str) -> None:
    emqx = [r for r in run_stack(stack).resources if r.type == "kubernetes:apps.emqx.io/v2beta1:EMQX"]
    assert len(emqx) == 1, stack
    spec = emqx[0].inputs["spec"]
    assert spec["listenersServiceTemplate"]["enabled"] is True
    assert spec["dashboardServiceTemplate"]["enabled"] is True


# --- what every EMQX pod template must carry (README: Architecture, "EMQX on Kubernetes") ------------------------


def _architecture() -> str:
    return README.split("**EMQX on Kubernetes.**", 1)[1].split("\n\n", 1)[0]


@pytest.mark.parametrize("template", ["coreTemplate", "replicantTemplate"])
def test_pod_templates_keep_the_documented_guarantees(template: str) -> None:
    spec = emqx_spec(INPUTS)
    pod = spec[template]["spec"]
    # requests = limits (Guaranteed QoS), exactly the planned size.
    wanted = {"cpu": INPUTS.pod_cpu, "memory": INPUTS.pod_memory}
    assert pod["resources"] == {"requests": wanted, "limits": wanted}
    documented = re.search(r"`maxUnavailable: ([0-9]+)`", _architecture())
    assert documented and pod["maxUnavailable"] == int(documented.group(1))
    # One EMQX pod per node: required anti-affinity on the hostname against every pod of the instance.
    (rule,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert rule["topologyKey"] == "kubernetes.io/hostname"
    assert rule["labelSelector"]["matchLabels"] == {"apps.emqx.io/instance": INPUTS.name}
    # EMQX's image runs as emqx, uid and gid 1000 (emqx deploy/docker/Dockerfile: groupadd -g 1000, useradd -u
    # 1000); the volumes must be writable by that group.
    context = pod["podSecurityContext"]
    assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (1000, 1000, 1000)
    assert context["fsGroupChangePolicy"] == "OnRootMismatch"  # no recursive chown of a large volume at each start
    assert context["sysctls"] == [dict(s) for s in INPUTS.pod_sysctls]
    # The TLS Secret is mounted read-only under the volume name it is declared with.
    volumes = {v["name"]: v for v in pod["extraVolumes"]}
    mounts = [m for m in pod["extraVolumeMounts"] if m["name"] in volumes]
    tls = [m for m in mounts if volumes[m["name"]].get("secret", {}).get("secretName") == INPUTS.tls_secret_name]
    assert len(tls) == 1 and tls[0]["readOnly"] is True


def test_core_data_volumes() -> None:
    from dataclasses import replace

    claim = emqx_spec(INPUTS)["coreTemplate"]["spec"]["volumeClaimTemplates"]
    assert claim["accessModes"] == ["ReadWriteOnce"]  # one core per volume
    assert claim["resources"] == {"requests": {"storage": f"{INPUTS.core_storage_gib}Gi"}}
    assert claim.get("storageClassName") == INPUTS.storage_class
    no_class = emqx_spec(replace(INPUTS, storage_class=None))["coreTemplate"]["spec"]["volumeClaimTemplates"]
    assert "storageClassName" not in no_class  # the cluster's default class
    assert "volumeClaimTemplates" not in emqx_spec(INPUTS)["replicantTemplate"]["spec"]  # replicants keep no data


def test_every_service_port_is_tcp_to_the_same_container_port() -> None:
    spec = emqx_spec(INPUTS)
    for template in ("listenersServiceTemplate", "dashboardServiceTemplate"):
        for port in spec[template]["spec"]["ports"]:
            assert port["protocol"] == "TCP" and port["targetPort"] == port["port"], port
    names = {p["name"] for t in ("listenersServiceTemplate", "dashboardServiceTemplate")
             for p in spec[t]["spec"]["ports"]}
    assert names == {"mqtt", "mqtts", "ws", "wss", "dashboard"}
