"""components/settings/vm.py: `mode: vm` (EMQX on ECS instances), the vm section, the listener key pair, what vm mode
refuses, its sizing without pod overhead and its node-only address plan; Kubernetes mode left as it was."""

from __future__ import annotations

import copy
import ipaddress
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components import sizing
from components.alicloud import vm_address_plan
from components.config_reader import Problems
from components.render import vm_node
from components.settings import ConfigError, Settings, parse
from components.settings import vm as vm_settings
from components.settings.stack import decode
from preview import engine

ROOT = Path(__file__).resolve().parents[1]
SHA = "ab" * 32
CLI = {"url": "https://aliyuncli.alicdn.com/aliyun-cli-linux-3.0.300-amd64.tgz", "sha256": "cd" * 32}
UBUNTU = "ubuntu_22_04_x64_20G_alibase_20241016.vhd"

BASE: dict[str, Any] = {
    "target": "alicloud",
    "mode": "vm",
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
    "network": {"vpcCidr": "10.30.0.0/16", "clientCidrs": ["10.0.0.0/8"]},
    "vm": {"os": "ubuntu22.04", "imageId": UBUNTU, "package": {"sha256": {"ubuntu22.04-amd64": SHA}},
           "aliyunCli": CLI},
    "emqx": {"edition": "opensource", "version": "5.8.9", "capacity": {"connections": 20000, "messageRate": 2000}},
}


def config(**changes: Any) -> dict[str, Any]:
    """BASE with dotted-path changes; a value of None removes the key."""
    values = copy.deepcopy(BASE)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = values
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return values


def settings(values: dict[str, Any], secrets: set[str] | None = None) -> Settings:
    known = {"licenseKey", "mqttUsers", "tlsCertificate", "tlsPrivateKey", "kubeconfig"}
    return parse(values, stack="vmtest", secret_keys=secrets if secrets is not None else known & set(values))


def problems(values: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings(values)
    return caught.value.problems


def only(values: dict[str, Any], key: str, *words: str) -> str:
    """The one problem of `values`, which must be about `key` and say each of `words`."""
    found = problems(values)
    assert len(found) == 1, found
    assert found[0].startswith(key + ": "), found
    for word in words:
        assert word in found[0], (word, found[0])
    return found[0]


# --- the good path ------------------------------------------------------------------------------------------------


def test_a_minimal_vm_stack_gives_the_vm_settings_with_their_defaults() -> None:
    s = settings(BASE)
    assert s.mode == "vm" and s.vm is not None
    vm = s.vm
    assert (vm.os, vm.arch, vm.image_id) == ("ubuntu22.04", "amd64", UBUNTU)
    assert vm.cores == vm_settings.VmRole(count=3, instance_type="ecs.c7.xlarge", disk_gib=40)
    # 3 cores carry 20k connections: no replicant, and a replicant would get no data disk anyway.
    assert vm.replicants == vm_settings.VmRole(count=0, instance_type="ecs.c7.xlarge", disk_gib=0)
    assert vm.package == vm_settings.VmPackage(sha256=(("ubuntu22.04-amd64", SHA),), mirror_base_url=None)
    assert (vm.aliyun_cli_url, vm.aliyun_cli_sha256) == (CLI["url"], CLI["sha256"])
    assert (s.sizing.cores, s.sizing.replicants) == (3, 0)
    # No node pools, no TLS key pair, and the default cluster's protection follows production.
    assert (s.system_pool, s.emqx_pool, s.loadgen_pool) == (None, None, None)
    assert s.tls_certificate is None and s.tls_private_key is None
    assert s.cluster.deletion_protection is False


def test_the_vm_address_plan_has_node_vswitches_only_and_every_node_address_fits() -> None:
    s = settings(config(vm__replicants={"count": 0}))
    assert s.vm is not None and s.network is not None
    plan = s.vm.plan
    assert s.network.plan == plan
    assert plan.pod_cidr is None and plan.service_cidr == ""
    assert [z.zone for z in plan.zones] == ["cn-hangzhou-h", "cn-hangzhou-i"]
    assert all(z.pod_cidr is None for z in plan.zones)
    vpc = ipaddress.IPv4Network("10.30.0.0/16")
    subnets = [ipaddress.IPv4Network(z.node_cidr) for z in plan.zones]
    assert all(n.subnet_of(vpc) for n in subnets)
    assert not any(a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1:])
    for address in vm_address_plan.plan_addresses([(z.zone, z.node_cidr) for z in plan.zones], "core", 3):
        assert ipaddress.ip_address(address.private_ip) in ipaddress.ip_network(address.vswitch_cidr)


