"""components/settings/cluster.py: the cluster section's parser, with the per-target version table."""

from __future__ import annotations

from typing import Any

from components.config_reader import Problems, Section
from components.settings.cluster import ACK_MINORS, VERSION_TABLES, ClusterSettings, parse_cluster


def cluster(raw: Any, target: str | None = "alicloud", production: bool = False) -> tuple[ClusterSettings, list[str]]:
    problems = Problems()
    section = Section("cluster", raw, problems)
    parsed = parse_cluster(section, target, production)  # type: ignore[arg-type]
    section.finish()
    return parsed, problems.items


def keys(found: list[str]) -> list[str]:
    return [p.split(":", 1)[0] for p in found]


def test_the_defaults_of_an_alicloud_cluster() -> None:
    parsed, found = cluster(None)
    assert found == []
    assert (parsed.kubernetes_version, parsed.kubernetes_minor) == ("1.35.7-aliyun.1", "1.35")
    assert parsed.spec == "ack.pro.small" and parsed.node_image == "AliyunLinux3ContainerOptimized"
    assert not parsed.api_server.public and not parsed.deletion_protection
    # Production protects the cluster unless told otherwise.
    assert cluster(None, production=True)[0].deletion_protection


def test_the_version_table_is_keyed_by_target() -> None:
    assert VERSION_TABLES["alicloud"].minors is ACK_MINORS
    assert VERSION_TABLES["aws"].service == "EKS" and "existing" not in VERSION_TABLES


def test_a_minor_ack_does_not_create_clusters_on_is_refused() -> None:
    _, found = cluster({"kubernetesVersion": "1.33.3-aliyun.1"})
    assert keys(found) == ["cluster.kubernetesVersion"]
    assert "'1.33.3-aliyun.1' is not on a minor ACK creates clusters on (1.35, 1.36, as of 2026-11)" in found[0]
    assert "cluster.allowUnlistedVersion: true" in found[0]
    # The cloud's API is the judge once the stack says so.
    assert cluster({"kubernetesVersion": "1.37.1-aliyun.1", "allowUnlistedVersion": True})[1] == []


def test_a_target_without_a_version_table_is_not_judged_by_one() -> None:
    parsed, found = cluster({"kubernetesVersion": "1.33.3-aliyun.1", "kubernetesMinor": "1.33"}, target="existing")
    assert found == [] and parsed.kubernetes_minor == "1.33"


def test_a_malformed_version_is_refused() -> None:
    _, found = cluster({"kubernetesVersion": "v1.35"})
    assert keys(found) == ["cluster.kubernetesVersion"]


def test_a_node_image_held_to_an_older_minor_is_refused_on_a_newer_one() -> None:
    _, found = cluster({"nodeImage": "AliyunLinux3"})
    assert keys(found) == ["cluster.nodeImage"] and "cgroup v2" in found[0]
    _, found = cluster({"nodeImage": "Ubuntu"})
    assert keys(found) == ["cluster.nodeImage"]


def test_a_public_production_api_server_needs_a_bound_access_list() -> None:
    _, found = cluster({"apiServer": {"public": True}}, production=True)
    assert keys(found) == ["cluster.apiServer.public"] and "needs an access list" in found[0]
    _, found = cluster({"apiServer": {"public": True, "allowedCidrs": ["203.0.113.0/24"]}}, production=True)
    assert keys(found) == ["cluster.apiServer.public"] and "cannot bind" in found[0]
    parsed, found = cluster({"apiServer": {"public": True, "allowedCidrs": ["203.0.113.0/24"],
                                           "accessListBound": True}}, production=True)
    assert found == [] and parsed.api_server.public and parsed.api_server.access_list_bound
    _, found = cluster({"apiServer": {"allowedCidrs": ["0.0.0.0/0"]}}, production=True)
    assert keys(found) == ["cluster.apiServer.allowedCidrs"]
    # Not production: a public endpoint is the user's choice.
    assert cluster({"apiServer": {"public": True}})[1] == []


def test_a_bound_list_needs_a_list_and_the_old_key_is_refused() -> None:
    _, found = cluster({"apiServer": {"accessListBound": True}})
    assert keys(found) == ["cluster.apiServer.accessListBound"]
    _, found = cluster({"apiServerPublic": True})
    assert keys(found) == ["cluster.apiServerPublic"] and "cluster.apiServer.public" in found[0]


def test_an_existing_cluster_states_its_minor() -> None:
    parsed, found = cluster({"kubernetesMinor": "1.33"}, target="existing")
    assert found == [] and parsed.kubernetes_minor == "1.33"
    _, found = cluster(None, target="existing")
    assert keys(found) == ["cluster.kubernetesMinor"] and "required" in found[0]
    # kubernetesMinor is not read for a cloud target, so it is an unknown key there.
    _, found = cluster({"kubernetesMinor": "1.33"})
    assert keys(found) == ["cluster.kubernetesMinor"] and "not a known setting" in found[0]
