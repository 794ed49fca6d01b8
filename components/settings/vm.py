"""mode and vm: EMQX on plain ECS instances (`mode: vm`, target alicloud only), and the listener key pair they serve.

What is read here: the top-level `mode`, the `vm` section (OS image, core and replicant nodes, the pinned EMQX package
and Alibaba Cloud CLI) and the secret keys `tlsCertificate` / `tlsPrivateKey`. What VM mode decides with the other
sections once they are read (the sizing without pod overhead, the tuning profile with the VM's reserved ports, the
node-only address plan) is `derive_vm`, which derive.py calls instead of its node-pool path.

Sections that mean nothing without Kubernetes are refused in vm mode, each with why, and dropped before they are read
(`drop_what_vms_ignore`), so their own rules do not bury that one message.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from components import sizing, tuning
from components.alicloud import vm_address_plan
from components.catalogue import alicloud as alicloud_catalogue
from components.config_reader import Problems, Section, shown
from components.network_plan import NetworkPlan, plan_network
from components.render import auth as auth_render
from components.render import vm_node
from components.settings.cloud import CloudSettings
from components.settings.cluster import ClusterSettings
from components.settings.common import Target
from components.settings.emqx import EmqxSettings, topology_problems
from components.settings.load_balancer import LoadBalancerSettings
from components.settings.network import NetworkSettings
from components.settings.node_pools import POOL_RULES
from components.settings.node_tuning import TuningOverrides, build_tuning_profile

Mode = Literal["kubernetes", "vm"]
MODES: tuple[Mode, ...] = ("kubernetes", "vm")
VmOs = Literal["alinux3", "ubuntu22.04", "ubuntu24.04"]
OSES: tuple[str, ...] = tuple(vm_node.PACKAGE_SYSTEM)
Arch = Literal["amd64", "arm64"]
ARCHES: tuple[str, ...] = ("amd64", "arm64")

# "There must be at least one core node ... we recommend 3 core nodes" (emqx-docs deploy/cluster/mria-introduction.md).
# Mria cores each hold a full copy ("as long as one node survives, no data is lost", same page), so EMQX needs no
# quorum and 1 or 2 cores run outside production; production keeps the project's odd count of 3 or more
# (emqx.topology_problems), and a node's boot waits for a majority of the cores (render/vm_node.py quorum).
DEFAULT_CORES = 3
DEFAULT_INSTANCE_TYPE = "ecs.c7.xlarge"
DEFAULT_DISK_GIB = 40
# A cloud_essd data disk takes 20 to 32768 GiB (pulumi-alicloud ecs.InstanceDataDiskArgs `size`).
MIN_DISK_GIB, MAX_DISK_GIB = 20, 32768

# Arm families, whose instances need the arm64 package and image: "Arm-based computing ... YiTian 710, Ampere Altra"
# (alibabacloud.com "Classification and naming of instance types", updated 2026-02-27); c8y/g8y/r8y are the Yitian
# 710 families (Arm Learning Paths, migration index: "c8y, g8y, r8y"), g6r/c6r run a 2.8 GHz Ampere Altra
# (help.aliyun.com general-purpose and compute-optimized instance families, g6r). The x86 families are those of the
# sizing table (components/catalogue/alicloud.py FAMILIES and components/sizing.py INSTANCE_SHAPES: Intel and AMD).
ARM_FAMILIES = frozenset({"ecs.c8y", "ecs.g8y", "ecs.r8y", "ecs.c6r", "ecs.g6r"})
X86_FAMILIES = frozenset({"ecs.c7", "ecs.g7", "ecs.c8i", "ecs.g8i", "ecs.c7a", "ecs.g7a"})

# The public image family of each OS and architecture, for the hint on finding an image ID: DescribeImages
# --ImageFamily answers the images of that family, the newest first to pin (ECS API DescribeImages, ImageFamily).
IMAGE_FAMILIES: Mapping[tuple[str, str], str] = {
    ("alinux3", "amd64"): "acs:alibaba_cloud_linux_3_2104_lts_x64",
    ("alinux3", "arm64"): "acs:alibaba_cloud_linux_3_2104_lts_arm64",
    ("ubuntu22.04", "amd64"): "acs:ubuntu_22_04_x64",
    ("ubuntu22.04", "arm64"): "acs:ubuntu_22_04_arm64",
    ("ubuntu24.04", "amd64"): "acs:ubuntu_24_04_x64",
    ("ubuntu24.04", "arm64"): "acs:ubuntu_24_04_arm64",
}
# An ECS image ID: a custom, shared or Marketplace image `m-<id>`, or a public image's file name such as
# aliyun_3_x64_20G_alibase_20240819.vhd or ubuntu_22_04_arm64_20G_alibase_20230104.vhd (ECS API DescribeImages).
IMAGE_ID = r"m-[a-z0-9]{8,40}|[a-z][A-Za-z0-9_]{2,100}\.vhd"
# A public image's name says its OS and architecture; a custom image's ID says nothing, so it is taken on trust.
PUBLIC_IMAGE_OS: Mapping[str, str] = {"aliyun_3_": "alinux3", "ubuntu_22_04_": "ubuntu22.04",
                                      "ubuntu_24_04_": "ubuntu24.04"}
PUBLIC_IMAGE_ARCH: Mapping[str, str] = {"_x64_": "amd64", "_arm64_": "arm64"}
SHA256 = r"[0-9a-f]{64}"
HTTPS_URL = r"https://[A-Za-z0-9._~:/%+-]{1,500}"

# Keys that mean nothing on VMs, refused in vm mode (then dropped unread): why, and what to do instead.
VM_IGNORED: Mapping[str, tuple[str, str]] = {
    "cluster": ("configures the ACK cluster, and vm mode creates none (EMQX runs on ECS instances)", "remove it"),
    "nodePools": ("sizes ACK node pools; vm mode creates one ECS instance per EMQX node",
                  "remove it; size the nodes with vm.cores and vm.replicants"),
    "charts": ("installs cert-manager and the EMQX Operator into Kubernetes; VMs install the EMQX package",
               "remove it"),
    "rebalance": ("runs the EMQX Operator's Rebalance objects; there is no operator on VMs (README, Known limits)",
                  "remove it; rebalance with EMQX's own API after a scale-out"),
    "monitoring": ("creates Prometheus Operator objects (PodMonitor, PrometheusRule) and a Grafana dashboard "
                   "ConfigMap, all Kubernetes objects", "remove it; scrape EMQX's /api/v5/prometheus/stats on each "
                   "node from your own Prometheus"),
    "loadTest": ("runs load generators as Kubernetes Jobs on the loadgen node pool", "remove it"),
    "network.plugin": ("is ACK's CNI; VMs have no pods", "remove it"),
    "network.podCidr": ("is flannel's pod range; VMs have no pods", "remove it"),
    "network.serviceCidr": ("is the Kubernetes Service range; VMs have no Services", "remove it"),
    "emqx.name": ("names the EMQX custom resource the operator reconciles", "remove it"),
    "emqx.namespace": ("is a Kubernetes namespace", "remove it"),
    "emqx.imageRepository": ("is a container image; VMs install the EMQX package",
                             "remove it; for a mirror of the package use vm.package.mirrorBaseUrl"),
    "emqx.coreStorage": ("is a PersistentVolumeClaim of the core pods", "remove it; a core's data disk is "
                         "vm.cores.diskGib"),
    "emqx.tls": ("has cert-manager issue the listener certificate inside Kubernetes",
                 "remove it; give the VMs a certificate with the secrets tlsCertificate and tlsPrivateKey"),
    "emqx.cores": ("counts core pods", "remove it; set vm.cores.count"),
    "emqx.replicants": ("counts replicant pods", "remove it; set vm.replicants.count"),
    "emqx.auth.x509": ("trusts a CA from a Kubernetes Secret (caSecretName) or the stack's cert-manager CA",
                       "remove it; VM mode has no client-certificate authentication yet"),
}

# A certificate block and a private key block (RFC 7468 textual encoding; PKCS#8, PKCS#1 RSA or SEC1 EC keys).
_CERT_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----[ \t\r]*\n([A-Za-z0-9+/= \t\r\n]+?)-----END CERTIFICATE-----")
_KEY_BLOCK = re.compile(
    r"-----BEGIN ((?:RSA |EC )?PRIVATE KEY)-----[ \t\r]*\n([A-Za-z0-9+/= \t\r\n]+?)-----END \1-----")


@dataclass(frozen=True)
class VmPackage:
    sha256: tuple[tuple[str, str], ...]  # (("alinux3-amd64", "<64 hex>"), ...) key "<os>-<arch>"
    mirror_base_url: str | None


@dataclass(frozen=True)
class VmRole:
    count: int
    instance_type: str
    disk_gib: int  # data disk (cores); 0 for replicants


@dataclass(frozen=True)
class VmSettings:
    os: VmOs
    arch: Arch
    image_id: str
    cores: VmRole
    replicants: VmRole
    package: VmPackage
    aliyun_cli_url: str
    aliyun_cli_sha256: str
    plan: NetworkPlan  # node vSwitches per zone; no pod vSwitch, pod range or Service range (pod_cidr None,
    # service_cidr "")
    # ECS release protection and Pulumi `protect` on the instances, the VPC and the load balancer's network; defaults
    # to `production` (the cluster section, which says this for ACK, is refused in vm mode).
    deletion_protection: bool = False


@dataclass(frozen=True)
class VmFields:
    """The vm section as read, before the sizing decides the counts left unset."""

    os: VmOs
    arch: Arch
    image_id: str
    cores: int
    core_type: str
    disk_gib: int
    replicants: int | None  # None: the sizing decides
    replicant_type: str
    package: VmPackage
    cli_url: str
    cli_sha256: str
    deletion_protection: bool = False


PLACEHOLDER_SHA256 = "0" * 64


def placeholder_warnings(vm: VmSettings | None) -> tuple[str, ...]:
    """Checksums left at the stack files' placeholder (64 zeros): the offline preview runs, but every node would
    refuse its download and fail its first boot, so `pulumi up` must not run before they are set."""
    if vm is None:
        return ()
    node_key = f"{vm.os}-{vm.arch}"
    found = [f"vm.package.sha256.{node_key}" for k, v in vm.package.sha256 if k == node_key and v == PLACEHOLDER_SHA256]
    if vm.aliyun_cli_sha256 == PLACEHOLDER_SHA256:
        found.append("vm.aliyunCli.sha256")
    return tuple(f"{key}: is the placeholder of 64 zeros; every node would refuse the download and fail its boot. "
                 "Set the real SHA-256 (the .sha256 file published beside the download) before `pulumi up`"
                 for key in found)


# --- mode and what vm mode refuses --------------------------------------------------------------------------------


def drop_what_vms_ignore(values: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
    """In vm mode (target alicloud), every key of VM_IGNORED the stack sets is refused with why and left unread."""
    out = dict(values)
    if out.get("mode") != "vm" or out.get("target") != "alicloud":
        return out
    for path, (why, fix) in VM_IGNORED.items():
        *parents, leaf = path.split(".")
        node: dict[str, Any] | None = out
        for part in parents:
            child = node.get(part) if node is not None else None
            if not isinstance(child, Mapping):
                node = None
                break
            copy: dict[str, Any] = dict(child)  # pyright: ignore[reportUnknownArgumentType]
            node[part] = copy  # copied on the way down: the caller's values stay as they were
            node = copy
        if node is not None and leaf in node:
            problems.add(path, f"means nothing in vm mode: it {why}", fix)
            del node[leaf]
    return out


def parse_mode(root: Section, target: Target | None) -> Mode | None:
    """The mode; None when it is refused (what the vm section means is then unknown)."""
    mode = root.string("mode", "kubernetes", choices=MODES) or "kubernetes"
    if root.problems.about("mode"):
        return None
    if mode == "vm" and target is not None and target != "alicloud":
        root.problems.add("mode", f"'vm' is built for target alicloud only (target is {target!r})",
                          "remove mode, or set target: alicloud")
        return None
    return mode  # type: ignore[return-value]


# --- the vm section ------------------------------------------------------------------------------------------------


def family_arch(instance_type: str) -> Arch | None:
    """The CPU architecture of an ECS instance type's family, or None for a family this module does not know."""
    family = instance_type.rsplit(".", 1)[0]
    if family in ARM_FAMILIES:
        return "arm64"
    listed = alicloud_catalogue.FAMILIES.get(family)
    if listed is not None:
        return "arm64" if listed[1] == "arm64" else "amd64"
    return "amd64" if family in X86_FAMILIES else None


