"""VM-mode components (components/alicloud/vm_*.py), constructed directly under Pulumi mocks (preview=False), and the
pure address plan they rely on.

The harness is the offline engine's (preview/engine.py run_function): every registration as the engine receives it
(type, name, parent, dependencies, protect, ignoreChanges, custom timeouts, inputs with secret markers in place).
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pulumi
import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.alicloud import vm_address_plan as plan
from components.alicloud.vm_load_balancer import VmLoadBalancer
from components.alicloud.vm_nodes import VmNodes
from components.alicloud.vm_rollout import VmRollout, rollout_script
from components.alicloud.vm_secrets import VmSecrets
from components.alicloud.vm_security_group import VmSecurityGroup
from components.alicloud.vm_spec import DiskSpec, SecretNames, VmClusterSpec, VmNodePlan
from components.settings import HealthCheckSettings, LoadBalancerSettings
from preview import engine

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"  # Pulumi's wire signature key (pulumi/runtime/rpc.py)
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
INSTANCE = "alicloud:ecs/instance:Instance"
RULE = "alicloud:ecs/securityGroupRule:SecurityGroupRule"
INVOCATION = "alicloud:ecs/ecsInvocation:EcsInvocation"
REGION = "cn-hangzhou"
ACCOUNT = "1234567890123456"
LICENSE = "offline-licence-key-text"
ZONES = [("cn-hangzhou-h", "10.20.0.0/18"), ("cn-hangzhou-i", "10.20.64.0/18"), ("cn-hangzhou-j", "10.20.128.0/18")]
VSWITCHES = {zone: f"vsw-{zone}" for zone, _ in ZONES}


# ------------------------------------------------------------------------------------------------ harness


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    parent: str
    dependencies: list[str]
    protect: bool
    ignore_changes: list[str]
    create_timeout: str
    delete_before_replace: bool
    inputs: dict[str, Any]


class Recording:
    def __init__(self, registered: list[Registered], generated: set[str]) -> None:
        self.registered = registered
        self.generated = generated  # every value the fake random provider handed out

    def by_type(self, typ: str) -> list[Registered]:
        return [r for r in self.registered if r.type == typ]

    def named(self, name: str) -> Registered:
        (found,) = [r for r in self.registered if r.name == name]
        return found


def unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG:
            return unwrap(value["value"])
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def has_secret_marker(value: Any) -> bool:
    if isinstance(value, dict):
        return value.get(SECRET_SIG_KEY) == SECRET_SIG or any(has_secret_marker(v) for v in value.values())
    if isinstance(value, list):
        return any(has_secret_marker(v) for v in value)
    return False


def _marked(raw: Any, shown: Any) -> Any:
    """The raw inputs with a secret marker wherever the engine masks a value (what the wire carried as secret)."""
    if isinstance(raw, dict) and isinstance(shown, dict):
        return {k: _marked(v, shown.get(k)) for k, v in raw.items()}
    if isinstance(raw, list) and isinstance(shown, list) and len(raw) == len(shown):
        return [_marked(r, v) for r, v in zip(raw, shown, strict=True)]
    if shown == engine.SECRET_TEXT and raw != engine.SECRET_TEXT:
        return {SECRET_SIG_KEY: SECRET_SIG, "value": raw}
    return raw


def run(build: Callable[[], object]) -> Recording:
    """`build` under the offline engine's mocks (preview/engine.py run_function, preview=False)."""
    rec = engine.run_function(build)
    registered = [
        Registered(type=r.type, name=r.name, urn=r.urn, parent=r.parent_urn or "",
                   dependencies=list(r.dependency_urns), protect=bool(r.options.get("protect")),
                   ignore_changes=list(r.options.get("ignoreChanges", [])),
                   create_timeout=r.options.get("customTimeouts", {}).get("create", ""),
                   delete_before_replace=bool(r.options.get("deleteBeforeReplace")),
                   inputs=_marked(r.raw_inputs, r.inputs))
        for r in rec.resources
    ]
    # Every value the fake random provider handed out.
    generated = {str(r.raw_outputs["result"]) for r in rec.by_type("random:index/randomPassword:RandomPassword")}
    return Recording(registered, generated)