def test_the_network_section_keeps_its_reach_keys_in_vm_mode() -> None:
    s = settings(config(network={"vpcCidr": "10.30.0.0/16", "clientCidrs": ["10.1.0.0/16"],
                                 "adminCidrs": ["10.30.0.0/24"]}))
    assert s.network is not None
    assert (s.network.client_cidrs, s.network.admin_cidrs) == (("10.1.0.0/16",), ("10.30.0.0/24",))
    assert s.network.pod_cidr is None


def test_a_vpc_whose_vswitches_leave_replicants_no_address_is_refused() -> None:
    # A /24 VPC gives each zone a /26: replicants start at the 75th address of a vSwitch (vm_address_plan).
    values = config(network={"vpcCidr": "10.30.0.0/24", "clientCidrs": ["10.0.0.0/8"]},
                    emqx={"edition": "enterprise", "version": "5.10.4"}, licenseKey="k",
                    vm__replicants={"count": 2})
    only(values, "network.vpcCidr", "replicant", "use a larger VPC")


@pytest.mark.parametrize(("itype", "arch"), [("ecs.c8y.2xlarge", "arm64"), ("ecs.g6r.xlarge", "arm64"),
                                             ("ecs.c7.xlarge", "amd64"), ("ecs.g8i.xlarge", "amd64")])
def test_the_architecture_follows_the_instance_family(itype: str, arch: str) -> None:
    assert vm_settings.family_arch(itype) == arch


def test_an_arm_instance_type_needs_the_arm_package_and_image() -> None:
    values = config(vm__cores={"instanceType": "ecs.c8y.xlarge"})
    found = problems(values)
    assert [p.split(":")[0] for p in found] == ["vm.imageId", "vm.package.sha256.ubuntu22.04-arm64"], found
    assert "amd64 image but the nodes are arm64" in found[0] and "acs:ubuntu_22_04_arm64" in found[0]
    assert "emqx-5.8.9-ubuntu22.04-arm64.deb" in found[1]
    good = config(vm__cores={"instanceType": "ecs.c8y.xlarge"},
                  vm__imageId="ubuntu_22_04_arm64_20G_alibase_20230104.vhd",
                  vm__package={"sha256": {"ubuntu22.04-arm64": SHA}})
    vm = settings(good).vm
    assert vm is not None and vm.arch == "arm64"


def test_an_explicit_arch_is_checked_against_the_family_and_needed_for_an_unknown_one() -> None:
    only(config(vm__arch="arm64"), "vm.arch", "ecs.c7.xlarge", "amd64")
    only(config(vm__cores={"instanceType": "ecs.hfc9.xlarge"}, vm__arch=None), "vm.cores.instanceType",
         "architecture is not known", "set vm.arch")


def test_cores_and_replicants_of_two_architectures_are_refused() -> None:
    values = config(emqx={"edition": "enterprise", "version": "5.10.4"}, licenseKey="k",
                    vm__replicants={"count": 2, "instanceType": "ecs.c8y.xlarge"})
    assert any(p.startswith("vm.replicants.instanceType: ecs.c8y.xlarge is arm64") for p in problems(values))


# --- refused values, each with its key, what is wrong and a fix ---------------------------------------------------


