"""Every validation rule of the settings layer, with the key and the fix it names. Pure: no Pulumi engine."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.settings import ConfigError, Settings, parse

ALICLOUD: dict[str, Any] = {
    "target": "alicloud",
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
    "emqx": {"edition": "opensource", "version": "5.8.9", "capacity": {"connections": 20000, "messageRate": 2000}},
}
EXISTING: dict[str, Any] = {
    "target": "existing",
    "cluster": {"kubernetesMinor": "1.31"},
    "emqx": {"edition": "opensource", "version": "5.8.9", "cores": 1, "replicants": 0},
}
ENTERPRISE: dict[str, Any] = {
    "target": "alicloud",
    "production": True,
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"]},
    "nodePools": {"emqx": {"instanceTypes": ["ecs.c7.16xlarge"]}},
    "emqx": {
        "edition": "enterprise",
        "version": "5.10.3",
        "cores": 3,
        "replicants": 3,
        "capacity": {"connections": 1_000_000, "messageRate": 500_000, "payloadBytes": 1024},
    },
    "licenseKey": "a-licence",
}


def with_changes(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of base with dotted paths set (value None deletes the key)."""
    out = copy.deepcopy(base)
    for dotted, value in changes.items():
        node = out
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return out


def ok(values: dict[str, Any], secret_keys: set[str] | None = None) -> Settings:
    secrets = secret_keys if secret_keys is not None else {k for k in ("licenseKey", "kubeconfig") if k in values}
    return parse(values, stack="test", secret_keys=secrets)


