"""Kernel tuning for EMQX nodes: one profile, every place it has to land.

EMQX's published tuning (emqx-docs performance/tune.md) is a flat list of sysctls, but on Kubernetes those keys land
in two different places. Global keys (fs.*) and keys that only exist in the initial network namespace belong on the
node, in its user data. Keys that the kernel keeps per network namespace never reach a pod from the node: each pod
has its own namespace with kernel defaults, so they go into the EMQX pods' ``securityContext.sysctls``, and every one
of them that Kubernetes does not class as safe must also be on that node pool's kubelet allowed-unsafe-sysctls list.

This module keeps one catalogue of the keys it understands (with the kernel scope verified on a real kernel by
tests/test_tuning_kernel.py, a type and a range), builds a profile scaled to the node's connection target, and renders
every artefact from that single profile so the node script, the pod spec and the kubelet allowlist cannot drift.

Pure: no pulumi import.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import yaml

Scope = Literal["node", "pod"]
# Where the kernel keeps the value: "global" (one per machine, owned by the initial user namespace: fs.*),
# "init_netns" (a net.* key that only the initial network namespace can write: absent or read-only elsewhere),
# "per_netns" (every network namespace has its own copy, starting from the kernel default).
KernelScope = Literal["global", "init_netns", "per_netns"]
ValueKind = Literal["int", "int_triple", "port_range", "port_list"]

CONFIG_KEY = "tuning.sysctls"

# The highest value fs.nr_open accepts (sysctl_nr_open_max on 64-bit kernels); RLIMIT_NOFILE cannot exceed it.
NR_OPEN_MAX = 1073741816
INT_MAX = 2**31 - 1
LONG_MAX = 2**63 - 1

# EMQX's own floor for open files (tune.md: nofile = fs.nr_open = 2097152).
EMQX_MIN_NOFILE = 2097152
# EMQX's conntrack recommendation; the profile never goes below it.
EMQX_MIN_CONNTRACK = 1000000
EMQX_MIN_TW_BUCKETS = 1048576

# Ports EMQX listens on inside its pod (FACTS.md section 1): mqtt, ws, wss, mqtts, erlang dist, gen_rpc, dashboard.
EMQX_PORTS: tuple[int, ...] = (1883, 4370, 5369, 8083, 8084, 8883, 18083)

SYSCTL_CONF_PATH = "/etc/sysctl.d/99-zz-emqx.conf"
MODULES_LOAD_PATH = "/etc/modules-load.d/99-zz-emqx.conf"
LIMITS_PATH = "/etc/security/limits.d/99-zz-emqx.conf"
CONTAINERD_DROPIN_PATH = "/etc/systemd/system/containerd.service.d/99-zz-emqx-nofile.conf"
# nf_conntrack's hash table size is a module parameter, not a sysctl: set at load time (modprobe.d) and writable at
# run time only from the initial network namespace (nf_conntrack_set_hashsize refuses any other).
MODPROBE_CONNTRACK_PATH = "/etc/modprobe.d/99-zz-emqx-conntrack.conf"
CONNTRACK_HASHSIZE_PATH = "/sys/module/nf_conntrack/parameters/hashsize"
# Only the EKS cloud-config writes the script to a file; ACK passes it inline (pre_user_data, the reconciler).
# Every other path the script writes is under /etc, which stays writable on read-only-root images (ACK ContainerOS:
# "The root file system is read-only - only /etc and /var are writable").
NODE_SCRIPT_PATH = "/usr/local/sbin/emqx-node-tuning.sh"
# How often the reconciler on running nodes re-checks the conntrack limit kube-proxy may have lowered.
CONNTRACK_RECHECK_SECONDS = 30


@dataclass(frozen=True)
class KeySpec:
    """What the profile knows about one sysctl: how to check a value and where it has to be set."""

    key: str
    kind: ValueKind
    minimum: int
    maximum: int
    kernel_scope: KernelScope
    # A capacity limit: the node script raises it to the profile value but never lowers a larger value the OS
    # already set (systemd >= 240 raises fs.file-max and fs.nr_open far above any value EMQX needs).
    raise_only: bool
    why: str
    # Per-netns keys whose traffic is tracked in the node's namespace: kube-proxy's NAT and the CNI's forwarding run
    # conntrack in the node's namespace, while a pod's namespace normally registers no conntrack hooks at all.
    applies_on_node: bool = False
    # A value of the right kind for keys that are not in the default profile; the kernel tests write it.
    sample: str = ""

    @property
    def scope(self) -> Scope:
        if self.kernel_scope != "per_netns" or self.applies_on_node:
            return "node"
        return "pod"


def _spec(
    key: str,
    kind: ValueKind,
    minimum: int,
    maximum: int,
    kernel_scope: KernelScope,
    why: str,
    *,
    raise_only: bool = False,
    applies_on_node: bool = False,
    sample: str = "",
) -> KeySpec:
    return KeySpec(key, kind, minimum, maximum, kernel_scope, raise_only, why, applies_on_node, sample)


# Scopes verified on Linux 6.18 by tests/test_tuning_kernel.py (fresh unprivileged user + network namespace) and
# chosen so they hold from Linux 5.10 on: every per_netns key here was namespaced long before 5.10.
CATALOGUE: Mapping[str, KeySpec] = {
    s.key: s
    for s in (
        _spec(
            "fs.file-max",
            "int",
            65536,
            LONG_MAX,
            "global",
            "node-wide file handle ceiling: EMQX's sockets plus every other process on the node",
            raise_only=True,
        ),
        _spec(
            "fs.nr_open",
            "int",
            1048576,
            NR_OPEN_MAX,
            "global",
            "per-process ceiling for RLIMIT_NOFILE; containerd's LimitNOFILE cannot exceed it",
            raise_only=True,
        ),
        _spec(
            "net.core.netdev_max_backlog",
            "int",
            1000,
            1048576,
            "init_netns",
            "packets queued per CPU before the stack drops them (EMQX tune.md)",
            raise_only=True,
        ),
        _spec(
            "net.core.rmem_default",
            "int",
            4096,
            INT_MAX,
            "init_netns",
            "default receive buffer of non-TCP sockets (EMQX tune.md)",
        ),
        _spec(
            "net.core.wmem_default",
            "int",
            4096,
            INT_MAX,
            "init_netns",
            "default send buffer of non-TCP sockets (EMQX tune.md)",
        ),
        _spec(
            "net.core.rmem_max",
            "int",
            212992,
            INT_MAX,
            "init_netns",
            "largest receive buffer a socket may request (EMQX tune.md)",
            raise_only=True,
        ),
        _spec(
            "net.core.wmem_max",
            "int",
            212992,
            INT_MAX,
            "init_netns",
            "largest send buffer a socket may request (EMQX tune.md)",
            raise_only=True,
        ),
        _spec(
            "net.ipv4.tcp_mem",
            "int_triple",
            1,
            LONG_MAX,
            "init_netns",
            "node-wide TCP memory pressure thresholds in pages",
            sample="1048576 1572864 2097152",
        ),
        _spec(
            "net.netfilter.nf_conntrack_max",
            "int",
            65536,
            INT_MAX,
            "init_netns",
            "conntrack table size: kube-proxy and the CNI track every MQTT connection on the node",
            raise_only=True,
        ),
        _spec(
            "net.netfilter.nf_conntrack_tcp_timeout_time_wait",
            "int",
            1,
            600,
            "per_netns",
            "frees conntrack entries of closed MQTT connections sooner (EMQX tune.md)",
            applies_on_node=True,
        ),
        _spec(
            "net.core.somaxconn",
            "int",
            128,
            65535,
            "per_netns",
            "accept queue ceiling for EMQX's listeners (EMQX tune.md)",
        ),
        _spec(
            "net.ipv4.tcp_max_syn_backlog",
            "int",
            128,
            1048576,
            "per_netns",
            "half-open connections held during a reconnect storm (EMQX tune.md)",
        ),
        _spec(
            "net.ipv4.ip_local_port_range",
            "port_range",
            1024,
            65535,
            "per_netns",
            "ephemeral ports for EMQX's outgoing connections: bridges, data integrations (EMQX tune.md)",
        ),
        _spec(
            "net.ipv4.ip_local_reserved_ports",
            "port_list",
            1,
            65535,
            "per_netns",
            "keeps EMQX's listener ports out of the widened ephemeral range, so a listener restart can bind",
        ),
        _spec(
            "net.ipv4.tcp_rmem",
            "int_triple",
            1024,
            INT_MAX,
            "per_netns",
            "per-connection TCP receive buffer min/default/max: small default for a million idle clients "
            "(EMQX tune.md)",
        ),
        _spec(
            "net.ipv4.tcp_wmem",
            "int_triple",
            1024,
            INT_MAX,
            "per_netns",
            "per-connection TCP send buffer min/default/max (EMQX tune.md)",
        ),
        _spec(
            "net.ipv4.tcp_max_tw_buckets",
            "int",
            4096,
            INT_MAX,
            "per_netns",
            "TIME_WAIT sockets kept after mass disconnects before the kernel drops them (EMQX tune.md)",
        ),
        _spec(
            "net.ipv4.tcp_fin_timeout",
            "int",
            1,
            300,
            "per_netns",
            "frees FIN_WAIT_2 sockets of vanished clients sooner (EMQX tune.md)",
        ),
        _spec(
            "net.ipv4.tcp_tw_reuse",
            "int",
            0,
            2,
            "per_netns",
            "lets outgoing connections reuse TIME_WAIT ports",
            sample="1",
        ),
        _spec(
            "net.ipv4.tcp_syncookies", "int", 0, 2, "per_netns", "SYN cookies when the SYN queue overflows", sample="1"
        ),
        _spec(
            "net.ipv4.tcp_keepalive_time",
            "int",
            1,
            32767,
            "per_netns",
            "idle seconds before TCP keepalive probes",
            sample="600",
        ),
        _spec(
            "net.ipv4.tcp_keepalive_intvl",
            "int",
            1,
            32767,
            "per_netns",
            "seconds between TCP keepalive probes",
            sample="30",
        ),
        _spec(
            "net.ipv4.tcp_keepalive_probes",
            "int",
            1,
            127,
            "per_netns",
            "unanswered keepalive probes before the connection is dropped",
            sample="5",
        ),
    )
}

# Keys refused with a specific reason rather than "unknown".
BAD_KEYS: Mapping[str, str] = {
    "net.ipv4.tcp_max_sync_backlog": (
        "does not exist in any Linux kernel (a typo for net.ipv4.tcp_max_syn_backlog that circulates in tuning "
        "scripts; sysctl -p reports it and applies the other lines, so the backlog was never raised); "
        "use net.ipv4.tcp_max_syn_backlog."
    ),
    "net.ipv4.tcp_tw_recycle": (
        "removed in Linux 4.12 (it dropped connections from clients behind NAT, which is most MQTT devices); remove it."
    ),
    "net.nf_conntrack_max": (
        "a legacy alias that exists only in the node's initial namespace; set net.netfilter.nf_conntrack_max."
    ),
    "net.core.optmem_max": (
        "its scope differs across supported kernels (init-namespace-only on 5.10, per network namespace on 6.x "
        "such as 6.18), so neither the node file nor a pod sysctl reaches EMQX on every node; not supported."
    ),
}

# Kubernetes' safe sysctls (pkg/kubelet/sysctl/safe_sysctls.go; docs "Using sysctls in a Kubernetes Cluster"):
# allowed in a pod without the kubelet allowlist from the given minor version on. Their kernel minimums (<= 4.15)
# are below the 5.10 floor this profile targets.
SAFE_SYSCTLS_SINCE: Mapping[str, tuple[int, int]] = {
    "kernel.shm_rmid_forced": (1, 0),
    "net.ipv4.ip_local_port_range": (1, 0),
    "net.ipv4.tcp_syncookies": (1, 0),
    "net.ipv4.ping_group_range": (1, 18),
    "net.ipv4.ip_unprivileged_port_start": (1, 22),
    "net.ipv4.ip_local_reserved_ports": (1, 27),
    "net.ipv4.tcp_keepalive_time": (1, 29),
    "net.ipv4.tcp_fin_timeout": (1, 29),
    "net.ipv4.tcp_keepalive_intvl": (1, 29),
    "net.ipv4.tcp_keepalive_probes": (1, 29),
    "net.ipv4.tcp_rmem": (1, 32),
    "net.ipv4.tcp_wmem": (1, 32),
}


@dataclass(frozen=True)
class Sysctl:
    key: str
    value: str
    scope: Scope
    why: str


@dataclass(frozen=True)
class TuningProfile:
    sysctls: tuple[Sysctl, ...]
    nofile: int
    swap_off: bool
    kubernetes_version: str

    @property
    def node_sysctls(self) -> tuple[Sysctl, ...]:
        return tuple(s for s in self.sysctls if s.scope == "node")

    @property
    def pod_sysctls(self) -> tuple[Sysctl, ...]:
        return tuple(s for s in self.sysctls if s.scope == "pod")

    def value_of(self, key: str) -> str | None:
        return next((s.value for s in self.sysctls if s.key == key), None)

    def pod_security_context_sysctls(self) -> list[dict[str, str]]:
        return [{"name": s.key, "value": s.value} for s in sorted(self.pod_sysctls, key=lambda s: s.key)]

    def kubelet_allowed_unsafe_sysctls(self) -> list[str]:
        safe = safe_sysctls(self.kubernetes_version)
        return sorted(s.key for s in self.pod_sysctls if s.key not in safe)

    @property
    def conntrack_max(self) -> int | None:
        """The node's conntrack limit. kube-proxy 1.29-1.35 sets nf_conntrack_max to max(maxPerCore x cores, min)
        whenever the value differs, lowering a larger one (README, Kernel tuning); the reconciler raises it back."""
        value = self.value_of("net.netfilter.nf_conntrack_max")
        return int(value) if value is not None else None

    @property
    def conntrack_hashsize(self) -> int | None:
        """Buckets of the conntrack hash table: conntrack_max / 4, the ratio kube-proxy itself keeps (it raises the
        hash size to max/4 when smaller), so an average chain holds 4 entries instead of growing with the table."""
        limit = self.conntrack_max
        return None if limit is None else max(1, limit // 4)


def parse_kubernetes_version(version: str) -> tuple[int, int]:
    match = re.fullmatch(r"v?([0-9]+)\.([0-9]+)(?:\.[0-9]+)?(?:[-+].*)?", version.strip())
    if match is None:
        raise ValueError(f"kubernetes version {version!r}: expected MAJOR.MINOR such as '1.31'")
    return int(match.group(1)), int(match.group(2))


def safe_sysctls(kubernetes_version: str) -> frozenset[str]:
    version = parse_kubernetes_version(kubernetes_version)
    return frozenset(k for k, since in SAFE_SYSCTLS_SINCE.items() if version >= since)


def canonical_key(key: str) -> str:
    # sysctl.d(5) and Kubernetes accept "/" as the separator too.
    return key.strip().replace("/", ".")


# --- values -------------------------------------------------------------------------------------------------------


def _parse_ints(text: str) -> list[int] | None:
    parts = text.split()
    if not parts or not all(re.fullmatch(r"[0-9]+", p) for p in parts):
        return None
    return [int(p) for p in parts]


def _parse_port_list(text: str) -> list[tuple[int, int]] | None:
    ranges: list[tuple[int, int]] = []
    for item in text.replace(" ", "").split(","):
        match = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", item)
        if match is None:
            return None
        low = int(match.group(1))
        high = int(match.group(2) or low)
        ranges.append((low, high))
    return ranges


def _check_value(spec: KeySpec, value: object) -> tuple[str | None, str | None]:
    """(kernel text form, None) when valid, else (None, reason)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None, f"must be an integer or a string, got {type(value).__name__}"
    text = str(value).strip()
    lo, hi = spec.minimum, spec.maximum
    if spec.kind == "int":
        ints = _parse_ints(text)
        if ints is None or len(ints) != 1:
            return None, f"must be one whole number, got {value!r}"
        if not lo <= ints[0] <= hi:
            return None, f"{ints[0]} is outside the allowed range {lo}..{hi}"
        return str(ints[0]), None
    if spec.kind == "int_triple":
        ints = _parse_ints(text)
        if ints is None or len(ints) != 3:
            return None, f"must be three whole numbers 'min default max', got {value!r}"
        if not all(lo <= n <= hi for n in ints):
            return None, f"each number must be within {lo}..{hi}, got {value!r}"
        if not ints[0] <= ints[1] <= ints[2]:
            return None, f"must satisfy min <= default <= max, got {value!r}"
        return " ".join(str(n) for n in ints), None
    if spec.kind == "port_range":
        ints = _parse_ints(text)
        if ints is None or len(ints) != 2:
            return None, f"must be two port numbers 'low high', got {value!r}"
        if not (lo <= ints[0] < ints[1] <= hi):
            # The kernel refuses a low bound under ip_unprivileged_port_start (1024 by default).
            return None, f"must satisfy {lo} <= low < high <= {hi}, got {value!r}"
        return f"{ints[0]} {ints[1]}", None
    ranges = _parse_port_list(text)
    if ranges is None:
        return None, f"must be a comma-separated list of ports or port ranges, got {value!r}"
    if not all(lo <= a <= b <= hi for a, b in ranges):
        return None, f"ports must be within {lo}..{hi} with ranges written low-high, got {value!r}"
    return format_port_list(p for a, b in ranges for p in range(a, b + 1)), None


