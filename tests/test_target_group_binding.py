"""TargetGroupBinding objects: strictly valid against the load balancer controller's own CRD (vendored, checked byte
for byte), and bound to the Services the EMQX operator creates for the rendered EMQX spec."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Any

import pytest

from components.aws import lb_controller
from components.render import target_group_binding as tgb
from components.render.emqx import emqx_spec
from tests import validators
from tests.test_emqx_render import INPUTS
from tests.validators import REPO_ROOT

VENDORED = REPO_ROOT / "schemas" / "aws-load-balancer-controller"
CRD_FILE = "elbv2.k8s.aws_targetgroupbindings.yaml"
ARNS = {
    port: f"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/emqx-{port}/0123456789abcdef"
    for port in (1883, 8883, 8083, 8084, 18083)
}


def validate_tgb(obj: dict[str, Any]) -> list[str]:
    # The same check every emitted manifest gets (validators.validate_manifest routes this kind there).
    return validators.validate_manifest(obj)


def _bindings(name: str = "emqx", mqtt_ports: tuple[int, ...] = (1883, 8883, 8083, 8084)) -> list[dict[str, Any]]:
    return tgb.emqx_target_group_bindings(emqx_name=name, namespace="emqx", target_group_arns=ARNS,
                                          mqtt_ports=mqtt_ports, labels={"app.kubernetes.io/managed-by": "pulumi"})


# --- the vendored CRD -----------------------------------------------------------------------------------------


def test_vendored_crd_is_the_recorded_upstream_bytes() -> None:
    text = (VENDORED / "SOURCE.md").read_text(encoding="utf-8")
    sums = {path: digest for digest, path in re.findall(r"^([0-9a-f]{64})  (\S+)$", text, flags=re.MULTILINE)}
    on_disk = {str(p.relative_to(VENDORED)) for p in VENDORED.glob("*/*") if p.is_file()}
    assert sums and on_disk == set(sums), "every vendored file is listed in SOURCE.md, and only those"
    for path, digest in sums.items():
        assert hashlib.sha256((VENDORED / path).read_bytes()).hexdigest() == digest, f"{path} was edited"


def test_the_crd_validated_against_is_the_chart_installed() -> None:
    assert (VENDORED / lb_controller.CHART_VERSION / CRD_FILE).is_file()


# --- strict validation ----------------------------------------------------------------------------------------


def test_every_binding_passes_the_crd_strictly() -> None:
    objs = _bindings()
    assert len(objs) == 5
    for obj in objs:
        assert validate_tgb(obj) == [], obj["metadata"]["name"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "targetType"), "pod"),  # enum: instance | ip
        (("spec", "ipAddressType"), "dualstack"),  # enum: ipv4 | ipv6
        (("spec", "serviceRef", "namespace"), "other"),  # unknown field: pruned, so strict validation refuses it
        (("spec", "targetGroupArn"), "arn:aws:..."),  # misspelt field
    ],
)
def test_the_validator_refuses_what_the_api_server_would(path: tuple[str, ...], value: object) -> None:
    obj = _bindings()[0]
    node = obj
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert validate_tgb(obj), f"{'.'.join(path)}={value!r} passed"


def test_a_binding_without_a_service_is_refused() -> None:
    obj = _bindings()[0]
    del obj["spec"]["serviceRef"]
    assert validate_tgb(obj)


# --- bound to the operator's Services -------------------------------------------------------------------------


def test_bindings_name_the_services_and_ports_the_operator_creates() -> None:
    name = "emqx-prod"
    spec = emqx_spec(dataclasses.replace(INPUTS, name=name))
    # What the operator turns into Services <name>-listeners and <name>-dashboard (emqx-docs aws-eks.md).
    services = {
        f"{name}-listeners": {p["port"] for p in spec["listenersServiceTemplate"]["spec"]["ports"]},
        f"{name}-dashboard": {p["port"] for p in spec["dashboardServiceTemplate"]["spec"]["ports"]},
    }
    objs = _bindings(name)
    bound = {(o["spec"]["serviceRef"]["name"], o["spec"]["serviceRef"]["port"]) for o in objs}
    assert bound == {(svc, port) for svc, ports in services.items() for port in ports}
    # ip targets (pods), and the ARN of that port's own target group.
    for obj in objs:
        assert obj["spec"]["targetType"] == "ip"
        assert obj["spec"]["targetGroupARN"] == ARNS[obj["spec"]["serviceRef"]["port"]]
        assert "networking" not in obj["spec"], "security groups are the stack's, not the controller's"


def test_only_the_served_mqtt_ports_are_bound_and_the_dashboard_always() -> None:
    objs = _bindings(mqtt_ports=(8883, 8084))
    assert sorted(o["spec"]["serviceRef"]["port"] for o in objs) == [8084, 8883, 18083]
    names = [o["metadata"]["name"] for o in objs]
    assert len(set(names)) == len(names)


def test_ports_without_a_target_group_or_unknown_ports_are_refused() -> None:
    with pytest.raises(ValueError, match="no target group"):
        tgb.emqx_target_group_bindings(emqx_name="emqx", namespace="emqx", target_group_arns={1883: "arn"},
                                       mqtt_ports=(1883,))
    with pytest.raises(ValueError, match="not EMQX listener ports"):
        tgb.emqx_target_group_bindings(emqx_name="emqx", namespace="emqx", target_group_arns=ARNS,
                                       mqtt_ports=(1884,))