def problems(values: dict[str, Any], secret_keys: set[str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        ok(values, secret_keys)
    assert err.value.problems, "a ConfigError must list its problems"
    # The message the user sees names every problem, and is one message.
    for p in err.value.problems:
        assert p in str(err.value)
    return err.value.problems


def one_about(found: list[str], key: str) -> str:
    hits = [p for p in found if p.startswith(f"{key}:")]
    assert len(hits) == 1, f"expected one problem about {key!r}, got {found}"
    return hits[0]


def test_the_smallest_alicloud_config_is_complete() -> None:
    s = ok(ALICLOUD)
    assert s.target == "alicloud"
    assert s.cloud is not None and s.cloud.zones == ("cn-hangzhou-h", "cn-hangzhou-i")
    assert s.network is not None and s.network.plan is not None
    assert s.emqx.release.image == "emqx/emqx:5.8.9"
    assert s.sizing.replicants == 0  # open source has no replicants
    assert s.emqx_pool is not None and s.emqx_pool.count == s.sizing.cores
    assert s.license_key is None


def test_existing_target_needs_no_cloud() -> None:
    s = ok(EXISTING)
    assert s.cloud is None and s.network is None and s.emqx_pool is None
    assert (s.sizing.cores, s.sizing.replicants) == (1, 0)


def test_target_is_required() -> None:
    assert "is required" in one_about(problems(with_changes(ALICLOUD, target=None)), "target")


def test_a_misspelt_cloud_is_refused_with_a_suggestion() -> None:
    msg = one_about(problems(with_changes(ALICLOUD, target="alicould")), "target")
    assert "'alicloud'" in msg and "alicould" in msg


def test_aws_is_a_target_whose_own_rules_apply() -> None:
    # No longer refused: an Alibaba config on aws is judged by aws's rules (its region, zones, instance types).
    found = problems(with_changes(ALICLOUD, target="aws"))
    assert not any(p.startswith("target:") for p in found)
    assert any(p.startswith("cloud.region:") and "us-east-1" in p for p in found), found


def test_unknown_top_level_key_is_refused_with_a_suggestion() -> None:
    msg = one_about(problems({**ALICLOUD, "emqxx": {}}), "emqx-platform:emqxx")
    assert "did you mean emqx-platform:emqx" in msg


def test_unknown_nested_key_is_refused_with_its_full_path() -> None:
    values = with_changes(ALICLOUD, emqx__capacity__conections=5)
    msg = one_about(problems(values), "emqx.capacity.conections")
    assert "'connections'" in msg


def test_wrong_types_are_refused() -> None:
    values = with_changes(ALICLOUD, emqx__capacity__connections="lots", production="yes")
    found = problems(values)
    assert "whole number" in one_about(found, "emqx.capacity.connections")
    assert "true or false" in one_about(found, "production")


def test_out_of_range_numbers_are_refused() -> None:
    values = with_changes(ALICLOUD, emqx__capacity__qos=3, emqx__keepaliveSeconds=1)
    found = problems(values)
    assert "above the maximum 2" in one_about(found, "emqx.capacity.qos")
    assert "below the minimum 10" in one_about(found, "emqx.keepaliveSeconds")


def test_every_problem_is_reported_at_once() -> None:
    values = with_changes(ALICLOUD, target="alicloud", emqx__capacity__qos=7, emqx__bogus=1,
                          network__vpcCidr="10.0.0.1/16", loadBalancer__scheduler="fastest")
    found = problems(values)
    for key in ("emqx.capacity.qos", "emqx.bogus", "network.vpcCidr", "loadBalancer.scheduler"):
        one_about(found, key)


def test_cidr_with_host_bits_names_the_network_meant() -> None:
    msg = one_about(problems(with_changes(ALICLOUD, network__vpcCidr="10.0.0.1/16")), "network.vpcCidr")
    assert "10.0.0.0/16" in msg


def test_overlapping_pod_and_vpc_cidrs_are_refused() -> None:
    found = problems(with_changes(ALICLOUD, network__vpcCidr="172.20.0.0/16"))
    assert any(p.startswith("network.podCidr:") and "overlap" in p for p in found), found


def test_zone_of_another_region_is_refused() -> None:
    values = with_changes(ALICLOUD, cloud__zones=["cn-hangzhou-h", "cn-beijing-a"])
    assert "not a zone of region" in one_about(problems(values), "cloud.zones[1]")


def test_production_needs_three_zones() -> None:
    values = with_changes(ENTERPRISE, cloud__zones=["cn-hangzhou-h", "cn-hangzhou-i"])
    assert "at least 3" in one_about(problems(values), "cloud.zones")


def test_unknown_instance_type_is_refused() -> None:
    values = with_changes(ALICLOUD, nodePools__emqx__instanceTypes=["ecs.c7.hugexlarge"])
    assert "sizing table" in one_about(problems(values), "nodePools.emqx.instanceTypes[0]")


def test_malformed_instance_type_is_refused() -> None:
    values = with_changes(ALICLOUD, nodePools__system__instanceTypes=["c7.large"])
    assert "not an ECS instance type" in one_about(problems(values), "nodePools.system.instanceTypes[0]")


def test_too_few_emqx_nodes_for_the_topology_is_refused() -> None:
    values = with_changes(ENTERPRISE, nodePools__emqx__count=2)
    assert "one EMQX pod per node" in one_about(problems(values), "nodePools.emqx.count")


def test_admin_cidr_open_to_the_internet_is_refused() -> None:
    values = with_changes(ALICLOUD, network__adminCidrs=["0.0.0.0/0"])
    assert "18083" in one_about(problems(values), "network.adminCidrs[0]")


def test_load_balancer_idle_timeout_must_outlast_keepalive() -> None:
    values = with_changes(ALICLOUD, emqx__keepaliveSeconds=300, loadBalancer__idleTimeoutSeconds=400)
    msg = one_about(problems(values), "loadBalancer.idleTimeoutSeconds")
    assert "450" in msg and "451" in msg


# --- EMQX topology and licence rules -------------------------------------------------------------------------


def test_open_source_has_no_replicants() -> None:
    values = with_changes(ALICLOUD, emqx__cores=3, emqx__replicants=2)
    assert "Enterprise" in one_about(problems(values), "emqx.replicants")


def test_open_source_is_limited_to_three_nodes() -> None:
    values = with_changes(ALICLOUD, emqx__cores=5, emqx__replicants=0)
    found = problems(values)
    assert any("3 nodes" in p for p in found), found


def test_open_source_edition_does_not_exist_from_5_9() -> None:
    values = with_changes(ALICLOUD, emqx__version="5.10.3")
    assert "Business Source License" in one_about(problems(values), "emqx.edition")


def test_emqx_5_9_cluster_without_licence_is_refused() -> None:
    values = with_changes(ENTERPRISE, licenseKey=None)
    msg = one_about(problems(values), "licenseKey")
    assert "pulumi config set --secret licenseKey" in msg


def test_licence_in_plain_text_is_refused() -> None:
    msg = one_about(problems(ENTERPRISE, secret_keys=set()), "licenseKey")
    assert "plain text" in msg and "--secret" in msg


def test_licence_is_a_secret_output() -> None:
    s = ok(ENTERPRISE)
    assert s.license_key is not None and s.has_license


def test_production_needs_an_odd_number_of_cores() -> None:
    values = with_changes(ENTERPRISE, emqx__cores=4)
    assert "odd number" in one_about(problems(values), "emqx.cores")


def test_prod_target_is_met_with_replicants_only_taking_clients() -> None:
    s = ok(ENTERPRISE)
    assert s.sizing.cores == 3 and s.sizing.replicants == 3
    assert s.sizing.client_nodes == s.sizing.replicants
    assert s.sizing.connections_per_node * s.sizing.replicants >= 1_000_000


def test_derived_topology_for_a_large_target_uses_replicants() -> None:
    # 10M (14.3M with 30% headroom) fits an NLB over 3 zones (5M each); the fleet is what is derived here.
    values = with_changes(ENTERPRISE, emqx__replicants=None, emqx__capacity__connections=10_000_000,
                          emqx__capacity__messageRate=1_000_000)
    s = ok(values)
    # Cores take no clients: the replicants alone carry the target, and more of them than cores.
    assert s.sizing.cores == 3 and s.sizing.replicants > s.sizing.cores
    assert s.sizing.connections_per_node * s.sizing.replicants >= 10_000_000


def test_production_survives_losing_a_client_node() -> None:
    # 2 replicants of 64 vCPU carry the 1.25M msg ops/s (in, out, and the half of the deliveries that cross
    # between them) at 20% headroom, but one alone cannot (825k msg ops/s).
    msg = one_about(problems(with_changes(ENTERPRISE, emqx__replicants=2, emqx__capacity__headroom=0.2)),
                    "emqx.replicants")
    assert "once one is lost" in msg and "at least 3" in msg
    assert ok(with_changes(ENTERPRISE, production=False, emqx__replicants=2,
                           emqx__capacity__headroom=0.2)).sizing.replicants == 2


def test_too_few_explicit_replicants_for_the_target_are_refused() -> None:
    values = with_changes(ENTERPRISE, emqx__replicants=1,
                          nodePools__emqx__instanceTypes=["ecs.c7.xlarge"])
    found = problems(values)
    assert any(p.startswith("emqx.replicants:") for p in found), found


def test_unsupported_versions_are_refused() -> None:
    assert "5.1.1" in one_about(problems(with_changes(ALICLOUD, emqx__version="5.0.26")), "emqx.version")
    assert "4.4.14" in one_about(problems(with_changes(ALICLOUD, emqx__version="4.4.10")), "emqx.version")


def test_legacy_enterprise_4_4_uses_the_v1beta4_kind() -> None:
    values = with_changes(EXISTING, emqx__edition="enterprise", emqx__version="4.4.19", licenseKey="k")
    s = ok(values)
    assert (s.emqx.release.api_version, s.emqx.release.kind) == ("apps.emqx.io/v1beta4", "EmqxEnterprise")
    assert s.emqx.release.image == "emqx/emqx-ee:4.4.19"


# --- rebalance -------------------------------------------------------------------------------------------------


def test_rebalance_is_refused_for_open_source() -> None:
    values = with_changes(ALICLOUD, rebalance={"runs": [{"name": "one", "connEvictRate": 100}]})
    assert "Enterprise-only" in one_about(problems(values), "rebalance.runs")


def test_rebalance_runs_are_validated() -> None:
    values = with_changes(ENTERPRISE, rebalance={"runs": [
        {"name": "a", "connEvictRate": 0},
        {"name": "a", "connEvictRate": 10, "relConnThreshold": 0.5},
        {"connEvictRate": 10},
    ]})
    found = problems(values)
    one_about(found, "rebalance.runs[0].connEvictRate")
    one_about(found, "rebalance.runs[1].relConnThreshold")
    one_about(found, "rebalance.runs[2].name")


def test_rebalance_runs_parse() -> None:
    values = with_changes(ENTERPRISE, rebalance={"runs": [{"name": "after-scale-out", "connEvictRate": 500}]})
    (run,) = ok(values).rebalance
    assert (run.name, run.conn_evict_rate, run.rel_conn_threshold) == ("after-scale-out", 500, "1.1")


# --- tuning overrides reach the tuning validator -----------------------------------------------------------------


def test_removed_sysctl_override_is_refused() -> None:
    values = with_changes(ALICLOUD, tuning={"sysctls": {"net.ipv4.tcp_tw_recycle": 1}})
    found = problems(values)
    assert any("tcp_tw_recycle" in p and "4.12" in p for p in found), found


def test_misspelt_sysctl_override_is_refused() -> None:
    values = with_changes(ALICLOUD, tuning={"sysctls": {"net.ipv4.tcp_max_sync_backlog": 16384}})
    found = problems(values)
    assert any("tcp_max_sync_backlog" in p for p in found), found


# --- keys that belong to another target ------------------------------------------------------------------------


def test_cloud_keys_with_existing_target_are_refused() -> None:
    values = {**EXISTING, "cloud": ALICLOUD["cloud"]}
    assert "no effect" in one_about(problems(values), "cloud")


def test_kubeconfig_with_a_cloud_target_is_refused() -> None:
    values = {**ALICLOUD, "kubeconfig": "apiVersion: v1"}
    assert "only applies" in one_about(problems(values, secret_keys={"kubeconfig"}), "kubeconfig")


def test_cross_field_rules_are_reported_alongside_unrelated_mistakes() -> None:
    values = with_changes(ENTERPRISE, licenseKey=None, emqx__cores=4, cloud__region=None)
    found = problems(values)
    one_about(found, "cloud.region")
    assert "odd number" in one_about(found, "emqx.cores")
    one_about(found, "licenseKey")


def test_production_needs_room_for_blue_green_rollouts() -> None:
    msg = one_about(problems(with_changes(ENTERPRISE, nodePools__emqx__rolloutSurge=0)), "nodePools.emqx.rolloutSurge")
    assert "blue-green" in msg
    s = ok(ENTERPRISE)
    # The operator runs the new cores and replicants beside the old ones before it removes any; beside replicants
    # the cores have their own pool (README, Sizing model), each pool with room for its own role.
    assert s.emqx_pool is not None and (s.emqx_pool.count, s.emqx_pool.rollout_surge) == (3, 3)
    assert s.core_pool is not None and (s.core_pool.count, s.core_pool.rollout_surge) == (3, 3)
    fixed = ok(with_changes(ENTERPRISE, production=False, nodePools__emqx__rolloutSurge=0))
    assert fixed.core_pool is not None and fixed.core_pool.rollout_surge == 0


def test_contradicting_tuning_overrides_are_config_errors_not_tracebacks() -> None:
    values = with_changes(ALICLOUD, tuning={"sysctls": {"fs.file-max": 70000}})
    found = problems(values)
    assert any(p.startswith("tuning.") and "fs.file-max" in p for p in found), found
    too_big = with_changes(ALICLOUD, tuning={"nofile": 1 << 30})
    assert "fs.nr_open" in one_about(problems(too_big), "tuning.nofile")


@pytest.mark.parametrize(("changes", "key"), [
    ({"emqx__tls__dnsNames": ["bad name!"]}, "emqx.tls.dnsNames[0]"),
    ({"emqx__coreStorage__sizeGiB": 10}, "emqx.coreStorage.sizeGiB"),
    ({"monitoring": {"labels": {"bad key!": "x"}}}, "monitoring.labels.bad key!"),
    ({"tags": {"aliyun:owner": "me"}}, "tags.aliyun:owner"),
    ({"network__adminCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}, "network.adminCidrs[0]"),
    ({"emqx__name": "a" * 37}, "emqx.name"),
    ({"licenseKey": "k"}, "licenseKey"),
])
def test_values_that_would_fail_at_apply_time_are_refused(changes: dict[str, Any], key: str) -> None:
    one_about(problems(with_changes(ALICLOUD, **changes)), key)


def test_existing_node_selector_must_be_labels() -> None:
    values = with_changes(EXISTING, existing={"nodeSelector": {"pool": "a b"}})
    one_about(problems(values), "existing.nodeSelector.pool")


def test_existing_cluster_version_is_required() -> None:
    msg = one_about(problems(with_changes(EXISTING, cluster=None)), "cluster.kubernetesMinor")
    assert "kubectl version" in msg


def test_own_issuer_needs_the_names_clients_dial() -> None:
    values = with_changes(ALICLOUD, emqx__tls={"issuerKind": "ClusterIssuer", "issuerName": "letsencrypt"})
    assert "mqtt.example.com" in one_about(problems(values), "emqx.tls.dnsNames")


def test_install_toggles_only_apply_to_existing_clusters() -> None:
    values = with_changes(ALICLOUD, charts={"installOperator": False})
    assert "existing cluster" in one_about(problems(values), "charts.installOperator")
    ok(with_changes(EXISTING, charts={"installOperator": False, "installCertManager": False}))


def test_emqx_4_4_needs_an_operator_that_still_serves_v1beta4() -> None:
    # Only the 2.2 line is accepted (it serves v1beta4, which 4.4 needs, and v2beta1); no later line is released.
    values = with_changes(EXISTING, emqx__edition="enterprise", emqx__version="4.4.19", licenseKey="k",
                          charts={"emqxOperatorVersion": "2.3.0"})
    assert "2.2" in one_about(problems(values), "charts.emqxOperatorVersion")


def test_open_file_limit_must_exceed_the_port_limit() -> None:
    values = with_changes(ENTERPRISE, tuning={"nofile": 65536})
    assert "node.max_ports" in one_about(problems(values), "tuning.nofile")


def test_program_tags_cannot_be_overridden_or_exceed_the_cloud_limit() -> None:
    assert "set by the program" in one_about(problems(with_changes(ALICLOUD, tags={"stack": "x"})), "tags")
    many = {f"k{i}": "v" for i in range(17)}
    assert "at most 16" in one_about(problems(with_changes(ALICLOUD, tags=many)), "tags")


def test_alibaba_stacks_keep_within_the_clbs_ten_tags() -> None:
    seven = {f"k{i}": "v" for i in range(7)}
    assert dict(ok(with_changes(ALICLOUD, tags=seven)).tags) == seven
    msg = one_about(problems(with_changes(ALICLOUD, tags={**seven, "k7": "v"})), "tags")
    assert "at most 7" in msg and "CLB" in msg


def test_partial_rollout_room_is_refused() -> None:
    msg = one_about(problems(with_changes(ENTERPRISE, nodePools__emqx__rolloutSurge=2)), "nodePools.emqx.rolloutSurge")
    assert "at least 3" in msg  # the 3 replicants: the cores have their own pool
    ok(with_changes(ENTERPRISE, production=False, nodePools__emqx__rolloutSurge=0))