@pytest.mark.parametrize(("changes", "key", "words"), [
    ({"vm__os": None}, "vm.os", ("required", "ubuntu22.04")),
    ({"vm__os": "centos7"}, "vm.os", ("not one of",)),
    ({"vm__imageId": None}, "vm.imageId", ("required", "DescribeImages", "--ImageFamily acs:ubuntu_22_04_x64")),
    ({"vm__imageId": "ami-0123456789"}, "vm.imageId", ("not well formed", "DescribeImages")),
    ({"vm__imageId": "aliyun_3_x64_20G_alibase_20240819.vhd"}, "vm.imageId", ("alinux3 image but vm.os is",)),
    ({"vm__imageId": "centos_7_9_x64_20G_alibase_20230109.vhd"}, "vm.imageId", ("none of",)),
    ({"vm__cores": {"count": 0}}, "vm.cores.count", ("below the minimum 1",)),
    ({"vm__cores": {"diskGib": 10}}, "vm.cores.diskGib", ("below the minimum 20", "cloud_essd")),
    ({"vm__cores": {"instanceType": "c7.xlarge"}}, "vm.cores.instanceType", ("not well formed",)),
    ({"vm__cores": {"instanceType": "ecs.r7.xlarge"}, "vm__arch": "amd64"}, "vm.cores.instanceType",
     ("not in the sizing table",)),
    ({"vm__package": {"sha256": {}}}, "vm.package.sha256.ubuntu22.04-amd64",
     ("is required", "emqx-5.8.9-ubuntu22.04-amd64.deb", "releases/download/v5.8.9")),
    ({"vm__package": {"sha256": {"ubuntu22.04-amd64": "AB" * 32}}}, "vm.package.sha256.ubuntu22.04-amd64",
     ("not a SHA-256",)),
    ({"vm__package": {"sha256": {"ubuntu22.04-amd64": SHA, "debian12-amd64": SHA}}},
     "vm.package.sha256.debian12-amd64", ("not <os>-<arch>",)),
    ({"vm__package": {"sha256": {"ubuntu22.04-amd64": SHA}, "mirrorBaseUrl": "http://mirror.example.com/emqx"}},
     "vm.package.mirrorBaseUrl", ("not well formed", "https://")),
    ({"vm__aliyunCli": None}, "vm.aliyunCli.url", ("required",)),
    ({"vm__aliyunCli": {"url": "ftp://x/y.tgz", "sha256": SHA}}, "vm.aliyunCli.url", ("not well formed",)),
    ({"vm__aliyunCli": {"url": CLI["url"]}}, "vm.aliyunCli.sha256", ("required", "sha256sum")),
    ({"emqx__version": "5.7.2"}, "emqx.version", ("VM mode supports 5.8.0 and later",)),
])
def test_each_vm_rule_names_its_key_and_a_fix(changes: dict[str, Any], key: str, words: tuple[str, ...]) -> None:
    found = [p for p in problems(config(**changes)) if p.startswith(key + ":")]
    assert found, problems(config(**changes))
    for word in words:
        assert word in found[0], (word, found[0])
    assert "; " in found[0]  # what is wrong; how to fix


def test_every_problem_is_reported_at_once() -> None:
    values = config(vm={"os": "centos7", "imageId": "nope", "cores": {"diskGib": 5},
                        "aliyunCli": {"url": "http://x", "sha256": "1"}},
                    charts={"installOperator": True}, tlsCertificate="not a pem")
    keys = {p.split(":")[0] for p in problems(values)}
    assert {"vm.os", "vm.imageId", "vm.cores.diskGib", "vm.aliyunCli.url", "vm.aliyunCli.sha256", "charts",
            "tlsPrivateKey", "tlsCertificate"} <= keys, keys


# --- mode -----------------------------------------------------------------------------------------------------------


def test_mode_defaults_to_kubernetes_and_takes_no_vm_section_then() -> None:
    values = config(mode=None)
    values.pop("vm")
    s = parse({**values, "emqx": {"cores": 2}}, stack="k8s")
    assert s.mode == "kubernetes" and s.vm is None and s.emqx_pool is not None
    only({**config(mode=None), "emqx": {"cores": 2}}, "vm", "only applies with mode: vm")


@pytest.mark.parametrize("target", ["existing", "aws"])
def test_vm_mode_is_refused_for_other_targets(target: str) -> None:
    found = problems({"target": target, "mode": "vm"})
    assert any(p.startswith(f"mode: 'vm' is built for target alicloud only (target is '{target}')") for p in found)


def test_an_unknown_mode_is_refused() -> None:
    only(config(mode="vms"), "mode", "not one of kubernetes, vm", "did you mean 'vm'")


