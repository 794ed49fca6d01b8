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
import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

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
    return StackFacts(stack=stack, production=parsed.production, cidrs=tuple(dict.fromkeys(cidrs)),
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


def admin_never_public(res: Resource, facts: StackFacts) -> list[str]:
    """The dashboard (18083) and the API server never reachable from the internet (0.0.0.0/0, or any source wider
    than a /8): security group rules and load balancer ACLs."""
    del facts
    if res.type == SECURITY_GROUP_RULE:
        if str(res.inputs.get("type", "ingress")) != "ingress" or str(res.inputs.get("policy", "accept")) == "drop":
            return []
        if not _public(res.inputs.get("cidrIp") or res.inputs.get("ipv6CidrIp")):
            return []
        ports = _ports(res.inputs)
        if str(res.inputs.get("ipProtocol", "")).lower() == "icmp":
            return []
        opened = [what for port, what in ADMIN_PORTS.items() if ports is None or port in ports]
        if _ADMIN_DESCRIPTION.search(str(res.inputs.get("description", ""))):
            opened.append(str(res.inputs.get("description")))
        if not opened:
            return []
        return [f"{', '.join(opened)} open to a large part of the internet "
                f"({res.inputs.get('cidrIp') or res.inputs.get('ipv6CidrIp')}, wider than a /8); set "
                "network.adminCidrs (or cluster.apiServer.allowedCidrs) to the networks administrators use"]
    entries: list[object] = []
    if res.type == ACL_ENTRY:
        entries = [res.inputs.get("entry")]
    elif res.type == ACL:
        entries = [e.get("entry") for e in cast(Sequence[Mapping[str, Any]], res.inputs.get("entryLists") or [])]
    wide = [str(e) for e in entries if _public(e)]
    return [f"access list entry {', '.join(wide)} lets anyone reach the dashboard or API server it guards; list only "
            "the administrators' networks (network.adminCidrs, cluster.apiServer.allowedCidrs)"] if wide else []


def rules_within_stack_cidrs(res: Resource, facts: StackFacts) -> list[str]:
    """An ingress rule opens no more than the stack's own CIDRs (ICMP excepted: path-MTU discovery needs it)."""
    if res.type != SECURITY_GROUP_RULE or str(res.inputs.get("type", "ingress")) != "ingress":
        return []
    # ICMP from anywhere is what ACK recommends for path-MTU discovery; it opens no port.
    if str(res.inputs.get("ipProtocol", "")).lower() == "icmp":
        return []
    allowed = [n for c in facts.cidrs for n in _networks(c)]
    source = res.inputs.get("cidrIp") or res.inputs.get("ipv6CidrIp")
    if source is None:
        return []  # a rule from another security group, not from a CIDR
    for net in _networks(source):
        if not any(net.version == a.version and net.subnet_of(a) for a in allowed):  # pyright: ignore[reportArgumentType]
            return [f"opens {res.inputs.get('portRange')} to {source}, outside the stack's networks "
                    f"({', '.join(facts.cidrs)}); add the network to network.clientCidrs or network.adminCidrs "
                    "in the stack file instead of widening a rule"]
    return []


def production_deletion_protection(res: Resource, facts: StackFacts) -> list[str]:
    """In production the VPC, the cluster and the load balancer are `protect`ed and have the cloud's own protection."""
    if not facts.production or res.type not in (VPC, CLUSTER, CLB, NLB):
        return []
    problems: list[str] = []
    if not res.protect:
        problems.append("is not `protect`ed")
    # The cloud-side switches (pulumi_alicloud cs.ManagedKubernetes deletion_protection, slb.ApplicationLoadBalancer
    # delete_protection "on", nlb.LoadBalancer deletion_protection_config.enabled); vpc.Network has none.
    if res.type == CLUSTER and res.inputs.get("deletionProtection") is not True:
        problems.append("has no ACK deletion protection (deletionProtection)")
    if res.type == CLB and res.inputs.get("deleteProtection") != "on":
        problems.append("has no CLB delete protection (deleteProtection: on)")
    if res.type == NLB and _get(res.inputs, "deletionProtectionConfig.enabled") is not True:
        problems.append("has no NLB deletion protection (deletionProtectionConfig.enabled)")
    if not problems:
        return []
    return [f"production {res.name} {' and '.join(problems)}; keep cluster.deletionProtection true in a production "
            "stack (tearing production down is a reviewed change of `production` itself)"]


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
    # ACK takes user data base64-encoded (pulumi_alicloud cs.NodePool user_data / pre_user_data).
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return value


def no_plain_text_secrets(res: Resource, facts: StackFacts) -> list[str]:
    """A Kubernetes Secret holds only Pulumi secrets; node user data holds no credentials at all."""
    problems: list[str] = []
    if res.type == K8S_SECRET and facts.secrets_marked:
        for section in ("data", "stringData"):
            for key, value in cast(Mapping[str, Any], res.inputs.get(section) or {}).items():
                if value not in (SECRET_TEXT, None, ""):
                    problems.append(f"{section}.{key} is plain text; make it a Pulumi secret (pulumi.Output.secret, "
                                    "or a config value set with `pulumi config set --secret`)")
    if res.type == NODE_POOL:
        for key in ("userData", "preUserData"):
            value = res.inputs.get(key)
            if isinstance(value, str) and value != SECRET_TEXT and looks_like_key(_user_data_text(value)):
                problems.append(f"{key} carries what looks like a key or password in plain text; node user data is "
                                "readable from the instance metadata: deliver credentials through a Kubernetes Secret")
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
            text = _user_data_text(value) if key in ("userData", "preUserData") else value
            for block in _HEREDOC.findall(text):
                names |= {line.split()[0] for line in block.splitlines() if line.strip()}
            names |= _script_sysctls(text)
    return names


def sysctls_in_catalogue(res: Resource, facts: StackFacts) -> list[str]:
    """No kernel key outside the kernel profile's catalogue (components/tuning.py CATALOGUE)."""
    unknown = sorted(sysctl_names(res) - facts.sysctls)
    if not unknown:
        return []
    return [f"sets sysctl {', '.join(unknown)}, not in the kernel profile's catalogue; add the key to "
            "components/tuning.py CATALOGUE (with its range and reason) or remove it"]


def production_zones(resources: Sequence[Resource], facts: StackFacts) -> list[tuple[str | None, str]]:
    """In production each node pool role (system, emqx, ...) spreads over at least 3 zones."""
    if not facts.production:
        return []
    zone_of = {r.name: str(r.inputs.get("zoneId")) for r in resources if r.type == VSWITCH}
    zones: dict[str, set[str]] = {}
    for pool in (r for r in resources if r.type == NODE_POOL):
        labels = cast(Sequence[Mapping[str, Any]], pool.inputs.get("labels") or [])
        role = next((str(lab.get("value")) for lab in labels if lab.get("key") == POOL_LABEL), pool.name)
        # The nodes land in the vSwitches of vswitchIds (pulumi_alicloud cs.NodePool vswitch_ids), so only those
        # count: a pool's other dependencies (the cluster, a component, a vSwitch it no longer lists) say nothing of
        # where its nodes run. A listed id that is no vSwitch of this stack counts as no known zone.
        listed = pool.property_dependencies.get("vswitchIds", ())
        zones.setdefault(role, set()).update(zone_of[d] for d in listed if d in zone_of)
    return [(None, f"production node pool {role!r} spans {len(z)} known zone(s) ({', '.join(sorted(z)) or 'none'}) "
                   f"in its vswitchIds; list at least {MIN_PRODUCTION_ZONES} zones in cloud.zones and keep every "
                   "pool of the role on the stack's vSwitches")
            for role, z in sorted(zones.items()) if len(z) < MIN_PRODUCTION_ZONES]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Any  # (Resource, StackFacts) -> list[str], or for a stack rule (resources, StackFacts) -> [(name, msg)]
    stack: bool = False


RULES: tuple[Rule, ...] = (
    Rule("admin-never-public", "The EMQX dashboard (18083) and the Kubernetes API server are never open to "
         "0.0.0.0/0 or any source wider than a /8 (security group rules, load balancer access lists).",
         admin_never_public),
    Rule("rules-within-stack-cidrs", "Security group ingress rules open no more than the stack's own networks "
         "(VPC, pods, services, network.clientCidrs, network.adminCidrs, cluster.apiServer.allowedCidrs).",
         rules_within_stack_cidrs),
    Rule("production-deletion-protection", "In production the VPC, the cluster and the load balancer are protected "
         "(Pulumi protect and the cloud's deletion protection).", production_deletion_protection),
    Rule("pinned-versions", "Every Helm release and container image is pinned to a version (a digest or a tag that "
         "starts with MAJOR.MINOR: no latest, stable, main or bare major), in Kubernetes objects and Helm values.",
         pinned_versions),
    Rule("no-plain-text-secrets", "Kubernetes Secrets hold only Pulumi secrets; node user data holds no keys.",
         no_plain_text_secrets),
    Rule("emqx-waits-for-ready", "The EMQX resource carries pulumi.com/waitFor.", emqx_waits_for_ready),
    Rule("sysctls-in-catalogue", "No sysctl outside the kernel profile's catalogue (components/tuning.py).",
         sysctls_in_catalogue),
    Rule("production-zones", f"In production every node pool role spans at least {MIN_PRODUCTION_ZONES} zones.",
         production_zones, stack=True),
)
