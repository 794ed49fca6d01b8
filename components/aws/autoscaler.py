"""Room for blue-green rollouts: the Cluster Autoscaler grows a zone's EMQX node group up to its surge maximum while
the operator runs old and new pods side by side, and shrinks it after (the same `rolloutSurge` meaning as the ACK
node pools: min = count, max = count + surge, set on the node groups).

It finds the groups by ASG tags (auto-discovery): EKS managed node groups tag their Auto Scaling groups with
`k8s.io/cluster-autoscaler/enabled` and `k8s.io/cluster-autoscaler/<cluster name>` themselves (EKS user guide,
managed-node-groups). One group per zone plus --balance-similar-node-groups keeps the zones even, so an EBS-backed
core always finds room in its own zone.

Sources: kubernetes/autoscaler chart cluster-autoscaler 9.59.0 (cluster-autoscaler/charts/cluster-autoscaler
values.yaml, templates/deployment.yaml: autoDiscovery.tags, awsRegion, extraArgs) and
cluster-autoscaler/cloudprovider/aws/README.md at cluster-autoscaler-1.35.2 (IAM policy, auto-discovery).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.aws.pod_identity import service_account_role
from components.workloads.helm import pinned_release

CHART = "cluster-autoscaler"
CHART_VERSION = "9.59.0"
REPOSITORY = "https://kubernetes.github.io/autoscaler"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
IMAGE = "registry.k8s.io/autoscaling/cluster-autoscaler"
# The autoscaler release must match the cluster's Kubernetes minor (cluster-autoscaler README, Releases); the chart
# ships one default (v1.35.0 in 9.59.0), so the image is pinned per minor: the newest patch tag of each
# (cluster-autoscaler-1.34.5, -1.35.2, -1.36.1, July 2026).
IMAGE_TAGS: Mapping[str, str] = {"1.34": "v1.34.5", "1.35": "v1.35.2", "1.36": "v1.36.1"}


def discovery_tags(cluster_name: str) -> list[str]:
    """The ASG tag keys auto-discovery looks for (any value): what EKS puts on managed node groups' ASGs."""
    return ["k8s.io/cluster-autoscaler/enabled", f"k8s.io/cluster-autoscaler/{cluster_name}"]


def iam_policy(cluster_name: str) -> str:
    """The README's "Full Cluster Autoscaler Features Policy" (auto-discovery needs the describe calls on `*`), with
    the scaling actions limited to ASGs that carry this cluster's discovery tag, as the README recommends (tag
    conditionals)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                    "eks:DescribeNodegroup",
                ],
                "Resource": ["*"],
            },
            {
                "Effect": "Allow",
                "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                "Resource": ["*"],
                # Only groups tagged for this cluster, whatever the tag's value.
                "Condition": {"Null": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "false"}},
            },
        ],
    })


@dataclass(frozen=True)
class AutoscalerSpec:
    region: str
    kubernetes_version: str
    node_selector: Mapping[str, str] = field(default_factory=dict[str, str])
    tags: Mapping[str, str] = field(default_factory=dict[str, str])
    chart_version: str = CHART_VERSION

    def __post_init__(self) -> None:
        if self.kubernetes_version not in IMAGE_TAGS:
            raise ValueError(f"kubernetes_version: no Cluster Autoscaler release pinned for {self.kubernetes_version!r}"
                             f" (pinned: {sorted(IMAGE_TAGS)})")


def values(spec: AutoscalerSpec, cluster_name: pulumi.Input[str]) -> dict[str, object]:
    """cluster_name may be an Output (the cluster's own): Helm values take nested Inputs."""
    out: dict[str, object] = {
        "cloudProvider": "aws",
        "awsRegion": spec.region,
        "autoDiscovery": {"clusterName": cluster_name,
                          "tags": pulumi.Output.from_input(cluster_name).apply(discovery_tags)},
        "image": {"repository": IMAGE, "tag": IMAGE_TAGS[spec.kubernetes_version]},
        "rbac": {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT}},
        "extraArgs": {
            # One EMQX group per zone: scale them together, so the zones stay even (managed-node-groups.adoc).
            # Groups compare equal if they differ only in labels the AWS comparator ignores (zone, node group
            # name: processors/nodegroupset/aws_nodegroups.go), so the groups must carry no per-group label.
            "balance-similar-node-groups": True,
            # The group that wastes the least CPU/memory after the scale-up (cloudprovider/aws/README.md).
            "expander": "least-waste",
            # Never evict a node whose pods use local storage or are in kube-system without a PDB: the defaults,
            # stated because an EMQX core's PVC must not be stranded by a scale-down.
            "skip-nodes-with-local-storage": True,
            "skip-nodes-with-system-pods": True,
        },
    }
    if spec.node_selector:
        out["nodeSelector"] = dict(spec.node_selector)
    return out


class ClusterAutoscaler(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    role_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        spec: AutoscalerSpec,
        cluster_name: pulumi.Input[str],
        after: list[pulumi.Resource] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """opts must carry the cluster's Kubernetes provider; `after`: the node groups and the pod identity agent."""
        super().__init__("emqx-platform:aws:ClusterAutoscaler", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**spec.tags, "component": "autoscaler"}
        credentials = service_account_role(
            f"{name}-autoscaler", policy_name=f"{name}-autoscaler",
            policy=pulumi.Output.from_input(cluster_name).apply(iam_policy), description="Cluster Autoscaler",
            cluster_name=cluster_name, namespace=NAMESPACE, service_account=SERVICE_ACCOUNT, tags=tags, opts=child)
        self.role_arn = credentials.role.arn
        self.release = pinned_release(
            f"{name}-cluster-autoscaler",
            chart=CHART,
            version=spec.chart_version,
            repository=REPOSITORY,
            namespace=NAMESPACE,
            values=values(spec, cluster_name),
            parent=self,
            depends_on=[*(after or []), *credentials.ready],
        )
        self.register_outputs({"status": self.release.status, "role_arn": self.role_arn})