def format_port_list(ports: Iterable[int]) -> str:
    """The kernel's own text form: sorted, consecutive ports merged into ranges (so it reads back unchanged)."""
    out: list[str] = []
    ordered = sorted(set(ports))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def validate_overrides(overrides: object, key: str = CONFIG_KEY) -> list[str]:
    """Error messages, one per problem, each starting with the full config key; [] when fine."""
    if overrides is None:
        return []
    if not isinstance(overrides, Mapping):
        return [f"{key}: must be a mapping of sysctl name to value, got {type(overrides).__name__}"]
    errors: list[str] = []
    seen: dict[str, str] = {}
    for raw_name, value in overrides.items():
        if not isinstance(raw_name, str):
            errors.append(f"{key}: sysctl names must be strings, got {raw_name!r}")
            continue
        where = f'{key}["{raw_name}"]'
        name = canonical_key(raw_name)
        if name in seen:
            errors.append(f'{where}: the same key as {key}["{seen[name]}"]; keep one.')
            continue
        seen[name] = raw_name
        if name in BAD_KEYS:
            errors.append(f"{where}: {BAD_KEYS[name]}")
            continue
        spec = CATALOGUE.get(name)
        if spec is None:
            errors.append(
                f"{where}: unknown: not a key this profile can classify as node-level or pod-level; "
                f"known keys: {', '.join(sorted(CATALOGUE))}."
            )
            continue
        _, reason = _check_value(spec, value)
        if reason is not None:
            errors.append(f"{where}: {reason}.")
    return errors


