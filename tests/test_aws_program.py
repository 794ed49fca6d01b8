"""The whole program on the AWS stacks (stacks/Pulumi.aws-*.yaml) under Pulumi's mock engine (preview=False): the
plan's shape, the order the pieces need, production safety, tags, and what reaches the cluster and the nodes.

Expected values come from the stack files and the SDK (which resources take tags), or from independent checks (the
vendored TargetGroupBinding CRD and nodeadm schema, kubernetes-validate, MIME parsing), never from the code under
test.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import ipaddress
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from preview import writers
from preview.engine import RecordedResource, Recording
from tests.test_eks_user_data import node_config, parts, schema_errors
from tests.validators import validate_manifest

ROOT = Path(__file__).resolve().parents[1]
STACKS = ("aws-dev", "aws-prod")
EMQX = "kubernetes:apps.emqx.io/v2beta1:EMQX"
TGB = "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding"
SUBNET = "aws:ec2/subnet:Subnet"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ADDON = "aws:eks/addon:Addon"
RELEASE = "kubernetes:helm.sh/v3:Release"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
NLB = "aws:lb/loadBalancer:LoadBalancer"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
# EMQX's listener ports (EMQX docs: default listeners) and its dashboard.
MQTT_PORTS = {1883: "mqtt", 8883: "mqtts", 8083: "ws", 8084: "wss"}
DASHBOARD_PORT = 18083
# The subnet tags the load balancer controller discovers subnets by (aws-load-balancer-controller
# docs/deploy/subnet_discovery.md).
PUBLIC_TAG, PRIVATE_TAG = "kubernetes.io/role/elb", "kubernetes.io/role/internal-elb"
# Kubernetes' default terminationGracePeriodSeconds (PodSpec), when the EMQX pods set none.
DEFAULT_GRACE_SECONDS = 30


def stack_config(stack: str) -> dict[str, Any]:
    raw = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))["config"]
    return {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("emqx-platform:")}


@pytest.fixture(scope="module", params=STACKS)
def stack(request: pytest.FixtureRequest, run_stack) -> tuple[str, Recording, dict[str, Any]]:
    return request.param, run_stack(request.param), stack_config(request.param)


@pytest.fixture(scope="module")
def prod(run_stack) -> Recording:
    return run_stack("aws-prod")


def _by_id(rec: Recording, token: str) -> dict[str, RecordedResource]:
    # The mock engine gives a resource the id `<name>-id` (preview/engine.py); inputs refer to it by that id.
    return {f"{r.name}-id": r for r in rec.by_type(token)}


def _served_ports(config: dict[str, Any]) -> set[int]:
    lb = config.get("loadBalancer", {})
    internet = lb.get("addressType") == "internet"
    if internet and not lb.get("allowPlainText", False):
        return {8883, 8084}
    return set(MQTT_PORTS)


# --- shape ---------------------------------------------------------------------------------------------------------


def test_a_private_and_a_public_subnet_in_each_zone_inside_the_vpc(stack) -> None:
    _name, rec, config = stack
    zones = config["cloud"]["zones"]
    vpc = ipaddress.ip_network(config["network"]["vpcCidr"])
    subnets = rec.by_type(SUBNET)
    assert len(subnets) == 2 * len(zones)
    for zone in zones:
        here = [s for s in subnets if s.inputs["availabilityZone"] == zone]
        assert sorted(PUBLIC_TAG in s.inputs["tags"] for s in here) == [False, True], zone
        assert sorted(PRIVATE_TAG in s.inputs["tags"] for s in here) == [False, True], zone
        for s in here:
            assert ipaddress.ip_network(s.inputs["cidrBlock"]).subnet_of(vpc)  # type: ignore[arg-type]
            assert s.inputs["mapPublicIpOnLaunch"] is False
    cidrs = [ipaddress.ip_network(s.inputs["cidrBlock"]) for s in subnets]
    assert not [(a, b) for i, a in enumerate(cidrs) for b in cidrs[i + 1:] if a.overlaps(b)]


def test_one_emqx_node_group_per_zone_each_in_its_zones_private_subnet(stack) -> None:
    _name, rec, config = stack
    zones = config["cloud"]["zones"]
    subnets = _by_id(rec, SUBNET)
    emqx = [g for g in rec.by_type(NODE_GROUP) if g.inputs["labels"].get("emqx-platform/pool") == "emqx"]
    placed = []
    for group in emqx:
        (subnet_id,) = group.inputs["subnetIds"]
        subnet = subnets[subnet_id]
        assert PRIVATE_TAG in subnet.inputs["tags"], group.name
        placed.append(subnet.inputs["availabilityZone"])
        # Tainted for EMQX alone, as the ACK pools.
        assert {"key": "emqx-platform/dedicated", "value": "emqx", "effect": "NO_SCHEDULE"} in group.inputs["taints"]
    assert sorted(placed) == sorted(zones)
    (system,) = [g for g in rec.by_type(NODE_GROUP) if g.inputs["labels"].get("emqx-platform/pool") == "system"]
    assert sorted(subnets[s].inputs["availabilityZone"] for s in system.inputs["subnetIds"]) == sorted(zones)
    assert system.inputs["scalingConfig"]["minSize"] == config["nodePools"]["system"]["count"]


def test_every_node_group_follows_the_clusters_minor(stack) -> None:
    # Unset, a group keeps the minor it was created with when the control plane is upgraded (aws.eks.NodeGroup
    # `version`); the stack's minor is in the config, the cluster echoes it back under the mocks.
    _name, rec, config = stack
    (cluster,) = rec.by_type("aws:eks/cluster:Cluster")
    groups = rec.by_type(NODE_GROUP)
    assert cluster.inputs["version"] == config["cluster"]["kubernetesVersion"]
    assert groups and {g.inputs.get("version") for g in groups} == {config["cluster"]["kubernetesVersion"]}


def test_emqx_groups_hold_every_emqx_node_at_rest(stack) -> None:
    _name, rec, _config = stack
    spec = rec.one(EMQX).inputs["spec"]
    cores = spec["coreTemplate"]["spec"]["replicas"]
    replicants = spec.get("replicantTemplate", {}).get("spec", {}).get("replicas", 0)
    core_groups = [g for g in rec.by_type(NODE_GROUP) if g.inputs["labels"].get("emqx-platform/pool") == "emqx-core"]
    # Beside replicants the cores have their own zonal groups (nodePools.core); an all-core cluster has none.
    assert bool(core_groups) == bool(replicants)
    placed = {"emqx": replicants if core_groups else cores + replicants, "emqx-core": cores if core_groups else 0}
    for pool, nodes in placed.items():
        groups = [g for g in rec.by_type(NODE_GROUP) if g.inputs["labels"].get("emqx-platform/pool") == pool]
        assert sum(g.inputs["scalingConfig"]["minSize"] for g in groups) == nodes
        if groups:
            assert max(g.inputs["scalingConfig"]["minSize"] for g in groups) - min(
                g.inputs["scalingConfig"]["minSize"] for g in groups) <= 1


def test_one_nlb_listener_and_ip_target_group_per_served_port(stack) -> None:
    _name, rec, config = stack
    wanted = _served_ports(config) | {DASHBOARD_PORT}
    groups = {g.inputs["port"]: g for g in rec.by_type(TARGET_GROUP)}
    listeners = {li.inputs["port"]: li for li in rec.by_type(LISTENER)}
    assert set(groups) == set(listeners) == wanted
    (nlb,) = rec.by_type(NLB)
    for port, listener in listeners.items():
        assert listener.inputs["protocol"] == "TCP"
        (action,) = listener.inputs["defaultActions"]
        assert action["type"] == "forward" and action["targetGroupArn"] == groups[port].outputs["arn"]
        assert listener.inputs["loadBalancerArn"] == nlb.outputs["arn"]
        # NLB TCP listeners take 60-6000 s (aws.lb.Listener tcp_idle_timeout_seconds docstring).
        assert 60 <= listener.inputs["tcpIdleTimeoutSeconds"] <= 6000
        group = groups[port]
        assert group.inputs["targetType"] == "ip" and group.inputs["preserveClientIp"] == "true"
    assert nlb.inputs["loadBalancerType"] == "network"
    assert nlb.inputs["internal"] is (config["loadBalancer"].get("addressType", "intranet") == "intranet")


def test_the_nlb_sits_in_one_subnet_of_each_zone_of_the_right_kind(stack) -> None:
    _name, rec, config = stack
    (nlb,) = rec.by_type(NLB)
    subnets = _by_id(rec, SUBNET)
    chosen = [subnets[s] for s in nlb.inputs["subnets"]]
    tag = PRIVATE_TAG if nlb.inputs["internal"] else PUBLIC_TAG
    assert all(tag in s.inputs["tags"] for s in chosen)
    assert sorted(s.inputs["availabilityZone"] for s in chosen) == sorted(config["cloud"]["zones"])


def test_bindings_tie_each_target_group_to_the_operators_services(stack) -> None:
    _name, rec, config = stack
    emqx_name = config["emqx"].get("name", "emqx")
    namespace = config["emqx"].get("namespace", "emqx")
    groups = {g.inputs["port"]: g.outputs["arn"] for g in rec.by_type(TARGET_GROUP)}
    bindings = rec.by_type(TGB)
    assert len(bindings) == len(groups)
    seen = set()
    for b in bindings:
        spec = b.inputs["spec"]
        port = spec["serviceRef"]["port"]
        seen.add(port)
        service = f"{emqx_name}-dashboard" if port == DASHBOARD_PORT else f"{emqx_name}-listeners"
        assert spec["serviceRef"]["name"] == service
        assert spec["targetGroupARN"] == groups[port]
        assert spec["targetType"] == "ip"
        assert b.inputs["metadata"]["namespace"] == namespace
        # What the API server gets passes the controller's own CRD (vendored, strict).
        assert validate_manifest({"apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
                                  **b.inputs}) == [], b.name
    assert seen == set(groups)


def test_the_operators_services_stay_cluster_ip_without_annotations(stack) -> None:
    _name, rec, _config = stack
    spec = rec.one(EMQX).inputs["spec"]
    for template in ("listenersServiceTemplate", "dashboardServiceTemplate"):
        service = spec[template]
        assert service["spec"]["type"] == "ClusterIP", template
        assert not [p for p in service["spec"].get("ports", []) if "nodePort" in p], template
        assert not service.get("metadata", {}).get("annotations"), template


def test_emqx_volumes_use_the_stacks_gp3_class(stack) -> None:
    _name, rec, _config = stack
    (storage_class,) = rec.by_type("kubernetes:storage.k8s.io/v1:StorageClass")
    spec = rec.one(EMQX).inputs["spec"]
    claim = spec["coreTemplate"]["spec"]["volumeClaimTemplates"]
    assert claim["storageClassName"] == storage_class.inputs["metadata"]["name"]
    assert storage_class.inputs["provisioner"] == "ebs.csi.aws.com"
    assert storage_class.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    # The EBS CSI add-on exists once (the storage component's), not also the cluster's.
    assert [a.inputs["addonName"] for a in rec.by_type(ADDON)].count("aws-ebs-csi-driver") == 1


# --- order ---------------------------------------------------------------------------------------------------------


def test_networking_addons_precede_the_nodes_and_coredns_follows_them(stack) -> None:
    _name, rec, _config = stack
    addons = {a.inputs["addonName"]: a for a in rec.by_type(ADDON)}
    groups = rec.by_type(NODE_GROUP)
    for group in groups:
        for addon in ("eks-pod-identity-agent", "vpc-cni", "kube-proxy"):
            assert addons[addon].name in group.dependencies, (group.name, addon)
    for group in groups:
        assert group.name in addons["coredns"].dependencies
        assert group.name in addons["aws-ebs-csi-driver"].dependencies


def test_controller_then_bindings_then_emqx(stack) -> None:
    _name, rec, _config = stack
    (controller,) = [r for r in rec.by_type(RELEASE) if r.inputs["chart"] == "aws-load-balancer-controller"]
    emqx = rec.one(EMQX)
    namespace = rec.one("kubernetes:core/v1:Namespace")
    for b in rec.by_type(TGB):
        assert controller.name in b.dependencies, b.name
        assert namespace.name in b.dependencies, b.name
        assert b.name in emqx.dependencies, b.name
    # The controller runs where cluster DNS already does, on nodes.
    coredns = next(a for a in rec.by_type(ADDON) if a.inputs["addonName"] == "coredns")
    assert coredns.name in controller.dependencies
    assert {g.name for g in rec.by_type(NODE_GROUP)} <= set(controller.dependencies)


def test_the_emqx_namespace_asks_for_readiness_gates(stack) -> None:
    _name, rec, _config = stack
    labels = rec.one("kubernetes:core/v1:Namespace").inputs["metadata"]["labels"]
    assert labels["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"


def test_charts_wait_for_nodes_and_cluster_dns(stack) -> None:
    _name, rec, _config = stack
    groups = {g.name for g in rec.by_type(NODE_GROUP)}
    coredns = next(a for a in rec.by_type(ADDON) if a.inputs["addonName"] == "coredns")
    for release in rec.by_type(RELEASE):
        assert groups <= set(release.dependencies), release.name
        assert coredns.name in release.dependencies, release.name


def test_autoscaler_only_with_rollout_room(stack) -> None:
    _name, rec, _config = stack
    room = any(g.inputs["scalingConfig"]["maxSize"] > g.inputs["scalingConfig"]["minSize"]
               for g in rec.by_type(NODE_GROUP))
    charts = [r.inputs["chart"] for r in rec.by_type(RELEASE)]
    assert ("cluster-autoscaler" in charts) is room
    assert room  # every stack file leaves rollout room (production must)


def test_no_autoscaler_for_fixed_size_groups(run_stack) -> None:
    # Outside production the EMQX pool may be fixed (rolloutSurge 0): then nothing needs resizing.
    config = stack_config("aws-dev")
    config["nodePools"] = {**config["nodePools"], "emqx": {**config["nodePools"]["emqx"], "rolloutSurge": 0}}
    without = run_stack(config, stack="aws-dev")
    assert all(g.inputs["scalingConfig"]["maxSize"] == g.inputs["scalingConfig"]["minSize"]
               for g in without.by_type(NODE_GROUP))
    assert "cluster-autoscaler" not in [r.inputs["chart"] for r in without.by_type(RELEASE)]


def test_deregistered_pods_keep_connections_longer_than_their_stop(stack) -> None:
    _name, rec, _config = stack
    spec = rec.one(EMQX).inputs["spec"]
    grace = spec["coreTemplate"]["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
    for group in rec.by_type(TARGET_GROUP):
        # Longer than the pod's stop, so EMQX closes its own connections; then the NLB cuts what is left.
        assert grace < group.inputs["deregistrationDelay"] <= 3600, group.name
        assert group.inputs["connectionTermination"] is True


# --- safety --------------------------------------------------------------------------------------------------------


def test_production_protects_network_cluster_and_load_balancer(prod, run_stack) -> None:
    for token in ("aws:ec2/vpc:Vpc", "aws:eks/cluster:Cluster", NLB):
        assert prod.one(token).options["protect"] is True, token
    assert prod.one("aws:eks/cluster:Cluster").inputs["deletionProtection"] is True
    assert prod.one(NLB).inputs["enableDeletionProtection"] is True
    dev = run_stack("aws-dev")
    for token in ("aws:ec2/vpc:Vpc", "aws:eks/cluster:Cluster", NLB):
        assert dev.one(token).options["protect"] is False, token
    assert dev.one("aws:eks/cluster:Cluster").inputs["deletionProtection"] is False


def test_production_has_a_nat_per_zone_and_dev_one(prod, run_stack) -> None:
    zones = stack_config("aws-prod")["cloud"]["zones"]
    assert len(prod.by_type("aws:ec2/natGateway:NatGateway")) == len(zones)
    assert len(run_stack("aws-dev").by_type("aws:ec2/natGateway:NatGateway")) == 1


@cache
def _accepts_tags(token: str) -> bool:
    """Whether the pulumi_aws resource class of this type token takes a `tags` input."""
    _, module_path, kind = token.split(":")
    module = importlib.import_module(f"pulumi_aws.{module_path.split('/')[0]}")
    return "tags" in inspect.signature(getattr(module, kind)._internal_init).parameters


def test_every_taggable_aws_resource_carries_the_stack_tags(stack, run_stack) -> None:
    name, _, config = stack
    rec = run_stack({**config, "tags": {"team": "iot", "cost-centre": "cc-42"}}, stack=name)
    checked = untaggable = 0
    for r in rec.resources:
        if not r.type.startswith("aws:"):
            continue
        if not _accepts_tags(r.type):
            untaggable += 1
            continue
        checked += 1
        tags = r.inputs.get("tags") or {}
        assert tags.get("stack") == name and tags.get("project") == "emqx-platform", (r.type, r.name, tags)
        assert tags.get("team") == "iot" and tags.get("cost-centre") == "cc-42", (r.type, r.name, tags)
        assert tags.get("component"), (r.type, r.name)
    assert checked >= 40 and untaggable, (checked, untaggable)


# What EC2 accepts in a security group's and a rule's description: "a-z, A-Z, 0-9, spaces, and
# ._-:/()#,@[]+=;{}!$*" (EC2 API Reference, UserIdGroupPair.Description; CreateSecurityGroup adds `&`, rules that
# reference a group do not). Anything else fails AuthorizeSecurityGroupIngress on a real account, never in a preview.
EC2_DESCRIPTION_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz" "ABCDEFGHIJKLMNOPQRSTUVWXYZ" "0123456789"
                                       " ._-:/()#,@[]+=;{}!$*")


def test_security_group_and_rule_descriptions_use_what_ec2_accepts(stack) -> None:
    _name, rec, _config = stack
    described = [r for r in rec.resources
                 if r.type in ("aws:ec2/securityGroup:SecurityGroup", "aws:vpc/securityGroupIngressRule:"
                               "SecurityGroupIngressRule", "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")]
    assert len(described) >= 10
    for r in described:
        text = r.inputs.get("description") or ""
        assert len(text) <= 255 and set(text) <= EC2_DESCRIPTION_CHARACTERS, (r.type, r.name, text)


def test_every_aws_resource_is_created_in_the_stacks_region(stack) -> None:
    _name, rec, config = stack
    provider = rec.one("pulumi:providers:aws")
    assert provider.inputs["region"] == config["cloud"]["region"]
    cloud = [r for r in rec.resources if r.type.startswith("aws:")]
    assert cloud and {r.provider for r in cloud} == {provider.name}


def test_every_kubernetes_object_passes_strict_validation_for_the_clusters_minor(stack) -> None:
    _name, rec, config = stack
    objects = writers.manifest_files(rec)
    kinds = {obj["kind"] for _, obj in objects}
    assert {"TargetGroupBinding", "StorageClass", "EMQX", "Namespace"} <= kinds
    minor = config["cluster"]["kubernetesVersion"]
    problems = {file: validate_manifest(obj, minor) for file, obj in objects}
    assert not {k: v for k, v in problems.items() if v}


def test_kubeconfig_is_a_secret_that_fetches_tokens(stack) -> None:
    _name, rec, config = stack
    assert rec.outputs["kubeconfig"] == "[secret]"
    (provider,) = rec.by_type("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "[secret]"
    kubeconfig = json.loads(provider.raw_inputs["kubeconfig"])
    (user,) = kubeconfig["users"]
    exec_ = user["user"]["exec"]
    # A static token expires in 15 minutes; the exec plugin asks again whenever it needs to.
    assert exec_["command"] == "aws" and exec_["args"][:2] == ["eks", "get-token"]
    assert config["cloud"]["region"] in exec_["args"]
    assert "token" not in user["user"]


def test_no_secret_reaches_the_plan_in_plain_text(stack, tmp_path: Path) -> None:
    name, rec, _config = stack
    assert rec.secret_values
    text = json.dumps([[r.inputs, r.outputs] for r in rec.resources]) + json.dumps(rec.outputs)
    leaked = sorted(s for s in rec.secret_values if len(s) >= 8 and s in text)
    assert not leaked
    # The preview's own check over everything it writes (plan, manifests, decoded user data).
    written = writers.write_outputs(rec, tmp_path, name)
    assert written.user_data >= 1


def test_outputs_name_the_cluster_and_the_nlb(stack) -> None:
    _name, rec, config = stack
    (cluster,) = rec.by_type("aws:eks/cluster:Cluster")
    (nlb,) = rec.by_type(NLB)
    outputs = rec.outputs
    assert outputs["cluster_name"] == cluster.inputs["name"]
    assert set(outputs["mqtt_endpoints"]) == {MQTT_PORTS[p] for p in _served_ports(config)}
    assert outputs["load_balancer_arn"] in (nlb.outputs["arn"], writers.PLACEHOLDER_TEXT)
    assert outputs["dashboard_url"].endswith(f":{DASHBOARD_PORT}")


def test_listener_certificate_names_the_nlb(stack) -> None:
    _name, rec, _config = stack
    (nlb,) = rec.by_type(NLB)
    certs = [c for c in rec.by_type("kubernetes:cert-manager.io/v1:Certificate")
             if c.inputs["metadata"]["name"].endswith("listener-tls")]
    (cert,) = certs
    assert nlb.outputs["dnsName"] in cert.inputs["spec"]["dnsNames"]
    # NLB addresses are not stable: none is put on the certificate.
    assert not cert.inputs["spec"].get("ipAddresses")


# --- nodes ---------------------------------------------------------------------------------------------------------


def test_tuned_groups_boot_with_the_tuning_user_data_and_the_system_group_without(stack, tmp_path: Path) -> None:
    name, rec, _config = stack
    templates = _by_id(rec, LAUNCH_TEMPLATE)
    for group in rec.by_type(NODE_GROUP):
        template = templates[group.inputs["launchTemplate"]["id"]]
        pool = group.inputs["labels"]["emqx-platform/pool"]
        if pool == "system":
            assert template.inputs.get("userData") is None
            continue
        mime = base64.b64decode(template.inputs["userData"]).decode()
        assert set(parts(mime)) == {"application/node.eks.aws", "text/cloud-config"}
        document = node_config(mime)
        assert schema_errors(document) == []
        # EKS supplies the cluster and these kubelet settings in its own part.
        assert "cluster" not in document["spec"]
        assert not {"maxPods", "clusterDNS"} & set(document["spec"]["kubelet"]["config"])
        # The pods' unsafe sysctls are allowed where they land.
        pod_sysctls = {s["name"] for s in rec.one(EMQX).inputs["spec"]["coreTemplate"]["spec"]
                       ["podSecurityContext"]["sysctls"]}
        allowed = set(document["spec"]["kubelet"]["config"]["allowedUnsafeSysctls"])
        assert {s for s in pod_sysctls if s in allowed}
        assert template.inputs["metadataOptions"]["httpTokens"] == "required"
    # The preview writes each launch template's user data as the node receives it (decoded).
    writers.write_outputs(rec, tmp_path, name)
    files = list((tmp_path / name / "user-data").iterdir())
    assert files and all(f.read_text().startswith("MIME-Version: 1.0") for f in files)


def test_the_preview_summary_shows_the_node_groups_and_their_kubelet_allowlist(stack) -> None:
    _name, rec, config = stack
    summary = writers.render_summary(rec, None)
    spec = rec.one(EMQX).inputs["spec"]
    cores = spec["coreTemplate"]["spec"]["replicas"]
    replicants = spec.get("replicantTemplate", {}).get("spec", {}).get("replicas", 0)
    zonal_roles = 2 if replicants else 1  # the cores' own groups beside replicants
    if replicants:
        assert f"emqx {replicants} nodes" in summary and f"emqx-core {cores} nodes" in summary
    else:
        assert f"emqx {cores} nodes" in summary
    tuning = writers.render_tuning(rec)
    assert "NOT allowed" not in tuning
    assert tuning.count(": consistent") == zonal_roles * len(config["cloud"]["zones"])


def test_a_minor_past_standard_support_is_warned_about_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1.34's standard support ends 2026-12-02 (EKS release calendar, endoflife.date/amazon-eks): a month later the
    # stack still deploys, in extended support, and says so once.
    from datetime import date

    from components.settings import cluster as cluster_settings
    from preview import engine

    monkeypatch.setattr(cluster_settings, "today", lambda: date(2027, 1, 5))
    config = stack_config("aws-dev")
    config["cluster"] = {**config["cluster"], "kubernetesVersion": "1.34"}
    flat, secret_keys = engine.config_from_mapping(config)
    rec = engine.run_program(ROOT / "__main__.py", stack="aws-dev", config=flat, secret_keys=secret_keys)
    warnings = [m for level, m in rec.diagnostics if level == "warning" and "1.34" in m]
    assert len(warnings) == 1, rec.diagnostics
    assert rec.one("aws:eks/cluster:Cluster").inputs["version"] == "1.34"


def test_load_generators_get_their_own_tainted_group_with_the_same_node_tuning(run_stack) -> None:
    # The generator pods carry the same pod sysctls as EMQX's (components/render/loadtest.py), so their kubelets
    # need the same allowlist; an x86 type beside Graviton EMQX nodes gets the x86 AMI.
    config = stack_config("aws-dev")
    config["nodePools"] = {**config["nodePools"],
                           "loadgen": {"enabled": True, "count": 2, "instanceTypes": ["c6in.xlarge"]}}
    rec = run_stack(config, stack="aws-dev")
    templates = _by_id(rec, LAUNCH_TEMPLATE)
    groups = {g.inputs["labels"]["emqx-platform/pool"]: g for g in rec.by_type(NODE_GROUP)}
    loadgen = groups["loadgen"]
    assert loadgen.inputs["scalingConfig"] == {"minSize": 2, "desiredSize": 2, "maxSize": 2}
    assert loadgen.inputs["amiType"] == "AL2023_x86_64_STANDARD"
    assert groups["emqx"].inputs["amiType"] == "AL2023_ARM_64_STANDARD"
    assert loadgen.inputs["taints"] == [{"key": "emqx-platform/dedicated", "value": "loadgen",
                                         "effect": "NO_SCHEDULE"}]
    mime = {pool: base64.b64decode(templates[g.inputs["launchTemplate"]["id"]].inputs["userData"]).decode()
            for pool, g in groups.items() if pool != "system"}
    assert mime["loadgen"] == mime["emqx"]
    assert schema_errors(node_config(mime["loadgen"])) == []


def test_an_internet_facing_nlb_takes_the_public_subnets_and_serves_tls_only(run_stack) -> None:
    config = stack_config("aws-dev")
    config["loadBalancer"] = {**config["loadBalancer"], "addressType": "internet"}
    config["network"] = {**config["network"], "clientCidrs": ["0.0.0.0/0"]}
    rec = run_stack(config, stack="aws-dev")
    (nlb,) = rec.by_type(NLB)
    assert nlb.inputs["internal"] is False
    subnets = _by_id(rec, SUBNET)
    assert all(PUBLIC_TAG in subnets[s].inputs["tags"] for s in nlb.inputs["subnets"])
    ports = {li.inputs["port"] for li in rec.by_type(LISTENER)}
    assert ports == _served_ports(config) | {DASHBOARD_PORT} == {8883, 8084, DASHBOARD_PORT}
    assert {b.inputs["spec"]["serviceRef"]["port"] for b in rec.by_type(TGB)} == ports


def test_a_load_test_through_the_nlb_dials_its_dns_name(run_stack) -> None:
    # loadTest.runs[].target defaults to loadBalancer (components/settings/load_test.py), and the settings accept
    # it on aws, where the stack owns an NLB.
    config = stack_config("aws-dev")
    config["loadTest"] = {"runs": [{"name": "through-the-nlb", "connections": 1000}]}
    rec = run_stack(config, stack="aws-dev")
    (nlb,) = rec.by_type(NLB)

    def bench_hosts(value: Any) -> list[Any]:
        if isinstance(value, dict):
            if value.get("name") == "BENCH_HOST":
                return [value.get("value")]
            return [h for v in value.values() for h in bench_hosts(v)]
        if isinstance(value, list):
            return [h for v in value for h in bench_hosts(v)]
        return []

    hosts = [h for r in rec.resources for h in bench_hosts(r.inputs)]
    assert hosts and set(hosts) == {nlb.outputs["dnsName"]}, hosts
