"""components/settings/network.py: the network section's parser, the address plan and the clients' reach."""

from __future__ import annotations

from typing import Any

from components.config_reader import Problems, Section
from components.settings.cloud import CloudSettings
from components.settings.load_balancer import HealthCheckSettings, LoadBalancerSettings
from components.settings.network import NETWORK_PARSERS, client_reach_problems, parse_network, plan_network_settings
from components.settings.node_pools import NodePoolSettings

CLOUD = CloudSettings(region="cn-hangzhou", zones=("cn-hangzhou-h", "cn-hangzhou-i"))


def network(raw: Any, target: str | None = "alicloud") -> tuple[dict[str, Any] | None, list[str]]:
    problems = Problems()
    section = Section("network", raw, problems)
    fields = parse_network(section, target)  # type: ignore[arg-type]
    return fields, problems.items


def keys(found: list[str]) -> list[str]:
    return [p.split(":", 1)[0] for p in found]


def balancer(address_type: str = "internet", plain: bool = False) -> LoadBalancerSettings:
    return LoadBalancerSettings(type="clb", address_type=address_type, scheduler="wrr",  # type: ignore[arg-type]
                                idle_timeout_seconds=900, deletion_protection=False, allow_plain_text=plain,
                                health_check=HealthCheckSettings(2, 5, 5, 2))


def test_the_defaults_of_an_alicloud_network() -> None:
    fields, found = network(None)
    assert found == []
    assert fields == {"vpc_cidr": "10.0.0.0/16", "plugin": "flannel", "pod_cidr": "172.20.0.0/16",
                      "service_cidr": "172.21.0.0/20", "client_cidrs": ("0.0.0.0/0",),
                      "admin_cidrs": ("10.0.0.0/16",)}


def test_only_targets_with_a_network_of_ours_read_one() -> None:
    assert set(NETWORK_PARSERS) == {"alicloud", "aws"}
    for target in ("existing", None):
        assert network({"vpcCidr": "10.1.0.0/16"}, target) == (None, [])


def test_terway_takes_no_pod_cidr() -> None:
    fields, found = network({"plugin": "terway"})
    assert found == [] and fields is not None and fields["pod_cidr"] is None
    _, found = network({"plugin": "terway", "podCidr": "172.20.0.0/16"})
    assert keys(found) == ["network.podCidr"] and "terway" in found[0]


def test_an_unknown_plugin_and_a_bad_cidr_are_refused() -> None:
    _, found = network({"plugin": "calico", "vpcCidr": "10.0.0.1/16"})
    assert keys(found) == ["network.vpcCidr", "network.plugin"]
    assert "10.0.0.0/16" in found[0]  # names the network meant


def test_admin_cidrs_wider_than_a_slash_8_are_refused() -> None:
    assert network({"adminCidrs": ["10.0.0.0/8"]})[1] == []
    _, found = network({"adminCidrs": ["10.0.0.0/8", "0.0.0.0/0"]})
    assert keys(found) == ["network.adminCidrs[1]"] and "18083" in found[0]


def test_the_address_plan_counts_every_node_the_pools_may_hold() -> None:
    fields, _ = network(None)
    pool = NodePoolSettings("emqx", True, ("ecs.c7.xlarge",), 3, "cloud_essd", 120, rollout_surge=3)
    system = NodePoolSettings("system", True, ("ecs.g7.xlarge",), 2, "cloud_essd", 120, rollout_surge=0)
    problems = Problems()
    planned = plan_network_settings("alicloud", fields, CLOUD, (system, pool, None), problems)
    assert problems.items == []
    assert planned is not None and planned.plan is not None and planned.vpc_cidr == "10.0.0.0/16"
    assert [z.zone for z in planned.plan.zones] == list(CLOUD.zones)


def test_a_vpc_too_small_for_the_nodes_is_refused() -> None:
    fields, _ = network({"vpcCidr": "10.0.0.0/28"})
    pool = NodePoolSettings("emqx", True, ("ecs.c7.xlarge",), 200, "cloud_essd", 120, rollout_surge=200)
    problems = Problems()
    planned = plan_network_settings("alicloud", fields, CLOUD, (None, pool, None), problems)
    assert problems.items and all(p.startswith("network") for p in problems.items)
    assert planned is not None and planned.plan is None


def test_no_plan_for_other_targets_or_after_a_network_problem() -> None:
    fields, _ = network(None)
    assert plan_network_settings("existing", fields, CLOUD, (None, None, None), Problems()) is None
    problems = Problems()
    problems.add("network.vpcCidr", "bad", "fix")
    assert plan_network_settings("alicloud", fields, CLOUD, (None, None, None), problems) is None


def test_an_internet_load_balancer_needs_public_client_ranges() -> None:
    fields, _ = network({"clientCidrs": ["10.0.0.0/8", "192.168.0.0/16"]})
    problems = Problems()
    client_reach_problems(balancer("internet"), fields, problems)
    assert keys(problems.items) == ["network.clientCidrs"] and "private ranges" in problems.items[0]
    intranet = Problems()
    client_reach_problems(balancer("intranet"), fields, intranet)
    assert intranet.items == []


def test_plain_text_to_a_large_part_of_the_internet_is_refused() -> None:
    fields, _ = network(None)  # clientCidrs 0.0.0.0/0
    problems = Problems()
    client_reach_problems(balancer("internet", plain=True), fields, problems)
    assert keys(problems.items) == ["network.clientCidrs"] and "plain-text" in problems.items[0]
    tls_only = Problems()
    client_reach_problems(balancer("internet", plain=False), fields, tls_only)
    assert tls_only.items == []