def parse_vm(root: Section, mode: Mode | None, emqx: EmqxSettings | None, production: bool) -> VmFields | None:
    """The vm section. Its keys are read in every mode (so each has its default on record); outside vm mode the
    section is refused whole and read as if empty."""
    problems = root.problems
    if mode != "vm" and root.has("vm"):
        if mode is not None:
            problems.add("vm", "only applies with mode: vm", "remove it, or set mode: vm (target alicloud)")
        root.accept("vm")
        section = Section("vm", None, problems)
    else:
        section = root.section("vm")
    active = mode == "vm"
    rules = POOL_RULES["alicloud"]
    os_name = section.string("os", None, choices=OSES, required=active,
                             hint=f"set the OS of vm.imageId: one of {', '.join(OSES)}")
    arch_set = section.string("arch", None, choices=ARCHES)
    image_id = section.string("imageId", None, pattern=IMAGE_ID, required=active,
                              hint=_image_hint(os_name, arch_set or "amd64"))
    cores = section.section("cores")
    core_count = cores.integer("count", DEFAULT_CORES, minimum=1, maximum=vm_address_plan.ROLE_BASE["replicant"])
    core_type = cores.string("instanceType", DEFAULT_INSTANCE_TYPE, pattern=rules.instance_type,
                             hint=f"an ECS instance type such as {DEFAULT_INSTANCE_TYPE}")
    disk = cores.integer("diskGib", DEFAULT_DISK_GIB, minimum=MIN_DISK_GIB, maximum=MAX_DISK_GIB,
                         hint=f"a cloud_essd data disk takes {MIN_DISK_GIB} to {MAX_DISK_GIB} GiB")
    replicants = section.section("replicants")
    replicant_count = replicants.integer("count", None, minimum=0, maximum=sizing.MAX_REPLICANTS)
    replicant_type = replicants.string("instanceType", core_type, pattern=rules.instance_type,
                                       hint=f"an ECS instance type such as {DEFAULT_INSTANCE_TYPE}")
    package = section.section("package")
    sha_map = package.mapping("sha256")
    mirror = package.string("mirrorBaseUrl", None, pattern=HTTPS_URL,
                            hint="an https:// URL of a directory holding the same file names as EMQX's releases")
    cli = section.section("aliyunCli")
    cli_url = cli.string("url", None, pattern=HTTPS_URL, required=active,
                         hint="the https:// URL of an aliyun-cli-linux-<version>-<arch>.tgz release "
                              "(github.com/aliyun/aliyun-cli/releases)")
    cli_sha = cli.string("sha256", None, pattern=SHA256, required=active,
                         hint="the 64 lowercase hex digits `sha256sum` prints for that archive")
    deletion_protection = section.boolean("deletionProtection", production)
    if not active:
        return None
    if not section.present:
        return None  # "is required" was said for each required key
    assert core_count is not None and disk is not None

    # The architecture: from the instance families, or as set (and then checked against them).
    arch: str | None = arch_set
    conflict = False
    typed = [("vm.cores.instanceType", core_type)]
    if replicant_type != core_type:
        typed.append(("vm.replicants.instanceType", replicant_type))
    for key, itype in typed:
        if itype is None:
            continue
        found = family_arch(itype)
        if found is None:
            if arch_set is None:
                problems.add(key, f"{shown(itype)} is of a family whose CPU architecture is not known here",
                             "set vm.arch (amd64 or arm64)")
                conflict = True
        elif arch_set is not None:
            if found != arch_set:
                problems.add("vm.arch", f"{arch_set} does not match {itype}, an {found} instance type",
                             f"remove vm.arch (it follows the instance type), or set {found}")
                conflict = True
        elif arch is None:
            arch = found
        elif found != arch:
            problems.add(key, f"{itype} is {found} but the other role's type is {arch}; every node installs the "
                         "same package and image", "use instance types of one architecture")
            conflict = True
    if conflict:
        arch = None  # what follows from the architecture (image, package) would only repeat the problem

    if image_id is not None and os_name is not None and not image_id.startswith("m-"):
        image_os = next((v for k, v in PUBLIC_IMAGE_OS.items() if image_id.startswith(k)), None)
        image_arch = next((v for k, v in PUBLIC_IMAGE_ARCH.items() if k in image_id), None)
        if image_os is None:
            problems.add("vm.imageId", f"{shown(image_id)} is a public image of none of {', '.join(OSES)}",
                         _image_hint(os_name, arch or "amd64"))
        elif image_os != os_name:
            problems.add("vm.imageId", f"{shown(image_id)} is an {image_os} image but vm.os is {os_name}",
                         _image_hint(os_name, arch or "amd64"))
        if image_arch is not None and arch is not None and image_arch != arch:
            problems.add("vm.imageId", f"{shown(image_id)} is an {image_arch} image but the nodes are {arch}",
                         _image_hint(os_name, arch))

    sha_pairs: list[tuple[str, str]] = []
    for k, v in sha_map.items():
        key = f"vm.package.sha256.{shown(k) if not isinstance(k, str) else k}"
        os_part, _, arch_part = str(k).rpartition("-")
        if os_part not in OSES or arch_part not in ARCHES:
            problems.add(key, f"{shown(str(k))} is not <os>-<arch>",
                         f"use keys such as {OSES[0]}-amd64 (os one of {', '.join(OSES)}; arch amd64 or arm64)")
        elif not isinstance(v, str) or re.fullmatch(SHA256, v) is None:
            problems.add(key, "is not a SHA-256", "write the 64 lowercase hex digits of the package's .sha256 file")
        else:
            sha_pairs.append((str(k), v))
    if os_name is not None and arch is not None and emqx is not None:
        node_key = f"{os_name}-{arch}"
        if node_key not in sha_map:
            probe = _probe_package(emqx, ((node_key, "0" * 64),), mirror)
            file = vm_node.package_file(_probe_spec(probe, os_name, arch))  # type: ignore[arg-type]
            problems.add(f"vm.package.sha256.{node_key}", "is required: the nodes refuse a package they cannot "
                         f"check, and they install {file}", f"set it to the SHA-256 published beside {file} "
                         f"({vm_node.package_url(_probe_spec(probe, os_name, arch))}.sha256)")  # type: ignore[arg-type]
    if (os_name is None or arch is None or image_id is None or core_type is None or replicant_type is None
            or cli_url is None or cli_sha is None):
        return None
    return VmFields(os=os_name, arch=arch, image_id=image_id, cores=core_count,  # type: ignore[arg-type]
                    core_type=core_type, disk_gib=disk, replicants=replicant_count, replicant_type=replicant_type,
                    package=VmPackage(sha256=tuple(sorted(sha_pairs)), mirror_base_url=mirror),
                    cli_url=cli_url, cli_sha256=cli_sha, deletion_protection=deletion_protection)


