"""The whole program under Pulumi's mock engine (preview=False), for every stack file and for edge configs.

Questions are asked of the recorded resource inputs; everything we emit goes through a validator we did not write.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from components import tuning
from components.settings import ConfigError
from preview import writers
from tests.validators import validate_manifest

ROOT = Path(__file__).resolve().parents[1]
STACKS = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))
# Stacks of `mode: vm` (EMQX on ECS instances) emit no Kubernetes object.
VM_STACKS = {s for s in STACKS if "emqx-platform:mode: vm" in (ROOT / "stacks" / f"Pulumi.{s}.yaml").read_text()}
KUBERNETES_STACKS = [s for s in STACKS if s not in VM_STACKS]
EMQX_TOKEN = "kubernetes:apps.emqx.io/v2beta1:EMQX"
MQTT_PORTS = {1883, 8883, 8083, 8084}


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_previews_with_unique_urns(run_stack, stack: str) -> None:
    rec = run_stack(stack)
    assert rec.resources, stack
    urns = Counter(r.urn for r in rec.resources)
    assert not [u for u, n in urns.items() if n > 1], "duplicate URNs"
    # Physical names a cloud or the API server sees must not collide either.
    names = Counter((r.type, r.name) for r in rec.resources)
    assert not [k for k, n in names.items() if n > 1]
    assert not rec.unmocked_calls, f"data sources the mocks do not answer: {rec.unmocked_calls}"


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_every_emitted_kubernetes_object_passes_strict_validation(run_stack, stack: str) -> None:
    rec = run_stack(stack)
    objects = writers.manifest_files(rec)
    assert objects
    problems = {name: validate_manifest(obj) for name, obj in objects}
    assert not {k: v for k, v in problems.items() if v}


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_of_a_component_is_parented(run_stack, stack: str) -> None:
    rec = run_stack(stack)
    # Top-level components hang off the stack; every cloud or Kubernetes resource belongs to a component.
    orphans = [r.name for r in rec.resources if r.custom and r.parent is None and not r.type.startswith("pulumi:")]
    assert not orphans, orphans


@pytest.mark.parametrize("config", [
    {"target": "alicould", "emqx": {"capacity": {"connections": "many"}}},
    # Valid up to the cross-field rules: licence missing for a 5.10 cluster.
    {"target": "existing", "cluster": {"kubernetesMinor": "1.31"},
     "emqx": {"edition": "enterprise", "version": "5.10.3", "cores": 3}},
])
def test_bad_config_registers_nothing(run_stack, config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as err:
        run_stack(config)
    assert err.value.problems
    assert err.value.registered_before_failure == []  # type: ignore[attr-defined]


# --- prod on Alibaba Cloud -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prod(run_stack):
    return run_stack("prod")


def test_prod_vswitches_span_three_distinct_zones(prod) -> None:
    zones = [r.inputs["zoneId"] for r in prod.by_type("alicloud:vpc/switch:Switch")]
    assert len(set(zones)) == 3
    vpc = ipaddress.ip_network(prod.one("alicloud:vpc/network:Network").inputs["cidrBlock"])
    subnets = [ipaddress.ip_network(r.inputs["cidrBlock"]) for r in prod.by_type("alicloud:vpc/switch:Switch")]
    assert all(s.subnet_of(vpc) for s in subnets)  # type: ignore[arg-type]


def test_prod_has_system_and_emqx_pools_with_the_tuning(prod) -> None:
    pools = {r.inputs["nodePoolName"]: r.inputs for r in prod.by_type("alicloud:cs/nodePool:NodePool")}
    zones = ("cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j")
    assert set(pools) == ({"emqx-prod-system"} | {f"emqx-prod-emqx-{z}" for z in zones}
                          | {f"emqx-prod-emqx-core-{z}" for z in zones})
    vswitch_of_zone = {r.inputs["zoneId"]: r.name + "-id" for r in prod.by_type("alicloud:vpc/switch:Switch")}
    # The planner's fleet (README, Sizing model): 5 replicants on ecs.c7.8xlarge split 2/2/1 over the zones, and the
    # 3 cores on their own ecs.c7.2xlarge pools, one per zone; during a blue-green rollout the operator runs the new
    # cores and replicants beside the old ones, so each pool may double.
    replicants = {"cn-hangzhou-h": 2, "cn-hangzhou-i": 2, "cn-hangzhou-j": 1}
    for zone in zones:
        for pool, itype, count in ((f"emqx-{zone}", "ecs.c7.8xlarge", replicants[zone]),
                                   (f"emqx-core-{zone}", "ecs.c7.2xlarge", 1)):
            emqx = pools[f"emqx-prod-{pool}"]
            # One pool per zone, so the autoscaler can add a node in the zone a Pending core (and its zonal disk)
            # needs.
            assert emqx["vswitchIds"] == [vswitch_of_zone[zone]]
            script = base64.b64decode(emqx["preUserData"]).decode()
            assert script.startswith("#!/bin/bash")
            assert "net.core.rmem_max" in script and "fs.nr_open" in script
            # Per-namespace keys are the pods' business: on the node they would be dead weight that looks like tuning.
            assert "net.core.somaxconn" not in script and "tcp_max_syn_backlog" not in script
            assert emqx["scalingConfig"] == {"enable": True, "minSize": count, "maxSize": 2 * count}
            assert "desiredSize" not in emqx
            assert emqx["instanceTypes"] == [itype]
            role = "emqx-core" if "core" in pool else "emqx"
            assert {"key": "emqx-platform/pool", "value": role} in emqx["labels"]
            assert {"key": "emqx-platform/dedicated", "value": role, "effect": "NoSchedule"} in emqx["taints"]
    assert prod.one("alicloud:cs/autoscalingConfig:AutoscalingConfig").inputs["scaleDownEnabled"] is True
    assert "preUserData" not in pools["emqx-prod-system"]


def test_pod_sysctls_are_allowed_by_the_kubelet_of_the_pool_they_land_on(prod) -> None:
    emqx = prod.one(EMQX_TOKEN).inputs["spec"]
    pools = [r.inputs for r in prod.by_type("alicloud:cs/nodePool:NodePool")
             if {"key": "emqx-platform/pool", "value": "emqx"} in r.inputs["labels"]
             or {"key": "emqx-platform/pool", "value": "emqx-core"} in r.inputs["labels"]]
    assert len(pools) == 6
    allowed = set(pools[0]["kubeletConfiguration"]["allowedUnsafeSysctls"])
    assert all(set(p["kubeletConfiguration"]["allowedUnsafeSysctls"]) == allowed for p in pools)
    version = prod.one("alicloud:cs/managedKubernetes:ManagedKubernetes").inputs["version"]
    safe = tuning.safe_sysctls(".".join(version.split(".")[:2]))
    for template, pool in (("coreTemplate", "emqx-core"), ("replicantTemplate", "emqx")):
        spec = emqx[template]["spec"]
        assert spec["nodeSelector"] == {"emqx-platform/pool": pool}
        assert spec["tolerations"] == [{"key": "emqx-platform/dedicated", "operator": "Equal", "value": pool,
                                        "effect": "NoSchedule"}]
        names = {s["name"] for s in spec["podSecurityContext"]["sysctls"]}
        assert "net.core.somaxconn" in names
        assert names - safe <= allowed, names - safe - allowed
        assert allowed <= names  # nothing allowed that no pod asks for


def test_clb_listeners_cover_mqtt_with_health_checks_and_a_locked_dashboard(run_stack) -> None:
    # prod runs behind an NLB (tests/test_loadbalancer.py); the CLB's listeners are checked on dev.
    dev = run_stack("dev")
    listeners = {r.inputs["frontendPort"]: r.inputs for r in dev.by_type("alicloud:slb/listener:Listener")}
    assert set(listeners) == MQTT_PORTS | {18083}
    for port in MQTT_PORTS:
        lst = listeners[port]
        assert lst["protocol"] == "tcp" and lst["healthCheck"] == "on"
        assert (lst["healthCheckInterval"], lst["healthyThreshold"], lst["unhealthyThreshold"]) == (2, 5, 2)
        assert lst["scheduler"] == "wrr"
        assert lst["establishedTimeout"] > 60 * 1.5
    dashboard = listeners[18083]
    assert (dashboard["aclStatus"], dashboard["aclType"]) == ("on", "white")
    assert dashboard["aclIds"] == [dev.one("alicloud:slb/acl:Acl").name + "-id"]
    clb = dev.one("alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer").inputs
    assert (clb["addressType"], clb["instanceChargeType"], clb["deleteProtection"]) == ("intranet", "PayByCLCU", "off")


def test_no_security_group_rule_opens_the_dashboard_to_the_internet(run_stack) -> None:
    for stack in ("dev", "prod"):
        rec = run_stack(stack)
        for rule in rec.by_type("alicloud:ecs/securityGroupRule:SecurityGroupRule"):
            low, high = (int(p) for p in rule.inputs["portRange"].split("/"))
            if low <= 18083 <= high or low <= 31808 <= high or rule.inputs["ipProtocol"] == "all":
                assert ipaddress.ip_network(rule.inputs["cidrIp"]).prefixlen > 0, rule.name
            if low <= 4370 <= high or low <= 5369 <= high:
                assert ipaddress.ip_network(rule.inputs["cidrIp"]).is_private


def test_listener_service_binds_to_the_stack_owned_load_balancer(run_stack) -> None:
    dev = run_stack("dev")
    spec = dev.one(EMQX_TOKEN).inputs["spec"]
    annotations = spec["listenersServiceTemplate"]["metadata"]["annotations"]
    prefix = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
    clb = dev.one("alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer")
    assert annotations[prefix + "id"] == clb.outputs.get("id", clb.name + "-id")
    assert annotations[prefix + "force-override-listeners"] == "false"
    groups = {g.name: g for g in dev.by_type("alicloud:slb/serverGroup:ServerGroup")}
    bound = dict(item.split(":")[::-1] for item in annotations[prefix + "vgroup-port"].split(","))
    assert set(bound) == {str(p) for p in MQTT_PORTS}
    assert all(gid.endswith("-id") and gid[: -len("-id")] in groups for gid in bound.values())
    service = spec["listenersServiceTemplate"]["spec"]
    assert service["type"] == "LoadBalancer" and service["externalTrafficPolicy"] == "Local"


def test_prod_emqx_cluster_shape(prod) -> None:
    emqx = prod.one(EMQX_TOKEN).inputs
    assert emqx["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    spec = emqx["spec"]
    assert spec["image"] == "emqx/emqx:5.10.3"
    assert spec["coreTemplate"]["spec"]["replicas"] == 3
    assert spec["replicantTemplate"]["spec"]["replicas"] == 5
    # Each pod takes its node less the kubelet's tiered reserve (0.1 core + 2.5% of the cores above 4) and 500m of
    # daemonsets: cores on 8-vCPU nodes, replicants on 32-vCPU ones.
    assert spec["coreTemplate"]["spec"]["resources"]["limits"]["cpu"] == "7300m"
    assert spec["replicantTemplate"]["spec"]["resources"]["limits"]["cpu"] == "30700m"
    assert "volumeClaimTemplates" in spec["coreTemplate"]["spec"]
    assert spec["coreTemplate"]["spec"]["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "DoNotSchedule"
    env = {e["name"]: e for e in spec["coreTemplate"]["spec"]["env"]}
    # 5.10 re-reads a licence file: the key is a mounted file, not an environment variable read at start.
    assert "EMQX_LICENSE__KEY" not in env
    assert 'license.key = "file:///opt/emqx/etc/license/emqx.lic"' in spec["config"]["data"]
    assert env["EMQX_CLUSTER__AUTOCLEAN"]["value"] == "5m"
    assert "tcp_options.backlog = 32768" in spec["config"]["data"]


def test_prod_operator_after_cert_manager_and_emqx_after_operator(prod) -> None:
    releases = {r.inputs["chart"]: r for r in prod.by_type("kubernetes:helm.sh/v3:Release")}
    cert_manager, operator = releases["cert-manager"], releases["emqx-operator"]
    assert cert_manager.inputs["values"]["crds"]["enabled"] is True
    assert operator.inputs["repositoryOpts"]["repo"] == "https://repos.emqx.io/charts"
    assert operator.inputs["version"] == "2.2.29"
    assert cert_manager.name in operator.dependencies
    assert operator.name in prod.one(EMQX_TOKEN).dependencies


def test_prod_exports_endpoints_and_keeps_secrets_secret(prod) -> None:
    endpoints = prod.outputs["mqtt_endpoints"]
    assert set(endpoints) == {"mqtt", "mqtts", "ws", "wss"}
    assert prod.outputs["kubeconfig"] == "[secret]"
    assert prod.outputs["dashboard_password"] == "[secret]"
    secret = prod.one("kubernetes:core/v1:Secret").inputs
    assert secret["stringData"] == "[secret]" or set(secret["stringData"].values()) == {"[secret]"}


def test_prod_protects_network_and_cluster(prod) -> None:
    assert prod.one("alicloud:cs/managedKubernetes:ManagedKubernetes").inputs["deletionProtection"] is True


# --- dev and local -----------------------------------------------------------------------------------------------


def test_dev_is_a_small_open_source_all_core_cluster(run_stack) -> None:
    spec = run_stack("dev").one(EMQX_TOKEN).inputs["spec"]
    assert spec["image"] == "emqx/emqx:5.8.9"
    assert "replicantTemplate" not in spec
    assert 1 <= spec["coreTemplate"]["spec"]["replicas"] <= 3


def test_local_creates_no_cloud_resources(run_stack) -> None:
    rec = run_stack("local")
    assert not [r for r in rec.resources if r.type.startswith(("alicloud:", "aws:"))]
    spec = rec.one(EMQX_TOKEN).inputs["spec"]
    assert spec["coreTemplate"]["spec"]["replicas"] == 1
    assert spec["listenersServiceTemplate"]["spec"]["type"] == "NodePort"
    assert spec["dashboardServiceTemplate"]["spec"]["type"] == "ClusterIP"


# --- changes that must stay updates -----------------------------------------------------------------------------


def _config(stack: str) -> dict[str, Any]:
    import yaml

    raw = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {k.split(":", 1)[1]: v for k, v in raw.items()}


def test_image_and_resource_changes_keep_the_emqx_resource_identity(run_stack) -> None:
    before = run_stack(_config("prod"))
    changed = copy.deepcopy(_config("prod"))
    changed["emqx"]["version"] = "5.10.2"
    changed["nodePools"]["emqx"]["instanceTypes"] = ["ecs.c7.16xlarge"]
    changed["emqx"]["replicants"] = 3
    after = run_stack(changed)
    old, new = before.one(EMQX_TOKEN), after.one(EMQX_TOKEN)
    # Same Pulumi name, same Kubernetes identity: an update, which the operator turns into a blue-green rollout.
    assert old.urn == new.urn
    for key in ("name", "namespace"):
        assert old.inputs["metadata"][key] == new.inputs["metadata"][key]
    assert old.inputs["spec"]["image"] != new.inputs["spec"]["image"]
    assert old.inputs["spec"]["replicantTemplate"]["spec"]["resources"] != \
        new.inputs["spec"]["replicantTemplate"]["spec"]["resources"]
    # The generated dashboard password is kept, not regenerated.
    assert before.one("random:index/randomPassword:RandomPassword").urn == \
        after.one("random:index/randomPassword:RandomPassword").urn


def test_rebalance_runs_are_new_objects_when_changed(run_stack) -> None:
    config = _config("prod")
    config["rebalance"] = {"runs": [{"name": "after-scale-out", "connEvictRate": 500}]}
    first = run_stack(config).one("kubernetes:apps.emqx.io/v2beta1:Rebalance")
    config["rebalance"]["runs"][0]["connEvictRate"] = 800
    second = run_stack(config).one("kubernetes:apps.emqx.io/v2beta1:Rebalance")
    assert first.inputs["metadata"]["name"] != second.inputs["metadata"]["name"]
    assert first.inputs["spec"]["instanceName"] == "emqx"
    assert first.inputs["spec"]["rebalanceStrategy"]["connEvictRate"] == 500
    assert validate_manifest(writers.manifest_object(first)) == []


def test_legacy_enterprise_4_4_fleet(run_stack) -> None:
    rec = run_stack({
        "target": "existing",
        "cluster": {"kubernetesMinor": "1.31"},
        "emqx": {"edition": "enterprise", "version": "4.4.19", "cores": 3},
        "rebalance": {"runs": [{"name": "once", "connEvictRate": 100}]},
        "licenseKey": {"secure": "x"},
    })
    ee = rec.one("kubernetes:apps.emqx.io/v1beta4:EmqxEnterprise")
    assert ee.inputs["spec"]["replicas"] == 3
    assert ee.inputs["spec"]["template"]["spec"]["emqxContainer"]["image"]["repository"] == "emqx/emqx-ee"
    # The 4.4 operator reads the first key of its licence Secret as the licence file: that Secret has only it.
    licence = rec.one("kubernetes:core/v1:Secret", "emqx-test-license").inputs
    assert licence["metadata"]["name"] == ee.inputs["spec"]["license"]["secretName"]
    assert list(licence["stringData"]) == ["emqx.lic"] and licence["stringData"]["emqx.lic"] == "[secret]"
    rebalance = rec.one("kubernetes:apps.emqx.io/v2beta1:Rebalance")
    assert rebalance.inputs["spec"]["instanceKind"] == "EmqxEnterprise"
    for _, obj in writers.manifest_files(rec):
        assert validate_manifest(obj) == [], obj["kind"]


# --- production safety --------------------------------------------------------------------------------------------


def test_prod_protects_vpc_cluster_and_load_balancer(prod, run_stack) -> None:
    for token in ("alicloud:vpc/network:Network", "alicloud:cs/managedKubernetes:ManagedKubernetes",
                  "alicloud:nlb/loadBalancer:LoadBalancer"):
        assert prod.one(token).options["protect"] is True, token
    dev = run_stack("dev")
    # dev goes whole with `pulumi destroy`: network, cluster and load balancer (loadBalancer.deletionProtection
    # follows production).
    assert dev.one("alicloud:vpc/network:Network").options["protect"] is False
    assert dev.one("alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer").options["protect"] is False


def _accepts_tags(token: str) -> bool:
    import importlib
    import inspect

    _, module_path, kind = token.split(":")
    module = importlib.import_module(f"pulumi_alicloud.{module_path.split('/')[0]}")
    cls = getattr(module, kind)
    return "tags" in inspect.signature(cls._internal_init).parameters


def test_every_taggable_cloud_resource_is_tagged_with_stack_and_component(prod) -> None:
    checked = 0
    for r in prod.resources:
        if not r.type.startswith("alicloud:") or not _accepts_tags(r.type):
            continue
        checked += 1
        tags = r.inputs.get("tags") or {}
        assert tags.get("stack") == "prod" and tags.get("component"), (r.type, r.name, tags)
    assert checked >= 10


def test_existing_cluster_pods_ask_only_for_safe_sysctls_unless_allowed(run_stack) -> None:
    rec = run_stack("local")
    spec = rec.one(EMQX_TOKEN).inputs["spec"]
    names = {s["name"] for s in spec["coreTemplate"]["spec"]["podSecurityContext"]["sysctls"]}
    assert names and names <= tuning.safe_sysctls("1.31")
    # No somaxconn in the pod: the listener backlog stays at EMQX's default (1024, not restated in the config)
    # rather than promise a queue it lacks.
    assert "tcp_options.backlog" not in spec["config"]["data"]
    allowed = run_stack({"target": "existing", "existing": {"unsafeSysctlsAllowed": True}, "emqx": {"cores": 1},
                         "cluster": {"kubernetesMinor": "1.31"}})
    spec = allowed.one(EMQX_TOKEN).inputs["spec"]["coreTemplate"]["spec"]
    assert "net.core.somaxconn" in {s["name"] for s in spec["podSecurityContext"]["sysctls"]}


def test_kubernetes_provider_survives_an_unknown_kubeconfig(prod) -> None:
    provider = prod.one("pulumi:providers:kubernetes").inputs
    assert provider["clusterIdentifier"] == "emqx-prod-ack-id"
    assert provider["kubeconfig"] == "[secret]"


def test_an_existing_cluster_keeps_shared_charts_when_the_stack_goes(run_stack, prod) -> None:
    for release in run_stack("local").by_type("kubernetes:helm.sh/v3:Release"):
        assert release.options["retainOnDelete"] is True, release.name
    for release in prod.by_type("kubernetes:helm.sh/v3:Release"):
        assert release.options["retainOnDelete"] is False, release.name
    # A cluster that already runs them: this stack installs neither, and EMQX waits on nothing of ours.
    rec = run_stack({"target": "existing", "cluster": {"kubernetesMinor": "1.31"}, "emqx": {"cores": 1},
                     "charts": {"installCertManager": False, "installOperator": False}})
    assert not rec.by_type("kubernetes:helm.sh/v3:Release")
    assert rec.one(EMQX_TOKEN)


def test_grafana_dashboard_goes_where_grafana_looks(run_stack) -> None:
    config = _config("prod")
    config["monitoring"]["dashboardNamespace"] = "monitoring"
    cm = run_stack(config).one("kubernetes:core/v1:ConfigMap", name="emqx-test-grafana").inputs
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_listener_certificate_names_the_address_clients_dial(run_stack) -> None:
    dev = run_stack("dev")
    cert = dev.one("kubernetes:cert-manager.io/v1:Certificate", "emqx-dev-certificate-emqx-listener-tls").inputs
    assert cert["spec"]["ipAddresses"] == ["10.0.0.100"]  # the mocked CLB address (preview/fakes.py)
    assert "cacertfile" in dev.one(EMQX_TOKEN).inputs["spec"]["config"]["data"]


def test_own_issuer_without_ca_file(run_stack) -> None:
    config = _config("prod")
    config["emqx"]["tls"] = {"issuerKind": "ClusterIssuer", "issuerName": "letsencrypt",
                             "dnsNames": ["mqtt.example.com"]}
    rec = run_stack(config)
    (cert,) = rec.by_type("kubernetes:cert-manager.io/v1:Certificate")
    issuer = {"name": "letsencrypt", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    assert cert.inputs["spec"]["issuerRef"] == issuer
    # A public CA refuses internal names and private addresses: only the names the user listed.
    assert cert.inputs["spec"]["dnsNames"] == ["mqtt.example.com"]
    assert "ipAddresses" not in cert.inputs["spec"]
    assert "cacertfile" not in rec.one(EMQX_TOKEN).inputs["spec"]["config"]["data"]


def test_chart_images_can_come_from_a_mirror(run_stack) -> None:
    config = _config("dev")
    config["charts"] = {"imageRegistry": "registry.cn-hangzhou.aliyuncs.com/mirror"}
    rec = run_stack(config)
    releases = {r.inputs["chart"]: r.inputs["values"] for r in rec.by_type("kubernetes:helm.sh/v3:Release")}
    mirror = "registry.cn-hangzhou.aliyuncs.com/mirror"
    assert releases["emqx-operator"]["image"]["repository"] == f"{mirror}/emqx/emqx-operator-controller"
    cert_manager = releases["cert-manager"]
    assert cert_manager["image"]["repository"] == f"{mirror}/jetstack/cert-manager-controller"
    for part in ("webhook", "cainjector", "startupapicheck"):
        assert cert_manager[part]["image"]["repository"] == f"{mirror}/jetstack/cert-manager-{part}"
        assert cert_manager[part]["nodeSelector"] == {"emqx-platform/pool": "system"}
    assert cert_manager["acmesolver"] == {"image": {"repository": f"{mirror}/jetstack/cert-manager-acmesolver"}}


@pytest.mark.parametrize("stack", STACKS)
def test_make_preview_command_works_offline_and_fast(stack: str, tmp_path: Path) -> None:
    """The README's first command, as a user runs it: a fresh interpreter, the real stack file, under 5 s."""
    import subprocess
    import sys
    import time

    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "preview", "--stack", stack, "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert (tmp_path / stack / "plan.json").is_file()
    assert stack in VM_STACKS or any((tmp_path / stack / "manifests").iterdir())
    assert "kernel tuning:" in done.stdout and "resources:" in done.stdout
    assert elapsed < 5, f"make preview STACK={stack} took {elapsed:.1f}s"