# ------------------------------------------------------------------------------------------------ fixtures


def cluster_spec(protect: bool = False, cores: int = 3, replicants: int = 2) -> VmClusterSpec:
    nodes: list[VmNodePlan] = []
    for role, count in (("core", cores), ("replicant", replicants)):
        for a in plan.plan_addresses(ZONES, role, count):  # type: ignore[arg-type]
            nodes.append(VmNodePlan(
                name=f"{a.role}-{a.ordinal}", role=a.role, zone=a.zone, vswitch_cidr=a.vswitch_cidr,
                private_ip=a.private_ip, instance_type="ecs.c7.xlarge", system_disk=DiskSpec(40),
                data_disk=DiskSpec(100) if role == "core" else None,
            ))
    return VmClusterSpec(
        image_id="aliyun_3_x64_20G_alibase_20250101.vhd", nodes=tuple(nodes),
        secret_names=SecretNames(cookie="emqx-test/cookie", dashboard_password="emqx-test/dashboard",
                                 license="emqx-test/license"),
        tags=(("stack", "test"),), protect=protect, role_name="emqx-test-node",
    )


def user_data(node: VmNodePlan) -> str:
    # Stands in for the renderer's output: node-specific, secret-free.
    return (f"#cloud-config\nhostname: {node.name}\nwrite_files:\n- path: /etc/emqx/node\n"
            f"  content: {node.emqx_node_name}\n")


def lb_settings(kind: str = "nlb") -> LoadBalancerSettings:
    return LoadBalancerSettings(type=kind, address_type="internet", scheduler="wrr",  # type: ignore[arg-type]
                                idle_timeout_seconds=900, health_check=HealthCheckSettings(5, 5, 2, 2),
                                deletion_protection=False, allow_plain_text=True)


def build_all(spec: VmClusterSpec, scripts: dict[str, str] | None = None, lb_kind: str = "nlb") -> None:
    tags = {"stack": "test"}
    sg = VmSecurityGroup("emqx-test-vm", vpc_id="vpc-1", client_cidrs=["0.0.0.0/0"], admin_cidrs=["192.0.2.0/24"],
                         mqtt_ports=[1883, 8883, 8083, 8084], probe_cidrs=[c for _, c in ZONES], tags=tags)
    secrets = VmSecrets("emqx-test-vm", names=spec.secret_names, region=REGION, account_id=ACCOUNT,
                        role_name=spec.role_name, license_key=pulumi.Output.secret(LICENSE), kms_key_id="key-1",
                        tags=tags, protect=spec.protect)
    nodes = VmNodes("emqx-test-vm", spec=spec, vswitch_ids=VSWITCHES, security_group_id=sg.security_group_id,
                    role_name=secrets.role_name, user_data=user_data, after=secrets.ready)
    scripts = scripts or {n.name: f"echo apply {n.name}\n" for n in spec.nodes}
    VmRollout("emqx-test-vm-rollout", nodes=spec.nodes, instance_ids=nodes.instance_ids,
              scripts=[scripts[n.name] for n in spec.nodes], timeout_seconds=900)
    VmLoadBalancer("emqx-test-vm-lb", settings=lb_settings(lb_kind), vpc_id="vpc-1",
                   vswitch_ids=list(VSWITCHES.values()), zones=list(VSWITCHES), client_cidrs=["0.0.0.0/0"],
                   admin_cidrs=["192.0.2.0/24"], listener_cps=10000,
                   backends=[(n.name, i) for n, i in zip(spec.nodes, nodes.instance_ids, strict=True)], tags=tags)


@pytest.fixture(scope="module")
def dev() -> Recording:
    return run(lambda: build_all(cluster_spec()))


@pytest.fixture(scope="module")
def prod() -> Recording:
    return run(lambda: build_all(cluster_spec(protect=True)))


# ------------------------------------------------------------------------------------------------ address plan


