"""EKS Pod Identity roles: how the in-cluster controllers (load balancer controller, EBS CSI driver, Cluster
Autoscaler) get AWS credentials without node-role permissions or an OIDC provider.

The role trusts the EKS Pod Identity agent (`pods.eks.amazonaws.com`, actions sts:AssumeRole and sts:TagSession:
https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html); an `aws.eks.PodIdentityAssociation` (or an
add-on's `pod_identity_associations`) binds it to one service account in one namespace. The
`eks-pod-identity-agent` add-on must run on the nodes (the cluster component installs it before the node groups).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

TRUST_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
    }],
})


def pod_identity_role(resource_name: str, *, description: str, tags: Mapping[str, str],
                      opts: pulumi.ResourceOptions) -> aws.iam.Role:
    return aws.iam.Role(resource_name, assume_role_policy=TRUST_POLICY, description=description, tags=dict(tags),
                        opts=opts)


@dataclass(frozen=True)
class ServiceAccountRole:
    """A Pod Identity role with its inline policy, bound to one service account."""

    role: aws.iam.Role
    policy: aws.iam.RolePolicy
    association: aws.eks.PodIdentityAssociation

    @property
    def ready(self) -> list[pulumi.Resource]:
        """What a chart using the service account must wait for: without them its first reconciles fail."""
        return [self.policy, self.association]


def service_account_role(resource_name: str, *, policy_name: str, policy: pulumi.Input[str], description: str,
                         cluster_name: pulumi.Input[str], namespace: str, service_account: str,
                         tags: Mapping[str, str], opts: pulumi.ResourceOptions) -> ServiceAccountRole:
    """The role (`resource_name`), its inline policy (`policy_name`) and the association (`resource_name`) that
    gives `namespace/service_account` its credentials."""
    role = pod_identity_role(resource_name, description=description, tags=tags, opts=opts)
    role_policy = aws.iam.RolePolicy(policy_name, role=role.id, policy=policy, opts=opts)
    association = aws.eks.PodIdentityAssociation(
        resource_name, cluster_name=cluster_name, namespace=namespace, service_account=service_account,
        role_arn=role.arn, tags=dict(tags), opts=opts)
    return ServiceAccountRole(role=role, policy=role_policy, association=association)