# --- keys that mean nothing on VMs --------------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "key", "word"), [
    ({"charts": {"certManagerVersion": "v1"}}, "charts", "EMQX Operator"),
    ({"rebalance": {"runs": [{"name": "x"}]}}, "rebalance", "Rebalance"),
    ({"monitoring": {"prometheusOperator": True}}, "monitoring", "Prometheus Operator"),
    ({"nodePools": {"emqx": {"count": 1}}}, "nodePools", "vm.cores and vm.replicants"),
    ({"cluster": {"kubernetesVersion": "1.35.7-aliyun.1"}}, "cluster", "ACK"),
    ({"loadTest": {"runs": []}}, "loadTest", "Kubernetes Jobs"),
    ({"network__plugin": "terway"}, "network.plugin", "CNI"),
    ({"network__podCidr": "172.20.0.0/16"}, "network.podCidr", "pods"),
    ({"network__serviceCidr": "172.21.0.0/20"}, "network.serviceCidr", "Service"),
    ({"emqx__name": "emqx"}, "emqx.name", "custom resource"),
    ({"emqx__namespace": "emqx"}, "emqx.namespace", "namespace"),
    ({"emqx__imageRepository": "registry.example.com/emqx"}, "emqx.imageRepository", "mirrorBaseUrl"),
    ({"emqx__coreStorage": {"storageClass": "alicloud-disk-essd"}}, "emqx.coreStorage", "vm.cores.diskGib"),
    ({"emqx__tls": {"issuerKind": "Issuer"}}, "emqx.tls", "tlsCertificate"),
    ({"emqx__cores": 3}, "emqx.cores", "vm.cores.count"),
    ({"emqx__replicants": 0}, "emqx.replicants", "vm.replicants.count"),
    ({"emqx__auth": {"x509": {}}}, "emqx.auth.x509", "Kubernetes Secret"),
])
def test_what_means_nothing_on_vms_is_refused_with_why(changes: dict[str, Any], key: str, word: str) -> None:
    # One message per key, the section's own rules unread (rebalance's run has no connEvictRate: not reported).
    message = only(config(**changes), key, "means nothing in vm mode", word)
    assert message.count(";") >= 1


def test_the_same_keys_are_accepted_in_kubernetes_mode() -> None:
    values = config(mode=None, charts={"installOperator": True}, monitoring={"prometheusOperator": True},
                    network={"vpcCidr": "10.30.0.0/16", "plugin": "terway", "clientCidrs": ["10.0.0.0/8"]})
    values.pop("vm")
    values["emqx"] = {**values["emqx"], "cores": 2, "namespace": "mq"}
    s = settings(values)
    assert s.mode == "kubernetes" and s.network is not None and s.network.plugin == "terway"
    assert s.emqx.namespace == "mq" and s.monitoring.prometheus_operator


def test_the_callers_values_are_not_changed_by_the_refusals() -> None:
    values = config(emqx__cores=3, network__plugin="terway")
    before = copy.deepcopy(values)
    problems(values)
    assert values == before


# --- replicants, licence, topology and sizing -------------------------------------------------------------------------


def test_replicants_are_enterprise_only() -> None:
    only(config(vm__replicants={"count": 2}), "vm.replicants.count", "Enterprise", "set vm.replicants.count to 0")


def test_enterprise_5_9_needs_a_licence_for_its_cluster() -> None:
    values = config(emqx={"edition": "enterprise", "version": "5.10.4"})
    only(values, "licenseKey", "refuses to form a cluster without a licence key")
    s = settings({**values, "licenseKey": "k"})
    assert s.has_license and s.vm is not None