def test_a_new_licence_reaches_running_nodes_without_a_rollout_or_revealing_the_key() -> None:
    from preview import engine

    def emqx_and_secret(licence: str) -> tuple[dict, dict]:
        config, secret_keys = engine.config_from_mapping(_config("prod") | {"licenseKey": {"secure": "x"}})
        config["emqx-platform:licenseKey"] = licence
        rec = engine.run_program(ROOT / "__main__.py", stack="prod", config=config, secret_keys=secret_keys)
        emqx = rec.one(EMQX_TOKEN).inputs
        assert licence.strip() not in str(emqx)
        return emqx, rec.one("kubernetes:core/v1:Secret", "emqx-prod-secrets").inputs

    first, _ = emqx_and_secret("licence-one-0123456789")
    second, secret = emqx_and_secret("licence-two-0123456789")
    # Nothing in the EMQX resource changes, so the operator starts no rollout; the kubelet swaps the mounted file.
    assert first == second
    assert secret["metadata"]["name"] == "emqx-secrets" and "license-key" in secret["stringData"]


def test_every_cloud_resource_is_created_in_the_stacks_region(prod) -> None:
    # Not in whatever region the shell's ALICLOUD_REGION says: zones were validated against cloud.region.
    provider = prod.one("pulumi:providers:alicloud")
    assert provider.inputs["region"] == "cn-hangzhou"
    cloud = [r for r in prod.resources if r.type.startswith("alicloud:")]
    assert cloud and {r.provider for r in cloud} == {provider.name}


