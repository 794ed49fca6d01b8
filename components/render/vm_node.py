"""Pure renderer for one EMQX node on a plain VM (ECS now, EC2 later): its cloud-init user data.

What the user data does on first boot, in order, failing the whole boot (cloud-init status: error, logged to the
journal under tag emqx-setup and to /var/log/cloud-init-output.log) at the first step that does not hold:
1. checks the instance really has the private IP its node name carries (node names are immutable and every other
   node's static seeds name it: DOCS deploy/cluster/create-cluster.md);
2. applies the WHOLE kernel profile node-level (on a VM EMQX runs in the initial network namespace, so per-namespace
   keys go to /etc/sysctl.d too) with the tuning script's read-back, open-file limits, swap off;
3. reads the node cookie, dashboard password, licence (and listener TLS key pair when TLS ends on the node) from
   where the secrets live, never from user data, which anyone with ECS read access or a shell on the instance reads;
4. downloads the pinned EMQX package and checks its SHA-256 before installing it;
5. writes /etc/emqx/emqx.conf (node name, role, static discovery, listeners, limits) and starts EMQX;
6. waits, bounded, until `emqx ctl cluster status --json` lists this node and enough seeds as running.

Package facts (EMQX v5.8.9 / e5.10.4): files `<name>-<version>-{el8,ubuntu22.04,ubuntu24.04}-{amd64,arm64}.{rpm,deb}`
on GitHub releases `v<version>` / `e<version>` (.github/workflows/release.yaml); the deb and rpm install
`emqx.service` (User=emqx, LimitNOFILE=1048576) and enable it without starting it (deploy/packages/deb/debian/postinst,
rpm/emqx.spec), read /etc/emqx/emqx.conf with EMQX_* environment overrides on top
(apps/emqx_conf/etc/emqx_conf.conf) and keep data in /var/lib/emqx (rebar.config.erl platform_data_dir).

Pure: no pulumi import.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import yaml

from components import tuning
from components.emqx_versions import Edition
from components.render import auth as auth_render
from components.render.emqx import (
    DASHBOARD_PASSWORD_ENV,
    DEFAULT_ACCEPTORS,
    DEFAULT_BACKLOG,
    LISTENERS,
    listener_lines,
    max_ports,
)
from components.tuning import TuningProfile

if TYPE_CHECKING:
    # Only for the annotation: the settings package imports renderers, so a runtime import here would be circular.
    from components.settings.auth import AuthSettings

VmOs = Literal["alinux3", "ubuntu22.04", "ubuntu24.04"]
Arch = Literal["amd64", "arm64"]
Role = Literal["core", "replicant"]
# Where TLS for 8883/8084 ends: at the load balancer (EMQX's ssl/wss listeners are off; the LB's TLS listeners
# forward to 1883/8083) or on EMQX with a key pair delivered like the other secrets.
TlsTermination = Literal["load_balancer", "node"]

# Alibaba Cloud Linux 3 is not on EMQX's OS list; it is el8 lineage (kernel 5.10 al8, glibc 2.32, systemd 239), so the
# el8 rpm is used (VM.md section 2: unverified on a real instance, README Known limits).
PACKAGE_SYSTEM: Mapping[str, tuple[str, str]] = {
    "alinux3": ("el8", "rpm"),
    "ubuntu22.04": ("ubuntu22.04", "deb"),
    "ubuntu24.04": ("ubuntu24.04", "deb"),
}
GITHUB_RELEASES = "https://github.com/emqx/emqx/releases/download"

# Erlang distribution and gen_rpc between nodes: rpc.port_discovery defaults to stateless, so gen_rpc listens on 5370
# on a VM (DOCS deploy/install.md "Port Usage"; the Docker entrypoint's 5369 does not apply). Both must stay out of
# the ephemeral range: a VM profile is built with build_profile(reserved_ports=VM_EMQX_PORTS).
VM_EMQX_PORTS: tuple[int, ...] = tuple(sorted({*tuning.EMQX_PORTS, 5370}))

SETUP_PATH = "/usr/local/sbin/emqx-node-setup.sh"
WAIT_PATH = "/usr/local/sbin/emqx-wait-joined.sh"
STAGE_DIR = "/etc/emqx-platform"
STAGED_CONF = f"{STAGE_DIR}/emqx.conf"
SECRETS_ENV = f"{STAGE_DIR}/secrets.env"
LICENSE_PATH = f"{STAGE_DIR}/license.key"
TLS_DIR = f"{STAGE_DIR}/tls"
# The MQTT client auth files at node paths (render/auth.py mounts them into pods on Kubernetes).
AUTH_DIR = f"{STAGE_DIR}/auth"
USERS_PATH = f"{AUTH_DIR}/{auth_render.USERS_FILE}"
ACL_DIR = f"{STAGE_DIR}/acl"
APPLIED_MARKER = f"{STAGE_DIR}/applied"
EMQX_CONF = "/etc/emqx/emqx.conf"
DATA_DIR = "/var/lib/emqx"
DROPIN_PATH = "/etc/systemd/system/emqx.service.d/10-emqx-platform.conf"
COOKIE_ENV = "EMQX_NODE__COOKIE"
# ECS instance metadata, asked in security hardening mode (a session token first), which also works in normal mode
# and keeps working when the instance enforces tokens (alibabacloud.com "Instance metadata", doc-detail/150575).
METADATA = "http://100.100.100.200/latest"
# Cloud-init top-level keys this renderer may emit; the schema does not flag unknown ones, the tests do.
TOP_LEVEL_KEYS = frozenset({"write_files", "runcmd"})
# ECS: "the pre-encoding user data cannot exceed 16 KB" (alibabacloud.com doc-detail/49121); EC2 has the same limit.
USER_DATA_LIMIT = 16 * 1024
# Cloud Assistant: CommandContent "must be Base64-encoded. Maximum size: 18 KB" (ROS ALIYUN::ECS::Command; ECS API
# CreateCommand).
COMMAND_LIMIT = 18 * 1024

_NODE_NAME = re.compile(r"emqx@([0-9]{1,3}(?:\.[0-9]{1,3}){3})")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_VERSION = re.compile(r"([0-9]{1,4})\.([0-9]{1,4})\.([0-9]{1,4})")
# OOS parameter names: letters, digits, '-', '_', '/' for paths (OOS CreateSecretParameter), no shell metacharacters.
_PARAMETER = re.compile(r"[A-Za-z0-9_/.-]{1,180}")
_ROLE_NAME = re.compile(r"[A-Za-z0-9.-]{1,64}")
_REGION = re.compile(r"[a-z0-9-]{2,40}")


@dataclass(frozen=True)
class EmqxPackage:
    """The pinned package: name and release tag follow from the edition (`emqx` for open source 5.8.x, the last
    Apache-2.0 line; `emqx-enterprise` for Enterprise, the only name 5.9+ ships under)."""

    edition: Edition
    version: str
    # "<os>-<arch>" (e.g. "ubuntu22.04-amd64", "alinux3-amd64") -> lowercase hex SHA-256 of the file.
    sha256: Mapping[str, str]
    # A mirror holding the same file names (e.g. an OSS bucket in the stack's region); None = GitHub releases.
    mirror_base_url: str | None = None

    @property
    def name(self) -> str:
        return "emqx-enterprise" if self.edition == "enterprise" else "emqx"

    @property
    def tag(self) -> str:
        return ("e" if self.edition == "enterprise" else "v") + self.version


@dataclass(frozen=True)
class AliyunCli:
    """The Alibaba Cloud CLI release the node installs to read its secrets: pinned and checksummed like EMQX."""

    url: str  # a .tgz holding the `aliyun` binary, e.g. https://aliyuncli.alicdn.com/aliyun-cli-linux-<v>-amd64.tgz
    sha256: str


@dataclass(frozen=True)
class OosSecretSource:
    """KMS-encrypted OOS secret parameters read with the instance's RAM role: `aliyun oos GetSecretParameter
    --Name N --WithDecryption true` (OOS API GetSecretParameter: Name, WithDecryption; the value is
    .Parameter.Value) with the CLI's `--mode EcsRamRole --ram-role-name R --region G` flags (aliyun-cli
    config/flags.go), so no key is stored on the node and the role's policy can name exactly these parameters."""

    region: str
    ram_role_name: str
    cli: AliyunCli


@dataclass(frozen=True)
class SecretNames:
    """Names of the secret parameters the node reads at boot; the values never reach this renderer."""

    cookie: str
    dashboard_password: str
    license: str | None = None  # Enterprise only
    tls_cert: str | None = None  # PEM chain; needed when TLS ends on the node
    tls_key: str | None = None
    # The built-in database's bootstrap file (render/auth.py bootstrap_users: hashed, JSON), when the stack has users.
    mqtt_users: str | None = None


@dataclass(frozen=True)
class VmListeners:
    max_connections_per_node: int
    acceptors: int = DEFAULT_ACCEPTORS
    listen_backlog: int = DEFAULT_BACKLOG
    max_conn_rate: int = 0  # per listener and node per second; 0 = EMQX's default
    tls: TlsTermination = "load_balancer"
    # The load balancer sends PROXY protocol headers (NLB proxy_protocol_enabled); EMQX must then expect them
    # (DOCS deploy/cluster/lb.md), or every connection fails.
    proxy_protocol: bool = False
    # The MQTT ports the load balancer forwards (LoadBalancerSettings.served_ports); a listener on any other port is
    # switched off, so nothing on the node answers where the load balancer and the security group do not lead.
    served_ports: tuple[int, ...] = tuple(p for _, _, p in LISTENERS)

    @property
    def node_tls(self) -> bool:
        """EMQX itself serves a TLS listener, so the node needs the key pair."""
        return self.tls == "node" and any(p in self.served_ports for k, _, p in LISTENERS if k in ("ssl", "wss"))


@dataclass(frozen=True)
class VmNodeSpec:
    """Everything one node's user data depends on; two nodes differ only in node_name (and role)."""

    node_name: str  # emqx@<fixed private IPv4>
    role: Role
    core_seeds: tuple[str, ...]  # node names of every core, this node included when it is a core
    package: EmqxPackage
    os: VmOs
    arch: Arch
    tuning: TuningProfile  # built with reserved_ports=VM_EMQX_PORTS
    listeners: VmListeners
    secrets: SecretNames
    secret_source: OosSecretSource
    cluster_name: str = "emqxcl"
    # Bounded wait for the join; the boot fails after it.
    join_timeout_seconds: int = 900
    join_poll_seconds: int = 5
    # The size of the node's data disk (cores: vm_nodes gives each one), formatted once and mounted at DATA_DIR
    # before the package is installed, so the core's state (Mria/Mnesia under node.data_dir) lives on it and not on
    # the system disk. None: no data disk, DATA_DIR stays on the system disk (replicants are stateless).
    data_disk_gib: int | None = None
    extra_hocon: tuple[str, ...] = field(default=())  # further emqx.conf lines (already HOCON), appended last
    # MQTT client authentication and authorization, as on Kubernetes (render/auth.py). The default is the settings'
    # default: the built-in database (empty unless secrets.mqtt_users bootstraps it) and deny what no rule allows,
    # so a node never admits anonymous clients unless the stack says so.
    auth: AuthSettings = field(default_factory=lambda: _default_auth())

    @property
    def private_ip(self) -> str:
        match = _NODE_NAME.fullmatch(self.node_name)
        if match is None:
            raise ValueError(f"node name {self.node_name!r}: expected emqx@<IPv4>")
        return match.group(1)


def _default_auth() -> AuthSettings:
    from components.settings.auth import AuthSettings

    return AuthSettings()


# --- checks -------------------------------------------------------------------------------------------------------


def _parts(version: str) -> tuple[int, int, int]:
    match = _VERSION.fullmatch(version)
    if match is None:
        raise ValueError(f"EMQX version {version!r}: expected MAJOR.MINOR.PATCH")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def validate(spec: VmNodeSpec) -> list[str]:
    """Every problem with the spec, one message each; [] when it renders."""
    errors: list[str] = []
    for name in (spec.node_name, *spec.core_seeds):
        if _NODE_NAME.fullmatch(name) is None or not all(0 <= int(o) <= 255 for o in name[5:].split(".")):
            errors.append(f"node name {name!r}: expected emqx@<IPv4> (static seeds need name@IP)")
    if not spec.core_seeds:
        errors.append("core_seeds: at least one core is needed")
    if len(set(spec.core_seeds)) != len(spec.core_seeds):
        errors.append("core_seeds: listed twice")
    if spec.role == "core" and spec.node_name not in spec.core_seeds:
        errors.append(f"{spec.node_name}: a core must be one of the core seeds")
    if spec.role == "replicant" and spec.node_name in spec.core_seeds:
        errors.append(f"{spec.node_name}: a replicant cannot be a core seed")
    try:
        version = _parts(spec.package.version)
    except ValueError as e:
        errors.append(str(e))
        version = (0, 0, 0)
    if spec.package.edition == "opensource" and version >= (5, 9, 0):
        errors.append(f"EMQX {spec.package.version}: from 5.9.0 EMQX ships only as emqx-enterprise")
    if version < (5, 8, 0):
        errors.append(f"EMQX {spec.package.version}: VM mode supports 5.8.0 and later")
    # emqx_conf_schema.erl validate_node_role: "only allowed in Enterprise edition since 5.8.0".
    if spec.role == "replicant" and spec.package.edition != "enterprise":
        errors.append("replicant nodes need EMQX Enterprise (open source refuses node.role = replicant since 5.8.0)")
    key = f"{spec.os}-{spec.arch}"
    sha = spec.package.sha256.get(key)
    if sha is None or _SHA256.fullmatch(sha) is None:
        errors.append(f"package sha256[{key!r}]: a lowercase hex SHA-256 of {package_file(spec)} is required")
    if _SHA256.fullmatch(spec.secret_source.cli.sha256) is None:
        errors.append("aliyun CLI sha256: a lowercase hex SHA-256 is required")
    for url in (spec.package.mirror_base_url, spec.secret_source.cli.url):
        if url is not None and not re.fullmatch(r"https://[A-Za-z0-9._~:/%+-]+", url):
            errors.append(f"{url!r}: an https URL without shell or YAML metacharacters is required")
    names = [spec.secrets.cookie, spec.secrets.dashboard_password, spec.secrets.license, spec.secrets.tls_cert,
             spec.secrets.tls_key, spec.secrets.mqtt_users]
    for name in names:
        if name is not None and _PARAMETER.fullmatch(name) is None:
            errors.append(f"secret parameter name {name!r}: letters, digits, '-', '_', '.', '/' only")
    if spec.listeners.node_tls and (spec.secrets.tls_cert is None or spec.secrets.tls_key is None):
        errors.append("TLS on the node needs the tls_cert and tls_key secret parameters")
    if spec.secrets.license is not None and spec.package.edition != "enterprise":
        errors.append("a licence applies to EMQX Enterprise only")
    if spec.secrets.mqtt_users is not None and not spec.auth.built_in_database:
        errors.append("MQTT users need the built-in database authenticator (emqx.auth.builtInDatabase)")
    if spec.auth.x509 is not None:
        # On Kubernetes the client CA is a Secret mounted into the pods; nothing delivers one to a VM yet, and
        # verify_peer without a cacertfile would trust the package's bundled example CA.
        errors.append("emqx.auth.x509: client certificate authentication is not available on VMs yet")
    if _ROLE_NAME.fullmatch(spec.secret_source.ram_role_name) is None:
        errors.append(f"RAM role name {spec.secret_source.ram_role_name!r} is not valid")
    if _REGION.fullmatch(spec.secret_source.region) is None:
        errors.append(f"region {spec.secret_source.region!r} is not valid")
    reserved = spec.tuning.value_of("net.ipv4.ip_local_reserved_ports") or ""
    missing = [p for p in VM_EMQX_PORTS if not _port_reserved(reserved, p)]
    if missing:
        errors.append(f"tuning profile: ip_local_reserved_ports misses {missing}; build it with VM_EMQX_PORTS")
    if not 60 <= spec.join_timeout_seconds <= 3600 or not 1 <= spec.join_poll_seconds <= 60:
        errors.append("join wait: timeout 60..3600 s, poll 1..60 s")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", spec.cluster_name):
        errors.append(f"cluster name {spec.cluster_name!r}: letters, digits, '-', '_'")
    # A cloud_essd data disk takes 20 to 32768 GiB (pulumi-alicloud ecs.InstanceDataDiskArgs `size`).
    if spec.data_disk_gib is not None and not 20 <= spec.data_disk_gib <= 32768:
        errors.append(f"data disk {spec.data_disk_gib} GiB: 20 to 32768 GiB")
    return errors


def _port_reserved(reserved: str, port: int) -> bool:
    for item in filter(None, reserved.split(",")):
        low, _, high = item.partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False


# --- pieces -------------------------------------------------------------------------------------------------------


def package_file(spec: VmNodeSpec) -> str:
    system, ext = PACKAGE_SYSTEM[spec.os]
    return f"{spec.package.name}-{spec.package.version}-{system}-{spec.arch}.{ext}"


def package_url(spec: VmNodeSpec) -> str:
    base = spec.package.mirror_base_url or f"{GITHUB_RELEASES}/{spec.package.tag}"
    return f"{base.rstrip('/')}/{package_file(spec)}"


def vm_profile(profile: TuningProfile) -> TuningProfile:
    """The profile with every key at node level: a VM has no pod namespace, EMQX runs in the initial one."""
    return dataclasses.replace(profile, sysctls=tuple(dataclasses.replace(s, scope="node") for s in profile.sysctls))


_HEREDOC = re.compile(r"<<-?'?([A-Za-z_][A-Za-z0-9_]*)'?")


def strip_comments(script: str, note: str) -> str:
    """The script without its full-line comments (heredoc bodies kept), `note` after the shebang. The Kubernetes
    node script explains itself at length for pods; on a VM its comments would only cost user-data bytes (16 KB)."""
    lines = script.splitlines()
    out = [lines[0], f"# {note}"]
    end: str | None = None
    for line in lines[1:]:
        if end is not None:
            out.append(line)
            if line.strip() == end:
                end = None
            continue
        if line.lstrip().startswith("#") or not line.strip():
            continue
        out.append(line)
        if "<<<" not in line and (match := _HEREDOC.search(line)) is not None:
            end = match.group(1)
    return "\n".join(out) + "\n"


def tuning_script(profile: TuningProfile) -> str:
    """components/tuning.py's node script over the whole profile (vm_profile), without the containerd drop-in."""
    return strip_comments(
        tuning.render_node_script(vm_profile(profile), containerd_dropin=False),
        "EMQX node tuning from components/tuning.py: every key of the profile at node level (a VM has no pod "
        "namespace); each key is read back and any failure exits non-zero.",
    )


def quorum(spec: VmNodeSpec) -> int:
    """Seeds that must be running with this node before the boot counts as joined: a majority of the cores
    (a core counts itself), so a core that formed a cluster on its own, split from the others, fails the boot."""
    return len(spec.core_seeds) // 2 + 1


def vm_hocon(spec: VmNodeSpec) -> str:
    """/etc/emqx/emqx.conf for one node. Same listener keys and limits as on Kubernetes (render/emqx.py
    listener_lines); on top, the boot-only keys the operator sets there (node name, role, static discovery:
    emqx_conf_schema.erl, all readOnly). The cookie, dashboard password and licence key are not in it: the cookie
    and password come from the systemd EnvironmentFile (EMQX_* overrides emqx.conf), the licence from a
    root-delivered file."""
    seeds = ", ".join(json.dumps(s) for s in spec.core_seeds)
    lines = [
        "# Rendered by emqx-platform for this node; edit the stack, not this file.",
        f"node.name = {json.dumps(spec.node_name)}",
        f"node.role = {spec.role}",
        f'node.data_dir = "{DATA_DIR}"',
        f"node.max_ports = {max_ports(spec.listeners.max_connections_per_node)}",
        f"cluster.name = {spec.cluster_name}",
        "cluster.discovery_strategy = static",
        f"cluster.static.seeds = [{seeds}]",
    ]
    ls = spec.listeners
    for kind, _, port in LISTENERS:
        prefix = f"listeners.{kind}.default"
        if (kind in ("ssl", "wss") and ls.tls == "load_balancer") or port not in ls.served_ports:
            lines.append(f"{prefix}.enable = false")
            continue
        lines += listener_lines(kind, port, acceptors=ls.acceptors, max_connections=ls.max_connections_per_node,
                                max_conn_rate=ls.max_conn_rate, listen_backlog=ls.listen_backlog)
        if ls.proxy_protocol:
            lines.append(f"{prefix}.proxy_protocol = true")
        if kind in ("ssl", "wss"):
            lines.append(f'{prefix}.ssl_options.certfile = "{TLS_DIR}/tls.crt"')
            lines.append(f'{prefix}.ssl_options.keyfile = "{TLS_DIR}/tls.key"')
    if spec.secrets.license is not None:
        # Enterprise 5.4+ re-reads a file:// licence every 2 minutes (render/emqx.py LICENSE_MOUNT note).
        lines.append(f'license.key = "file://{LICENSE_PATH}"')
    lines += auth_hocon(spec)
    lines += spec.extra_hocon
    return "\n".join(lines) + "\n"


def auth_hocon(spec: VmNodeSpec) -> list[str]:
    """The same authentication chain and authorization sources as on Kubernetes (render/auth.py hocon_lines), with
    the bootstrap users file and the ACL file at their node paths. Written out even when empty (`authentication =
    []`, `authorization.sources = []`): left out, the package's emqx.conf defaults would decide (an empty chain
    admits every client; the default file source ends with allow-all)."""
    inputs = auth_render.AuthInputs(settings=spec.auth, users_secret=spec.secrets.mqtt_users,
                                    acl_config_map="")
    lines = [line.replace(auth_render.AUTH_MOUNT, AUTH_DIR).replace(auth_render.ACL_MOUNT, ACL_DIR)
             for line in auth_render.hocon_lines(inputs)]
    # Every file the chain names must be one this node has; a pod path left over would point at nothing.
    leftover = [line for line in lines if "/opt/emqx" in line]
    if leftover:
        raise ValueError(f"auth lines name a Kubernetes mount path: {leftover}")
    return lines


def acl_node_file(spec: VmNodeSpec) -> NodeFile | None:
    """The file ACL, named by its content as on Kubernetes (render/auth.py acl_file_name), world-readable: EMQX
    (User=emqx) reads it, and it holds rules, not secrets."""
    rules = spec.auth.acl_rules
    if not rules:
        return None
    return NodeFile(f"{ACL_DIR}/{auth_render.acl_file_name(rules)}", "0644", auth_render.acl_file(rules))


def systemd_dropin(spec: VmNodeSpec) -> str:
    """emqx.service drop-in: the profile's open-file limit (the shipped unit has 1048576, deploy/packages/
    emqx.service) and the root-only environment file with the cookie and dashboard password. No '-' before the
    path: without the secrets the unit must fail, not start with the package's default cookie. With a data disk,
    the unit also needs its mount (systemd.unit RequiresMountsFor=): after a reboot in which the disk did not
    mount (fstab `nofail`), a core must not start on an empty /var/lib/emqx of the system disk."""
    unit = f"[Unit]\nRequiresMountsFor={DATA_DIR}\n\n" if spec.data_disk_gib is not None else ""
    return f"{unit}[Service]\nLimitNOFILE={spec.tuning.nofile}\nEnvironmentFile={SECRETS_ENV}\n"


# The data disk: ECS names it vdb on virtio and nvme1n1 on NVMe instance families, so it is found by what it is,
# not by name: the one whole disk of the data disk's exact size (GiB, as created) with no partition and not
# mounted (the system disk of a public image is partitioned). A disk with any signature (blkid -p: exit 0) is never
# formatted, so a re-run or a reboot keeps the data. fstab by UUID with `nofail` (a missing disk must not stop
# the boot in emergency mode; the unit's RequiresMountsFor keeps EMQX down instead).
_DATA_DISK = """
mount_data_disk() {{
  local want=$1 dev="" name size type uuid
  if mountpoint -q {data_dir}; then
    return 0
  fi
  while read -r name size type; do
    if [ "$type" = disk ] && [ "$size" = "$want" ] && [ "$(lsblk -nro NAME "$name" | wc -l)" = 1 ] &&
      ! findmnt -rn -S "$name" >/dev/null; then
      [ -z "$dev" ] || die "more than one blank disk of $want bytes could be the data disk: $dev $name"
      dev=$name
    fi
  done < <(lsblk -dnbpo NAME,SIZE,TYPE)
  [ -n "$dev" ] || die "no unpartitioned, unmounted data disk of $want bytes for {data_dir}"
  if ! blkid -p "$dev" >/dev/null 2>&1; then
    mkfs.ext4 -q -L emqx-data "$dev" || die "cannot format the data disk $dev"
  fi
  uuid=$(blkid -s UUID -o value "$dev" || true)
  [ -n "$uuid" ] || die "the data disk $dev has no file system UUID (not ext4?)"
  mkdir -p {data_dir}
  grep -q "^UUID=$uuid " /etc/fstab || echo "UUID=$uuid {data_dir} ext4 defaults,nofail 0 2" >>/etc/fstab
  mount {data_dir} || die "cannot mount the data disk $dev on {data_dir}"
  log info "data disk $dev mounted on {data_dir}"
}}
"""


def secret_fetch_function(source: OosSecretSource) -> str:
    """Bash: `install_secret_tool` and `fetch_secret NAME FILE` (writes the value to FILE, mode 0600). The only
    place that knows where secrets live; Cloud Assistant or another store replaces just this function."""
    q = shlex.quote
    return f"""
install_secret_tool() {{
  fetch {q(source.cli.url)} {q(source.cli.sha256)} "$work/aliyun-cli.tgz"
  tar -xzf "$work/aliyun-cli.tgz" -C "$work" aliyun || die "the aliyun CLI archive has no aliyun binary"
  install -D -m 0755 "$work/aliyun" /usr/local/bin/aliyun || die "cannot install the aliyun CLI"
}}

fetch_secret() {{
  local name=$1 dest=$2 try
  for try in 1 2 3 4 5 6; do
    if aliyun oos GetSecretParameter --Name "$name" --WithDecryption true --mode EcsRamRole \\
      --ram-role-name {q(source.ram_role_name)} --region {q(source.region)} >"$work/secret.json" &&
      python3 -c 'import json,sys; sys.stdout.write(json.load(sys.stdin)["Parameter"]["Value"])' \\
        <"$work/secret.json" >"$dest" && [ -s "$dest" ]; then
      rm -f "$work/secret.json"
      return 0
    fi
    log warning "secret parameter $name: attempt $try failed"
    sleep $((try * 5))
  done
  rm -f "$work/secret.json"
  die "cannot read secret parameter $name with RAM role {source.ram_role_name}"
}}
"""


# --- the scripts --------------------------------------------------------------------------------------------------

_WAIT = """\
#!/bin/bash
# Waits until `emqx ctl cluster status --json` lists this node and at least NEED of the seeds as running
# (apps/emqx_management/src/emqx_mgmt_cli.erl, v5.8.9 and e5.10.4: {"running_nodes": [...], "stopped_nodes": [...]}).
# Usage: emqx-wait-joined.sh TIMEOUT_S POLL_S NEED SELF SEED...; exit 0 once joined, 1 at the timeout.
set -euo pipefail
timeout=$1 poll=$2 need=$3 self=$4
shift 4
deadline=$((SECONDS + timeout))
while :; do
  status=$(emqx ctl cluster status --json 2>/dev/null || true)
  if running=$(python3 -c '
import json, sys
nodes = set(json.loads(sys.argv[1]).get("running_nodes", []))
print(len(nodes & set(sys.argv[3:])) if sys.argv[2] in nodes else -1)
' "$status" "$self" "$@" 2>/dev/null) && [ "$running" -ge "$need" ]; then
    echo "emqx-setup: info: $self joined; $running of $# seeds running"
    exit 0
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "emqx-setup: err: $self not joined after ${timeout}s (need $need of $# seeds); last status: ${status:-none}"
    exit 1
  fi
  sleep "$poll"
done
"""

_SETUP = """\
#!/bin/bash
# EMQX node setup, run once by cloud-init (runcmd). Generated by components/render/vm_node.py.
set -euo pipefail
umask 077
export HOME=${{HOME:-/root}}
log() {{
  local level=$1
  shift
  echo "emqx-setup: $level: $*"
  logger -t emqx-setup -p "user.$level" -- "$*" 2>/dev/null || true
}}
die() {{
  log err "$*"
  exit 1
}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fetch URL SHA256 FILE: downloads and refuses the file unless its SHA-256 matches.
fetch() {{
  curl -fsSL --retry 5 --retry-delay 5 --connect-timeout 15 -o "$3" "$1" || die "download failed: $1"
  echo "$2  $3" | sha256sum -c --status - || die "SHA-256 mismatch for $1 (want $2); not installing"
}}
{fetch_function}
token=$(curl -fsS -X PUT --retry 5 --connect-timeout 5 -H 'X-aliyun-ecs-metadata-token-ttl-seconds: 300' \\
  {metadata}/api/token) || die "cannot get a metadata token"
ip=$(curl -fsS --retry 5 --connect-timeout 5 -H "X-aliyun-ecs-metadata-token: $token" \\
  {metadata}/meta-data/private-ipv4) || die "cannot read the private IP from the metadata"
[ "$ip" = {ip} ] || die "this instance has private IP $ip, but its node name is {node}"

{tuning} || die "kernel tuning failed (journal tag emqx-tuning)"
{data_disk}
install_secret_tool
mkdir -p {tls_dir}
fetch_secret {cookie_param} "$work/cookie"
fetch_secret {password_param} "$work/password"
for f in "$work/cookie" "$work/password"; do
  # One plain token, so systemd's EnvironmentFile and EMQX's HOCON reading of EMQX_* values keep it verbatim (a
  # bare number would become an integer, '=' or a quote would change the parse).
  v=$(cat "$f")
  [[ $v =~ ^[A-Za-z0-9._-]+$ && $v =~ [A-Za-z] ]] || die "secret in $f: letters, digits, '.', '_', '-' only"
done
{{
  printf '{cookie_env}=%s\\n' "$(cat "$work/cookie")"
  printf '{password_env}=%s\\n' "$(cat "$work/password")"
}} >{secrets_env}
chmod 0600 {secrets_env}
{fetch_optional}
fetch {url} {sha} "$work/{file}"
{install} || die "installing {file} failed"
installed=$({installed_version} 2>/dev/null || true)
[ "$installed" = {version} ] || die "{name} ${{installed:-not installed}} is installed, not {version} ({file})"
id emqx >/dev/null || die "the package did not create the emqx user"
{chown_optional}
install -m 0644 {staged} {conf}
systemctl daemon-reload
want={nofile}
[ "$(systemctl show -p LimitNOFILE --value emqx)" = "$want" ] || die "emqx.service LimitNOFILE is not $want"
systemctl enable emqx
systemctl restart emqx
{wait} {timeout} {poll} {need} {node} {seeds} || {{
  journalctl -u emqx --no-pager -n 50 || true
  die "EMQX did not join the cluster"
}}
log info "{node} is up and joined"
"""


def _setup_script(spec: VmNodeSpec) -> str:
    q = shlex.quote
    optional_fetch: list[str] = []
    optional_chown: list[str] = []
    if spec.secrets.license is not None:
        optional_fetch.append(f"fetch_secret {q(spec.secrets.license)} {LICENSE_PATH}")
        optional_chown.append(f"chown emqx:emqx {LICENSE_PATH}")
    if spec.secrets.mqtt_users is not None:
        optional_fetch.append(f"mkdir -p {AUTH_DIR}")
        optional_fetch.append(f"fetch_secret {q(spec.secrets.mqtt_users)} {USERS_PATH}")
        optional_chown.append(f"chmod 0711 {AUTH_DIR}")
        optional_chown.append(f"chown emqx:emqx {USERS_PATH}")
    if spec.listeners.node_tls:
        assert spec.secrets.tls_cert is not None and spec.secrets.tls_key is not None  # validate()
        optional_fetch.append(f"fetch_secret {q(spec.secrets.tls_cert)} {TLS_DIR}/tls.crt")
        optional_fetch.append(f"fetch_secret {q(spec.secrets.tls_key)} {TLS_DIR}/tls.key")
        optional_chown.append(f"chown emqx:emqx {TLS_DIR}/tls.crt {TLS_DIR}/tls.key")
    if optional_chown:
        # The secrets' directory is root's; EMQX (User=emqx) may enter it to read only its own files.
        optional_chown.insert(0, f"chmod 0711 {STAGE_DIR} {TLS_DIR}")
    data_disk = ""
    if spec.data_disk_gib is not None:
        # Mounted before the package is installed, whose scripts then own it to emqx (deb postinst chown -R
        # /var/lib/emqx; rpm %attr(750,emqx,emqx) %dir: EMQX deploy/packages); owned again here for a re-run.
        data_disk = (_DATA_DISK.format(data_dir=DATA_DIR).lstrip("\n")
                     + f"mount_data_disk {spec.data_disk_gib * 1024 ** 3}\n")
        optional_chown.append(f"chown emqx:emqx {DATA_DIR}")
    file = package_file(spec)
    if PACKAGE_SYSTEM[spec.os][1] == "deb":
        # cloud-init and unattended-upgrades may hold the dpkg lock at first boot: wait for it (apt >= 1.9.11).
        # /etc/emqx/emqx.conf is a conffile (the deb is built with dh_installdeb, compat 9: "all files in the etc/
        # directory ... flagged as conffiles"; EMQX deploy/packages/deb/debian/rules) and this setup rewrites it, so
        # an upgrade to a package whose emqx.conf changed makes dpkg ask, and with no terminal (Cloud Assistant) it
        # fails "end of file on stdin at conffile prompt". --force-confdef/--force-confold keep the file without
        # asking (Debian handbook 6.9.1); the rendered one is installed over it right after.
        install = ('DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 '
                   '-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold '
                   f'install -y "$work/{file}"')
        installed_version = f"dpkg-query -W -f='${{Version}}' {spec.package.name}"
    else:
        install = f'dnf install -y "$work/{file}"'
        installed_version = f"rpm -q --qf '%{{VERSION}}' {spec.package.name}"
    # The installed version is checked after the install: `dnf install` of a file older than the installed package
    # does nothing and succeeds, so a rollback would restart the same version and report it joined. The deb's
    # version is the release's (debian/changelog "emqx (<VERSION>)"), the rpm's Version the same
    # (deploy/packages/rpm/Makefile RPM_VSN: '-' becomes '_', absent from MAJOR.MINOR.PATCH).
    return _SETUP.format(
        fetch_function=secret_fetch_function(spec.secret_source),
        metadata=METADATA,
        ip=q(spec.private_ip),
        node=q(spec.node_name),
        tuning=tuning.NODE_SCRIPT_PATH,
        data_disk=data_disk,
        tls_dir=TLS_DIR,
        cookie_param=q(spec.secrets.cookie),
        password_param=q(spec.secrets.dashboard_password),
        cookie_env=COOKIE_ENV,
        password_env=DASHBOARD_PASSWORD_ENV,
        secrets_env=SECRETS_ENV,
        fetch_optional="\n".join(optional_fetch),
        url=q(package_url(spec)),
        sha=q(spec.package.sha256[f"{spec.os}-{spec.arch}"]),
        file=file,
        install=install,
        installed_version=installed_version,
        version=q(spec.package.version),
        name=spec.package.name,
        chown_optional="\n".join(optional_chown),
        staged=STAGED_CONF,
        conf=EMQX_CONF,
        nofile=spec.tuning.nofile,
        wait=WAIT_PATH,
        timeout=spec.join_timeout_seconds,
        poll=spec.join_poll_seconds,
        need=quorum(spec),
        seeds=" ".join(q(s) for s in spec.core_seeds),
    )


class _LiteralDumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_LiteralDumper.add_representer(str, _str_presenter)


@dataclass(frozen=True)
class NodeFile:
    path: str
    permissions: str
    content: str


def node_files(node: VmNodeSpec) -> tuple[NodeFile, ...]:
    """The files the node needs, in the order cloud-init writes them; the last one, SETUP_PATH, does the rest. A
    day-two channel (Cloud Assistant) can write the same files and run SETUP_PATH again: every step is idempotent
    (files rewritten whole, the package install a no-op at the same version, then one restart and the join wait).
    Raises ValueError with every problem of the spec."""
    errors = validate(node)
    if errors:
        raise ValueError("\n".join(errors))
    acl = acl_node_file(node)
    return (
        NodeFile(tuning.NODE_SCRIPT_PATH, "0755", tuning_script(node.tuning)),
        NodeFile(WAIT_PATH, "0755", _WAIT),
        NodeFile(STAGED_CONF, "0644", vm_hocon(node)),
        *((acl,) if acl is not None else ()),
        NodeFile(DROPIN_PATH, "0644", systemd_dropin(node)),
        NodeFile(SETUP_PATH, "0700", _setup_script(node)),
    )


def node_digest(node: VmNodeSpec) -> str:
    """Changes exactly when a file of the node changes: a key for a day-two run (or a replacement) of this node."""
    digest = hashlib.sha256()
    for f in node_files(node):
        digest.update(f"{f.path}\0{f.permissions}\0{f.content}\0".encode())
    return digest.hexdigest()[:16]


def render_vm_user_data(node: VmNodeSpec) -> str:
    """'#cloud-config' user data for one EMQX node. Raises ValueError with every problem of the spec, or when the
    result would not fit ECS's 16 KB user data limit."""
    doc = {
        "write_files": [
            {"path": f.path, "owner": "root:root", "permissions": f.permissions, "content": f.content}
            for f in node_files(node)
        ],
        # One command: the setup script runs the tuning first and stops at the first failure; a non-zero exit
        # fails cloud-init's scripts-user module, so `cloud-init status` reports error.
        "runcmd": [[SETUP_PATH]],
    }
    text = "#cloud-config\n" + yaml.dump(doc, Dumper=_LiteralDumper, sort_keys=False, default_flow_style=False,
                                         width=120)
    size = len(text.encode())
    if size > USER_DATA_LIMIT:
        raise ValueError(f"user data for {node.node_name} is {size} bytes, over ECS's {USER_DATA_LIMIT}-byte limit")
    return text


def vm_tuning(profile: TuningProfile) -> TuningProfile:
    """The stack's profile with the VM's EMQX ports (VM_EMQX_PORTS: gen_rpc on 5370 besides the pod's ports) added
    to net.ipv4.ip_local_reserved_ports, keeping whatever else the stack reserves, so no outgoing connection takes a
    port EMQX must listen on. Everything else is unchanged."""
    reserved = profile.value_of("net.ipv4.ip_local_reserved_ports") or ""
    ports: set[int] = set(VM_EMQX_PORTS)
    for item in filter(None, reserved.replace(" ", "").split(",")):
        low, _, high = item.partition("-")
        ports.update(range(int(low), int(high or low) + 1))
    value = tuning.format_port_list(ports)
    sysctls = tuple(dataclasses.replace(s, value=value) if s.key == "net.ipv4.ip_local_reserved_ports" else s
                    for s in profile.sysctls)
    if not any(s.key == "net.ipv4.ip_local_reserved_ports" for s in sysctls):
        raise ValueError("the tuning profile has no net.ipv4.ip_local_reserved_ports to add the VM ports to")
    return dataclasses.replace(profile, sysctls=sysctls)


_APPLY = """\
#!/bin/bash
# Day-two apply for {node}, run by Cloud Assistant (components/alicloud/vm_rollout.py) one node at a time.
# Generated by components/render/vm_node.py; idempotent. Writes the node's files; when one changed (or an earlier
# apply did not finish), re-runs the setup (package, config, restart, join wait); otherwise only waits for the join.
# Exits 0 only once this node runs in the cluster with a majority of the cores.
set -euo pipefail
umask 077
digest={digest}
marker={marker}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
changed=0
n=0
# stage FILE MODE <<< gzip+base64: decodes the new content; notes whether it differs from the file on the node.
stage() {{
  n=$((n + 1))
  base64 -d | gunzip >"$work/$n" || {{ echo "emqx-apply: err: cannot decode $1"; exit 1; }}
  printf '%s %s %s\\n' "$n" "$2" "$1" >>"$work/list"
  cmp -s "$work/$n" "$1" || changed=1
}}
{stages}
state=$(cat "$marker" 2>/dev/null || echo first-boot)
if [ "$changed" = 0 ] && {{ [ "$state" = "$digest" ] || [ "$state" = first-boot ]; }}; then
  # The files are the ones the last successful setup ran with (first boot: cloud-init succeeded, the rollout
  # preamble checked): no restart, only the join check.
  {wait} {timeout} {poll} {need} {node} {seeds}
  echo "$digest" >"$marker"
  echo "emqx-apply: info: {node} unchanged ($digest) and joined"
  exit 0
fi
# Never restart this node while a core of the cluster is down (the stopped_nodes of `emqx ctl cluster status
# --json`: emqx_mgmt_cli.erl cluster_info, v5.8.9 and e5.10.4): the node before it in the rollout may have failed,
# and the invocation chain alone does not prove it did not (a re-run after a failed invocation). A node whose own
# EMQX does not answer is out of the cluster already and goes ahead.
if status=$(emqx ctl cluster status --json 2>/dev/null); then
  down=$(python3 -c '
import json, sys
print(" ".join(sorted(set(json.loads(sys.argv[1]).get("stopped_nodes", [])) & set(sys.argv[2:]))))
' "$status" {seeds}) || down=""
  if [ -n "$down" ]; then
    echo "emqx-apply: err: not restarting {node}: core(s) down: $down (emqx ctl cluster status)"
    exit 1
  fi
fi
echo pending >"$marker"
# umask 022 for directories install creates (a new ACL directory): EMQX (User=emqx) must be able to enter them.
while read -r i mode path; do
  (umask 022 && install -D -m "$mode" -o root -g root "$work/$i" "$path")
done <"$work/list"
{setup}
echo "$digest" >"$marker"
echo "emqx-apply: info: {node} applied $digest and joined"
"""


def render_vm_apply_script(node: VmNodeSpec) -> str:
    """The day-two script for one node: the same files as its user data (node_files), then the setup again only when
    something changed, so a fresh node (first boot still running: vm_rollout's preamble waits for cloud-init) is
    not restarted for nothing. Files travel gzip+base64 to fit Cloud Assistant's 18 KB command limit. Raises
    ValueError with every problem of the spec, or when the command would not fit."""
    q = shlex.quote
    stages = []
    for f in node_files(node):
        blob = base64.b64encode(gzip.compress(f.content.encode(), mtime=0)).decode()
        lines = "\n".join(blob[i:i + 76] for i in range(0, len(blob), 76))
        stages.append(f"stage {q(f.path)} {f.permissions} <<'EOF'\n{lines}\nEOF")
    script = _APPLY.format(
        node=q(node.node_name), digest=node_digest(node), marker=APPLIED_MARKER, stages="\n".join(stages),
        wait=WAIT_PATH, timeout=node.join_timeout_seconds, poll=node.join_poll_seconds, need=quorum(node),
        seeds=" ".join(q(s) for s in node.core_seeds), setup=SETUP_PATH,
    )
    size = len(base64.b64encode(script.encode()))
    if size > COMMAND_LIMIT:
        raise ValueError(f"day-two command for {node.node_name} is {size} bytes base64, over Cloud Assistant's "
                         f"{COMMAND_LIMIT}-byte limit")
    return script