def _image_hint(os_name: str | None, arch: str) -> str:
    family = IMAGE_FAMILIES.get((os_name or "", arch))
    how = (f"`aliyun ecs DescribeImages --RegionId <cloud.region> --ImageFamily {family}` lists them, newest first"
           if family else "`aliyun ecs DescribeImages --RegionId <cloud.region> --ImageFamily <family>` lists them "
           "(e.g. acs:ubuntu_22_04_x64)")
    return f"pin the ID of an image of vm.os in cloud.region ({how}), or a custom image m-..."


# --- the listener key pair -----------------------------------------------------------------------------------------


def _der_blocks(bodies: list[str]) -> bool:
    try:
        return all(base64.b64decode("".join(b.split()), validate=True)[:1] == b"\x30" for b in bodies)
    except (binascii.Error, ValueError):
        return False


def certificate_problem(text: str) -> str | None:
    """Why a value is not a PEM certificate chain, never quoting it; None when it is one."""
    blocks = _CERT_BLOCK.findall(text)
    if not blocks:
        return "has no PEM certificate (-----BEGIN CERTIFICATE-----)"
    if _CERT_BLOCK.sub("", text).strip():
        return "holds text outside its -----BEGIN/END CERTIFICATE----- blocks (a key, or a stray line)"
    if not _der_blocks(blocks):
        return "has a certificate block that is not base64 DER"
    return None


