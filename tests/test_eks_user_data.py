"""EKS node user data (AL2023, nodeadm), checked by the real validators.

- The NodeConfig part: jsonschema against nodeadm's own generated CRD, vendored unchanged under
  schemas/nodeadm/v20260724/ (SOURCE.md), made strict here (an object that declares properties accepts no others).
- The cloud-config part: `cloud-init schema`; the scripts it writes: bash -n and shellcheck; the systemd units it
  writes: `systemd-analyze verify`.
- The fail-closed path: the node script itself, run against stand-in sysctl/proc files, exits non-zero when a key
  does not read back, and that script is exactly what nodeadm-run's ExecStartPre= runs.
- Size: EC2's 16 KB raw user-data limit (AWSEC2 UserGuide, instancedata-add-user-data.html), leaving room for the
  NodeConfig part an EKS managed node group appends.

Expected allowlists are typed from Kubernetes' published safe-sysctl list ("Using sysctls in a Kubernetes
Cluster": tcp_rmem/tcp_wmem safe since 1.32, tcp_fin_timeout since 1.29, ip_local_reserved_ports since 1.27).
The golden file under tests/golden/eks/ is rewritten only with UPDATE_GOLDEN=1; the validators above run on it too.
"""

from __future__ import annotations

import base64
import copy
import email
import hashlib
import os
import re
import shutil
import subprocess
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from components import tuning
from components.tuning import (
    CATALOGUE,
    EksClusterDetails,
    TuningProfile,
    build_profile,
    render_eks_user_data,
)

ROOT = Path(__file__).resolve().parent.parent
NODEADM = ROOT / "schemas" / "nodeadm"
NODEADM_VERSION = "v20260724"
GOLDEN = Path(__file__).parent / "golden" / "eks"
SUPPORTED = ["1.34", "1.35", "1.36"]
# Pod keys Kubernetes does not class as safe from 1.32 on (see the module docstring).
UNSAFE_FROM_1_32 = ["net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_max_tw_buckets"]
# A CA bundle of the size EKS returns (one 2048-bit certificate, ~1.1 KB PEM -> ~1.5 KB base64), content irrelevant.
FAKE_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n" + b"A" * 1100 + b"\n-----END CERTIFICATE-----\n").decode()
CLUSTER = EksClusterDetails(
    name="emqx-prod",
    api_server_endpoint="https://0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com",
    certificate_authority=FAKE_CA,
    service_cidr="172.20.0.0/16",
)


def profile(k8s: str = "1.35", conns: int = 1_000_000, **kwargs: Any) -> TuningProfile:
    return build_profile(max_connections_per_node=conns, kubernetes_version=k8s, **kwargs)


def _needs(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def parts(mime: str) -> dict[str, str]:
    message = email.message_from_string(mime)
    assert message.is_multipart() and message.get_content_type() == "multipart/mixed"
    payload = message.get_payload()
    assert isinstance(payload, list)
    out: dict[str, str] = {}
    for part in payload:
        assert isinstance(part, Message)
        body = part.get_payload()
        assert isinstance(body, str)
        out[part.get_content_type()] = body
    assert list(out) == ["application/node.eks.aws", "text/cloud-config"]
    return out


def node_config(mime: str) -> dict[str, Any]:
    return yaml.safe_load(parts(mime)["application/node.eks.aws"])


def cloud_config(mime: str) -> dict[str, Any]:
    text = parts(mime)["text/cloud-config"]
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)


def written(mime: str) -> dict[str, dict[str, str]]:
    return {entry["path"]: entry for entry in cloud_config(mime)["write_files"]}


# --- the vendored nodeadm schema ------------------------------------------------------------------------------------


def test_vendored_nodeadm_crd_is_unchanged() -> None:
    text = (NODEADM / "SOURCE.md").read_text(encoding="utf-8")
    sums = dict(
        (path, digest) for digest, path in re.findall(r"^([0-9a-f]{64})  (\S+)$", text, flags=re.MULTILINE)
    )
    assert sums, "SOURCE.md lists no checksums"
    on_disk = {str(p.relative_to(NODEADM)) for p in NODEADM.rglob("*") if p.is_file() and p.name != "SOURCE.md"}
    assert on_disk == set(sums)
    for path, digest in sums.items():
        assert hashlib.sha256((NODEADM / path).read_bytes()).hexdigest() == digest, path


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        if out.get("format") == "byte":
            out.pop("format")
            out["contentEncoding"] = "base64"
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def nodeadm_validator() -> Draft202012Validator:
    crd = yaml.safe_load((NODEADM / NODEADM_VERSION / "node.eks.aws_nodeconfigs.yaml").read_text(encoding="utf-8"))
    [version] = crd["spec"]["versions"]
    schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    # nodeconfig_types.go declares kubelet.config as map[string]runtime.RawExtension: any JSON value per key (e.g.
    # the allowedUnsafeSysctls list); controller-gen renders RawExtension as an object, which nodeadm does not require.
    schema["properties"]["spec"]["properties"]["kubelet"]["properties"]["config"]["additionalProperties"] = {}
    return Draft202012Validator(schema)


