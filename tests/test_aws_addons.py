"""The AWS in-cluster pieces under mocks (preview=False): the load balancer controller, the EBS CSI add-on with its
StorageClass, and the Cluster Autoscaler; each with its Pod Identity role. (The TargetGroupBindings the controller
serves are the platform's companions: tests/test_aws_program.py.)"""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.aws import autoscaler, lb_controller, storage
from components.aws.autoscaler import AutoscalerSpec, ClusterAutoscaler
from components.aws.lb_controller import AwsLoadBalancerController, LbControllerSpec
from components.aws.storage import EbsStorage, EbsStorageSpec
from tests.aws_mocks import Registered, Run, build_under_mocks, fake_arn
from tests.validators import validate_k8s

RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
CLUSTER = "emqx-prod"
SYSTEM = {"emqx.io/pool": "system"}


def _provider() -> k8s.Provider:
    return k8s.Provider("k8s", kubeconfig="{}")


@pytest.fixture(scope="module")
def lbc() -> Run:
    def build() -> dict[str, Any]:
        opts = pulumi.ResourceOptions(providers={"kubernetes": _provider()})
        controller = AwsLoadBalancerController(
            "emqx", spec=LbControllerSpec(region="eu-west-1", node_selector=SYSTEM, tags={"stack": "p"}),
            cluster_name=CLUSTER, vpc_id="vpc-1", node_security_group_id="sg-nodes",
            cluster_security_group_id="sg-cluster", opts=opts)
        return {"role": controller.role_arn}

    return build_under_mocks(build)


def _only(run: Run, token: str) -> Registered:
    (found,) = run.by_type(token)
    return found


def _trusts_pod_identity(role: Registered) -> None:
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]


def test_controller_chart_is_pinned_with_the_service_webhook_off(lbc: Run) -> None:
    release = _only(lbc, RELEASE)
    assert (release.inputs["chart"], release.inputs["version"]) == ("aws-load-balancer-controller", "3.5.0")
    assert release.inputs["repositoryOpts"]["repo"] == "https://aws.github.io/eks-charts"
    values = release.inputs["values"]
    assert values["enableServiceMutatorWebhook"] is False
    assert (values["clusterName"], values["region"], values["vpcId"]) == (CLUSTER, "eu-west-1", "vpc-1")
    assert values["nodeSelector"] == SYSTEM
    assert values["controllerConfig"]["featureGates"] == {"EnableServiceController": False}


def test_controller_identity_is_the_target_group_binding_subset(lbc: Run) -> None:
    _trusts_pod_identity(_only(lbc, ROLE))
    (statement,) = json.loads(_only(lbc, ROLE_POLICY).inputs["policy"])["Statement"]
    actions = statement["Action"]
    # Registers and deregisters targets; never creates load balancers or touches security groups.
    assert "elasticloadbalancing:RegisterTargets" in actions and "elasticloadbalancing:DeregisterTargets" in actions
    writes = [a for a in actions if re.search(r":(Create|Delete|Authorize|Revoke|Add|Set)", a)]
    assert writes == []
    association = _only(lbc, ASSOCIATION)
    values = _only(lbc, RELEASE).inputs["values"]
    assert association.inputs["clusterName"] == CLUSTER
    assert association.inputs["namespace"] == _only(lbc, RELEASE).inputs["namespace"]
    assert association.inputs["serviceAccount"] == values["serviceAccount"]["name"]
    assert association.inputs["roleArn"] == fake_arn(ROLE, "emqx-lbc")


def test_the_control_plane_reaches_the_webhooks_and_the_chart_waits_for_it(lbc: Run) -> None:
    (rule,) = [r for r in lbc.by_type(INGRESS)]
    assert rule.inputs["securityGroupId"] == "sg-nodes"
    assert rule.inputs["referencedSecurityGroupId"] == "sg-cluster"
    assert (rule.inputs["fromPort"], rule.inputs["toPort"], rule.inputs["ipProtocol"]) == (9443, 9443, "tcp")
    release = _only(lbc, RELEASE)
    for token, name in ((INGRESS, rule.name), (ASSOCIATION, "emqx-lbc"), (ROLE_POLICY, "emqx-lbc-tgb")):
        assert f"{token}::{name}" in release.dependencies


# --- storage ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ebs() -> Run:
    def build() -> dict[str, Any]:
        s = EbsStorage("emqx", spec=EbsStorageSpec(tags={"stack": "p"}), cluster_name=CLUSTER,
                       opts=pulumi.ResourceOptions(providers={"kubernetes": _provider()}))
        return {"storage_class": s.storage_class_name}

    return build_under_mocks(build)


