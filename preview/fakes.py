"""Plausible values for what a cloud would compute, so the offline preview can follow every Output.

Two tables, both meant to grow with the program:
- RESOURCE_FAKES: resource type token -> outputs the provider would compute on create (the mock engine
  echoes the inputs back; only properties the provider invents belong here).
- CALL_FAKES: data-source (invoke) token -> its result. An invoke with no entry returns {} and is recorded
  as unmocked, so tests can see a data source nobody has faked yet.

Everything here is deterministic (derived from the resource name), so two previews of the same stack
write the same files. Wrap a value in `secret(...)` when the real provider would return it as a secret:
the engine marks it secret and the writers show it as `[secret]`.

Pure: imports nothing from pulumi.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# How the printed preview shows a value the fakes made up for what the cloud assigns on `pulumi up` (ids,
# addresses): a reader must not take 10.0.0.100 for the load balancer's address. plan.json keeps the made-up values
# (a later resource's inputs refer to them) and lists them under "placeholders".
PLACEHOLDER_TEXT = "<from the cloud>"


@dataclass(frozen=True)
class Secret:
    """A computed output the real provider would mark secret."""

    value: Any


def secret(value: Any) -> Secret:
    return Secret(value)


def fake_token(seed: str, length: int = 24) -> str:
    """A stable, unguessable-looking string: the same seed always gives the same token."""
    out = ""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"{seed}/{counter}".encode()).hexdigest()
        counter += 1
    return out[:length]


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


ResourceFake = Callable[[str, Mapping[str, Any]], dict[str, Any]]
CallFake = Callable[[Mapping[str, Any]], dict[str, Any]]


def _random_password(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    # Length follows the input so programs that check it see what the provider would produce.
    length = max(_int(inputs.get("length"), 16), 1)
    result = "Pw" + fake_token(f"random-password/{name}", max(length - 2, 0))
    return {
        "result": secret(result[:length]),
        "bcryptHash": secret("$2a$10$" + fake_token(f"bcrypt/{name}", 53)),
    }


def _random_string(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    length = max(_int(inputs.get("length"), 16), 1)
    return {"result": fake_token(f"random-string/{name}", length)}


def _random_id(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    raw = hashlib.sha256(f"random-id/{name}".encode()).digest()[: max(_int(inputs.get("byteLength"), 8), 1)]
    return {
        "hex": raw.hex(),
        "b64Std": base64.b64encode(raw).decode(),
        "b64Url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "dec": str(int.from_bytes(raw, "big")),
    }


def _ack_cluster(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "vpcId": inputs.get("vpcId") or f"vpc-{fake_token(name, 12)}",
        "securityGroupId": inputs.get("securityGroupId") or f"sg-{fake_token(name, 12)}",
        "workerRamRoleName": f"KubernetesWorkerRole-{fake_token(name, 8)}",
        "natGatewayId": f"ngw-{fake_token(name, 12)}",
        "slbId": f"lb-{fake_token(name, 12)}",
        "slbIntranet": "10.0.0.10",
        "connections": [
            {
                "apiServerIntranet": "https://10.0.0.10:6443",
                "apiServerInternet": "",
                "masterPublicIp": "",
                "serviceDomain": f"*.{fake_token(name, 8)}.cn-hangzhou.alicontainer.com",
            }
        ],
    }


def _ack_node_pool(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {"nodePoolId": f"np{fake_token(name, 16)}", "scalingGroupId": f"asg-{fake_token(name, 12)}"}


def _vpc(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {"routeTableId": f"vtb-{fake_token(name, 12)}", "routerId": f"vrt-{fake_token(name, 12)}"}


def _nlb(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    # One VIP per zone mapping, in a documentation range (RFC 5737 for the public ones).
    mappings = [
        {**zone, "privateIpv4Address": f"10.0.{i}.200",
         **({"publicIpv4Address": f"203.0.113.{200 + i}"} if inputs.get("addressType") == "Internet" else {})}
        for i, zone in enumerate(inputs.get("zoneMappings") or [])
    ]
    return {"dnsName": f"nlb-{fake_token(name, 12)}.cn-hangzhou.nlb.aliyuncsslb.com", "zoneMappings": mappings}


# AWS: account 111122223333 and the RFC 5737 ranges are AWS's and the IETF's documentation values.
AWS_ACCOUNT = "111122223333"


def _eks_cluster(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    cluster = str(inputs.get("name") or name)
    return {
        "arn": f"arn:aws:eks:us-east-1:{AWS_ACCOUNT}:cluster/{cluster}",
        "endpoint": f"https://{fake_token(name, 32).upper()}.gr7.us-east-1.eks.amazonaws.com",
        "certificateAuthority": {"data": base64.b64encode(b"offline CA").decode()},
        "vpcConfig": {**(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{fake_token(name, 17)}"},
    }


def _aws_arn(service: str, kind: str) -> ResourceFake:
    return lambda name, inputs: {"arn": f"arn:aws:{service}::{AWS_ACCOUNT}:{kind}/{inputs.get('name') or name}",
                                 "name": inputs.get("name") or name}


def _aws_nlb(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    lb = str(inputs.get("name") or name)[:32]
    return {"arn": f"arn:aws:elasticloadbalancing:us-east-1:{AWS_ACCOUNT}:loadbalancer/net/{lb}/{fake_token(name, 16)}",
            "dnsName": f"{lb}-{fake_token(name, 10)}.elb.us-east-1.amazonaws.com", "zoneId": "Z26RNL4JYFTOTI"}


def _aws_target_group(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    group = str(inputs.get("name") or name)[:32]
    return {"arn": f"arn:aws:elasticloadbalancing:us-east-1:{AWS_ACCOUNT}:targetgroup/{group}/{fake_token(name, 16)}",
            "name": group}


RESOURCE_FAKES: dict[str, ResourceFake] = {
    "random:index/randomPassword:RandomPassword": _random_password,
    "random:index/randomString:RandomString": _random_string,
    "random:index/randomId:RandomId": _random_id,
    "alicloud:cs/managedKubernetes:ManagedKubernetes": _ack_cluster,
    "alicloud:cs/nodePool:NodePool": _ack_node_pool,
    "alicloud:vpc/network:Network": _vpc,
    "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer": lambda name, inputs: {"address": "10.0.0.100"},
    "alicloud:nlb/loadBalancer:LoadBalancer": _nlb,
    "alicloud:ecs/eipAddress:EipAddress": lambda name, inputs: {"ipAddress": "203.0.113.10"},
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:iam/role:Role": _aws_arn("iam", "role"),
    "aws:iam/policy:Policy": _aws_arn("iam", "policy"),
    "aws:ec2/launchTemplate:LaunchTemplate": lambda name, inputs: {"latestVersion": 1},
    "aws:ec2/eip:Eip": lambda name, inputs: {"allocationId": f"eipalloc-{fake_token(name, 17)}",
                                             "publicIp": "198.51.100.10"},
    "aws:lb/loadBalancer:LoadBalancer": _aws_nlb,
    "aws:lb/targetGroup:TargetGroup": _aws_target_group,
}


def fake_kubeconfig(cluster_id: str) -> str:
    """A syntactically valid kubeconfig for a cluster that does not exist."""
    token = fake_token(f"kubeconfig/{cluster_id}", 40)
    return (
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        f"- name: {cluster_id}\n"
        "  cluster:\n"
        "    server: https://10.0.0.10:6443\n"
        "    insecure-skip-tls-verify: true\n"
        "users:\n"
        f"- name: {cluster_id}-admin\n"
        "  user:\n"
        f"    token: {token}\n"
        "contexts:\n"
        f"- name: {cluster_id}\n"
        "  context:\n"
        f"    cluster: {cluster_id}\n"
        f"    user: {cluster_id}-admin\n"
        f"current-context: {cluster_id}\n"
    )


def _cluster_credential(args: Mapping[str, Any]) -> dict[str, Any]:
    cluster_id = str(args.get("clusterId") or "offline-cluster")
    return {
        "id": cluster_id,
        "clusterId": cluster_id,
        "clusterName": cluster_id,
        "kubeConfig": secret(fake_kubeconfig(cluster_id)),
        "certificateAuthorities": [
            {"clientCert": "", "clientKey": secret(""), "clusterCert": ""},
        ],
        "expiration": "2099-01-01T00:00:00Z",
    }


CALL_FAKES: dict[str, CallFake] = {
    "alicloud:cs/getClusterCredential:getClusterCredential": _cluster_credential,
    # VM mode names its OOS parameters by ARN, with the account ID (components/alicloud/vm_secrets.py).
    "alicloud:index/getCallerIdentity:getCallerIdentity": lambda args: {
        "accountId": "1234567890123456", "arn": "acs:ram::1234567890123456:root", "identityType": "Account",
        "id": "1234567890123456"},
}
