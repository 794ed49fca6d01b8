"""EKS managed node groups from launch templates: a system group across the zones, one EMQX group per zone and an
optional load-generator group, with the same pool label and dedicated taint as the Alibaba pools.

One EMQX group per zone: a core's EBS volume lives in one zone, so the group that replaces or adds its node must be
pinned to that zone's subnet; the Cluster Autoscaler then balances similar groups (EKS managed-node-groups.adoc).

How a change reaches running nodes: a new launch-template version (user data, disk, metadata options) recycles every
node of the group, up to max_unavailable at a time, draining each (EKS managed-node-update-behavior.adoc); labels and
taints are updated in place on the group's nodes by EKS.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.aws.cluster import assume_role_policy, managed_policy
from components.aws.spec import NodeGroupSpec, Scaling
from components.pools import EMQX_TAINT_KEY, POOL_LABEL

# The same label and taint the Alibaba pools carry, so a workload's placement reads the same on both clouds.
# EC2 user data is at most 16 KB before base64 (EC2 instancedata-add-user-data.html); EKS appends its own part.
USER_DATA_LIMIT = 16 * 1024
# The root device of the AL2023 EKS AMI (amazon-eks-ami templates/al2023/template.json).
ROOT_DEVICE = "/dev/xvda"
# IMDS: tokens required (AL2023 requires IMDSv2) and one hop, so pods off the host network cannot reach the node
# role's credentials. Set explicitly because the EKS docs disagree on the default (al2023.adoc says 1,
# launch-templates.adoc 2); 1 is terraform-aws-eks v21's default. Nothing here needs 2: the LB controller takes
# region and vpcId as values instead (its installation.md), the EBS CSI node plugin falls back to Kubernetes
# metadata (ebs-csi docs/install.md), and the add-ons get credentials through Pod Identity.
IMDS_HOP_LIMIT = 1


class EksNodeGroups(pulumi.ComponentResource):
    node_role_arn: pulumi.Output[str]
    # The stack's own group on every node (beside the cluster security group): the load balancer component adds
    # its ingress rules here. It has none of its own; nodes reach each other and the control plane through the
    # cluster security group.
    node_security_group_id: pulumi.Output[str]
    node_groups: list[aws.eks.NodeGroup]
    # zone -> that zone's EMQX group.
    emqx_node_groups: dict[str, aws.eks.NodeGroup]
    launch_templates: dict[str, aws.ec2.LaunchTemplate]

    def __init__(
        self,
        name: str,
        *,
        cluster_name: pulumi.Input[str],
        cluster_security_group_id: pulumi.Input[str],
        vpc_id: pulumi.Input[str],
        zones: Sequence[str],
        subnet_ids: Sequence[pulumi.Input[str]],
        groups: Sequence[NodeGroupSpec],
        tags: Mapping[str, str],
        partition: str = "aws",
        kubernetes_version: pulumi.Input[str] | None = None,
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("emqx-platform:aws:NodeGroups", name, None, opts)
        if len(zones) != len(subnet_ids):
            raise ValueError(f"{len(zones)} zones but {len(subnet_ids)} subnets")
        roles = [g.role for g in groups]
        if len(set(roles)) != len(roles) or "system" not in roles or "emqx" not in roles:
            raise ValueError(f"node groups: need one system and one emqx group, at most one of each, got {roles}")
        child = pulumi.ResourceOptions(parent=self)
        self._name, self._tags = name, {**tags, "component": "nodes"}

        role = aws.iam.Role(f"{name}-nodes", assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
                            description="EKS managed nodes", tags=self._tags, opts=child)
        # Worker node policy (also what the Pod Identity agent needs) and read-only image pulls; no CNI policy: the
        # CNI has its own Pod Identity role (EKS create-node-role.html).
        attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-nodes-{policy}", role=role.name,
                                         policy_arn=managed_policy(partition, policy), opts=child)
            for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly")
        ]
        self.node_role_arn = role.arn
        # Removing the group must not wait on rules other stacks' groups (the NLB's) hold against it.
        sg = aws.ec2.SecurityGroup(f"{name}-nodes", vpc_id=vpc_id, revoke_rules_on_delete=True,
                                   description="EMQX platform EKS nodes: ingress only from the load balancer",
                                   tags={**self._tags, "Name": f"{name}-nodes"}, opts=child)
        self.node_security_group_id = sg.id
        self._depends = [*attachments, *after]
        self._cluster_name = cluster_name
        self._kubernetes_version = kubernetes_version
        self._role_arn = role.arn
        self._security_groups = [cluster_security_group_id, sg.id]

        self.node_groups, self.emqx_node_groups, self.launch_templates = [], {}, {}
        for spec in groups:
            lt = self._launch_template(spec)
            self.launch_templates[spec.role] = lt
            if spec.role in ("emqx", "emqx-core"):
                # The cores' groups are zonal for the same reason: a core's EBS volume stays in its zone.
                for zone, scaling in spec.zonal_scaling(zones):
                    subnet = subnet_ids[list(zones).index(zone)]
                    group = self._group(spec, lt, f"{spec.role}-{zone}", [subnet], scaling)
                    if spec.role == "emqx":
                        self.emqx_node_groups[zone] = group
                    self.node_groups.append(group)
            else:
                scaling = spec.scaling[0]
                assert scaling is not None
                self.node_groups.append(self._group(spec, lt, spec.role, list(subnet_ids), scaling))
        self.register_outputs({"node_role_arn": self.node_role_arn,
                               "node_security_group_id": self.node_security_group_id})

    def _launch_template(self, spec: NodeGroupSpec) -> aws.ec2.LaunchTemplate:
        user_data = None
        if spec.user_data is not None:
            raw = spec.user_data.encode()
            if len(raw) > USER_DATA_LIMIT:
                raise ValueError(f"{spec.role}: user data is {len(raw)} bytes, over EC2's {USER_DATA_LIMIT}")
            user_data = base64.b64encode(raw).decode()
        tagged = {**self._tags, "pool": spec.role}
        return aws.ec2.LaunchTemplate(
            f"{self._name}-{spec.role}",
            description=f"EMQX platform {spec.role} nodes",
            # No image_id: EKS picks the AMI from ami_type and merges its own bootstrap part after ours
            # (launch-templates.adoc); no instance type, profile or subnet either: the node group owns those.
            vpc_security_group_ids=self._security_groups,
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=ROOT_DEVICE,
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=spec.disk_gib, volume_type="gp3", encrypted="true", delete_on_termination="true"),
            )],
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=IMDS_HOP_LIMIT,
                instance_metadata_tags="disabled"),
            user_data=user_data,
            # Launch templates tag themselves only; instances, their volumes and ENIs get these.
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=t, tags=tagged)
                                for t in ("instance", "volume", "network-interface")],
            tags=tagged,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _group(self, spec: NodeGroupSpec, lt: aws.ec2.LaunchTemplate, suffix: str,
               subnet_ids: Sequence[pulumi.Input[str]], scaling: Scaling) -> aws.eks.NodeGroup:
        labels, taints = role_placement(spec.role)
        taints += [(k, v, e) for k, v, e in spec.taints]
        # With rollout room the Cluster Autoscaler moves desired_size between min and max: leave it to it (the
        # aws.eks.NodeGroup docstring's autoscaler example).
        autoscaled = scaling.max_size > scaling.min_size
        return aws.eks.NodeGroup(
            f"{self._name}-{suffix}",
            node_group_name=f"{self._name}-{suffix}",
            cluster_name=self._cluster_name,
            # The group's minor is set only at creation unless it is given (aws.eks.NodeGroup `version`: "Defaults
            # to EKS Cluster Kubernetes version"): tied to the cluster's, a minor upgrade of the control plane is
            # followed by a rolling upgrade of every group (one node at a time, update_config below).
            version=self._kubernetes_version,
            node_role_arn=self._role_arn,
            subnet_ids=list(subnet_ids),
            ami_type=spec.ami_type,
            capacity_type="ON_DEMAND",
            instance_types=list(spec.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=scaling.min_size, desired_size=scaling.desired_size, max_size=scaling.max_size),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=lt.id, version=lt.latest_version.apply(str)),
            labels={**labels, **spec.labels},
            taints=[aws.eks.NodeGroupTaintArgs(key=k, value=v, effect=e) for k, v, e in taints] or None,
            # One node at a time: an EMQX node's clients reconnect elsewhere before the next one goes.
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            tags={**self._tags, "pool": spec.role},
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._depends,
                                        ignore_changes=["scalingConfig.desiredSize"] if autoscaled else None),
        )


def role_placement(role: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """The label and taints every node of a role's groups carries (Alibaba: AckCluster's pools)."""
    labels = {POOL_LABEL: role}
    taints = [(EMQX_TAINT_KEY, role, "NO_SCHEDULE")] if role in ("emqx", "emqx-core", "loadgen") else []
    return labels, taints