def test_the_ebs_addon_runs_under_its_pod_identity_role(ebs: Run) -> None:
    addon = _only(ebs, "aws:eks/addon:Addon")
    assert (addon.inputs["addonName"], addon.inputs["clusterName"]) == ("aws-ebs-csi-driver", CLUSTER)
    (association,) = addon.inputs["podIdentityAssociations"]
    assert association == {"roleArn": fake_arn(ROLE, "emqx-ebs-csi"), "serviceAccount": "ebs-csi-controller-sa"}
    _trusts_pod_identity(_only(ebs, ROLE))
    attachment = _only(ebs, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    # AWS Managed Policy Reference, AmazonEBSCSIDriverPolicyV2: type "AWS managed policy", no service-role/ path
    # (unlike V1, arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy).
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/AmazonEBSCSIDriverPolicyV2"
    assert f"aws:iam/rolePolicyAttachment:RolePolicyAttachment::{attachment.name}" in addon.dependencies


@pytest.mark.parametrize("k8s_version", ["1.34", "1.35", "1.36"])
def test_the_storage_class_is_gp3_encrypted_zone_bound_and_strictly_valid(ebs: Run, k8s_version: str) -> None:
    sc = _only(ebs, "kubernetes:storage.k8s.io/v1:StorageClass")
    # What the cluster receives, as a manifest.
    manifest = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", **sc.inputs}
    assert validate_k8s(manifest, k8s_version) == []
    assert manifest["provisioner"] == "ebs.csi.aws.com"
    assert manifest["parameters"]["type"] == "gp3" and manifest["parameters"]["encrypted"] == "true"
    assert manifest["volumeBindingMode"] == "WaitForFirstConsumer"
    annotations = manifest["metadata"].get("annotations", {})
    assert "storageclass.kubernetes.io/is-default-class" not in annotations
    assert f"aws:eks/addon:Addon::{_only(ebs, 'aws:eks/addon:Addon').name}" in sc.dependencies
    assert ebs.outputs["storage_class"] == manifest["metadata"]["name"] == storage.STORAGE_CLASS


def test_the_rendered_storage_class_is_what_the_component_applies(ebs: Run) -> None:
    sc = _only(ebs, "kubernetes:storage.k8s.io/v1:StorageClass")
    rendered = storage.storage_class_manifest(storage.STORAGE_CLASS)
    assert {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", **sc.inputs} == rendered


# --- cluster autoscaler ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> Run:
    def build() -> dict[str, Any]:
        # The cluster's name as the cluster component hands it on: an Output.
        spec = AutoscalerSpec(region="eu-west-1", kubernetes_version="1.35", node_selector=SYSTEM)
        c = ClusterAutoscaler("emqx", spec=spec, cluster_name=pulumi.Output.from_input(CLUSTER),
                              opts=pulumi.ResourceOptions(providers={"kubernetes": _provider()}))
        return {"role": c.role_arn}

    return build_under_mocks(build)


def test_autoscaler_discovers_the_managed_groups_and_balances_the_zones(ca: Run) -> None:
    release = _only(ca, RELEASE)
    assert (release.inputs["chart"], release.inputs["version"]) == ("cluster-autoscaler", autoscaler.CHART_VERSION)
    values = release.inputs["values"]
    # The tag keys EKS managed node groups put on their ASGs.
    assert values["autoDiscovery"] == {
        "clusterName": CLUSTER, "tags": ["k8s.io/cluster-autoscaler/enabled", f"k8s.io/cluster-autoscaler/{CLUSTER}"]}
    assert values["extraArgs"]["balance-similar-node-groups"] is True
    assert values["awsRegion"] == "eu-west-1" and values["cloudProvider"] == "aws"
    # The autoscaler's minor matches the cluster's.
    assert values["image"]["tag"].startswith("v1.35.")
    association = _only(ca, ASSOCIATION)
    assert association.inputs["serviceAccount"] == values["rbac"]["serviceAccount"]["name"]
    assert association.inputs["namespace"] == release.inputs["namespace"]
    assert f"{ASSOCIATION}::{association.name}" in release.dependencies


def test_autoscaler_may_only_resize_this_clusters_groups(ca: Run) -> None:
    _trusts_pod_identity(_only(ca, ROLE))
    statements = json.loads(_only(ca, ROLE_POLICY).inputs["policy"])["Statement"]
    writes = [s for s in statements if "autoscaling:SetDesiredCapacity" in s["Action"]]
    assert len(writes) == 1
    assert writes[0]["Condition"] == {"Null": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{CLUSTER}": "false"}}
    assert "eks:DescribeNodegroup" in statements[0]["Action"]


def test_autoscaler_refuses_a_kubernetes_version_it_has_no_release_for() -> None:
    with pytest.raises(ValueError, match=r"1\.33"):
        AutoscalerSpec(region="eu-west-1", kubernetes_version="1.33")


def test_controller_values_are_plain_data_and_discovery_names_the_cluster() -> None:
    # Helm receives these as values: with plain inputs everything is plain data.
    json.dumps(lb_controller.values(LbControllerSpec(region="eu-west-1"), CLUSTER, "vpc-1"))
    assert autoscaler.discovery_tags(CLUSTER)[1] == f"k8s.io/cluster-autoscaler/{CLUSTER}"