def test_addresses_follow_the_documented_rule() -> None:
    # network + offset 10 + k for cores, + 64 + k for replicants; the first vSwitch address is reserved.
    assert plan.node_address("10.20.0.0/18", "core", 0) == "10.20.0.10"
    assert plan.node_address("10.20.64.0/18", "core", 4) == "10.20.64.14"
    assert plan.node_address("10.20.0.0/18", "replicant", 1) == "10.20.0.75"
    with pytest.raises(ValueError, match="outside the usable addresses"):
        plan.node_address("10.20.0.0/29", "core", 0)  # a /29 has .1-.4 usable
    with pytest.raises(ValueError, match="first address is reserved"):
        plan.node_address("10.20.0.0/24", "core", 0, host_offset=0)
    with pytest.raises(ValueError, match="at most 64 cores"):
        plan.node_address("10.20.0.0/16", "core", 64)


cidr_lists = st.lists(st.integers(min_value=0, max_value=255), min_size=1, max_size=4, unique=True).map(
    lambda thirds: [(f"zone-{i}", f"10.{t}.0.0/22") for i, t in enumerate(thirds)])


@given(zones=cidr_lists, cores=st.integers(1, 20), replicants=st.integers(0, 40), more=st.integers(0, 20))
def test_plan_never_renumbers_and_never_collides(zones: list[tuple[str, str]], cores: int, replicants: int,
                                                 more: int) -> None:
    small = plan.plan_addresses(zones, "core", cores) + plan.plan_addresses(zones, "replicant", replicants)
    big = plan.plan_addresses(zones, "core", cores + more) + plan.plan_addresses(zones, "replicant", replicants + more)
    # Growing either role keeps every existing node's zone, vSwitch and address.
    assert set(small) <= set(big)
    ips = [a.private_ip for a in big]
    assert len(ips) == len(set(ips))
    for a in big:
        net = ipaddress.IPv4Network(a.vswitch_cidr)
        ip = ipaddress.IPv4Address(a.private_ip)
        assert ip in net
        # Alibaba reserves the first and the last three addresses of a vSwitch.
        assert net.network_address < ip < net.broadcast_address - 2
        assert dict(zones)[a.zone] == a.vswitch_cidr


def test_spec_refuses_a_data_disk_on_a_replicant_and_an_ip_outside_the_vswitch() -> None:
    core = cluster_spec().nodes[0]
    with pytest.raises(ValueError, match="no data disk"):
        replace(core, role="replicant")
    with pytest.raises(ValueError, match="outside its vSwitch"):
        replace(core, private_ip="10.99.0.10")


# ------------------------------------------------------------------------------------------------ nodes


def test_one_instance_per_node_with_its_fixed_ip_zone_and_no_public_address(dev: Recording) -> None:
    spec = cluster_spec()
    instances = {r.name: r.inputs for r in dev.by_type(INSTANCE)}
    assert sorted(instances) == sorted(f"emqx-test-vm-{n.name}" for n in spec.nodes)
    for role in ("core", "replicant"):
        assert dev.named(f"emqx-test-vm-{role}-spread").inputs["strategy"] == "Availability"
    zones_used = set()
    for node in spec.nodes:
        inputs = instances[f"emqx-test-vm-{node.name}"]
        assert inputs["privateIp"] == node.private_ip
        assert inputs["vswitchId"] == VSWITCHES[node.zone]
        zones_used.add(node.zone)
        assert inputs["deploymentSetId"] == f"emqx-test-vm-{node.role}-spread-id"
        assert inputs["internetMaxBandwidthOut"] == 0
        assert inputs["securityGroups"] == ["emqx-test-vm-sg-id"]
        assert inputs["roleName"] == "emqx-test-node"
        # Cores alone carry a data disk.
        assert ("dataDisks" in inputs) == (node.role == "core")
        decoded = base64.b64decode(unwrap(inputs["userData"])).decode()
        assert decoded == user_data(node)
    assert zones_used == set(VSWITCHES)


