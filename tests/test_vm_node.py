"""The VM node's cloud-init user data (components/render/vm_node.py), checked by real tools, not by re-reading the code.

- Golden files for an Alibaba Cloud Linux 3 core and an Ubuntu replicant (tests/golden/vm/, rewritten only with
  UPDATE_GOLDEN=1), each also checked by cloud-init's own strict schema plus an allowlist of top-level keys (the
  schema ignores unknown ones), shellcheck on every embedded script, pyhocon on emqx.conf and
  `systemd-analyze verify` on the emqx.service drop-in.
- The whole kernel key set in the unprivileged user + network namespace harness of tests/test_tuning_kernel.py.
- The scripts' logic run for real against stand-ins: the join wait against a fake `emqx` that reports the node
  joined after N calls or never; the download refusing a file whose SHA-256 differs; the secret read.
- No secret in the output; every static seed is a core node name; the largest realistic node fits 16 KB.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyhocon import ConfigFactory

from components import tuning
from components.render import vm_node
from components.render.vm_node import (
    AliyunCli,
    EmqxPackage,
    OosSecretSource,
    SecretNames,
    VmListeners,
    VmNodeSpec,
    render_vm_user_data,
)
from components.tuning import CATALOGUE, build_profile
from tests.test_tuning_kernel import (  # noqa: F401  (netns_ok is a fixture)
    conntrack_loaded,
    netns_ok,
    proc_path,
    run_node_script,
    unprivileged,
)

GOLDEN = Path(__file__).parent / "golden" / "vm"
CORES = ("emqx@10.0.1.10", "emqx@10.0.2.10", "emqx@10.0.3.10")
SHA_EL8 = "1" * 64
SHA_JAMMY = "2" * 64
SHA_CLI = "3" * 64
# Sentinel parameter NAMES; the renderer never receives a value.
SENTINELS = SecretNames(
    cookie="SENTINEL-cookie",
    dashboard_password="SENTINEL-dashboard-password",
    license="SENTINEL-license",
    tls_cert="SENTINEL-tls-cert",
    tls_key="SENTINEL-tls-key",
)


def profile(conns: int = 1_000_000) -> tuning.TuningProfile:
    return build_profile(max_connections_per_node=conns, kubernetes_version="1.31",
                         reserved_ports=vm_node.VM_EMQX_PORTS)


def source() -> OosSecretSource:
    return OosSecretSource(
        region="cn-hangzhou",
        ram_role_name="emqx-prod-node",
        cli=AliyunCli("https://aliyuncli.alicdn.com/aliyun-cli-linux-3.0.300-amd64.tgz", SHA_CLI),
    )


def acl3_core() -> VmNodeSpec:
    return VmNodeSpec(
        node_name=CORES[0],
        role="core",
        core_seeds=CORES,
        package=EmqxPackage("enterprise", "5.10.4", {"alinux3-amd64": SHA_EL8}),
        os="alinux3",
        arch="amd64",
        tuning=profile(),
        listeners=VmListeners(max_connections_per_node=1_000_000),
        secrets=dataclasses.replace(SENTINELS, tls_cert=None, tls_key=None),
        secret_source=source(),
        data_disk_gib=100,
    )


def ubuntu_replicant() -> VmNodeSpec:
    return VmNodeSpec(
        node_name="emqx@10.0.1.20",
        role="replicant",
        core_seeds=CORES,
        package=EmqxPackage("enterprise", "5.10.4", {"ubuntu22.04-amd64": SHA_JAMMY},
                            mirror_base_url="https://emqx-mirror.oss-cn-hangzhou.aliyuncs.com/5.10.4"),
        os="ubuntu22.04",
        arch="amd64",
        tuning=profile(500_000),
        listeners=VmListeners(max_connections_per_node=500_000, acceptors=32, listen_backlog=16384,
                              max_conn_rate=2000, tls="node", proxy_protocol=True),
        secrets=SENTINELS,
        secret_source=source(),
    )


def largest() -> VmNodeSpec:
    """The largest realistic node: 7 cores with the longest IPv4 text, every option on, every catalogue key set,
    long parameter names."""
    cores = tuple(f"emqx@100.100.{i}.200" for i in range(101, 108))
    long = "emqx-production-cluster-cn-hangzhou/secret-parameters/"
    overrides = {k: CATALOGUE[k].sample for k in CATALOGUE if CATALOGUE[k].sample}
    return dataclasses.replace(
        ubuntu_replicant(),
        node_name="emqx@100.100.200.200",
        core_seeds=cores,
        tuning=build_profile(max_connections_per_node=5_000_000, kubernetes_version="1.31", overrides=overrides,
                             reserved_ports=vm_node.VM_EMQX_PORTS),
        secrets=SecretNames(*(long + n for n in ("cookie", "dashboard-password", "license", "tls-cert", "tls-key"))),
    )


RENDERED = {"acl3_core.yaml": acl3_core, "ubuntu_replicant.yaml": ubuntu_replicant}


def files(text: str) -> dict[str, dict[str, str]]:
    return {f["path"]: f for f in yaml.safe_load(text)["write_files"]}


def content(text: str, path: str) -> str:
    return files(text)[path]["content"]


def _needs(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


# --- golden files and their independent checks --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_golden(name: str) -> None:
    rendered = render_vm_user_data(RENDERED[name]())
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered)
    assert path.exists(), f"{path} is missing; run with UPDATE_GOLDEN=1 and review the diff"
    assert rendered == path.read_text(), f"{name} changed; review, then regenerate with UPDATE_GOLDEN=1"


def golden_texts() -> list[str]:
    return sorted(RENDERED)


@pytest.mark.parametrize("name", golden_texts())
def test_cloud_init_schema_strict_and_allowlisted_keys(name: str, tmp_path: Path) -> None:
    text = (GOLDEN / name).read_text()
    assert text.startswith("#cloud-config\n")
    path = tmp_path / "user-data"
    path.write_text(text)
    result = subprocess.run([_needs("cloud-init"), "schema", "--config-file", str(path)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # The schema ignores unknown top-level keys: the allowlist catches a misspelt module.
    assert set(yaml.safe_load(text)) <= {"write_files", "runcmd"}
    # The validator can fail: runcmd given as a string is refused.
    path.write_text("#cloud-config\nruncmd: /usr/local/sbin/emqx-node-setup.sh\n")
    assert subprocess.run([_needs("cloud-init"), "schema", "--config-file", str(path)],
                          capture_output=True).returncode != 0


@pytest.mark.parametrize("name", golden_texts())
def test_every_embedded_script_passes_bash_and_shellcheck(name: str, tmp_path: Path) -> None:
    scripts = {p: f["content"] for p, f in files((GOLDEN / name).read_text()).items()
               if f["content"].startswith("#!")}
    assert len(scripts) == 3, sorted(scripts)
    for i, text in enumerate(scripts.values()):
        script = tmp_path / f"s{i}.sh"
        script.write_text(text)
        subprocess.run([_needs("bash"), "-n", str(script)], check=True)
        result = subprocess.run([_needs("shellcheck"), "-s", "bash", "-S", "style", str(script)],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("name", golden_texts())
def test_emqx_conf_parses_as_hocon_with_static_seeds_of_core_names(name: str) -> None:
    spec = RENDERED[name]()
    conf: Any = ConfigFactory.parse_string(content((GOLDEN / name).read_text(), vm_node.STAGED_CONF))  # untyped
    assert conf.get_string("node.name") == spec.node_name
    assert conf.get_string("node.role") == spec.role
    assert conf.get_string("cluster.discovery_strategy") == "static"
    seeds = conf.get_list("cluster.static.seeds")
    # Every static seed is one of the core node names, each once; a replicant is never a seed.
    assert sorted(seeds) == sorted(CORES)
    assert (spec.node_name in seeds) == (spec.role == "core")
    assert "cookie" not in conf.get_config("node")
    assert conf.get_int("node.max_ports") > spec.listeners.max_connections_per_node
    assert conf.get_string("listeners.tcp.default.bind") == "0.0.0.0:1883"
    if spec.listeners.tls == "load_balancer":
        assert conf.get_bool("listeners.ssl.default.enable") is False
        assert conf.get_bool("listeners.wss.default.enable") is False
    else:
        assert conf.get_string("listeners.ssl.default.ssl_options.keyfile").startswith(vm_node.TLS_DIR)
        assert conf.get_bool("listeners.wss.default.proxy_protocol") is True
    if spec.secrets.license:
        assert conf.get_string("license.key") == f"file://{vm_node.LICENSE_PATH}"


def _verify_dropin(tmp_path: Path, dropin: str) -> str:
    # A stand-in emqx.service with the directives the package's unit has (deploy/packages/emqx.service, v5.8.9).
    (tmp_path / "emqx.service").write_text(
        "[Unit]\nDescription=emqx daemon\nAfter=network.target\n[Service]\nUser=emqx\nGroup=emqx\nType=simple\n"
        "ExecStart=/bin/bash /usr/bin/emqx foreground\nLimitNOFILE=1048576\nRestart=on-failure\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )
    (tmp_path / "emqx.service.d").mkdir(exist_ok=True)
    (tmp_path / "emqx.service.d" / "10-emqx-platform.conf").write_text(dropin)
    result = subprocess.run(
        [_needs("systemd-analyze"), "verify", "--man=no", str(tmp_path / "emqx.service")],
        capture_output=True, text=True, env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"}, cwd=tmp_path,
    )
    return result.stdout + result.stderr + ("" if result.returncode == 0 else f"rc={result.returncode}")


@pytest.mark.parametrize("name", golden_texts())
def test_systemd_analyze_verifies_the_dropin(name: str, tmp_path: Path) -> None:
    dropin = content((GOLDEN / name).read_text(), vm_node.DROPIN_PATH)
    probe = _verify_dropin(tmp_path, "[Service]\nLimitNOFILEX=1\n")
    if "LimitNOFILEX" not in probe:
        pytest.skip(f"systemd-analyze verify does not load drop-ins offline here: {probe!r}")
    assert _verify_dropin(tmp_path, dropin) == ""
    assert f"LimitNOFILE={RENDERED[name]().tuning.nofile}\n" in dropin
    # No '-' prefix: a missing secrets file fails the unit instead of starting EMQX with the package's cookie.
    assert f"EnvironmentFile={vm_node.SECRETS_ENV}\n" in dropin


# --- secrets -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [acl3_core, ubuntu_replicant, largest])
def test_no_secret_value_in_the_user_data(make: Callable[[], VmNodeSpec]) -> None:
    text = render_vm_user_data(make())
    # The package's default cookie, a literal cookie/password/licence, a PEM block: none may appear.
    assert "emqxsecretcookie" not in text
    assert "BEGIN" not in text and "PRIVATE KEY" not in text
    assert not re.search(r"node\.cookie|default_password|dashboard\.default", text)
    assert not re.search(r'license\.key\s*=\s*"(?!file://)', text)
    # The secret environment variables are only ever filled from files read at boot.
    for env in ("EMQX_NODE__COOKIE", "EMQX_DASHBOARD__DEFAULT_PASSWORD", "EMQX_LICENSE__KEY"):
        for line in (ln for ln in text.splitlines() if env in ln):
            assert re.fullmatch(rf"\s*printf '{env}=%s\\n' \"\$\(cat \"\$work/[a-z]+\"\)\"", line), line
    # Every long token that looks like key material is one of the public SHA-256 pins.
    pins = {SHA_EL8, SHA_JAMMY, SHA_CLI}
    for token in re.findall(r"[A-Za-z0-9+/=]{40,}", text):
        assert token in pins, token
    # The sentinel parameter names are there: the node asks for them by name.
    spec = make()
    assert spec.secrets.cookie in text and spec.secrets.dashboard_password in text


def _run_fetch_secret(tmp_path: Path, aliyun_body: str) -> subprocess.CompletedProcess[str]:
    setup = content(render_vm_user_data(acl3_core()), vm_node.SETUP_PATH)
    functions = _functions(setup, "log", "die", "fetch_secret")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "aliyun", aliyun_body)
    harness = (f"set -euo pipefail\numask 077\nwork={shlex.quote(str(tmp_path))}\n{functions}\n"
               "sleep() { :; }\nfetch_secret SENTINEL-cookie \"$work/cookie\"\nstat -c %a \"$work/cookie\"\n")
    return subprocess.run(["bash", "-c", harness], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})


def test_fetch_secret_reads_the_parameter_with_the_instance_role(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    result = _run_fetch_secret(tmp_path, f'echo "$*" >>{calls}\necho \'{{"Parameter": {{"Value": "s3cr3t"}}}}\'\n')
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("600")
    assert (tmp_path / "cookie").read_text() == "s3cr3t"
    args = calls.read_text().split()
    for flag, value in (("--Name", "SENTINEL-cookie"), ("--WithDecryption", "true"), ("--mode", "EcsRamRole"),
                        ("--ram-role-name", "emqx-prod-node"), ("--region", "cn-hangzhou")):
        assert args[args.index(flag) + 1] == value, args
    assert args[:2] == ["oos", "GetSecretParameter"]


def test_fetch_secret_fails_the_boot_when_the_parameter_cannot_be_read(tmp_path: Path) -> None:
    result = _run_fetch_secret(tmp_path, "echo 'Forbidden.RAM' >&2\nexit 1\n")
    assert result.returncode != 0
    assert "cannot read secret parameter SENTINEL-cookie" in result.stdout


# --- the package download -------------------------------------------------------------------------------------------


def _functions(script: str, *names: str) -> str:
    """The named bash functions of a script, verbatim (each ends at the first line that is exactly '}')."""
    out = []
    for name in names:
        match = re.search(rf"^{name}\(\) \{{\n.*?^\}}\n", script, re.S | re.M)
        assert match, name
        out.append(match.group(0))
    return "\n".join(out)


def _stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


@pytest.mark.parametrize("good", [True, False])
def test_download_is_refused_unless_its_sha256_matches(good: bool, tmp_path: Path) -> None:
    spec = acl3_core()
    payload = b"an el8 rpm"
    sha = hashlib.sha256(payload).hexdigest() if good else SHA_EL8
    spec = dataclasses.replace(spec, package=dataclasses.replace(spec.package, sha256={"alinux3-amd64": sha}))
    setup = content(render_vm_user_data(spec), vm_node.SETUP_PATH)
    # The install line runs only after the fetch line, which dies on a mismatch (set -e, die exits).
    lines = setup.splitlines()
    fetch_at = next(i for i, ln in enumerate(lines) if ln.startswith("fetch ") and vm_node.package_file(spec) in ln)
    install_at = next(i for i, ln in enumerate(lines) if ln.startswith("dnf install"))
    assert fetch_at < install_at
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "payload").write_bytes(payload)
    # curl stand-in: writes the payload to the -o file.
    _stub(bin_dir, "curl", f'while [ $# -gt 0 ]; do [ "$1" = -o ] && cp {tmp_path}/payload "$2"; shift; done\n')
    harness = (f"set -euo pipefail\nwork={shlex.quote(str(tmp_path))}\n{_functions(setup, 'log', 'die', 'fetch')}\n"
               f"{lines[fetch_at]}\necho installed\n")
    result = subprocess.run(["bash", "-c", harness], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    if good:
        assert result.returncode == 0 and "installed" in result.stdout, result.stdout + result.stderr
    else:
        assert result.returncode != 0 and "installed" not in result.stdout
        assert "SHA-256 mismatch" in result.stdout


def test_package_urls_follow_the_release_file_names() -> None:
    # EMQX .github/workflows/release.yaml: $PROFILE-$VERSION-{el8,ubuntu22.04,...}-{amd64,arm64}.{rpm,deb}.
    assert vm_node.package_url(acl3_core()) == (
        "https://github.com/emqx/emqx/releases/download/e5.10.4/emqx-enterprise-5.10.4-el8-amd64.rpm")
    oss = dataclasses.replace(acl3_core(), package=EmqxPackage("opensource", "5.8.9", {"ubuntu24.04-arm64": "a" * 64}),
                              os="ubuntu24.04", arch="arm64", secrets=SecretNames("c", "p"))
    assert vm_node.package_url(oss) == (
        "https://github.com/emqx/emqx/releases/download/v5.8.9/emqx-5.8.9-ubuntu24.04-arm64.deb")
    assert vm_node.package_url(ubuntu_replicant()) == (
        "https://emqx-mirror.oss-cn-hangzhou.aliyuncs.com/5.10.4/emqx-enterprise-5.10.4-ubuntu22.04-amd64.deb")


# --- the join wait, for real against a fake emqx -----------------------------------------------------------------


def _wait_args(spec: VmNodeSpec) -> list[str]:
    """The wait command exactly as the setup script calls it, with a short timeout and poll."""
    setup = content(render_vm_user_data(spec), vm_node.SETUP_PATH)
    [line] = [ln for ln in setup.splitlines() if ln.startswith(vm_node.WAIT_PATH)]
    argv = shlex.split(line.removesuffix(" || {"))
    assert argv[1:3] == [str(spec.join_timeout_seconds), str(spec.join_poll_seconds)]
    return ["3", "1", *argv[3:]]


FAKE_EMQX = """\
# Stand-in for `emqx ctl cluster status --json`: not running for the first calls, then the given running nodes.
n=$(($(cat "$STATE/calls" 2>/dev/null || echo 0) + 1))
echo "$n" >"$STATE/calls"
[ "$*" = "ctl cluster status --json" ] || exit 2
if [ "$n" -le "$NOT_YET" ]; then
  echo "Node emqx@x not responding to pings." >&2
  exit 1
