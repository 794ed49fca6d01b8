"""An ACK managed (Pro) cluster with a system pool, a dedicated, tuned EMQX pool and an optional load-generator
pool; its kubeconfig (a secret) feeds the kubernetes.Provider every workload uses.

How a node change reaches running nodes:
- labels and taints: `update_nodes` (the provider syncs them onto existing nodes);
- the kubelet's allowed unsafe sysctls: ACK rolls the pool's kubelet configuration out to existing nodes, one node
  at a time (`rolling_policy`);
- kernel tuning: pre_user_data runs only when a node is created, so a privileged DaemonSet on the tuned pools (the
  reconciler) re-runs the same script on every running node. Its pod template carries the script, so a new profile is
  a rolling update of the DaemonSet, one node at a time; it then keeps raising the conntrack limit kube-proxy lowers.
  Chosen over replacing nodes keyed by a tuning digest: a replaced EMQX pool drops every client on its nodes and
  waits on cloud capacity, while the script is idempotent and applies live (sysctls, limits, a containerd restart
  that leaves running containers alone; pods pick up pod-level sysctls when the operator rolls them).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pulumi
import pulumi_alicloud as alicloud
import pulumi_kubernetes as k8s

from components.pools import EMQX_TAINT_KEY, POOL_LABEL
from components.settings import ClusterSettings, NodePoolSettings

RECONCILER_NAME = "emqx-node-tuning"
TUNING_DIGEST_ANNOTATION = "emqx-platform/tuning-digest"


class AckCluster(pulumi.ComponentResource):
    cluster_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    api_server_lb_id: pulumi.Output[str]
    api_server_acl_id: pulumi.Output[str] | None
    provider: k8s.Provider
    node_pools: list[alicloud.cs.NodePool]
    reconciler: k8s.apps.v1.DaemonSet

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
        conntrack_keeper: str | None,
        reconciler_image: str,
        allowed_unsafe_sysctls: Sequence[str],
        vpc_cidr: str,
        tags: Mapping[str, str],
        protect: bool,
        cloud_provider: pulumi.ProviderResource | None = None,
        after: Sequence[pulumi.Resource] = (),
        core_pool: NodePoolSettings | None = None,
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
            # An EIP on ACK's API server CLB; who may reach it is the access list below.
            slb_internet_enabled=settings.api_server.public,
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
        # ACK's API server CLB: where the access list is bound (README, Known limits).
        self.api_server_lb_id = cluster.slb_id
        self.api_server_acl_id = None
        if settings.api_server.public and not settings.api_server.access_list_bound:
            # Said on every run until the config says otherwise: the provider cannot bind the list (README).
            pulumi.log.warn("the API server has a public endpoint with no access list bound to it: anyone can reach "
                            "it. Bind the list (README, Known limits; outputs api_server_acl_id, api_server_lb_id) "
                            "and set cluster.apiServer.accessListBound: true", resource=self)
        if settings.api_server.allowed_cidrs:
            self.api_server_acl_id = self._api_server_acl(name, settings.api_server.allowed_cidrs,
                                                          [vpc_cidr, *([pod_cidr] if pod_cidr else [])], tagged)
        self.node_pools = []
        self._image_type = settings.node_image
        pre_user_data = base64.b64encode(tuning_script.encode()).decode()
        self.node_pools.append(self._pool(name, cluster, system_pool, node_vswitch_ids, security_group_id, tagged,
                                          taints=(), tuning=None, sysctls=()))
        # One EMQX pool per zone: the autoscaler can only add a node in the zone a Pending pod needs (cores spread
        # over zones, core volumes are zonal disks) when each pool lives in one zone.
        # Nodes and rollout room split as evenly as they go; the autoscaler adds the rest where pods need it.
        # The cores' own pool beside replicants (nodePools.core) is zonal for the same reason, and even more so: a
        # core's data disk can only follow it to a node of its own zone. Tuned like the EMQX pool: the core pods
        # carry the same sysctls and open-file limit.
        surge = 0
        for pool in (emqx_pool, *([core_pool] if core_pool is not None else [])):
            surge += pool.rollout_surge or 0
            for i, (zone, vswitch_id) in enumerate(zip(zones, node_vswitch_ids, strict=True)):
                at_rest, room = _share(pool.count, len(zones), i), _share(pool.rollout_surge or 0, len(zones), i)
                if at_rest + room == 0:
                    continue
                zonal = replace(pool, name=f"{pool.name}-{zone}", count=at_rest, rollout_surge=room)
                self.node_pools.append(self._pool(name, cluster, zonal, [vswitch_id], security_group_id, tagged,
                                                  taints=((EMQX_TAINT_KEY, pool.name, "NoSchedule"),),
                                                  tuning=pre_user_data, sysctls=allowed_unsafe_sysctls,
                                                  label=pool.name))
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
        tuned_pools = [emqx_pool.name, *([core_pool.name] if core_pool is not None else [])] + (
            [loadgen_pool.name] if loadgen_pool is not None and loadgen_pool.enabled and loadgen_pool.count else [])
        manifest = node_reconciler_manifest(tuning_script, conntrack_keeper, reconciler_image, tuned_pools)
        self.reconciler = k8s.apps.v1.DaemonSet(
            f"{name}-node-tuning", metadata=manifest["metadata"], spec=manifest["spec"],
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=self.node_pools),
        )
        self.register_outputs({"cluster_id": self.cluster_id, "kubeconfig": self.kubeconfig})

    def _api_server_acl(self, name: str, allowed: Sequence[str], cluster_cidrs: Sequence[str],
                        tags: Mapping[str, str]) -> pulumi.Output[str]:
        """The whitelist for ACK's API server listener (CLB port 6443), which serves both endpoints.

        ACK's access control is an ACL on that listener ("Configure access control policies for the API server");
        pulumi_alicloud 4.0.0 has no argument that binds one to it (cs.ManagedKubernetes has only
        slb_internet_enabled; slb.Listener would have to own ACK's listener), so the stack owns the list and
        README says how to bind it once. Nodes and pods reach the API server through the same listener, hence the
        cluster's own ranges. Entries are named by CIDR, so removing one leaves the others in place.
        """
        acl = alicloud.slb.Acl(f"{name}-apiserver", name=f"{name}-apiserver", ip_version="ipv4",
                               tags={**tags, "component": "apiserver-acl"},
                               opts=pulumi.ResourceOptions(parent=self))
        entries = [(c, "cluster network: nodes and pods") for c in cluster_cidrs]
        entries += [(c, "cluster.apiServer.allowedCidrs") for c in allowed if c not in cluster_cidrs]
        for cidr, comment in entries:
            alicloud.slb.AclEntryAttachment(f"{name}-apiserver-{cidr.replace('/', '-')}", acl_id=acl.id, entry=cidr,
                                            comment=comment, opts=pulumi.ResourceOptions(parent=acl))
        return acl.id

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
            # cgroup v2 from Kubernetes 1.35 on; settings.NODE_IMAGES says which image runs which minor.
            image_type=self._image_type,
            labels=[alicloud.cs.NodePoolLabelArgs(key=POOL_LABEL, value=label or pool.name)],
            taints=[alicloud.cs.NodePoolTaintArgs(key=k, value=v, effect=e) for k, v, e in taints] or None,
            # "Synchronously update node labels and taints" (provider docs): without it an edit reaches new nodes
            # only, and a running node could lose or keep the taint that keeps other pods off EMQX's nodes.
            update_nodes=True,
            # Runs only when a node is created; the reconciler DaemonSet carries it to running nodes.
            pre_user_data=tuning,
            kubelet_configuration=kubelet,
            # A kubelet configuration change (the allowed unsafe sysctls) "immediately take[s] effect on existing
            # nodes", in batches, restarting each kubelet (ACK "Customize the kubelet parameters of a node pool");
            # one node per batch, so at most one EMQX node's kubelet restarts at once.
            rolling_policy=alicloud.cs.NodePoolRollingPolicyArgs(max_parallelism=1),
            tags={**tags, "pool": label or pool.name},
            opts=pulumi.ResourceOptions(parent=self),
        )


def _share(total: int, parts: int, index: int) -> int:
    """Part `index` of `total` split over `parts` as evenly as whole numbers allow (the first ones get the rest)."""
    return total // parts + (1 if index < total % parts else 0)


def node_reconciler_manifest(tuning_script: str, conntrack_keeper: str | None, image: str,
                             pools: Sequence[str]) -> dict[str, Any]:
    """metadata and spec of the DaemonSet that applies the node tuning script on running nodes of the tuned pools.

    Privileged, with the host's PID and network namespaces and its root at /host: the script runs chrooted into the
    host, with the host's own tools (sysctl, systemctl, modprobe), exactly as pre_user_data runs it. It runs in the
    init container, so a node where it fails never reports the pod ready and the rollout (and `pulumi up`) stops
    there. The image only needs `chroot` and a shell: EMQX's own (Debian, or Alpine for 4.4), already pulled from the
    stack's registry, so the reconciler adds no registry of its own. kube-system: a node agent beside ACK's own
    privileged node agents (kube-proxy, the CNI, csi-plugin), with the system-node-critical priority they use.
    """
    digest = hashlib.sha256((tuning_script + (conntrack_keeper or "")).encode()).hexdigest()[:16]
    labels = {"app.kubernetes.io/name": RECONCILER_NAME, "app.kubernetes.io/part-of": "emqx-platform"}
    host = {"name": "host", "mountPath": "/host"}
    privileged = {"privileged": True, "runAsUser": 0}
    resources = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}}
    keeper = (["chroot", "/host", "/bin/bash", "-c", conntrack_keeper] if conntrack_keeper
              else ["chroot", "/host", "sleep", "infinity"])
    return {
        "metadata": {"name": RECONCILER_NAME, "namespace": "kube-system", "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            # One node at a time: a changed open-file limit restarts containerd on the node.
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": labels, "annotations": {TUNING_DIGEST_ANNOTATION: digest}},
                "spec": {
                    "hostPID": True,
                    "hostNetwork": True,
                    "priorityClassName": "system-node-critical",
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [
                            {"key": POOL_LABEL, "operator": "In", "values": list(pools)}]}]}}},
                    "tolerations": [{"key": EMQX_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
                    "initContainers": [{
                        "name": "tune", "image": image, "command": ["chroot", "/host", "/bin/bash", "-c",
                                                                    tuning_script],
                        "securityContext": privileged, "volumeMounts": [host], "resources": resources,
                    }],
                    "containers": [{
                        "name": "conntrack-keeper", "image": image, "command": keeper,
                        "securityContext": privileged, "volumeMounts": [host], "resources": resources,
                    }],
                    "volumes": [{"name": "host", "hostPath": {"path": "/", "type": "Directory"}}],
                    "terminationGracePeriodSeconds": 5,
                },
            },
        },
    }
