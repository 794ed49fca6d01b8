"""VM-mode additions to the node renderer (components/render/vm_node.py): the day-two apply script, run for real
against a scratch root with stand-ins for the setup and the join wait; MQTT auth in emqx.conf read back with
pyhocon; the VM tuning profile's reserved ports.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyhocon import ConfigFactory

from components.render import auth as auth_render
from components.render import vm_node
from components.render.vm_node import render_vm_apply_script, render_vm_user_data
from components.settings import AclRule, AuthSettings, HttpAuthSettings, JwtSettings, X509Settings
from components.tuning import build_profile
from tests.test_vm_node import _needs, _stub, acl3_core, content, files, largest, ubuntu_replicant

# --- the apply script ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [acl3_core, ubuntu_replicant, largest])
def test_apply_script_passes_shellcheck_and_fits_cloud_assistant(make: Any, tmp_path: Path) -> None:
    script = render_vm_apply_script(make())
    path = tmp_path / "apply.sh"
    path.write_text(script)
    subprocess.run([_needs("bash"), "-n", str(path)], check=True)
    result = subprocess.run([_needs("shellcheck"), "-s", "bash", "-S", "style", str(path)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout
    # CreateCommand: CommandContent base64, at most 18 KB.
    assert len(base64.b64encode(script.encode())) <= 18 * 1024


class Node:
    """A scratch root holding what cloud-init wrote from a node's user data, and the apply script run against it."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "root"
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.calls = tmp_path / "calls"
        # install -o root -g root needs root; the ownership is not what these tests are about.
        _stub(self.bin, "install", 'args=()\nwhile [ $# -gt 0 ]; do\n  case "$1" in -o|-g) shift ;; *) '
                                   'args+=("$1") ;; esac\n  shift\ndone\nexec /usr/bin/install "${args[@]}"\n')
        self.ok("setup")
        self.ok("wait")

    def ok(self, stub: str, rc: int = 0) -> None:
        _stub(self.bin, f"stub-{stub}", f'echo {stub} >>"{self.calls}"\nexit {rc}\n')

    def first_boot(self, user_data: str) -> None:
        # As cloud-init's write_files would, straight from the user data's YAML (not from node_files).
        for path, entry in files(user_data).items():
            target = self.here(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(entry["content"])
            target.chmod(int(entry["permissions"], 8))

    def here(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def run(self, script: str) -> tuple[int, list[str], str]:
        lines = []
        for line in script.splitlines():
            if line == vm_node.SETUP_PATH:
                line = "stub-setup"
            elif line.lstrip().startswith(vm_node.WAIT_PATH + " "):
                line = line.replace(vm_node.WAIT_PATH, "stub-wait")
            lines.append(line)
        text = "\n".join(lines) + "\n"
        for prefix in ("/usr/local/sbin/", "/etc/emqx-platform/", "/etc/emqx-platform ", "/etc/systemd/"):
            text = text.replace(prefix, str(self.root) + prefix)
        text = text.replace(f"marker={vm_node.APPLIED_MARKER}", f"marker={self.here(vm_node.APPLIED_MARKER)}")
        self.calls.write_text("")
        result = subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}"})
        marker = self.here(vm_node.APPLIED_MARKER)
        return (result.returncode, self.calls.read_text().split(),
                marker.read_text().strip() if marker.exists() else "")


def test_a_fresh_node_is_not_restarted_and_a_change_runs_the_setup_once(tmp_path: Path) -> None:
    node = Node(tmp_path)
    spec = acl3_core()
    node.first_boot(render_vm_user_data(spec))
    rc, calls, marker = node.run(render_vm_apply_script(spec))
    # The files are those cloud-init wrote: only the join check, no setup (no restart).
    assert (rc, calls, marker) == (0, ["wait"], vm_node.node_digest(spec))
    assert node.run(render_vm_apply_script(spec)) == (0, ["wait"], vm_node.node_digest(spec))

    changed = dataclasses.replace(spec, listeners=dataclasses.replace(spec.listeners, max_conn_rate=777))
    rc, calls, marker = node.run(render_vm_apply_script(changed))
    assert (rc, calls, marker) == (0, ["setup"], vm_node.node_digest(changed))
    for path, entry in files(render_vm_user_data(changed)).items():
        assert node.here(path).read_text() == entry["content"], path
        assert oct(node.here(path).stat().st_mode & 0o777) == oct(int(entry["permissions"], 8)), path
    assert 'max_conn_rate = "777/s"' in node.here(vm_node.STAGED_CONF).read_text()
    # Applied: the next run is a join check again.
    assert node.run(render_vm_apply_script(changed)) == (0, ["wait"], vm_node.node_digest(changed))


def test_a_failed_setup_is_retried_on_the_next_run_and_fails_the_invocation(tmp_path: Path) -> None:
    node = Node(tmp_path)
    spec = acl3_core()
    node.first_boot(render_vm_user_data(spec))
    changed = dataclasses.replace(spec, join_timeout_seconds=600)
    node.ok("setup", rc=1)
    rc, calls, marker = node.run(render_vm_apply_script(changed))
    assert rc != 0 and calls == ["setup"] and marker == "pending"
    # The files are already the new ones, but the setup never finished with them: it runs again.
    node.ok("setup")
    assert node.run(render_vm_apply_script(changed)) == (0, ["setup"], vm_node.node_digest(changed))


def test_a_node_out_of_the_cluster_fails_the_apply(tmp_path: Path) -> None:
    node = Node(tmp_path)
    spec = acl3_core()
    node.first_boot(render_vm_user_data(spec))
    node.ok("wait", rc=1)
    rc, calls, marker = node.run(render_vm_apply_script(spec))
    assert rc != 0 and calls == ["wait"] and marker != vm_node.node_digest(spec)


@pytest.mark.parametrize(("stopped", "restarts"), [("", True), ('"emqx@10.0.2.10"', False),
                                                    ('"emqx@10.0.9.99"', True)])
def test_a_change_never_restarts_a_node_while_a_core_is_down(stopped: str, restarts: bool, tmp_path: Path) -> None:
    # The real output shape of `emqx ctl cluster status --json` (emqx_mgmt_cli.erl cluster_info, pretty-printed by
    # best_effort_json): a stopped core (the node before this one failed its rollout) stops the apply before any
    # file or restart; a stopped node that is no core (a replicant scaled in) does not.
    node = Node(tmp_path)
    spec = acl3_core()
    node.first_boot(render_vm_user_data(spec))
    status = ('{\n  "running_nodes": [\n    "emqx@10.0.1.10"\n  ],\n  "stopped_nodes": [\n    ' + stopped
              + '\n  ]\n}')
    _stub(node.bin, "emqx", f"cat <<'EOF'\n{status}\nEOF\n")
    changed = dataclasses.replace(spec, join_timeout_seconds=600)
    rc, calls, marker = node.run(render_vm_apply_script(changed))
    if restarts:
        assert (rc, calls, marker) == (0, ["setup"], vm_node.node_digest(changed))
    else:
        assert rc != 0 and calls == [] and marker == ""
        # Nothing of the change was written: the node keeps the files it runs with.
        assert node.here(vm_node.STAGED_CONF).read_text() == content(render_vm_user_data(spec), vm_node.STAGED_CONF)


# --- MQTT auth in emqx.conf -----------------------------------------------------------------------------------------


def _conf(spec: vm_node.VmNodeSpec) -> Any:
    return ConfigFactory.parse_string(content(render_vm_user_data(spec), vm_node.STAGED_CONF))


def test_default_node_refuses_anonymous_clients() -> None:
    conf = _conf(acl3_core())
    chain = conf.get_list("authentication")
    assert len(chain) == 1
    assert chain[0].get_string("backend") == "built_in_database"
    assert chain[0].get_string("bootstrap_file") == ""
    assert conf.get_string("authorization.no_match") == "deny"
    assert conf.get_list("authorization.sources") == []


def test_stack_auth_reaches_the_node_with_node_paths() -> None:
    rules = (AclRule(permission="allow", action="publish", topics=("sensors/#",), username="dev"),)
    auth = AuthSettings(superusers=("ops",), jwt=JwtSettings(jwks_endpoint="https://idp.example.com/jwks",
                                                             public_key=None),
                        http=HttpAuthSettings(url="https://auth.example.com/mqtt"), acl_rules=rules)
    spec = dataclasses.replace(ubuntu_replicant(), auth=auth,
                               secrets=dataclasses.replace(ubuntu_replicant().secrets, mqtt_users="SENTINEL-users"))
    text = render_vm_user_data(spec)
    conf = _conf(spec)
    chain = conf.get_list("authentication")
    assert [c.get_string("mechanism") for c in chain] == ["password_based", "jwt", "password_based"]
    assert chain[0].get_string("bootstrap_file") == vm_node.USERS_PATH
    assert chain[0].get_string("bootstrap_type") == "hash"
    (source,) = conf.get_list("authorization.sources")
    written = files(text)
    # The ACL the config names is a file the user data writes, with the Kubernetes path's rules.
    assert written[source.get_string("path")]["content"] == auth_render.acl_file(rules)
    assert "/opt/emqx" not in text
    # The users file is a secret parameter fetched at boot, readable by EMQX only.
    setup = content(text, vm_node.SETUP_PATH)
    assert f"fetch_secret SENTINEL-users {vm_node.USERS_PATH}" in setup
    assert f"chown emqx:emqx {vm_node.USERS_PATH}" in setup


def test_anonymous_is_written_out_and_x509_is_refused() -> None:
    conf = _conf(dataclasses.replace(acl3_core(), auth=AuthSettings(allow_anonymous=True, built_in_database=False)))
    assert conf.get_list("authentication") == []
    with pytest.raises(ValueError, match="x509"):
        render_vm_user_data(dataclasses.replace(acl3_core(), auth=AuthSettings(x509=X509Settings(None))))


def test_unserved_listeners_are_off() -> None:
    spec = ubuntu_replicant()
    conf = _conf(dataclasses.replace(spec, listeners=dataclasses.replace(spec.listeners, served_ports=(8883, 8084))))
    assert conf.get_bool("listeners.tcp.default.enable") is False
    assert conf.get_bool("listeners.ws.default.enable") is False
    assert conf.get_string("listeners.ssl.default.bind") == "0.0.0.0:8883"


# --- tuning -------------------------------------------------------------------------------------------------------


def test_vm_tuning_reserves_gen_rpc_and_keeps_the_stacks_own_reservations() -> None:
    stock = build_profile(max_connections_per_node=100_000, kubernetes_version="1.31",
                          overrides={"net.ipv4.ip_local_reserved_ports": "30000-30010,40000"})
    spec = dataclasses.replace(acl3_core(), tuning=stock)
    assert any("5370" in e for e in vm_node.validate(spec))
    profile = vm_node.vm_tuning(stock)
    reserved = profile.value_of("net.ipv4.ip_local_reserved_ports") or ""
    expanded = {p for item in reserved.split(",") for p in range(int(item.split("-")[0]),
                                                                   int(item.split("-")[-1]) + 1)}
    assert {5370, 30000, 30010, 40000} <= expanded and set(vm_node.VM_EMQX_PORTS) <= expanded
    assert vm_node.validate(dataclasses.replace(spec, tuning=profile)) == []
    assert [s.key for s in profile.sysctls] == [s.key for s in stock.sysctls]


def test_golden_user_data_still_parses_as_yaml_after_auth() -> None:
    assert yaml.safe_load(render_vm_user_data(largest()))["runcmd"] == [[vm_node.SETUP_PATH]]
