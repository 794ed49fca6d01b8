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
    emqx_enterprise_v4_spec,
    emqx_spec,
    hocon,
    max_ports,
    rebalance_object_name,
    rebalance_spec,
)
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
)


def _cr(spec: dict, kind: str = "EMQX", api: str = "apps.emqx.io/v2beta1") -> dict:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "emqx", "namespace": "emqx"}, "spec": spec}


def test_hocon_parses_and_carries_the_limits() -> None:
    conf: Any = ConfigFactory.parse_string(hocon(INPUTS))  # pyhocon ships no type hints
    assert conf.get_int("node.max_ports") == 3_610_342 + 180_517  # + 5% for EMQX's own ports
    for kind, port in (("tcp", 1883), ("ssl", 8883), ("ws", 8083), ("wss", 8084)):
        listener: Any = conf.get_config(f"listeners.{kind}.default")
        assert listener.get_string("bind") == f"0.0.0.0:{port}"
        assert listener.get_int("max_connections") == 3_610_342
        assert listener.get_int("acceptors") == 16
        assert listener.get_int("tcp_options.backlog") == 32768
    assert conf.get_string("listeners.ssl.default.ssl_options.certfile").endswith("/tls.crt")
    assert conf.get_string("dashboard.listeners.http.bind") == "0.0.0.0:18083"


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
    assert spec["listenersServiceTemplate"]["spec"]["ports"][0]["nodePort"] == 31883
    assert "nodePort" not in str(spec["dashboardServiceTemplate"])


def test_all_core_cluster_has_no_replicant_template() -> None:
    spec = emqx_spec(replace(INPUTS, cores=1, replicants=0, placement=Placement()))
    assert "replicantTemplate" not in spec
    assert "topologySpreadConstraints" not in spec["coreTemplate"]["spec"]
    assert validate_manifest(_cr(spec)) == []


def test_legacy_spec_passes_the_v1beta4_crd() -> None:
    spec = emqx_enterprise_v4_spec(INPUTS, "4.4.19", "emqx/emqx-ee")
    assert validate_manifest(_cr(spec, "EmqxEnterprise", "apps.emqx.io/v1beta4")) == []
    assert spec["license"] == {"secretName": "emqx-license"}


@pytest.mark.parametrize("kind", ["EMQX", "EmqxEnterprise"])
def test_rebalance_spec_passes_the_crd(kind: str) -> None:
    spec = rebalance_spec(instance_name="emqx", instance_kind=kind, strategy={"connEvictRate": 10})
    obj = {"apiVersion": "apps.emqx.io/v2beta1", "kind": "Rebalance",
           "metadata": {"name": rebalance_object_name("emqx", "r", spec), "namespace": "emqx"}, "spec": spec}
    assert validate_manifest(obj) == []
    bad = {**obj, "spec": {**spec, "rebalanceStrategy": {"sessEvictRate": 5}}}
    assert validate_manifest(bad), "a Rebalance without connEvictRate must be refused by the CRD schema"


def test_pods_restart_when_node_settings_or_the_licence_change() -> None:
    def digest(inputs: EmqxSpecInputs) -> str:
        spec = emqx_spec(inputs)
        core = spec["coreTemplate"]["metadata"]["annotations"]["emqx-platform/restart-digest"]
        assert spec["replicantTemplate"]["metadata"]["annotations"]["emqx-platform/restart-digest"] == core
        return core

    base = digest(INPUTS)
    assert digest(replace(INPUTS, max_connections_per_node=4_000_000)) != base  # node.max_ports changes
    assert digest(replace(INPUTS, license_digest="0123456789abcdef")) != base
    # Listener limits reach running pods through the operator's config push: no restart for them.
    assert digest(replace(INPUTS, acceptors=32)) == base
