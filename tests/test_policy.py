"""The policy pack (policy/): each policy on hand-built resources through pulumi-policy's own argument types, the
whole pack over every shipped stack's offline plan, and mutated plans that must fail with the expected policy."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy import pack, rules
from preview import engine, writers
from tests.conftest import REPO_ROOT, StackRunner
from tools import policy_check

PROD = rules.StackFacts(stack="prod", production=True, cidrs=("10.20.0.0/16", "172.20.0.0/16", "10.0.0.0/8"))
DEV = rules.StackFacts(stack="dev", production=False, cidrs=("10.10.0.0/16",))
SHIPPED = ("dev", "prod", "local", "aws-dev", "aws-prod", "vm-dev", "vm-prod")


def _options(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _policy(name: str, facts: rules.StackFacts) -> Any:
    return next(p for p in pack.policies(lambda: facts) if p.name == name)


def violations(name: str, type_: str, inputs: Mapping[str, Any], *, protect: bool = False,
               facts: rules.StackFacts = PROD) -> list[str]:
    """The messages one policy reports for one resource, called as the CLI's analyzer calls it."""
    policy = _policy(name, facts)
    assert isinstance(policy, ResourceValidationPolicy)
    found: list[str] = []
    args = ResourceValidationArgs(type_, inputs, f"urn:pulumi:t::emqx-platform::{type_}::r", "r", _options(protect),
                                  None)
    policy.validate(args, lambda message, urn=None: found.append(message))
    return found


def _sg_rule(cidr: str, ports: str = "18083/18083", protocol: str = "tcp", description: str = "") -> dict[str, Any]:
    return {"cidrIp": cidr, "ipProtocol": protocol, "portRange": ports, "type": "ingress", "policy": "accept",
            "nicType": "intranet", "description": description}


# ------------------------------------------------------------------------------------------ one policy at a time


@pytest.mark.parametrize(("rule", "expected"), [
    (_sg_rule("0.0.0.0/0"), True),
    (_sg_rule("0.0.0.0/0", "6443/6443"), True),
    (_sg_rule("0.0.0.0/0", "1/65535"), True),
    (_sg_rule("0.0.0.0/0", "-1/-1", "all"), True),
    (_sg_rule("0.0.0.0/0", "31808/31808", description="EMQX dashboard and API"), True),
    (_sg_rule("10.20.0.0/16"), False),
    (_sg_rule("0.0.0.0/0", "1883/1883", description="MQTT clients"), False),
    (_sg_rule("0.0.0.0/0", "-1/-1", "icmp"), False),
    # Wider than a /8 is public too (the settings' line for network.adminCidrs): half the internet, twice.
    (_sg_rule("0.0.0.0/1"), True),
    (_sg_rule("128.0.0.0/1", "6443/6443"), True),
    (_sg_rule("64.0.0.0/7"), True),
    (_sg_rule("10.0.0.0/8"), False),
    (_sg_rule("0.0.0.0/1", "1883/1883", description="MQTT clients"), False),
])
def test_admin_ports_never_open_to_everyone(rule: dict[str, Any], expected: bool) -> None:
    found = violations("admin-never-public", rules.SECURITY_GROUP_RULE, rule)
    assert bool(found) is expected, found


def test_admin_access_lists_refuse_everyone() -> None:
    assert violations("admin-never-public", rules.ACL_ENTRY, {"aclId": "a", "entry": "0.0.0.0/0"})
    assert violations("admin-never-public", rules.ACL, {"entryLists": [{"entry": "0.0.0.0/0"}]})
    assert not violations("admin-never-public", rules.ACL_ENTRY, {"aclId": "a", "entry": "10.20.0.0/16"})
    assert not violations("admin-never-public", rules.ACL_ENTRY, {"aclId": "a", "entry": "10.0.0.0/8"})
    # Any entry wider than a /8 lets a large part of the internet reach the API server.
    assert violations("admin-never-public", rules.ACL_ENTRY, {"aclId": "a", "entry": "0.0.0.0/1"})
    assert violations("admin-never-public", rules.ACL, {"entryLists": [{"entry": "10.0.0.0/8"},
                                                                      {"entry": "128.0.0.0/2"}]})


@pytest.mark.parametrize(("cidr", "protocol", "expected"), [
    ("10.20.0.0/16", "tcp", False),
    ("10.20.64.0/18", "tcp", False),  # a vSwitch inside the VPC
    ("10.1.2.0/24", "tcp", False),  # inside a client CIDR
    ("10.0.0.0/7", "tcp", True),  # wider than any of them
    ("192.168.0.0/16", "tcp", True),
    ("0.0.0.0/0", "icmp", False),  # path-MTU discovery, no port
    ("0.0.0.0/0", "udp", True),
])
def test_rules_stay_within_the_stacks_cidrs(cidr: str, protocol: str, expected: bool) -> None:
    found = violations("rules-within-stack-cidrs", rules.SECURITY_GROUP_RULE, _sg_rule(cidr, "1883/1883", protocol))
    assert bool(found) is expected, found


@pytest.mark.parametrize(("type_", "inputs"), [
    (rules.VPC, {"cidrBlock": "10.20.0.0/16"}),
    (rules.CLUSTER, {"deletionProtection": True}),
    (rules.CLB, {"deleteProtection": "on"}),
    (rules.NLB, {"deletionProtectionConfig": {"enabled": True}}),
])
def test_production_keeps_network_cluster_and_load_balancer(type_: str, inputs: dict[str, Any]) -> None:
    name = "production-deletion-protection"
    assert not violations(name, type_, inputs, protect=True)
    assert violations(name, type_, inputs, protect=False)  # protect missing
    assert not violations(name, type_, inputs, protect=False, facts=DEV)  # not production: nothing asked
    if type_ != rules.VPC:  # the VPC has no cloud-side switch (pulumi_alicloud vpc.Network)
        unprotected = {k: (False if v is True else "off" if v == "on" else {"enabled": False})
                       for k, v in inputs.items()}
        assert violations(name, type_, unprotected, protect=True)