def test_no_deployment_set_holds_more_than_twenty_nodes_of_a_zone() -> None:
    # An Availability deployment set takes at most 20 instances per zone and the limit cannot be raised (Alibaba ACK
    # 'Best practices for associating deployment sets with node pools', quoting ECS's deployment set limits): 64 cores
    # and 100 replicants over the test's zones need more sets, and a node keeps its set when the fleet grows.
    big = cluster_spec(cores=64, replicants=100)
    rec = run(lambda: VmNodes("emqx-test-vm", spec=big, vswitch_ids=VSWITCHES, security_group_id="sg-1",
                              role_name="r", user_data=user_data))
    per_set_zone: dict[tuple[str, str], int] = {}
    for node in big.nodes:
        inputs = rec.named(f"emqx-test-vm-{node.name}").inputs
        key = (inputs["deploymentSetId"], node.zone)
        per_set_zone[key] = per_set_zone.get(key, 0) + 1
    assert max(per_set_zone.values()) == 20
    sets = {r.name for r in rec.by_type("alicloud:ecs/ecsDeploymentSet:EcsDeploymentSet")}
    assert {sid for sid, _ in per_set_zone} == {f"{n}-id" for n in sets}
    small = run(lambda: VmNodes("emqx-test-vm", spec=cluster_spec(cores=3, replicants=2), vswitch_ids=VSWITCHES,
                                security_group_id="sg-1", role_name="r", user_data=user_data))
    for node in cluster_spec(cores=3, replicants=2).nodes:
        assert (small.named(f"emqx-test-vm-{node.name}").inputs["deploymentSetId"]
                == rec.named(f"emqx-test-vm-{node.name}").inputs["deploymentSetId"])


def test_no_secret_reaches_any_user_data(dev: Recording) -> None:
    secrets = dev.generated | {LICENSE}
    assert len(dev.generated) == 2  # the cookie and the dashboard password
    for r in dev.by_type(INSTANCE):
        assert not has_secret_marker(r.inputs)  # no secret anywhere in an instance's inputs
        text = base64.b64decode(unwrap(r.inputs["userData"])).decode()
        assert not any(s in text or s in unwrap(r.inputs["userData"]) for s in secrets)
    # ... while the OOS parameters do hold them, marked secret.
    params = {r.inputs["secretParameterName"]: r.inputs
              for r in dev.by_type("alicloud:oos/secretParameter:SecretParameter")}
    assert set(params) == {"emqx-test/cookie", "emqx-test/dashboard", "emqx-test/license"}
    for p in params.values():
        assert has_secret_marker(p["value"]) and p["type"] == "Secret" and p["keyId"] == "key-1"
    assert unwrap(params["emqx-test/license"]["value"]) == LICENSE


def test_user_data_change_or_new_image_never_reboots_the_fleet(dev: Recording) -> None:
    # A new instance type is applied by stop/modify/start and a new data disk size replaces the instance
    # (terraform-provider-alicloud resource_alicloud_instance.go: modifyInstanceType; data_disks.* ForceNew):
    # on a running fleet, Pulumi would do either to every node at once.
    for r in dev.by_type(INSTANCE):
        assert {"userData", "imageId", "instanceType", "dataDisks"} <= set(r.ignore_changes)


def test_a_replaced_node_gives_up_its_fixed_address_first(dev: Recording) -> None:
    # `pulumi up --replace <node>` (README, VM mode): create-before-delete would ask the VPC for an address the old
    # instance still holds.
    instances = dev.by_type(INSTANCE)
    assert instances and all(r.delete_before_replace for r in instances)


def test_instances_wait_for_the_secrets_and_role(dev: Recording) -> None:
    (attachment,) = dev.by_type("alicloud:ram/rolePolicyAttachment:RolePolicyAttachment")
    for r in dev.by_type(INSTANCE):
        assert attachment.urn in r.dependencies


def test_production_protects_nodes_and_secrets(dev: Recording, prod: Recording) -> None:
    for typ in (INSTANCE, "alicloud:oos/secretParameter:SecretParameter", "random:index/randomPassword:RandomPassword"):
        assert dev.by_type(typ) and not any(r.protect for r in dev.by_type(typ))
        assert all(r.protect for r in prod.by_type(typ))
    assert all(r.inputs["deletionProtection"] for r in prod.by_type(INSTANCE))