def private_key_problem(text: str) -> str | None:
    """Why a value is not one unencrypted PEM private key, never quoting it; None when it is one."""
    if "ENCRYPTED PRIVATE KEY" in text or "Proc-Type: 4,ENCRYPTED" in text:
        return "is encrypted; EMQX's listeners here take no key password"
    blocks = _KEY_BLOCK.findall(text)
    if len(blocks) != 1 or _KEY_BLOCK.sub("", text).strip():
        return "is not exactly one PEM private key (-----BEGIN PRIVATE KEY-----, RSA or EC)"
    if not _der_blocks([blocks[0][1]]):
        return "has a key block that is not base64 DER"
    return None


# An OOS encryption parameter holds 1 to 4096 characters (pulumi-alicloud oos.SecretParameter `value`; ROS
# ALIYUN::OOS::SecretParameter Value "长度限制为4096"). In vm mode each secret the nodes read is one such parameter
# (components/alicloud/vm_secrets.py), so a longer value would fail `pulumi up` half-way, after the network exists.
OOS_VALUE_LIMIT = 4096


def oos_value_problems(values: Mapping[str, Any], problems: Problems) -> None:
    """vm mode: each secret that becomes an OOS encryption parameter fits one, said before anything is created and
    without quoting the value. The users file is measured as the nodes get it (render/auth.py bootstrap_users:
    hashed JSON); the salt's seed does not change its length, and no superuser gives the longest file."""
    sizes: list[tuple[str, int, str]] = []
    for key, what in (("tlsCertificate", "PEM chain"), ("tlsPrivateKey", "PEM key"), ("licenseKey", "licence key")):
        value = values.get(key)
        if isinstance(value, str):
            sizes.append((key, len(value), what))
    users = values.get("mqttUsers")
    if isinstance(users, str) and not auth_render.user_problems(users):
        sizes.append(("mqttUsers", len(auth_render.bootstrap_users(users, (), "0" * 32)), "hashed users file"))
    for key, size, what in sizes:
        if size > OOS_VALUE_LIMIT:
            problems.add(key, f"makes a {what} of {size} characters; vm mode keeps it in an OOS encryption parameter, "
                         f"which holds at most {OOS_VALUE_LIMIT}",
                         "use a shorter certificate chain (the leaf and its intermediate, without the root)"
                         if key == "tlsCertificate" else "use fewer MQTT users here (the rest through the dashboard "
                         "or API)" if key == "mqttUsers" else f"shorten it to {OOS_VALUE_LIMIT} characters")


