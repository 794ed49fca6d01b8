"""target aws: every aws rule of the settings with a value it takes and each refusal (key, what, fix); every problem
at once; the shipped aws stacks. Pure: no Pulumi engine. The Alibaba rules stay covered by the other settings tests."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from components.aws import versions as eks_versions
from components.aws.address_plan import MAX_ZONES
from components.catalogue import aws as aws_catalogue
from components.settings import cluster as cluster_module
from tests.test_runbook import shipped_settings
from tests.test_settings import ALICLOUD, ok, one_about, problems, with_changes

ADMIN = "arn:aws:iam::111122223333:role/platform-admin"
AWS: dict[str, Any] = {
    "target": "aws",
    "cloud": {"region": "us-east-1", "zones": ["us-east-1a", "us-east-1b"]},
    "cluster": {"admins": [ADMIN]},
    "emqx": {"edition": "opensource", "version": "5.8.9", "capacity": {"connections": 20000, "messageRate": 2000}},
}
PRODUCTION: dict[str, Any] = {
    **AWS,
    "production": True,
    "cloud": {"region": "us-east-1", "zones": ["us-east-1a", "us-east-1b", "us-east-1c"]},
    "nodePools": {"emqx": {"instanceTypes": ["c7g.16xlarge"]}},
    "emqx": {"edition": "enterprise", "version": "5.10.3", "cores": 3, "replicants": 3,
             "capacity": {"connections": 1_000_000, "messageRate": 500_000, "payloadBytes": 1024}},
    "licenseKey": "a-licence",
}


def about(values: dict[str, Any], key: str) -> str:
    return one_about(problems(values), key)


# --- the smallest aws config, and what it defaults to ---------------------------------------------------------


def test_the_smallest_aws_config_is_complete() -> None:
    s = ok(AWS)
    assert s.target == "aws" and s.aws is not None and s.network is not None and s.cloud is not None
    assert s.aws.admin_principal_arns == (ADMIN,)
    assert s.aws.log_types == ("api", "audit", "authenticator")
    assert (s.aws.log_retention_days, s.aws.support_type) == (90, "STANDARD")
    assert s.aws.nat_per_zone is False and s.aws.cross_zone is True
    # The AWS plan lives on settings.aws; the Alibaba plan field stays empty.
    assert s.network.plan is None and s.network.pod_cidr is None and s.network.plugin == "vpc-cni"
    assert s.network.service_cidr == "172.20.0.0/16" and s.network.vpc_cidr == "10.0.0.0/16"
    assert [z.zone for z in s.aws.plan.zones] == ["us-east-1a", "us-east-1b"]
    assert s.aws.plan.service_cidr == "172.20.0.0/16"
    assert (s.cluster.kubernetes_version, s.cluster.kubernetes_minor) == ("1.35", "1.35")
    assert s.load_balancer.type == "nlb" and s.load_balancer.idle_timeout_seconds == 900
    assert s.system_pool is not None and s.system_pool.instance_types == ("c7g.xlarge",)
    assert s.system_pool.disk_category == "gp3"
    assert s.loadgen_pool is not None and s.loadgen_pool.instance_types == ("c7g.2xlarge",)
    # The planner chose from the AWS catalogue, and the sizing knows its shape.
    assert s.emqx_pool is not None and s.emqx_pool.instance_types[0] in aws_catalogue.INSTANCE_TYPES
    assert s.warnings == ()


def test_production_takes_a_nat_per_zone_and_protection() -> None:
    s = ok(PRODUCTION)
    assert s.aws is not None and s.aws.nat_per_zone is True and len(s.aws.plan.zones) == 3
    assert s.cluster.deletion_protection and s.load_balancer.deletion_protection
    assert s.emqx_pool is not None and s.emqx_pool.instance_types == ("c7g.16xlarge",)
    # Pinned larger than the planner's fleet: the note names the AWS catalogue.
    assert any("components/catalogue/aws.py" in n for n in s.sizing.notes)


def test_the_aws_only_keys_take_their_values() -> None:
    s = ok(with_changes(AWS, cluster__logTypes=["api", "scheduler", "controllerManager"], cluster__logRetentionDays=0,
                        cluster__supportType="EXTENDED", network__natPerZone=True, loadBalancer__crossZone=False))
    assert s.aws is not None
    assert s.aws.log_types == ("api", "scheduler", "controllerManager")
    assert (s.aws.log_retention_days, s.aws.support_type) == (0, "EXTENDED")
    assert s.aws.nat_per_zone is True and s.aws.cross_zone is False


# --- cluster.admins ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arn", [
    "arn:aws:iam::111122223333:role/platform-admin",
    "arn:aws:iam::111122223333:role/development/apps/my-role",  # access entries take a role path
    "arn:aws:iam::111122223333:user/alice",
])
def test_iam_roles_and_users_are_admins(arn: str) -> None:
    s = ok(with_changes(AWS, cluster__admins=[arn]))
    assert s.aws is not None and s.aws.admin_principal_arns == (arn,)


def test_admins_are_required() -> None:
    msg = about(with_changes(AWS, cluster__admins=None), "cluster.admins")
    assert "is required but not set" in msg and "whatever runs `pulumi up` must be one of them" in msg


def test_an_assumed_role_session_is_refused_with_the_role_to_use() -> None:
    session = "arn:aws:sts::111122223333:assumed-role/platform-admin/alice@example.com"
    msg = about(with_changes(AWS, cluster__admins=[session]), "cluster.admins[0]")
    assert "is an assumed-role session, not an IAM role" in msg
    assert "use the role's ARN: arn:aws:iam::111122223333:role/platform-admin" in msg


@pytest.mark.parametrize("arn", ["platform-admin", "arn:aws:iam::1111:role/x", "arn:aws:iam::111122223333:group/g",
                                 "arn:aws:s3:::bucket", "arn:azure:iam::111122223333:role/x"])
def test_what_is_not_an_iam_principal_is_refused(arn: str) -> None:
    msg = about(with_changes(AWS, cluster__admins=[arn]), "cluster.admins[0]")
    assert "is not an IAM role or user ARN" in msg and "arn:aws:iam::<12-digit account>:role/<name>" in msg


def test_an_admin_of_another_partition_is_refused() -> None:
    values = with_changes(AWS, cloud={"region": "us-gov-west-1", "zones": ["us-gov-west-1a", "us-gov-west-1b"]})
    msg = about(values, "cluster.admins[0]")
    assert "partition aws, but cloud.region us-gov-west-1 is in aws-us-gov" in msg
    ok(with_changes(values, cluster__admins=["arn:aws-us-gov:iam::111122223333:role/admin"]))


# --- logs and support ---------------------------------------------------------------------------------------------


def test_an_unknown_log_type_is_refused() -> None:
    msg = about(with_changes(AWS, cluster__logTypes=["api", "kubelet"]), "cluster.logTypes[1]")
    assert "'kubelet' is not an EKS control-plane log type" in msg and "controllerManager" in msg


def test_a_retention_cloudwatch_does_not_take_is_refused() -> None:
    msg = about(with_changes(AWS, cluster__logRetentionDays=45), "cluster.logRetentionDays")
    assert "45 is not a retention period CloudWatch Logs accepts" in msg and "30, 60, 90" in msg


def test_an_unknown_support_type_is_refused() -> None:
    msg = about(with_changes(AWS, cluster__supportType="standard"), "cluster.supportType")
    assert "'standard' is not one of STANDARD, EXTENDED" in msg


@pytest.mark.parametrize("key,value", [("cluster__admins", [ADMIN]), ("cluster__logTypes", ["api"]),
                                       ("cluster__logRetentionDays", 30), ("cluster__supportType", "STANDARD"),
                                       ("network__natPerZone", True), ("loadBalancer__crossZone", True)])
def test_aws_only_keys_are_refused_on_alicloud(key: str, value: Any) -> None:
    msg = about(with_changes(ALICLOUD, **{key: value}), key.replace("__", "."))
    assert "only applies when target is 'aws' (target is 'alicloud')" in msg and "remove it" in msg


# --- cloud -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["us-east-1", "ap-southeast-1", "us-gov-west-1", "eu-central-2"])
def test_aws_regions_are_taken(region: str) -> None:
    s = ok(with_changes(AWS, cloud={"region": region, "zones": [region + "a", region + "b"]}, cluster__admins=[
        f"arn:{'aws-us-gov' if region.startswith('us-gov') else 'aws'}:iam::111122223333:role/admin"]))
    assert s.cloud is not None and s.cloud.region == region


@pytest.mark.parametrize("region", ["cn-hangzhou", "US-EAST-1", "us-east", "useast1", "us-east-1\n"])
def test_what_is_not_an_aws_region_is_refused(region: str) -> None:
    msg = about(with_changes(AWS, cloud__region=region), "cloud.region")
    assert "an AWS region code such as us-east-1" in msg


def test_a_zone_of_another_region_is_refused() -> None:
    msg = about(with_changes(AWS, cloud__zones=["us-east-1a", "us-west-2a"]), "cloud.zones[1]")
    assert "'us-west-2a' is not an Availability Zone of us-east-1" in msg and "e.g. us-east-1a" in msg


def test_local_and_wavelength_zones_are_refused() -> None:
    msg = about(with_changes(AWS, cloud__zones=["us-east-1a", "us-east-1-bos-1a"]), "cloud.zones[1]")
    assert "is a Local Zone or Wavelength Zone, where EKS cluster subnets cannot be" in msg


def test_zone_counts() -> None:
    assert "needs at least 2" in about(with_changes(AWS, cloud__zones=["us-east-1a"]), "cloud.zones")
    three = about(with_changes(PRODUCTION, cloud__zones=["us-east-1a", "us-east-1b"]), "cloud.zones")
    assert "needs at least 3" in three
    many = [f"us-east-1{c}" for c in "abcdef"[: MAX_ZONES + 1]]
    msg = about(with_changes(AWS, cloud__zones=many), "cloud.zones")
    assert f"the AWS address plan has {MAX_ZONES} fixed subnet slots" in msg


def test_extra_zones_are_alibabas() -> None:
    msg = about(with_changes(AWS, cloud__extraZones=["us-east-1a"]), "cloud.extraZones")
    assert "applies to alicloud only" in msg


def test_the_aws_provider_region_must_agree() -> None:
    msg = about({**AWS, "aws:region": "eu-west-1"}, "aws:region")
    assert "differs from cloud.region (us-east-1)" in msg
    ok({**AWS, "aws:region": "us-east-1"})


# --- network -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["plugin", "podCidr"])
def test_overlay_keys_are_refused_with_why(key: str) -> None:
    msg = about(with_changes(AWS, **{f"network__{key}": "flannel" if key == "plugin" else "172.20.0.0/16"}),
                f"network.{key}")
    assert "the VPC CNI gives pods addresses from the nodes' subnets" in msg and "remove it" in msg


def test_the_service_range_must_fit_eks() -> None:
    overlap = about(with_changes(AWS, network__serviceCidr="10.0.128.0/20"), "network.serviceCidr")
    assert "overlaps network.vpcCidr 10.0.0.0/16" in overlap
    small = about(with_changes(AWS, network__serviceCidr="172.20.0.0/25"), "network.serviceCidr")
    assert "AWS accepts Service CIDRs from /12 to /24" in small
    s = ok(with_changes(AWS, network__serviceCidr="10.100.0.0/16"))
    assert s.aws is not None and s.aws.plan.service_cidr == "10.100.0.0/16"


def test_the_vpc_must_fit_aws() -> None:
    msg = about(with_changes(AWS, network__vpcCidr="10.0.0.0/8"), "network.vpcCidr")
    assert "AWS accepts VPC CIDRs from /16 to /28" in msg


def test_client_and_admin_ranges_are_read_as_on_alibaba() -> None:
    s = ok(with_changes(AWS, network__clientCidrs=["10.0.0.0/8"], network__adminCidrs=["10.0.5.0/24"]))
    assert s.network is not None and s.network.client_cidrs == ("10.0.0.0/8",)
    assert s.network.admin_cidrs == ("10.0.5.0/24",)
    assert "opens the dashboard" in about(with_changes(AWS, network__adminCidrs=["0.0.0.0/0"]),
                                          "network.adminCidrs[0]")


# --- cluster -----------------------------------------------------------------------------------------------------


def test_eks_minors() -> None:
    s = ok(with_changes(AWS, cluster__kubernetesVersion="1.36"))
    assert s.cluster.kubernetes_minor == "1.36"
    msg = about(with_changes(AWS, cluster__kubernetesVersion="1.33"), "cluster.kubernetesVersion")
    assert "1.33 is not a version this program deploys on EKS" in msg
    ack = about(with_changes(AWS, cluster__kubernetesVersion="1.35.7-aliyun.1"), "cluster.kubernetesVersion")
    assert "an EKS Kubernetes minor such as 1.35" in ack


def test_a_minor_past_standard_support_warns_and_past_extended_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    minor = eks_versions.BY_VERSION["1.34"]
    monkeypatch.setattr(cluster_module, "today", lambda: minor.end_of_standard)
    s = ok(with_changes(AWS, cluster__kubernetesVersion="1.34"))
    (warning,) = s.warnings
    assert warning.startswith("cluster.kubernetesVersion: 1.34 left EKS standard support on 2026-12-02")
    monkeypatch.setattr(cluster_module, "today", lambda: minor.end_of_extended)
    msg = about(with_changes(AWS, cluster__kubernetesVersion="1.34"), "cluster.kubernetesVersion")
    assert "left EKS extended support on 2027-12-02" in msg


def test_today_is_the_real_date() -> None:
    assert abs((cluster_module.today() - date.today()).days) <= 1


@pytest.mark.parametrize("key,value,why", [
    ("spec", "ack.pro.small", "the EKS control plane has one edition"),
    ("nodeImage", "AliyunLinux3", "AL2023 EKS-optimised AMI"),
    ("allowUnlistedVersion", True, "support dates"),
])
def test_ack_only_cluster_keys_are_refused_with_why(key: str, value: Any, why: str) -> None:
    msg = about(with_changes(AWS, **{f"cluster__{key}": value}), f"cluster.{key}")
    assert "applies to alicloud (ACK) only" in msg and why in msg and msg.endswith("; remove it")


def test_the_api_endpoint_rules_on_eks() -> None:
    bound = about(with_changes(AWS, cluster__apiServer={"accessListBound": True}), "cluster.apiServer.accessListBound")
    assert "EKS enforces cluster.apiServer.allowedCidrs on its public endpoint itself" in bound
    # EKS's default public_access_cidrs is 0.0.0.0/0: refused even outside production.
    msg = about(with_changes(AWS, cluster__apiServer={"public": True}), "cluster.apiServer.public")
    assert "open to the whole internet" in msg
    # A listed range is enforced by EKS: no accessListBound needed, in production either.
    s = ok(with_changes(PRODUCTION, cluster__apiServer={"public": True, "allowedCidrs": ["203.0.113.0/24"]}))
    assert s.cluster.api_server.public and s.cluster.api_server.allowed_cidrs == ("203.0.113.0/24",)


# --- node pools --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("instance_type", ["c7g.4xlarge", "m7i-flex.large", "c6in.xlarge", "r7iz.metal-16xl"])
def test_ec2_instance_types_are_taken(instance_type: str) -> None:
    s = ok(with_changes(AWS, nodePools__system={"instanceTypes": [instance_type]}))
    assert s.system_pool is not None and s.system_pool.instance_types == (instance_type,)


def test_what_is_not_an_ec2_type_is_refused() -> None:
    msg = about(with_changes(AWS, nodePools__system={"instanceTypes": ["ecs.c7.xlarge"]}),
                "nodePools.system.instanceTypes[0]")
    assert "'ecs.c7.xlarge' is not an EC2 instance type" in msg and "c7g.4xlarge" in msg


def test_one_architecture_per_pool() -> None:
    msg = about(with_changes(AWS, nodePools__system={"instanceTypes": ["c7g.xlarge", "c6in.xlarge"]}),
                "nodePools.system.instanceTypes")
    assert "mixes x86_64 (c6in.xlarge) and arm64 (c7g.xlarge)" in msg and "one architecture per group" in msg


def test_gp3_only() -> None:
    msg = about(with_changes(AWS, nodePools__emqx={"diskCategory": "gp2"}), "nodePools.emqx.diskCategory")
    assert "'gp2' is refused: the node groups' root volumes are encrypted gp3" in msg
    s = ok(with_changes(AWS, nodePools__emqx={"diskCategory": "gp3"}))
    assert s.emqx_pool is not None and s.emqx_pool.disk_category == "gp3"


def test_a_pinned_emqx_type_must_be_in_the_aws_catalogue() -> None:
    msg = about(with_changes(AWS, nodePools__emqx={"instanceTypes": ["m7i.large"]}), "nodePools.emqx.instanceTypes[0]")
    assert "is not in the sizing table" in msg and "components/catalogue/aws.py" in msg


def test_load_generators_are_sized_from_the_aws_catalogue() -> None:
    values = with_changes(AWS, emqx__auth={"allowAnonymous": True},
                          loadTest={"runs": [{"name": "a", "connections": 1000}]})
    s = ok(values)
    assert s.loadgen_pool is not None and s.loadgen_pool.enabled and s.loadgen_pool.count >= 1


# --- load balancer -----------------------------------------------------------------------------------------------


def test_nlb_limits() -> None:
    s = ok(with_changes(AWS, loadBalancer={"idleTimeoutSeconds": 6000, "healthCheck": {
        "intervalSeconds": 300, "timeoutSeconds": 120, "healthyThreshold": 10, "unhealthyThreshold": 10}}))
    hc = s.load_balancer.health_check
    assert s.load_balancer.idle_timeout_seconds == 6000
    assert (hc.interval_seconds, hc.timeout_seconds, hc.healthy_threshold, hc.unhealthy_threshold) == (300, 120, 10, 10)
    assert "above the maximum 6000" in about(with_changes(AWS, loadBalancer__idleTimeoutSeconds=6001),
                                             "loadBalancer.idleTimeoutSeconds")
    low = about(with_changes(AWS, loadBalancer__idleTimeoutSeconds=59), "loadBalancer.idleTimeoutSeconds")
    assert "below the minimum 60" in low and "an NLB's TCP idle timeout is 60 to 6000 s" in low
    for field, value, words in (("intervalSeconds", 4, "an NLB checks every 5 to 300 s"),
                                ("intervalSeconds", 301, "an NLB checks every 5 to 300 s"),
                                ("timeoutSeconds", 1, "2 to 120 s"), ("timeoutSeconds", 121, "2 to 120 s"),
                                ("healthyThreshold", 11, "use at most 10"), ("unhealthyThreshold", 1, "at least 2")):
        msg = about(with_changes(AWS, loadBalancer__healthCheck={field: value}), f"loadBalancer.healthCheck.{field}")
        assert words in msg, (field, value, msg)


def test_the_nlb_security_group_stays_within_ec2s_rule_quota() -> None:
    # Amazon VPC quotas: 60 inbound rules per security group by default; the NLB's group takes one per served MQTT
    # port and client range plus one per admin range (components/aws/load_balancer.py).
    ok(with_changes(AWS, network__clientCidrs=[f"10.{i}.0.0/16" for i in range(14)],
                    network__adminCidrs=[f"192.168.{i}.0/24" for i in range(4)]))
    msg = about(with_changes(AWS, network__clientCidrs=[f"10.{i}.0.0/16" for i in range(15)]), "network.clientCidrs")
    assert "4 MQTT ports x 15 client ranges + 1 admin ranges make 61 rules" in msg and "quota of 60" in msg


def test_the_health_check_timeout_stays_below_the_interval() -> None:
    # ELBv2 refuses a target group whose health-check timeout is not below its interval ("Health check interval
    # must be greater than the timeout": aws-load-balancer-controller issue #2951 on an NLB; terraform-provider-aws
    # PR #48071): the defaults and the shipped stacks must pass it, and a config that breaks it is refused.
    for values in (AWS, PRODUCTION, with_changes(AWS, loadBalancer__healthCheck={"intervalSeconds": 30})):
        hc = ok(values).load_balancer.health_check
        assert hc.timeout_seconds < hc.interval_seconds, hc
    for stack in ("aws-dev", "aws-prod"):
        hc = shipped_settings(stack).load_balancer.health_check
        assert hc.timeout_seconds < hc.interval_seconds, (stack, hc)
    msg = about(with_changes(AWS, loadBalancer__healthCheck={"intervalSeconds": 10, "timeoutSeconds": 10}),
                "loadBalancer.healthCheck.timeoutSeconds")
    assert "not below healthCheck.intervalSeconds (10s)" in msg and "use at most 9" in msg


@pytest.mark.parametrize("key,value,why", [
    ("type", "clb", "on aws the stack builds a Network Load Balancer"),
    ("scheduler", "wrr", "flow hash"),
    ("spec", "slb.s1.small", "an NLB takes no size"),
])
def test_alibaba_load_balancer_keys_are_refused_with_why(key: str, value: str, why: str) -> None:
    msg = about(with_changes(AWS, **{f"loadBalancer__{key}": value}), f"loadBalancer.{key}")
    assert why in msg


def test_the_idle_timeout_still_outlasts_the_keepalive() -> None:
    msg = about(with_changes(AWS, loadBalancer__idleTimeoutSeconds=60, emqx__keepaliveSeconds=60),
                "loadBalancer.idleTimeoutSeconds")
    assert "not above 1.5 x emqx.keepaliveSeconds" in msg


# --- storage, tags -----------------------------------------------------------------------------------------------


def test_gp3_takes_a_small_core_volume() -> None:
    s = ok(with_changes(AWS, emqx__coreStorage={"sizeGiB": 1}))
    assert s.emqx.core_storage_gib == 1


def test_aws_tags() -> None:
    ok(with_changes(AWS, tags={f"t{i}": "v" for i in range(44)}))
    msg = about(with_changes(AWS, tags={f"t{i}": "v" for i in range(45)}), "tags")
    assert "AWS allows 50 per resource and the program sets up to 6" in msg and "use at most 44" in msg
    assert "the aws: prefix is reserved" in about(with_changes(AWS, tags={"aws:team": "a"}), "tags.aws:team")
    assert "Name are set by the program" in about(with_changes(AWS, tags={"Name": "a"}), "tags")
    # IAM's Tag type (the roles and the EKS cluster carry the stack's tags) takes [\p{L}\p{Z}\p{N}_.:/=+\-@] only
    # and reserves aws: in values too (IAM API Reference, Tag; Tagging User Guide).
    ok(with_changes(AWS, tags={"cost center": "RD 42", "owner": "team@example.com", "path": "a/b:c=d+e_f.g"}))
    assert "',', which AWS tags (IAM, EKS) do not take" in about(with_changes(AWS, tags={"team": "a,b"}), "tags.team")
    assert "'#', which AWS tags" in about(with_changes(AWS, tags={"team#": "a"}), "tags.team#")
    assert "in tag values too" in about(with_changes(AWS, tags={"team": "aws:x"}), "tags.team")


# --- every problem at once ---------------------------------------------------------------------------------------


def test_every_aws_problem_is_listed_at_once() -> None:
    values = with_changes(
        AWS,
        cloud__zones=["us-east-1a", "us-west-2b"],
        cluster__admins=["arn:aws:sts::111122223333:assumed-role/admin/me"],
        cluster__logTypes=["kubelet"],
        cluster__logRetentionDays=45,
        cluster__spec="ack.standard",
        network__plugin="terway",
        nodePools__system={"instanceTypes": ["c7g.xlarge", "c6in.xlarge"], "diskCategory": "gp2"},
        loadBalancer={"type": "clb", "scheduler": "wlc", "idleTimeoutSeconds": 30},
        tags={"aws:x": "y"},
    )
    found = problems(values)
    keys = {p.split(":", 1)[0] for p in found}
    assert {"cloud.zones[1]", "cluster.admins[0]", "cluster.logTypes[0]", "cluster.logRetentionDays",
            "cluster.spec", "network.plugin", "nodePools.system.instanceTypes", "nodePools.system.diskCategory",
            "loadBalancer.type", "loadBalancer.scheduler", "loadBalancer.idleTimeoutSeconds"} <= keys, found
    assert any(p.startswith("tags.aws:x:") for p in found), found


# --- the shipped aws stacks --------------------------------------------------------------------------------------


def test_the_aws_dev_stack_parses() -> None:
    s = shipped_settings("aws-dev")
    assert s.target == "aws" and not s.production and s.aws is not None
    assert s.cloud is not None and s.cloud.zones == ("us-east-1a", "us-east-1b")
    assert s.emqx.release.open_source and s.emqx.release.version.startswith("5.8.")
    assert s.aws.nat_per_zone is False and not s.cluster.deletion_protection
    assert all(a.startswith("arn:aws:iam::111122223333:") for a in s.aws.admin_principal_arns)


def test_the_aws_prod_stack_is_the_seed_scenario_under_production_rules() -> None:
    s, prod = shipped_settings("aws-prod"), shipped_settings("prod")
    assert s.target == "aws" and s.production and s.aws is not None and s.cloud is not None
    assert len(s.cloud.zones) == 3 and s.aws.nat_per_zone and s.cluster.deletion_protection
    assert s.has_license and not s.emqx.release.open_source
    # The same workload settings as the Alibaba seed stack.
    assert s.emqx.capacity == prod.emqx.capacity and s.emqx.release == prod.emqx.release
    assert (s.sizing.cores, s.sizing.replicants) == (prod.sizing.cores, prod.sizing.replicants)
    assert s.monitoring == prod.monitoring and s.rebalance == prod.rebalance and s.tuning == prod.tuning
    assert s.emqx.auth == prod.emqx.auth
