"""The tuning profile against the real kernel of this machine.

- Every key the profile knows exists here (read /proc/sys on the host, read-only).
- Every pod-level key can be set and reads back in a fresh unprivileged user + network namespace: what a pod gets.
- Every node-level key is shown not to be settable per pod: absent in a fresh namespace, or the write is refused,
  or it does not read back. That proves each key's classification against the kernel, not against our own table.
- The node script itself runs in such a namespace (tmpfs over the directories it writes, stand-ins for modprobe,
  systemctl and logger): it applies what it can, reads every key back, and fails loudly on a key that did not land.

Safety: nothing here writes a host sysctl. Namespaced writes happen as uid 65534 inside `unshare -U -r -n`, where
the kernel refuses global keys; the host values of the node keys are compared before and after as a guard.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from components import tuning
from components.tuning import BAD_KEYS, CATALOGUE, Sysctl, TuningProfile, build_profile, render_node_script

PY = "/usr/bin/python3"  # readable by uid 65534, unlike the venv under /root

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux kernel tests")


def proc_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def squash(text: str) -> str:
    return " ".join(text.split())


def unprivileged(*argv: str) -> list[str]:
    """argv run as an unprivileged user in fresh user + network (+ whatever argv adds) namespaces."""
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    return [*prefix, "unshare", "-U", "-r", "-n", *argv]


@pytest.fixture(scope="module")
def netns_ok() -> None:
    if shutil.which("unshare") is None or (os.geteuid() == 0 and shutil.which("setpriv") is None):
        pytest.skip("unshare/setpriv not available")
    if not Path(PY).exists():
        pytest.skip(f"{PY} not available")
    probe = subprocess.run(unprivileged("true"), capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"unprivileged user namespaces are not allowed here: {probe.stderr.strip()}")


# Runs inside the namespace: for each key, read, try to write, read again; report as JSON.
PROBE = r"""
import json, sys
out = {}
for key, value in json.load(sys.stdin):
    path = "/proc/sys/" + key.replace(".", "/")
    entry = {"exists": True, "before": None, "error": None, "after": None}
    try:
        with open(path) as f:
            entry["before"] = f.read().strip()
    except FileNotFoundError:
        entry["exists"] = False
        out[key] = entry
        continue
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        entry["error"] = f"{type(e).__name__}: {e.strerror}"
    with open(path) as f:
        entry["after"] = f.read().strip()
    out[key] = entry