def test_too_large_user_data_is_refused() -> None:
    spec = cluster_spec(cores=1, replicants=0)
    with pytest.raises(Exception, match="at most 16384"):
        run(lambda: VmNodes("big", spec=spec, vswitch_ids=VSWITCHES, security_group_id="sg", role_name="r",
                            user_data=["x" * (16 * 1024 + 1)]))


# ------------------------------------------------------------------------------------------------ security group


def test_cluster_ports_only_from_the_group_and_nothing_on_ssh(dev: Recording) -> None:
    sg = dev.named("emqx-test-vm-sg")
    assert sg.inputs["innerAccessPolicy"] == "Drop"
    rules = [r.inputs for r in dev.by_type(RULE) if r.inputs["securityGroupId"] == "emqx-test-vm-sg-id"]
    covered: dict[int, list[dict[str, Any]]] = {}
    for rule in rules:
        if rule["ipProtocol"] != "tcp":
            continue
        low, high = (int(p) for p in rule["portRange"].split("/"))
        for port in (22, 4370, 5370, 1883, 18083):
            if low <= port <= high:
                covered.setdefault(port, []).append(rule)
    assert 22 not in covered
    for port in (4370, 5370):
        assert covered[port] == [{**covered[port][0], "sourceSecurityGroupId": "emqx-test-vm-sg-id"}]
        assert "cidrIp" not in covered[port][0]
    assert {r["cidrIp"] for r in covered[18083]} == {"192.0.2.0/24", *(c for _, c in ZONES)}
    assert {r["cidrIp"] for r in covered[1883]} == {"0.0.0.0/0", *(c for _, c in ZONES)}
    assert not [r for r in rules if r["ipProtocol"] == "all"]


# ------------------------------------------------------------------------------------------------ secrets


