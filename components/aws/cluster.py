"""An EKS cluster from pulumi_aws primitives: its IAM role, API-only access entries for the named admins, control-plane
logs, the networking add-ons nodes need to boot, and a kubeconfig that fetches a fresh token on every call.

Add-on order (terraform-aws-eks `before_compute`, main.tf): with `bootstrap_self_managed_addons=False` EKS installs
nothing itself, so vpc-cni, kube-proxy and eks-pod-identity-agent are created here, before any node group (a node
without them never turns Ready); coredns needs nodes to schedule on and comes after them
(`add_post_node_addons`); aws-ebs-csi-driver is the storage component's, through `addon`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.aws.pod_identity import pod_identity_role
from components.aws.spec import EksClusterSpec

PRE_NODE_ADDONS = ("eks-pod-identity-agent", "vpc-cni", "kube-proxy")
POST_NODE_ADDONS = ("coredns",)
# EKS access policies live in the partition too (arn:aws-cn:eks::aws:..., arn:aws-us-gov:eks::aws:...).
ADMIN_POLICY_NAME = "AmazonEKSClusterAdminPolicy"


def admin_policy(partition: str) -> str:
    return f"arn:{partition}:eks::aws:cluster-access-policy/{ADMIN_POLICY_NAME}"
# The CNI's own service account (amazon-vpc-cni-k8s: the aws-node DaemonSet).
CNI_SERVICE_ACCOUNT = "aws-node"


def assume_role_policy(service: str) -> str:
    """The trust policy that lets an AWS service (EKS, EC2) assume a role."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def managed_policy(partition: str, policy: str) -> str:
    return f"arn:{partition}:iam::aws:policy/{policy}"


def principal_label(arn: str) -> str:
    """A resource-name part for an IAM principal: its last path segment plus a digest of the whole ARN, so an
    admin's resources keep their names when other admins come or go, and two same-named roles never collide."""
    tail = re.sub(r"[^A-Za-z0-9-]+", "-", arn.rsplit("/", 1)[-1]).strip("-").lower()[:40]
    return f"{tail}-{hashlib.sha256(arn.encode()).hexdigest()[:8]}"


