"""EBS volumes for the EMQX cores: the aws-ebs-csi-driver EKS add-on with its Pod Identity role, and a gp3, encrypted
StorageClass that binds a volume only once the pod is placed (WaitForFirstConsumer), so the volume is created in the
zone of the node that runs the core (one EMQX node group per zone).

Sources: kubernetes-sigs/aws-ebs-csi-driver v1.64.0 docs/install.md (Pod Identity, AmazonEBSCSIDriverPolicyV2,
service account `ebs-csi-controller-sa`) and docs/parameters.md (type, encrypted, kmsKeyId, fstype); pulumi_aws
eks.Addon pod_identity_associations (AddonPodIdentityAssociationArgs: role_arn, service_account).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.aws.pod_identity import pod_identity_role

ADDON = "aws-ebs-csi-driver"
PROVISIONER = "ebs.csi.aws.com"  # EKS Auto Mode's driver is ebs.csi.eks.amazonaws.com instead: not this platform
CONTROLLER_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
# V2: create/attach/delete only on volumes the driver tags (ebs.csi.aws.com/cluster=true); a customer-managed KMS
# key would need extra kms:* statements (docs/install.md). Its ARN has no service-role/ path, unlike V1's: the AWS
# Managed Policy Reference lists AmazonEBSCSIDriverPolicyV2 as an "AWS managed policy" (created 2026-04-16) at
# arn:aws:iam::aws:policy/AmazonEBSCSIDriverPolicyV2. The driver's docs/install.md (v1.64.0) prints the service-role/
# form, which IAM would answer with NoSuchEntity on the attachment.
POLICY_NAME = "AmazonEBSCSIDriverPolicyV2"
STORAGE_CLASS = "emqx-gp3"


@dataclass(frozen=True)
class EbsStorageSpec:
    storage_class: str = STORAGE_CLASS
    # None: the add-on's default version for the cluster's Kubernetes version (EKS picks it).
    addon_version: str | None = None
    # AWS managed policies carry the partition in their ARN (aws, aws-cn, aws-us-gov).
    partition: str = "aws"
    tags: Mapping[str, str] = field(default_factory=dict[str, str])


def storage_class_manifest(name: str) -> dict[str, Any]:
    """The StorageClass for core volumes. Not the cluster default: EMQX names it (spec.storage_class), and a default
    class would also catch other charts' claims that expect the cluster's own choice (EKS ships none, and gp2 via
    the in-tree name on older clusters)."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": PROVISIONER,
        "parameters": {
            # gp3: baseline 3000 IOPS and 125 MiB/s whatever the size (the driver's default type too, made explicit).
            "type": "gp3",
            # With EBS's AWS-managed key (aws/ebs): a customer-managed key would need kms grants on the role.
            "encrypted": "true",
            "csi.storage.k8s.io/fstype": "ext4",
        },
        # Created where the core is scheduled, never in a zone its node group cannot reach.
        "volumeBindingMode": "WaitForFirstConsumer",
        # Delete: the operator's blue-green rollouts leave PVCs of old StatefulSets (revisionHistoryLimit bounds
        # them); a retained volume would outlive its claim and bill until someone finds it.
        "reclaimPolicy": "Delete",
        "allowVolumeExpansion": True,
    }


class EbsStorage(pulumi.ComponentResource):
    storage_class_name: pulumi.Output[str]
    addon: aws.eks.Addon

    def __init__(
        self,
        name: str,
        *,
        spec: EbsStorageSpec,
        cluster_name: pulumi.Input[str],
        after: list[pulumi.Resource] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """opts must carry the cluster's Kubernetes provider; `after`: the node groups (EKS installs the add-on's
        controller as a Deployment: after coredns and nodes, terraform-aws-eks main.tf `before_compute` false)."""
        super().__init__("emqx-platform:aws:EbsStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**spec.tags, "component": "storage"}
        role = pod_identity_role(f"{name}-ebs-csi", description="EBS CSI driver controller", tags=tags, opts=child)
        attachment = aws.iam.RolePolicyAttachment(f"{name}-ebs-csi", role=role.name,
                                                  policy_arn=f"arn:{spec.partition}:iam::aws:policy/{POLICY_NAME}",
                                                  opts=child)
        self.addon = aws.eks.Addon(
            f"{name}-ebs-csi",
            cluster_name=cluster_name,
            addon_name=ADDON,
            addon_version=spec.addon_version,
            pod_identity_associations=[aws.eks.AddonPodIdentityAssociationArgs(
                role_arn=role.arn, service_account=CONTROLLER_SERVICE_ACCOUNT)],
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*(after or []), attachment]),
        )
        manifest = storage_class_manifest(spec.storage_class)
        storage_class = k8s.storage.v1.StorageClass(
            f"{name}-{spec.storage_class}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=manifest["metadata"]["name"]),
            provisioner=manifest["provisioner"],
            parameters=manifest["parameters"],
            volume_binding_mode=manifest["volumeBindingMode"],
            reclaim_policy=manifest["reclaimPolicy"],
            allow_volume_expansion=manifest["allowVolumeExpansion"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.addon]),
        )
        self.storage_class_name = storage_class.metadata.apply(lambda m: m.name or spec.storage_class)
        self.register_outputs({"storage_class": self.storage_class_name})
