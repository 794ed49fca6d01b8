"""The AWS network, EKS cluster and node-group components, built directly from spec objects under Pulumi's mocks
(preview/engine.py's mock monitor, preview=False), with assertions on what each resource received."""

from __future__ import annotations

import base64
import inspect
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pulumi_aws as aws
import pytest

from components.aws.address_plan import AddressPlan, ZoneSubnets
from components.aws.cluster import EksCluster, principal_label, render_kubeconfig
from components.aws.network import AwsNetwork
from components.aws.node_groups import EksNodeGroups, role_placement
from components.aws.spec import (
    AwsNetworkSpec,
    EksClusterSpec,
    NodeGroupSpec,
    Scaling,
    zonal_scaling,
)
from components.pools import pool_placement
from preview import engine

ZONES = ("eu-west-1a", "eu-west-1b", "eu-west-1c")
ADMINS = ("arn:aws:iam::111122223333:role/platform-admin", "arn:aws:iam::111122223333:user/ops/alice")
TAGS = {"stack": "t", "project": "emqx-platform"}
USER_DATA = 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="//"\n\n--//--\n'
CLUSTER_SG = "sg-0cluster0000000000"
ENDPOINT = "https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"

# What AWS computes on create, which the components read back (the mock echoes only the inputs).
FAKES: dict[str, Callable[[str, Mapping[str, Any]], dict[str, Any]]] = {
    "aws:eks/cluster:Cluster": lambda name, inputs: {
        "arn": f"arn:aws:eks:eu-west-1:111122223333:cluster/{inputs['name']}", "endpoint": ENDPOINT,
        "certificateAuthority": {"data": "Q0EtREFUQQ=="}, "vpcConfig": {"clusterSecurityGroupId": CLUSTER_SG}},
    "aws:iam/role:Role": lambda name, inputs: {"arn": f"arn:aws:iam::111122223333:role/{name}", "name": name},
    "aws:ec2/launchTemplate:LaunchTemplate": lambda name, inputs: {"latestVersion": 3},
    "aws:ec2/eip:Eip": lambda name, inputs: {"allocationId": f"eipalloc-{name}", "publicIp": "198.51.100.7"},
}


def plan(*zones: tuple[str, str, str], vpc: str = "10.0.0.0/16") -> AddressPlan:
    return AddressPlan(vpc_cidr=vpc, zones=tuple(ZoneSubnets(z, i, private, public)
                                                 for i, (z, private, public) in enumerate(zones)), service_cidr=None)


PLAN = plan(*((z, f"10.0.{16 * i}.0/20", f"10.0.{200 + i}.0/24") for i, z in enumerate(ZONES)))


def network_spec(production: bool) -> AwsNetworkSpec:
    return AwsNetworkSpec(plan=PLAN, nat_per_zone=production, tags=TAGS, protect=production)


def cluster_spec(production: bool) -> EksClusterSpec:
    return EksClusterSpec(kubernetes_version="1.35", region="eu-west-1", admin_principal_arns=ADMINS,
                          log_types=("api", "audit", "authenticator"), deletion_protection=production,
                          protect=production, support_type="STANDARD", tags=TAGS)


def group_specs(loadgen: bool) -> list[NodeGroupSpec]:
    groups = [
        NodeGroupSpec(role="system", instance_types=("m7i.large",), scaling=(Scaling(2, 2, 3),),
                      disk_gib=40),
        NodeGroupSpec(role="emqx", instance_types=("c7g.2xlarge",), scaling=zonal_scaling(5, 3, len(ZONES)),
                      disk_gib=60, user_data=USER_DATA),
    ]
    if loadgen:
        groups.append(NodeGroupSpec(role="loadgen", instance_types=("c7i.xlarge",), scaling=(Scaling(1, 1, 1),),
                                    user_data=USER_DATA))
    return groups


def run(build: Callable[[], None]) -> engine.Recording:
    """`build` as the program body, under the project's mock engine (preview=False) with FAKES added."""
    with pytest.MonkeyPatch.context() as patch:
        for token, fake in FAKES.items():
            patch.setitem(engine.fakes.RESOURCE_FAKES, token, fake)
        return engine.run_function(build, stack="t")