# --- the profile --------------------------------------------------------------------------------------------------


def _next_power_of_two(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def default_nofile(max_connections_per_node: int) -> int:
    """Open files for EMQX: at least EMQX's 2097152, else twice the connection target rounded up to a power of two.

    One socket per MQTT client, plus room for the reconnect storm in which old sockets linger while the same clients
    open new ones, plus EMQX's own files and cluster sockets; always above the node.max_ports the renderer sets.
    """
    return max(EMQX_MIN_NOFILE, _next_power_of_two(2 * max_connections_per_node))


def _recommended(max_connections_per_node: int, nofile: int, reserved_ports: Sequence[int]) -> dict[str, str]:
    return {
        "fs.nr_open": str(nofile),
        # fs.file-max is node-wide: EMQX may use nofile handles and everything else on the node needs its own.
        "fs.file-max": str(2 * nofile),
        "net.core.netdev_max_backlog": "16384",
        "net.core.rmem_default": "262144",
        "net.core.wmem_default": "262144",
        "net.core.rmem_max": "16777216",
        "net.core.wmem_max": "16777216",
        # Every MQTT connection is one conntrack entry on the node; closed ones linger for the time_wait timeout
        # while reconnecting clients add new ones, hence twice the target.
        "net.netfilter.nf_conntrack_max": str(max(EMQX_MIN_CONNTRACK, 2 * max_connections_per_node)),
        "net.netfilter.nf_conntrack_tcp_timeout_time_wait": "30",
        "net.core.somaxconn": "32768",
        "net.ipv4.tcp_max_syn_backlog": "16384",
        "net.ipv4.ip_local_port_range": "1024 65535",
        "net.ipv4.ip_local_reserved_ports": format_port_list(reserved_ports),
        "net.ipv4.tcp_rmem": "1024 4096 16777216",
        "net.ipv4.tcp_wmem": "1024 4096 16777216",
        # After a mass disconnect the pod may hold a TIME_WAIT socket per client it closed.
        "net.ipv4.tcp_max_tw_buckets": str(max(EMQX_MIN_TW_BUCKETS, max_connections_per_node)),
        "net.ipv4.tcp_fin_timeout": "15",
    }


def _consistency_errors(values: Mapping[str, str], nofile: int, key: str) -> list[str]:
    errors: list[str] = []

    def num(name: str) -> int | None:
        return int(values[name]) if name in values else None

    nr_open, file_max = num("fs.nr_open"), num("fs.file-max")
    if nr_open is not None and nr_open < nofile:
        errors.append(
            f'{key}["fs.nr_open"]: {nr_open} is below the open-file limit {nofile}; containerd and '
            "EMQX could not get that many files."
        )
    if file_max is not None and file_max < nofile:
        errors.append(f'{key}["fs.file-max"]: {file_max} is below the open-file limit {nofile}.')
    for kind in ("rmem", "wmem"):
        default, maximum = num(f"net.core.{kind}_default"), num(f"net.core.{kind}_max")
        if default is not None and maximum is not None and default > maximum:
            errors.append(f'{key}["net.core.{kind}_default"]: {default} is above net.core.{kind}_max {maximum}.')
    if "net.ipv4.ip_local_port_range" in values and "net.ipv4.ip_local_reserved_ports" in values:
        low, high = (int(p) for p in values["net.ipv4.ip_local_port_range"].split())
        reserved = {
            p for a, b in _parse_port_list(values["net.ipv4.ip_local_reserved_ports"]) or [] for p in range(a, b + 1)
        }
        if all(p in reserved for p in range(low, high + 1)):
            errors.append(f'{key}["net.ipv4.ip_local_reserved_ports"]: reserves the whole ephemeral port range.')
    return errors


def build_profile(
    *,
    max_connections_per_node: int,
    kubernetes_version: str,
    overrides: Mapping[str, int | str] | None = None,
    nofile: int | None = None,
    reserved_ports: Sequence[int] = EMQX_PORTS,
    swap_off: bool = True,
) -> TuningProfile:
    """EMQX recommendations scaled to the node's connection target; overrides (already validated) win.

    Raises ValueError (messages as validate_overrides writes them) when the overrides are invalid or contradict the
    open-file limit.
    """
    if max_connections_per_node < 1:
        raise ValueError(f"max_connections_per_node must be positive, got {max_connections_per_node}")
    parse_kubernetes_version(kubernetes_version)
    limit = default_nofile(max_connections_per_node) if nofile is None else nofile
    if not 1024 <= limit <= NR_OPEN_MAX:
        raise ValueError(f"nofile {limit} is outside 1024..{NR_OPEN_MAX} (the kernel's fs.nr_open ceiling)")
    errors = validate_overrides(overrides)
    if errors:
        raise ValueError("\n".join(errors))
    values = _recommended(max_connections_per_node, limit, reserved_ports)
    for raw_name, raw_value in (overrides or {}).items():
        name = canonical_key(raw_name)
        text, _ = _check_value(CATALOGUE[name], raw_value)
        assert text is not None  # validated above
        values[name] = text
    errors = _consistency_errors(values, limit, CONFIG_KEY)
    if errors:
        raise ValueError("\n".join(errors))
    sysctls = tuple(
        Sysctl(name, value, CATALOGUE[name].scope, CATALOGUE[name].why) for name, value in sorted(values.items())
    )
    return TuningProfile(sysctls=sysctls, nofile=limit, swap_off=swap_off, kubernetes_version=kubernetes_version)


# --- renderers ----------------------------------------------------------------------------------------------------

_SCRIPT_HEAD = """\
#!/bin/bash
# EMQX node tuning. Generated by components/tuning.py from the stack's tuning profile; do not edit by hand.
#
# Sets the node-level kernel keys (global, or writable only in the node's own network namespace, plus the conntrack
# timeouts, which act in the node's namespace where kube-proxy and the CNI track pod traffic), the conntrack hash
# size, the open-file limits and swap. The other per-namespace keys are NOT set here: they would never reach EMQX's
# pods, which get them from their securityContext.sysctls instead.
#
# Every key is written, then read back. A key that does not read back is logged at error priority to the journal
# (tag emqx-tuning) and stdout, the remaining keys are still applied, and the script exits non-zero, so the failure
# shows where the node's bootstrap is reported (ACK pre_user_data: node initialisation fails and the node does not
# join; the ACK reconciler DaemonSet: its init container fails; EKS cloud-config: cloud-init status turns to error)
# instead of a half-tuned node silently taking EMQX load.
#
# Files: everything is written under /etc, which read-only-root images (ContainerOS) keep writable. A file that
# cannot be written fails the node where the node would be wrong without it (the sysctl file that re-applies the
# keys at boot, containerd's open-file drop-in) and is logged as a warning where something else covers for it.
#
# Idempotent: every file is rewritten whole, limits are only ever raised, services restart only on change, so the
# reconciler can run it again on a running node.
# The body runs in a subshell so its shell options never leak into a script this one is embedded in.
(
set -euo pipefail

log() {
  local level=$1
  shift
  echo "emqx-tuning: ${level}: $*"
  logger -t emqx-tuning -p "user.${level}" -- "$*" 2>/dev/null || true
}

# Whitespace-insensitive: the kernel prints multi-value keys with tabs.
squash() {
  tr -s ' \\t' '  ' <<<"$1" | sed -e 's/^ //' -e 's/ $//'
}

failures=0

# put PATH required|optional [CONSEQUENCE] <content: writes stdin to PATH atomically. A required file that cannot be
# written counts as a failure; an optional one is logged as a warning naming what is lost.
put() {
  local path=$1 need=$2 consequence=${3:-} body tmp=""
  body=$(cat)
  if mkdir -p "$(dirname "$path")" 2>/dev/null && tmp=$(mktemp "$path.XXXXXX" 2>/dev/null) &&
    printf '%s\\n' "$body" >"$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" "$path"; then
    return 0
  fi
  if [ -n "$tmp" ]; then
    rm -f "$tmp" 2>/dev/null || true
  fi
  if [ "$need" = required ]; then
    log err "cannot write $path (read-only file system?)"
    failures=$((failures + 1))
  else
    log warning "cannot write $path (read-only file system?); $consequence"
  fi
  return 1
}
"""

_SCRIPT_SYSCTL = """
# net.netfilter.* keys exist only once the conntrack module is loaded; load it now and on every boot
# (systemd-modules-load runs before systemd-sysctl applies the file below).
if modprobe nf_conntrack; then
  put {modules_load} optional \\
    "systemd does not load nf_conntrack at boot; kube-proxy and the CNI load it, and the reconciler re-applies" \\
    <<<'nf_conntrack' || true
else
  log err "modprobe nf_conntrack failed; net.netfilter.* keys will not apply"
  failures=$((failures + 1))
fi

# Raise-only keys keep a larger value the OS already set. kube-proxy (1.29-1.35) later rewrites
# net.netfilter.nf_conntrack_max to its own max(maxPerCore x cores, min), lower on small nodes: the reconciler
# DaemonSet raises it back (README, Kernel tuning).
sysctls=$(
  echo "# EMQX node tuning, written by the node tuning script (components/tuning.py); rewritten on every run."
  while read -r key mode want; do
    [ -n "$key" ] || continue
    if [ "$mode" = raise ]; then
      current=$(sysctl -n "$key" 2>/dev/null || echo 0)
      if [ "$current" -gt "$want" ] 2>/dev/null; then
        want=$current
      fi
    fi
    echo "$key = $want"
  done <<'EMQX_SYSCTLS'
{table}
EMQX_SYSCTLS
)
# Without this file the keys are lost at the next reboot, and EMQX may start before anything re-applies them.
put {conf} required <<<"$sysctls" || true

# Apply key by key and read each one back: sysctl -p carries on past a bad line, and sysctl -w exits 0 even when the
# kernel refused the value, so only the value read back proves that a key landed.
while IFS='=' read -r key want; do
  key=$(squash "$key")
  want=$(squash "$want")
  case "$key" in '' | '#'*) continue ;; esac
  sysctl -q -w "$key=$want" >/dev/null 2>&1 || true
  got=$(squash "$(sysctl -n "$key" 2>/dev/null || echo '<missing>')")
  if [ "$got" = "$want" ]; then
    log info "$key = $want"
  else
    log err "$key: wanted '$want', kernel reports '$got'"
    failures=$((failures + 1))
  fi
done <<<"$sysctls"
"""

_SCRIPT_HASHSIZE = """
# The conntrack hash table: nf_conntrack_max / 4 buckets (kube-proxy's own ratio), so lookups stay short as the table
# fills. A module parameter: at every load (modprobe.d) and now (sysfs, writable only from the initial network
# namespace). Raise-only, like the limit.
put {modprobe} optional "the hash size is the kernel default after a reboot until the reconciler raises it" \\
  <<<'options nf_conntrack hashsize={hashsize}' || true
current=$(cat {hashsize_path} 2>/dev/null || echo 0)
if [ "$current" -lt {hashsize} ] 2>/dev/null; then
  {{ echo {hashsize} >{hashsize_path}; }} 2>/dev/null || true
fi
got=$(cat {hashsize_path} 2>/dev/null || echo '<missing>')
if [ "$got" -ge {hashsize} ] 2>/dev/null; then
  log info "nf_conntrack hashsize = $got"
else
  log err "nf_conntrack hashsize: wanted at least {hashsize}, kernel reports '$got'"
  failures=$((failures + 1))
fi
"""

_SCRIPT_LIMITS = """
# Open files for login sessions on the node ("*" does not cover root in pam_limits).
put {limits} optional "login sessions keep the default open-file limit (containers take theirs from containerd)" \\
  <<'EMQX_LIMITS' || true
*    soft nofile {nofile}
*    hard nofile {nofile}
root soft nofile {nofile}
root hard nofile {nofile}
EMQX_LIMITS
"""

_SCRIPT_CONTAINERD = """
# Containers inherit containerd's RLIMIT_NOFILE (containerd 2.0 dropped its own LimitNOFILE, leaving 1024:524288).
# Restarting containerd leaves running containers alone (their shims keep them); new containers get the new limit.
dropin={dropin}
new=$(printf '[Service]\\nLimitNOFILE={nofile}\\n')
if [ "$(cat "$dropin" 2>/dev/null || true)" != "$new" ]; then
  if put "$dropin" required <<<"$new"; then
    systemctl daemon-reload
    if systemctl is-active --quiet containerd; then
      systemctl restart containerd
    fi
  fi
fi
if [ "$(systemctl show -p LoadState --value containerd 2>/dev/null || true)" = loaded ]; then
  got=$(systemctl show -p LimitNOFILE --value containerd 2>/dev/null || true)
  if [ "$got" = {nofile} ]; then
    log info "containerd LimitNOFILE = $got"
  else
    log err "containerd LimitNOFILE: wanted {nofile}, systemd reports '$got'"
    failures=$((failures + 1))
  fi
else
  log info "containerd is not installed yet; $dropin applies when it starts"
fi
"""

_SCRIPT_SWAP = """
# EMQX's tuning guide: no swap (a swapping broker misses keepalives and drops clients in bulk).
swapoff -a || log warning "swapoff -a failed"
# An uncommented fstab line whose third field is "swap".
swap_line='^([^#[:space:]][^[:space:]]*[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]])'
if [ -f /etc/fstab ] && grep -Eq "$swap_line" /etc/fstab; then
  sed -i -E "s/$swap_line/# emqx-tuning: \\1/" /etc/fstab ||
    log warning "cannot edit /etc/fstab; swap comes back at the next boot until this script runs again"
fi
if [ "$(awk 'NR > 1' /proc/swaps | wc -l)" -ne 0 ]; then
  log err "swap is still active"
  failures=$((failures + 1))
fi
"""

_SCRIPT_TAIL = """
if [ "$failures" -ne 0 ]; then
  log err "$failures tuning step(s) failed; this node is not fit for EMQX"
  exit 1
fi
log info "node tuning applied"
)
emqx_tuning_status=$?
if [ "$emqx_tuning_status" -ne 0 ]; then
  exit "$emqx_tuning_status"
fi
"""


def _sysctl_table(profile: TuningProfile) -> str:
    rows: list[str] = []
    for s in sorted(profile.node_sysctls, key=lambda s: s.key):
        spec = CATALOGUE.get(s.key)
        mode = "raise" if spec is not None and spec.raise_only else "set"
        rows.append(f"{s.key} {mode} {s.value}")
    return "\n".join(rows)


def render_node_script(profile: TuningProfile, *, containerd_dropin: bool = True) -> str:
    """The node tuning script; ACK runs it as pre_user_data and from the reconciler, EKS from cloud-config."""
    parts = [
        _SCRIPT_HEAD,
        _SCRIPT_SYSCTL.format(
            modules_load=MODULES_LOAD_PATH,
            conf=SYSCTL_CONF_PATH,
            table=_sysctl_table(profile),
        ),
    ]
    if profile.conntrack_hashsize is not None:
        parts.append(_SCRIPT_HASHSIZE.format(modprobe=MODPROBE_CONNTRACK_PATH, hashsize=profile.conntrack_hashsize,
                                             hashsize_path=CONNTRACK_HASHSIZE_PATH))
    parts.append(_SCRIPT_LIMITS.format(limits=LIMITS_PATH, nofile=profile.nofile))
    if containerd_dropin:
        parts.append(_SCRIPT_CONTAINERD.format(dropin=CONTAINERD_DROPIN_PATH, nofile=profile.nofile))
    if profile.swap_off:
        parts.append(_SCRIPT_SWAP)
    parts.append(_SCRIPT_TAIL)
    return "".join(parts)


def render_ack_pre_user_data(profile: TuningProfile) -> str:
    """Bash script text for the ACK node pool's pre_user_data (the component base64-encodes it).

    ACK runs pre_user_data before its own initialisation, so the containerd drop-in is in place before containerd
    first starts pods, and a failure stops the node from joining. The same text is what the reconciler DaemonSet
    re-runs on running nodes (render_conntrack_keeper's docstring).
    """
    return render_node_script(profile, containerd_dropin=True)


_KEEPER = """\
#!/bin/bash
# EMQX conntrack keeper. Generated by components/tuning.py; runs on the node (the reconciler DaemonSet's main
# container, chrooted into the host, in the host's network namespace).
#
# kube-proxy 1.29-1.35 sets net.netfilter.nf_conntrack_max to max(maxPerCore x cores, min) whenever the current value
# differs (cmd/kube-proxy/app/conntrack.go: setIntSysCtl writes when val != value), so on a node with fewer cores
# than the profile assumes, every kube-proxy start lowers the limit the node script set. This loop raises the limit
# and the hash size back, never lowers either, and logs every correction (journal tag emqx-tuning).
set -u
log() {{
  local level=$1
  shift
  echo "emqx-tuning: ${{level}}: $*"
  logger -t emqx-tuning -p "user.${{level}}" -- "$*" 2>/dev/null || true
}}
max_file=/proc/sys/net/netfilter/nf_conntrack_max
hash_file={hashsize_path}

raise() {{
  local file=$1 want=$2 what=$3 current
  current=$(cat "$file" 2>/dev/null || echo 0)
  if [ "$current" -lt "$want" ] 2>/dev/null; then
    if {{ echo "$want" >"$file"; }} 2>/dev/null; then
      log warning "$what was $current (lowered since the node was tuned, e.g. by kube-proxy); raised to $want"
    else
      log err "$what is $current, below $want, and cannot be raised"
    fi
  fi
}}

keep() {{
  raise "$max_file" {conntrack_max} nf_conntrack_max
  raise "$hash_file" {hashsize} "nf_conntrack hashsize"
}}

# --- loop ---
while :; do
  keep
  sleep {interval}
done
"""


def render_conntrack_keeper(profile: TuningProfile) -> str | None:
    """The loop the reconciler DaemonSet keeps running on each tuned node, or None when the profile sets no limit.

    On ACK the node script reaches a node once, as pre_user_data, when the node is created. The reconciler (a
    DaemonSet on the tuned pools, components/alicloud/cluster.py) re-runs the same script on every running node when
    the profile changes (its pod template carries the script, so a new profile is a rolling update), then keeps
    this loop running against kube-proxy's rewrite of the conntrack limit.
    """
    limit, hashsize = profile.conntrack_max, profile.conntrack_hashsize
    if limit is None or hashsize is None:
        return None
    return _KEEPER.format(conntrack_max=limit, hashsize=hashsize, hashsize_path=CONNTRACK_HASHSIZE_PATH,
                          interval=CONNTRACK_RECHECK_SECONDS)


class _LiteralDumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_LiteralDumper.add_representer(str, _str_presenter)


# --- EKS (AL2023, nodeadm) ----------------------------------------------------------------------------------------
#
# Boot order on the EKS AL2023 AMI (awslabs/amazon-eks-ami, templates/al2023/runtime/rootfs/etc/systemd/system/):
# nodeadm-config.service runs before cloud-init; nodeadm-run.service (Type=oneshot, After=nodeadm-config.service
# cloud-final.service, no dependency on cloud-init's result) runs `nodeadm init --skip config`, which is the only
# thing that starts containerd and kubelet (nodeadm/cmd/nodeadm/init/init.go calls EnsureRunning on each daemon; the
# AMI enables only the nodeadm units, templates/al2023/provisioners/install-nodeadm.sh, never kubelet.service).
#
# Fail closed: cloud-init writes a drop-in that makes the tuning script an ExecStartPre= of nodeadm-run.service and
# reloads systemd in runcmd (cloud-final, which nodeadm-run is ordered after, so the reload lands before its start
# job runs). systemd.service(5): "If any of those commands (not prefixed with -) fail, the rest are not executed and
# the unit is considered failed". A failed read-back therefore leaves kubelet unstarted: the node never registers, the
# managed node group reports it (NodeCreationFailure) and no EMQX pod can land on a half-tuned node. A taint would
# need API credentials on the node to lift; this needs none. The drop-in stays in /etc, so every later boot tunes the
# node again before kubelet starts.
NODEADM_RUN_DROPIN_PATH = "/etc/systemd/system/nodeadm-run.service.d/50-emqx-tuning.conf"
# kube-proxy 1.29-1.35 lowers nf_conntrack_max to max(32768 x vCPU, 131072) when it starts (1.36 also caps it at
# 1,048,576), and the EKS kube-proxy add-on exposes no conntrack settings (aws/containers-roadmap #2318, #2385), so
# the same keeper loop the ACK reconciler runs is a systemd service on EKS nodes, started after nodeadm-run.
CONNTRACK_KEEPER_PATH = "/usr/local/sbin/emqx-conntrack-keeper.sh"
CONNTRACK_KEEPER_UNIT = "emqx-conntrack-keeper.service"
CONNTRACK_KEEPER_UNIT_PATH = f"/etc/systemd/system/{CONNTRACK_KEEPER_UNIT}"
# EC2 user data is limited to 16 KB in raw form, before base64 (AWSEC2 UserGuide, instancedata-add-user-data.html).
EC2_USER_DATA_LIMIT = 16 * 1024
# For an EKS-AMI managed node group EKS appends its own NodeConfig part (cluster name, endpoint, base64 CA bundle of
# ~1.5 KB, service CIDR, maxPods, node labels/taints flags: eksctl node-bootstrapping docs) to our user data, and the
# sum must stay under the EC2 limit; our document keeps this much free for it.
EKS_MNG_PART_ROOM = 4 * 1024
# EKS's NodeConfig is merged after ours and wins (nodeadm internal/api/merge.go, later parts override); these keys
# are EKS's to set, so ours never carries them.
EKS_OWNED_KUBELET_CONFIG_KEYS = frozenset({"maxPods", "clusterDNS"})

_NODEADM_RUN_DROPIN = f"""\
# Generated by components/tuning.py: nodeadm-run starts containerd and kubelet only if the EMQX node tuning applied
# and read back (a failed ExecStartPre= fails the unit, so the node never joins the cluster).
[Service]
ExecStartPre={NODE_SCRIPT_PATH}
"""

_KEEPER_UNIT = f"""\
# Generated by components/tuning.py: raises nf_conntrack_max back whenever kube-proxy lowers it.
[Unit]
Description=EMQX conntrack keeper
After=nodeadm-run.service

[Service]
ExecStart={CONNTRACK_KEEPER_PATH}
Restart=always
RestartSec=10

[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True)
class EksClusterDetails:
    """What nodeadm needs to join a cluster when EKS does not supply it (`spec.cluster`).

    An EKS-AMI managed node group gets these from EKS's own NodeConfig part. A launch template with a pinned AMI
    (`image_id`), a self-managed node or a custom Karpenter AMI gets no such part, and nodeadm refuses a config
    without all four ("Name is missing in cluster configuration": nodeadm internal/api/validation.go).
    """

    name: str
    api_server_endpoint: str
    certificate_authority: str  # base64 of the CA bundle, as DescribeCluster returns it
    service_cidr: str


def render_cloud_config(profile: TuningProfile, *, containerd_dropin: bool = False) -> str:
    """'#cloud-config' for EKS AL2023 nodes: writes the tuning script, makes nodeadm-run depend on it, adds the keeper.

    The script runs as an ExecStartPre= of nodeadm-run (see NODEADM_RUN_DROPIN_PATH), before containerd and kubelet
    start, and on every boot; the containers' open-file limit comes from the NodeConfig part, not a containerd
    drop-in. A failing run keeps kubelet from starting: look for it with `journalctl -t emqx-tuning` or
    `systemctl status nodeadm-run`.
    """
    files: list[dict[str, str]] = [
        {
            "path": NODE_SCRIPT_PATH,
            "owner": "root:root",
            "permissions": "0755",
            "content": render_node_script(profile, containerd_dropin=containerd_dropin),
        },
        {"path": NODEADM_RUN_DROPIN_PATH, "owner": "root:root", "permissions": "0644", "content": _NODEADM_RUN_DROPIN},
    ]
    runcmd: list[list[str]] = [["systemctl", "daemon-reload"]]
    keeper = render_conntrack_keeper(profile)
    if keeper is not None:
        files += [
            {"path": CONNTRACK_KEEPER_PATH, "owner": "root:root", "permissions": "0755", "content": keeper},
            {"path": CONNTRACK_KEEPER_UNIT_PATH, "owner": "root:root", "permissions": "0644", "content": _KEEPER_UNIT},
        ]
        # --no-block: the keeper is ordered after nodeadm-run, which waits for cloud-final, which runs this command.
        runcmd.append(["systemctl", "enable", "--now", "--no-block", CONNTRACK_KEEPER_UNIT])
    doc = {"write_files": files, "runcmd": runcmd}
    body = yaml.dump(doc, Dumper=_LiteralDumper, sort_keys=False, default_flow_style=False, width=120)
    return "#cloud-config\n" + body


def eks_node_config(profile: TuningProfile, *, cluster: EksClusterDetails | None = None) -> dict[str, object]:
    """The nodeadm NodeConfig part: the kubelet's unsafe-sysctl allowlist and the containers' open-file limit.

    Without `cluster` the part carries no `spec.cluster`: valid only for a managed node group on the EKS AMI, whose
    own NodeConfig (merged after this one) supplies it. Pass `cluster` when the launch template pins an AMI.
    Never sets maxPods or clusterDNS (EKS_OWNED_KUBELET_CONFIG_KEYS).
    """
    spec: dict[str, object] = {}
    if cluster is not None:
        spec["cluster"] = {
            "name": cluster.name,
            "apiServerEndpoint": cluster.api_server_endpoint,
            "certificateAuthority": cluster.certificate_authority,
            "cidr": cluster.service_cidr,
        }
    spec["kubelet"] = {"config": {"allowedUnsafeSysctls": profile.kubelet_allowed_unsafe_sysctls()}}
    spec["containerd"] = {
        "baseRuntimeSpec": {
            "process": {"rlimits": [{"type": "RLIMIT_NOFILE", "soft": profile.nofile, "hard": profile.nofile}]}
        }
    }
    return {"apiVersion": "node.eks.aws/v1alpha1", "kind": "NodeConfig", "spec": spec}


def render_eks_node_config(profile: TuningProfile, *, cluster: EksClusterDetails | None = None) -> str:
    return "---\n" + yaml.safe_dump(eks_node_config(profile, cluster=cluster), sort_keys=False,
                                    default_flow_style=False)


MIME_BOUNDARY = "==EMQX-TUNING-BOUNDARY=="


def render_eks_user_data(profile: TuningProfile, *, cluster: EksClusterDetails | None = None) -> str:
    """MIME multipart user data for an EKS node's launch template (AL2023, nodeadm); the component base64-encodes it.

    `cluster=None` for a managed node group on the EKS AMI (EKS appends its own part, so the document keeps
    EKS_MNG_PART_ROOM free); cluster details when the launch template pins an AMI (nothing is appended).
    Raises ValueError when the document would not fit.
    """
    parts = [
        ("application/node.eks.aws", render_eks_node_config(profile, cluster=cluster)),
        ('text/cloud-config; charset="us-ascii"', render_cloud_config(profile)),
    ]
    lines = ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{MIME_BOUNDARY}"', ""]
    for content_type, body in parts:
        if MIME_BOUNDARY in body:
            raise ValueError("MIME boundary occurs inside a part")
        lines += [f"--{MIME_BOUNDARY}", f"Content-Type: {content_type}", "", body.rstrip("\n"), ""]
    lines.append(f"--{MIME_BOUNDARY}--")
    text = "\n".join(lines) + "\n"
    budget = EC2_USER_DATA_LIMIT - (0 if cluster is not None else EKS_MNG_PART_ROOM)
    size = len(text.encode())
    if size > budget:
        raise ValueError(f"EKS user data is {size} bytes, over the {budget} bytes it may take of EC2's 16 KB limit")
    return text
