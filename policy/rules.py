"""The policies' logic: pure functions over one resource (type, inputs, options) or the whole stack.

Nothing here imports pulumi_policy: `policy/pack.py` wires these functions into CrossGuard policies for the real
`pulumi preview --policy-pack policy`, and `tools/policy_check.py` runs the same wiring over the offline plan.
Every message says what is wrong and how to fix it.

What a policy needs from the stack (production or not, the stack's CIDRs, the zones) comes from the stack's own
settings, parsed by the program's parser (components/settings/), so the policy and the program never disagree on a
default (network.clientCidrs defaults to 0.0.0.0/0, network.adminCidrs to the VPC).
"""

from __future__ import annotations

import base64
import binascii
import email
import gzip
import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import yaml

from components import tuning

PROJECT = "emqx-platform"
# What the offline preview writes for a Pulumi secret (preview/engine.py SECRET_TEXT).
SECRET_TEXT = "[secret]"

SECURITY_GROUP_RULE = "alicloud:ecs/securityGroupRule:SecurityGroupRule"
ACL = "alicloud:slb/acl:Acl"
ACL_ENTRY = "alicloud:slb/aclEntryAttachment:AclEntryAttachment"
VPC = "alicloud:vpc/network:Network"
VSWITCH = "alicloud:vpc/switch:Switch"
CLUSTER = "alicloud:cs/managedKubernetes:ManagedKubernetes"
CLB = "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer"
NLB = "alicloud:nlb/loadBalancer:LoadBalancer"
NODE_POOL = "alicloud:cs/nodePool:NodePool"
HELM_RELEASES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
K8S_SECRET = "kubernetes:core/v1:Secret"
EMQX = "kubernetes:apps.emqx.io/v2beta1:EMQX"
# VM mode on Alibaba Cloud (components/alicloud/vm_*.py).
ECS_INSTANCE = "alicloud:ecs/instance:Instance"
OOS_SECRET = "alicloud:oos/secretParameter:SecretParameter"
VM_ROLE_TAG = "emqx-role"  # components/alicloud/vm_nodes.py tags each instance with its EMQX role
# AWS (components/aws/). The security group rules come in three shapes: the program's own
# vpc.SecurityGroupIngressRule (components/aws/load_balancer.py, node_groups.py), and the older
# ec2.SecurityGroupRule and inline ec2.SecurityGroup ingress blocks a hand edit could bring back.
AWS_VPC = "aws:ec2/vpc:Vpc"
AWS_SUBNET = "aws:ec2/subnet:Subnet"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
AWS_LBS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
AWS_SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
AWS_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
AWS_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
# Resources whose userData/preUserData is a node's boot script (base64: cs.NodePool, ec2.LaunchTemplate user_data,
# ecs.Instance user_data).
USER_DATA_TYPES = (NODE_POOL, LAUNCH_TEMPLATE, ECS_INSTANCE)

# The dashboard and REST API (EMQX's 18083) and the Kubernetes API server (6443 on ACK's API server CLB listener).
ADMIN_PORTS = {18083: "the EMQX dashboard and REST API", 6443: "the Kubernetes API server"}
# A rule's description the program writes for the dashboard's NodePort rule (components/alicloud/security.py), whose
# port is not 18083 but a NodePort the program chooses.
_ADMIN_DESCRIPTION = re.compile(r"dashboard|api server", re.IGNORECASE)
# A source wider than a /8 is "a large part of the internet", the line components/settings/network.py draws for
# network.adminCidrs (and clientCidrs with plain text): 0.0.0.0/1 + 128.0.0.0/1 open as much as 0.0.0.0/0 does.
PUBLIC_PREFIX_BELOW = 8


def _public(text: object) -> bool:
    return any(n.prefixlen < PUBLIC_PREFIX_BELOW for n in _networks(text))


MIN_PRODUCTION_ZONES = 3
POOL_LABEL = "emqx-platform/pool"


@dataclass(frozen=True)
class StackFacts:
    """What the policies need to know about the stack, beyond one resource's inputs."""

    stack: str
    production: bool
    # Every CIDR a security group rule of this stack may open to: VPC, pods, services, clients, admins, API server.
    cidrs: tuple[str, ...]
    # The sysctl keys the kernel profile knows (components/tuning.py CATALOGUE).
    sysctls: frozenset[str] = field(default_factory=lambda: frozenset(tuning.CATALOGUE))
    # Secrets show as [secret] in the offline plan; pulumi-policy 1.21.0 unwraps secrets before a policy sees them
    # (pulumi_policy/deserialize.py `_deserialize_property` returns the secret's value), so under the real CLI a
    # Pulumi secret and plain text look the same and the Secret check cannot judge them.
    secrets_marked: bool = True


