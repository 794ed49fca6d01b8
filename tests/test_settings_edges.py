"""Values that validated yet would misbehave: a ratio rounded to what EMQX refuses, an image with two tags, fixes that
the next run would refuse, secrets echoed after their key was refused, limits the cluster enforces later."""

from __future__ import annotations

from typing import Any

import pytest

from components import sizing
from components.settings import ConfigError, parse
from tests.test_settings import ALICLOUD, ENTERPRISE, EXISTING, ok, one_about, problems, with_changes


def test_a_rebalance_ratio_just_above_one_reaches_emqx_as_written() -> None:
    # `:g` would send "1" for 1.0000001, which EMQX refuses; the ratio must arrive above 1.
    runs = [{"name": "r1", "connEvictRate": 500, "relConnThreshold": 1.0000001, "relSessThreshold": 2.0}]
    (run,) = ok(with_changes(ENTERPRISE, rebalance={"runs": runs})).rebalance
    assert float(run.rel_conn_threshold) > 1.0 and run.rel_conn_threshold == "1.0000001"
    assert run.rel_sess_threshold == "2"
    assert ok(with_changes(ENTERPRISE, rebalance={"runs": [{"name": "r2", "connEvictRate": 5}]})).rebalance[0] \
        .rel_conn_threshold == "1.1"


@pytest.mark.parametrize("repository", ["emqx/emqx:5", "registry.example.com:5000/emqx/emqx:latest", "emqx:5.8.9",
                                        "Emqx/emqx", "emqx//emqx", "/emqx"])
def test_an_image_repository_with_a_tag_or_bad_path_is_refused(repository: str) -> None:
    found = problems(with_changes(ALICLOUD, emqx__imageRepository=repository))
    assert "not well formed" in one_about(found, "emqx.imageRepository")


@pytest.mark.parametrize("repository", ["emqx/emqx", "registry.example.com:5000/emqx/emqx", "mirror.local/e/emqx-ee",
                                        "emqx"])
def test_an_image_repository_with_a_registry_port_is_accepted(repository: str) -> None:
    assert ok(with_changes(ALICLOUD, emqx__imageRepository=repository)).emqx.release.image == f"{repository}:5.8.9"


def test_capacity_fixes_never_suggest_what_the_settings_refuse() -> None:
    huge = sizing.CapacityTarget(connections=150_000_000, message_rate=1_000, payload_bytes=256, qos=1)
    small = sizing.NodeShape(vcpu=4, memory_gib=8)
    _, errors = sizing.plan_capacity(huge, small, cores=3, replicants=4)
    (error,) = errors
    assert "above the 500" in error and "at least" not in error
    _, errors = sizing.plan_capacity(huge, small, cores=3, replicants=0, replicants_allowed=False)
    (error,) = errors
    assert "all-core cluster stops at 3" in error and "at least" not in error
    # Where the count is reachable, the fix names it.
    modest = sizing.CapacityTarget(connections=200_000, message_rate=1_000, payload_bytes=256, qos=1)
    _, errors = sizing.plan_capacity(modest, small, cores=3, replicants=1)
    (error,) = errors
    assert "set emqx.replicants to at least" in error


def test_a_secret_in_a_plain_setting_is_reported_once_and_never_echoed() -> None:
    values = with_changes(ALICLOUD, cloud={"region": "the-decrypted-value", "zones": ["cn-hangzhou-h"]})
    found = problems(values, secret_keys={"cloud"})
    assert len(found) == 1 and found[0].startswith("cloud:") and "--path cloud.<field>" in found[0]
    assert not any("the-decrypted-value" in p for p in found)
    scalar = problems(with_changes(ALICLOUD, target="alicloud"), secret_keys={"target"})
    assert "`pulumi config set target <value>`" in one_about(scalar, "target")


@pytest.mark.parametrize(("length", "accepted"), [(253, True), (254, False)])
def test_storage_class_names_stop_at_253(length: int, accepted: bool) -> None:
    name = "a" * length
    core = with_changes(ALICLOUD, emqx__coreStorage={"storageClass": name})
    existing = with_changes(EXISTING, existing={"storageClass": name})
    if accepted:
        assert ok(core).emqx.storage_class == name
        assert ok(existing).existing is not None
    else:
        assert one_about(problems(core), "emqx.coreStorage.storageClass")
        assert one_about(problems(existing), "existing.storageClass")


@pytest.mark.parametrize(("interval", "accepted"), [("1s", True), ("10m", True), ("0s", False), ("11m", False),
                                                    ("99999999999999999999999m", False), ("15", False)])
def test_scrape_interval_bounds(interval: str, accepted: bool) -> None:
    values = with_changes(ALICLOUD, monitoring={"prometheusOperator": True, "scrapeInterval": interval})
    if accepted:
        assert ok(values).monitoring.scrape_interval == interval
    else:
        assert one_about(problems(values), "monitoring.scrapeInterval")


@pytest.mark.parametrize(("key", "value", "accepted"), [
    ("certManagerVersion", "v1.15.0", True),
    ("certManagerVersion", "v1.14.9", False),
    ("certManagerVersion", "v1.0.0", False),
    ("certManagerVersion", "v2.0.0", False),
    ("emqxOperatorVersion", "2.2.0", True),
    ("emqxOperatorVersion", "2.3.0", False),
    ("emqxOperatorVersion", "99999999999999999999.0.0", False),
])
def test_chart_versions_the_program_can_drive(key: str, value: str, accepted: bool) -> None:
    values = with_changes(ALICLOUD, charts={key: value})
    if accepted:
        ok(values)
    else:
        assert one_about(problems(values), f"charts.{key}")


def test_an_ambient_region_that_contradicts_the_stack_is_refused() -> None:
    msg = one_about(problems({**ALICLOUD, "alicloud:region": "cn-beijing"}), "alicloud:region")
    assert "cn-hangzhou" in msg
    assert ok({**ALICLOUD, "alicloud:region": "cn-hangzhou"}).cloud is not None


def test_sections_of_another_target_are_refused_whole() -> None:
    values: dict[str, Any] = {**with_changes(ALICLOUD, target="existing", cluster={"kubernetesMinor": "1.31"}),
                              "nodePools": {"emqx": {"count": 2}}}
    with pytest.raises(ConfigError) as err:
        parse(values, stack="test", secret_keys=set())
    found = err.value.problems
    assert one_about(found, "cloud") and one_about(found, "nodePools")
    assert not [p for p in found if "is not a known setting" in p], found


def test_long_keepalives_are_judged_against_our_load_balancer_only() -> None:
    # The idle-timeout rule is about the stack's own CLB/NLB (at most 900 s); an existing cluster has none of ours.
    assert ok(with_changes(EXISTING, emqx__keepaliveSeconds=3600)).emqx.keepalive_seconds == 3600
    msg = one_about(problems(with_changes(ALICLOUD, emqx__keepaliveSeconds=600)), "loadBalancer.idleTimeoutSeconds")
    assert "lower emqx.keepaliveSeconds" in msg
