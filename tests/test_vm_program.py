"""The whole program on the VM stacks (stacks/Pulumi.vm-*.yaml, `mode: vm`), under the offline engine: what reaches
the cloud, read back from the recorded inputs (the user data decoded and parsed, not re-rendered), and the preview's
user-data files checked by cloud-init's schema, shellcheck and pyhocon.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyhocon import ConfigFactory

from components.render import vm_node
from preview import writers
from preview.engine import Recording
from tests.conftest import StackRunner
from tests.test_vm_node import _needs

STACKS = ("vm-dev", "vm-prod")
INSTANCE = "alicloud:ecs/instance:Instance"
SWITCH = "alicloud:vpc/switch:Switch"
INVOCATION = "alicloud:ecs/ecsInvocation:EcsInvocation"
COMMAND = "alicloud:ecs/command:Command"
ATTACHMENTS = ("alicloud:nlb/serverGroupServerAttachment:ServerGroupServerAttachment",
               "alicloud:slb/serverGroupServerAttachment:ServerGroupServerAttachment")
LISTENERS = {"alicloud:nlb/listener:Listener": ("listenerPort", "serverGroupId"),
             "alicloud:slb/listener:Listener": ("frontendPort", "serverGroupId")}
PORTS = {"tcp": 1883, "ssl": 8883, "ws": 8083, "wss": 8084}


def instances(rec: Recording) -> list[Any]:
    return rec.by_type(INSTANCE)


def raw_user_data(resource: Any) -> str:
    return base64.b64decode(resource.raw_inputs["userData"]).decode()


def conf_of(text: str) -> Any:
    doc = yaml.safe_load(text)
    (conf,) = [f["content"] for f in doc["write_files"] if f["path"] == vm_node.STAGED_CONF]
    return ConfigFactory.parse_string(conf)


@pytest.fixture(scope="module", params=STACKS)
def vm(request: pytest.FixtureRequest, run_stack: StackRunner) -> Recording:
    return run_stack(request.param)


def test_one_instance_per_node_at_its_fixed_address_in_its_zone(vm: Recording) -> None:
    switches = {f"{s.name}-id": s for s in vm.by_type(SWITCH)}
    nodes = instances(vm)
    assert nodes
    for node in nodes:
        switch = switches[node.inputs["vswitchId"]]
        ip = ipaddress.IPv4Address(node.inputs["privateIp"])
        network = ipaddress.IPv4Network(switch.inputs["cidrBlock"])
        # Inside the vSwitch, off the reserved first address and last three (VPC CreateVSwitch).
        assert network.network_address + 1 <= ip <= network.broadcast_address - 3
        assert node.inputs["tags"]["emqx-node"] == f"emqx@{ip}"
        assert node.inputs["internetMaxBandwidthOut"] == 0
        # Its own name in its user data names its own address.
        assert conf_of(raw_user_data(node)).get_string("node.name") == f"emqx@{ip}"
    assert len({n.inputs["privateIp"] for n in nodes}) == len(nodes)
    # Cores spread over the zones: no zone holds more than its share.
    zones = Counter(switches[n.inputs["vswitchId"]].inputs["zoneId"] for n in nodes
                    if n.inputs["tags"]["emqx-role"] == "core")
    assert max(zones.values()) - min(zones.values()) <= 1


def test_each_core_mounts_the_data_disk_its_instance_is_given(vm: Recording) -> None:
    # The instance's data disk is only worth its price if the user data puts /var/lib/emqx (node.data_dir) on it.
    for node in instances(vm):
        text = raw_user_data(node)
        setup = next(f["content"] for f in yaml.safe_load(text)["write_files"] if f["path"] == vm_node.SETUP_PATH)
        disks = node.inputs.get("dataDisks") or []
        if node.inputs["tags"]["emqx-role"] == "core":
            (disk,) = disks
            assert f"mount_data_disk {disk['size'] * 1024 ** 3}\n" in setup
            assert conf_of(text).get_string("node.data_dir") == vm_node.DATA_DIR
        else:
            assert not disks and "mount_data_disk" not in setup


def test_every_nodes_seeds_are_exactly_the_core_nodes(vm: Recording) -> None:
    cores = sorted(f"emqx@{n.inputs['privateIp']}" for n in instances(vm) if n.inputs["tags"]["emqx-role"] == "core")
    assert len(cores) >= 3
    for node in instances(vm):
        conf = conf_of(raw_user_data(node))
        assert sorted(conf.get_list("cluster.static.seeds")) == cores
        assert conf.get_string("cluster.discovery_strategy") == "static"
        assert conf.get_string("node.role") == node.inputs["tags"]["emqx-role"]


def test_no_secret_in_any_user_data_command_or_output(vm: Recording) -> None:
    secrets = [s for s in vm.secret_values if len(s) >= 6]
    assert secrets
    texts = [raw_user_data(n) for n in instances(vm)]
    texts += [base64.b64decode(c.raw_inputs["commandContent"]).decode() for c in vm.by_type(COMMAND)]
    for text in texts:
        for secret in secrets:
            assert secret not in text
        assert "emqxsecretcookie" not in text and "PRIVATE KEY" not in text
    assert vm.outputs["dashboard_password"] == "[secret]"
    rendered = repr(vm.outputs)
    assert not any(s in rendered for s in secrets)
    # Every secret parameter holds a secret value on the wire.
    for param in vm.by_type("alicloud:oos/secretParameter:SecretParameter"):
        assert param.inputs["value"] == "[secret]"


def test_no_kubernetes_and_no_ack_network_pieces(vm: Recording) -> None:
    types = {r.type for r in vm.resources}
    assert not any(t.startswith(("kubernetes:", "alicloud:cs/")) for t in types)
    names = {r.name for r in vm.resources}
    stack = vm.stack
    assert f"emqx-{stack}-nodes" not in names  # the ACK node security group (network.py)
    assert not any(r.name.startswith(f"emqx-{stack}-pods-") for r in vm.by_type(SWITCH))


def test_rollout_runs_cores_first_one_node_after_the_other(vm: Recording) -> None:
    by_instance = {f"{n.name}-id": n for n in instances(vm)}
    invocations = vm.by_type(INVOCATION)
    assert len(invocations) == len(instances(vm))
    # Follow the chain from the one invocation that waits for no other.
    names = {i.name for i in invocations}
    # (A command shares its invocation's name: a dependency on it is not one on another invocation.)
    waits = {i.name: [d for d in i.dependencies if d in names and d != i.name] for i in invocations}
    (first,) = [n for n, w in waits.items() if not w]
    order = [first]
    while True:
        following = [n for n, w in waits.items() if w == [order[-1]]]
        if not following:
            break
        (nxt,) = following
        order.append(nxt)
    assert len(order) == len(invocations)
    roles = []
    for name in order:
        (invocation,) = [i for i in invocations if i.name == name]
        (instance_id,) = invocation.inputs["instanceIds"]
        roles.append(by_instance[instance_id].inputs["tags"]["emqx-role"])
    assert roles == sorted(roles)  # "core" < "replicant"
    # Each command runs its node's apply script after the first boot, and is keyed by a digest of it.
    for command in vm.by_type(COMMAND):
        script = base64.b64decode(command.raw_inputs["commandContent"]).decode()
        assert "cloud-init status --wait" in script.split(vm_node.APPLIED_MARKER)[0]
        digest = re.search(r"^digest=([0-9a-f]{16})$", script, re.M)
        assert digest is not None
        assert command.name.startswith(f"emqx-{vm.stack}-rollout-")


def test_load_balancer_backends_every_served_port_on_every_node(vm: Recording) -> None:
    ids = {f"{n.name}-id": n for n in instances(vm)}
    group_port: dict[str, int] = {}
    for token, (port_key, group_key) in LISTENERS.items():
        for listener in vm.by_type(token):
            group_port[listener.inputs[group_key]] = int(listener.inputs[port_key])
    attachments = [a for t in ATTACHMENTS for a in vm.by_type(t)]
    seen = Counter((int(a.inputs["port"]), a.inputs["serverId"]) for a in attachments)
    for a in attachments:
        # The backend port is the listener's port: TCP passes through to EMQX at the same port.
        assert group_port[a.inputs["serverGroupId"]] == int(a.inputs["port"])
    assert set(seen.values()) == {1}
    served = set(group_port.values())
    assert seen.keys() == {(p, i) for p in served for i in ids}
    # EMQX on every node listens on exactly the MQTT ports the load balancer forwards.
    for node in instances(vm):
        conf = conf_of(raw_user_data(node))
        enabled = {port for kind, port in PORTS.items()
                   if conf.get_bool(f"listeners.{kind}.default.enable", True)}
        assert enabled == served - {18083}


def test_the_mqtt_auth_chain_reaches_every_node(vm: Recording) -> None:
    for node in instances(vm):
        conf = conf_of(raw_user_data(node))
        assert "authentication" in conf and "authorization" in conf
        if vm.stack == "vm-prod":
            # Production: clients authenticate; what no rule allows is denied.
            assert conf.get_list("authentication")
            assert conf.get_string("authorization.no_match") == "deny"


def test_outputs(vm: Recording) -> None:
    nodes = vm.outputs["nodes"]
    assert [n["private_ip"] for n in nodes] == [i.inputs["privateIp"] for i in instances(vm)]
    assert {"mqtt_endpoints", "dashboard_url", "load_balancer_id", "sizing", "cost"} <= vm.outputs.keys()
    assert "kubeconfig" not in vm.outputs
    # The cost counts the instances created, by role; a VM rollout adds none (peak = rest).
    roles = Counter(i.inputs["tags"]["emqx-role"] for i in instances(vm))
    cost = vm.outputs["cost"]["roles"]
    assert cost["cores"]["count_at_rest"] == cost["cores"]["count_at_peak"] == roles["core"]
    assert cost.get("client_nodes", {}).get("count_at_rest", 0) == roles["replicant"]


# --- the preview's user-data files ----------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=STACKS)
def preview_dir(request: pytest.FixtureRequest, run_stack: StackRunner, tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[Recording, Path]:
    rec = run_stack(request.param)
    out = tmp_path_factory.mktemp("build")
    writers.write_outputs(rec, out, request.param)
    return rec, out / request.param / "user-data"


def test_preview_writes_one_cloud_config_per_node(preview_dir: tuple[Recording, Path]) -> None:
    rec, directory = preview_dir
    written = sorted(p.name for p in directory.iterdir())
    assert written == sorted(f"{i.inputs['instanceName']}.yaml" for i in instances(rec))


def test_preview_user_data_passes_cloud_init_shellcheck_and_pyhocon(preview_dir: tuple[Recording, Path],
                                                                    tmp_path: Path) -> None:
    _, directory = preview_dir
    for path in sorted(directory.iterdir()):
        text = path.read_text()
        assert len(text.encode()) <= 16 * 1024, path.name
        assert text.startswith("#cloud-config\n")
        result = subprocess.run([_needs("cloud-init"), "schema", "--config-file", str(path)], capture_output=True,
                                text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        doc = yaml.safe_load(text)
        # The schema ignores unknown top-level keys: the allowlist catches a misspelt module.
        assert set(doc) <= {"write_files", "runcmd"}, path.name
        scripts = [f["content"] for f in doc["write_files"] if f["content"].startswith("#!")]
        assert len(scripts) == 3
        for i, script in enumerate(scripts):
            target = tmp_path / f"{path.stem}-{i}.sh"
            target.write_text(script)
            check = subprocess.run([_needs("shellcheck"), "-s", "bash", "-S", "style", str(target)],
                                   capture_output=True, text=True)
            assert check.returncode == 0, check.stdout
        conf_of(text)


def test_every_rollout_command_passes_shellcheck(vm: Recording, tmp_path: Path) -> None:
    for command in vm.by_type(COMMAND):
        script = base64.b64decode(command.raw_inputs["commandContent"]).decode()
        target = tmp_path / f"{command.name}.sh"
        target.write_text(script)
        check = subprocess.run([_needs("shellcheck"), "-s", "bash", "-S", "style", str(target)],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout


def test_the_kubernetes_stacks_keep_the_ack_node_security_group(run_stack: StackRunner) -> None:
    rec = run_stack("dev")
    assert rec.one("alicloud:ecs/securityGroup:SecurityGroup", "emqx-dev-nodes").inputs["innerAccessPolicy"] == "Accept"
    assert not rec.by_type(INSTANCE) and not rec.by_type(COMMAND)
