"""The policy pack (policy/): each policy on hand-built resources through pulumi-policy's own argument types, the
whole pack over every shipped stack's offline plan, and mutated plans that must fail with the expected policy."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy import pack, rules
from preview import engine, writers
from tests.conftest import REPO_ROOT, StackRunner
from tools import policy_check

PROD = rules.StackFacts(stack="prod", production=True, cidrs=("10.20.0.0/16", "172.20.0.0/16", "10.0.0.0/8"))
DEV = rules.StackFacts(stack="dev", production=False, cidrs=("10.10.0.0/16",))
SHIPPED = ("dev", "prod", "local")


def _options(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _policy(name: str, facts: rules.StackFacts) -> Any:
    return next(p for p in pack.policies(lambda: facts) if p.name == name)


def violations(name: str, type_: str, inputs: Mapping[str, Any], *, protect: bool = False,
               facts: rules.StackFacts = PROD) -> list[str]:
    """The messages one policy reports for one resource, called as the CLI's analyzer calls it."""
    policy = _policy(name, facts)
    assert isinstance(policy, ResourceValidationPolicy)
    found: list[str] = []
    args = ResourceValidationArgs(type_, inputs, f"urn:pulumi:t::emqx-platform::{type_}::r", "r", _options(protect),
                                  None)
    policy.validate(args, lambda message, urn=None: found.append(message))
    return found


def _sg_rule(cidr: str, ports: str = "18083/18083", protocol: str = "tcp", description: str = "") -> dict[str, Any]:
    return {"cidrIp": cidr, "ipProtocol": protocol, "portRange": ports, "type": "ingress", "policy": "accept",
            "nicType": "intranet", "description": description}


# ------------------------------------------------------------------------------------------ one policy at a time


@pytest.mark.parametrize(("rule", "expected"), [
    (_sg_rule("0.0.0.0/0"), True),
    (_sg_rule("0.0.0.0/0", "6443/6443"), True),
    (_sg_rule("0.0.0.0/0", "1/65535"), True),
    (_sg_rule("0.0.0.0/0", "-1/-1", "all"), True),
    (_sg_rule("0.0.0.0/0", "31808/31808", description="EMQX dashboard and API"), True),
    (_sg_rule("10.20.0.0/16"), False),
    (_sg_rule("0.0.0.0/0", "1883/1883", description="MQTT clients"), False),
    (_sg_rule("0.0.0.0/0", "-1/-1", "icmp"), False),
    # Wider than a /8 is public too (the settings' line for network.adminCidrs): half the internet, twice.
    (_sg_rule("0.0.0.0/1"), True),
    (_sg_rule("128.0.0.0/1", "6443/6443"), True),
    (_sg_rule("64.0.0.0/7"), True),
    (_sg_rule("10.0.0.0/8"), False),
    (_sg_rule("0.0.0.0/1", "1883/1883", description="MQTT clients"), False),
])
def test_admin_ports_never_open_to_everyone(rule: dict[str, Any], expected: bool) -> None:
    found = violations("admin-never-public", rules.SECURITY_GROUP_RULE, rule)
    assert bool(found) is expected, found


def test_admin_access_lists_refuse_everyone() -> None:
    assert violations("admin-never-public", rules.ACL_ENTRY, {"aclId": "a", "entry": "0.0.0.0/0"})
    assert violations("admin-never-public", rules.ACL, {"entryLists": [{"entry": "0.0.0.0/0"}]})
    assert not violations("admin-never-public", rules.ACL_ENTRY, {"aclId": "a", "entry": "10.20.0.0/16"})
    assert not violations("admin-never-public", rules.ACL_ENTRY, {"aclId": "a", "entry": "10.0.0.0/8"})
    # Any entry wider than a /8 lets a large part of the internet reach the API server.
    assert violations("admin-never-public", rules.ACL_ENTRY, {"aclId": "a", "entry": "0.0.0.0/1"})
    assert violations("admin-never-public", rules.ACL, {"entryLists": [{"entry": "10.0.0.0/8"},
                                                                      {"entry": "128.0.0.0/2"}]})


