"""The AWS Load Balancer Controller, pinned, limited to TargetGroupBinding: it registers EMQX pod IPs in the stack's
own target groups (components/aws/load_balancer.py) and injects the readiness gates that hold a rollout until a new
pod is healthy in the NLB. It creates no load balancer: its IAM role cannot.

Sources (kubernetes-sigs/aws-load-balancer-controller v3.5.0, commit 11eb202c97e4): chart
helm/aws-load-balancer-controller (version 3.5.0, appVersion v3.5.0) values.yaml and templates/deployment.yaml;
docs/deploy/installation.md "Special IAM cases" for the TargetGroupBinding-only policy; pkg/config/feature_gates.go.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.aws.pod_identity import service_account_role
from components.workloads.helm import pinned_release

CHART = "aws-load-balancer-controller"
CHART_VERSION = "3.5.0"  # appVersion v3.5.0: the CRD vendored in schemas/aws-load-balancer-controller/3.5.0/
REPOSITORY = "https://aws.github.io/eks-charts"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
# The controller's admission webhooks (TargetGroupBinding validation/mutation, pod readiness-gate injection) listen
# here on the pods (chart: containerPort webhookBindPort, default 9443); the API server must reach it.
WEBHOOK_PORT = 9443

# "You only want the LBC to add and remove IPs to already existing target groups" (installation.md, Special IAM
# cases): no ec2:*SecurityGroup* writes, no load balancer or listener creation.
TARGET_GROUP_BINDING_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Action": [
            "ec2:DescribeVpcs",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeInstances",
            "elasticloadbalancing:DescribeTargetGroups",
            "elasticloadbalancing:DescribeTargetHealth",
            "elasticloadbalancing:ModifyTargetGroup",
            "elasticloadbalancing:ModifyTargetGroupAttributes",
            "elasticloadbalancing:RegisterTargets",
            "elasticloadbalancing:DeregisterTargets",
        ],
        "Resource": "*",
    }],
})


@dataclass(frozen=True)
class LbControllerSpec:
    region: str
    node_selector: Mapping[str, str] = field(default_factory=dict[str, str])
    tags: Mapping[str, str] = field(default_factory=dict[str, str])
    chart_version: str = CHART_VERSION


def values(spec: LbControllerSpec, cluster_name: pulumi.Input[str], vpc_id: pulumi.Input[str]) -> dict[str, object]:
    out: dict[str, object] = {
        "clusterName": cluster_name,
        # Given, so the controller never asks IMDS for them (hop limits on the nodes).
        "region": spec.region,
        "vpcId": vpc_id,
        "replicaCount": 2,
        # Named, so the Pod Identity association can name it (unset, the chart derives it from the release name).
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
        # Default true: the webhook takes every new LoadBalancer Service and fails closed (failurePolicy Fail).
        # This stack's Services are ClusterIP and the NLB is ours, so nothing should route through it.
        "enableServiceMutatorWebhook": False,
        # If the webhook cannot be reached, pods are still created (without the readiness gate) rather than
        # refused: a failing-closed pod webhook would block every pod of the namespace (the chart's default).
        "podMutatorWebhookConfig": {"failurePolicy": "Ignore"},
        "controllerConfig": {"featureGates": {
            # The Service controller would build NLBs from Service annotations; its role could not anyway, and
            # a half-reconciled Service is noise (feature_gates.go EnableServiceController, default true).
            "EnableServiceController": False,
        }},
        # No Ingress in this stack: no IngressClass `alb` left behind for someone else's Ingress to pick up.
        "createIngressClassResource": False,
        "ingressClassParams": {"create": False},
    }
    if spec.node_selector:
        out["nodeSelector"] = dict(spec.node_selector)
    return out


class AwsLoadBalancerController(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    role_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        spec: LbControllerSpec,
        cluster_name: pulumi.Input[str],
        vpc_id: pulumi.Input[str],
        node_security_group_id: pulumi.Input[str],
        cluster_security_group_id: pulumi.Input[str],
        after: list[pulumi.Resource] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """opts must carry the cluster's Kubernetes provider (providers={"kubernetes": ...}); `after`: what must
        exist before the chart installs (the node groups, the pod identity agent add-on)."""
        super().__init__("emqx-platform:aws:LoadBalancerController", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**spec.tags, "component": "lb-controller"}

        credentials = service_account_role(
            f"{name}-lbc", policy_name=f"{name}-lbc-tgb", policy=TARGET_GROUP_BINDING_POLICY,
            description="AWS Load Balancer Controller (TargetGroupBinding only)", cluster_name=cluster_name,
            namespace=NAMESPACE, service_account=SERVICE_ACCOUNT, tags=tags, opts=child)
        self.role_arn = credentials.role.arn

        # The API server calls the webhooks on the pods' addresses (VPC CNI: the nodes' ENIs); the EKS cluster
        # security group is on the control plane's ENIs.
        webhook_rule = aws.vpc.SecurityGroupIngressRule(
            f"{name}-lbc-webhook", security_group_id=node_security_group_id, ip_protocol="tcp",
            from_port=WEBHOOK_PORT, to_port=WEBHOOK_PORT, referenced_security_group_id=cluster_security_group_id,
            # EC2 takes only a-zA-Z0-9, space and ._-:/()#,@[]+=;{}!$* in a rule description (EC2 API
            # UserIdGroupPair.Description): no apostrophe.
            description="EKS control plane to the load balancer controller webhooks", tags=tags, opts=child)

        self.release = pinned_release(
            f"{name}-aws-load-balancer-controller",
            chart=CHART,
            version=spec.chart_version,
            repository=REPOSITORY,
            namespace=NAMESPACE,
            values=values(spec, cluster_name, vpc_id),
            parent=self,
            # Credentials and the webhook path first: otherwise the first reconciles fail and the API server
            # cannot call the webhooks the chart registers.
            depends_on=[*(after or []), *credentials.ready, webhook_rule],
        )
        self.register_outputs({"status": self.release.status, "role_arn": self.role_arn})