json.dump(out, sys.stdout)
"""


def probe_in_fresh_netns(writes: list[tuple[str, str]]) -> dict[str, dict[str, object]]:
    result = subprocess.run(
        unprivileged(PY, "-c", PROBE), input=json.dumps(writes), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def default_profile() -> TuningProfile:
    return build_profile(max_connections_per_node=1_000_000, kubernetes_version="1.31")


def value_for(key: str) -> str:
    """The profile's value, or the catalogue's sample for keys the default profile does not set."""
    value = default_profile().value_of(key)
    return value if value is not None else CATALOGUE[key].sample


def conntrack_loaded() -> bool:
    return Path("/proc/sys/net/netfilter/nf_conntrack_max").exists()


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_every_catalogue_key_exists_on_this_kernel(key: str) -> None:
    if key.startswith("net.netfilter.") and not conntrack_loaded():
        pytest.skip("nf_conntrack is not loaded on this machine (the node script loads it first)")
    assert proc_path(key).exists(), f"{key} does not exist on Linux {os.uname().release}"


@pytest.mark.parametrize("key", ["net.ipv4.tcp_max_sync_backlog", "net.ipv4.tcp_tw_recycle"])
def test_the_refused_keys_really_do_not_exist(key: str) -> None:
    assert key in BAD_KEYS
    assert not proc_path(key).exists()


@pytest.fixture(scope="module")
def host_node_values() -> Iterator[dict[str, str]]:
    """Host values of node keys, checked unchanged after the namespace tests (a guard, never a write)."""
    keys = [k for k, s in CATALOGUE.items() if s.kernel_scope != "per_netns" and proc_path(k).exists()]
    before = {k: proc_path(k).read_text() for k in keys}
    yield before
    after = {k: proc_path(k).read_text() for k in keys}
    assert after == before, "a host sysctl changed during the tests"


def test_pod_keys_are_settable_per_namespace(netns_ok: None, host_node_values: dict[str, str]) -> None:
    per_netns = sorted(k for k, s in CATALOGUE.items() if s.kernel_scope == "per_netns")
    if not conntrack_loaded():
        per_netns = [k for k in per_netns if not k.startswith("net.netfilter.")]
    report = probe_in_fresh_netns([(k, value_for(k)) for k in per_netns])
    problems = []
    for key in per_netns:
        entry = report[key]
        want = squash(value_for(key))
        if not entry["exists"] or entry["error"] or squash(str(entry["after"])) != want:
            problems.append(f"{key}: {entry}")
    assert not problems, "\n".join(problems)
    # The pod scope really is every per-namespace key but the conntrack ones, which act in the node's namespace.
    pod_keys = {s.key for s in default_profile().pod_sysctls}
    assert pod_keys <= set(per_netns)


def _different_value(key: str, current: str) -> str:
    value = value_for(key)
    if squash(value) != squash(current):
        return value
    numbers = current.split()
    return " ".join(str(int(n) + 1) for n in numbers)


def test_node_keys_cannot_be_set_from_a_pod(netns_ok: None, host_node_values: dict[str, str]) -> None:
    node = sorted(k for k, s in CATALOGUE.items() if s.kernel_scope != "per_netns" and proc_path(k).exists())
    writes = [(k, _different_value(k, proc_path(k).read_text())) for k in node]
    report = probe_in_fresh_netns(writes)
    settable = []
    for key, wrote in writes:
        entry = report[key]
        if entry["exists"] and entry["error"] is None and squash(str(entry["after"])) == squash(wrote):
            settable.append(f"{key}: a pod could set it ({entry})")
        if CATALOGUE[key].kernel_scope == "global":
            # fs.* keys are visible in every namespace but owned by the initial user namespace.
            assert entry["exists"] and entry["error"], f"{key}: {entry}"
    assert not settable, "\n".join(settable)


def test_optmem_max_scope_is_kernel_dependent(netns_ok: None) -> None:
    # Refused because on 6.x it is per namespace (settable here) while 5.10 keeps it in the initial namespace only.
    report = probe_in_fresh_netns([("net.core.optmem_max", "65536")])["net.core.optmem_max"]
    if int(os.uname().release.split(".")[0]) >= 6:
        assert report["exists"] and report["error"] is None and report["after"] == "65536", report


# --- the node script in a sandbox -----------------------------------------------------------------------------------

SHIMS = {
    "modprobe": "#!/bin/sh\nexit 0\n",
    "logger": '#!/bin/sh\nprintf "%s\\n" "$*" >>"$SANDBOX/journal"\n',
    # containerd is not installed in the sandbox: is-active fails, LoadState is not-found.
    "systemctl": (
        '#!/bin/sh\ncase "$*" in\n  *is-active*) exit 3 ;;\n  *LoadState*) echo not-found ;;\nesac\nexit 0\n'
    ),
}

# Runs inside user + network + mount namespaces: writable tmpfs over every directory the script writes, run it
# twice, then report what it left behind.
DRIVER = r"""
set -u
for d in /etc/sysctl.d /etc/modules-load.d /etc/security/limits.d /etc/systemd/system; do
  mount -t tmpfs tmpfs "$d"
done
# A read-only root keeps some of these read-only too (RO_DIRS); everything else on / already is, for uid 65534.
for d in $RO_DIRS; do
  mount -o remount,ro,bind "$d"