def build_platform(production: bool, loadgen: bool) -> Callable[[], None]:
    def build() -> None:
        network = AwsNetwork("t", spec=network_spec(production))
        cluster = EksCluster("t", spec=cluster_spec(production), subnet_ids=network.private_subnet_ids)
        nodes = EksNodeGroups("t", cluster_name=cluster.cluster_name,
                              cluster_security_group_id=cluster.cluster_security_group_id, vpc_id=network.vpc_id,
                              zones=network.zones, subnet_ids=network.private_subnet_ids,
                              groups=group_specs(loadgen), tags=TAGS,
                              after=[*cluster.pre_node_addons, *network.egress])
        cluster.add_post_node_addons(nodes.node_groups)
    return build


@pytest.fixture(scope="module")
def prod() -> Iterator[engine.Recording]:
    yield run(build_platform(production=True, loadgen=True))


@pytest.fixture(scope="module")
def dev() -> Iterator[engine.Recording]:
    yield run(build_platform(production=False, loadgen=False))


def rid(name: str) -> str:
    """The id the mock engine gives a resource: what another resource's input holds when it refers to it."""
    return f"{name}-id"


# ------------------------------------------------------------------------------------------------ specs (pure)


def test_zonal_scaling_splits_nodes_and_room_like_alibaba() -> None:
    assert zonal_scaling(5, 3, 3) == (Scaling(2, 2, 3), Scaling(2, 2, 3), Scaling(1, 1, 2))
    assert zonal_scaling(1, 0, 3) == (Scaling(1, 1, 1), None, None)


