"""The EMQX renderers: HOCON parsed by a real HOCON parser (pyhocon), specs checked against the operator's CRDs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from pyhocon import ConfigFactory

from components.render.emqx import (
    EmqxSpecInputs,
    Placement,
    ServiceBinding,
    client_urls,
    dashboard_url,
    emqx_enterprise_v4_spec,
    emqx_spec,
    hocon,
    legacy_process_limit,
    max_ports,
    rebalance_object_name,
    rebalance_spec,
)
from components.sizing import Evacuation
from tests.validators import validate_manifest

INPUTS = EmqxSpecInputs(
    name="emqx",
    image="emqx/emqx:5.10.3",
    cores=3,
    replicants=3,
    max_connections_per_node=3_610_342,
    acceptors=16,
    keepalive_seconds=60,
    pod_cpu="61900m",
    pod_memory="120384Mi",
    pod_sysctls=[{"name": "net.core.somaxconn", "value": "32768"}],
    placement=Placement(node_selector={"pool": "emqx"}, tolerations=[{"key": "k", "operator": "Exists"}],
                        zone_count=3),
    listeners=ServiceBinding(type="LoadBalancer", node_ports={1883: 31883}, external_traffic_policy="Local",
                             annotations={"a": "b"}),
    dashboard=ServiceBinding(type="ClusterIP"),
    secret_name="emqx-secrets",
    tls_secret_name="emqx-tls",
    license_secret_name="emqx-license",
    with_license=True,
    core_storage_gib=20,
    storage_class="fast",
    listen_backlog=32768,
    max_conn_rate=2778,
    evacuation=Evacuation(conn_evict_rate=2778, sess_evict_rate=2778, wait_takeover=60),
)


def _cr(spec: dict, kind: str = "EMQX", api: str = "apps.emqx.io/v2beta1") -> dict:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "emqx", "namespace": "emqx"}, "spec": spec}


def test_hocon_parses_and_carries_the_limits() -> None:
    text = hocon(INPUTS)
    conf: Any = ConfigFactory.parse_string(text)  # pyhocon ships no type hints
    for kind, port in (("tcp", 1883), ("ssl", 8883), ("ws", 8083), ("wss", 8084)):
        listener: Any = conf.get_config(f"listeners.{kind}.default")
        assert listener.get_string("bind") == f"0.0.0.0:{port}"
        assert listener.get_int("max_connections") == 3_610_342
        assert listener.get_int("tcp_options.backlog") == 32768
        # EMQX's rate type is a string "<n>/s" (emqx_limiter_schema.erl), not a bare number.
        assert listener.get_string("max_conn_rate") == "2778/s"
        assert f'listeners.{kind}.default.max_conn_rate = "2778/s"' in text
    assert conf.get_string("listeners.ssl.default.ssl_options.certfile").endswith("/tls.crt")


def test_hocon_leaves_out_defaults_boot_only_keys_and_what_the_operator_sets() -> None:
    conf: Any = ConfigFactory.parse_string(hocon(replace(INPUTS, listen_backlog=1024, max_conn_rate=0)))
    # node.* and cluster.* are refused at runtime: they are environment variables of the pod templates instead.
    for root in ("node", "cluster", "mqtt", "dashboard", "rpc"):
        assert root not in conf, root
    tcp: Any = conf.get_config("listeners.tcp.default")
    for default in ("acceptors", "tcp_options", "max_conn_rate"):  # acceptors 16 and backlog 1024 are EMQX's own
        assert default not in tcp, default
    tuned: Any = ConfigFactory.parse_string(hocon(replace(INPUTS, acceptors=32)))
    assert tuned.get_int("listeners.wss.default.acceptors") == 32


def _env(spec: dict, template: str) -> dict[str, dict]:
    return {e["name"]: e for e in spec[template]["spec"]["env"]}


def test_boot_only_settings_are_environment_variables_of_both_templates() -> None:
    spec = emqx_spec(INPUTS)
    for template in ("coreTemplate", "replicantTemplate"):
        env = _env(spec, template)
        # The raw value, not read through a parser that would truncate a float: an integer in decimal.
        assert env["EMQX_NODE__MAX_PORTS"]["value"] == str(3_610_342 + 180_517)
        assert env["EMQX_CLUSTER__AUTOCLEAN"]["value"] == "5m"
    bigger = emqx_spec(replace(INPUTS, max_connections_per_node=4_000_000))
    # A node.* change is a pod-template change, hence the operator's blue-green rollout.
    assert _env(bigger, "coreTemplate")["EMQX_NODE__MAX_PORTS"] != _env(spec, "coreTemplate")["EMQX_NODE__MAX_PORTS"]
    assert validate_manifest(_cr(spec)) == []


def test_max_ports_bounds_all_listeners_together() -> None:
    # Four listeners may each take max_connections; the port limit is what keeps their sum near one node's worth.
    for connections in (10_000, 1_000_000, 3_610_342):
        assert connections < max_ports(connections) <= max(connections * 1.05, connections + 4096)
    # EMQX's schema: node.max_ports in 1024..134217727.
    assert max_ports(1) >= 1024 and max_ports(100_000_000) <= 134_217_727


def test_emqx_spec_passes_the_crd_and_keeps_secrets_out() -> None:
    spec = emqx_spec(INPUTS)
    assert validate_manifest(_cr(spec)) == []
    text = str(spec)
    assert "secretKeyRef" in text and "license-key" in text
    assert spec["listenersServiceTemplate"]["enabled"] is True
    assert spec["dashboardServiceTemplate"]["enabled"] is True
    assert spec["listenersServiceTemplate"]["spec"]["ports"][0]["nodePort"] == 31883
    assert "nodePort" not in str(spec["dashboardServiceTemplate"])


def test_the_licence_is_a_file_that_running_nodes_re_read() -> None:
    spec = emqx_spec(INPUTS)
    conf: Any = ConfigFactory.parse_string(spec["config"]["data"])
    assert conf.get_string("license.key") == "file:///opt/emqx/etc/license/emqx.lic"
    for template in ("coreTemplate", "replicantTemplate"):
        pod = spec[template]["spec"]
        assert "EMQX_LICENSE__KEY" not in _env(spec, template)
        (volume,) = [v for v in pod["extraVolumes"] if v["name"] == "license"]
        assert volume["secret"] == {"secretName": "emqx-secrets", "items": [{"key": "license-key", "path": "emqx.lic"}]}
        (mount,) = [m for m in pod["extraVolumeMounts"] if m["name"] == "license"]
        # A directory mount: the kubelet swaps the file on a Secret change; a subPath mount would never see it.
        assert mount == {"name": "license", "mountPath": "/opt/emqx/etc/license", "readOnly": True}
        assert "annotations" not in spec[template]["metadata"]
    # A renewed licence changes nothing in the custom resource: no rollout.
    assert emqx_spec(replace(INPUTS, license_digest="0123456789abcdef")) == spec


def test_a_release_that_reads_the_licence_only_at_start_restarts_on_a_new_one() -> None:
    # EMQX Enterprise before 5.4.0 has no file:// licence: the key comes from the environment.
    inputs = replace(INPUTS, license_from_file=False, license_digest="aaaa")
    spec = emqx_spec(inputs)
    assert _env(spec, "coreTemplate")["EMQX_LICENSE__KEY"]["valueFrom"]["secretKeyRef"]["key"] == "license-key"
    assert "license" not in ConfigFactory.parse_string(spec["config"]["data"])
    assert not [v for v in spec["coreTemplate"]["spec"]["extraVolumes"] if v["name"] == "license"]
    digest = spec["coreTemplate"]["metadata"]["annotations"]["emqx-platform/restart-digest"]
    renewed = emqx_spec(replace(inputs, license_digest="bbbb"))
    assert renewed["replicantTemplate"]["metadata"]["annotations"]["emqx-platform/restart-digest"] != digest


def test_open_source_has_no_licence_anywhere() -> None:
    spec = emqx_spec(replace(INPUTS, with_license=False))
    assert "license" not in str(spec).replace("listener-tls", "")
    assert "annotations" not in spec["coreTemplate"]["metadata"]


def test_rollout_evacuates_at_the_planned_rates() -> None:
    strategy = emqx_spec(INPUTS)["updateStrategy"]
    assert strategy["evacuationStrategy"] == {"connEvictRate": 2778, "sessEvictRate": 2778, "waitTakeover": 60}
    legacy = emqx_enterprise_v4_spec(INPUTS, "4.4.19", "emqx/emqx-ee")
    assert legacy["blueGreenUpdate"]["evacuationStrategy"] == strategy["evacuationStrategy"]


def test_all_core_cluster_has_no_replicant_template() -> None:
    spec = emqx_spec(replace(INPUTS, cores=1, replicants=0, placement=Placement()))
    assert "replicantTemplate" not in spec
    assert "topologySpreadConstraints" not in spec["coreTemplate"]["spec"]
    assert validate_manifest(_cr(spec)) == []


def test_legacy_spec_passes_the_v1beta4_crd() -> None:
    spec = emqx_enterprise_v4_spec(INPUTS, "4.4.19", "emqx/emqx-ee")
    assert validate_manifest(_cr(spec, "EmqxEnterprise", "apps.emqx.io/v1beta4")) == []
    assert spec["license"] == {"secretName": "emqx-license"}


def test_legacy_listeners_and_process_limit_follow_the_plan() -> None:
    config = emqx_enterprise_v4_spec(INPUTS, "4.4.19", "emqx/emqx-ee")["template"]["spec"]["emqxContainer"][
        "emqxConfig"]
    for kind in ("tcp", "ssl", "ws", "wss"):
        assert config[f"listener.{kind}.external.backlog"] == "32768"
        assert config[f"listener.{kind}.external.max_connections"] == "3610342"
        assert config[f"listener.{kind}.external.max_conn_rate"] == "2778"  # 4.4: an integer per second
    # 4.4 ships +P 2097152: two processes per port once the plan needs more.
    assert config["node.process_limit"] == str(2 * (3_610_342 + 180_517))
    assert int(config["node.process_limit"]) > int(config["node.max_ports"])


@pytest.mark.parametrize(("connections", "limit"), [(1_000, 2_097_152), (1_048_575 - 52_428, 2_097_152),
                                                    (2_000_000, 4_200_000), (100_000_000, 134_217_727)])
def test_legacy_process_limit_never_below_the_default_nor_above_erlangs_ceiling(connections: int, limit: int) -> None:
    assert legacy_process_limit(connections) == limit


@pytest.mark.parametrize("kind", ["EMQX", "EmqxEnterprise"])
def test_rebalance_spec_passes_the_crd(kind: str) -> None:
    spec = rebalance_spec(instance_name="emqx", instance_kind=kind, strategy={"connEvictRate": 10})
    obj = {"apiVersion": "apps.emqx.io/v2beta1", "kind": "Rebalance",
           "metadata": {"name": rebalance_object_name("emqx", "r", spec), "namespace": "emqx"}, "spec": spec}
    assert validate_manifest(obj) == []
    bad = {**obj, "spec": {**spec, "rebalanceStrategy": {"sessEvictRate": 5}}}
    assert validate_manifest(bad), "a Rebalance without connEvictRate must be refused by the CRD schema"


# Leaf keys transcribed from EMQX's schema, identical in v5.8.9 and e5.10.3: apps/emqx/src/emqx_schema.erl
# (listener base fields bind / acceptors / max_connections, tcp_options.backlog, ssl_options.*; max_conn_rate from
# emqx_limiter_schema.erl, a rate string) and apps/emqx_license/src/emqx_license_schema.erl (license.key).
EMQX_LISTENER_KEYS = frozenset({
    "bind", "acceptors", "max_connections", "max_conn_rate", "tcp_options.backlog",
    "ssl_options.certfile", "ssl_options.keyfile", "ssl_options.cacertfile",
})


def hocon_leaves(tree: Any, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in tree.items():
        path = f"{prefix}{key}"
        out |= hocon_leaves(value, path + ".") if hasattr(value, "items") else {path}
    return out


def test_every_hocon_key_exists_in_emqxs_schema() -> None:
    for inputs in (INPUTS, replace(INPUTS, acceptors=32, license_from_file=False), replace(INPUTS, with_license=False)):
        leaves = hocon_leaves(ConfigFactory.parse_string(hocon(inputs)))
        for leaf in leaves:
            if leaf == "license.key":
                continue
            kind, name, rest = leaf.split(".")[1], leaf.split(".")[2], ".".join(leaf.split(".")[3:])
            assert leaf.startswith("listeners.") and kind in ("tcp", "ssl", "ws", "wss") and name == "default", leaf
            assert rest in EMQX_LISTENER_KEYS, leaf
            assert not (rest.startswith("ssl_options") and kind in ("tcp", "ws")), leaf


def test_cores_on_their_own_pool_get_its_placement_and_their_own_pod_size() -> None:
    core_pool = Placement(node_selector={"pool": "emqx-core"},
                          tolerations=[{"key": "dedicated", "operator": "Equal", "value": "emqx-core",
                                        "effect": "NoSchedule"}], zone_count=3)
    spec = emqx_spec(replace(INPUTS, core_placement=core_pool, core_pod_cpu="7300m", core_pod_memory="12096Mi"))
    core, replicant = spec["coreTemplate"]["spec"], spec["replicantTemplate"]["spec"]
    assert core["nodeSelector"] == {"pool": "emqx-core"} and core["tolerations"] == [dict(core_pool.tolerations[0])]
    assert replicant["nodeSelector"] == {"pool": "emqx"}
    assert replicant["tolerations"] == [{"key": "k", "operator": "Exists"}]
    assert core["resources"] == {"requests": {"cpu": "7300m", "memory": "12096Mi"},
                                 "limits": {"cpu": "7300m", "memory": "12096Mi"}}
    assert replicant["resources"]["limits"] == {"cpu": "61900m", "memory": "120384Mi"}
    # Still one EMQX pod per node across both roles, and the cores spread over the zones strictly.
    for template in (core, replicant):
        (term,) = template["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
    assert core["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "DoNotSchedule"
    assert validate_manifest(_cr(spec)) == []
    # Without a core placement (every all-core cluster) both roles keep the EMQX pool and the pod size.
    same = emqx_spec(INPUTS)["coreTemplate"]["spec"]
    assert same["nodeSelector"] == {"pool": "emqx"} and same["resources"]["limits"]["cpu"] == "61900m"


def test_client_urls_name_only_the_served_ports_with_the_websocket_path() -> None:
    # What every cloud's load balancer exports as `endpoints` (alicloud/loadbalancer.py, nlb.py, aws/load_balancer.py).
    assert client_urls("lb.example", [1883, 8883, 8083, 8084]) == {
        "mqtt": "mqtt://lb.example:1883",
        "mqtts": "mqtts://lb.example:8883",
        "ws": "ws://lb.example:8083/mqtt",
        "wss": "wss://lb.example:8084/mqtt",
    }
    assert client_urls("10.0.0.5", [8084, 8883]) == {"mqtts": "mqtts://10.0.0.5:8883", "wss": "wss://10.0.0.5:8084/mqtt"}
    assert dashboard_url("10.0.0.5") == "http://10.0.0.5:18083"