def schema_errors(doc: dict[str, Any]) -> list[str]:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in nodeadm_validator().iter_errors(doc)]
    if doc.get("apiVersion") != "node.eks.aws/v1alpha1" or doc.get("kind") != "NodeConfig":
        errors.append("apiVersion/kind: nodeadm reads only node.eks.aws/v1alpha1 NodeConfig")
    return errors


def test_the_schema_check_can_fail() -> None:
    good = node_config(render_eks_user_data(profile()))
    assert schema_errors(good) == []
    for path, value in [
        (("spec", "kubelet", "maxPod"), 10),  # a typo nodeadm would ignore
        (("spec", "kubelet", "flags"), "--v=2"),  # flags is a list
        (("spec", "cluster", "cidr"), 16),
    ]:
        bad = copy.deepcopy(good)
        node = bad
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
        assert schema_errors(bad), path


# --- the NodeConfig part --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k8s", SUPPORTED)
@pytest.mark.parametrize("cluster", [None, CLUSTER], ids=["mng-eks-ami", "pinned-ami"])
def test_node_config_passes_nodeadm_schema(k8s: str, cluster: EksClusterDetails | None) -> None:
    doc = node_config(render_eks_user_data(profile(k8s), cluster=cluster))
    assert schema_errors(doc) == []
    assert doc["spec"]["kubelet"]["config"]["allowedUnsafeSysctls"] == UNSAFE_FROM_1_32
    assert doc["spec"]["containerd"]["baseRuntimeSpec"]["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "soft": 2_097_152, "hard": 2_097_152}
    ]


def test_cluster_details_only_when_given() -> None:
    assert "cluster" not in node_config(render_eks_user_data(profile()))["spec"]
    cluster = node_config(render_eks_user_data(profile(), cluster=CLUSTER))["spec"]["cluster"]
    # nodeadm's ValidateNodeConfig (internal/api/validation.go) refuses the node unless all four are non-empty.
    assert cluster == {
        "name": "emqx-prod",
        "apiServerEndpoint": CLUSTER.api_server_endpoint,
        "certificateAuthority": FAKE_CA,
        "cidr": "172.20.0.0/16",
    }
    assert base64.b64decode(cluster["certificateAuthority"], validate=True)


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


@pytest.mark.parametrize("cluster", [None, CLUSTER])
def test_never_sets_what_eks_owns(cluster: EksClusterDetails | None) -> None:
    # EKS's own NodeConfig is merged after ours and wins; maxPods and clusterDNS are EKS's (AWS.md section 3.6).
    doc = node_config(render_eks_user_data(profile(), cluster=cluster))
    assert not _keys(doc) & {"maxPods", "clusterDNS", "maxPodsExpression"}
    assert "flags" not in doc["spec"]["kubelet"]


# --- the cloud-config part ------------------------------------------------------------------------------------------


def _cloud_init_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_needs("cloud-init"), "schema", "--config-file", str(path)], capture_output=True, text=True)


@pytest.mark.parametrize("k8s", SUPPORTED)
def test_cloud_config_passes_cloud_init_schema(k8s: str, tmp_path: Path) -> None:
    path = tmp_path / "cloud-config.yaml"
    path.write_text(parts(render_eks_user_data(profile(k8s)))["text/cloud-config"])
    result = _cloud_init_schema(path)
    assert result.returncode == 0, result.stdout + result.stderr
    path.write_text("#cloud-config\nruncmd: 3\n")
    assert _cloud_init_schema(path).returncode != 0