@pytest.mark.parametrize(("cidr", "protocol", "expected"), [
    ("10.20.0.0/16", "tcp", False),
    ("10.20.64.0/18", "tcp", False),  # a vSwitch inside the VPC
    ("10.1.2.0/24", "tcp", False),  # inside a client CIDR
    ("10.0.0.0/7", "tcp", True),  # wider than any of them
    ("192.168.0.0/16", "tcp", True),
    ("0.0.0.0/0", "icmp", False),  # path-MTU discovery, no port
    ("0.0.0.0/0", "udp", True),
])
def test_rules_stay_within_the_stacks_cidrs(cidr: str, protocol: str, expected: bool) -> None:
    found = violations("rules-within-stack-cidrs", rules.SECURITY_GROUP_RULE, _sg_rule(cidr, "1883/1883", protocol))
    assert bool(found) is expected, found


@pytest.mark.parametrize(("type_", "inputs"), [
    (rules.VPC, {"cidrBlock": "10.20.0.0/16"}),
    (rules.CLUSTER, {"deletionProtection": True}),
    (rules.CLB, {"deleteProtection": "on"}),
    (rules.NLB, {"deletionProtectionConfig": {"enabled": True}}),
])
def test_production_keeps_network_cluster_and_load_balancer(type_: str, inputs: dict[str, Any]) -> None:
    name = "production-deletion-protection"
    assert not violations(name, type_, inputs, protect=True)
    assert violations(name, type_, inputs, protect=False)  # protect missing
    assert not violations(name, type_, inputs, protect=False, facts=DEV)  # not production: nothing asked
    if type_ != rules.VPC:  # the VPC has no cloud-side switch (pulumi_alicloud vpc.Network)
        unprotected = {k: (False if v is True else "off" if v == "on" else {"enabled": False})
                       for k, v in inputs.items()}
        assert violations(name, type_, unprotected, protect=True)


@pytest.mark.parametrize(("version", "expected"), [
    ("v1.21.1", False), ("2.2.29", False), ("1.0.0-rc.1", False),
    (None, True), ("", True), ("latest", True), ("^2.2", True), ("2.x", True), ("2.2", True),
])
def test_helm_releases_pinned(version: str | None, expected: bool) -> None:
    found = violations("pinned-versions", rules.HELM_RELEASES[0], {"chart": "emqx-operator", "version": version})
    assert bool(found) is expected, found


@pytest.mark.parametrize(("image", "expected"), [
    ("emqx/emqx:5.10.3", False),
    ("registry.example.com:5000/emqx/emqx:5.8.9", False),
    ("emqx/emqx@sha256:" + "a" * 64, False),
    ("emqx/emqx", True),
    ("registry.example.com:5000/emqx/emqx", True),
    ("emqx/emqx:latest", True),
    ("busybox:1.36.1-musl", False),
    ("quay.io/jetstack/cert-manager-controller:v1.21.1", False),
    # Floating tags: the publisher moves them to newer images.
    ("emqx/emqx:5", True),
    ("busybox:stable", True),
    ("ghcr.io/example/tool:main", True),
    ("registry.example.com:5000/emqx/emqx:5", True),
])
def test_images_pinned(image: str, expected: bool) -> None:
    inputs = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}
    found = violations("pinned-versions", "kubernetes:apps/v1:DaemonSet", inputs)
    assert bool(found) is expected, found


def test_chart_values_with_latest_tag_refused() -> None:
    inputs = {"chart": "cert-manager", "version": "v1.21.1", "values": {"image": {"tag": "latest"}}}
    assert violations("pinned-versions", rules.HELM_RELEASES[0], inputs)