def _decode(text: str) -> Any:
    # The CLI passes structured config as JSON text (what `pulumi config set --path` stores); scalars stay text
    # and the settings parser reads them as the program does.
    stripped = text.strip()
    if stripped[:1] in "{[" or stripped in ("true", "false", "null") or re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", stripped):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


def facts_from_config(stack: str, config: Mapping[str, str], secret_keys: Iterable[str] = (),
                      *, secrets_marked: bool = True) -> StackFacts:
    """StackFacts from the stack config as the CLI passes it (qualified keys, JSON text): the program's own parser."""
    from components import settings  # imports pulumi: late, so the pure checks load without it

    prefix = f"{PROJECT}:"
    values = {(k[len(prefix):] if k.startswith(prefix) else k): (_decode(v) if k.startswith(prefix) else v)
              for k, v in config.items()}
    secrets = {k[len(prefix):] for k in secret_keys if k.startswith(prefix)}
    parsed = settings.parse(values, stack=stack, secret_keys=secrets)
    cidrs: list[str] = []
    if parsed.network is not None:
        net = parsed.network
        cidrs += [net.vpc_cidr, net.service_cidr, *net.client_cidrs, *net.admin_cidrs]
        cidrs += [net.pod_cidr] if net.pod_cidr else []
    cidrs += parsed.cluster.api_server.allowed_cidrs
    if parsed.vm is not None and parsed.load_balancer.type == "clb":
        # VM nodes behind a CLB admit its health checks from 100.64.0.0/10 (components/alicloud/vm_cluster.py).
        from components.alicloud.vm_cluster_spec import CLB_PROBE_CIDRS

        cidrs += CLB_PROBE_CIDRS
    # A VM stack has no service CIDR (""): no network, not "everything".
    return StackFacts(stack=stack, production=parsed.production, cidrs=tuple(dict.fromkeys(c for c in cidrs if c)),
                      secrets_marked=secrets_marked)


@dataclass(frozen=True)
class Resource:
    """One resource as a policy sees it: the offline plan's entry, or pulumi-policy's arguments."""

    type: str
    name: str
    inputs: Mapping[str, Any]
    protect: bool = False
    dependencies: tuple[str, ...] = ()
    # Input name -> the names of the resources whose outputs make up that input (Pulumi's propertyDependencies):
    # which vSwitches a node pool's vswitchIds are, where the ids themselves are not known (the CLI's preview).
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: {})


# ----------------------------------------------------------------------------------------------- helpers


def _networks(text: object) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(str(text), strict=False)]
    except ValueError:
        return []


def _ports(rule: Mapping[str, Any]) -> range | None:
    """The rule's ports; None for every port (protocol all, or -1/-1)."""
    if str(rule.get("ipProtocol", "")).lower() == "all":
        return None
    low, _, high = str(rule.get("portRange", "-1/-1")).partition("/")
    try:
        first, last = int(low), int(high or low)
    except ValueError:
        return None
    return None if first < 0 else range(first, last + 1)


@dataclass(frozen=True)
class Ingress:
    """One CIDR an ingress rule admits, whatever the cloud's shape of the rule."""

    source: str
    ports: range | None  # None: every port
    protocol: str
    description: str
    label: str  # the ports as the message shows them

    @property
    def icmp(self) -> bool:
        return self.protocol in ("icmp", "icmpv6", "1", "58")


def _aws_ports(rule: Mapping[str, Any], protocol: str) -> range | None:
    # "-1" is every protocol and so every port (pulumi_aws vpc.SecurityGroupIngressRule ip_protocol,
    # ec2.SecurityGroupRule protocol: from/to ports are ignored then).
    if protocol in ("-1", "all"):
        return None
    try:
        first, last = int(rule.get("fromPort", -1)), int(rule.get("toPort", rule.get("fromPort", -1)))
    except (TypeError, ValueError):
        return None
    return None if first < 0 or last < 0 else range(first, last + 1)


def _aws_ingress(rule: Mapping[str, Any], sources: Sequence[object], protocol: str) -> list[Ingress]:
    ports = _aws_ports(rule, protocol)
    label = "every port" if ports is None else f"{ports.start}-{ports.stop - 1}"
    return [Ingress(str(c), ports, protocol, str(rule.get("description") or ""), label) for c in sources if c]