def tls_problems(values: Mapping[str, Any], mode: Mode | None, target: Target | None,
                 load_balancer: LoadBalancerSettings, problems: Problems) -> bool:
    """tlsCertificate and tlsPrivateKey: vm mode only, both or neither, PEM-shaped; and without them, a load balancer
    that serves TLS only has nothing to serve. Returns whether the nodes get a key pair."""
    given = [k for k in ("tlsCertificate", "tlsPrivateKey") if k in values]
    if mode is None:
        return False  # the mode was refused: whether they belong is unknown
    if mode != "vm":
        for key in given:
            problems.add(key, "only applies with mode: vm" + (" (on Kubernetes cert-manager issues the listener "
                         "certificate: emqx.tls)" if target != "existing" else ""), "remove it")
        return False
    oos_value_problems(values, problems)
    if len(given) == 1:
        missing = "tlsPrivateKey" if given == ["tlsCertificate"] else "tlsCertificate"
        problems.add(missing, f"is not set, but {given[0]} is: the listeners need the certificate chain and its key",
                     f"set it with `pulumi config set --secret {missing} -- \"$(cat <file>.pem)\"`, or remove "
                     f"{given[0]}")
    for key, check in (("tlsCertificate", certificate_problem), ("tlsPrivateKey", private_key_problem)):
        value = values.get(key)
        if isinstance(value, str) and (bad := check(value)):
            problems.add(key, bad, f"set the PEM file's content: `pulumi config set --secret {key} -- \"$(cat "
                         "<file>.pem)\"`")
    if not given and not load_balancer.allow_plain_text:
        problems.add("tlsCertificate", f"is not set, so EMQX on the VMs serves no TLS listener (8883, 8084), and "
                     f"the {load_balancer.address_type} load balancer serves TLS only (loadBalancer.allowPlainText "
                     "is false): clients would have nothing to connect to",
                     "set tlsCertificate and tlsPrivateKey (`pulumi config set --secret tlsCertificate -- \"$(cat "
                     "chain.pem)\"`, the same for the key), or set loadBalancer.addressType: intranet, or "
                     "loadBalancer.allowPlainText: true (not in production on the internet)")
    return len(given) == 2