@pytest.mark.parametrize("bad, message", [
    (plan(("a", "10.0.0.0/20", "10.0.200.0/24")), "at least two"),
    (plan(("a", "10.0.0.0/20", "10.0.200.0/24"), ("a", "10.0.16.0/20", "10.0.201.0/24")), "listed twice"),
    (plan(("a", "10.0.0.0/20", "10.0.200.0/24"), ("b", "10.0.8.0/21", "10.0.201.0/24")), "overlaps"),
    (plan(("a", "10.0.0.0/20", "10.1.200.0/24"), ("b", "10.0.16.0/20", "10.0.201.0/24")), "outside the VPC"),
    (plan(("a", "10.0.0.0/20", "10.0.200.0/24"), ("b", "10.0.16.0/20", "10.0.201.0/24"), vpc="10.0.0.1/16"),
     "not an IPv4 network"),
])
def test_network_spec_refuses(bad: AddressPlan, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AwsNetworkSpec(plan=bad, nat_per_zone=True)


@pytest.mark.parametrize("change, message", [
    ({"admin_principal_arns": ()}, "at least one"),
    ({"admin_principal_arns": ("arn:aws:sts::111122223333:assumed-role/admin/session",)}, "not an IAM user or role"),
    ({"log_types": ("api", "kubelet")}, "kubelet"),
    ({"support_type": "LTS"}, "LTS"),
    ({"log_retention_days": 10}, "log_retention_days"),
    ({"kubernetes_version": "1.31"}, "1.31"),
    ({"endpoint_public_access": True}, "needs the sources"),
    ({"public_access_cidrs": ("203.0.113.0/24",)}, "public endpoint is off"),
])
def test_cluster_spec_refuses(change: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"kubernetes_version": "1.35", "region": "eu-west-1", "admin_principal_arns": ADMINS}
    with pytest.raises(ValueError, match=message):
        EksClusterSpec(**{**base, **change})


@pytest.mark.parametrize("change, message", [
    ({"scaling": (Scaling(1, 1, 1), Scaling(1, 1, 1))}, "one entry"),
    ({"ami_type": "AL2_x86_64"}, "ami_type"),
    ({"ami_type": "AL2023_ARM_64_STANDARD"}, "one AMI type"),
    ({"instance_types": ("m7i.large", "m7g.large")}, "one AMI type"),
    ({"instance_types": ()}, "1 to 20"),
    ({"taints": (("k", "v", "NoSchedule"),)}, "effect"),
    ({"disk_gib": 8}, "outside"),
])
def test_node_group_spec_refuses(change: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"role": "system", "instance_types": ("m7i.large",), "scaling": (Scaling(1, 1, 1),)}
    with pytest.raises(ValueError, match=message):
        NodeGroupSpec(**{**base, **change})
    with pytest.raises(ValueError, match="min <= desired <= max"):
        Scaling(2, 1, 3)


def test_kubeconfig_fetches_a_token_per_call() -> None:
    config = json.loads(render_kubeconfig("c", ENDPOINT, "Q0E=", "eu-west-1"))
    user = config["users"][0]["user"]
    assert set(user) == {"exec"}  # no static token, no client certificate
    assert user["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert [user["exec"]["command"], *user["exec"]["args"]][:8] == [
        "aws", "eks", "get-token", "--cluster-name", "c", "--region", "eu-west-1", "--output"]
    assert config["clusters"][0]["cluster"] == {"server": ENDPOINT, "certificate-authority-data": "Q0E="}


def test_admin_labels_are_stable_and_distinct() -> None:
    a, b = (principal_label(arn) for arn in ADMINS)
    assert a != b and a.startswith("platform-admin-") and b.startswith("alice-")
    assert principal_label("arn:aws:iam::999999999999:role/platform-admin") != a


def test_node_group_labels_and_taints_are_what_pool_placement_tolerates() -> None:
    # The workloads place pods with components.pools.pool_placement on every cloud: a node group's label and taint
    # must be exactly what that selects and tolerates.
    for role, dedicated in (("emqx", True), ("system", False), ("loadgen", True)):
        labels, taints = role_placement(role)
        selector, tolerations = pool_placement(role, dedicated=dedicated)
        assert labels == selector
        assert [(t["key"], t["value"], t["effect"]) for t in tolerations] == [
            (key, value, effect.replace("NO_SCHEDULE", "NoSchedule")) for key, value, effect in taints]
    assert role_placement("emqx")[1] and not role_placement("system")[1]


# ------------------------------------------------------------------------------------------------ network


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_subnets_per_zone_with_discovery_tags(stack: str, request: pytest.FixtureRequest) -> None:
    rec: engine.Recording = request.getfixturevalue(stack)
    vpc = rec.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["enableDnsSupport"] is True and vpc.inputs["enableDnsHostnames"] is True
    subnets = rec.by_type("aws:ec2/subnet:Subnet")
    assert len(subnets) == 2 * len(ZONES)
    for i, zone in enumerate(ZONES):
        private = rec.one("aws:ec2/subnet:Subnet", f"t-private-{zone}").inputs
        public = rec.one("aws:ec2/subnet:Subnet", f"t-public-{zone}").inputs
        assert (private["availabilityZone"], public["availabilityZone"]) == (zone, zone)
        assert (private["cidrBlock"], public["cidrBlock"]) == (f"10.0.{16 * i}.0/20", f"10.0.{200 + i}.0/24")
        assert private["tags"]["kubernetes.io/role/internal-elb"] == "1" and "kubernetes.io/role/elb" not in private[
            "tags"]
        assert public["tags"]["kubernetes.io/role/elb"] == "1" and "kubernetes.io/role/internal-elb" not in public[
            "tags"]
        assert private["mapPublicIpOnLaunch"] is False and public["mapPublicIpOnLaunch"] is False


def test_one_nat_in_dev_every_zone_routed_through_it(dev: engine.Recording) -> None:
    (nat,) = dev.by_type("aws:ec2/natGateway:NatGateway")
    assert len(dev.by_type("aws:ec2/eip:Eip")) == 1
    assert nat.inputs["subnetId"] == rid(f"t-public-{ZONES[0]}")
    for zone in ZONES:
        routes = dev.one("aws:ec2/routeTable:RouteTable", f"t-private-{zone}").inputs["routes"]
        assert routes == [{"cidrBlock": "0.0.0.0/0", "natGatewayId": rid(nat.name)}]


def test_nat_per_zone_in_production_each_zone_routed_through_its_own(prod: engine.Recording) -> None:
    nats = {n.name: n.inputs for n in prod.by_type("aws:ec2/natGateway:NatGateway")}
    assert len(nats) == len(ZONES) == len(prod.by_type("aws:ec2/eip:Eip"))
    for zone in ZONES:
        nat = nats[f"t-nat-{zone}"]
        assert nat["subnetId"] == rid(f"t-public-{zone}")
        assert nat["allocationId"] == f"eipalloc-t-nat-{zone}"
        routes = prod.one("aws:ec2/routeTable:RouteTable", f"t-private-{zone}").inputs["routes"]
        assert routes == [{"cidrBlock": "0.0.0.0/0", "natGatewayId": rid(f"t-nat-{zone}")}]
        assoc = prod.one("aws:ec2/routeTableAssociation:RouteTableAssociation", f"t-private-{zone}").inputs
        assert assoc == {"subnetId": rid(f"t-private-{zone}"), "routeTableId": rid(f"t-private-{zone}")}
    public = prod.one("aws:ec2/routeTable:RouteTable", "t-public").inputs["routes"]
    assert public == [{"cidrBlock": "0.0.0.0/0", "gatewayId": rid("t-igw")}]


# ------------------------------------------------------------------------------------------------ cluster


def test_cluster_access_logs_endpoint_and_upgrade_policy(dev: engine.Recording) -> None:
    cluster = dev.one("aws:eks/cluster:Cluster").inputs
    assert cluster["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    assert cluster["enabledClusterLogTypes"] == ["api", "audit", "authenticator"]
    logs = dev.one("aws:cloudwatch/logGroup:LogGroup")
    assert logs.inputs["name"] == "/aws/eks/t-eks/cluster" and logs.inputs["retentionInDays"] == 90
    assert logs.name in dev.one("aws:eks/cluster:Cluster").dependencies
    assert cluster["upgradePolicy"] == {"supportType": "STANDARD"}
    assert cluster["version"] == "1.35"
    assert cluster["bootstrapSelfManagedAddons"] is False
    vpc = cluster["vpcConfig"]
    assert vpc["subnetIds"] == [rid(f"t-private-{z}") for z in ZONES]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc
    role = dev.one("aws:iam/role:Role", "t-cluster").inputs
    assert json.loads(role["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "eks.amazonaws.com"}
    attachment = dev.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "t-cluster-policy")
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
    assert "t-cluster-policy" in dev.one("aws:eks/cluster:Cluster").dependencies


def test_public_endpoint_only_from_named_sources() -> None:
    spec = EksClusterSpec(kubernetes_version="1.35", region="eu-west-1", admin_principal_arns=ADMINS,
                          endpoint_public_access=True, public_access_cidrs=("203.0.113.0/24",))

    def build() -> None:
        EksCluster("p", spec=spec, subnet_ids=["subnet-a", "subnet-b"])

    vpc = run(build).one("aws:eks/cluster:Cluster").inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True and vpc["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert vpc["endpointPrivateAccess"] is True


def test_an_access_entry_and_admin_policy_per_admin(dev: engine.Recording) -> None:
    entries = dev.by_type("aws:eks/accessEntry:AccessEntry")
    policies = dev.by_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert sorted(e.inputs["principalArn"] for e in entries) == sorted(ADMINS)
    assert sorted(p.inputs["principalArn"] for p in policies) == sorted(ADMINS)
    for entry in entries:
        assert entry.inputs["type"] == "STANDARD" and entry.inputs["clusterName"] == "t-eks"
    for policy in policies:
        assert policy.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        assert policy.inputs["accessScope"] == {"type": "cluster"}
        # The association waits for its entry (it refers to the entry's principal).
        assert policy.name in {e.name for e in entries} and policy.name in policy.dependencies


def test_protect_and_deletion_protection_in_production_only(dev: engine.Recording, prod: engine.Recording) -> None:
    for rec, production in ((dev, False), (prod, True)):
        cluster = rec.one("aws:eks/cluster:Cluster")
        assert cluster.inputs["deletionProtection"] is production
        assert cluster.options["protect"] is production
        assert rec.one("aws:ec2/vpc:Vpc").options["protect"] is production


def test_kubeconfig_is_secret_and_execs_get_token(dev: engine.Recording) -> None:
    provider = dev.one("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == engine.SECRET_TEXT
    config = json.loads(provider.raw_inputs["kubeconfig"])
    exec_ = config["users"][0]["user"]["exec"]
    assert exec_["command"] == "aws"
    assert exec_["args"][:6] == ["eks", "get-token", "--cluster-name", "t-eks", "--region", "eu-west-1"]
    assert config["clusters"][0]["cluster"]["server"] == ENDPOINT
    # Every call authenticates as an admin: their access policies exist before the provider is used.
    policies = {p.name for p in dev.by_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")}
    assert policies <= set(provider.dependencies)


def test_addons_networking_before_nodes_coredns_after(prod: engine.Recording) -> None:
    addons = {a.inputs["addonName"]: a for a in prod.by_type("aws:eks/addon:Addon")}
    assert set(addons) == {"vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns"}
    groups = prod.by_type("aws:eks/nodeGroup:NodeGroup")
    group_names = {g.name for g in groups}
    for early in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent"):
        assert not group_names & set(addons[early].dependencies)
        for group in groups:
            assert addons[early].name in group.dependencies, (early, group.name)
    assert group_names <= set(addons["coredns"].dependencies)
    cni = addons["vpc-cni"].inputs
    assert cni["podIdentityAssociations"] == [{"serviceAccount": "aws-node", "roleArn":
                                               "arn:aws:iam::111122223333:role/t-vpc-cni"}]
    cni_policy = prod.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "t-vpc-cni").inputs
    assert cni_policy["policyArn"] == "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
    trust = json.loads(prod.one("aws:iam/role:Role", "t-vpc-cni").inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(trust["Action"]) == ["sts:AssumeRole", "sts:TagSession"]


# ------------------------------------------------------------------------------------------------ node groups


def test_one_emqx_group_per_zone_pinned_to_its_subnet(prod: engine.Recording) -> None:
    emqx = {g.name: g.inputs for g in prod.by_type("aws:eks/nodeGroup:NodeGroup") if "-emqx-" in g.name}
    assert sorted(emqx) == sorted(f"t-emqx-{z}" for z in ZONES)
    sizes = zonal_scaling(5, 3, len(ZONES))
    for zone, size in zip(ZONES, sizes, strict=True):
        group = emqx[f"t-emqx-{zone}"]
        assert group["subnetIds"] == [rid(f"t-private-{zone}")]
        assert size is not None
        assert group["scalingConfig"] == {"minSize": size.min_size, "desiredSize": size.desired_size,
                                          "maxSize": size.max_size}
        assert group["labels"] == {"emqx-platform/pool": "emqx"}
        assert group["taints"] == [{"key": "emqx-platform/dedicated", "value": "emqx", "effect": "NO_SCHEDULE"}]
        assert group["amiType"] == "AL2023_ARM_64_STANDARD"
        assert group["updateConfig"] == {"maxUnavailable": 1}
        assert group["launchTemplate"] == {"id": rid("t-emqx"), "version": "3"}
        assert group["clusterName"] == "t-eks"
        # Room for a rollout: the autoscaler owns desired_size.
        assert prod.one("aws:eks/nodeGroup:NodeGroup", f"t-emqx-{zone}").options["ignoreChanges"] == [
            "scalingConfig.desiredSize"]


def test_system_group_spans_zones_untainted_loadgen_optional(prod: engine.Recording, dev: engine.Recording) -> None:
    system = prod.one("aws:eks/nodeGroup:NodeGroup", "t-system")
    assert system.inputs["subnetIds"] == [rid(f"t-private-{z}") for z in ZONES]
    assert system.inputs["labels"] == {"emqx-platform/pool": "system"} and "taints" not in system.inputs
    assert system.inputs["amiType"] == "AL2023_x86_64_STANDARD"  # m7i: x86; the EMQX group's c7g: Graviton
    assert system.options["ignoreChanges"] == ["scalingConfig.desiredSize"]
    loadgen = prod.one("aws:eks/nodeGroup:NodeGroup", "t-loadgen").inputs
    assert loadgen["taints"] == [{"key": "emqx-platform/dedicated", "value": "loadgen", "effect": "NO_SCHEDULE"}]
    assert prod.one("aws:eks/nodeGroup:NodeGroup", "t-loadgen").options["ignoreChanges"] == []
    assert not [g for g in dev.by_type("aws:eks/nodeGroup:NodeGroup") if "loadgen" in g.name]
    assert "t-loadgen" not in {t.name for t in dev.by_type("aws:ec2/launchTemplate:LaunchTemplate")}


def test_launch_templates_imdsv2_one_hop_encrypted_gp3_user_data(prod: engine.Recording) -> None:
    for role in ("system", "emqx", "loadgen"):
        lt = prod.one("aws:ec2/launchTemplate:LaunchTemplate", f"t-{role}").inputs
        assert lt["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                         "httpPutResponseHopLimit": 1, "instanceMetadataTags": "disabled"}
        (disk,) = lt["blockDeviceMappings"]
        assert disk["deviceName"] == "/dev/xvda"
        assert disk["ebs"]["volumeType"] == "gp3" and disk["ebs"]["encrypted"] == "true"
        assert lt["vpcSecurityGroupIds"] == [CLUSTER_SG, rid("t-nodes")]
        assert "imageId" not in lt and "iamInstanceProfile" not in lt and "instanceType" not in lt
        assert {s["resourceType"] for s in lt["tagSpecifications"]} == {"instance", "volume", "network-interface"}
        if role == "system":
            assert "userData" not in lt
        else:
            assert base64.b64decode(lt["userData"]).decode() == USER_DATA
    assert prod.one("aws:ec2/launchTemplate:LaunchTemplate", "t-emqx").inputs["blockDeviceMappings"][0]["ebs"][
        "volumeSize"] == 60


def test_node_role_and_security_group(prod: engine.Recording) -> None:
    attached = {a.inputs["policyArn"] for a in prod.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if a.inputs["role"] == "t-nodes"}
    assert attached == {"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
                        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly"}
    trust = json.loads(prod.one("aws:iam/role:Role", "t-nodes").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    sg = prod.one("aws:ec2/securityGroup:SecurityGroup", "t-nodes").inputs
    assert "ingress" not in sg and sg["vpcId"] == rid("t-vpc")
    assert not prod.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    for group in prod.by_type("aws:eks/nodeGroup:NodeGroup"):
        # Nodes boot with a route out (image pulls, joining) and with the node role's policies.
        assert {f"t-private-{z}" for z in ZONES} <= set(group.dependencies)
        assert {"t-nodes-AmazonEKSWorkerNodePolicy", "t-nodes-AmazonEC2ContainerRegistryPullOnly"} <= set(
            group.dependencies)


def test_user_data_over_the_ec2_limit_is_refused() -> None:
    big = NodeGroupSpec(role="emqx", instance_types=("c7g.xlarge",), scaling=(Scaling(1, 1, 1), None),
                        user_data="x" * (16 * 1024 + 1))
    system = group_specs(False)[0]

    def build() -> None:
        EksNodeGroups("u", cluster_name="c", cluster_security_group_id="sg", vpc_id="vpc", zones=ZONES[:2],
                      subnet_ids=["s1", "s2"], groups=[system, big], tags=TAGS)

    with pytest.raises(ValueError, match="over EC2's 16384"):
        run(build)


def test_everything_that_takes_tags_is_tagged(prod: engine.Recording) -> None:
    checked = 0
    for resource in prod.resources:
        if not resource.custom or not resource.type.startswith("aws:"):
            continue
        module, cls = resource.type.split(":")[1].split("/")[0], resource.type.rsplit(":", 1)[1]
        args_class = getattr(getattr(aws, module), f"{cls}Args")
        if "tags" not in inspect.signature(args_class.__init__).parameters:
            continue
        checked += 1
        tags = resource.inputs.get("tags", {})
        assert tags.get("stack") == "t" and tags.get("project") == "emqx-platform", resource.name
        assert tags.get("component") in {"network", "cluster", "nodes"}, resource.name
    assert checked >= 30  # VPC, subnets, NATs, route tables, IAM roles, cluster, entries, add-ons, groups...


def test_every_resource_is_a_child_of_its_component(prod: engine.Recording) -> None:
    components = {r.urn for r in prod.resources if not r.custom}
    assert {r.type for r in prod.resources if not r.custom} == {
        "emqx-platform:aws:Network", "emqx-platform:aws:EksCluster", "emqx-platform:aws:NodeGroups"}
    orphans = [r.name for r in prod.resources if r.custom and r.parent_urn not in components]
    assert not orphans
