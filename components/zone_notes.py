"""What a stack's zone list means for EMQX and the network, said before `pulumi up` does it silently.

Pure (no Pulumi import): the program logs these as notes (__main__.py), so both `pulumi preview` and the offline
preview show them.

- The EMQX pool is split over the zones as evenly as whole nodes go, the first zones taking the rest
  (components/alicloud/cluster.py `_share`): with fewer EMQX nodes than zones, the last zones get none at rest.
- Each zone's vSwitches sit in a fixed address slot given by its position in cloud.zones
  (components/network_plan.py `_layout`): reordering or removing a zone moves the others' CIDRs, and a vSwitch
  whose CIDR changes is replaced, with its nodes (terraform-provider-alicloud alicloud_vswitch, which
  pulumi_alicloud vpc.Switch wraps: cidr_block is ForceNew).
"""

from __future__ import annotations

from collections.abc import Sequence


def split_over_zones(total: int, zones: int) -> list[int]:
    """`total` nodes over `zones` zones as the cluster component places them: even, the first zones take the rest."""
    return [total // zones + (1 if index < total % zones else 0) for index in range(zones)]


def zone_notes(zones: Sequence[str], emqx_nodes: int, rollout_surge: int,
               node_cidrs: Sequence[str] = ()) -> list[str]:
    """Notes on the zone list: zones left without an EMQX node at rest, and the position-to-subnet mapping."""
    notes: list[str] = []
    if not zones:
        return notes
    at_rest = split_over_zones(emqx_nodes, len(zones))
    room = split_over_zones(rollout_surge, len(zones))
    empty = [zone for zone, nodes in zip(zones, at_rest, strict=True) if nodes == 0]
    if empty:
        only_peak = [zone for zone, nodes, extra in zip(zones, at_rest, room, strict=True) if nodes == 0 and extra]
        during = (f" ({', '.join(only_peak)} only during a rollout)" if only_peak else "")
        notes.append(
            f"{', '.join(empty)} get no EMQX node at rest{during}: {emqx_nodes} EMQX node(s) over {len(zones)} zones "
            "go to the first zones listed, so listing a zone adds no EMQX node there; use at least as many EMQX "
            "nodes as zones (emqx.cores, emqx.replicants), or fewer zones in cloud.zones"
        )
    if node_cidrs:
        slots = ", ".join(f"{zone} {cidr}" for zone, cidr in zip(zones, node_cidrs, strict=False))
        notes.append(
            f"zone order fixes each zone's address slot ({slots}): add new zones at the end of cloud.zones; "
            "reordering or removing one moves the others' vSwitch CIDRs, which replaces those vSwitches and their "
            "nodes"
        )
    return notes