@pytest.mark.parametrize(("version", "expected"), [
    ("v1.21.1", False), ("2.2.29", False), ("1.0.0-rc.1", False),
    (None, True), ("", True), ("latest", True), ("^2.2", True), ("2.x", True), ("2.2", True),
])
def test_helm_releases_pinned(version: str | None, expected: bool) -> None:
    found = violations("pinned-versions", rules.HELM_RELEASES[0], {"chart": "emqx-operator", "version": version})
    assert bool(found) is expected, found


@pytest.mark.parametrize(("image", "expected"), [
    ("emqx/emqx:5.10.3", False),
    ("registry.example.com:5000/emqx/emqx:5.8.9", False),
    ("emqx/emqx@sha256:" + "a" * 64, False),
    ("emqx/emqx", True),
    ("registry.example.com:5000/emqx/emqx", True),
    ("emqx/emqx:latest", True),
    ("busybox:1.36.1-musl", False),
    ("quay.io/jetstack/cert-manager-controller:v1.21.1", False),
    # Floating tags: the publisher moves them to newer images.
    ("emqx/emqx:5", True),
    ("busybox:stable", True),
    ("ghcr.io/example/tool:main", True),
    ("registry.example.com:5000/emqx/emqx:5", True),
])
def test_images_pinned(image: str, expected: bool) -> None:
    inputs = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}
    found = violations("pinned-versions", "kubernetes:apps/v1:DaemonSet", inputs)
    assert bool(found) is expected, found


def test_chart_values_with_latest_tag_refused() -> None:
    inputs = {"chart": "cert-manager", "version": "v1.21.1", "values": {"image": {"tag": "latest"}}}
    assert violations("pinned-versions", rules.HELM_RELEASES[0], inputs)


@pytest.mark.parametrize(("values", "expected"), [
    ({"image": {"repository": "emqx/emqx-operator-controller", "tag": "2.2.29"}}, False),
    ({"image": {"repository": "quay.io/jetstack/cert-manager-controller", "tag": "v1.21.1"}}, False),
    ({"image": {"repository": "emqx/emqx-operator-controller"}}, False),  # the chart's appVersion
    ({"image": {"repository": "x/y", "tag": "main", "digest": "sha256:" + "b" * 64}}, False),
    ({"controller": {"image": {"repository": "x/y", "tag": 5.8}}}, False),  # YAML number, still MAJOR.MINOR
    ({"image": {"repository": "x/y", "tag": "main"}}, True),
    ({"image": {"repository": "x/y", "tag": "stable"}}, True),
    ({"controller": {"image": {"repository": "x/y", "tag": 5}}}, True),
    ({"webhook": {"repository": "x/y", "tag": "edge"}}, True),
    ({"image": {"repository": "x/y:5"}}, True),
    ({"sidecar": {"image": "busybox:stable"}}, True),
    ({"sidecar": {"imageTag": "main"}}, True),
    ({"sidecar": {"imageTag": "1.36.1"}}, False),
])
def test_chart_values_images_pinned(values: dict[str, Any], expected: bool) -> None:
    inputs = {"chart": "emqx-operator", "version": "2.2.29", "values": values}
    found = violations("pinned-versions", rules.HELM_RELEASES[0], inputs)
    assert bool(found) is expected, found


def test_secret_values_must_be_pulumi_secrets() -> None:
    name = "no-plain-text-secrets"
    assert not violations(name, rules.K8S_SECRET, {"stringData": {"license-key": rules.SECRET_TEXT}})
    assert violations(name, rules.K8S_SECRET, {"stringData": {"license-key": "plain"}})
    assert violations(name, rules.K8S_SECRET, {"data": {"password": base64.b64encode(b"hunter22").decode()}})
    # Under the real CLI secrets arrive unwrapped: the Secret check cannot tell them apart and stays silent.
    cli = rules.StackFacts(stack="prod", production=True, cidrs=(), secrets_marked=False)
    assert not violations(name, rules.K8S_SECRET, {"stringData": {"license-key": "plain"}}, facts=cli)


@pytest.mark.parametrize(("script", "expected"), [
    ("#!/bin/bash\nsysctl -w net.core.somaxconn=1024\n", False),
    ('#!/bin/bash\nPASSWORD="$(cat /run/secret)"\n', False),
    ("#!/bin/bash\nexport DB_PASSWORD=s3cretvalue99\n", True),
    ("#!/bin/bash\ncat >/root/k <<EOF\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\nEOF\n", True),
    ("#!/bin/bash\naliyun configure --access-key-id LTAI5tAbCdEfGhIjKlMn\n", True),
    # JSON (and YAML) spell the key's name in quotes.
    ('#!/bin/bash\ncat >/etc/app.json <<EOF\n{"user": "admin", "password": "s3cretvalue99"}\nEOF\n', True),
    ('#!/bin/bash\necho \'{"db_password":"s3cretvalue99"}\' >/etc/app.json\n', True),
    ('#!/bin/bash\ncat >/etc/app.json <<EOF\n{"password": "${DB_PASSWORD}"}\nEOF\n', False),
    # Bearer tokens and basic credentials in an HTTP header.
    ('#!/bin/bash\ncurl -H "Authorization: Bearer 0123456789abcdefABCDEF" https://x/\n', True),
    ('#!/bin/bash\ncurl -H "Authorization: Basic YWRtaW46cHVibGlj" https://x/\n', True),
    ('#!/bin/bash\ncurl -H "Authorization: Bearer $(cat /run/token)" https://x/\n', False),
    ('#!/bin/bash\ncurl -H "Authorization: Bearer ${TOKEN}" https://x/\n', False),
])
def test_user_data_holds_no_keys(script: str, expected: bool) -> None:
    inputs = {"preUserData": base64.b64encode(script.encode()).decode()}
    found = violations("no-plain-text-secrets", rules.NODE_POOL, inputs)
    assert bool(found) is expected, found


def test_emqx_resource_waits_for_ready() -> None:
    name = "emqx-waits-for-ready"
    ready = {"metadata": {"name": "emqx", "annotations": {"pulumi.com/waitFor": "condition=Ready"}}}
    assert not violations(name, rules.EMQX, ready)
    assert violations(name, rules.EMQX, {"metadata": {"name": "emqx"}})
    assert violations(name, rules.EMQX, {"metadata": {"name": "emqx", "annotations": {"other": "x"}}})