# --- what vm mode decides once everything is read ------------------------------------------------------------------


@dataclass(frozen=True)
class VmDerived:
    plan: sizing.SizingPlan | None = None
    profile: tuning.TuningProfile | None = None
    network: NetworkSettings | None = None
    vm: VmSettings | None = None


# Placeholder pod and Service ranges for network_plan.plan_network, which plans node vSwitches beside a cluster's pod
# and Service ranges: VMs have neither, so the first pair clear of the VPC is passed and then dropped from the plan.
# The VPC lies inside one RFC 1918 block, so one of these pairs is always clear of it.
_UNUSED_RANGES = (("172.20.0.0/16", "172.21.0.0/20"), ("192.168.0.0/17", "192.168.128.0/20"),
                  ("10.254.0.0/16", "10.253.0.0/20"))


def vm_network_plan(vpc_cidr: str, zones: tuple[str, ...], nodes: int,
                    problems: Problems) -> NetworkPlan | None:
    """network_plan's node vSwitch per zone for `nodes` ECS instances; no pod vSwitch (flannel layout), no pod or
    Service range. Every node's fixed address (vm_address_plan) must fit its zone's vSwitch."""
    vpc = ipaddress.ip_network(vpc_cidr, strict=False)
    pod, service = next(((p, s) for p, s in _UNUSED_RANGES
                         if not vpc.overlaps(ipaddress.ip_network(p)) and not vpc.overlaps(ipaddress.ip_network(s))),
                        _UNUSED_RANGES[0])
    plan, errors = plan_network(vpc_cidr=vpc_cidr, zones=zones, network_plugin="flannel", max_nodes=max(1, nodes),
                                max_pods_per_node=1, pod_cidr=pod, service_cidr=service, key="network")
    # The placeholders are not the stack's: a message about them would name keys vm mode refuses.
    problems.extend([e for e in errors if not e.startswith(("network.podCidr", "network.serviceCidr",
                                                           "network.maxPodsPerNode", "network.plugin"))])
    if plan is None:
        return None
    return dataclasses.replace(plan, pod_cidr=None, service_cidr="")


def _vm_keys(message: str) -> str:
    # The sizing and topology rules name the Kubernetes keys of the counts; in vm mode the counts are vm's.
    return message.replace("emqx.cores", "vm.cores.count").replace("emqx.replicants", "vm.replicants.count")


