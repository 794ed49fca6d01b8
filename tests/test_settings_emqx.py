"""components/settings/emqx.py: the emqx section's parser, the per-target core volume minimum, the licence against the
edition, and the topology rules on the planned nodes."""

from __future__ import annotations

import dataclasses
from typing import Any

from components.config_reader import Problems, Section
from components.emqx_versions import parse_release
from components.settings import parse
from components.settings.emqx import (
    MIN_CORE_STORAGE_GIB,
    EmqxSettings,
    emqx_target_problems,
    parse_emqx,
    topology_problems,
)

ALICLOUD: dict[str, Any] = {
    "target": "alicloud",
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
    "emqx": {"edition": "opensource", "version": "5.8.9", "capacity": {"connections": 20000, "messageRate": 2000}},
}


def emqx(raw: Any, production: bool = False) -> tuple[EmqxSettings | None, list[str]]:
    problems = Problems()
    section = Section("emqx", raw, problems)
    parsed = parse_emqx(section, production)
    section.finish()
    return parsed, problems.items


def keys(found: list[str]) -> list[str]:
    return [p.split(":", 1)[0] for p in found]


def test_the_defaults() -> None:
    parsed, found = emqx(None)
    assert found == [] and parsed is not None
    assert (parsed.release.edition, parsed.release.version) == ("opensource", "5.8.9")
    assert (parsed.name, parsed.namespace) == ("emqx", "emqx")
    assert (parsed.keepalive_seconds, parsed.core_storage_gib) == (60, 20)
    assert parsed.capacity.connections == 10_000 and parsed.headroom == 0.3
    assert parsed.certificates.issuer_kind is None and parsed.requested_cores is None
    assert parsed.auth.built_in_database and not parsed.auth.allow_anonymous


def test_an_unknown_edition_or_a_malformed_version_is_refused() -> None:
    _, found = emqx({"edition": "community"})
    assert keys(found) == ["emqx.edition"] and "'community'" in found[0]
    _, found = emqx({"version": "5.8"})
    assert keys(found) == ["emqx.version"] and "5.10.3" in found[0]
    # A release the program does not know gives no settings: nothing is derived from it.
    parsed, found = emqx({"edition": "enterprise", "version": "5.99.0"})
    assert parsed is None and keys(found) == ["emqx.version"]


def test_a_name_too_long_for_the_operators_names_is_refused() -> None:
    assert emqx({"name": "a" * 36})[1] == []
    _, found = emqx({"name": "a" * 37})
    assert keys(found) == ["emqx.name"] and "at most 36 characters" in found[0]


def test_an_own_issuer_needs_both_names_and_the_names_clients_dial() -> None:
    _, found = emqx({"tls": {"issuerKind": "ClusterIssuer"}})
    assert keys(found) == ["emqx.tls.dnsNames", "emqx.tls"]
    parsed, found = emqx({"tls": {"issuerKind": "ClusterIssuer", "issuerName": "le", "dnsNames": ["mqtt.example.com"]}})
    assert found == [] and parsed is not None and parsed.certificates.dns_names == ("mqtt.example.com",)
    _, found = emqx({"tls": {"dnsNames": ["-bad-"]}})
    assert keys(found) == ["emqx.tls.dnsNames[0]"]


def test_the_core_volume_minimum_is_keyed_by_target() -> None:
    assert MIN_CORE_STORAGE_GIB["alicloud"] == (20, "an Alibaba Cloud ESSD disk")
    parsed, _ = emqx({"coreStorage": {"sizeGiB": 10}})
    problems = Problems()
    emqx_target_problems(parsed, "alicloud", {}, problems)
    assert keys(problems.items) == ["emqx.coreStorage.sizeGiB"]
    assert "10 GiB is below the 20 GiB minimum of an Alibaba Cloud ESSD disk" in problems.items[0]
    # gp3 takes 1 GiB and up: 10 GiB is fine on aws.
    for target in ("existing", "aws", None):
        other = Problems()
        emqx_target_problems(parsed, target, {}, other)  # type: ignore[arg-type]
        assert other.items == []


def test_open_source_takes_no_licence() -> None:
    parsed, _ = emqx(None)
    problems = Problems()
    emqx_target_problems(parsed, "alicloud", {"licenseKey": "k"}, problems)
    assert keys(problems.items) == ["licenseKey"] and "open-source EMQX 5.8.9" in problems.items[0]
    enterprise, _ = emqx({"edition": "enterprise", "version": "5.10.3"})
    fine = Problems()
    emqx_target_problems(enterprise, "alicloud", {"licenseKey": "k"}, fine)
    assert fine.items == []


def test_topology_rules_on_the_planned_nodes() -> None:
    plan = parse(ALICLOUD, stack="test").sizing
    release, _ = parse_release("enterprise", "5.10.3", None, key="emqx")
    assert release is not None
    assert topology_problems(dataclasses.replace(plan, cores=3, replicants=2), release, True, True) == []
    even = topology_problems(dataclasses.replace(plan, cores=2, replicants=2), release, True, True)
    assert keys(even) == ["emqx.cores"] and "odd number" in even[0]
    unlicensed = topology_problems(dataclasses.replace(plan, cores=3, replicants=2), release, True, False)
    assert keys(unlicensed) == ["licenseKey"]
    too_many_cores = topology_problems(dataclasses.replace(plan, cores=5, replicants=0), release, False, True)
    assert keys(too_many_cores) == ["emqx.cores"] and "3 nodes at most" in too_many_cores[0]
