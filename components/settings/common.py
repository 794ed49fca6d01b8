"""What every section of the settings shares: the project's keys, the error type, name rules and small helpers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import pulumi

PROJECT = "emqx-platform"

# Top-level keys of the project's namespace. Secrets are separate top-level keys so that
# `pulumi config set --secret <key>` encrypts exactly them and nothing else.
# mqttUsers: the built-in database's bootstrap users, `user:password` lines (components/render/auth.py).
# tlsCertificate, tlsPrivateKey: the PEM chain and key EMQX serves on 8883/8084 in mode vm (settings/vm.py).
SECRET_KEYS = ("licenseKey", "kubeconfig", "mqttUsers", "tlsCertificate", "tlsPrivateKey")
SECTION_KEYS = (
    "target",
    "mode",
    "vm",
    "production",
    "cloud",
    "network",
    "cluster",
    "nodePools",
    "emqx",
    "loadBalancer",
    "tuning",
    "monitoring",
    "rebalance",
    "loadTest",
    "existing",
    "charts",
    "tags",
)

Target = Literal["alicloud", "aws", "existing"]
TARGETS: tuple[str, ...] = ("alicloud", "aws", "existing")
DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
# A StorageClass name is a DNS subdomain: at most 253 characters (Kubernetes' object name rule).
STORAGE_CLASS = r"(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?"


class ConfigError(pulumi.RunError):
    """Bad stack config. A RunError, so `pulumi up` prints the message without a Python traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"the stack config has {len(problems)} problem(s); nothing was created:\n{lines}"
        )


# The program names its resources emqx-<stack>-<what>; the strictest cloud names derived from that are:
# - the ACK cluster, emqx-<stack>-ack: 1-63 letters, digits and hyphens, not starting with a hyphen (ACK's
#   CreateCluster `name`, https://www.alibabacloud.com/help/doc-detail/90776.htm; the provider's cs.ManagedKubernetes
#   docstring states no limit);
# - the node pools, emqx-<stack>-emqx-<zone> and emqx-<stack>-loadgen: taken to follow the cluster's 63-character
#   rule (the provider's `node_pool_name` documents no limit of its own);
# - the CLB and its server groups, emqx-<stack>-clb / -dashboard: at most 80 (pulumi_alicloud slb LoadBalancer
#   `load_balancer_name`); VPC, vSwitch, NAT, EIP, security group: 2-128 and must start with a letter
#   (pulumi_alicloud vpc.Network, vpc.Switch, vpc.NatGateway, ecs.EipAddress, ecs.SecurityGroup docstrings).
# Letters, digits and hyphens are the characters all of them accept (ACK refuses `.` and `_`). 24 characters leave
# the node pool names room for zone ids of up to 28 characters (the longest in components/regions.py is 16);
# cloud.py refuses a zone (from cloud.extraZones) that would not fit beside a stack name of the maximum length.
STACK_NAME_MAX = 24
CLB_MAX_TAGS = 10
STACK_NAME = r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?"
NAME_LIMIT = 63  # ACK cluster and node pool names
# Namespaces whose keys belong to someone else and may sit in a stack file: Pulumi's own, and the providers the
# program uses (random generates the dashboard password); aws for the EKS target once it exists.
OTHER_NAMESPACES = ("alicloud", "aws", "kubernetes", "pulumi", "random")
# Bounds on one config value, checked before anything walks it: far above anything a real stack sets.
MAX_DEPTH = 12
MAX_NODES = 5_000
MAX_TEXT = 16 * 1024
MAX_SECRET_TEXT = 256 * 1024  # a kubeconfig with inline certificates is a few KiB to a few tens of KiB
MAX_KEYS = 200  # top-level keys of all namespaces in one stack


def secret(values: Mapping[str, Any], key: str) -> pulumi.Output[str] | None:
    value = values.get(key)
    if value is None:
        return None
    # `pulumi config set --secret licenseKey "$(cat file)"` keeps a trailing newline that is not part of the key.
    return pulumi.Output.secret(value.strip() if isinstance(value, str) else json.dumps(value))