fi
# The real shape: a map printed by best_effort_json with [pretty] (emqx_mgmt_cli.erl cluster(["status", "--json"]),
# emqx_logger_jsonfmt.erl v5.8.9; emqx_utils_json in e5.10.4), so over several lines.
printf '{\\n  "running_nodes": [\\n    %s\\n  ],\\n  "stopped_nodes": []\\n}\\n' "$RUNNING"
"""


def _wait(tmp_path: Path, spec: VmNodeSpec, not_yet: int, running: list[str]) -> tuple[int, str, int, float]:
    text = render_vm_user_data(spec)
    script = tmp_path / "wait.sh"
    script.write_text(content(text, vm_node.WAIT_PATH))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    _stub(bin_dir, "emqx", FAKE_EMQX)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STATE": str(tmp_path), "NOT_YET": str(not_yet),
           "RUNNING": ", ".join(f'"{n}"' for n in running)}
    started = time.monotonic()
    result = subprocess.run(["bash", str(script), *_wait_args(spec)], capture_output=True, text=True, env=env,
                            timeout=30)
    calls = int((tmp_path / "calls").read_text())
    return result.returncode, result.stdout + result.stderr, calls, time.monotonic() - started


def test_join_wait_succeeds_once_the_node_runs_with_a_majority_of_cores(tmp_path: Path) -> None:
    spec = acl3_core()
    rc, out, calls, _ = _wait(tmp_path, spec, not_yet=2, running=[CORES[0], CORES[1]])
    assert rc == 0, out
    assert calls == 3
    assert f"{spec.node_name} joined; 2 of 3 seeds running" in out


def test_join_wait_fails_non_zero_when_the_node_never_joins(tmp_path: Path) -> None:
    rc, out, calls, elapsed = _wait(tmp_path, acl3_core(), not_yet=1000, running=[])
    assert rc == 1
    assert "not joined after 3s" in out
    assert calls >= 2 and elapsed < 10


def test_join_wait_fails_when_a_core_runs_alone(tmp_path: Path) -> None:
    # A core that formed a cluster by itself (the other cores unreachable) is a split, not a join.
    rc, out, _, _ = _wait(tmp_path, acl3_core(), not_yet=0, running=[CORES[0]])
    assert rc == 1, out


def test_join_wait_for_a_replicant_needs_itself_and_a_core_majority(tmp_path: Path) -> None:
    spec = ubuntu_replicant()
    rc, out, _, _ = _wait(tmp_path, spec, not_yet=0, running=[*CORES[:2], spec.node_name])
    assert rc == 0, out
    second = tmp_path / "second"
    second.mkdir()
    rc, out, _, _ = _wait(second, spec, not_yet=0, running=list(CORES))
    assert rc == 1, "the cores running without this replicant is not a join"


# --- the kernel harness on the whole key set ----------------------------------------------------------------------


def test_vm_script_writes_every_key_of_the_profile_node_level(netns_ok: None) -> None:  # noqa: F811
    spec = acl3_core()
    script = content(render_vm_user_data(spec), tuning.NODE_SCRIPT_PATH)
    run = run_node_script(script)
    written = {}
    for line in run.conf1.splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            written[key.strip()] = value.strip()
    # Every key, node and per-namespace, is in /etc/sysctl.d on a VM.
    assert set(written) == {s.key for s in spec.tuning.sysctls}
    assert {s.key for s in spec.tuning.pod_sysctls} <= set(written)
    assert "5370" in written["net.ipv4.ip_local_reserved_ports"] or "5369-5370" in written[
        "net.ipv4.ip_local_reserved_ports"]
    # In a pod-like namespace the init-namespace and global keys cannot land: the read-back catches each of them.
    assert run.rc1 != 0
    for key, spec_ in CATALOGUE.items():
        if key in written and spec_.kernel_scope != "per_netns":
            assert f"emqx-tuning: err: {key}: wanted" in run.out1, key
    # The per-namespace keys did land and read back (what EMQX's listeners get on the VM).
    for s in spec.tuning.pod_sysctls:
        assert f"-p user.info -- {s.key} = " in run.journal, s.key
    assert "root hard nofile" in run.files["limits"]
    assert run.files["dropin"] == "", "no containerd drop-in on a VM"


def test_every_vm_key_exists_on_this_kernel() -> None:
    for s in acl3_core().tuning.sysctls:
        if s.key.startswith("net.netfilter.") and not conntrack_loaded():
            continue
        assert proc_path(s.key).exists(), s.key


# --- size and validation -------------------------------------------------------------------------------------------


def test_the_largest_realistic_node_fits_ecs_user_data() -> None:
    text = render_vm_user_data(largest())
    size = len(text.encode())
    assert size <= 16 * 1024, size
    # The same node as a core carries the data disk step too.
    core = dataclasses.replace(largest(), role="core", node_name=largest().core_seeds[0], data_disk_gib=32768)
    assert len(render_vm_user_data(core).encode()) <= 16 * 1024
    # The renderer itself refuses an oversized result rather than letting ECS reject the instance.
    with pytest.raises(ValueError, match="16384-byte limit"):
        render_vm_user_data(dataclasses.replace(largest(), extra_hocon=(f"# {'x' * 100}",) * 60))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"role": "replicant", "node_name": CORES[0]}, "cannot be a core seed"),
        ({"node_name": "emqx@10.0.9.9"}, "must be one of the core seeds"),
        ({"core_seeds": ("emqx@node1.example",)}, "expected emqx@<IPv4>"),
        ({"package": EmqxPackage("opensource", "5.10.4", {"alinux3-amd64": "a" * 64})}, "only as emqx-enterprise"),
        ({"package": EmqxPackage("enterprise", "5.10.4", {})}, "sha256['alinux3-amd64']"),
        ({"tuning": build_profile(max_connections_per_node=1000, kubernetes_version="1.31")}, "misses [5370]"),
        ({"secrets": SecretNames("a; rm -rf /", "p")}, "secret parameter name"),
    ],
)
def test_bad_specs_are_refused(change: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        render_vm_user_data(dataclasses.replace(acl3_core(), **change))  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_open_source_replicant_is_refused() -> None:
    spec = dataclasses.replace(ubuntu_replicant(), package=EmqxPackage("opensource", "5.8.9",
                                                                         {"ubuntu22.04-amd64": "a" * 64}))
    with pytest.raises(ValueError, match="replicant nodes need EMQX Enterprise"):
        render_vm_user_data(spec)


def test_setup_order_tuning_secrets_package_config_start_wait() -> None:
    setup = content(render_vm_user_data(acl3_core()), vm_node.SETUP_PATH)
    marks = [tuning.NODE_SCRIPT_PATH, "fetch_secret SENTINEL-cookie", "fetch https://github.com", "dnf install",
             f"install -m 0644 {vm_node.STAGED_CONF} /etc/emqx/emqx.conf", "systemctl restart emqx",
             vm_node.WAIT_PATH]
    lines = setup.splitlines()
    at = [next(i for i, ln in enumerate(lines) if ln.startswith(m)) for m in marks]
    assert at == sorted(at), dict(zip(marks, at, strict=True))
    assert "set -euo pipefail" in lines[:4]
    doc = yaml.safe_load(render_vm_user_data(acl3_core()))
    assert doc["runcmd"] == [[vm_node.SETUP_PATH]]
    assert files(render_vm_user_data(acl3_core()))[vm_node.SETUP_PATH]["permissions"] == "0700"


# --- the whole setup script, booted as far as this machine allows ------------------------------------------------

# Runs inside user + network + mount namespaces as uid 65534 mapped to root: tmpfs over /etc and /usr/local stand in
# for the instance's disk, the write_files entries are put there as cloud-init would, then runcmd's script runs.
BOOT_DRIVER = r"""
set -u
mount -t tmpfs tmpfs /etc
mount -t tmpfs tmpfs /usr/local
mount -t tmpfs tmpfs /var/lib
touch /etc/fstab
cp -r --no-preserve=all "$SANDBOX/root/." /
chmod 0755 /usr/local/sbin/*
export PATH="$SANDBOX/bin:/usr/local/bin:/usr/local/sbin:/usr/bin:/bin"
/usr/local/sbin/emqx-node-setup.sh >"$SANDBOX/out" 2>&1
echo $? >"$SANDBOX/rc"
# A second run, as the day-two apply does after an upgrade: the package's emqx.conf is then the rendered one.
if [ -n "$RERUN" ] && [ "$(cat "$SANDBOX/rc")" = 0 ]; then
  /usr/local/sbin/emqx-node-setup.sh >>"$SANDBOX/out" 2>&1
  echo $? >"$SANDBOX/rc"
fi
mkdir -p "$SANDBOX/after"
cp -r /etc/emqx-platform /etc/emqx /etc/fstab "$SANDBOX/after/" 2>/dev/null
stat -c %a /etc/emqx-platform/secrets.env >"$SANDBOX/after/secrets-mode" 2>/dev/null
true
"""

BOOT_STUBS = {
    # Metadata (token, then the private IP) and downloads (-o FILE URL) from files the test prepared.
    "curl": r"""echo "curl $*" >>"$SANDBOX/calls"
out="" url=""
while [ $# -gt 0 ]; do
  case "$1" in -o) out=$2; shift ;; http*) url=$1 ;; esac
  shift
done
case "$url" in
  */api/token) echo tok ;;
  */meta-data/private-ipv4) cat "$SANDBOX/ip" ;;
  *.tgz) cp "$SANDBOX/cli.tgz" "$out" ;;
  *) cp "$SANDBOX/package" "$out" ;;