@pytest.mark.parametrize(("values", "expected"), [
    ({"image": {"repository": "emqx/emqx-operator-controller", "tag": "2.2.29"}}, False),
    ({"image": {"repository": "quay.io/jetstack/cert-manager-controller", "tag": "v1.21.1"}}, False),
    ({"image": {"repository": "emqx/emqx-operator-controller"}}, False),  # the chart's appVersion
    ({"image": {"repository": "x/y", "tag": "main", "digest": "sha256:" + "b" * 64}}, False),
    ({"controller": {"image": {"repository": "x/y", "tag": 5.8}}}, False),  # YAML number, still MAJOR.MINOR
    ({"image": {"repository": "x/y", "tag": "main"}}, True),
    ({"image": {"repository": "x/y", "tag": "stable"}}, True),
    ({"controller": {"image": {"repository": "x/y", "tag": 5}}}, True),
    ({"webhook": {"repository": "x/y", "tag": "edge"}}, True),
    ({"image": {"repository": "x/y:5"}}, True),
    ({"sidecar": {"image": "busybox:stable"}}, True),
    ({"sidecar": {"imageTag": "main"}}, True),
    ({"sidecar": {"imageTag": "1.36.1"}}, False),
])
def test_chart_values_images_pinned(values: dict[str, Any], expected: bool) -> None:
    inputs = {"chart": "emqx-operator", "version": "2.2.29", "values": values}
    found = violations("pinned-versions", rules.HELM_RELEASES[0], inputs)
    assert bool(found) is expected, found


def test_secret_values_must_be_pulumi_secrets() -> None:
    name = "no-plain-text-secrets"
    assert not violations(name, rules.K8S_SECRET, {"stringData": {"license-key": rules.SECRET_TEXT}})
    assert violations(name, rules.K8S_SECRET, {"stringData": {"license-key": "plain"}})
    assert violations(name, rules.K8S_SECRET, {"data": {"password": base64.b64encode(b"hunter22").decode()}})
    # Under the real CLI secrets arrive unwrapped: the Secret check cannot tell them apart and stays silent.
    cli = rules.StackFacts(stack="prod", production=True, cidrs=(), secrets_marked=False)
    assert not violations(name, rules.K8S_SECRET, {"stringData": {"license-key": "plain"}}, facts=cli)


@pytest.mark.parametrize(("script", "expected"), [
    ("#!/bin/bash\nsysctl -w net.core.somaxconn=1024\n", False),
    ('#!/bin/bash\nPASSWORD="$(cat /run/secret)"\n', False),
    ("#!/bin/bash\nexport DB_PASSWORD=s3cretvalue99\n", True),
    ("#!/bin/bash\ncat >/root/k <<EOF\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\nEOF\n", True),
    ("#!/bin/bash\naliyun configure --access-key-id LTAI5tAbCdEfGhIjKlMn\n", True),
    # JSON (and YAML) spell the key's name in quotes.
    ('#!/bin/bash\ncat >/etc/app.json <<EOF\n{"user": "admin", "password": "s3cretvalue99"}\nEOF\n', True),
    ('#!/bin/bash\necho \'{"db_password":"s3cretvalue99"}\' >/etc/app.json\n', True),
    ('#!/bin/bash\ncat >/etc/app.json <<EOF\n{"password": "${DB_PASSWORD}"}\nEOF\n', False),
    # Bearer tokens and basic credentials in an HTTP header.
    ('#!/bin/bash\ncurl -H "Authorization: Bearer 0123456789abcdefABCDEF" https://x/\n', True),
    ('#!/bin/bash\ncurl -H "Authorization: Basic YWRtaW46cHVibGlj" https://x/\n', True),
    ('#!/bin/bash\ncurl -H "Authorization: Bearer $(cat /run/token)" https://x/\n', False),
    ('#!/bin/bash\ncurl -H "Authorization: Bearer ${TOKEN}" https://x/\n', False),
])
def test_user_data_holds_no_keys(script: str, expected: bool) -> None:
    inputs = {"preUserData": base64.b64encode(script.encode()).decode()}
    found = violations("no-plain-text-secrets", rules.NODE_POOL, inputs)
    assert bool(found) is expected, found