@pytest.mark.parametrize(("inputs", "expected"), [
    ({"spec": {"podSecurityContext": {"sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]}}}, False),
    ({"spec": {"podSecurityContext": {"sysctls": [{"name": "kernel.panic", "value": "1"}]}}}, True),
    ({"kubeletConfiguration": {"allowedUnsafeSysctls": ["net.ipv4.tcp_max_syn_backlog"]}}, False),
    ({"kubeletConfiguration": {"allowedUnsafeSysctls": ["kernel.msgmax"]}}, True),
    ({"script": "#!/bin/bash\nsysctl -q -w vm.overcommit_memory=1\n"}, True),
    ({"script": "#!/bin/bash\nsysctl -q -w \"$key=$want\"\n"}, False),
    # Quoted arguments, several at once, slashed keys.
    ({"script": "#!/bin/bash\nsysctl -w \"kernel.panic=1\"\n"}, True),
    ({"script": "#!/bin/bash\nsysctl -w 'kernel.panic=1'\n"}, True),
    ({"script": "#!/bin/bash\nsysctl -w net.core.somaxconn=1024 kernel.panic=1\n"}, True),
    ({"script": "#!/bin/bash\nsysctl -w \"net.core.somaxconn=1024\"\n"}, False),
    ({"script": "#!/bin/bash\nsysctl -w kernel/panic=1\n"}, True),
    # Writes to the kernel's files under /proc/sys.
    ({"script": "#!/bin/bash\necho 1 > /proc/sys/kernel/panic\n"}, True),
    ({"script": "#!/bin/bash\necho 1 | tee -a /proc/sys/kernel/panic\n"}, True),
    ({"script": "#!/bin/bash\necho 1024 >/proc/sys/net/core/somaxconn\n"}, False),
    ({"script": "#!/bin/bash\nmax=$(cat /proc/sys/kernel/panic)\n"}, False),  # a read sets nothing
    # A comment names nothing.
    ({"script": "#!/bin/bash\n# sysctl -w kernel.panic=1 would reboot\n"}, False),
])
def test_sysctls_only_from_the_catalogue(inputs: dict[str, Any], expected: bool) -> None:
    assert "kernel.panic" not in rules.StackFacts("t", False, ()).sysctls  # the premise of the failing cases
    found = violations("sysctls-in-catalogue", rules.NODE_POOL, inputs)
    assert bool(found) is expected, found


def test_sysctls_in_user_data_heredoc_are_read() -> None:
    script = "x <<'EMQX_SYSCTLS'\nfs.file-max raise 1\nkernel.shmmax set 2\nEMQX_SYSCTLS\n"
    inputs = {"preUserData": base64.b64encode(script.encode()).decode()}
    found = violations("sysctls-in-catalogue", rules.NODE_POOL, inputs)
    assert len(found) == 1 and "kernel.shmmax" in found[0] and "fs.file-max" not in found[0]


@pytest.mark.parametrize(("script", "expected"), [
    ("cat > /etc/sysctl.d/90-x.conf <<EOF\nnet.core.somaxconn = 1024\nkernel.panic = 1\nEOF\n", True),
    ("cat <<'EOF' > /etc/sysctl.d/90-x.conf\n# a comment\n-kernel.panic=1\nEOF\n", True),
    ("tee -a /etc/sysctl.conf <<-END\n\tkernel/panic = 1\n\tEND\n", True),
    ("echo \"kernel.panic = 1\" >> /etc/sysctl.d/90-x.conf\n", True),
    ("echo 'kernel.panic=1' > /etc/sysctl.conf\n", True),
    ("cat > /etc/sysctl.d/90-x.conf <<EOF\nnet.core.somaxconn = 1024\nEOF\n", False),
    ("cat > /etc/app.conf <<EOF\nkernel.panic = 1\nEOF\n", False),  # not a file sysctl reads
])
def test_sysctl_files_in_user_data_are_read(script: str, expected: bool) -> None:
    inputs = {"userData": base64.b64encode(f"#!/bin/bash\n{script}".encode()).decode()}
    found = violations("sysctls-in-catalogue", rules.NODE_POOL, inputs)
    assert bool(found) is expected, found
    assert not expected or "kernel.panic" in found[0]


def _stack_violations(facts: rules.StackFacts, zones_of_pools: dict[str, list[str]],
                      depends_on_every_switch: bool = False) -> list[str]:
    """production-zones over vSwitches and pools; each pool lists (vswitchIds, propertyDependencies as the CLI hands
    them over) the vSwitches of its zones; optionally it also depends on every vSwitch (the old, wrong source)."""
    switches = {z: PolicyResource(rules.VSWITCH, {"zoneId": z}, f"urn:{z}", f"sw-{z}", _options(), None, None, [], {})
                for zs in zones_of_pools.values() for z in zs}
    pools = [PolicyResource(rules.NODE_POOL, {"labels": [{"key": rules.POOL_LABEL, "value": role}],
                                              "vswitchIds": [f"sw-{z}-id" for z in zs]},
                            f"urn:{role}", role, _options(), None, None,
                            list(switches.values()) if depends_on_every_switch else [switches[z] for z in zs],
                            {"vswitchIds": [switches[z] for z in zs]})
             for role, zs in zones_of_pools.items()]
    policy = _policy("production-zones", facts)
    assert isinstance(policy, StackValidationPolicy)
    found: list[str] = []
    policy.validate(StackValidationArgs([*switches.values(), *pools]), lambda message, urn=None: found.append(message))
    return found


def test_production_pools_span_three_zones() -> None:
    three = {"emqx": ["a", "b", "c"], "system": ["a", "b", "c"]}
    assert not _stack_violations(PROD, three)
    two = {"emqx": ["a", "b"], "system": ["a", "b", "c"]}
    found = _stack_violations(PROD, two)
    assert len(found) == 1 and "'emqx'" in found[0]
    assert not _stack_violations(DEV, two)


def test_production_zones_count_the_pools_vswitches_not_its_dependencies() -> None:
    # A pool cut to one vSwitch still depends on all three (the old source of its zones): one zone, refused.
    one = {"emqx": ["a"], "system": ["a", "b", "c"]}
    found = _stack_violations(PROD, one, depends_on_every_switch=True)
    assert len(found) == 1 and "'emqx'" in found[0], found


# ------------------------------------------------------------------- the same policies on AWS and VM-mode types


def _aws_rule(cidr: str | None, port: int = 18083, protocol: str = "tcp", description: str = "",
              **extra: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"fromPort": port, "toPort": port, "ipProtocol": protocol, "description": description,
                            "securityGroupId": "sg-1", **extra}
    if cidr is not None:
        rule["cidrIpv6" if ":" in cidr else "cidrIpv4"] = cidr
    return rule


@pytest.mark.parametrize(("type_", "inputs", "expected"), [
    (rules.AWS_INGRESS_RULE, _aws_rule("0.0.0.0/0"), True),
    (rules.AWS_INGRESS_RULE, _aws_rule("::/0"), True),
    (rules.AWS_INGRESS_RULE, _aws_rule("0.0.0.0/1", 443, description="EMQX dashboard and API"), True),
    (rules.AWS_INGRESS_RULE, _aws_rule("0.0.0.0/0", 6443), True),
    (rules.AWS_INGRESS_RULE, {**_aws_rule("0.0.0.0/0", 0, "-1"), "fromPort": None, "toPort": None}, True),
    (rules.AWS_INGRESS_RULE, {**_aws_rule("0.0.0.0/0"), "fromPort": 18000, "toPort": 18100}, True),
    (rules.AWS_INGRESS_RULE, _aws_rule("10.20.0.0/16"), False),
    (rules.AWS_INGRESS_RULE, _aws_rule("0.0.0.0/0", 1883, description="MQTT clients"), False),
    (rules.AWS_INGRESS_RULE, _aws_rule(None, referencedSecurityGroupId="sg-nlb"), False),  # from a group, no CIDR
    (rules.AWS_INGRESS_RULE, _aws_rule("0.0.0.0/0", -1, "icmp"), False),
    (rules.AWS_SG_RULE, {"type": "ingress", "fromPort": 18083, "toPort": 18083, "protocol": "tcp",
                         "cidrBlocks": ["10.20.0.0/16", "0.0.0.0/0"], "securityGroupId": "sg-1"}, True),
    (rules.AWS_SG_RULE, {"type": "egress", "fromPort": 0, "toPort": 0, "protocol": "-1",
                         "cidrBlocks": ["0.0.0.0/0"], "securityGroupId": "sg-1"}, False),
    (rules.AWS_SECURITY_GROUP, {"ingress": [{"fromPort": 0, "toPort": 0, "protocol": "-1",
                                             "ipv6CidrBlocks": ["::/0"]}]}, True),
    (rules.AWS_SECURITY_GROUP, {"ingress": [{"fromPort": 1883, "toPort": 1883, "protocol": "tcp",
                                             "cidrBlocks": ["0.0.0.0/0"]}]}, False),
])
def test_aws_admin_ports_never_open_to_everyone(type_: str, inputs: dict[str, Any], expected: bool) -> None:
    found = violations("admin-never-public", type_, inputs)
    assert bool(found) is expected, found


@pytest.mark.parametrize(("vpc_config", "expected"), [
    ({"endpointPrivateAccess": True, "endpointPublicAccess": False}, False),
    ({"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}, False),
    ({"endpointPublicAccess": True, "publicAccessCidrs": ["10.0.0.0/8"]}, False),
    # The provider's defaults: public endpoint on, publicAccessCidrs 0.0.0.0/0.
    ({"endpointPublicAccess": True}, True),
    ({"subnetIds": ["subnet-1"]}, True),
    ({"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24", "0.0.0.0/0"]}, True),
    ({"endpointPublicAccess": True, "publicAccessCidrs": ["128.0.0.0/1"]}, True),
])
def test_eks_public_endpoint_needs_admin_cidrs(vpc_config: dict[str, Any], expected: bool) -> None:
    found = violations("admin-never-public", rules.EKS_CLUSTER, {"name": "c", "vpcConfig": vpc_config})
    assert bool(found) is expected, found
    assert not expected or "EKS public API endpoint" in found[0]


@pytest.mark.parametrize(("type_", "inputs", "expected"), [
    (rules.AWS_INGRESS_RULE, _aws_rule("10.20.0.0/16", 1883), False),
    (rules.AWS_INGRESS_RULE, _aws_rule("10.1.2.0/24", 8883), False),
    (rules.AWS_INGRESS_RULE, _aws_rule("192.168.0.0/16", 1883), True),
    (rules.AWS_INGRESS_RULE, _aws_rule("0.0.0.0/0", -1, "icmp"), False),
    (rules.AWS_INGRESS_RULE, _aws_rule(None, 1883, referencedSecurityGroupId="sg-nlb"), False),
    (rules.AWS_SG_RULE, {"type": "ingress", "fromPort": 1883, "toPort": 1883, "protocol": "tcp",
                         "cidrBlocks": ["10.20.0.0/16", "192.168.1.0/24"]}, True),
    (rules.AWS_SECURITY_GROUP, {"ingress": [{"fromPort": 1883, "toPort": 1883, "protocol": "tcp",
                                             "cidrBlocks": ["100.64.0.0/10"]}]}, True),
])
def test_aws_rules_stay_within_the_stacks_cidrs(type_: str, inputs: dict[str, Any], expected: bool) -> None:
    found = violations("rules-within-stack-cidrs", type_, inputs)
    assert bool(found) is expected, found


@pytest.mark.parametrize(("type_", "inputs", "unprotected"), [
    (rules.AWS_VPC, {"cidrBlock": "10.40.0.0/16"}, None),  # ec2.Vpc has no cloud-side switch: protect alone
    (rules.EKS_CLUSTER, {"deletionProtection": True}, {"deletionProtection": False}),
    (rules.EKS_CLUSTER, {"deletionProtection": True}, {}),
    (rules.AWS_LBS[0], {"enableDeletionProtection": True}, {"enableDeletionProtection": False}),
    (rules.AWS_LBS[0], {"enableDeletionProtection": True}, {}),
    (rules.ECS_INSTANCE, {"deletionProtection": True}, {"deletionProtection": False}),
    (rules.ECS_INSTANCE, {"deletionProtection": True}, {}),
])
def test_production_keeps_aws_and_vm_resources(type_: str, inputs: dict[str, Any],
                                               unprotected: dict[str, Any] | None) -> None:
    name = "production-deletion-protection"
    assert not violations(name, type_, inputs, protect=True)
    assert violations(name, type_, inputs, protect=False)
    assert not violations(name, type_, inputs, protect=False, facts=DEV)
    if unprotected is not None:
        found = violations(name, type_, unprotected, protect=True)
        assert len(found) == 1 and "has no" in found[0] and "protect`ed" not in found[0], found
        assert not violations(name, type_, unprotected, protect=False, facts=DEV)


def _mime(cloud_config: str) -> str:
    """User data shaped as the AWS launch templates carry it (NodeConfig + cloud-config parts), base64."""
    text = ('MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="==B=="\n\n--==B==\n'
            "Content-Type: application/node.eks.aws\n\n---\napiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\n"
            'spec: {}\n\n--==B==\nContent-Type: text/cloud-config; charset="us-ascii"\n\n'
            f"{cloud_config}\n--==B==--\n")
    return base64.b64encode(text.encode()).decode()


_CLEAN_CLOUD_CONFIG = ("#cloud-config\nwrite_files:\n- path: /usr/local/sbin/t.sh\n  content: |\n    #!/bin/bash\n"
                       "    sysctl -w net.core.somaxconn=1024\n    PASSWORD=\"$(cat /run/secret)\"\n"
                       "runcmd:\n- [/usr/local/sbin/t.sh]\n")


@pytest.mark.parametrize(("cloud_config", "expected"), [
    (_CLEAN_CLOUD_CONFIG, False),
    ("#cloud-config\nwrite_files:\n- path: /etc/app.env\n  content: |\n    DB_PASSWORD=s3cretvalue99\n", True),
    ("#cloud-config\nruncmd:\n- [aliyun, configure, --access-key-id, LTAI5tAbCdEfGhIjKlMn]\n", True),
    # A file cloud-init decodes before writing it: the key is only visible once decoded.
    ("#cloud-config\nwrite_files:\n- path: /etc/app.env\n  encoding: b64\n  content: "
     + base64.b64encode(b"API_KEY=abcdefgh12345678\n").decode() + "\n", True),
])
def test_aws_and_vm_user_data_holds_no_keys(cloud_config: str, expected: bool) -> None:
    name = "no-plain-text-secrets"
    template = violations(name, rules.LAUNCH_TEMPLATE, {"userData": _mime(cloud_config)})
    assert bool(template) is expected, template
    instance = violations(name, rules.ECS_INSTANCE,
                          {"userData": base64.b64encode(cloud_config.encode()).decode()})
    assert bool(instance) is expected, instance


def test_oos_secret_parameters_must_be_pulumi_secrets() -> None:
    name = "no-plain-text-secrets"
    assert not violations(name, rules.OOS_SECRET, {"secretParameterName": "x/cookie", "value": rules.SECRET_TEXT})
    assert violations(name, rules.OOS_SECRET, {"secretParameterName": "x/cookie", "value": "plain-cookie"})
    cli = rules.StackFacts(stack="prod", production=True, cidrs=(), secrets_marked=False)
    assert not violations(name, rules.OOS_SECRET, {"value": "plain-cookie"}, facts=cli)


@pytest.mark.parametrize(("cloud_config", "expected"), [
    (_CLEAN_CLOUD_CONFIG, False),
    # The YAML block's indentation hides a script's heredoc end marker until cloud-config is parsed.
    ("#cloud-config\nwrite_files:\n- path: /usr/local/sbin/t.sh\n  content: |\n    #!/bin/bash\n"
     "    while read -r key mode want; do :; done <<'EMQX_SYSCTLS'\n    kernel.panic set 1\n    EMQX_SYSCTLS\n", True),
    ("#cloud-config\nwrite_files:\n- path: /etc/sysctl.d/90-x.conf\n  content: |\n    kernel.panic = 1\n", True),
    ("#cloud-config\nwrite_files:\n- path: /etc/sysctl.d/90-x.conf\n  content: |\n    net.core.somaxconn = 1\n",
     False),
    ("#cloud-config\nwrite_files:\n- path: /etc/app.conf\n  content: |\n    kernel.panic = 1\n", False),
    ("#cloud-config\nbootcmd:\n- [sysctl, -w, kernel.panic=1]\n", True),
    ("#cloud-config\nruncmd:\n- echo 1 > /proc/sys/kernel/panic\n", True),
])
def test_aws_and_vm_user_data_sysctls_in_catalogue(cloud_config: str, expected: bool) -> None:
    name = "sysctls-in-catalogue"
    template = violations(name, rules.LAUNCH_TEMPLATE, {"userData": _mime(cloud_config)})
    assert bool(template) is expected, template
    assert not expected or "kernel.panic" in template[0]
    instance = violations(name, rules.ECS_INSTANCE, {"userData": base64.b64encode(cloud_config.encode()).decode()})
    assert bool(instance) is expected, instance


def _zone_violations(facts: rules.StackFacts, placed: dict[str, list[str]], *, vm: bool) -> list[str]:
    """production-zones over AWS subnets and EKS node groups (one group per zone list entry, as the program builds
    one EMQX group per zone), or over vSwitches and VM-mode instances (one instance per entry)."""
    zones = sorted({z for zs in placed.values() for z in zs})
    if vm:
        places = {z: PolicyResource(rules.VSWITCH, {"zoneId": z}, f"urn:{z}", f"sw-{z}", _options(), None, None, [],
                                    {}) for z in zones}
        nodes = [PolicyResource(rules.ECS_INSTANCE, {"tags": {rules.VM_ROLE_TAG: role}, "vswitchId": f"sw-{z}-id"},
                                f"urn:{role}-{i}", f"{role}-{i}", _options(), None, None, [places[z]],
                                {"vswitchId": [places[z]]})
                 for role, zs in placed.items() for i, z in enumerate(zs)]
    else:
        places = {z: PolicyResource(rules.AWS_SUBNET, {"availabilityZone": z}, f"urn:{z}", f"private-{z}",
                                    _options(), None, None, [], {}) for z in zones}
        nodes = [PolicyResource(rules.EKS_NODE_GROUP, {"labels": {rules.POOL_LABEL: role},
                                                       "subnetIds": [f"private-{z}-id"]},
                                f"urn:{role}-{z}", f"{role}-{z}", _options(), None, None, [places[z]],
                                {"subnetIds": [places[z]]})
                 for role, zs in placed.items() for z in zs]
    policy = _policy("production-zones", facts)
    assert isinstance(policy, StackValidationPolicy)
    found: list[str] = []
    policy.validate(StackValidationArgs([*places.values(), *nodes]), lambda message, urn=None: found.append(message))
    return found


@pytest.mark.parametrize("vm", [False, True])
def test_production_aws_node_groups_and_vm_instances_span_three_zones(vm: bool) -> None:
    role = "core" if vm else "emqx"
    assert not _zone_violations(PROD, {role: ["a", "b", "c"], "system": ["a", "b", "c"]}, vm=vm)
    found = _zone_violations(PROD, {role: ["a", "b", "a"], "system": ["a", "b", "c"]}, vm=vm)
    assert len(found) == 1 and role in found[0], found
    assert not _zone_violations(DEV, {role: ["a", "a", "a"]}, vm=vm)


def test_vm_role_of_fewer_than_three_instances_spans_as_many_zones() -> None:
    assert not _zone_violations(PROD, {"core": ["a", "b", "c"], "replicant": ["a", "b"]}, vm=True)
    assert _zone_violations(PROD, {"core": ["a", "b", "c"], "replicant": ["a", "a"]}, vm=True)


# --------------------------------------------------------------------------------------- the facts of a stack


def test_facts_come_from_the_programs_settings() -> None:
    prod = policy_check.stack_facts("prod")
    assert prod.production is True
    assert {"10.20.0.0/16", "10.0.0.0/8", "172.20.0.0/16", "172.21.0.0/20"} <= set(prod.cidrs)
    dev = policy_check.stack_facts("dev")
    assert dev.production is False
    # network.clientCidrs left out means everyone (the settings' default), and the policy takes the same view.
    config, secret_keys = engine.load_stack_config(REPO_ROOT / "stacks" / "Pulumi.dev.yaml")
    assert "0.0.0.0/0" not in policy_check.stack_facts("dev").cidrs
    network = json.loads(config["emqx-platform:network"])
    del network["clientCidrs"]
    config["emqx-platform:network"] = json.dumps(network)
    assert "0.0.0.0/0" in rules.facts_from_config("dev", config, secret_keys).cidrs


def test_vm_facts_admit_the_clb_health_check_range() -> None:
    """A VM stack behind a CLB admits the CLB's health checks (100.64.0.0/10) on its nodes; behind an NLB it does
    not; and a VM stack's missing service CIDR is no network at all."""
    vm_dev = policy_check.stack_facts("vm-dev")
    assert "100.64.0.0/10" in vm_dev.cidrs and "" not in vm_dev.cidrs
    vm_prod = policy_check.stack_facts("vm-prod")
    assert vm_prod.production is True
    assert "100.64.0.0/10" not in vm_prod.cidrs and "" not in vm_prod.cidrs
    assert policy_check.stack_facts("aws-prod").production is True


# ---------------------------------------------------------------------------------- the pack over whole plans


def _plan(run_stack: StackRunner, stack: str) -> dict[str, Any]:
    return json.loads(json.dumps(writers.plan_document(run_stack(stack))))


@pytest.mark.parametrize("stack", SHIPPED)
def test_shipped_stacks_pass_the_pack(run_stack: StackRunner, stack: str) -> None:
    plan = _plan(run_stack, stack)
    assert not policy_check.check_plan(plan, policy_check.stack_facts(stack))


def _first(plan: dict[str, Any], test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    return next(r for r in plan["resources"] if test(r))


def _mutations() -> dict[str, tuple[str, Callable[[dict[str, Any]], None]]]:
    def public_dashboard(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.SECURITY_GROUP_RULE and "18083" in r["inputs"].get("portRange", "")
               )["inputs"]["cidrIp"] = "0.0.0.0/0"

    def half_internet_dashboard(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.SECURITY_GROUP_RULE and "18083" in r["inputs"].get("portRange", "")
               )["inputs"]["cidrIp"] = "0.0.0.0/1"

    def floating_image(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.EMQX)["inputs"]["spec"]["image"] = "emqx/emqx:5"

    def wide_client_rule(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.SECURITY_GROUP_RULE
               and r["inputs"].get("portRange") == "1883/1883")["inputs"]["cidrIp"] = "100.64.0.0/10"

    def unpinned_chart(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.HELM_RELEASES[0])["inputs"].pop("version")

    def latest_image(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.EMQX)["inputs"]["spec"]["image"] = "emqx/emqx:latest"

    def no_wait_for(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.EMQX)["inputs"]["metadata"]["annotations"].pop("pulumi.com/waitFor")

    def plain_secret(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.K8S_SECRET)["inputs"]["stringData"]["license-key"] = "abc"

    def unprotected_vpc(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.VPC)["options"]["protect"] = False

    def unprotected_cluster(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.CLUSTER)["inputs"]["deletionProtection"] = False

    def foreign_sysctl(plan: dict[str, Any]) -> None:
        spec = _first(plan, lambda r: r["type"] == rules.EMQX)["inputs"]["spec"]["coreTemplate"]["spec"]
        spec["podSecurityContext"]["sysctls"].append({"name": "kernel.sem", "value": "1"})

    def two_zones(plan: dict[str, Any]) -> None:
        # The system pool cut to two vSwitches (its dependencies untouched: they do not say where nodes run).
        pool = _first(plan, lambda r: r["type"] == rules.NODE_POOL and len(r["inputs"]["vswitchIds"]) == 3)
        pool["inputs"]["vswitchIds"] = pool["inputs"]["vswitchIds"][:2]

    def foreign_vswitch(plan: dict[str, Any]) -> None:
        # An id that is no vSwitch of the stack: its zone is unknown, so it does not count.
        pool = _first(plan, lambda r: r["type"] == rules.NODE_POOL and len(r["inputs"]["vswitchIds"]) == 3)
        pool["inputs"]["vswitchIds"] = [*pool["inputs"]["vswitchIds"][:2], "vsw-bp1elsewhere"]

    return {
        "public dashboard rule": ("admin-never-public", public_dashboard),
        "client rule wider than the stack's CIDRs": ("rules-within-stack-cidrs", wide_client_rule),
        "unpinned chart": ("pinned-versions", unpinned_chart),
        "latest image": ("pinned-versions", latest_image),
        "floating image tag": ("pinned-versions", floating_image),
        "dashboard rule wider than a /8": ("admin-never-public", half_internet_dashboard),
        "no waitFor": ("emqx-waits-for-ready", no_wait_for),
        "plain-text Secret": ("no-plain-text-secrets", plain_secret),
        "unprotected VPC": ("production-deletion-protection", unprotected_vpc),
        "cluster without deletion protection": ("production-deletion-protection", unprotected_cluster),
        "sysctl outside the catalogue": ("sysctls-in-catalogue", foreign_sysctl),
        "production over two zones": ("production-zones", two_zones),
        "production pool on an unknown vSwitch": ("production-zones", foreign_vswitch),
    }


@pytest.mark.parametrize("mutation", sorted(_mutations()))
def test_mutated_prod_plan_fails_with_the_expected_policy(run_stack: StackRunner, mutation: str) -> None:
    expected, mutate = _mutations()[mutation]
    plan = copy.deepcopy(_plan(run_stack, "prod"))
    mutate(plan)
    found = policy_check.check_plan(plan, policy_check.stack_facts("prod"))
    assert found and expected in {v.policy for v in found}, found


def _user_data_edit(resource: dict[str, Any], edit: Callable[[str], str]) -> None:
    text = base64.b64decode(resource["inputs"]["userData"]).decode()
    edited = edit(text)
    assert edited != text
    resource["inputs"]["userData"] = base64.b64encode(edited.encode()).decode()


def _other_mutations() -> dict[str, tuple[str, str, Callable[[dict[str, Any]], None]]]:
    """Mutations of the aws-prod and vm-prod plans: (stack, expected policy, mutate)."""
    def aws_public_dashboard(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.AWS_INGRESS_RULE and r["inputs"].get("fromPort") == 18083
               and "cidrIpv4" in r["inputs"])["inputs"]["cidrIpv4"] = "0.0.0.0/0"

    def aws_wide_client_rule(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.AWS_INGRESS_RULE and r["inputs"].get("fromPort") == 1883
               and "cidrIpv4" in r["inputs"])["inputs"]["cidrIpv4"] = "192.168.0.0/16"

    def eks_public_endpoint(plan: dict[str, Any]) -> None:
        vpc = _first(plan, lambda r: r["type"] == rules.EKS_CLUSTER)["inputs"]["vpcConfig"]
        vpc["endpointPublicAccess"] = True
        vpc.pop("publicAccessCidrs", None)

    def eks_unprotected(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.EKS_CLUSTER)["inputs"]["deletionProtection"] = False

    def nlb_unprotected(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] in rules.AWS_LBS)["inputs"]["enableDeletionProtection"] = False

    def aws_vpc_unprotected(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.AWS_VPC)["options"]["protect"] = False

    def launch_template_key(plan: dict[str, Any]) -> None:
        _user_data_edit(_first(plan, lambda r: r["type"] == rules.LAUNCH_TEMPLATE and "userData" in r["inputs"]),
                        lambda t: t.replace("#cloud-config\nwrite_files:\n", "#cloud-config\nwrite_files:\n"
                                            "- path: /etc/app.env\n  content: |\n    DB_PASSWORD=s3cretvalue99\n", 1))

    def launch_template_sysctl(plan: dict[str, Any]) -> None:
        _user_data_edit(_first(plan, lambda r: r["type"] == rules.LAUNCH_TEMPLATE and "userData" in r["inputs"]),
                        lambda t: t.replace("#cloud-config\nwrite_files:\n", "#cloud-config\nwrite_files:\n"
                                            "- path: /etc/sysctl.d/90-x.conf\n  content: |\n    kernel.sem = 1\n", 1))

    def node_groups_two_zones(plan: dict[str, Any]) -> None:
        groups = [r for r in plan["resources"] if r["type"] == rules.EKS_NODE_GROUP
                  and r["inputs"]["labels"].get(rules.POOL_LABEL) == "emqx"]
        groups[-1]["inputs"]["subnetIds"] = groups[0]["inputs"]["subnetIds"]

    def instance_unprotected(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.ECS_INSTANCE)["inputs"]["deletionProtection"] = False

    def instance_key(plan: dict[str, Any]) -> None:
        _user_data_edit(_first(plan, lambda r: r["type"] == rules.ECS_INSTANCE),
                        lambda t: t.replace("#cloud-config\nwrite_files:\n", "#cloud-config\nwrite_files:\n"
                                            "- path: /etc/emqx.env\n  content: |\n"
                                            "    EMQX_DASHBOARD_PASSWORD=s3cretvalue99\n", 1))

    def instance_sysctl(plan: dict[str, Any]) -> None:
        _user_data_edit(_first(plan, lambda r: r["type"] == rules.ECS_INSTANCE),
                        lambda t: t.replace("    EMQX_SYSCTLS\n", "    kernel.sem set 1\n    EMQX_SYSCTLS\n", 1))

    def plain_oos_secret(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.OOS_SECRET)["inputs"]["value"] = "plain-cookie"

    def vm_public_dashboard(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.SECURITY_GROUP_RULE and r["inputs"].get("portRange") == "18083/18083"
               and "cidrIp" in r["inputs"])["inputs"]["cidrIp"] = "0.0.0.0/0"

    def cores_two_zones(plan: dict[str, Any]) -> None:
        cores = [r for r in plan["resources"] if r["type"] == rules.ECS_INSTANCE
                 and r["inputs"]["tags"].get(rules.VM_ROLE_TAG) == "core"]
        cores[-1]["inputs"]["vswitchId"] = cores[0]["inputs"]["vswitchId"]

    return {
        "aws: public dashboard rule": ("aws-prod", "admin-never-public", aws_public_dashboard),
        "aws: client rule wider than the stack's CIDRs": ("aws-prod", "rules-within-stack-cidrs", aws_wide_client_rule),
        "aws: public EKS endpoint without CIDRs": ("aws-prod", "admin-never-public", eks_public_endpoint),
        "aws: EKS without deletion protection": ("aws-prod", "production-deletion-protection", eks_unprotected),
        "aws: NLB without deletion protection": ("aws-prod", "production-deletion-protection", nlb_unprotected),
        "aws: unprotected VPC": ("aws-prod", "production-deletion-protection", aws_vpc_unprotected),
        "aws: password in launch template user data": ("aws-prod", "no-plain-text-secrets", launch_template_key),
        "aws: sysctl outside the catalogue": ("aws-prod", "sysctls-in-catalogue", launch_template_sysctl),
        "aws: EMQX node groups over two zones": ("aws-prod", "production-zones", node_groups_two_zones),
        "vm: instance without release protection": ("vm-prod", "production-deletion-protection",
                                                    instance_unprotected),
        "vm: cookie in instance user data": ("vm-prod", "no-plain-text-secrets", instance_key),
        "vm: sysctl outside the catalogue": ("vm-prod", "sysctls-in-catalogue", instance_sysctl),
        "vm: plain-text OOS secret parameter": ("vm-prod", "no-plain-text-secrets", plain_oos_secret),
        "vm: public dashboard rule": ("vm-prod", "admin-never-public", vm_public_dashboard),
        "vm: cores over two zones": ("vm-prod", "production-zones", cores_two_zones),
    }


@pytest.mark.parametrize("mutation", sorted(_other_mutations()))
def test_mutated_aws_and_vm_plans_fail_with_the_expected_policy(run_stack: StackRunner, mutation: str) -> None:
    stack, expected, mutate = _other_mutations()[mutation]
    plan = _plan(run_stack, stack)
    facts = policy_check.stack_facts(stack)
    assert not policy_check.check_plan(plan, facts)  # the shipped plan passes ...
    mutate(plan)
    found = policy_check.check_plan(plan, facts)
    assert found and expected in {v.policy for v in found}, found  # ... and this one change fails it


def test_runner_exit_status(run_stack: StackRunner, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan(run_stack, "prod")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(plan))
    assert policy_check.main(["--stack", "prod", "--plan", str(good)]) == 0
    _mutations()["unpinned chart"][1](plan)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(plan))
    assert policy_check.main(["--stack", "prod", "--plan", str(bad)]) == 1
    assert "[pinned-versions]" in capsys.readouterr().out


def test_runner_judges_a_plan_as_the_stack_it_names(run_stack: StackRunner, tmp_path: Any,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """--plan build/prod/plan.json without --stack is judged by prod's rules, not the --stack default's (dev)."""
    plan = _plan(run_stack, "prod")
    _mutations()["unprotected VPC"][1](plan)  # a production-only rule: dev's facts would let it through
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    assert policy_check.main(["--plan", str(path)]) == 1
    assert "[production-deletion-protection]" in capsys.readouterr().out
    # A --stack that contradicts the plan is refused, not obeyed.
    assert policy_check.main(["--stack", "dev", "--plan", str(path)]) == 2
    assert "stack prod, not dev" in capsys.readouterr().err
    with pytest.raises(ValueError, match="stack 'prod'"):
        policy_check.check_plan(plan, policy_check.stack_facts("dev"))


# ------------------------------------------------------------------------------ the pack as the CLI runs it


def test_the_pack_served_as_the_cli_runs_it_judges_with_the_stacks_config(tmp_path: Any) -> None:
    """policy/__main__.py started as the CLI starts a Python pack (the pack directory run by Python, the stack config
    in PULUMI_CONFIG), asked over gRPC as the CLI's analyzer asks: production facts come from the config it got."""
    import os
    import subprocess
    import sys

    import grpc
    from google.protobuf import struct_pb2
    from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

    config, secret_keys = engine.load_stack_config(REPO_ROOT / "stacks" / "Pulumi.prod.yaml")
    env = {**os.environ, "PULUMI_CONFIG": json.dumps(config), "PULUMI_CONFIG_SECRET_KEYS": json.dumps(secret_keys),
           "PULUMI_STACK": "prod", "PULUMI_PROJECT": "emqx-platform", "PULUMI_DRY_RUN": "true"}
    server = subprocess.Popen([sys.executable, "-u", str(REPO_ROOT / "policy")], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().strip())  # the analyzer prints its port first, as the CLI expects
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            analyzer = analyzer_pb2_grpc.AnalyzerStub(channel)

            def analyze(type_: str, props: dict[str, Any], protect: bool) -> set[str]:
                properties = struct_pb2.Struct()
                properties.update(props)
                request = analyzer_pb2.AnalyzeRequest(
                    type=type_, properties=properties, name="vpc", urn=f"urn:pulumi:prod::emqx-platform::{type_}::vpc",
                    options=analyzer_pb2.AnalyzerResourceOptions(protect=protect))
                return {d.policyName for d in analyzer.Analyze(request, timeout=30).diagnostics}

            assert analyze(rules.VPC, {"cidrBlock": "10.20.0.0/16"}, protect=True) == set()
            # Production (from PULUMI_CONFIG): an unprotected VPC is refused.
            assert analyze(rules.VPC, {"cidrBlock": "10.20.0.0/16"}, protect=False) == {
                "production-deletion-protection"}
            # The stack's CIDRs (from PULUMI_CONFIG): 192.168.0.0/16 is none of them.
            assert analyze(rules.SECURITY_GROUP_RULE, _sg_rule("192.168.0.0/16", "1883/1883"), protect=False) == {
                "rules-within-stack-cidrs"}
    finally:
        server.kill()
        server.wait()