def test_nodeadm_run_waits_for_the_tuning_script() -> None:
    mime = render_eks_user_data(profile())
    files = written(mime)
    script = files[tuning.NODE_SCRIPT_PATH]
    assert script["permissions"] == "0755"
    dropin = files[tuning.NODEADM_RUN_DROPIN_PATH]
    # A drop-in of the AMI's nodeadm-run.service (the unit that starts containerd and kubelet).
    assert Path(tuning.NODEADM_RUN_DROPIN_PATH).parent.name == "nodeadm-run.service.d"
    assert Path(tuning.NODEADM_RUN_DROPIN_PATH).suffix == ".conf"
    lines = [line for line in dropin["content"].splitlines() if line and not line.startswith("#")]
    # Not "-" prefixed: a failing script fails the unit (systemd.service(5), ExecStartPre=).
    assert lines == ["[Service]", f"ExecStartPre={tuning.NODE_SCRIPT_PATH}"]
    runcmd = cloud_config(mime)["runcmd"]
    # The drop-in is read only after a reload; runcmd runs in cloud-final, which nodeadm-run is ordered after.
    assert runcmd[0] == ["systemctl", "daemon-reload"]
    # On EKS the containers' open-file limit comes from the NodeConfig, never a containerd drop-in + restart.
    assert "LimitNOFILE" not in script["content"] and "restart containerd" not in script["content"]


def test_conntrack_keeper_runs_as_a_service() -> None:
    mime = render_eks_user_data(profile(conns=1_500_000))
    files = written(mime)
    keeper = files[tuning.CONNTRACK_KEEPER_PATH]["content"]
    # kube-proxy's lowered value is raised back to the profile's limit and a quarter of it as hash size.
    assert "raise \"$max_file\" 3000000 nf_conntrack_max" in keeper
    assert "raise \"$hash_file\" 750000" in keeper
    unit = files[tuning.CONNTRACK_KEEPER_UNIT_PATH]["content"]
    assert f"ExecStart={tuning.CONNTRACK_KEEPER_PATH}" in unit and "Restart=always" in unit
    # --no-block, or cloud-final would wait on a unit ordered after nodeadm-run, which waits on cloud-final.
    assert ["systemctl", "enable", "--now", "--no-block", tuning.CONNTRACK_KEEPER_UNIT] in cloud_config(mime)["runcmd"]


def _verify_unit(tmp_path: Path, name: str, text: str) -> subprocess.CompletedProcess[str]:
    exe = tmp_path / "stand-in.sh"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    for path in (tuning.NODE_SCRIPT_PATH, tuning.CONNTRACK_KEEPER_PATH):
        text = text.replace(path, str(exe))
    unit = tmp_path / name
    unit.write_text(text)
    return subprocess.run([_needs("systemd-analyze"), "verify", "--man=no", str(unit)], capture_output=True,
                          text=True)


def test_systemd_units_pass_systemd_analyze(tmp_path: Path) -> None:
    files = written(render_eks_user_data(profile()))
    keeper_unit = files[tuning.CONNTRACK_KEEPER_UNIT_PATH]["content"]
    keeper = _verify_unit(tmp_path, "emqx-conntrack-keeper.service", keeper_unit)
    assert keeper.returncode == 0, keeper.stdout + keeper.stderr
    # The drop-in on a stand-in of the AMI's nodeadm-run.service (Type=oneshot), as systemd merges them.
    nodeadm_run = "[Unit]\nDescription=stand-in\n[Service]\nType=oneshot\nExecStart=/bin/true\n"
    merged = _verify_unit(tmp_path, "nodeadm-run.service",
                          nodeadm_run + files[tuning.NODEADM_RUN_DROPIN_PATH]["content"])
    assert merged.returncode == 0, merged.stdout + merged.stderr
    broken = _verify_unit(tmp_path, "broken.service", "[Service]\nExecStartPee=/bin/true\n")
    assert broken.returncode != 0


@pytest.mark.parametrize("conns", [100_000, 5_000_000])
def test_embedded_scripts_pass_bash_and_shellcheck(conns: int, tmp_path: Path) -> None:
    files = written(render_eks_user_data(profile(conns=conns)))
    for path in (tuning.NODE_SCRIPT_PATH, tuning.CONNTRACK_KEEPER_PATH):
        script = tmp_path / Path(path).name
        script.write_text(files[path]["content"])
        subprocess.run([_needs("bash"), "-n", str(script)], check=True)
        result = subprocess.run([_needs("shellcheck"), "-s", "bash", "-S", "style", str(script)], capture_output=True,
                                text=True)
        assert result.returncode == 0, path + "\n" + result.stdout


_SYSCTL_SHIM = """#!/bin/bash
# Stand-in for sysctl(8) over files in $STATE; a key listed in $STATE/refuse keeps its old value.
quiet=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    -q) quiet=1 ;;
    -n) shift; cat "$STATE/$1" 2>/dev/null || exit 1; exit 0 ;;
    -w) shift; key=${1%%=*}; value=${1#*=}
        grep -qx "$key" "$STATE/refuse" 2>/dev/null || printf '%s\\n' "$value" >"$STATE/$key"; exit 0 ;;
  esac
  shift
done
exit "$quiet"
"""