def test_production_needs_an_odd_number_of_cores_and_three_zones() -> None:
    zones = {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"]}
    values = config(production=True, cloud=zones, vm__cores={"count": 2}, emqx__auth={"allowAnonymous": False})
    found = problems(values)
    assert any(p.startswith("vm.cores.count: production needs an odd number of cores") for p in found), found
    assert settings(config(vm__cores={"count": 1})).vm is not None  # one core is fine outside production


def test_the_sizing_has_no_pod_overhead_on_a_vm() -> None:
    shape = sizing.NodeShape(4, 8)
    vm, pod = sizing.vm_node_capacity(shape), sizing.node_capacity(shape)
    assert vm.pod_cpu_milli > pod.pod_cpu_milli and vm.pod_memory_mib > pod.pod_memory_mib
    # What stays off EMQX is the OS estimate only, not the kubelet reserve and the daemonsets.
    assert vm.pod_cpu_milli == 4000 - sizing.VM_OS_CPU_MILLI
    assert vm.connections > pod.connections
    s = settings(BASE)
    assert s.sizing.notes[0].startswith("EMQX gets 3800m CPU")
    assert s.sizing.pod_cpu == "3800m"


def test_a_pinned_core_count_that_cannot_carry_the_target_is_refused_with_the_count_it_needs() -> None:
    values = config(vm__cores={"count": 1, "instanceType": "ecs.c7.large"},
                    emqx__capacity={"connections": 150000, "messageRate": 1000})
    only(values, "vm.cores.count", "1 cores carry", "set vm.cores.count to at least 3", "vm.cores.instanceType")


def test_open_source_beyond_three_cores_points_at_enterprise_replicants() -> None:
    values = config(vm__cores={"instanceType": "ecs.c7.large"}, emqx__capacity={"connections": 900000})
    message = only(values, "vm.cores.count", "all-core cluster stops at 3")
    assert "need EMQX 5 Enterprise (emqx.edition: enterprise" in message


def test_enterprise_replicants_are_sized_from_the_capacity_and_pinned_counts_checked() -> None:
    values = config(emqx={"edition": "enterprise", "version": "5.10.4",
                          "capacity": {"connections": 1000000, "messageRate": 500000, "payloadBytes": 1024}},
                    licenseKey="k", vm__cores={"instanceType": "ecs.c7.2xlarge"},
                    vm__replicants={"instanceType": "ecs.c7.16xlarge"})
    s = settings(values)
    assert s.vm is not None and s.vm.cores.count == 3 and s.vm.replicants.count == s.sizing.replicants
    derived = s.sizing.replicants
    assert derived >= 2
    # The derived count is the fewest that carries it: one fewer, pinned, is refused with the count it needs.
    values["vm"]["replicants"]["count"] = derived - 1
    message = only(values, "vm.replicants.count", f"at least {derived}")
    assert "vm.replicants.instanceType" in message
    # Cores and replicants of different types: the vCPU paid for is the sum of both roles.
    assert s.sizing.planned_vcpu == 3 * 8 + derived * 64


# --- the listener key pair ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    out = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                          "-nodes", "-keyout", "/dev/stdout", "-out", "/dev/stdout", "-subj", "/CN=mqtt.example.com",
                          "-days", "1"], capture_output=True, text=True, check=True).stdout
    key = re.search(r"-----BEGIN PRIVATE KEY-----.*?-----END PRIVATE KEY-----\n", out, re.S)
    cert = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", out, re.S)
    assert key and cert
    return cert.group(0), key.group(0)


def test_a_key_pair_reaches_the_settings_as_secrets(key_pair: tuple[str, str]) -> None:
    cert, key = key_pair
    s = settings(config(tlsCertificate=cert + cert, tlsPrivateKey=key))  # a chain of two is fine
    assert isinstance(s.tls_certificate, pulumi.Output) and isinstance(s.tls_private_key, pulumi.Output)
    # Outputs (secret ones, settings.common.secret): the PEM text never sits in the Settings as text.
    assert key.splitlines()[1] not in repr(s) and cert.splitlines()[1] not in repr(s)


