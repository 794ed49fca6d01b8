"""The ACK cluster and its node pools: node image against the Kubernetes version, API server access, and how node
changes reach running nodes (update_nodes, the kubelet rolling policy, the tuning reconciler DaemonSet).

Settings rules are checked through `parse` (pure); what the program emits is checked under Pulumi mocks
(tests/conftest.py `run_stack`), by the inputs each resource received. Expected values come from the sources named
in components/settings/cluster.py (NODE_IMAGES) and components/alicloud/cluster.py, typed here by hand.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from components import tuning
from components.settings import ConfigError, parse
from preview import writers
from tests.validators import validate_manifest

POOL = "alicloud:cs/nodePool:NodePool"
ACK = "alicloud:cs/managedKubernetes:ManagedKubernetes"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
ACL = "alicloud:slb/acl:Acl"
ACL_ENTRY = "alicloud:slb/aclEntryAttachment:AclEntryAttachment"
TAINT_KEY = "emqx-platform/dedicated"
POOL_LABEL = "emqx-platform/pool"

BASE: dict[str, Any] = {
    "target": "alicloud",
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
    "network": {"vpcCidr": "10.10.0.0/16", "clientCidrs": ["10.0.0.0/8"], "adminCidrs": ["10.10.0.0/16"]},
    "emqx": {"edition": "opensource", "version": "5.8.9", "cores": 2,
             "capacity": {"connections": 20000, "messageRate": 2000}},
}


def config(**cluster: Any) -> dict[str, Any]:
    out = copy.deepcopy(BASE)
    if cluster:
        out["cluster"] = cluster
    return out


def cluster_problems(values: dict[str, Any], *, production: bool = False) -> list[str]:
    """The problems about cluster.* keys ([] when none): other sections may have problems of their own."""
    values = {**values, "production": production}
    try:
        parse(values, stack="test", secret_keys=set())
    except ConfigError as err:
        return [p for p in err.problems if p.startswith("cluster.")]
    return []


def one(found: list[str], key: str) -> str:
    hits = [p for p in found if p.startswith(f"{key}:")]
    assert len(hits) == 1, f"expected one problem about {key!r}, got {found}"
    return hits[0]


# --- node image against the Kubernetes version --------------------------------------------------------------------


def test_default_node_image_is_cgroup_v2_and_runs_1_35() -> None:
    assert cluster_problems(config()) == []
    assert cluster_problems(config(kubernetesVersion="1.35.7-aliyun.1",
                                   nodeImage="AliyunLinux3ContainerOptimized")) == []


@pytest.mark.parametrize("image", ["AliyunLinux3", "ContainerOS"])
def test_image_not_documented_as_cgroup_v2_is_refused_from_1_35(image: str) -> None:
    found = cluster_problems(config(kubernetesVersion="1.35.7-aliyun.1", nodeImage=image))
    msg = one(found, "cluster.nodeImage")
    assert image in msg and "1.35" in msg and "cgroup v2" in msg
    assert "AliyunLinux3ContainerOptimized" in msg and "1.34" in msg
    # The boundary: 1.34 is the last minor whose kubelet still starts on cgroup v1.
    # (1.34 is past ACK's support, hence the override; the image rule is what is tested here.)
    assert cluster_problems(config(kubernetesVersion="1.34.3-aliyun.1", nodeImage=image,
                                   allowUnlistedVersion=True)) == []
    assert cluster_problems(config(kubernetesVersion="1.36.1-aliyun.1", nodeImage=image)) != []


def test_unknown_node_image_is_refused_with_the_choices() -> None:
    msg = one(cluster_problems(config(nodeImage="AliyunLinux3ContainerOptimised")), "cluster.nodeImage")
    assert "did you mean 'AliyunLinux3ContainerOptimized'" in msg


def test_existing_clusters_do_not_check_the_node_image() -> None:
    existing = {"target": "existing", "cluster": {"kubernetesMinor": "1.35", "nodeImage": "AliyunLinux3"},
                "emqx": {"edition": "opensource", "version": "5.8.9", "cores": 1, "replicants": 0}}
    assert cluster_problems(existing) == []


def test_non_ascii_digits_in_the_version_are_refused() -> None:
    msg = one(cluster_problems(config(kubernetesVersion="1.３５.7-aliyun.1")), "cluster.kubernetesVersion")
    assert "not well formed" in msg


# --- API server access --------------------------------------------------------------------------------------------


def test_old_public_key_is_refused_with_the_new_one() -> None:
    msg = one(cluster_problems(config(apiServerPublic=True)), "cluster.apiServerPublic")
    assert "renamed to cluster.apiServer.public" in msg and "allowedCidrs" in msg
    # The old key alone: no "unknown setting" problem on top of the rename.
    assert len(cluster_problems(config(apiServerPublic=False))) == 1


def test_public_production_api_server_needs_an_access_list() -> None:
    msg = one(cluster_problems(config(apiServer={"public": True}), production=True), "cluster.apiServer.public")
    assert "allowedCidrs" in msg and "inside the VPC" in msg
    msg = one(cluster_problems(config(apiServer={"public": True, "allowedCidrs": ["203.0.113.0/24", "0.0.0.0/0"]}),
                               production=True), "cluster.apiServer.allowedCidrs")
    assert "0.0.0.0/0" in msg
    # The list exists but the program cannot bind it: production goes public only once the config says it is bound.
    msg = one(cluster_problems(config(apiServer={"public": True, "allowedCidrs": ["203.0.113.0/24"]}),
                               production=True), "cluster.apiServer.public")
    assert "accessListBound" in msg and "cannot bind" in msg
    assert cluster_problems(config(apiServer={"public": True, "allowedCidrs": ["203.0.113.0/24"],
                                              "accessListBound": True}), production=True) == []
    msg = one(cluster_problems(config(apiServer={"accessListBound": True})), "cluster.apiServer.accessListBound")
    assert "no access list" in msg
    # A private endpoint needs no list; a dev stack may open its API server.
    assert cluster_problems(config(apiServer={"public": False}), production=True) == []
    assert cluster_problems(config(apiServer={"public": True})) == []


def test_allowed_cidrs_are_checked() -> None:
    found = cluster_problems(config(apiServer={"public": True, "allowedCidrs": ["203.0.113.7/24"]}))
    assert "host bits" in one(found, "cluster.apiServer.allowedCidrs[0]")
    assert "not a known setting" in one(cluster_problems(config(apiServer={"pubic": True})), "cluster.apiServer.pubic")


def test_private_api_server_by_default(run_stack) -> None:
    rec = run_stack("dev")
    assert rec.one(ACK).inputs["slbInternetEnabled"] is False
    assert rec.by_type(ACL) == [] or all("apiserver" not in r.name for r in rec.by_type(ACL))


def test_access_list_holds_the_allowed_networks_and_the_clusters_own(run_stack) -> None:
    values = config(apiServer={"public": True, "allowedCidrs": ["203.0.113.0/24", "198.51.100.7/32"]})
    rec = run_stack(values)
    assert rec.one(ACK).inputs["slbInternetEnabled"] is True
    acl = rec.one(ACL, "emqx-test-apiserver")
    assert acl.inputs["tags"]["stack"] == "test" and acl.inputs["tags"]["component"]
    entries = {r.inputs["entry"]: r for r in rec.by_type(ACL_ENTRY) if r.name.startswith("emqx-test-apiserver-")}
    # Nodes and pods reach the API server through the same listener: the VPC and flannel's pod range are listed.
    pod_cidr = rec.one(ACK).inputs["podCidr"]
    assert pod_cidr == "172.20.0.0/16"
    assert set(entries) == {"10.10.0.0/16", pod_cidr, "203.0.113.0/24", "198.51.100.7/32"}
    # Named by CIDR, so dropping one network leaves the others' resources untouched.
    assert entries["203.0.113.0/24"].name == "emqx-test-apiserver-203.0.113.0-24"
    # The user binds it by hand (README): the stack says which list, and to which load balancer.
    # (The mock engine gives each resource the id `<name>-id`.)
    assert rec.outputs["api_server_acl_id"] == f"{acl.name}-id"
    assert rec.outputs["api_server_lb_id"] == rec.one(ACK).outputs["slbId"]
    assert "api_server_acl_id" not in run_stack("dev").outputs
    # Until the config says the list is bound, every run says the endpoint is open.
    assert any(level == "warning" and "anyone can reach" in text for level, text in rec.diagnostics)
    bound = config(apiServer={"public": True, "allowedCidrs": ["203.0.113.0/24"], "accessListBound": True})
    assert not any("anyone can reach" in text for _, text in run_stack(bound).diagnostics)


# --- node pools ---------------------------------------------------------------------------------------------------


def test_every_pool_uses_the_image_and_syncs_running_nodes(run_stack) -> None:
    pools = run_stack("prod").by_type(POOL)
    assert len(pools) >= 4
    for pool in pools:
        inputs = pool.inputs
        assert inputs["imageType"] == "AliyunLinux3ContainerOptimized", pool.name
        # Labels and taints reach running nodes, and a kubelet change goes one node at a time.
        assert inputs["updateNodes"] is True, pool.name
        assert inputs["rollingPolicy"] == {"maxParallelism": 1}, pool.name


def test_node_image_setting_reaches_the_pools(run_stack) -> None:
    pools = run_stack(config(kubernetesVersion="1.34.3-aliyun.1", nodeImage="AliyunLinux3",
                             allowUnlistedVersion=True)).by_type(POOL)
    assert {p.inputs["imageType"] for p in pools} == {"AliyunLinux3"}


# --- the tuning reconciler ----------------------------------------------------------------------------------------


def _pre_user_data(rec: Any) -> str:
    tuned = [p for p in rec.by_type(POOL) if p.inputs.get("preUserData")]
    scripts = {base64.b64decode(p.inputs["preUserData"]).decode() for p in tuned}
    assert len(scripts) == 1
    return scripts.pop()


def test_reconciler_runs_the_new_node_script_on_running_tuned_nodes(run_stack) -> None:
    rec = run_stack("dev")
    ds = rec.one(DAEMONSET)
    spec = ds.inputs["spec"]["template"]["spec"]
    assert ds.inputs["metadata"]["namespace"] == "kube-system"
    [init] = spec["initContainers"]
    # Exactly the script new nodes get as pre_user_data, run in the host's root.
    assert init["command"][:4] == ["chroot", "/host", "/bin/bash", "-c"]
    assert init["command"][4] == _pre_user_data(rec)
    assert init["securityContext"]["privileged"] is True
    assert spec["hostNetwork"] is True and spec["hostPID"] is True
    assert spec["volumes"] == [{"name": "host", "hostPath": {"path": "/", "type": "Directory"}}]
    # Only on the tuned pools, past their taint.
    [term] = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [{"key": POOL_LABEL, "operator": "In", "values": ["emqx"]}]
    assert spec["tolerations"] == [{"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
    # The image already on the stack's registry path: EMQX's own.
    emqx_image = "emqx/emqx:5.8.9"
    assert init["image"] == emqx_image and spec["containers"][0]["image"] == emqx_image
    # The keeper holds the conntrack limit and hash size of the profile.
    keeper = spec["containers"][0]["command"]
    assert keeper[:4] == ["chroot", "/host", "/bin/bash", "-c"]
    profile_max = next(line for line in _pre_user_data(rec).splitlines()
                       if line.startswith("net.netfilter.nf_conntrack_max raise "))
    limit = int(profile_max.split()[-1])
    assert f'raise "$max_file" {limit} nf_conntrack_max' in keeper[4]
    assert f'raise "$hash_file" {limit // 4} ' in keeper[4]
    # One node at a time.
    assert ds.inputs["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    assert validate_manifest(writers.manifest_object(ds)) == []


def test_reconciler_waits_for_the_pools_and_uses_the_clusters_provider(run_stack) -> None:
    rec = run_stack("dev")
    ds = rec.one(DAEMONSET)
    pools = {p.name for p in rec.by_type(POOL)}
    assert pools and pools <= set(ds.dependencies)
    assert ds.provider is not None and "emqx-dev-k8s" in ds.provider
    # EMQX pods come after it: a raised open-file limit reaches containerd before pods that expect it start.
    emqx = rec.one("kubernetes:apps.emqx.io/v2beta1:EMQX")
    assert ds.name in emqx.dependencies


def test_a_tuning_change_rolls_the_reconciler_and_the_pools(run_stack) -> None:
    def tuned(timeout: int) -> Any:
        return run_stack({**config(), "tuning": {"sysctls": {"net.netfilter.nf_conntrack_tcp_timeout_time_wait":
                                                            timeout}}})

    before, after, again = tuned(30), tuned(60), tuned(30)

    def template(rec: Any) -> dict[str, Any]:
        return rec.one(DAEMONSET).inputs["spec"]["template"]

    digest = "emqx-platform/tuning-digest"
    assert template(before)["metadata"]["annotations"][digest] != template(after)["metadata"]["annotations"][digest]
    assert template(before) == template(again), "the same profile must not roll the nodes"
    assert "net.netfilter.nf_conntrack_tcp_timeout_time_wait set 60" in template(after)["spec"]["initContainers"][0][
        "command"][4]
    # New nodes get the same new script.
    assert _pre_user_data(after) == template(after)["spec"]["initContainers"][0]["command"][4]


def test_load_generators_are_reconciled_too(run_stack) -> None:
    values = config()
    values["nodePools"] = {"loadgen": {"enabled": True, "count": 1}}
    spec = run_stack(values).one(DAEMONSET).inputs["spec"]["template"]["spec"]
    [term] = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"][0]["values"] == ["emqx", "loadgen"]


def test_kube_proxy_conntrack_floor_is_below_the_profile_on_small_nodes() -> None:
    # Why the keeper exists: kube-proxy's defaults (maxPerCore 32768, min 131072) on dev's 4-vCPU ecs.c7.xlarge give
    # max(32768 x 4, 131072) = 131072, which kube-proxy 1.29-1.35 writes even when the node holds more.
    profile = tuning.build_profile(max_connections_per_node=10_000, kubernetes_version="1.35")
    kube_proxy = max(32768 * 4, 131072)
    assert profile.conntrack_max is not None and profile.conntrack_max > kube_proxy


# --- Kubernetes version against what ACK creates ------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.00.0", "1.10.0", "1.99.0", "1.33.4-aliyun.1", "1.34.1-aliyun.1"])
def test_minors_ack_does_not_create_are_refused(version: str) -> None:
    msg = one(cluster_problems(config(kubernetesVersion=version, nodeImage="AliyunLinux3ContainerOptimized")),
              "cluster.kubernetesVersion")
    assert "allowUnlistedVersion" in msg and "1.35" in msg


def test_listed_minors_and_the_override_are_accepted() -> None:
    assert cluster_problems(config(kubernetesVersion="1.36.1-aliyun.1")) == []
    assert cluster_problems(config(kubernetesVersion="1.35.7-aliyun.1")) == []
    assert cluster_problems(config(kubernetesVersion="1.37.0-aliyun.1", allowUnlistedVersion=True)) == []
    # The version table is about ACK: an existing cluster names its own minor.
    existing = {"target": "existing", "cluster": {"kubernetesMinor": "1.31", "kubernetesVersion": "1.10.0"},
                "emqx": {"edition": "opensource", "version": "5.8.9", "cores": 1, "replicants": 0}}
    assert not [p for p in _problems_of(existing) if p.startswith("cluster.kubernetesVersion")]


def _problems_of(values: dict[str, Any]) -> list[str]:
    try:
        parse(values, stack="test", secret_keys=set())
    except ConfigError as err:
        return err.problems
    return []


def test_cluster_deletion_protection_follows_production_unless_set(run_stack) -> None:
    vpc = "alicloud:vpc/network:Network"
    assert ok_settings(config()).cluster.deletion_protection is False
    from tests.test_settings import ENTERPRISE, ok
    assert ok(ENTERPRISE).cluster.deletion_protection is True
    assert ok({**ENTERPRISE, "cluster": {"deletionProtection": False}}).cluster.deletion_protection is False
    rec = run_stack(config(deletionProtection=True))
    assert rec.one(ACK).inputs["deletionProtection"] is True
    assert rec.one(ACK).options["protect"] is True and rec.one(vpc).options["protect"] is True
    rec = run_stack(config())
    assert rec.one(ACK).inputs["deletionProtection"] is False and rec.one(vpc).options["protect"] is False


def ok_settings(values: dict[str, Any]) -> Any:
    return parse(values, stack="test", secret_keys=set())