done
export PATH="$SANDBOX/bin:$PATH"
bash "$SANDBOX/script.sh" >"$SANDBOX/out1" 2>&1; echo $? >"$SANDBOX/rc1"
cp /etc/sysctl.d/99-zz-emqx.conf "$SANDBOX/conf1" 2>/dev/null
bash "$SANDBOX/script.sh" >"$SANDBOX/out2" 2>&1; echo $? >"$SANDBOX/rc2"
cp /etc/sysctl.d/99-zz-emqx.conf "$SANDBOX/conf2" 2>/dev/null
cp /etc/security/limits.d/99-zz-emqx.conf "$SANDBOX/limits" 2>/dev/null
cp /etc/systemd/system/containerd.service.d/99-zz-emqx-nofile.conf "$SANDBOX/dropin" 2>/dev/null
sysctl -n net.core.somaxconn >"$SANDBOX/somaxconn"
"""


@dataclasses.dataclass(frozen=True)
class Run:
    rc1: int
    rc2: int
    out1: str
    conf1: str
    conf2: str
    journal: str
    files: dict[str, str]


def run_node_script(script: str, *, read_only: tuple[str, ...] = ()) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Path(tmp)
        sandbox.chmod(0o777)
        (sandbox / "bin").mkdir(mode=0o755)
        for name, body in SHIMS.items():
            path = sandbox / "bin" / name
            path.write_text(body)
            path.chmod(0o755)
        (sandbox / "script.sh").write_text(script)
        (sandbox / "script.sh").chmod(0o644)
        env = {**os.environ, "SANDBOX": str(sandbox), "RO_DIRS": " ".join(read_only)}
        result = subprocess.run(
            unprivileged("-m", "bash", "-c", DRIVER), env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr

        def read(name: str) -> str:
            path = sandbox / name
            return path.read_text() if path.exists() else ""

        return Run(
            rc1=int(read("rc1")),
            rc2=int(read("rc2")),
            out1=read("out1"),
            conf1=read("conf1"),
            conf2=read("conf2"),
            journal=read("journal"),
            files={n: read(n) for n in ("limits", "dropin", "somaxconn")},
        )


def test_node_script_applies_reads_back_and_is_idempotent(netns_ok: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Per-namespace keys stand in for node keys so the script can really apply them here. tcp_max_tw_buckets is
    # marked raise-only for the test: its namespace default (131072 here) is above 4096, so it must stay put.
    spec = CATALOGUE["net.ipv4.tcp_max_tw_buckets"]
    monkeypatch.setitem(tuning.CATALOGUE, spec.key, dataclasses.replace(spec, raise_only=True))  # type: ignore[arg-type]
    profile = TuningProfile(
        sysctls=(
            Sysctl("net.core.somaxconn", "32768", "node", "test"),
            Sysctl("net.ipv4.tcp_max_tw_buckets", "4096", "node", "test"),
            Sysctl("net.ipv4.tcp_rmem", "1024 4096 16777216", "node", "test"),
        ),
        nofile=2097152,
        swap_off=False,
        kubernetes_version="1.31",
    )
    run = run_node_script(render_node_script(profile))
    assert run.rc1 == 0, run.out1
    assert run.rc2 == 0
    assert run.conf1 == run.conf2, "a second run must leave the same file"
    lines: dict[str, str] = {}
    for line in run.conf1.splitlines():
        if not line.startswith("#"):
            key, value = line.split("=", 1)
            lines[key.strip()] = value.strip()
    assert lines["net.core.somaxconn"] == "32768"
    assert lines["net.ipv4.tcp_rmem"] == "1024 4096 16777216"
    assert int(lines["net.ipv4.tcp_max_tw_buckets"]) > 4096, "a raise-only limit was lowered"
    assert run.files["somaxconn"].strip() == "32768", "the kernel does not hold the value"
    assert "root hard nofile 2097152" in run.files["limits"]
    assert "LimitNOFILE=2097152" in run.files["dropin"]
    assert "-p user.info -- net.core.somaxconn = 32768" in run.journal


def test_node_script_fails_loudly_when_a_key_does_not_land(netns_ok: None) -> None:
    # Inside a pod-like namespace the real node keys cannot be set: exactly the failure the script must not hide.
    profile = default_profile()
    hashsize = Path(tuning.CONNTRACK_HASHSIZE_PATH)
    hashsize_before = hashsize.read_text() if hashsize.exists() else None
    run = run_node_script(render_node_script(profile))
    # The script tries the host's conntrack hash size from the sandbox: the kernel must have refused it.
    assert (hashsize.read_text() if hashsize.exists() else None) == hashsize_before
    assert run.rc1 != 0
    unsettable = [s.key for s in profile.node_sysctls if CATALOGUE[s.key].kernel_scope != "per_netns"]
    for key in unsettable:
        assert f"-p user.err -- {key}: wanted" in run.journal, key
        assert f"emqx-tuning: err: {key}: wanted" in run.out1, key
    # The conntrack hash size can only be set from the initial network namespace: refused here, and said so.
    assert f"emqx-tuning: err: nf_conntrack hashsize: wanted at least {profile.conntrack_hashsize}" in run.out1
    # The script carried on: the per-namespace conntrack timeout still applied, and the limits were written.
    if conntrack_loaded():
        assert "net.netfilter.nf_conntrack_tcp_timeout_time_wait = 30" in run.journal
    assert "root hard nofile" in run.files["limits"]
    assert "tuning step(s) failed" in run.out1
    # /etc/modprobe.d is not writable here (absent, under a host /etc uid 65534 cannot write): a warning, not a failure.
    assert f"emqx-tuning: warning: cannot write {tuning.MODPROBE_CONNTRACK_PATH}" in run.out1
    assert f"err: cannot write {tuning.MODPROBE_CONNTRACK_PATH}" not in run.out1


def _namespace_profile() -> TuningProfile:
    """Per-namespace keys standing in for node keys, so the script can really apply them in the sandbox."""
    return TuningProfile(
        sysctls=(Sysctl("net.core.somaxconn", "32768", "node", "test"),),
        nofile=2097152,
        swap_off=False,
        kubernetes_version="1.35",
    )


def test_node_script_warns_when_an_optional_file_is_read_only(netns_ok: None) -> None:
    # Login-session limits matter to nobody running EMQX (containers take containerd's): a read-only directory there
    # is logged and the node still passes.
    run = run_node_script(render_node_script(_namespace_profile()), read_only=("/etc/security/limits.d",))
    assert run.rc1 == 0, run.out1
    assert "emqx-tuning: warning: cannot write /etc/security/limits.d/99-zz-emqx.conf" in run.out1
    assert run.files["limits"] == ""
    assert run.files["somaxconn"].strip() == "32768"
    assert "LimitNOFILE=2097152" in run.files["dropin"]


def test_node_script_fails_the_node_when_a_required_file_is_read_only(netns_ok: None) -> None:
    # Without the sysctl file a reboot loses the keys and EMQX may start before anything re-applies them: the node
    # fails, but the keys are still applied now and the other steps still run.
    run = run_node_script(render_node_script(_namespace_profile()), read_only=("/etc/sysctl.d",))
    assert run.rc1 != 0
    assert "emqx-tuning: err: cannot write /etc/sysctl.d/99-zz-emqx.conf" in run.out1
    assert run.files["somaxconn"].strip() == "32768"
    assert "root hard nofile 2097152" in run.files["limits"]
    assert "1 tuning step(s) failed" in run.out1
    # Same for containerd's open-file drop-in: containers would keep containerd's default limit.
    run = run_node_script(render_node_script(_namespace_profile()), read_only=("/etc/systemd/system",))
    assert run.rc1 != 0
    assert f"emqx-tuning: err: cannot write {tuning.CONTAINERD_DROPIN_PATH}" in run.out1


def test_fstab_swap_lines_are_commented_once(tmp_path: Path) -> None:
    script = render_node_script(default_profile())
    regex = script.split("swap_line='", 1)[1].split("'", 1)[0]
    fstab = tmp_path / "fstab"
    fstab.write_text(
        "UUID=1 / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n"
        "# /old none swap sw 0 0\n/dev/sdb2\tnone\tswap\tsw\t0 0\n"
    )
    sed = ["sed", "-i", "-E", f"s/{regex}/# emqx-tuning: \\1/", str(fstab)]
    subprocess.run(sed, check=True)
    subprocess.run(sed, check=True)  # idempotent
    assert fstab.read_text() == (
        "UUID=1 / ext4 defaults 0 1\n# emqx-tuning: /swapfile none swap sw 0 0\n# /old none swap sw 0 0\n"
        "# emqx-tuning: /dev/sdb2\tnone\tswap\tsw\t0 0\n"
    )