def test_a_secret_too_long_for_an_oos_parameter_is_refused_before_anything_exists(key_pair: tuple[str, str]) -> None:
    # An OOS encryption parameter holds at most 4096 characters (pulumi-alicloud oos.SecretParameter `value`): a
    # longer chain, users file or licence would fail `pulumi up` half-way, inside VmSecrets.
    cert, key = key_pair
    chain = cert * (4096 // len(cert) + 1)
    assert len(chain) > 4096 and len(cert) * 2 < 4096
    message = only(config(tlsCertificate=chain, tlsPrivateKey=key), "tlsCertificate", "at most 4096",
                   f"{len(chain)} characters", "without the root")
    assert cert.splitlines()[1] not in message
    # Users: measured as the hashed file the nodes get; 20 fit, 40 do not.
    few = "".join(f"device-{i:04d}:secret-password-{i}\n" for i in range(20))
    many = "".join(f"device-{i:04d}:secret-password-{i}\n" for i in range(40))
    assert settings(config(mqttUsers=few)).vm is not None
    message = only(config(mqttUsers=many), "mqttUsers", "hashed users file", "at most 4096", "fewer MQTT users")
    assert "secret-password" not in message
    enterprise = {"edition": "enterprise", "version": "5.10.4", "capacity": {"connections": 20000,
                                                                             "messageRate": 2000}}
    only(config(emqx=enterprise, licenseKey="k" * 4097), "licenseKey", "4097 characters")


def test_one_half_of_the_key_pair_is_refused(key_pair: tuple[str, str]) -> None:
    cert, key = key_pair
    only(config(tlsCertificate=cert), "tlsPrivateKey", "is not set, but tlsCertificate is")
    only(config(tlsPrivateKey=key), "tlsCertificate", "is not set, but tlsPrivateKey is")


@pytest.mark.parametrize(("which", "value", "words"), [
    ("tlsCertificate", "hunter2-not-a-pem", "no PEM certificate"),
    ("tlsCertificate", "KEY", "outside"),
    ("tlsCertificate", "-----BEGIN CERTIFICATE-----\nbm90IGRlcg==\n-----END CERTIFICATE-----\n", "not base64 DER"),
    ("tlsPrivateKey", "CERT", "not exactly one PEM private key"),
    ("tlsPrivateKey", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
     "is encrypted"),
])
def test_a_value_that_is_no_pem_is_refused_without_being_shown(key_pair: tuple[str, str], which: str, value: str,
                                                                 words: str) -> None:
    cert, key = key_pair
    value = {"KEY": cert + key, "CERT": cert}.get(value, value)
    pair = {"tlsCertificate": cert, "tlsPrivateKey": key, which: value}
    message = only(config(**pair), which, words)
    # Never the value, nor a piece of it.
    for line in value.splitlines():
        if len(line) > 8 and "-----" not in line:
            assert line not in message


def test_the_key_pair_must_be_secret(key_pair: tuple[str, str]) -> None:
    cert, key = key_pair
    with pytest.raises(ConfigError) as caught:
        settings(config(tlsCertificate=cert, tlsPrivateKey=key), secrets=set())
    assert any(p.startswith("tlsCertificate: is stored in plain text") for p in caught.value.problems)


def test_the_key_pair_is_refused_in_kubernetes_mode(key_pair: tuple[str, str]) -> None:
    cert, key = key_pair
    values = config(mode=None, tlsCertificate=cert, tlsPrivateKey=key, emqx__cores=2)
    values.pop("vm")
    found = problems(values)
    assert [p.split(":")[0] for p in found] == ["tlsCertificate", "tlsPrivateKey"]
    assert "cert-manager" in found[0]


def test_an_internet_load_balancer_without_a_key_pair_has_nothing_to_serve(key_pair: tuple[str, str]) -> None:
    internet = config(loadBalancer={"addressType": "internet"}, network={"clientCidrs": ["0.0.0.0/0"]})
    only(internet, "tlsCertificate", "serves TLS only", "addressType: intranet", "allowPlainText: true")
    cert, key = key_pair
    assert settings({**internet, "tlsCertificate": cert, "tlsPrivateKey": key}).vm is not None
    # Intranet serves plain text by default, and so does an internet one told to.
    assert settings(config()).load_balancer.allow_plain_text
    explicit = config(loadBalancer={"addressType": "internet", "allowPlainText": True},
                      network={"clientCidrs": ["203.0.113.0/24"]})
    assert settings(explicit).vm is not None
    only(config(loadBalancer={"allowPlainText": False}), "tlsCertificate", "intranet load balancer serves TLS only")


# --- the renderer agrees, and the shipped stacks --------------------------------------------------------------------


def test_the_renderer_accepts_a_node_of_each_role_of_the_settings() -> None:
    values = config(emqx={"edition": "enterprise", "version": "5.10.4",
                          "capacity": {"connections": 1000000, "messageRate": 100000}},
                    licenseKey="k", vm__replicants={"instanceType": "ecs.c7.8xlarge"})
    s = settings(values)
    vm = s.vm
    assert vm is not None and s.network is not None and vm.replicants.count > 0
    package = vm_node.EmqxPackage(edition="enterprise", version="5.10.4", sha256=dict(vm.package.sha256))
    cores = vm_address_plan.plan_addresses([(z.zone, z.node_cidr) for z in vm.plan.zones], "core", vm.cores.count)
    seeds = tuple(f"emqx@{a.private_ip}" for a in cores)
    source = vm_node.OosSecretSource(region="cn-hangzhou", ram_role_name="emqx-node",
                                     cli=vm_node.AliyunCli(vm.aliyun_cli_url, vm.aliyun_cli_sha256))
    for role, name in (("core", seeds[0]), ("replicant", "emqx@10.30.0.74")):
        spec = vm_node.VmNodeSpec(node_name=name, role=role, core_seeds=seeds, package=package,  # type: ignore[arg-type]
                                  os=vm.os, arch=vm.arch, tuning=s.tuning,
                                  listeners=vm_node.VmListeners(s.sizing.max_connections_per_node),
                                  secrets=vm_node.SecretNames("c", "d", license="l"), secret_source=source)
        assert vm_node.validate(spec) == [], role


def test_the_tuning_profile_reserves_the_vm_ports() -> None:
    reserved = settings(BASE).tuning.value_of("net.ipv4.ip_local_reserved_ports") or ""
    assert "5370" in reserved.split(",") or any(
        int(lo) <= 5370 <= int(hi) for lo, _, hi in (r.partition("-") for r in reserved.split(",")) if hi)


def test_the_refusals_act_only_in_vm_mode_on_alicloud() -> None:
    found = Problems()
    out = vm_settings.drop_what_vms_ignore({"target": "alicloud", "mode": "vm", "charts": {}}, found)
    assert "charts" not in out and found.about("charts")
    assert vm_settings.drop_what_vms_ignore({"target": "alicloud", "charts": {}}, Problems()) == {
        "target": "alicloud", "charts": {}}


@pytest.mark.parametrize("stack", ["vm-dev", "vm-prod"])
def test_the_shipped_vm_stacks_parse(stack: str) -> None:
    raw, secret = engine.load_stack_config(ROOT / "stacks" / f"Pulumi.{stack}.yaml")
    values = {k.split(":", 1)[1]: decode(v) for k, v in raw.items()}
    s = parse(values, stack=stack, secret_keys={k.split(":", 1)[1] for k in secret})
    assert s.mode == "vm" and s.vm is not None
    if stack == "vm-dev":
        assert (s.emqx.release.edition, s.emqx.release.version[:3], s.production) == ("opensource", "5.8", False)
        assert s.vm.cores.count == 3 and s.vm.replicants.count == 0 and len(s.cloud.zones) >= 2  # type: ignore[union-attr]
    else:
        assert (s.emqx.release.edition, s.emqx.release.version[:4], s.production) == ("enterprise", "5.10", True)
        assert s.vm.cores.count == 3 and s.vm.replicants.count >= 3 and len(s.cloud.zones) == 3  # type: ignore[union-attr]
    assert s.load_balancer.address_type == "intranet" and s.tls_certificate is None


def test_placeholder_checksums_are_warned_about_and_real_ones_are_not() -> None:
    # The shipped vm stacks carry 64-zero placeholders (no real checksum can be fetched offline): the preview says so.
    raw, secret = engine.load_stack_config(ROOT / "stacks" / "Pulumi.vm-dev.yaml")
    values = {k.split(":", 1)[1]: decode(v) for k, v in raw.items()}
    settings = parse(values, stack="vm-dev", secret_keys={k.split(":", 1)[1] for k in secret})
    assert settings.vm is not None
    warned = [w for w in settings.warnings if "placeholder" in w]
    node_key = f"{settings.vm.os}-{settings.vm.arch}"
    assert any(w.startswith(f"vm.package.sha256.{node_key}:") for w in warned)
    assert any(w.startswith("vm.aliyunCli.sha256:") for w in warned)
    real = replace(settings.vm, aliyun_cli_sha256="ab" * 32,
                   package=replace(settings.vm.package, sha256=((node_key, "cd" * 32),)))
    assert vm_settings.placeholder_warnings(real) == ()


def test_vm_deletion_protection_follows_production_and_can_be_lifted() -> None:
    raw, secret = engine.load_stack_config(ROOT / "stacks" / "Pulumi.vm-prod.yaml")
    values = {k.split(":", 1)[1]: decode(v) for k, v in raw.items()}
    keys = {k.split(":", 1)[1] for k in secret}
    prod = parse(values, stack="vm-prod", secret_keys=keys)
    assert prod.production and prod.vm is not None and prod.vm.deletion_protection
    lifted = copy.deepcopy(values)
    lifted["vm"]["deletionProtection"] = False
    down = parse(lifted, stack="vm-prod", secret_keys=keys)
    assert down.production and down.vm is not None and not down.vm.deletion_protection
    dev_raw, dev_secret = engine.load_stack_config(ROOT / "stacks" / "Pulumi.vm-dev.yaml")
    dev = parse({k.split(":", 1)[1]: decode(v) for k, v in dev_raw.items()}, stack="vm-dev",
                secret_keys={k.split(":", 1)[1] for k in dev_secret})
    assert dev.vm is not None and not dev.vm.deletion_protection