def _plan_vm(fields: VmFields, emqx: EmqxSettings, production: bool,
             problems: Problems) -> sizing.SizingPlan | None:
    core_shape = sizing.INSTANCE_SHAPES.get(fields.core_type)
    replicant_shape = sizing.INSTANCE_SHAPES.get(fields.replicant_type)
    for key, itype, shape in (("vm.cores.instanceType", fields.core_type, core_shape),
                              ("vm.replicants.instanceType", fields.replicant_type, replicant_shape)):
        if shape is None:
            problems.add(key, f"{shown(itype)} is not in the sizing table, so its vCPU and memory are unknown",
                         "use a listed type (README: sizing) or add it to components/sizing.py INSTANCE_SHAPES")
    if core_shape is None or replicant_shape is None:
        return None
    allowed = emqx.release.replicants_allowed

    def plan(shape: sizing.NodeShape, replicants: int | None,
             larger: str) -> tuple[sizing.SizingPlan | None, list[str]]:
        return sizing.plan_capacity(emqx.capacity, shape, cores=fields.cores, replicants=replicants,
                                    replicants_allowed=allowed, headroom=emqx.headroom,
                                    min_client_nodes=2 if production else 1, survive_node_loss=production,
                                    key="emqx", larger_shape=larger, vm=True)

    core_larger = "a larger instance type in vm.cores.instanceType"
    replicant_larger = "a larger instance type in vm.replicants.instanceType"
    if fields.replicants is not None:
        with_replicants = fields.replicants > 0
        result, errors = plan(replicant_shape if with_replicants else core_shape, fields.replicants,
                              replicant_larger if with_replicants else core_larger)
    else:
        # The cores take every client unless they cannot; then (Enterprise) replicants do, the cores none.
        result, errors = plan(core_shape, 0, core_larger)
        if result is None and allowed:
            # The fewest replicants that carry it (more never carry less), when the most the settings allow do.
            low, high = 1, sizing.MAX_REPLICANTS
            if plan(replicant_shape, high, replicant_larger)[0] is not None:
                while low < high:
                    mid = (low + high) // 2
                    low, high = (low, mid) if plan(replicant_shape, mid, replicant_larger)[0] else (mid + 1, high)
                result, errors = plan(replicant_shape, low, replicant_larger)
    problems.extend([_vm_keys(e) for e in errors])
    if result is None:
        return None
    # Cores and replicants may be of different types: what is paid for is the sum of both.
    return dataclasses.replace(
        result,
        planned_vcpu=result.cores * core_shape.vcpu + result.replicants * replicant_shape.vcpu,
        planned_memory_gib=result.cores * core_shape.memory_gib + result.replicants * replicant_shape.memory_gib)


def _probe_package(emqx: EmqxSettings, sha: tuple[tuple[str, str], ...], mirror: str | None) -> vm_node.EmqxPackage:
    return vm_node.EmqxPackage(edition=emqx.release.edition, version=emqx.release.version, sha256=dict(sha),
                               mirror_base_url=mirror)


def _probe_spec(package: vm_node.EmqxPackage, os_name: str, arch: str, *, role: vm_node.Role = "core",
                profile: tuning.TuningProfile | None = None, region: str = "cn-hangzhou",
                cli: vm_node.AliyunCli | None = None, max_connections: int = 1,
                licensed: bool = False, tls: bool = False) -> vm_node.VmNodeSpec:
    """A node spec with placeholder names, to ask the renderer what it refuses (vm_node.validate)."""
    seeds = ("emqx@10.0.0.10",)
    return vm_node.VmNodeSpec(
        node_name=seeds[0] if role == "core" else "emqx@10.0.0.74", role=role, core_seeds=seeds, package=package,
        os=os_name, arch=arch,  # type: ignore[arg-type]
        tuning=profile or tuning.build_profile(max_connections_per_node=1024, kubernetes_version="1.35",
                                               reserved_ports=vm_node.VM_EMQX_PORTS),
        listeners=vm_node.VmListeners(max_connections_per_node=max_connections, tls="node" if tls else "load_balancer"),
        secrets=vm_node.SecretNames(cookie="emqx-cookie", dashboard_password="emqx-dashboard",
                                    license="emqx-license" if licensed else None,
                                    tls_cert="emqx-tls-cert" if tls else None, tls_key="emqx-tls-key" if tls else None),
        secret_source=vm_node.OosSecretSource(region=region, ram_role_name="emqx-node",
                                              cli=cli or vm_node.AliyunCli(url="https://example.com/a.tgz",
                                                                           sha256="0" * 64)))


# What the renderer's messages are about, by how they start (components/render/vm_node.py validate()).
_RENDER_KEYS: tuple[tuple[str, str], ...] = (
    ("EMQX ", "emqx.version"),
    ("replicant nodes need", "vm.replicants.count"),
    ("package sha256", "vm.package.sha256"),
    ("aliyun CLI sha256", "vm.aliyunCli.sha256"),
    ("a licence applies", "licenseKey"),
)


