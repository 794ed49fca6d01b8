"""An ACK managed (Pro) cluster with a system pool, a dedicated, tuned EMQX pool and an optional load-generator
pool; its kubeconfig (a secret) feeds the kubernetes.Provider every workload uses."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import replace

import pulumi
import pulumi_alicloud as alicloud
import pulumi_kubernetes as k8s

from components.settings import ClusterSettings, NodePoolSettings

POOL_LABEL = "emqx-platform/pool"
EMQX_TAINT_KEY = "emqx-platform/dedicated"


class AckCluster(pulumi.ComponentResource):
    cluster_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    node_pools: list[alicloud.cs.NodePool]

    def __init__(
        self,
        name: str,
        *,
        settings: ClusterSettings,
        plugin: str,
        pod_cidr: str | None,
        service_cidr: str,
        node_cidr_mask: int | None,
        zones: Sequence[str],
        node_vswitch_ids: Sequence[pulumi.Input[str]],
        pod_vswitch_ids: Sequence[pulumi.Input[str]],
        security_group_id: pulumi.Input[str],
        system_pool: NodePoolSettings,
        emqx_pool: NodePoolSettings,
        loadgen_pool: NodePoolSettings | None,
        tuning_script: str,
        allowed_unsafe_sysctls: Sequence[str],
        tags: Mapping[str, str],
        protect: bool,
        cloud_provider: pulumi.ProviderResource | None = None,
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("emqx-platform:alicloud:AckCluster", name, None, opts)
        tagged = {**tags, "component": "cluster"}
        network_addon = "flannel" if plugin == "flannel" else "terway-eniip"
        cluster = alicloud.cs.ManagedKubernetes(
            f"{name}-ack",
            name=f"{name}-ack",
            cluster_spec=settings.spec,
            version=settings.kubernetes_version,
            vswitch_ids=list(node_vswitch_ids),
            pod_cidr=pod_cidr,
            pod_vswitch_ids=list(pod_vswitch_ids) or None,
            service_cidr=service_cidr,
            node_cidr_mask=node_cidr_mask,
            # The network component owns NAT and the node security group.
            new_nat_gateway=False,
            security_group_id=security_group_id,
            slb_internet_enabled=settings.api_server_public,
            # ACK deprecates IPVS from 1.35; an EMQX cluster has a handful of Services, where iptables costs nothing.
            proxy_mode="iptables",
            deletion_protection=protect,
            addons=[
                alicloud.cs.ManagedKubernetesAddonArgs(name=network_addon),
                alicloud.cs.ManagedKubernetesAddonArgs(name="csi-plugin"),
                alicloud.cs.ManagedKubernetesAddonArgs(name="csi-provisioner"),
            ],
            tags=tagged,
            opts=pulumi.ResourceOptions(parent=self, protect=protect, depends_on=list(after)),
        )
        self.cluster_id = cluster.id
        self.node_pools = []
        pre_user_data = base64.b64encode(tuning_script.encode()).decode()
        self.node_pools.append(self._pool(name, cluster, system_pool, node_vswitch_ids, security_group_id, tagged,
                                          taints=(), tuning=None, sysctls=()))
        # One EMQX pool per zone: the autoscaler can only add a node in the zone a Pending pod needs (cores spread
        # over zones, core volumes are zonal disks) when each pool lives in one zone.
        # Nodes and rollout room split as evenly as they go; the autoscaler adds the rest where pods need it.
        surge = emqx_pool.rollout_surge or 0
        for i, (zone, vswitch_id) in enumerate(zip(zones, node_vswitch_ids, strict=True)):
            at_rest, room = _share(emqx_pool.count, len(zones), i), _share(surge, len(zones), i)
            if at_rest + room == 0:
                continue
            zonal = replace(emqx_pool, name=f"{emqx_pool.name}-{zone}", count=at_rest, rollout_surge=room)
            self.node_pools.append(self._pool(name, cluster, zonal, [vswitch_id], security_group_id, tagged,
                                              taints=((EMQX_TAINT_KEY, "emqx", "NoSchedule"),), tuning=pre_user_data,
                                              sysctls=allowed_unsafe_sysctls, label=emqx_pool.name))
        if loadgen_pool is not None and loadgen_pool.enabled and loadgen_pool.count:
            # Load generators open many outgoing connections: same kernel tuning, own taint.
            self.node_pools.append(self._pool(name, cluster, loadgen_pool, node_vswitch_ids, security_group_id,
                                              tagged, taints=((EMQX_TAINT_KEY, "loadgen", "NoSchedule"),),
                                              tuning=pre_user_data, sysctls=allowed_unsafe_sysctls))

        if surge:
            # The cluster autoscaler adds nodes for the operator's new EMQX set during a blue-green rollout and
            # removes them once the old set is gone. EMQX pods request nearly a whole node, so a node that runs one
            # is never "underutilised" and never scaled in under it.
            alicloud.cs.AutoscalingConfig(
                f"{name}-autoscaler",
                cluster_id=cluster.id,
                scaler_type="cluster-autoscaler",
                expander="least-waste",
                scale_down_enabled=True,
                unneeded_duration="10m",
                utilization_threshold="0.5",
                # EMQX core data lives on cloud disks, not node-local storage.
                skip_nodes_with_local_storage=False,
                opts=pulumi.ResourceOptions(parent=self, depends_on=self.node_pools),
            )

        # The same (inherited) provider, hence region, as the cluster itself.
        # Asked of the stack's own provider (its region), like every resource here.
        credential = alicloud.cs.get_cluster_credential_output(
            cluster_id=cluster.id, opts=pulumi.InvokeOutputOptions(parent=self, provider=cloud_provider)
        )
        self.kubeconfig = pulumi.Output.secret(credential.kube_config.apply(lambda k: k or ""))
        # cluster_identifier: while the kubeconfig is unknown (first preview) the provider must not look replaced,
        # or every Kubernetes resource would show as a replacement.
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, cluster_identifier=cluster.id,
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=self.node_pools))
        self.register_outputs({"cluster_id": self.cluster_id, "kubeconfig": self.kubeconfig})

    def _pool(self, name: str, cluster: alicloud.cs.ManagedKubernetes, pool: NodePoolSettings,
              vswitch_ids: Sequence[pulumi.Input[str]], security_group_id: pulumi.Input[str],
              tags: Mapping[str, str], *, taints: Sequence[tuple[str, str, str]], tuning: str | None,
              sysctls: Sequence[str], label: str | None = None) -> alicloud.cs.NodePool:
        kubelet = (alicloud.cs.NodePoolKubeletConfigurationArgs(allowed_unsafe_sysctls=list(sysctls))
                   if sysctls else None)
        room = pool.rollout_surge or 0
        # A pool with rollout room scales between its size and size + room; desired_size does not apply then.
        scaling = (alicloud.cs.NodePoolScalingConfigArgs(enable=True, min_size=pool.count, max_size=pool.count + room)
                   if room else None)
        return alicloud.cs.NodePool(
            f"{name}-{pool.name}",
            node_pool_name=f"{name}-{pool.name}",
            cluster_id=cluster.id,
            vswitch_ids=list(vswitch_ids),
            instance_types=list(pool.instance_types),
            desired_size=None if scaling else str(pool.count),
            scaling_config=scaling,
            # Spread evenly over the zones' vSwitches, so losing a zone loses a predictable share.
            multi_az_policy="BALANCE",
            system_disk_category=pool.disk_category,
            system_disk_size=pool.disk_gib,
            security_group_ids=[security_group_id],
            runtime_name="containerd",
            image_type="AliyunLinux3",
            labels=[alicloud.cs.NodePoolLabelArgs(key=POOL_LABEL, value=label or pool.name)],
            taints=[alicloud.cs.NodePoolTaintArgs(key=k, value=v, effect=e) for k, v, e in taints] or None,
            pre_user_data=tuning,
            kubelet_configuration=kubelet,
            tags={**tags, "pool": label or pool.name},
            opts=pulumi.ResourceOptions(parent=self),
        )


def _share(total: int, parts: int, index: int) -> int:
    """Part `index` of `total` split over `parts` as evenly as whole numbers allow (the first ones get the rest)."""
    return total // parts + (1 if index < total % parts else 0)


def pool_placement(pool_name: str, *, dedicated: bool) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Node selector and tolerations that put a pod on a pool made by AckCluster."""
    selector = {POOL_LABEL: pool_name}
    tolerations = ([{"key": EMQX_TAINT_KEY, "operator": "Equal", "value": pool_name, "effect": "NoSchedule"}]
                   if dedicated else [])
    return selector, tolerations
