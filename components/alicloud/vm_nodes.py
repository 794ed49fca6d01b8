"""The ECS instances of a VM-mode EMQX cluster: one `ecs.Instance` per node, each with the fixed private IP of the
address plan, in its zone's node vSwitch, spread over physical hosts by a deployment set, no public address, the
instance RAM role that reads the cluster's secrets, and its own cloud-init user data (rendered elsewhere, secret-free).

Choices, each from the source:
- Deployment set, strategy Availability: every instance of the set on a different physical server in the region
  (ECS 'Deployment sets overview', high availability strategy; pulumi-alicloud ecs.EcsDeploymentSet `strategy`).
  Such a set holds at most 20 instances per zone, a limit that cannot be raised (alibabacloud.com ACK 'Best
  practices for associating deployment sets with node pools', quoting the ECS deployment set limits), so nodes go
  to sets of one role each, the n-th node of a role in a zone into set n // 20: a node's set never changes when
  nodes are added (its index in its zone only depends on its own ordinal), and no set outgrows the limit.
- `private_ip` needs `vswitch_id`; changing either reboots the instance (pulumi-alicloud ecs.Instance).
- `role_name` at creation, although the provider now prefers ecs.RamRoleAttachment: an attachment is made after the
  instance exists, racing cloud-init's first boot, which needs the role to read the secrets.
- `internet_max_bandwidth_out=0`: no public IP ("larger than 0 will allocate public ip", ecs.Instance
  allocate_public_ip); nodes reach the package mirror through the stack's NAT gateway.
- `user_data` and `image_id` are ignored after creation. A user-data change reboots the instance (ecs.Instance
  user_data) and an image change re-initialises its system disk in place (features.ecs_instance
  .replace_on_image_update): on every node at once, which is exactly what a cluster must never do. Config and version
  changes go through Cloud Assistant one node at a time (vm_rollout); a new image is a per-node replacement
  (`pulumi up --replace <node urn>`, one node at a time, README).
- `instance_type` and `data_disks` are ignored after creation for the same reason: the provider applies a new type by
  stopping the instance, changing its spec and starting it (terraform-provider-alicloud resource_alicloud_instance.go
  modifyInstanceType, StopInstance), and every field of `data_disks` is ForceNew (a new disk size replaces the
  instance); Pulumi would do either to every node at once. A new type or disk size reaches a node when it is
  replaced, one at a time (README).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence

import pulumi
import pulumi_alicloud as alicloud

from components.alicloud.vm_spec import VmClusterSpec, VmNodePlan

# Alibaba: "the pre-encoding user data cannot exceed 16 KB" (doc-detail/49121; VM.md §3).
USER_DATA_LIMIT_BYTES = 16 * 1024
# Instances per zone in one deployment set of the Availability strategy (see the module docstring).
DEPLOYMENT_SET_ZONE_LIMIT = 20

UserData = Sequence[pulumi.Input[str]] | Callable[[VmNodePlan], pulumi.Input[str]]


def deployment_sets(nodes: Sequence[VmNodePlan]) -> list[str]:
    """The deployment set key of each node ("<role>" or "<role>-<n>"), in node order; at most
    DEPLOYMENT_SET_ZONE_LIMIT nodes of a set in any zone."""
    seen: dict[tuple[str, str], int] = {}
    keys = []
    for node in nodes:
        index = seen.get((node.role, node.zone), 0)
        seen[(node.role, node.zone)] = index + 1
        chunk = index // DEPLOYMENT_SET_ZONE_LIMIT
        keys.append(node.role if chunk == 0 else f"{node.role}-{chunk}")
    return keys


def encode_user_data(text: str, node: str) -> str:
    raw = text.encode()
    if len(raw) > USER_DATA_LIMIT_BYTES:
        raise ValueError(f"{node}: user data is {len(raw)} bytes; ECS accepts at most {USER_DATA_LIMIT_BYTES}")
    # Base64 is what the provider recommends for user_data (pulumi-alicloud ecs.Instance).
    return base64.b64encode(raw).decode()


class VmNodes(pulumi.ComponentResource):
    instances: list[alicloud.ecs.Instance]
    instance_ids: list[pulumi.Output[str]]
    deployment_set_ids: dict[str, pulumi.Output[str]]
    node_names: list[str]
    private_ips: list[str]

    def __init__(
        self,
        name: str,
        *,
        spec: VmClusterSpec,
        vswitch_ids: Mapping[str, pulumi.Input[str]],
        security_group_id: pulumi.Input[str],
        role_name: pulumi.Input[str],
        user_data: UserData,
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("emqx-platform:alicloud:VmNodes", name, None, opts)
        tagged = {**dict(spec.tags), "component": "vm-nodes"}
        missing = sorted({n.zone for n in spec.nodes} - set(vswitch_ids))
        if missing:
            raise ValueError(f"no node vSwitch for zone(s) {', '.join(missing)}")
        per_node = list(user_data) if not callable(user_data) else [user_data(n) for n in spec.nodes]
        if len(per_node) != len(spec.nodes):
            raise ValueError(f"{len(spec.nodes)} nodes but {len(per_node)} user data documents")

        set_keys = deployment_sets(spec.nodes)
        sets: dict[str, alicloud.ecs.EcsDeploymentSet] = {}
        for key in dict.fromkeys(set_keys):
            sets[key] = alicloud.ecs.EcsDeploymentSet(
                f"{name}-{key}-spread", deployment_set_name=f"{name}-{key}-spread", strategy="Availability",
                description=f"EMQX {key} nodes, each on a different physical server",
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.deployment_set_ids = {k: d.id for k, d in sets.items()}
        self.instances = []
        for node, document, set_key in zip(spec.nodes, per_node, set_keys, strict=True):
            label = node.name
            encoded = pulumi.Output.from_input(document).apply(lambda text, n=label: encode_user_data(text, n))
            data_disks = None
            if node.data_disk is not None:
                data_disks = [alicloud.ecs.InstanceDataDiskArgs(
                    size=node.data_disk.size_gib, category=node.data_disk.category,
                    encrypted=spec.encrypt_disks, name=f"{name}-{node.name}-data",
                    description="EMQX data (/var/lib/emqx)",
                    # The core's state survives the instance only as a snapshot; a replaced core rejoins and
                    # copies the cluster's data from the other cores.
                    delete_with_instance=True,
                )]
            instance = alicloud.ecs.Instance(
                f"{name}-{node.name}",
                instance_name=f"{name}-{node.name}",
                host_name=f"{name}-{node.name}",
                description=f"EMQX {node.role} {node.emqx_node_name}",
                image_id=spec.image_id,
                instance_type=node.instance_type,
                instance_charge_type="PostPaid",
                vswitch_id=vswitch_ids[node.zone],
                private_ip=node.private_ip,
                security_groups=[security_group_id],
                deployment_set_id=sets[set_key].id,
                internet_max_bandwidth_out=0,
                system_disk_category=node.system_disk.category,
                system_disk_size=node.system_disk.size_gib,
                system_disk_encrypted=spec.encrypt_disks,
                data_disks=data_disks,
                role_name=role_name,
                user_data=encoded,
                deletion_protection=spec.protect,
                tags={**tagged, "emqx-role": node.role, "emqx-node": node.emqx_node_name},
                # `after`: what a node needs at first boot (the NAT route for the package download, the secrets
                # and the role's policy); a component's depends_on does not reach its children by itself.
                # A replacement (`pulumi up --replace` of one node) must delete the old instance first: the new one
                # asks for the same fixed private IP, which a VPC gives to one instance at a time.
                opts=pulumi.ResourceOptions(parent=self, protect=spec.protect, depends_on=list(after),
                                            ignore_changes=["user_data", "image_id", "instance_type", "data_disks"],
                                            delete_before_replace=True),
            )
            self.instances.append(instance)
        self.instance_ids = [i.id for i in self.instances]
        self.node_names = [n.emqx_node_name for n in spec.nodes]
        self.private_ips = [n.private_ip for n in spec.nodes]
        self.register_outputs({
            "instance_ids": self.instance_ids,
            "node_names": self.node_names,
            "private_ips": self.private_ips,
        })