def ingress_rules(res: Resource) -> list[Ingress]:
    """The CIDR sources a security group rule (Alibaba or AWS) admits; a rule from another group admits none."""
    inputs = res.inputs
    if res.type == SECURITY_GROUP_RULE:
        if str(inputs.get("type", "ingress")) != "ingress" or str(inputs.get("policy", "accept")) == "drop":
            return []
        source = inputs.get("cidrIp") or inputs.get("ipv6CidrIp")
        if source is None:
            return []
        return [Ingress(str(source), _ports(inputs), str(inputs.get("ipProtocol", "")).lower(),
                        str(inputs.get("description") or ""), str(inputs.get("portRange")))]
    if res.type == AWS_INGRESS_RULE:
        protocol = str(inputs.get("ipProtocol", "")).lower()
        return _aws_ingress(inputs, [inputs.get("cidrIpv4"), inputs.get("cidrIpv6")], protocol)
    blocks: list[Mapping[str, Any]] = []
    if res.type == AWS_SG_RULE and str(inputs.get("type", "")) == "ingress":
        blocks = [inputs]
    elif res.type == AWS_SECURITY_GROUP and _is_list(inputs.get("ingress")):
        blocks = [b for b in cast(Sequence[Any], inputs.get("ingress")) if isinstance(b, Mapping)]
    found: list[Ingress] = []
    for block in blocks:
        sources = [*cast(Sequence[object], block.get("cidrBlocks") or []),
                   *cast(Sequence[object], block.get("ipv6CidrBlocks") or [])]
        found += _aws_ingress(block, sources, str(block.get("protocol", "")).lower())
    return found


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, Mapping):
        for k, v in cast(Mapping[str, Any], value).items():
            yield from _walk(v, f"{path}.{k}" if path else str(k))
    elif _is_list(value):
        for i, v in enumerate(cast(Sequence[Any], value)):
            yield from _walk(v, f"{path}[{i}]")


