"""The runbook's AWS and VM sections name only what the program creates for the AWS and VM stacks.

tests/test_runbook.py checks the whole runbook against the Kubernetes stacks on Alibaba Cloud and the existing
cluster; the last two sections of docs/operations.md are about the AWS and VM stacks, whose outputs, objects, node
groups and node scripts the program records under mocks here. The same checker (make targets, config keys, stack
outputs, kubectl namespaces, labels and names) runs on each section against the facts of its own stacks, and the
names the sections give in prose (binding names, log tags, script paths, command names) are compared with the
recorded inputs.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from preview import engine
from tests.conftest import StackRunner
from tests.test_runbook import Facts, check, facts_of

ROOT = Path(__file__).resolve().parents[1]
RUNBOOK = ROOT / "docs" / "operations.md"
AWS_HEADING = "## AWS EKS stacks: what differs"
VM_HEADING = "## VM mode stacks (ECS instances): what differs"
AWS_STACKS = ("aws-dev", "aws-prod")
VM_STACKS = ("vm-dev", "vm-prod")
# `pulumi stack output --json | jq ... .<output>`: the outputs the sections read through jq.
JQ_OUTPUT = re.compile(r"pulumi stack output --json \| jq -r '?\.([a-z_]+)")


def section(heading: str) -> str:
    text = RUNBOOK.read_text()
    assert heading in text, heading
    body = text.split(heading, 1)[1]
    return body.split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def aws(run_stack: StackRunner) -> list[engine.Recording]:
    return [run_stack(name) for name in AWS_STACKS]


@pytest.fixture(scope="module")
def vm(run_stack: StackRunner) -> list[engine.Recording]:
    return [run_stack(name) for name in VM_STACKS]


@pytest.mark.parametrize(("heading", "stacks"), [(AWS_HEADING, "aws"), (VM_HEADING, "vm")])
def test_each_section_names_only_what_its_stacks_have(
    heading: str, stacks: str, request: pytest.FixtureRequest
) -> None:
    recordings: list[engine.Recording] = request.getfixturevalue(stacks)
    facts: Facts = facts_of(recordings)
    text = section(heading)
    checked = check(text, facts)
    assert not checked.problems, "\n".join(checked.problems)
    assert checked.counts["config"] >= 3, checked.counts
    read = JQ_OUTPUT.findall(text)
    assert read, "the section reads no output"
    for output in read:
        assert all(output in rec.outputs for rec in recordings), output


def test_aws_section_names_the_bindings_services_and_controller(aws: list[engine.Recording]) -> None:
    text = section(AWS_HEADING)
    assert aws[0].outputs.keys() >= {"load_balancer_arn", "kubeconfig", "cluster_name"}
    for rec in aws:
        bindings = [engine.unwrap(r.inputs) for r in rec.by_type("kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding")]
        names = {b["metadata"]["name"] for b in bindings}
        assert len(names) == 5
        for name in names:
            assert f"`{name}`" in text, name
        for service in {b["spec"]["serviceRef"]["name"] for b in bindings}:
            assert f"`{service}`" in text, service
        namespace = engine.unwrap(rec.one("kubernetes:core/v1:Namespace").inputs)
        for key, value in namespace["metadata"]["labels"].items():
            if key.startswith("elbv2.k8s.aws/"):
                assert f"`{key}: {value}`" in text
        # The deployment the runbook reads logs from: the chart names it after the release when the release name
        # holds the chart's name (Helm's `fullname` convention in the chart's _helpers.tpl).
        release = next(engine.unwrap(r.inputs) for r in rec.by_type("kubernetes:helm.sh/v3:Release")
                       if engine.unwrap(r.inputs)["chart"] == "aws-load-balancer-controller")
        assert f"-n {release['namespace']} logs deploy/{release['name']}" in text
        # The zonal EMQX groups (tainted for EMQX) the drain paragraph names by pattern and label.
        zones = rec.by_type("aws:ec2/subnet:Subnet")
        zone_names = {engine.unwrap(s.inputs)["availabilityZone"] for s in zones}
        groups = [engine.unwrap(r.inputs) for r in rec.by_type("aws:eks/nodeGroup:NodeGroup")]
        emqx = [g for g in groups if g.get("taints") and g["labels"]["emqx-platform/pool"].startswith("emqx")]
        assert emqx
        for g in emqx:
            pool = g["labels"]["emqx-platform/pool"]
            prefix = f"emqx-{rec.stack}-{pool}-"
            assert g["nodeGroupName"].startswith(prefix), g["nodeGroupName"]
            assert g["nodeGroupName"].removeprefix(prefix) in zone_names, g["nodeGroupName"]
            assert f"`emqx-<stack>-{pool}-<zone>`" in text and f"`emqx-platform/pool: {pool}`" in text, pool


def test_vm_section_names_the_nodes_logs_scripts_and_commands(vm: list[engine.Recording]) -> None:
    text = section(VM_HEADING)
    for rec in vm:
        instances = [engine.unwrap(r.inputs) for r in rec.by_type("alicloud:ecs/instance:Instance")]
        assert instances
        for inst in instances:
            assert re.fullmatch(rf"emqx-{rec.stack}-(core|replicant)-[0-9]+", inst["instanceName"]), inst
            user_data = base64.b64decode(inst["userData"]).decode()
            # The setup script the runbook names, the journal tags it sends the engineer to.
            assert "/usr/local/sbin/emqx-node-setup.sh" in user_data and "/usr/local/sbin/emqx-node-setup.sh" in text
            for tag in ("emqx-setup", "emqx-tuning"):
                assert f"logger -t {tag} " in user_data, tag
                assert f"-t {tag}" in text, tag
        # Cloud Assistant commands: `emqx-<stack>-rollout-<node>-<digest>`, the digest the rollout_digests output.
        digests = rec.outputs["rollout_digests"]
        commands = {engine.unwrap(r.inputs)["name"] for r in rec.by_type("alicloud:ecs/command:Command")}
        assert commands == {f"emqx-{rec.stack}-rollout-{node}-{digest}" for node, digest in digests.items()}
        assert "`emqx-<stack>-rollout-<node>-<digest>`" in text
        scripts = [base64.b64decode(engine.unwrap(r.inputs)["commandContent"]).decode()
                   for r in rec.by_type("alicloud:ecs/command:Command")]
        assert all("emqx-apply: " in s for s in scripts) and "`emqx-apply:`" in text
        # No SSH: nothing opens 22.
        rules = [engine.unwrap(r.inputs) for r in rec.by_type("alicloud:ecs/securityGroupRule:SecurityGroupRule")]
        open_ssh = [r for r in rules
                    if r.get("ipProtocol") in ("tcp", "all") and r.get("portRange") in ("22/22", "1/65535", "-1/-1")]
        assert not open_ssh, open_ssh