def test_nodes_boot_after_their_route_to_the_internet(prod) -> None:
    snat = {r.name for r in prod.by_type("alicloud:vpc/snatEntry:SnatEntry")}
    cluster = prod.one("alicloud:cs/managedKubernetes:ManagedKubernetes")
    assert len(snat) == 3 and snat <= set(cluster.dependencies)


def test_charts_wait_for_the_node_pools(prod) -> None:
    pools = {r.name for r in prod.by_type("alicloud:cs/nodePool:NodePool")}
    for release in prod.by_type("kubernetes:helm.sh/v3:Release"):
        assert pools <= set(release.dependencies), release.name


def test_cluster_credentials_come_from_the_stacks_provider(prod) -> None:
    (call,) = [c for c in prod.calls if c.token == "alicloud:cs/getClusterCredential:getClusterCredential"]
    assert call.provider == prod.one("pulumi:providers:alicloud").name


def test_emqx_nodes_split_evenly_over_the_zones(run_stack) -> None:
    config = _config("prod")
    config["emqx"]["replicants"] = 4  # 4 replicants over 3 zones: 2 + 1 + 1, not 2 + 2 + 2
    pools = sorted((next(label["value"] for label in r.inputs["labels"] if label["key"] == "emqx-platform/pool"),
                    r.inputs["scalingConfig"]["minSize"], r.inputs["scalingConfig"]["maxSize"])
                   for r in run_stack(config).by_type("alicloud:cs/nodePool:NodePool") if "scalingConfig" in r.inputs)
    # The 3 cores on their own pools, one per zone.
    assert pools == [("emqx", 1, 2), ("emqx", 1, 2), ("emqx", 2, 4)] + [("emqx-core", 1, 2)] * 3


def test_terway_pods_get_the_route_out(run_stack) -> None:
    config = _config("prod")
    config["network"] = {"vpcCidr": "10.20.0.0/16", "plugin": "terway", "serviceCidr": "172.21.0.0/20",
                         "clientCidrs": ["10.0.0.0/8"], "adminCidrs": ["10.20.0.0/16"]}
    rec = run_stack(config)
    snat = {r.inputs["sourceVswitchId"] for r in rec.by_type("alicloud:vpc/snatEntry:SnatEntry")}
    pod_vswitches = {r.name + "-id" for r in rec.by_type("alicloud:vpc/switch:Switch") if "-pods-" in r.name}
    assert len(pod_vswitches) == 3 and pod_vswitches <= snat