def _renderer_problems(fields: VmFields, emqx: EmqxSettings, plan: sizing.SizingPlan, profile: tuning.TuningProfile,
                       cloud: CloudSettings, licensed: bool, tls: bool, problems: Problems) -> None:
    """What vm_node.validate refuses of a node of each role, reported under the key that decides it."""
    package = _probe_package(emqx, fields.package.sha256, fields.package.mirror_base_url)
    cli = vm_node.AliyunCli(url=fields.cli_url, sha256=fields.cli_sha256)
    seen: set[str] = set()
    roles: tuple[vm_node.Role, ...] = ("core", "replicant") if plan.replicants else ("core",)
    for role in roles:
        spec = _probe_spec(package, fields.os, fields.arch, role=role, profile=profile, region=cloud.region, cli=cli,
                           max_connections=plan.max_connections_per_node,
                           licensed=licensed and emqx.release.edition == "enterprise", tls=tls)
        for message in vm_node.validate(spec):
            key = next((k for prefix, k in _RENDER_KEYS if message.startswith(prefix)), "vm")
            if key in ("vm.package.sha256", "vm.replicants.count") and problems.about(key):
                continue  # said above, with the key's own words
            if message not in seen:
                seen.add(message)
                problems.add(key, message, _fix(key))


def _fix(key: str) -> str:
    return {"emqx.version": "use EMQX 5.8.0 or later (open source 5.8.x, Enterprise 5.8+)",
            "vm.replicants.count": "set vm.replicants.count to 0, or use emqx.edition: enterprise",
            "vm.package.sha256": "set it for vm.os and the instance types' architecture",
            "vm.aliyunCli.sha256": "set the archive's SHA-256",
            "licenseKey": "remove it, or use emqx.edition: enterprise"}.get(key, "see README, VM mode")


def derive_vm(fields: VmFields, *, emqx: EmqxSettings, cloud: CloudSettings | None,
              network_fields: Mapping[str, Any] | None, overrides: TuningOverrides, cluster: ClusterSettings,
              production: bool, licensed: bool, tls: bool, problems: Problems) -> VmDerived:
    """The sizing (no pod overhead), the tuning profile (VM ports reserved), the node-only address plan, and the
    renderer's own rules on a node of each role."""
    plan = _plan_vm(fields, emqx, production, problems)
    if plan is None:
        return VmDerived()
    profile = build_tuning_profile(overrides, plan, cluster, problems, reserved_ports=vm_node.VM_EMQX_PORTS)
    if profile is not None and cloud is not None and not problems.about("vm", "emqx", "licenseKey", "cloud"):
        _renderer_problems(fields, emqx, plan, profile, cloud, licensed, tls, problems)
    problems.extend([_vm_keys(m) for m in topology_problems(plan, emqx.release, production, licensed)])
    if cloud is None or network_fields is None or problems.about("cloud", "network"):
        return VmDerived(plan=plan, profile=profile)
    net_plan = vm_network_plan(network_fields["vpc_cidr"], cloud.zones, plan.cores + plan.replicants, problems)
    if net_plan is not None:
        zone_cidrs = [(z.zone, z.node_cidr) for z in net_plan.zones]
        for role, count in (("core", plan.cores), ("replicant", plan.replicants)):
            try:
                vm_address_plan.plan_addresses(zone_cidrs, role, count)  # type: ignore[arg-type]
            except ValueError as error:
                problems.add("network.vpcCidr", f"{network_fields['vpc_cidr']} leaves the {role} nodes no fixed "
                             f"address: {error}", "use a larger VPC, e.g. a /16")
                net_plan = None
                break
    if net_plan is None or profile is None or problems:
        return VmDerived(plan=plan, profile=profile)
    network = NetworkSettings(vpc_cidr=network_fields["vpc_cidr"], plugin="flannel", pod_cidr=None, service_cidr="",
                              client_cidrs=network_fields["client_cidrs"], admin_cidrs=network_fields["admin_cidrs"],
                              plan=net_plan)
    vm = VmSettings(os=fields.os, arch=fields.arch, image_id=fields.image_id,
                    cores=VmRole(count=plan.cores, instance_type=fields.core_type, disk_gib=fields.disk_gib),
                    replicants=VmRole(count=plan.replicants, instance_type=fields.replicant_type, disk_gib=0),
                    package=fields.package, aliyun_cli_url=fields.cli_url, aliyun_cli_sha256=fields.cli_sha256,
                    plan=net_plan, deletion_protection=fields.deletion_protection)
    return VmDerived(plan=plan, profile=profile, network=network, vm=vm)