def render_kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig whose user runs `aws eks get-token` for every connection.

    A static token (aws.eks.get_cluster_auth) is a presigned STS URL valid 15 minutes (aws-iam-authenticator
    PR #160), shorter than the wait on the EMQX custom resource; the exec plugin asks again whenever it needs to.
    Needs the AWS CLI, with credentials for one of the admin principals, where Pulumi runs.
    """
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [{"name": cluster_name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
            "interactiveMode": "Never",
        }}}],
    }, indent=2)


class EksCluster(pulumi.ComponentResource):
    cluster: aws.eks.Cluster
    # The EKS cluster's name as plain text (known before the cluster exists: Helm values, IAM policy conditions).
    eks_name: str
    cluster_name: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    certificate_authority: pulumi.Output[str]
    # The security group EKS creates and puts on the control plane's ENIs and (listed in their launch templates)
    # on every node: members reach each other on every port, which covers kubelet and webhook calls from the
    # control plane (the LB controller's 9443).
    cluster_security_group_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    pre_node_addons: list[aws.eks.Addon]
    access_policies: list[aws.eks.AccessPolicyAssociation]
    region: str
    partition: str

    def __init__(
        self,
        name: str,
        *,
        spec: EksClusterSpec,
        subnet_ids: Sequence[pulumi.Input[str]],
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("emqx-platform:aws:EksCluster", name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        self._tags = {**spec.tags, "component": "cluster"}
        self.region, self.partition = spec.region, spec.partition
        self.eks_name = f"{name}-eks"

        role = aws.iam.Role(f"{name}-cluster", assume_role_policy=assume_role_policy("eks.amazonaws.com"),
                            description="EKS control plane", tags=self._tags, opts=child)
        # The control plane's role (EKS cluster-iam-role.adoc). The cluster depends on the attachment: without it
        # EKS cannot delete its own security groups on destroy (aws.eks.Cluster docstring).
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy", role=role.name,
            policy_arn=managed_policy(spec.partition, "AmazonEKSClusterPolicy"), opts=child)

        # EKS writes control-plane logs to this group and, when it does not exist, creates it without expiry
        # (EKS control-plane-logs.adoc): the stack owns it, with a retention, and removes it with the cluster.
        log_group = aws.cloudwatch.LogGroup(f"{name}-eks-logs", name=f"/aws/eks/{self.eks_name}/cluster",
                                            retention_in_days=spec.log_retention_days, tags=self._tags,
                                            opts=child)
        public_cidrs = list(spec.public_access_cidrs) if spec.endpoint_public_access else None
        self.cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=self.eks_name,
            version=spec.kubernetes_version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(subnet_ids),
                # Nodes (and anything else in the VPC) reach the API privately; the public endpoint is off unless
                # the spec opens it to named sources (EKS cluster-endpoint.adoc).
                endpoint_private_access=True,
                endpoint_public_access=spec.endpoint_public_access,
                public_access_cidrs=public_cidrs,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                # Access entries only: no aws-auth ConfigMap to drift from the code (auth-mode changes are one-way).
                authentication_mode="API",
                # False: the creator would get an admin entry EKS makes outside this stack's state, invisible in
                # review and removable only by hand (changing the flag later replaces the cluster: CFN
                # AWS::EKS::Cluster AccessConfig). The admins are the access entries below, deploying principal
                # included.
                bootstrap_cluster_creator_admin_permissions=False,
            ),
            # EKS installs no self-managed vpc-cni/kube-proxy/coredns: this stack creates them as add-ons it
            # versions and configures (ForceNew, so decided at creation).
            bootstrap_self_managed_addons=False,
            enabled_cluster_log_types=list(spec.log_types),
            deletion_protection=spec.deletion_protection,
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=spec.support_type),
            kubernetes_network_config=aws.eks.ClusterKubernetesNetworkConfigArgs(
                ip_family="ipv4", service_ipv4_cidr=spec.service_cidr),
            tags=self._tags,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                protect=spec.protect, depends_on=[attachment, log_group, *after])),
        )
        self.cluster_name = self.cluster.name
        self.cluster_arn = self.cluster.arn
        self.endpoint = self.cluster.endpoint
        self.certificate_authority = self.cluster.certificate_authority.apply(lambda ca: ca.data or "")
        self.cluster_security_group_id = self.cluster.vpc_config.apply(lambda v: v.cluster_security_group_id or "")

        self.access_policies = []
        for arn in spec.admin_principal_arns:
            label = principal_label(arn)
            entry = aws.eks.AccessEntry(f"{name}-admin-{label}", cluster_name=self.cluster.name, principal_arn=arn,
                                        type="STANDARD", tags=self._tags, opts=child)
            self.access_policies.append(aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{label}", cluster_name=self.cluster.name, principal_arn=entry.principal_arn,
                policy_arn=admin_policy(spec.partition),
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"), opts=child))

        # The CNI gets its own role through Pod Identity, so the node role carries no AmazonEKS_CNI_Policy
        # (EKS create-node-role.html: attach it to the node role only if the CNI has no role of its own; the CNI
        # reads Pod Identity credentials: amazon-vpc-cni-k8s #2780). aws-node then needs the agent on every node,
        # or it crash-loops (amazon-vpc-cni-k8s #3840): the agent add-on comes first and both precede the nodes.
        # The agent runs on the host's network, so it serves aws-node before pod networking exists.
        cni_role = pod_identity_role(f"{name}-vpc-cni", description="Amazon VPC CNI (aws-node) through EKS Pod "
                                     "Identity", tags=self._tags, opts=child)
        cni_policy = aws.iam.RolePolicyAttachment(
            f"{name}-vpc-cni", role=cni_role.name,
            policy_arn=managed_policy(spec.partition, "AmazonEKS_CNI_Policy"), opts=child)
        agent = self.addon("eks-pod-identity-agent")
        self.pre_node_addons = [
            agent,
            self.addon("vpc-cni", after=[agent, cni_policy], pod_identity=[(CNI_SERVICE_ACCOUNT, cni_role.arn)]),
            self.addon("kube-proxy"),
        ]

        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(
            self.cluster.name, self.endpoint, self.certificate_authority,
        ).apply(lambda v: render_kubeconfig(str(v[0]), str(v[1] or ""), str(v[2] or ""), spec.region)))
        # cluster_identifier: while the kubeconfig is unknown (first preview) the provider must not look replaced.
        # Every Kubernetes call authenticates as an admin principal: their access policies must exist first.
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, cluster_identifier=self.cluster.arn,
                                     opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                                         depends_on=self.access_policies)))
        self.register_outputs({"cluster_name": self.cluster_name, "endpoint": self.endpoint,
                               "cluster_security_group_id": self.cluster_security_group_id,
                               "kubeconfig": self.kubeconfig})

    def addon(
        self,
        addon_name: str,
        *,
        after: Sequence[pulumi.Resource] = (),
        pod_identity: Sequence[tuple[str, pulumi.Input[str]]] = (),
        configuration_values: pulumi.Input[str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> aws.eks.Addon:
        """An EKS add-on of this cluster, at EKS's default version for the cluster's Kubernetes version.

        `pod_identity`: (service account, role ARN) pairs EKS binds for the add-on (e.g. the EBS CSI controller's
        `ebs-csi-controller-sa`). `after`: what must exist first (node groups for add-ons whose pods need nodes).
        """
        return aws.eks.Addon(
            f"{self._name}-{addon_name}",
            cluster_name=self.cluster.name,
            addon_name=addon_name,
            pod_identity_associations=[aws.eks.AddonPodIdentityAssociationArgs(service_account=sa, role_arn=arn)
                                       for sa, arn in pod_identity] or None,
            configuration_values=configuration_values,
            # This stack owns the add-ons' configuration: a field edited in the cluster is set back.
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags={**self._tags, **(tags or {})},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
        )

    def add_post_node_addons(self, node_groups: Sequence[pulumi.Resource]) -> list[aws.eks.Addon]:
        """coredns, once nodes exist to run it (its Deployment never becomes ready without them, and EKS waits)."""
        return [self.addon(a, after=node_groups) for a in POST_NODE_ADDONS]
