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