def _is_list(value: object) -> bool:
    # pulumi-policy hands lists over as a Sequence proxy (pulumi_policy/proxy.py _ListProxy), not a list.
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _get(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = cast(Mapping[str, Any], value).get(part)
    return value


# ----------------------------------------------------------------------------------------------- policies


def _eks_public_endpoint(res: Resource) -> list[str]:
    vpc = res.inputs.get("vpcConfig")
    vpc = cast(Mapping[str, Any], vpc) if isinstance(vpc, Mapping) else {}
    # pulumi_aws eks.ClusterVpcConfig: endpoint_public_access defaults to true, and public_access_cidrs left out is
    # ["0.0.0.0/0"] ("EKS defaults this to a list with 0.0.0.0/0").
    if vpc.get("endpointPublicAccess") is False:
        return []
    cidrs = [str(c) for c in cast(Sequence[Any], vpc.get("publicAccessCidrs") or [])] or ["0.0.0.0/0"]
    wide = [c for c in cidrs if _public(c)]
    if not wide:
        return []
    return [f"the EKS public API endpoint is open to {', '.join(wide)} (wider than a /8; no publicAccessCidrs means "
            "0.0.0.0/0); set cluster.apiServer.allowedCidrs to the administrators' networks, or keep the endpoint "
            "private"]


def admin_never_public(res: Resource, facts: StackFacts) -> list[str]:
    """The dashboard (18083) and the API server never reachable from the internet (0.0.0.0/0, or any source wider
    than a /8): security group rules (Alibaba and AWS), load balancer ACLs, the EKS public endpoint."""
    del facts
    if res.type == EKS_CLUSTER:
        return _eks_public_endpoint(res)
    problems: list[str] = []
    for rule in ingress_rules(res):
        if rule.icmp or not _public(rule.source):
            continue
        opened = [what for port, what in ADMIN_PORTS.items() if rule.ports is None or port in rule.ports]
        if _ADMIN_DESCRIPTION.search(rule.description):
            opened.append(rule.description)
        if opened:
            problems.append(f"{', '.join(opened)} open to a large part of the internet ({rule.source}, wider than a "
                            "/8); set network.adminCidrs (or cluster.apiServer.allowedCidrs) to the networks "
                            "administrators use")
    entries: list[object] = []
    if res.type == ACL_ENTRY:
        entries = [res.inputs.get("entry")]
    elif res.type == ACL:
        entries = [e.get("entry") for e in cast(Sequence[Mapping[str, Any]], res.inputs.get("entryLists") or [])]
    wide = [str(e) for e in entries if _public(e)]
    if wide:
        problems.append(f"access list entry {', '.join(wide)} lets anyone reach the dashboard or API server it "
                        "guards; list only the administrators' networks (network.adminCidrs, "
                        "cluster.apiServer.allowedCidrs)")
    return problems


def rules_within_stack_cidrs(res: Resource, facts: StackFacts) -> list[str]:
    """An ingress rule opens no more than the stack's own CIDRs (ICMP excepted: path-MTU discovery needs it)."""
    allowed = [n for c in facts.cidrs for n in _networks(c)]
    problems: list[str] = []
    for rule in ingress_rules(res):
        # ICMP from anywhere is what ACK recommends for path-MTU discovery; it opens no port.
        if rule.icmp:
            continue
        for net in _networks(rule.source):
            if not any(net.version == a.version and net.subnet_of(a) for a in allowed):  # pyright: ignore[reportArgumentType]
                problems.append(f"opens {rule.label} to {rule.source}, outside the stack's networks "
                                f"({', '.join(facts.cidrs)}); add the network to network.clientCidrs or "
                                "network.adminCidrs in the stack file instead of widening a rule")
    return problems


# What "the VPC, the cluster and the load balancer" are on each platform, and each one's cloud-side switch:
# pulumi_alicloud cs.ManagedKubernetes deletion_protection, slb.ApplicationLoadBalancer delete_protection "on",
# nlb.LoadBalancer deletion_protection_config.enabled, ecs.Instance deletion_protection (VM mode: the instances are
# the cluster); pulumi_aws eks.Cluster deletion_protection, lb.LoadBalancer enable_deletion_protection. Neither
# vpc.Network nor ec2.Vpc has one: `protect` alone guards them.
_CLOUD_PROTECTION: dict[str, tuple[str, object, str] | None] = {
    VPC: None,
    AWS_VPC: None,
    CLUSTER: ("deletionProtection", True, "ACK deletion protection (deletionProtection)"),
    CLB: ("deleteProtection", "on", "CLB delete protection (deleteProtection: on)"),
    NLB: ("deletionProtectionConfig.enabled", True, "NLB deletion protection (deletionProtectionConfig.enabled)"),
    ECS_INSTANCE: ("deletionProtection", True, "ECS release protection (deletionProtection)"),
    EKS_CLUSTER: ("deletionProtection", True, "EKS deletion protection (deletionProtection)"),
    **{lb: ("enableDeletionProtection", True, "ELB deletion protection (enableDeletionProtection)") for lb in AWS_LBS},
}


def production_deletion_protection(res: Resource, facts: StackFacts) -> list[str]:
    """In production the VPC, the cluster (or the VM-mode instances) and the load balancer are `protect`ed and have
    the cloud's own protection."""
    if not facts.production or res.type not in _CLOUD_PROTECTION:
        return []
    problems: list[str] = []
    if not res.protect:
        problems.append("is not `protect`ed")
    switch = _CLOUD_PROTECTION[res.type]
    if switch is not None and _get(res.inputs, switch[0]) != switch[1]:
        problems.append(f"has no {switch[2]}")
    if not problems:
        return []
    return [f"production {res.name} {' and '.join(problems)}; keep cluster.deletionProtection (vm.deletionProtection "
            "in VM mode) true in a production stack (tearing production down is a reviewed change of `production` "
            "itself)"]


_VERSION = re.compile(r"v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}")
_DIGEST_VALUE = re.compile(r"(sha256:)?[0-9a-f]{64}")
# A tag that names a release starts with MAJOR.MINOR (5.8, v1.21.1, 1.36.1-musl); one that does not (5, stable,
# main, latest) is moved by its publisher to newer images, so the same manifest runs different code tomorrow.
_PINNED_TAG = re.compile(r"v?[0-9]+\.[0-9]+")


def tag_problem(tag: str) -> str | None:
    """None when the tag starts with a full version (v?MAJOR.MINOR[.PATCH]...)."""
    if _PINNED_TAG.match(tag):
        return None
    if tag.lower() == "latest":
        return "is tagged latest"
    return f"has the floating tag {tag!r} (no MAJOR.MINOR version)"


def image_problem(image: str) -> str | None:
    """None when the image names a fixed version (a digest, or a tag that starts with a full version)."""
    if _DIGEST.search(image):
        return None
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return "has no tag (Kubernetes pulls latest)"
    return tag_problem(name.rsplit(":", 1)[1])


def _scalar_text(value: object) -> str | None:
    # Helm values are YAML: a tag written 5.8 or 5 arrives as a number.
    if isinstance(value, bool):
        return None
    return str(value) if isinstance(value, (str, int, float)) else None


def _image_key(key: str) -> bool:
    return key.lower().endswith("image")


def _image_spec_problems(path: str, spec: Mapping[str, Any]) -> list[str]:
    """An image as Helm charts spell it in values: {repository, tag, digest} (cert-manager, emqx-operator, ...)."""
    digest = _scalar_text(spec.get("digest"))
    if digest and _DIGEST_VALUE.fullmatch(digest):
        return []
    tag = _scalar_text(spec.get("tag"))
    # No tag (or "") makes a chart use its appVersion, which the pinned chart version fixes.
    if tag:
        return [f"{path}.tag: image {spec.get('repository', '')}:{tag} {bad}; name a released version (or a "
                "digest)" for bad in [tag_problem(tag)] if bad]
    repository = _scalar_text(spec.get("repository"))
    if repository and ":" in repository.rsplit("/", 1)[-1] and (bad := image_problem(repository)):
        return [f"{path}.repository: image {repository} {bad}; name a released version (or a digest)"]
    return []


def pinned_versions(res: Resource, facts: StackFacts) -> list[str]:
    """Every Helm release names an exact chart version; every image a released version (or a digest), in Kubernetes
    objects and in Helm values alike."""
    del facts
    problems: list[str] = []
    if res.type in HELM_RELEASES:
        version = res.inputs.get("version")
        if not isinstance(version, str) or not _VERSION.fullmatch(version):
            problems.append(f"chart {res.inputs.get('chart')} has version {version!r}, not an exact release; set the "
                            "chart's version (charts.* in the stack file) to one released version, e.g. 1.2.3")
    if not res.type.startswith("kubernetes:"):
        return problems
    specs: set[str] = set()  # the image specs judged whole: their own tag is not judged again below
    for path, value in _walk(res.inputs):
        key = path.rsplit(".", 1)[-1].split("[", 1)[0]
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        text = _scalar_text(value)
        if _image_key(key) and isinstance(value, str) and (bad := image_problem(value)):
            problems.append(f"{path}: image {value} {bad}; name a released version")
        elif isinstance(value, Mapping) and (_image_key(key) or "repository" in value):
            specs.add(path)
            problems += _image_spec_problems(path, cast(Mapping[str, Any], value))
        elif key.lower() in ("imagetag", "image_tag") and text and (bad := tag_problem(text)):
            problems.append(f"{path}: image tag {text} {bad}; name a released version")
        elif key == "tag" and parent not in specs and text is not None and text.lower() == "latest":
            problems.append(f"{path}: tag latest; name a released version")
    return problems


# A value that looks like a credential in plain text: a PEM private key, an Alibaba Cloud or AWS access key id, an
# assignment of a password/secret/token to a literal, or a long run of key-like characters.
# ASCII classes spelled out (the project's rule for patterns: \s and \b are Unicode-aware with str patterns).
_SP = r"[ \t\r\n]"  # one whitespace character
_NOT_SP = r"[^ \t\r\n'\"]"  # one character of an unquoted shell word
_WORD_START = r"(?<![A-Za-z0-9_])"
_WORD_END = r"(?![A-Za-z0-9_])"
# A value that starts with $, {, < or a quote is a reference ($VAR, ${VAR}, $(cat file), {{ template }},
# <placeholder>), not a key.
_LITERAL = r"(?![$'\"{<])"
# The name may be quoted (JSON, YAML: "password": "..."), the value a shell/JSON/YAML literal.
_KEY_LIKE = (
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(_WORD_START + r"(LTAI[0-9A-Za-z]{12,}|AKIA[0-9A-Z]{16})" + _WORD_END),
    re.compile(r"(?i)" + _WORD_START + r"[a-z_-]*(password|passwd|secret|token|license|licence|api[_-]?key)[a-z_-]*"
               r"['\"]?" + _SP + r"*[=:]" + _SP + r"*['\"]?" + _LITERAL + _NOT_SP + r"{8,}"),
    # An HTTP credential in a header (curl -H "Authorization: Bearer ...", or Basic user:password in base64).
    re.compile(r"(?i)" + _WORD_START + r"bearer" + _SP + r"+" + _LITERAL + r"[A-Za-z0-9._~+/-]{16,}=*"),
    re.compile(r"(?i)" + _WORD_START + r"authorization" + _SP + r"*:" + _SP + r"*basic" + _SP + r"+" + _LITERAL
               + r"[A-Za-z0-9+/]{8,}=*"),
    # A JSON Web Token: base64url JSON header and payload ({"... encodes as eyJ).
    re.compile(_WORD_START + r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\."),
)

def looks_like_key(text: str) -> bool:
    return any(p.search(text) for p in _KEY_LIKE)


def _user_data_text(value: str) -> str:
    # ACK, ECS and EC2 launch templates take user data base64-encoded (pulumi_alicloud cs.NodePool user_data /
    # pre_user_data, ecs.Instance user_data; pulumi_aws ec2.LaunchTemplate user_data).
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return value


def _write_file_content(entry: Mapping[str, Any]) -> str:
    # cloud-init write_files `encoding`: b64/base64, gz/gzip, gz+b64 (cloud-init cc_write_files).
    content = entry.get("content")
    text = content if isinstance(content, str) else ""
    encoding = str(entry.get("encoding") or "text/plain").lower()
    try:
        raw = text.encode()
        if "b64" in encoding or "base64" in encoding:
            raw = base64.b64decode(raw)
        if "gz" in encoding:
            raw = gzip.decompress(raw)
        return raw.decode("utf-8")
    except (binascii.Error, OSError, UnicodeDecodeError, ValueError):
        return text


def user_data_parts(text: str) -> list[tuple[str | None, str]]:
    """The scripts and files a node's user data carries, as (path or None, text): the document itself, each part
    of a MIME multi-part document (the EKS NodeConfig + cloud-config the AWS launch templates carry), and in a
    #cloud-config each write_files file (its YAML indentation removed) and each runcmd/bootcmd command."""
    documents = [text]
    if text.lstrip().startswith(("MIME-Version:", "Content-Type: multipart")):
        message = email.message_from_string(text)
        documents += [payload for part in message.walk() if not part.is_multipart()
                      and isinstance(payload := part.get_payload(decode=False), str)]
    parts: list[tuple[str | None, str]] = []
    for document in documents:
        parts.append((None, document))
        if not document.lstrip().startswith("#cloud-config"):
            continue
        try:
            config = yaml.safe_load(document)
        except yaml.YAMLError:
            continue
        if not isinstance(config, Mapping):
            continue
        config = cast(Mapping[str, Any], config)
        for entry in cast(Sequence[Any], config.get("write_files") or []):
            if isinstance(entry, Mapping):
                entry = cast(Mapping[str, Any], entry)
                parts.append((str(entry.get("path") or ""), _write_file_content(entry)))
        for key in ("bootcmd", "runcmd"):
            for command in cast(Sequence[Any], config.get(key) or []):
                words = cast(Sequence[Any], command) if _is_list(command) else [command]
                parts.append((None, " ".join(str(w) for w in words)))
    return parts


def no_plain_text_secrets(res: Resource, facts: StackFacts) -> list[str]:
    """A Kubernetes Secret holds only Pulumi secrets; node user data holds no credentials at all."""
    problems: list[str] = []
    if res.type == K8S_SECRET and facts.secrets_marked:
        for section in ("data", "stringData"):
            for key, value in cast(Mapping[str, Any], res.inputs.get(section) or {}).items():
                if value not in (SECRET_TEXT, None, ""):
                    problems.append(f"{section}.{key} is plain text; make it a Pulumi secret (pulumi.Output.secret, "
                                    "or a config value set with `pulumi config set --secret`)")
    # A VM-mode OOS secret parameter (components/alicloud/vm_secrets.py) holds the cookie, licence and passwords.
    if res.type == OOS_SECRET and facts.secrets_marked and res.inputs.get("value") not in (SECRET_TEXT, None, ""):
        problems.append("value is plain text; make it a Pulumi secret (pulumi.Output.secret, or a config value set "
                        "with `pulumi config set --secret`)")
    if res.type in USER_DATA_TYPES:
        for key in ("userData", "preUserData"):
            value = res.inputs.get(key)
            if isinstance(value, str) and value != SECRET_TEXT and any(
                    looks_like_key(text) for _, text in user_data_parts(_user_data_text(value))):
                problems.append(f"{key} carries what looks like a key or password in plain text; node user data is "
                                "readable from the instance metadata and by anyone with read access to the instance "
                                "or launch template: deliver credentials through a Kubernetes Secret (VM mode: an "
                                "OOS secret parameter)")
    return problems


def emqx_waits_for_ready(res: Resource, facts: StackFacts) -> list[str]:
    """The EMQX resource tells Pulumi what ready means (pulumi.com/waitFor), or `up` returns before EMQX serves."""
    del facts
    if res.type != EMQX:
        return []
    # pulumi-kubernetes 4.x waits on a custom resource only when this annotation says for what (its await logic
    # treats custom resources as ready once created otherwise).
    annotations = _get(res.inputs, "metadata.annotations")
    if isinstance(annotations, Mapping) and annotations.get("pulumi.com/waitFor"):
        return []
    return ["the EMQX resource has no pulumi.com/waitFor annotation, so `pulumi up` would report success before the "
            "cluster is ready; keep the annotation components/workloads/emqx_cluster.py sets"]


_HEREDOC = re.compile(r"<<'EMQX_SYSCTLS'\n(.*?)\nEMQX_SYSCTLS", re.DOTALL)
# A sysctl key: dotted (net.core.somaxconn) or, as sysctl(8) and sysctl.d(5) also accept, slashed (net/core/somaxconn).
_KEY = r"[a-z][a-z0-9_]*(?:[./][a-z0-9_*-]+)+"
# `sysctl [-q -w ...] key=value ...`, each argument quoted or not, up to the end of the shell command; a key that
# is a variable ("$key=$want") is the program's own catalogue loop and names nothing here.
_SYSCTL_COMMAND = re.compile(_WORD_START + r"sysctl" + _WORD_END + r"([^;&|\n]*)")
_SYSCTL_ARGUMENT = re.compile(r"(?:^|" + _SP + r")['\"]?(" + _KEY + r")" + _SP + r"*=")
# A write to the kernel's own files: `echo 1 > /proc/sys/net/ipv4/ip_forward`, `... | tee -a /proc/sys/...`.
_PROC_SYS_WRITE = re.compile(r"(?:>>?|" + _WORD_START + r"tee" + _SP + r"+(?:-[a-z]+" + _SP + r"+)*)" + _SP
                             + r"*['\"]?/proc/sys/([a-z0-9_./*-]+)")
# A file systemd-sysctl applies at boot (sysctl.d(5)): /etc/sysctl.conf or /etc/sysctl.d/*.conf.
_SYSCTL_FILE = r"/etc/sysctl(?:\.d/[^ \t\r\n'\"<>;|&]*|\.conf)"
_MARKER = r"<<-?" + _SP + r"*['\"]?(?P<{}>[A-Za-z_][A-Za-z0-9_]*)['\"]?"
# Written from a here-document (`cat > /etc/sysctl.d/x.conf <<EOF ... EOF`, tee, <<-, quoted markers) ...
_SYSCTL_FILE_HEREDOC = re.compile(
    r"^[^\n]*(?:" + _SYSCTL_FILE + r"[^\n]*" + _MARKER.format("m1") + r"|" + _MARKER.format("m2") + r"[^\n]*"
    + _SYSCTL_FILE + r")[^\n]*\n(?P<body>.*?)\n" + _SP + r"*(?:(?P=m1)|(?P=m2))" + _SP + r"*$",
    re.DOTALL | re.MULTILINE)
# ... or a line at a time (`echo "key = value" >> /etc/sysctl.d/x.conf`, printf).
_SYSCTL_FILE_LINE = re.compile(_WORD_START + r"(?:echo|printf)" + _SP + r"+(?:-[a-z]+" + _SP + r"+)*['\"]?-?(" + _KEY
                               + r")" + _SP + r"*=[^\n]*>>?" + _SP + r"*['\"]?" + _SYSCTL_FILE)
# One `key = value` line of a sysctl.d file ("-key" ignores a failure to set it; # and ; start comments).
_SYSCTL_FILE_ENTRY = re.compile(r"^" + _SP + r"*-?(" + _KEY + r")" + _SP + r"*=", re.MULTILINE)

def _key_name(key: str) -> str:
    return key.replace("/", ".")


def _script_sysctls(text: str) -> set[str]:
    """The sysctl keys a shell script sets: sysctl commands, /proc/sys writes, sysctl.d files it writes."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    names: set[str] = set()
    for arguments in _SYSCTL_COMMAND.findall(code):
        names |= {_key_name(k) for k in _SYSCTL_ARGUMENT.findall(arguments)}
    names |= {_key_name(k) for k in _PROC_SYS_WRITE.findall(code)}
    for match in _SYSCTL_FILE_HEREDOC.finditer(text):
        names |= {_key_name(k) for k in _SYSCTL_FILE_ENTRY.findall(match.group("body"))}
    names |= {_key_name(k) for k in _SYSCTL_FILE_LINE.findall(code)}
    return names


def sysctl_names(res: Resource) -> set[str]:
    """Every sysctl key the resource sets or allows: pod securityContext, kubelet allow-list, scripts."""
    names: set[str] = set()
    for path, value in _walk(res.inputs):
        key = path.rsplit(".", 1)[-1]
        if key == "sysctls" and _is_list(value):
            names |= {str(s.get("name")) for s in cast(Sequence[Mapping[str, Any]], value) if isinstance(s, Mapping)}
        elif key == "allowedUnsafeSysctls" and _is_list(value):
            names |= {str(s) for s in cast(Sequence[Any], value)}
        elif isinstance(value, str) and ("sysctl" in value or "/proc/sys" in value
                                         or key in ("userData", "preUserData")):
            parts = (user_data_parts(_user_data_text(value)) if key in ("userData", "preUserData")
                     else [(None, value)])
            for path_, text in parts:
                for block in _HEREDOC.findall(text):
                    names |= {line.split()[0] for line in block.splitlines() if line.strip()}
                names |= _script_sysctls(text)
                # A sysctl.d file cloud-init writes itself (write_files).
                if path_ and re.fullmatch(_SYSCTL_FILE, path_):
                    names |= {_key_name(k) for k in _SYSCTL_FILE_ENTRY.findall(text)}
    return names


def sysctls_in_catalogue(res: Resource, facts: StackFacts) -> list[str]:
    """No kernel key outside the kernel profile's catalogue (components/tuning.py CATALOGUE)."""
    unknown = sorted(sysctl_names(res) - facts.sysctls)
    if not unknown:
        return []
    return [f"sets sysctl {', '.join(unknown)}, not in the kernel profile's catalogue; add the key to "
            "components/tuning.py CATALOGUE (with its range and reason) or remove it"]


def _pool_role(pool: Resource) -> str:
    labels = pool.inputs.get("labels")
    if isinstance(labels, Mapping):  # pulumi_aws eks.NodeGroup labels: a map
        return str(cast(Mapping[str, Any], labels).get(POOL_LABEL, pool.name))
    listed = cast(Sequence[Mapping[str, Any]], labels or [])  # pulumi_alicloud cs.NodePool labels: key/value items
    return next((str(lab.get("value")) for lab in listed if lab.get("key") == POOL_LABEL), pool.name)


def production_zones(resources: Sequence[Resource], facts: StackFacts) -> list[tuple[str | None, str]]:
    """In production each node pool role (system, emqx, ...) spreads over at least 3 zones: ACK node pools, EKS node
    groups, and in VM mode the instances of each EMQX role."""
    if not facts.production:
        return []
    zone_of = {r.name: str(r.inputs.get("zoneId")) for r in resources if r.type == VSWITCH}
    zone_of |= {r.name: str(r.inputs.get("availabilityZone")) for r in resources if r.type == AWS_SUBNET}
    zones: dict[str, set[str]] = {}
    # The nodes land in the vSwitches of vswitchIds (pulumi_alicloud cs.NodePool vswitch_ids) or the subnets of
    # subnetIds (pulumi_aws eks.NodeGroup subnet_ids), so only those count: a pool's other dependencies (the cluster,
    # a component, a vSwitch it no longer lists) say nothing of where its nodes run. A listed id that is no
    # vSwitch or subnet of this stack counts as no known zone.
    for pool in (r for r in resources if r.type in (NODE_POOL, EKS_NODE_GROUP)):
        listed = pool.property_dependencies.get("vswitchIds" if pool.type == NODE_POOL else "subnetIds", ())
        zones.setdefault(_pool_role(pool), set()).update(zone_of[d] for d in listed if d in zone_of)
    problems: list[tuple[str | None, str]] = [
        (None, f"production node pool {role!r} spans {len(z)} known zone(s) ({', '.join(sorted(z)) or 'none'}) in "
               f"its vswitchIds/subnetIds; list at least {MIN_PRODUCTION_ZONES} zones in cloud.zones and keep every "
               "pool of the role on the stack's vSwitches or subnets")
        for role, z in sorted(zones.items()) if len(z) < MIN_PRODUCTION_ZONES]
    # VM mode: each instance sits in the one vSwitch of its vswitchId; a role of n < 3 instances can reach n zones.
    instances: dict[str, list[Resource]] = {}
    for node in (r for r in resources if r.type == ECS_INSTANCE):
        tags = node.inputs.get("tags")
        role = str(cast(Mapping[str, Any], tags).get(VM_ROLE_TAG, "")) if isinstance(tags, Mapping) else ""
        instances.setdefault(role or node.name, []).append(node)
    for role, nodes in sorted(instances.items()):
        reached = {zone_of[d] for n in nodes for d in n.property_dependencies.get("vswitchId", ()) if d in zone_of}
        if len(reached) < min(MIN_PRODUCTION_ZONES, len(nodes)):
            problems.append((None, f"production EMQX {role} instances ({len(nodes)}) span {len(reached)} known "
                                   f"zone(s) ({', '.join(sorted(reached)) or 'none'}); list at least "
                                   f"{MIN_PRODUCTION_ZONES} zones in cloud.zones and keep every instance on the "
                                   "stack's vSwitches"))
    return problems


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Any  # (Resource, StackFacts) -> list[str], or for a stack rule (resources, StackFacts) -> [(name, msg)]
    stack: bool = False


RULES: tuple[Rule, ...] = (
    Rule("admin-never-public", "The EMQX dashboard (18083) and the Kubernetes API server are never open to "
         "0.0.0.0/0 or any source wider than a /8 (Alibaba and AWS security group rules, load balancer access "
         "lists, the EKS public endpoint's publicAccessCidrs).",
         admin_never_public),
    Rule("rules-within-stack-cidrs", "Security group ingress rules open no more than the stack's own networks "
         "(VPC, pods, services, network.clientCidrs, network.adminCidrs, cluster.apiServer.allowedCidrs).",
         rules_within_stack_cidrs),
    Rule("production-deletion-protection", "In production the VPC, the cluster (ACK, EKS, or the VM-mode ECS "
         "instances) and the load balancer (CLB, NLB, ELB) are protected (Pulumi protect and the cloud's deletion "
         "protection).", production_deletion_protection),
    Rule("pinned-versions", "Every Helm release and container image is pinned to a version (a digest or a tag that "
         "starts with MAJOR.MINOR: no latest, stable, main or bare major), in Kubernetes objects and Helm values.",
         pinned_versions),
    Rule("no-plain-text-secrets", "Kubernetes Secrets and OOS secret parameters hold only Pulumi secrets; node user "
         "data (ACK node pools, EC2 launch templates, ECS instances) holds no keys.",
         no_plain_text_secrets),
    Rule("emqx-waits-for-ready", "The EMQX resource carries pulumi.com/waitFor.", emqx_waits_for_ready),
    Rule("sysctls-in-catalogue", "No sysctl outside the kernel profile's catalogue (components/tuning.py).",
         sysctls_in_catalogue),
    Rule("production-zones", f"In production every node pool role (ACK node pools, EKS node groups, VM-mode "
         f"instances of an EMQX role) spans at least {MIN_PRODUCTION_ZONES} zones.",
         production_zones, stack=True),
)
