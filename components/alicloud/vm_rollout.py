"""Day two for VM-mode EMQX: a config or version change reaches running nodes one node at a time, through Cloud
Assistant, because user data never re-runs on a running instance (and changing it reboots the instance: VM.md §3).

Per node: one `ecs.Command` holding that node's day-two script and one `ecs.EcsInvocation` running it on that node
only. Both are named by a digest of the script, so a node whose script did not change keeps its invocation (no diff,
nothing runs), and a changed script is a new command and a new invocation. Node N+1's invocation depends on node N's,
so Pulumi creates it only after node N's has been created.

What "created" means, from the provider's source (terraform-provider-alicloud alicloud/resource_alicloud_ecs_invocation
.go, the resource behind pulumi-alicloud ecs.EcsInvocation): Create calls InvokeCommand, then polls the invocation
until its status is Success (or Scheduled, for periodic runs) and fails on Failed, PartialFailed or Stopped, within
the create timeout (default 1 minute, raised here with custom_timeouts to the command's own timeout plus a margin).
So Pulumi does wait for the script to finish, and the chain guarantees: node N+1's script starts only after node N's
script exited 0. It is the script's contract to exit 0 only once the node is back in the cluster (the renderer's join
wait). If node N's script fails or outlives the timeout, `pulumi up` fails there and no later node is touched; a
script still running on the node at the timeout is not stopped by the failed create (StopInvocation is only called
when Pulumi deletes an invocation it holds in state).

Each script is prefixed with `cloud-init status --wait`: on a new instance the invocation can arrive while cloud-init
still installs and starts EMQX, and a failed first boot (status error) fails the invocation instead of being papered
over. The script must be idempotent (a replaced node runs it again after its first boot: its instance ID changes, so
does the invocation's instance_ids, which forces a new invocation).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

import pulumi
import pulumi_alicloud as alicloud

from components.alicloud.vm_spec import VmNodePlan
from components.render.vm_node import COMMAND_LIMIT

DIGEST_LENGTH = 12
# What InvokeCommand and the provider's polling add to the script's own run time.
TIMEOUT_MARGIN_SECONDS = 120
PREAMBLE = """#!/bin/bash
set -euo pipefail
# A new instance: cloud-init's first boot (install, configure, join) comes first; its failure fails this run.
# Exit 1 is an error; cloud-init 23.4+ exits 2 for recoverable errors (warnings, "degraded"), which Ubuntu and RHEL
# patch back to 0 (cloud-init docs explanation/return_codes: test for != 1).
rc=0
cloud-init status --wait >/dev/null || rc=$?
[ "$rc" -ne 1 ] || { echo "emqx-apply: err: cloud-init's first boot failed (cloud-init status --long)"; exit 1; }
"""


def rollout_script(node_script: str) -> str:
    """The script Cloud Assistant runs on one node: the preamble, then the node's day-two script."""
    return PREAMBLE + node_script


def command_content(node_script: str) -> str:
    """The CommandContent Cloud Assistant gets: base64 of the preamble and the node's script, at most COMMAND_LIMIT
    bytes ("Must be Base64-encoded. Maximum size: 18 KB": ROS ALIYUN::ECS::Command). The renderer measures the node's
    script alone; the preamble comes on top, so the whole is measured here. ValueError when it does not fit."""
    content = base64.b64encode(rollout_script(node_script).encode()).decode()
    if len(content) > COMMAND_LIMIT:
        raise ValueError(f"the day-two command is {len(content)} bytes base64 with the rollout preamble, over Cloud "
                         f"Assistant's {COMMAND_LIMIT}-byte limit")
    return content


def script_digest(node_script: str) -> str:
    return hashlib.sha256(rollout_script(node_script).encode()).hexdigest()[:DIGEST_LENGTH]


class VmRollout(pulumi.ComponentResource):
    invocations: list[alicloud.ecs.EcsInvocation]
    digests: dict[str, str]

    def __init__(
        self,
        name: str,
        *,
        nodes: Sequence[VmNodePlan],
        instance_ids: Sequence[pulumi.Input[str]],
        scripts: Sequence[str],
        timeout_seconds: int,
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("emqx-platform:alicloud:VmRollout", name, None, opts)
        if not len(nodes) == len(instance_ids) == len(scripts):
            raise ValueError(f"{len(nodes)} nodes, {len(instance_ids)} instances and {len(scripts)} scripts")
        # Every command measured before any is registered: a size problem fails the program, not a half rollout.
        contents = [command_content(s) for s in scripts]
        self.invocations = []
        self.digests = {}
        previous: list[pulumi.Resource] = list(after)
        for node, instance_id, node_script, content in zip(nodes, instance_ids, scripts, contents, strict=True):
            digest = script_digest(node_script)
            self.digests[node.name] = digest
            label = f"{name}-{node.name}-{digest}"
            command = alicloud.ecs.Command(
                label,
                name=label,
                command_content=content,
                type="RunShellScript",
                timeout=timeout_seconds,
                working_dir="/root",
                description=f"EMQX day-two apply on {node.emqx_node_name}",
                opts=pulumi.ResourceOptions(parent=self),
            )
            invocation = alicloud.ecs.EcsInvocation(
                label,
                command_id=command.id,
                instance_ids=[instance_id],
                repeat_mode="Once",
                username="root",
                # The chain: this node starts only after the previous node's invocation succeeded.
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=previous,
                    custom_timeouts=pulumi.CustomTimeouts(create=f"{timeout_seconds + TIMEOUT_MARGIN_SECONDS}s"),
                ),
            )
            self.invocations.append(invocation)
            previous = [invocation]
        self.register_outputs({"digests": self.digests})
