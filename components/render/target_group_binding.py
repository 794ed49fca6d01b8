"""TargetGroupBinding objects (AWS Load Balancer Controller, elbv2.k8s.aws/v1beta1): how the stack's own NLB target
groups follow the EMQX pods. Pure: no cloud SDK, no Pulumi; the ARNs are whatever the caller hands in (strings in
tests, Outputs in the component).

Design (the AWS analogue of the Alibaba CCM's `vgroup-port` binding): the stack owns the NLB, its listeners and
target groups; the controller only registers and deregisters pod IPs. One binding per target group and port, since
a target group takes one binding unless it is multi-cluster (docs/guide/targetgroupbinding/targetgroupbinding.md).

- `serviceRef` names the Services the EMQX operator creates, `<emqx.name>-listeners` and `<emqx.name>-dashboard`
  (emqx-docs deploy/kubernetes/operator/aws-eks.md), and the Service port (the validator does not require the
  Service to exist yet: webhooks/elbv2/targetgroupbinding_validator.go), so the bindings can precede the EMQX
  resource: readiness gates are injected only into pods created after a matching binding exists
  (docs/deploy/pod_readiness_gate.md).
- `targetType: ip` is set rather than inferred: inference makes the mutating webhook call DescribeTargetGroups, and
  both targetType and ipAddressType are immutable (apis/elbv2/v1beta1/targetgroupbinding_types.go).
- No `networking`: the stack's security-group rules (node group SG allows the NLB's SG on these ports) are reviewed
  code, and the controller's TargetGroupBinding-only IAM policy grants no ec2:AuthorizeSecurityGroupIngress.
  Without `networking` the controller computes no rules to add (pkg/networking/networking_manager.go
  ReconcileForPodEndpoints: permissions only when spec.networking is set).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.render.emqx import DASHBOARD_PORT, LISTENERS

API_VERSION = "elbv2.k8s.aws/v1beta1"
KIND = "TargetGroupBinding"
# The operator's listener port names (mqtt, mqtts, ws, wss), also the URL schemes and the binding name suffixes.
SCHEMES: Mapping[int, str] = {port: name for _, name, port in LISTENERS}
DASHBOARD_LABEL = "dashboard"


def listeners_service(emqx_name: str) -> str:
    """The Service the operator creates for the MQTT listeners (selects replicants when there are any, else cores)."""
    return f"{emqx_name}-listeners"


def dashboard_service(emqx_name: str) -> str:
    """The Service the operator creates for the dashboard and REST API (always selects cores)."""
    return f"{emqx_name}-dashboard"


def port_label(port: int) -> str:
    return SCHEMES.get(port, DASHBOARD_LABEL if port == DASHBOARD_PORT else str(port))


def binding_name(emqx_name: str, port: int) -> str:
    return f"{emqx_name}-{port_label(port)}"


def target_group_binding(*, name: str, namespace: str, service: str, port: int, target_group_arn: object,
                         labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {
            "serviceRef": {"name": service, "port": port},
            "targetGroupARN": target_group_arn,
            "targetType": "ip",
            "ipAddressType": "ipv4",
        },
    }


def emqx_target_group_bindings(*, emqx_name: str, namespace: str, target_group_arns: Mapping[int, object],
                               mqtt_ports: Sequence[int], labels: Mapping[str, str] | None = None
                               ) -> list[dict[str, Any]]:
    """One binding per served MQTT port (to `<emqx_name>-listeners`) and one for the dashboard port (to
    `<emqx_name>-dashboard`); `target_group_arns` maps each of those ports to its target group's ARN."""
    unknown = [p for p in mqtt_ports if p not in SCHEMES]
    if unknown:
        raise ValueError(f"mqtt_ports: {unknown} are not EMQX listener ports ({sorted(SCHEMES)})")
    wanted = [*mqtt_ports, DASHBOARD_PORT]
    missing = [p for p in wanted if p not in target_group_arns]
    if missing:
        raise ValueError(f"target_group_arns: no target group for port(s) {missing}")
    return [
        target_group_binding(
            name=binding_name(emqx_name, port),
            namespace=namespace,
            service=dashboard_service(emqx_name) if port == DASHBOARD_PORT else listeners_service(emqx_name),
            port=port,
            target_group_arn=target_group_arns[port],
            labels=labels,
        )
        for port in wanted
    ]