def test_role_trusts_ecs_and_reads_exactly_the_cluster_parameters(dev: Recording) -> None:
    role = dev.named("emqx-test-vm-role")
    trust = json.loads(role.inputs["assumeRolePolicyDocument"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": ["ecs.aliyuncs.com"]}]
    (policy_resource,) = dev.by_type("alicloud:ram/policy:Policy")
    policy = json.loads(unwrap(policy_resource.inputs["policyDocument"]))
    expected = {f"acs:oos:cn-hangzhou:{ACCOUNT}:secretparameter/emqx-test/{n}"
                for n in ("cookie", "dashboard", "license")}
    actions = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert set(statement["Resource"]) == expected
        actions |= set(statement["Action"])
    assert actions == {"oos:GetSecretParameter", "kms:GetSecretValue"}
    (attachment,) = dev.by_type("alicloud:ram/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["roleName"] == "emqx-test-node" and attachment.inputs["policyType"] == "Custom"


# ------------------------------------------------------------------------------------------------ rollout


def invocations(rec: Recording) -> list[Registered]:
    return rec.by_type(INVOCATION)


def test_invocations_run_one_node_after_the_other(dev: Recording) -> None:
    spec = cluster_spec()
    chain = invocations(dev)
    assert [c.name.rsplit("-", 1)[0] for c in chain] == [f"emqx-test-vm-rollout-{n.name}" for n in spec.nodes]
    for earlier, later in itertools.pairwise(chain):
        assert earlier.urn in later.dependencies
    assert not any(c.urn in chain[0].dependencies for c in chain)
    for c in chain:
        assert c.inputs["repeatMode"] == "Once"
        assert len(c.inputs["instanceIds"]) == 1
        # Pulumi waits for the script's own timeout (900 s) plus the margin, not the provider's 1-minute default.
        assert c.create_timeout == "1020s"
    (command,) = [r for r in dev.by_type("alicloud:ecs/command:Command") if r.name == chain[0].name]
    script = base64.b64decode(command.inputs["commandContent"]).decode()
    assert script.startswith("#!/bin/bash\nset -euo pipefail\n") and "cloud-init status --wait" in script
    assert script.endswith("echo apply core-0\n")


def test_an_unchanged_node_keeps_its_invocation(dev: Recording) -> None:
    spec = cluster_spec()
    scripts = {n.name: f"echo apply {n.name}\n" for n in spec.nodes}
    scripts["core-1"] = "echo apply core-1 with a new config\n"
    again = run(lambda: build_all(spec, scripts))
    before = [c.name for c in invocations(dev)]
    after = [c.name for c in invocations(again)]
    changed = [(b, a) for b, a in zip(before, after, strict=True) if a != b]
    assert len(changed) == 1 and changed[0][0].startswith("emqx-test-vm-rollout-core-1-")
    same = run(lambda: build_all(spec))
    assert [c.name for c in invocations(same)] == before


def test_the_whole_command_with_its_preamble_is_held_to_cloud_assistants_limit() -> None:
    # A node script the renderer lets through (base64 exactly at the 18 KB CommandContent limit: ROS
    # ALIYUN::ECS::Command) no longer fits once the preamble is prepended: refused before any resource exists.
    from components.render.vm_node import COMMAND_LIMIT
    script = "#" * (COMMAND_LIMIT // 4 * 3 - 1) + "\n"
    assert len(base64.b64encode(script.encode())) <= COMMAND_LIMIT
    spec = cluster_spec()
    scripts = {n.name: f"echo apply {n.name}\n" for n in spec.nodes}
    scripts["replicant-1"] = script
    with pytest.raises(ValueError, match="with the rollout preamble, over Cloud Assistant's 18432-byte limit"):
        run(lambda: build_all(spec, scripts))

    def rollout_alone() -> None:
        with pytest.raises(ValueError, match="rollout preamble"):
            VmRollout("r", nodes=spec.nodes, instance_ids=["i"] * len(spec.nodes),
                      scripts=[scripts[n.name] for n in spec.nodes], timeout_seconds=900)

    # The oversized script is the last node's: no earlier node got a command either.
    assert run(rollout_alone).by_type("alicloud:ecs/command:Command") == []


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_the_rollout_preamble_passes_shellcheck() -> None:
    script = rollout_script('systemctl restart emqx\n')
    result = subprocess.run(["shellcheck", "--shell=bash", "-"], input=script, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout


# ------------------------------------------------------------------------------------------------ load balancer


@pytest.mark.parametrize("kind", ["nlb", "clb"])
def test_every_instance_is_a_backend_of_every_listener(kind: str) -> None:
    spec = cluster_spec()
    rec = run(lambda: build_all(spec, lb_kind=kind))
    token = ("alicloud:nlb/serverGroupServerAttachment:ServerGroupServerAttachment" if kind == "nlb"
             else "alicloud:slb/serverGroupServerAttachment:ServerGroupServerAttachment")
    attachments = rec.by_type(token)
    labels = {1883: "mqtt", 8883: "mqtts", 8083: "ws", 8084: "wss", 18083: "dashboard"}
    prefix = "emqx-test-vm-lb-nlb" if kind == "nlb" else "emqx-test-vm-lb"
    seen = set()
    for a in attachments:
        port = int(a.inputs["port"])
        node = a.name.split(f"emqx-test-vm-lb-{port}-", 1)[1]
        assert a.inputs["serverId"] == f"emqx-test-vm-{node}-id"
        # Each port's backends go into that port's own group, at the EMQX port itself.
        assert a.inputs["serverGroupId"] == f"{prefix}-{labels[port]}-id"
        assert a.inputs.get("serverType", a.inputs.get("type")) == ("Ecs" if kind == "nlb" else "ecs")
        seen.add((port, node))
    assert seen == {(p, n.name) for p in labels for n in spec.nodes}
    if kind == "nlb":
        # The NLB takes its VIPs in the node vSwitches only after the nodes hold their fixed addresses.
        nlb = rec.named("emqx-test-vm-lb-nlb")
        node_urns = {r.urn for r in rec.by_type(INSTANCE)}
        assert node_urns <= set(nlb.dependencies)
