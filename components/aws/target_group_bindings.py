"""Applies the TargetGroupBinding objects (components/render/target_group_binding.py) to the cluster: after the
load balancer controller (its webhooks validate them and it fills the target groups), before the EMQX resource
(pods get the controller's readiness gates only if a binding for their Service exists when they are created:
aws-load-balancer-controller docs/deploy/pod_readiness_gate.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.render.target_group_binding import emqx_target_group_bindings


class TargetGroupBindings(pulumi.ComponentResource):
    bindings: list[k8s.apiextensions.CustomResource]

    def __init__(
        self,
        name: str,
        *,
        emqx_name: str,
        namespace: str,
        target_group_arns: Mapping[int, pulumi.Input[str]],
        mqtt_ports: Sequence[int],
        controller: pulumi.Resource,
        labels: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """opts must carry the cluster's Kubernetes provider; `controller` is the load balancer controller's Helm
        release (or its component). The namespace must exist and carry the label
        `elbv2.k8s.aws/pod-readiness-gate-inject: enabled` for readiness gates."""
        super().__init__("emqx-platform:aws:TargetGroupBindings", name, None, opts)
        self.bindings = []
        objs = emqx_target_group_bindings(emqx_name=emqx_name, namespace=namespace,
                                          target_group_arns=target_group_arns, mqtt_ports=mqtt_ports, labels=labels)
        for obj in objs:
            self.bindings.append(k8s.apiextensions.CustomResource(
                f"{name}-{obj['metadata']['name']}",
                api_version=obj["apiVersion"],
                kind=obj["kind"],
                metadata=obj["metadata"],
                spec=obj["spec"],
                # The ARN and target type cannot change on a binding (the controller's validating webhook refuses
                # it: targetgroupbinding_validator.go); a replaced target group gets a new binding instead, the old
                # one deleted first since both have the same name.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[controller],
                                            replace_on_changes=["spec.targetGroupARN", "spec.targetType"],
                                            delete_before_replace=True),
            ))
        self.register_outputs({"names": [obj["metadata"]["name"] for obj in objs]})