esac
""",
    # The package: leaves /etc/emqx/emqx.conf with the shipped default cookie, as the rpm does.
    # dnf installs the file's version, unless a newer one is installed ($SANDBOX/newer): then, as dnf does for an
    # older file, it changes nothing and exits 0.
    "dnf": r"""echo "dnf $*" >>"$SANDBOX/calls"
mkdir -p /etc/emqx
echo 'node.cookie = "emqxsecretcookie"' >/etc/emqx/emqx.conf
[ -s "$SANDBOX/newer" ] && { cp "$SANDBOX/newer" "$SANDBOX/installed"; exit 0; }
file=${*: -1}
file=${file##*/}
v=${file#emqx-enterprise-}
echo "${v%%-*}" >"$SANDBOX/installed"
""",
    "rpm": 'cat "$SANDBOX/installed"\n',
    "dpkg-query": 'cat "$SANDBOX/installed"\n',
    # systemd's view of LimitNOFILE: the last value among the unit's drop-ins.
    "systemctl": r"""echo "systemctl $*" >>"$SANDBOX/calls"
if [ "$*" = "show -p LimitNOFILE --value emqx" ]; then
  sed -n 's/^LimitNOFILE=//p' /etc/systemd/system/emqx.service.d/*.conf | tail -n 1
fi
""",
    "emqx": 'echo "emqx $*" >>"$SANDBOX/calls"\nprintf \'{"running_nodes": [%s], "stopped_nodes": []}\\n\' '
            '"$RUNNING"\n',
    # dpkg as it behaves with a conffile the admin changed (this setup rewrites /etc/emqx/emqx.conf) whose packaged
    # version changed too, and no terminal: it cannot ask, so it fails unless told to keep the file.
    "apt-get": r"""echo "apt-get $*" >>"$SANDBOX/calls"
if [ -f /etc/emqx/emqx.conf ]; then
  case " $* " in
    *" Dpkg::Options::=--force-confold "*) ;;
    *) echo "dpkg: error processing package (--configure): end of file on stdin at conffile prompt" >&2; exit 100 ;;
  esac
fi
mkdir -p /etc/emqx
[ -f /etc/emqx/emqx.conf ] || echo 'node.cookie = "emqxsecretcookie"' >/etc/emqx/emqx.conf
file=${*: -1}
file=${file##*/}
v=${file#emqx-enterprise-}
echo "${v%%-*}" >"$SANDBOX/installed"
""",
    "id": "exit 0\n",
    # An instance's disks as lsblk shows them ($SANDBOX/disks: "NAME SIZE TYPE PARTITIONS" lines; the system disk
    # has its partition), blkid answering from $SANDBOX/formatted, mkfs/mount recording what they were asked.
    "lsblk": r"""dev=${*: -1}
while read -r name size type parts; do
  if [ "$1" = -dnbpo ]; then
    echo "$name $size $type"
  elif [ "$name" = "$dev" ]; then
    echo "$name"
    for ((i = 1; i <= parts; i++)); do echo "${name}p$i"; done
  fi
done <"$SANDBOX/disks"
""",
    "findmnt": 'echo "findmnt $*" >>"$SANDBOX/calls"\nexit 1\n',
    "mountpoint": 'test -f "$SANDBOX/mounted"\n',
    "blkid": r"""dev=${*: -1}
grep -qx "$dev" "$SANDBOX/formatted" 2>/dev/null || exit 2
case "$1" in -s) echo 0f0e0d0c-aaaa-bbbb-cccc-000000000001 ;; esac
""",
    "mkfs.ext4": 'echo "mkfs.ext4 $*" >>"$SANDBOX/calls"\necho "${*: -1}" >>"$SANDBOX/formatted"\n',
    "mount": 'echo "mount $*" >>"$SANDBOX/calls"\ntouch "$SANDBOX/mounted"\n',
    "chown": 'echo "chown $*" >>"$SANDBOX/calls"\n',
    "journalctl": "exit 0\n",
    "logger": "exit 0\n",
}

# The CLI the node downloads, verifies and installs: here a stand-in answering GetSecretParameter.
FAKE_ALIYUN = r"""#!/bin/bash
echo "aliyun $*" >>"$SANDBOX/calls"
name=""
while [ $# -gt 0 ]; do
  [ "$1" = --Name ] && name=$2
  shift
done
value=${SECRET_VALUE:-value-of-${name##*/}}
python3 -c 'import json, sys; print(json.dumps({"Parameter": {"Name": sys.argv[1], "Value": sys.argv[2]}}))' \
  "$name" "$value"
"""


@dataclasses.dataclass(frozen=True)
class Boot:
    rc: int
    out: str
    calls: list[str]
    after: Path


# The system disk (partitioned, as a public image's) and a 100 GiB data disk, on an NVMe instance family.
DISKS = f"/dev/nvme0n1 {40 * 1024 ** 3} disk 1\n/dev/nvme1n1 {100 * 1024 ** 3} disk 0\n"


def _boot(tmp_path: Path, spec_for: Callable[[str, str], VmNodeSpec], *, real_tuning: bool = False,
          ip: str = "10.0.1.10", secret_value: str | None = None, disks: str = DISKS,
          formatted: str = "", running: tuple[str, ...] = CORES, rerun: bool = False, newer: str = "") -> Boot:
    # Under /tmp directly: uid 65534 cannot enter pytest's root-only tmp_path.
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Path(tmp)
        sandbox.chmod(0o777)
        bin_dir = sandbox / "bin"
        bin_dir.mkdir()
        for name, body in BOOT_STUBS.items():
            _stub(bin_dir, name, body)
        staging = tmp_path / "cli"
        staging.mkdir()
        (staging / "aliyun").write_text(FAKE_ALIYUN)
        (staging / "aliyun").chmod(0o755)
        subprocess.run(["tar", "-czf", str(sandbox / "cli.tgz"), "-C", str(staging), "aliyun"], check=True)
        (sandbox / "package").write_bytes(b"an el8 rpm")
        (sandbox / "ip").write_text(ip + "\n")
        (sandbox / "disks").write_text(disks)
        (sandbox / "formatted").write_text(formatted)
        (sandbox / "newer").write_text(newer)
        (sandbox / "installed").write_text("")
        spec = spec_for(hashlib.sha256(b"an el8 rpm").hexdigest(),
                        hashlib.sha256((sandbox / "cli.tgz").read_bytes()).hexdigest())
        for path, entry in files(render_vm_user_data(spec)).items():
            target = sandbox / "root" / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            text = entry["content"]
            if path == tuning.NODE_SCRIPT_PATH and not real_tuning:
                text = "#!/bin/bash\nexit 0\n"  # the kernel harness covers the tuning script
            target.write_text(text)
        for path in sandbox.rglob("*"):
            path.chmod(0o777 if path.is_dir() else 0o755)
        for name in ("formatted", "installed"):
            (sandbox / name).chmod(0o666)  # the stand-ins write them as the namespace's root
        env = {**os.environ, "SANDBOX": str(sandbox), "RUNNING": ", ".join(f'"{n}"' for n in running),
               "RERUN": "1" if rerun else ""}
        if secret_value is not None:
            env["SECRET_VALUE"] = secret_value
        result = subprocess.run(unprivileged("-m", "bash", "-c", BOOT_DRIVER), env=env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        calls = (sandbox / "calls").read_text().splitlines() if (sandbox / "calls").exists() else []
        after = tmp_path / "after"
        if (sandbox / "after").exists():
            shutil.copytree(sandbox / "after", after)
        return Boot(int((sandbox / "rc").read_text()), (sandbox / "out").read_text(), calls, after)


def _core_with(package_sha: str, cli_sha: str) -> VmNodeSpec:
    spec = acl3_core()
    return dataclasses.replace(
        spec,
        package=dataclasses.replace(spec.package, sha256={"alinux3-amd64": package_sha}),
        secret_source=dataclasses.replace(spec.secret_source, cli=AliyunCli(spec.secret_source.cli.url, cli_sha)),
    )


def test_setup_boots_a_core_end_to_end_with_stand_ins(netns_ok: None, tmp_path: Path) -> None:  # noqa: F811
    boot = _boot(tmp_path, _core_with)
    assert boot.rc == 0, boot.out
    assert f"{CORES[0]} is up and joined" in boot.out
    # Secrets came from the parameters by name, into a root-only file, in systemd EnvironmentFile form.
    assert (boot.after / "secrets-mode").read_text().strip() == "600"
    assert (boot.after / "emqx-platform" / "secrets.env").read_text() == (
        "EMQX_NODE__COOKIE=value-of-SENTINEL-cookie\nEMQX_DASHBOARD__DEFAULT_PASSWORD=value-of-SENTINEL-dashboard"
        "-password\n")
    assert (boot.after / "emqx-platform" / "license.key").read_text() == "value-of-SENTINEL-license"
    # The package's emqx.conf (default cookie) was replaced by the rendered one.
    conf = (boot.after / "emqx" / "emqx.conf").read_text()
    assert conf == content(render_vm_user_data(acl3_core()), vm_node.STAGED_CONF)
    assert "emqxsecretcookie" not in conf
    # Order of what happened on the "instance".
    kinds = [c.split()[0] + (" " + c.split()[1] if c.startswith(("systemctl", "emqx")) else "") for c in boot.calls]
    first = {k: kinds.index(k) for k in dict.fromkeys(kinds)}
    assert first["aliyun"] < first["dnf"] < first["systemctl restart"] < first["emqx ctl"]
    assert any(c.startswith("dnf install -y ") and c.endswith("emqx-enterprise-5.10.4-el8-amd64.rpm")
               for c in boot.calls)


def test_a_core_formats_and_mounts_its_blank_data_disk_before_installing(netns_ok: None,  # noqa: F811
                                                                           tmp_path: Path) -> None:
    boot = _boot(tmp_path, _core_with)
    assert boot.rc == 0, boot.out
    # The 100 GiB disk, found by size among unpartitioned disks (not by a device name that differs by family).
    assert "mkfs.ext4 -q -L emqx-data /dev/nvme1n1" in boot.calls
    assert "mount /var/lib/emqx" in boot.calls
    assert boot.calls.index("mount /var/lib/emqx") < next(i for i, c in enumerate(boot.calls) if c.startswith("dnf"))
    assert (boot.after / "fstab").read_text() == (
        "UUID=0f0e0d0c-aaaa-bbbb-cccc-000000000001 /var/lib/emqx ext4 defaults,nofail 0 2\n")
    assert "chown emqx:emqx /var/lib/emqx" in boot.calls


def test_a_data_disk_that_holds_a_file_system_is_mounted_not_formatted(netns_ok: None,  # noqa: F811
                                                                       tmp_path: Path) -> None:
    boot = _boot(tmp_path, _core_with, formatted="/dev/nvme1n1\n")
    assert boot.rc == 0, boot.out
    assert not any(c.startswith("mkfs") for c in boot.calls)
    assert "mount /var/lib/emqx" in boot.calls


@pytest.mark.parametrize("disks", [f"/dev/vda {100 * 1024 ** 3} disk 1\n",  # only the partitioned system disk
                                   f"/dev/vda {40 * 1024 ** 3} disk 1\n/dev/vdb {50 * 1024 ** 3} disk 0\n",
                                   f"/dev/vdb {100 * 1024 ** 3} disk 0\n/dev/vdc {100 * 1024 ** 3} disk 0\n"])
def test_a_core_without_exactly_one_matching_data_disk_stops_before_installing(disks: str, netns_ok: None,  # noqa: F811
                                                                               tmp_path: Path) -> None:
    boot = _boot(tmp_path, _core_with, disks=disks)
    assert boot.rc != 0
    assert "data disk" in boot.out
    assert not any(c.startswith(("mkfs", "dnf", "systemctl")) for c in boot.calls)


def test_the_data_disk_is_mounted_only_on_nodes_that_have_one() -> None:
    core = render_vm_user_data(acl3_core())
    replicant = render_vm_user_data(ubuntu_replicant())
    assert "mount_data_disk 107374182400" in content(core, vm_node.SETUP_PATH)
    assert "RequiresMountsFor=/var/lib/emqx" in content(core, vm_node.DROPIN_PATH)
    assert "mount_data_disk" not in content(replicant, vm_node.SETUP_PATH)
    assert "RequiresMountsFor" not in content(replicant, vm_node.DROPIN_PATH)
    with pytest.raises(ValueError, match="data disk 10 GiB"):
        render_vm_user_data(dataclasses.replace(acl3_core(), data_disk_gib=10))


def _replicant_with(package_sha: str, cli_sha: str) -> VmNodeSpec:
    spec = ubuntu_replicant()
    return dataclasses.replace(
        spec,
        package=dataclasses.replace(spec.package, sha256={"ubuntu22.04-amd64": package_sha}),
        secret_source=dataclasses.replace(spec.secret_source, cli=AliyunCli(spec.secret_source.cli.url, cli_sha)),
    )


def test_a_deb_upgrade_over_the_rewritten_emqx_conf_does_not_stop_at_dpkgs_conffile_prompt(
        netns_ok: None, tmp_path: Path) -> None:  # noqa: F811
    # The second run is the day-two upgrade: /etc/emqx/emqx.conf exists and differs from the package's.
    node = ubuntu_replicant().node_name
    boot = _boot(tmp_path, _replicant_with, ip=node.removeprefix("emqx@"), running=(*CORES, node), rerun=True)
    assert boot.rc == 0, boot.out
    installs = [c for c in boot.calls if c.startswith("apt-get")]
    assert len(installs) == 2 and all(c.endswith("emqx-enterprise-5.10.4-ubuntu22.04-amd64.deb") for c in installs)
    assert (boot.after / "emqx" / "emqx.conf").read_text() == content(render_vm_user_data(ubuntu_replicant()),
                                                                      vm_node.STAGED_CONF)


def test_a_package_install_that_leaves_another_version_stops_before_the_restart(netns_ok: None,  # noqa: F811
                                                                                tmp_path: Path) -> None:
    # A rollback to an older version on dnf: `dnf install older.rpm` changes nothing and succeeds; the node must not
    # restart the newer one and report the rollback done.
    boot = _boot(tmp_path, _core_with, newer="5.10.9\n")
    assert boot.rc != 0
    assert "emqx-enterprise 5.10.9 is installed, not 5.10.4" in boot.out
    assert not any(c.startswith("systemctl restart") for c in boot.calls)
    (tmp_path / "again").mkdir()
    assert _boot(tmp_path / "again", _core_with).rc == 0


def test_setup_stops_before_installing_when_the_package_checksum_differs(netns_ok: None,  # noqa: F811
                                                                          tmp_path: Path) -> None:
    boot = _boot(tmp_path, lambda _package, cli: _core_with(SHA_EL8, cli))
    assert boot.rc != 0
    assert "SHA-256 mismatch" in boot.out
    assert not any(c.startswith(("dnf", "systemctl")) for c in boot.calls)


def test_setup_stops_on_the_wrong_instance_ip(netns_ok: None, tmp_path: Path) -> None:  # noqa: F811
    boot = _boot(tmp_path, _core_with, ip="10.0.9.9")
    assert boot.rc != 0
    assert "has private IP 10.0.9.9, but its node name is emqx@10.0.1.10" in boot.out
    assert not any(c.startswith(("aliyun", "dnf")) for c in boot.calls)


def test_setup_stops_when_the_kernel_tuning_fails(netns_ok: None, tmp_path: Path) -> None:  # noqa: F811
    # The real tuning script in a pod-like namespace cannot set the node keys: the boot stops there, before any
    # secret is read or EMQX installed.
    boot = _boot(tmp_path, _core_with, real_tuning=True)
    assert boot.rc != 0
    assert "kernel tuning failed" in boot.out
    assert not any(c.startswith(("aliyun", "dnf", "systemctl")) for c in boot.calls)


@pytest.mark.parametrize("value", ['pass word', 'a"b', "x=y", "12345", "line1\nline2"])
def test_setup_refuses_a_secret_that_would_not_survive_the_environment_file(value: str, netns_ok: None,  # noqa: F811
                                                                             tmp_path: Path) -> None:
    boot = _boot(tmp_path, _core_with, secret_value=value)
    assert boot.rc != 0
    assert "letters, digits, '.', '_', '-' only" in boot.out
    assert not (boot.after / "emqx-platform" / "secrets.env").exists()
    assert not any(c.startswith(("dnf", "systemctl")) for c in boot.calls)


def test_node_digest_follows_the_files() -> None:
    core = acl3_core()
    assert vm_node.node_digest(core) == vm_node.node_digest(acl3_core())
    # Another node of the same cluster, a new version, a new kernel profile: each a different digest.
    others = [
        dataclasses.replace(core, node_name=CORES[1]),
        dataclasses.replace(core, package=EmqxPackage("enterprise", "5.10.3", {"alinux3-amd64": SHA_EL8})),
        dataclasses.replace(core, tuning=profile(2_000_000)),
    ]
    digests = {vm_node.node_digest(o) for o in others} | {vm_node.node_digest(core)}
    assert len(digests) == 4
    # The user data is exactly these files.
    assert [f["path"] for f in yaml.safe_load(render_vm_user_data(core))["write_files"]] == [
        f.path for f in vm_node.node_files(core)]