def test_emqx_resource_waits_for_ready() -> None:
    name = "emqx-waits-for-ready"
    ready = {"metadata": {"name": "emqx", "annotations": {"pulumi.com/waitFor": "condition=Ready"}}}
    assert not violations(name, rules.EMQX, ready)
    assert violations(name, rules.EMQX, {"metadata": {"name": "emqx"}})
    assert violations(name, rules.EMQX, {"metadata": {"name": "emqx", "annotations": {"other": "x"}}})


@pytest.mark.parametrize(("inputs", "expected"), [
    ({"spec": {"podSecurityContext": {"sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]}}}, False),
    ({"spec": {"podSecurityContext": {"sysctls": [{"name": "kernel.panic", "value": "1"}]}}}, True),
    ({"kubeletConfiguration": {"allowedUnsafeSysctls": ["net.ipv4.tcp_max_syn_backlog"]}}, False),
    ({"kubeletConfiguration": {"allowedUnsafeSysctls": ["kernel.msgmax"]}}, True),
    ({"script": "#!/bin/bash\nsysctl -q -w vm.overcommit_memory=1\n"}, True),
    ({"script": "#!/bin/bash\nsysctl -q -w \"$key=$want\"\n"}, False),
    # Quoted arguments, several at once, slashed keys.
    ({"script": "#!/bin/bash\nsysctl -w \"kernel.panic=1\"\n"}, True),
    ({"script": "#!/bin/bash\nsysctl -w 'kernel.panic=1'\n"}, True),
    ({"script": "#!/bin/bash\nsysctl -w net.core.somaxconn=1024 kernel.panic=1\n"}, True),
    ({"script": "#!/bin/bash\nsysctl -w \"net.core.somaxconn=1024\"\n"}, False),
    ({"script": "#!/bin/bash\nsysctl -w kernel/panic=1\n"}, True),
    # Writes to the kernel's files under /proc/sys.
    ({"script": "#!/bin/bash\necho 1 > /proc/sys/kernel/panic\n"}, True),
    ({"script": "#!/bin/bash\necho 1 | tee -a /proc/sys/kernel/panic\n"}, True),
    ({"script": "#!/bin/bash\necho 1024 >/proc/sys/net/core/somaxconn\n"}, False),
    ({"script": "#!/bin/bash\nmax=$(cat /proc/sys/kernel/panic)\n"}, False),  # a read sets nothing
    # A comment names nothing.
    ({"script": "#!/bin/bash\n# sysctl -w kernel.panic=1 would reboot\n"}, False),
])
def test_sysctls_only_from_the_catalogue(inputs: dict[str, Any], expected: bool) -> None:
    assert "kernel.panic" not in rules.StackFacts("t", False, ()).sysctls  # the premise of the failing cases
    found = violations("sysctls-in-catalogue", rules.NODE_POOL, inputs)
    assert bool(found) is expected, found


def test_sysctls_in_user_data_heredoc_are_read() -> None:
    script = "x <<'EMQX_SYSCTLS'\nfs.file-max raise 1\nkernel.shmmax set 2\nEMQX_SYSCTLS\n"
    inputs = {"preUserData": base64.b64encode(script.encode()).decode()}
    found = violations("sysctls-in-catalogue", rules.NODE_POOL, inputs)
    assert len(found) == 1 and "kernel.shmmax" in found[0] and "fs.file-max" not in found[0]


@pytest.mark.parametrize(("script", "expected"), [
    ("cat > /etc/sysctl.d/90-x.conf <<EOF\nnet.core.somaxconn = 1024\nkernel.panic = 1\nEOF\n", True),
    ("cat <<'EOF' > /etc/sysctl.d/90-x.conf\n# a comment\n-kernel.panic=1\nEOF\n", True),
    ("tee -a /etc/sysctl.conf <<-END\n\tkernel/panic = 1\n\tEND\n", True),
    ("echo \"kernel.panic = 1\" >> /etc/sysctl.d/90-x.conf\n", True),
    ("echo 'kernel.panic=1' > /etc/sysctl.conf\n", True),
    ("cat > /etc/sysctl.d/90-x.conf <<EOF\nnet.core.somaxconn = 1024\nEOF\n", False),
    ("cat > /etc/app.conf <<EOF\nkernel.panic = 1\nEOF\n", False),  # not a file sysctl reads
])
def test_sysctl_files_in_user_data_are_read(script: str, expected: bool) -> None:
    inputs = {"userData": base64.b64encode(f"#!/bin/bash\n{script}".encode()).decode()}
    found = violations("sysctls-in-catalogue", rules.NODE_POOL, inputs)
    assert bool(found) is expected, found
    assert not expected or "kernel.panic" in found[0]


def _stack_violations(facts: rules.StackFacts, zones_of_pools: dict[str, list[str]],
                      depends_on_every_switch: bool = False) -> list[str]:
    """production-zones over vSwitches and pools; each pool lists (vswitchIds, propertyDependencies as the CLI hands
    them over) the vSwitches of its zones; optionally it also depends on every vSwitch (the old, wrong source)."""
    switches = {z: PolicyResource(rules.VSWITCH, {"zoneId": z}, f"urn:{z}", f"sw-{z}", _options(), None, None, [], {})
                for zs in zones_of_pools.values() for z in zs}
    pools = [PolicyResource(rules.NODE_POOL, {"labels": [{"key": rules.POOL_LABEL, "value": role}],
                                              "vswitchIds": [f"sw-{z}-id" for z in zs]},
                            f"urn:{role}", role, _options(), None, None,
                            list(switches.values()) if depends_on_every_switch else [switches[z] for z in zs],
                            {"vswitchIds": [switches[z] for z in zs]})
             for role, zs in zones_of_pools.items()]
    policy = _policy("production-zones", facts)
    assert isinstance(policy, StackValidationPolicy)
    found: list[str] = []
    policy.validate(StackValidationArgs([*switches.values(), *pools]), lambda message, urn=None: found.append(message))
    return found


def test_production_pools_span_three_zones() -> None:
    three = {"emqx": ["a", "b", "c"], "system": ["a", "b", "c"]}
    assert not _stack_violations(PROD, three)
    two = {"emqx": ["a", "b"], "system": ["a", "b", "c"]}
    found = _stack_violations(PROD, two)
    assert len(found) == 1 and "'emqx'" in found[0]
    assert not _stack_violations(DEV, two)


def test_production_zones_count_the_pools_vswitches_not_its_dependencies() -> None:
    # A pool cut to one vSwitch still depends on all three (the old source of its zones): one zone, refused.
    one = {"emqx": ["a"], "system": ["a", "b", "c"]}
    found = _stack_violations(PROD, one, depends_on_every_switch=True)
    assert len(found) == 1 and "'emqx'" in found[0], found


# --------------------------------------------------------------------------------------- the facts of a stack


def test_facts_come_from_the_programs_settings() -> None:
    prod = policy_check.stack_facts("prod")
    assert prod.production is True
    assert {"10.20.0.0/16", "10.0.0.0/8", "172.20.0.0/16", "172.21.0.0/20"} <= set(prod.cidrs)
    dev = policy_check.stack_facts("dev")
    assert dev.production is False
    # network.clientCidrs left out means everyone (the settings' default), and the policy takes the same view.
    config, secret_keys = engine.load_stack_config(REPO_ROOT / "stacks" / "Pulumi.dev.yaml")
    assert "0.0.0.0/0" not in policy_check.stack_facts("dev").cidrs
    network = json.loads(config["emqx-platform:network"])
    del network["clientCidrs"]
    config["emqx-platform:network"] = json.dumps(network)
    assert "0.0.0.0/0" in rules.facts_from_config("dev", config, secret_keys).cidrs


# ---------------------------------------------------------------------------------- the pack over whole plans


def _plan(run_stack: StackRunner, stack: str) -> dict[str, Any]:
    return json.loads(json.dumps(writers.plan_document(run_stack(stack))))


@pytest.mark.parametrize("stack", SHIPPED)
def test_shipped_stacks_pass_the_pack(run_stack: StackRunner, stack: str) -> None:
    plan = _plan(run_stack, stack)
    assert not policy_check.check_plan(plan, policy_check.stack_facts(stack))


def _first(plan: dict[str, Any], test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    return next(r for r in plan["resources"] if test(r))


def _mutations() -> dict[str, tuple[str, Callable[[dict[str, Any]], None]]]:
    def public_dashboard(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.SECURITY_GROUP_RULE and "18083" in r["inputs"].get("portRange", "")
               )["inputs"]["cidrIp"] = "0.0.0.0/0"

    def half_internet_dashboard(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.SECURITY_GROUP_RULE and "18083" in r["inputs"].get("portRange", "")
               )["inputs"]["cidrIp"] = "0.0.0.0/1"

    def floating_image(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.EMQX)["inputs"]["spec"]["image"] = "emqx/emqx:5"

    def wide_client_rule(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.SECURITY_GROUP_RULE
               and r["inputs"].get("portRange") == "1883/1883")["inputs"]["cidrIp"] = "100.64.0.0/10"

    def unpinned_chart(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.HELM_RELEASES[0])["inputs"].pop("version")

    def latest_image(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.EMQX)["inputs"]["spec"]["image"] = "emqx/emqx:latest"

    def no_wait_for(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.EMQX)["inputs"]["metadata"]["annotations"].pop("pulumi.com/waitFor")

    def plain_secret(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.K8S_SECRET)["inputs"]["stringData"]["license-key"] = "abc"

    def unprotected_vpc(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.VPC)["options"]["protect"] = False

    def unprotected_cluster(plan: dict[str, Any]) -> None:
        _first(plan, lambda r: r["type"] == rules.CLUSTER)["inputs"]["deletionProtection"] = False

    def foreign_sysctl(plan: dict[str, Any]) -> None:
        spec = _first(plan, lambda r: r["type"] == rules.EMQX)["inputs"]["spec"]["coreTemplate"]["spec"]
        spec["podSecurityContext"]["sysctls"].append({"name": "kernel.sem", "value": "1"})

    def two_zones(plan: dict[str, Any]) -> None:
        # The system pool cut to two vSwitches (its dependencies untouched: they do not say where nodes run).
        pool = _first(plan, lambda r: r["type"] == rules.NODE_POOL and len(r["inputs"]["vswitchIds"]) == 3)
        pool["inputs"]["vswitchIds"] = pool["inputs"]["vswitchIds"][:2]

    def foreign_vswitch(plan: dict[str, Any]) -> None:
        # An id that is no vSwitch of the stack: its zone is unknown, so it does not count.
        pool = _first(plan, lambda r: r["type"] == rules.NODE_POOL and len(r["inputs"]["vswitchIds"]) == 3)
        pool["inputs"]["vswitchIds"] = [*pool["inputs"]["vswitchIds"][:2], "vsw-bp1elsewhere"]

    return {
        "public dashboard rule": ("admin-never-public", public_dashboard),
        "client rule wider than the stack's CIDRs": ("rules-within-stack-cidrs", wide_client_rule),
        "unpinned chart": ("pinned-versions", unpinned_chart),
        "latest image": ("pinned-versions", latest_image),
        "floating image tag": ("pinned-versions", floating_image),
        "dashboard rule wider than a /8": ("admin-never-public", half_internet_dashboard),
        "no waitFor": ("emqx-waits-for-ready", no_wait_for),
        "plain-text Secret": ("no-plain-text-secrets", plain_secret),
        "unprotected VPC": ("production-deletion-protection", unprotected_vpc),
        "cluster without deletion protection": ("production-deletion-protection", unprotected_cluster),
        "sysctl outside the catalogue": ("sysctls-in-catalogue", foreign_sysctl),
        "production over two zones": ("production-zones", two_zones),
        "production pool on an unknown vSwitch": ("production-zones", foreign_vswitch),
    }


@pytest.mark.parametrize("mutation", sorted(_mutations()))
def test_mutated_prod_plan_fails_with_the_expected_policy(run_stack: StackRunner, mutation: str) -> None:
    expected, mutate = _mutations()[mutation]
    plan = copy.deepcopy(_plan(run_stack, "prod"))
    mutate(plan)
    found = policy_check.check_plan(plan, policy_check.stack_facts("prod"))
    assert found and expected in {v.policy for v in found}, found


def test_runner_exit_status(run_stack: StackRunner, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan(run_stack, "prod")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(plan))
    assert policy_check.main(["--stack", "prod", "--plan", str(good)]) == 0
    _mutations()["unpinned chart"][1](plan)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(plan))
    assert policy_check.main(["--stack", "prod", "--plan", str(bad)]) == 1
    assert "[pinned-versions]" in capsys.readouterr().out


def test_runner_judges_a_plan_as_the_stack_it_names(run_stack: StackRunner, tmp_path: Any,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """--plan build/prod/plan.json without --stack is judged by prod's rules, not the --stack default's (dev)."""
    plan = _plan(run_stack, "prod")
    _mutations()["unprotected VPC"][1](plan)  # a production-only rule: dev's facts would let it through
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    assert policy_check.main(["--plan", str(path)]) == 1
    assert "[production-deletion-protection]" in capsys.readouterr().out
    # A --stack that contradicts the plan is refused, not obeyed.
    assert policy_check.main(["--stack", "dev", "--plan", str(path)]) == 2
    assert "stack prod, not dev" in capsys.readouterr().err
    with pytest.raises(ValueError, match="stack 'prod'"):
        policy_check.check_plan(plan, policy_check.stack_facts("dev"))


# ------------------------------------------------------------------------------ the pack as the CLI runs it


def test_the_pack_served_as_the_cli_runs_it_judges_with_the_stacks_config(tmp_path: Any) -> None:
    """policy/__main__.py started as the CLI starts a Python pack (the pack directory run by Python, the stack config
    in PULUMI_CONFIG), asked over gRPC as the CLI's analyzer asks: production facts come from the config it got."""
    import os
    import subprocess
    import sys

    import grpc
    from google.protobuf import struct_pb2
    from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

    config, secret_keys = engine.load_stack_config(REPO_ROOT / "stacks" / "Pulumi.prod.yaml")
    env = {**os.environ, "PULUMI_CONFIG": json.dumps(config), "PULUMI_CONFIG_SECRET_KEYS": json.dumps(secret_keys),
           "PULUMI_STACK": "prod", "PULUMI_PROJECT": "emqx-platform", "PULUMI_DRY_RUN": "true"}
    server = subprocess.Popen([sys.executable, "-u", str(REPO_ROOT / "policy")], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().strip())  # the analyzer prints its port first, as the CLI expects
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            analyzer = analyzer_pb2_grpc.AnalyzerStub(channel)

            def analyze(type_: str, props: dict[str, Any], protect: bool) -> set[str]:
                properties = struct_pb2.Struct()
                properties.update(props)
                request = analyzer_pb2.AnalyzeRequest(
                    type=type_, properties=properties, name="vpc", urn=f"urn:pulumi:prod::emqx-platform::{type_}::vpc",
                    options=analyzer_pb2.AnalyzerResourceOptions(protect=protect))
                return {d.policyName for d in analyzer.Analyze(request, timeout=30).diagnostics}

            assert analyze(rules.VPC, {"cidrBlock": "10.20.0.0/16"}, protect=True) == set()
            # Production (from PULUMI_CONFIG): an unprotected VPC is refused.
            assert analyze(rules.VPC, {"cidrBlock": "10.20.0.0/16"}, protect=False) == {
                "production-deletion-protection"}
            # The stack's CIDRs (from PULUMI_CONFIG): 192.168.0.0/16 is none of them.
            assert analyze(rules.SECURITY_GROUP_RULE, _sg_rule("192.168.0.0/16", "1883/1883"), protect=False) == {
                "rules-within-stack-cidrs"}
    finally:
        server.kill()
        server.wait()
