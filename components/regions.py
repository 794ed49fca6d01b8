"""Alibaba Cloud regions and their zone ids, so a mistyped or invented zone is refused before `pulumi up`.

Source, read 2026-11-30: Alibaba Cloud's "Regions and zones supported by ECI" (the most complete zone-id table the
docs publish per region), https://help.aliyun.com/en/eci/product-overview/regions-and-zones and its Chinese
original https://help.aliyun.com/document_detail/89155.html; cross-checked for cn-hangzhou, cn-shanghai, cn-beijing,
cn-shenzhen and cn-hongkong against KMS's "Regions and zones"
(https://help.aliyun.com/en/kms/key-management-service/product-overview/supported-regions).

Honest limits of this table:
- It lists zones where ECI runs, which is every general-purpose zone of the region as far as the pages show, but
  a zone that opened after the date above, or a zone ECI skips, is missing: list it in `cloud.extraZones`.
- Only the regions whose zone ids we could read are here: the Chinese mainland and Hong Kong, Tokyo, Singapore,
  Sydney. Other regions (Seoul, Kuala Lumpur, Jakarta, Manila, Bangkok, Frankfurt, London, Virginia, Silicon
  Valley, Dubai, Riyadh, finance and government clouds) are real but their zone ids are not in this table: a stack
  there lists its zones in `cloud.extraZones`, and the region is accepted because every zone is listed there.
- Whether ACK sells a node's instance type in a zone is not known here; only the cloud can tell (README, Known
  limits).
"""

from __future__ import annotations

import re

# Region ids: lower-case words joined by hyphens, e.g. cn-hangzhou, ap-southeast-1, cn-shanghai-finance-1.
REGION_ID = re.compile(r"[a-z]{2}(-[a-z0-9]+){1,4}", re.ASCII)
# Zone ids: the region id, then the zone's letter, joined by a hyphen in China (cn-hangzhou-h) and directly
# elsewhere (ap-southeast-1a).
ZONE_SUFFIX = re.compile(r"-?[a-z][a-z0-9]{0,3}", re.ASCII)
MAX_ID_LENGTH = 32


def _zones(region: str, letters: str, *, joined: bool = True) -> tuple[str, ...]:
    return tuple(f"{region}-{letter}" if joined else f"{region}{letter}" for letter in letters)


ZONES: dict[str, tuple[str, ...]] = {
    "cn-hangzhou": _zones("cn-hangzhou", "befghijk"),
    "cn-shanghai": _zones("cn-shanghai", "abcdefgklmn"),
    "cn-qingdao": _zones("cn-qingdao", "bc"),
    "cn-beijing": _zones("cn-beijing", "cdefghijkl"),
    "cn-zhangjiakou": _zones("cn-zhangjiakou", "abc"),
    "cn-huhehaote": _zones("cn-huhehaote", "ab"),
    "cn-wulanchabu": _zones("cn-wulanchabu", "abc"),
    "cn-shenzhen": _zones("cn-shenzhen", "abcdef"),
    "cn-heyuan": _zones("cn-heyuan", "ab"),
    "cn-guangzhou": _zones("cn-guangzhou", "ab"),
    "cn-chengdu": _zones("cn-chengdu", "ab"),
    "cn-hongkong": _zones("cn-hongkong", "bcd"),
    "ap-northeast-1": _zones("ap-northeast-1", "abc", joined=False),
    "ap-southeast-1": _zones("ap-southeast-1", "abc", joined=False),
    "ap-southeast-2": _zones("ap-southeast-2", "ab", joined=False),
}


def region_syntax_problem(region: str) -> str | None:
    """Why this text cannot be a region id, or None."""
    if len(region) > MAX_ID_LENGTH or not REGION_ID.fullmatch(region):
        return "is not a region id (lower-case letters, digits and hyphens, such as cn-hangzhou)"
    return None


def zone_syntax_problem(zone: str, region: str) -> str | None:
    """Why this text cannot be a zone id of `region`, or None."""
    if len(zone) > MAX_ID_LENGTH or not re.fullmatch(r"[a-z0-9-]+", zone, re.ASCII):
        return "is not a zone id (lower-case letters, digits and hyphens, such as cn-hangzhou-h)"
    if not zone.startswith(region) or not ZONE_SUFFIX.fullmatch(zone[len(region):]):
        return f"is not a zone of region {region!r}"
    return None


def is_listed(region: str, zone: str | None = None) -> bool:
    if zone is None:
        return region in ZONES
    return zone in ZONES.get(region, ())