def _run_node_script(tmp_path: Path, refuse: str) -> subprocess.CompletedProcess[str]:
    """The EKS node script, exactly as nodeadm-run's ExecStartPre= runs it, with /etc, sysfs and sysctl redirected."""
    p = profile(conns=1_000_000, swap_off=False)
    text = written(render_eks_user_data(p))[tuning.NODE_SCRIPT_PATH]["content"]
    root = tmp_path / "root"
    text = text.replace(tuning.CONNTRACK_HASHSIZE_PATH, f"{root}/hashsize").replace(" /etc/", f" {root}/etc/")
    assert "/etc/" not in text.replace(f"{root}/etc/", ""), "a path escaped the sandbox"
    state, shims = tmp_path / "state", tmp_path / "bin"
    for d in (root, state, shims):
        d.mkdir()
    (state / "refuse").write_text(refuse + "\n")
    (root / "hashsize").write_text("65536\n")
    noop = "#!/bin/sh\nexit 0\n"
    for name, body in {"sysctl": _SYSCTL_SHIM, "modprobe": noop, "logger": noop}.items():
        (shims / name).write_text(body)
        (shims / name).chmod(0o755)
    script = tmp_path / "emqx-node-tuning.sh"
    script.write_text(text)
    env = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}", "STATE": str(state)}
    return subprocess.run([_needs("bash"), str(script)], capture_output=True, text=True, env=env)


def test_node_script_succeeds_when_every_key_reads_back(tmp_path: Path) -> None:
    result = _run_node_script(tmp_path, refuse="")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "node tuning applied" in result.stdout
    assert (tmp_path / "state" / "net.netfilter.nf_conntrack_max").read_text().strip() == "2000000"


def test_node_script_fails_the_unit_when_a_key_does_not_read_back(tmp_path: Path) -> None:
    # The kernel keeps its old value (e.g. a module not loaded): the script exits non-zero, so ExecStartPre= fails
    # nodeadm-run and kubelet never starts.
    result = _run_node_script(tmp_path, refuse="net.core.rmem_max")
    assert result.returncode != 0
    assert "net.core.rmem_max: wanted '16777216'" in result.stdout


# --- size -----------------------------------------------------------------------------------------------------------


def _largest_profile(k8s: str) -> TuningProfile:
    overrides: dict[str, int | str] = {k: s.sample for k, s in CATALOGUE.items() if s.sample}
    return profile(k8s, conns=5_000_000, overrides=overrides)


@pytest.mark.parametrize("k8s", SUPPORTED)
def test_user_data_fits_with_room_for_eks_part(k8s: str) -> None:
    # EC2: "User data is limited to 16 KB, in raw form, before it is base64-encoded." A managed node group on the EKS
    # AMI appends its own NodeConfig (cluster CA, endpoint, maxPods, labels); 4 KB stays free for it.
    ours = render_eks_user_data(_largest_profile(k8s))
    assert len(ours.encode()) <= 16 * 1024 - 4 * 1024
    # With a pinned AMI nothing is appended, and our document carries the cluster's CA itself.
    pinned = render_eks_user_data(_largest_profile(k8s), cluster=CLUSTER)
    assert len(pinned.encode()) <= 16 * 1024


def test_oversized_user_data_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tuning, "EKS_MNG_PART_ROOM", 15 * 1024)
    with pytest.raises(ValueError, match="over the 1024 bytes"):
        render_eks_user_data(profile())


# --- golden ---------------------------------------------------------------------------------------------------------


def test_golden_user_data_and_its_validators(tmp_path: Path) -> None:
    rendered = render_eks_user_data(profile("1.35", conns=1_000_000))
    path = GOLDEN / "user_data_k8s1.35_1M.mime"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered)
    assert path.exists(), f"{path} is missing; run with UPDATE_GOLDEN=1 and review the diff"
    golden = path.read_text()
    assert rendered == golden, "EKS user data changed; review, then regenerate with UPDATE_GOLDEN=1"
    # The file on disk itself passes the independent checks.
    assert schema_errors(node_config(golden)) == []
    cc = tmp_path / "golden-cloud-config.yaml"
    cc.write_text(parts(golden)["text/cloud-config"])
    result = _cloud_init_schema(cc)
    assert result.returncode == 0, result.stdout + result.stderr
