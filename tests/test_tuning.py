"""The kernel tuning profile and its renderers, checked against outside references.

Expected numbers come from EMQX's tuning page (emqx-docs performance/tune.md, copied into FACTS.md section 3) and
from Kubernetes' published safe-sysctl list ("Using sysctls in a Kubernetes Cluster"), typed here by hand; rendered
text is checked by the real tools (bash -n, shellcheck, `cloud-init schema`, kubernetes-validate, Python's MIME
parser). The real-kernel checks are in tests/test_tuning_kernel.py.

Golden files under tests/golden/tuning/ are rewritten only with UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import base64
import email
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from email.message import Message
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from components import tuning
from components.tuning import (
    CATALOGUE,
    TuningProfile,
    build_profile,
    render_ack_pre_user_data,
    render_cloud_config,
    render_conntrack_keeper,
    render_eks_user_data,
    validate_overrides,
)

GOLDEN = Path(__file__).parent / "golden" / "tuning"

# EMQX tune.md, as listed in FACTS.md section 3 (values that do not scale with the connection target).
EMQX_FIXED = {
    "net.core.somaxconn": "32768",
    "net.ipv4.tcp_max_syn_backlog": "16384",
    "net.core.netdev_max_backlog": "16384",
    "net.ipv4.ip_local_port_range": "1024 65535",
    "net.core.rmem_default": "262144",
    "net.core.wmem_default": "262144",
    "net.core.rmem_max": "16777216",
    "net.core.wmem_max": "16777216",
    "net.ipv4.tcp_rmem": "1024 4096 16777216",
    "net.ipv4.tcp_wmem": "1024 4096 16777216",
    "net.netfilter.nf_conntrack_tcp_timeout_time_wait": "30",
    "net.ipv4.tcp_fin_timeout": "15",
}

# FACTS.md section 3: where each EMQX key has to land.
EXPECTED_NODE = {
    "fs.file-max",
    "fs.nr_open",
    "net.core.netdev_max_backlog",
    "net.core.rmem_default",
    "net.core.wmem_default",
    "net.core.rmem_max",
    "net.core.wmem_max",
    "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_tcp_timeout_time_wait",
}
EXPECTED_POD = {
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_max_tw_buckets",
    "net.ipv4.tcp_fin_timeout",
}


def profile(
    conns: int = 1_000_000,
    k8s: str = "1.31",
    *,
    overrides: Mapping[str, int | str] | None = None,
    nofile: int | None = None,
    swap_off: bool = True,
) -> TuningProfile:
    return build_profile(
        max_connections_per_node=conns, kubernetes_version=k8s, overrides=overrides, nofile=nofile, swap_off=swap_off
    )


def values(p: TuningProfile) -> dict[str, str]:
    return {s.key: s.value for s in p.sysctls}


# --- the profile ----------------------------------------------------------------------------------------------------


def test_emqx_recommendations_are_in_the_profile() -> None:
    v = values(profile())
    for key, expected in EMQX_FIXED.items():
        assert v[key] == expected, key


def test_scopes_follow_where_the_kernel_keeps_each_key() -> None:
    p = profile()
    assert {s.key for s in p.node_sysctls} == EXPECTED_NODE
    assert {s.key for s in p.pod_sysctls} == EXPECTED_POD
    assert not {s.key for s in p.node_sysctls} & {s.key for s in p.pod_sysctls}


@pytest.mark.parametrize(
    ("conns", "nofile", "conntrack", "tw_buckets"),
    [
        # 100k: every floor applies (EMQX's 2097152 files, 1000000 conntrack, 1048576 TIME_WAIT buckets).
        (100_000, 2_097_152, 1_000_000, 1_048_576),
        # 1M: 2 x 1M = 2,000,000 -> next power of two 2^21 = 2,097,152; conntrack 2 x 1M.
        (1_000_000, 2_097_152, 2_000_000, 1_048_576),
        # 1.5M: 3,000,000 -> 2^22 = 4,194,304.
        (1_500_000, 4_194_304, 3_000_000, 1_500_000),
        # EMQX's 100M benchmark ran ~5M connections per replicant: 10,000,000 -> 2^24 = 16,777,216.
        (5_000_000, 16_777_216, 10_000_000, 5_000_000),
    ],
)
def test_limits_scale_with_the_connection_target(conns: int, nofile: int, conntrack: int, tw_buckets: int) -> None:
    p = profile(conns)
    v = values(p)
    assert p.nofile == nofile
    assert v["fs.nr_open"] == str(nofile)
    assert int(v["fs.file-max"]) >= nofile
    assert v["net.netfilter.nf_conntrack_max"] == str(conntrack)
    assert v["net.ipv4.tcp_max_tw_buckets"] == str(tw_buckets)
    assert p.conntrack_max == conntrack


@settings(max_examples=200, deadline=None)
@given(conns=st.integers(min_value=1, max_value=200_000_000))
def test_profile_invariants(conns: int) -> None:
    p = profile(conns)
    v = values(p)
    assert p.nofile >= 2 * conns and p.nofile >= 2_097_152
    assert p.nofile & (p.nofile - 1) == 0, "a power of two"
    assert p.nofile <= tuning.NR_OPEN_MAX
    assert int(v["fs.nr_open"]) >= p.nofile and int(v["fs.file-max"]) >= p.nofile
    assert int(v["net.netfilter.nf_conntrack_max"]) >= max(2 * conns, 1_000_000)
    # Every value the profile emits passes its own override validation (type and range).
    assert validate_overrides(v) == []


def test_explicit_nofile_wins_and_must_fit_nr_open() -> None:
    assert profile(nofile=4_194_304).nofile == 4_194_304
    with pytest.raises(ValueError, match="outside 1024"):
        profile(nofile=2_000_000_000)
    with pytest.raises(ValueError, match=r'fs.nr_open"\]: 1048576 is below the open-file limit 2097152'):
        profile(overrides={"fs.nr_open": 1_048_576})


def test_overrides_win_and_may_add_catalogue_keys() -> None:
    p = profile(
        overrides={
            "net.core.somaxconn": 65535,
            "net.ipv4.tcp_keepalive_time": "300",
            "net/ipv4/tcp_rmem": "4096 8192 65536",
        }
    )
    v = values(p)
    assert v["net.core.somaxconn"] == "65535"
    assert v["net.ipv4.tcp_keepalive_time"] == "300"
    assert v["net.ipv4.tcp_rmem"] == "4096 8192 65536"
    assert "net.ipv4.tcp_keepalive_time" in {s.key for s in p.pod_sysctls}


def test_invalid_overrides_raise_with_all_messages() -> None:
    with pytest.raises(ValueError) as info:
        profile(overrides={"net.ipv4.tcp_tw_recycle": 1, "net.core.somaxconn": 10})
    text = str(info.value)
    assert "tcp_tw_recycle" in text and "somaxconn" in text


def test_reserved_ports_keep_emqx_listeners_out_of_the_ephemeral_range() -> None:
    v = values(profile())
    # The kernel's text form merges neighbours: 8083 and 8084 read back as "8083-8084".
    assert v["net.ipv4.ip_local_reserved_ports"] == "1883,4370,5369,8083-8084,8883,18083"
    low, high = (int(x) for x in v["net.ipv4.ip_local_port_range"].split())
    for port in (1883, 4370, 5369, 8083, 8084, 8883, 18083):
        assert low <= port <= high  # without the reservation an outgoing connection could take the listener's port


# --- Kubernetes: pod sysctls and the kubelet allowlist --------------------------------------------------------------


@pytest.mark.parametrize(
    ("k8s", "allowlist"),
    [
        # Safe sets from the Kubernetes docs: ip_local_reserved_ports since 1.27, tcp_fin_timeout since 1.29,
        # tcp_rmem/tcp_wmem since 1.32; ip_local_port_range always.
        ("1.26", ["net.core.somaxconn", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_fin_timeout",
                  "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_max_tw_buckets", "net.ipv4.tcp_rmem",
                  "net.ipv4.tcp_wmem"]),
        ("1.28", ["net.core.somaxconn", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_max_syn_backlog",
                  "net.ipv4.tcp_max_tw_buckets", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"]),
        ("1.31", ["net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_max_tw_buckets",
                  "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"]),
        ("v1.32.3", ["net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_max_tw_buckets"]),
    ],
)  # fmt: skip
def test_kubelet_allowlist_is_the_unsafe_pod_keys(k8s: str, allowlist: list[str]) -> None:
    assert profile(k8s=k8s).kubelet_allowed_unsafe_sysctls() == allowlist


def test_pod_security_context_is_sorted_and_only_pod_keys() -> None:
    p = profile()
    ctx = p.pod_security_context_sysctls()
    names = [e["name"] for e in ctx]
    assert names == sorted(EXPECTED_POD)
    assert all(isinstance(e["value"], str) for e in ctx)


@pytest.mark.parametrize("k8s", ["1.29", "1.31", "1.33"])
def test_pod_security_context_is_a_valid_pod_spec(k8s: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "emqx-core-0"},
        "spec": {
            "securityContext": {"sysctls": profile(k8s=k8s).pod_security_context_sysctls()},
            "containers": [{"name": "emqx", "image": "emqx/emqx:5.8.6"}],
        },
    }
    kubernetes_validate.validate(pod, k8s, strict=True)


def test_bad_kubernetes_version_is_refused() -> None:
    with pytest.raises(ValueError, match=r"MAJOR\.MINOR"):
        profile(k8s="latest")


# --- override validation --------------------------------------------------------------------------------------------


def test_the_two_circulating_defects_are_refused_with_their_reason() -> None:
    errors = validate_overrides({"net.ipv4.tcp_max_sync_backlog": 8192, "net.ipv4.tcp_tw_recycle": 1})
    assert len(errors) == 2
    typo = next(e for e in errors if "tcp_max_sync_backlog" in e)
    removed = next(e for e in errors if "tcp_tw_recycle" in e)
    assert typo.startswith('tuning.sysctls["net.ipv4.tcp_max_sync_backlog"]: ')
    assert "does not exist" in typo and "net.ipv4.tcp_max_syn_backlog" in typo
    assert removed.startswith('tuning.sysctls["net.ipv4.tcp_tw_recycle"]: removed in Linux 4.12')
    assert removed.endswith("remove it.")


def test_unknown_key_is_refused() -> None:
    [error] = validate_overrides({"vm.swappiness": 0}, key="emqx.tuning")
    assert error.startswith('emqx.tuning["vm.swappiness"]: unknown: not a key this profile can classify')


def test_kernel_dependent_key_is_refused() -> None:
    [error] = validate_overrides({"net.core.optmem_max": 16777216})
    assert "scope differs across supported kernels" in error


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"net.core.somaxconn": True}, "must be an integer or a string, got bool"),
        ({"net.core.somaxconn": 1.5}, "got float"),
        ({"net.core.somaxconn": [1]}, "got list"),
        ({"net.core.somaxconn": "lots"}, "must be one whole number"),
        ({"net.core.somaxconn": 100}, "outside the allowed range 128..65535"),
        ({"net.core.somaxconn": 70000}, "outside the allowed range"),
        ({"net.ipv4.tcp_rmem": "4096 87380"}, "three whole numbers"),
        ({"net.ipv4.tcp_rmem": "8192 4096 16777216"}, "min <= default <= max"),
        ({"net.ipv4.ip_local_port_range": "1024"}, "two port numbers"),
        ({"net.ipv4.ip_local_port_range": "60000 1024"}, "low < high"),
        ({"net.ipv4.ip_local_port_range": "80 65535"}, "1024 <= low"),
        ({"net.ipv4.ip_local_reserved_ports": "1883,x"}, "comma-separated list"),
        ({"net.ipv4.ip_local_reserved_ports": "70000"}, "within 1..65535"),
        ({"fs.nr_open": 2_000_000_000}, "outside the allowed range"),
    ],
)
def test_values_are_type_and_range_checked(overrides: dict[str, object], fragment: str) -> None:
    [error] = validate_overrides(overrides)
    key = next(iter(overrides))
    assert error.startswith(f'tuning.sysctls["{key}"]: ')
    assert fragment in error


def test_override_shapes() -> None:
    assert validate_overrides(None) == []
    assert validate_overrides({}) == []
    assert validate_overrides(["net.core.somaxconn"]) == [
        "tuning.sysctls: must be a mapping of sysctl name to value, got list"
    ]
    [error] = validate_overrides({1: 2})
    assert error.startswith("tuning.sysctls: sysctl names must be strings")
    [dup] = validate_overrides({"net.core.somaxconn": 1024, "net/core/somaxconn": 2048})
    assert "the same key as" in dup
    assert validate_overrides({"net.ipv4.ip_local_reserved_ports": 1883}) == []


def test_catalogue_scopes_are_consistent() -> None:
    for spec in CATALOGUE.values():
        if spec.kernel_scope == "global":
            assert not spec.key.startswith("net."), spec.key
        if spec.applies_on_node:
            # Only conntrack knobs act in the node's namespace although the kernel keeps a copy per namespace.
            assert spec.key.startswith("net.netfilter.nf_conntrack_"), spec.key
        if spec.key not in values(profile()):
            assert spec.sample and validate_overrides({spec.key: spec.sample}) == [], spec.key


# --- renderers ------------------------------------------------------------------------------------------------------


def script_table(script: str) -> dict[str, tuple[str, str]]:
    body = script.split("<<'EMQX_SYSCTLS'\n", 1)[1].split("\nEMQX_SYSCTLS\n", 1)[0]
    rows = {}
    for line in body.splitlines():
        key, mode, value = line.split(" ", 2)
        rows[key] = (mode, value)
    return rows


def test_node_script_sets_exactly_the_node_keys() -> None:
    p = profile()
    table = script_table(render_ack_pre_user_data(p))
    assert {k: v for k, (_, v) in table.items()} == {s.key: s.value for s in p.node_sysctls}
    for key, (mode, _) in table.items():
        assert mode == ("raise" if CATALOGUE[key].raise_only else "set")
    for s in p.pod_sysctls:
        assert s.key not in render_ack_pre_user_data(p)


def test_node_script_limits_and_swap() -> None:
    script = render_ack_pre_user_data(profile(conns=5_000_000))
    assert "LimitNOFILE=16777216" in script
    assert "root hard nofile 16777216" in script
    assert "modprobe nf_conntrack" in script
    assert script.index("modprobe nf_conntrack") < script.index("<<'EMQX_SYSCTLS'")
    assert "swapoff -a" in script
    assert "swapoff" not in render_ack_pre_user_data(profile(swap_off=False))


def test_node_script_sets_the_conntrack_hash_size_to_a_quarter_of_the_limit() -> None:
    # kube-proxy keeps hashsize >= nf_conntrack_max / 4 (pkg/proxy/conntrack); the profile does the same for its own
    # limit: 2 x 1.5M connections = 3M entries -> 750000 buckets, at load time and now.
    script = render_ack_pre_user_data(profile(conns=1_500_000))
    assert "options nf_conntrack hashsize=750000" in script
    assert "echo 750000 >/sys/module/nf_conntrack/parameters/hashsize" in script
    assert "/etc/modprobe.d/99-zz-emqx-conntrack.conf" in script
    # A profile without a conntrack limit leaves the hash size alone.
    bare = TuningProfile(sysctls=(), nofile=2097152, swap_off=False, kubernetes_version="1.35")
    assert "hashsize" not in render_ack_pre_user_data(bare)
    assert render_conntrack_keeper(bare) is None


def test_pre_user_data_fits_ecs_user_data_with_room_to_spare() -> None:
    # ECS RunInstances: user data "must be encoded in Base64 format and can be up to 32 KB". ACK's own node
    # initialisation travels beside ours, so the script keeps to half of that, even with every override key set.
    overrides: dict[str, int | str] = {k: s.sample for k, s in CATALOGUE.items() if s.sample}
    script = render_ack_pre_user_data(profile(conns=5_000_000, overrides=overrides))
    assert len(base64.b64encode(script.encode())) < 16 * 1024


def test_node_script_writes_only_under_etc() -> None:
    # Read-only-root images (ContainerOS) keep /etc and /var writable, nothing else: every file the ACK script
    # writes must be under /etc (the sysfs hash size is a kernel parameter, not a file on the root).
    script = render_ack_pre_user_data(profile())
    written = [line.split()[1] for line in script.splitlines() if line.strip().startswith("put /")]
    assert written, "no file is written with put"
    for path in [*written, tuning.CONTAINERD_DROPIN_PATH, tuning.SYSCTL_CONF_PATH]:
        assert path.startswith("/etc/"), path
    assert tuning.NODE_SCRIPT_PATH not in script


def _keep_once(tmp_path: Path, conns: int, max_now: int, hash_now: int) -> tuple[str, int, int]:
    """One pass of the conntrack keeper against stand-in files for the two kernel values."""
    keeper = render_conntrack_keeper(profile(conns=conns))
    assert keeper is not None
    body = keeper.split("# --- loop ---")[0]
    replaced = body.replace("max_file=/proc/sys/net/netfilter/nf_conntrack_max", f"max_file={tmp_path}/max").replace(
        f"hash_file={tuning.CONNTRACK_HASHSIZE_PATH}", f"hash_file={tmp_path}/hash"
    )
    assert replaced.count(str(tmp_path)) == 2
    (tmp_path / "max").write_text(f"{max_now}\n")
    (tmp_path / "hash").write_text(f"{hash_now}\n")
    shims = tmp_path / "bin"
    shims.mkdir(exist_ok=True)
    (shims / "logger").write_text("#!/bin/sh\nexit 0\n")
    (shims / "logger").chmod(0o755)
    env = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}"}
    result = subprocess.run([_needs("bash"), "-c", replaced + "\nkeep\n"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout, int((tmp_path / "max").read_text()), int((tmp_path / "hash").read_text())


def test_conntrack_keeper_raises_what_kube_proxy_lowered(tmp_path: Path) -> None:
    # kube-proxy 1.29-1.35 on a 4-vCPU node: max(32768 x 4, 131072) = 131072, hash size left as it was.
    out, limit, hashsize = _keep_once(tmp_path, conns=1_000_000, max_now=131072, hash_now=32768)
    assert (limit, hashsize) == (2_000_000, 500_000)
    assert "nf_conntrack_max was 131072" in out and "raised to 2000000" in out


def test_conntrack_keeper_never_lowers(tmp_path: Path) -> None:
    # kube-proxy on a 96-vCPU node sets 32768 x 96 = 3145728, above the profile: left alone, silently.
    out, limit, hashsize = _keep_once(tmp_path, conns=1_000_000, max_now=3_145_728, hash_now=786_432)
    assert (limit, hashsize) == (3_145_728, 786_432)
    assert out == ""


def _needs(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


@pytest.mark.parametrize("conns", [100_000, 5_000_000])
@pytest.mark.parametrize("render", [render_ack_pre_user_data, render_conntrack_keeper])
def test_node_script_passes_bash_and_shellcheck(conns: int, render: Callable[[TuningProfile], str | None],
                                                tmp_path: Path) -> None:
    text = render(profile(conns))
    assert text is not None
    script = tmp_path / "script.sh"
    script.write_text(text)
    subprocess.run([_needs("bash"), "-n", str(script)], check=True)
    result = subprocess.run(
        [_needs("shellcheck"), "-s", "bash", "-S", "style", str(script)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def _cloud_init_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_needs("cloud-init"), "schema", "--config-file", str(path)], capture_output=True, text=True)


def test_cloud_config_passes_cloud_init_schema(tmp_path: Path) -> None:
    path = tmp_path / "cloud-config.yaml"
    path.write_text(render_cloud_config(profile()))
    result = _cloud_init_schema(path)
    assert result.returncode == 0, result.stdout + result.stderr
    # The validator must be able to fail: a wrong type for write_files is reported.
    path.write_text("#cloud-config\nwrite_files: 3\n")
    assert _cloud_init_schema(path).returncode != 0


def test_cloud_config_carries_the_same_script_and_runs_it() -> None:
    p = profile()
    doc = yaml.safe_load(render_cloud_config(p))
    entry = doc["write_files"][0]
    assert entry["path"] == tuning.NODE_SCRIPT_PATH and entry["permissions"] == "0755"
    assert script_table(entry["content"]) == script_table(render_ack_pre_user_data(p))
    # On EKS containers get their open-file limit from the NodeConfig, not from a containerd drop-in.
    assert "LimitNOFILE" not in entry["content"]
    # nodeadm-run runs it before kubelet starts (tests/test_eks_user_data.py checks the drop-in and the keeper).
    dropin = next(f for f in doc["write_files"] if f["path"] == tuning.NODEADM_RUN_DROPIN_PATH)
    assert f"ExecStartPre={entry['path']}" in dropin["content"]


def _parts(mime: str) -> list[Message]:
    message = email.message_from_string(mime)
    assert message.is_multipart()
    assert message.get_content_type() == "multipart/mixed"
    payload = message.get_payload()
    assert isinstance(payload, list)
    return [part for part in payload if isinstance(part, Message)]


def test_eks_user_data_is_mime_with_node_config_and_cloud_config(tmp_path: Path) -> None:
    p = profile(k8s="1.35")
    parts = _parts(render_eks_user_data(p))
    assert [part.get_content_type() for part in parts] == ["application/node.eks.aws", "text/cloud-config"]
    node_config_text = parts[0].get_payload()
    cloud_config_text = parts[1].get_payload()
    assert isinstance(node_config_text, str) and isinstance(cloud_config_text, str)
    node_config = yaml.safe_load(node_config_text)
    assert node_config["apiVersion"] == "node.eks.aws/v1alpha1" and node_config["kind"] == "NodeConfig"
    assert node_config["spec"]["kubelet"]["config"]["allowedUnsafeSysctls"] == p.kubelet_allowed_unsafe_sysctls()
    rlimits = node_config["spec"]["containerd"]["baseRuntimeSpec"]["process"]["rlimits"]
    assert rlimits == [{"type": "RLIMIT_NOFILE", "soft": 2_097_152, "hard": 2_097_152}]
    path = tmp_path / "part.yaml"
    path.write_text(cloud_config_text)
    result = _cloud_init_schema(path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- golden files ---------------------------------------------------------------------------------------------------
# The EKS user data golden (Kubernetes 1.35) is in tests/golden/eks/, checked by tests/test_eks_user_data.py.


def golden_outputs() -> dict[str, str]:
    p = profile(conns=1_000_000, k8s="1.31")
    pod = {
        "kubernetes_version": p.kubernetes_version,
        "securityContext.sysctls": p.pod_security_context_sysctls(),
        "kubelet.allowedUnsafeSysctls": p.kubelet_allowed_unsafe_sysctls(),
        "nofile": p.nofile,
        "kube-proxy conntrack": p.conntrack_max,
        "conntrack hashsize": p.conntrack_hashsize,
    }
    return {
        "ack_pre_user_data.sh": render_ack_pre_user_data(p),
        "ack_conntrack_keeper.sh": render_conntrack_keeper(p) or "",
        "pod_and_kubelet.json": json.dumps(pod, indent=2) + "\n",
    }


@pytest.mark.parametrize("name", sorted(golden_outputs()))
def test_golden(name: str) -> None:
    rendered = golden_outputs()[name]
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered)
    assert path.exists(), f"{path} is missing; run with UPDATE_GOLDEN=1 and review the diff"
    assert rendered == path.read_text(), f"{name} changed; review, then regenerate with UPDATE_GOLDEN=1"
