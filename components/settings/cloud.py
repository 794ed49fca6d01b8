"""cloud: where the stack's resources go (region, zones), per target."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components import regions
from components.aws.address_plan import MAX_ZONES
from components.config_reader import Problems, Section, shown, suggest
from components.settings.common import NAME_LIMIT, STACK_NAME_MAX, Target


@dataclass(frozen=True)
class CloudSettings:
    region: str
    zones: tuple[str, ...]


def parse_cloud(section: Section, target: Target | None, production: bool) -> CloudSettings | None:
    """The cloud section of the target's cloud; None for a target that has none (an existing cluster)."""
    parser = CLOUD_PARSERS.get(target) if target else None
    return parser(section, production) if parser else None


def _alicloud(section: Section, production: bool) -> CloudSettings:
    region = section.string("region", None, required=True, hint="an Alibaba Cloud region id such as cn-hangzhou")
    zones = section.strings("zones", min_items=3 if production else 2,
                            hint="list the zone ids to spread nodes over, e.g. [cn-hangzhou-h, cn-hangzhou-i]")
    # Zones the table in components/regions.py does not know yet (a new zone, or a region whose zone ids the
    # table lacks): listed here on purpose, so a typo in cloud.zones is still caught.
    extra = section.strings("extraZones", ())
    problems = section.problems
    if region is not None and (bad := regions.region_syntax_problem(region)):
        problems.add("cloud.region", f"{shown(region)} {bad}", "use a region id such as cn-hangzhou")
        region = None
    for key, listed in (("cloud.zones", zones), ("cloud.extraZones", extra)):
        for i, zone in enumerate(listed):
            bad = regions.zone_syntax_problem(zone, region) if region else None
            if region and bad:
                example = (regions.ZONES.get(region) or (region + "-a",))[0]
                problems.add(f"{key}[{i}]", f"{shown(zone)} {bad}", f"use zone ids of {region} such as {example}")
    if region is not None and not problems.about("cloud.zones", "cloud.extraZones"):
        if not regions.is_listed(region) and not (zones and set(zones) <= set(extra)):
            close = suggest(region, sorted(regions.ZONES))
            problems.add("cloud.region", f"{region!r} is not in the region table (components/regions.py)",
                         (f"did you mean {close}? " if close else "")
                         + "for a region the table lacks, list its zones in cloud.extraZones as well")
        elif regions.is_listed(region):
            for i, zone in enumerate(zones):
                if not regions.is_listed(region, zone) and zone not in extra:
                    problems.add(f"cloud.zones[{i}]", f"{zone!r} is not a known zone of {region}",
                                 f"known: {', '.join(regions.ZONES[region])}; if Alibaba Cloud opened it after the "
                                 "table was written, add it to cloud.extraZones too")
        for i, zone in enumerate(extra):
            if zone not in zones:
                problems.add(f"cloud.extraZones[{i}]", f"{zone!r} is not in cloud.zones", "remove it")
    # Node pools are named emqx-<stack>-emqx-<zone>, and ACK names stop at 63 characters (see STACK_NAME_MAX).
    for i, zone in enumerate(zones):
        longest = len(f"emqx-{'x' * STACK_NAME_MAX}-emqx-{zone}")
        if longest > NAME_LIMIT and not problems.about(f"cloud.zones[{i}]"):
            problems.add(f"cloud.zones[{i}]", f"{shown(zone)} would make node pool names of up to {longest} "
                         f"characters, over ACK's {NAME_LIMIT}", "use a shorter zone id")
    return CloudSettings(region=region or "", zones=zones)


# AWS region codes: a geography (us, eu, ap, ...; us-gov for GovCloud), a direction, a number (AWS General Reference,
# "AWS Regions": us-east-1, ap-southeast-1, us-gov-west-1, cn-north-1).
AWS_REGION = r"[a-z]{2}(-gov)?-[a-z]+-[0-9]{1,2}"


def _aws(section: Section, production: bool) -> CloudSettings:
    region = section.string("region", None, required=True, pattern=AWS_REGION,
                            hint="an AWS region code such as us-east-1, ap-southeast-1 or us-gov-west-1")
    # Availability Zones, not zone ids: the subnets' `availability_zone` and the node groups' zone labels use names.
    zones = section.strings("zones", min_items=3 if production else 2,
                            hint="list the Availability Zones to spread nodes over, e.g. [us-east-1a, us-east-1b]")
    problems = section.problems
    if section.has("extraZones"):
        section.accept("extraZones")
        problems.add("cloud.extraZones", "applies to alicloud only (its zone table); AWS zone names are checked "
                     "against cloud.region", "remove it")
    if region is not None:
        for i, zone in enumerate(zones):
            if zone.startswith(region + "-"):
                # EKS "cannot place network interfaces into your Local Zone subnets ... you must not specify Local
                # Zone subnets when you create your cluster", and managed node groups cannot run there (EKS User
                # Guide, "Amazon EKS on AWS Local Zones"); every zone here gets cluster and node-group subnets.
                problems.add(f"cloud.zones[{i}]", f"{shown(zone)} is a Local Zone or Wavelength Zone, where EKS "
                             "cluster subnets cannot be", f"use Availability Zones of {region} such as {region}a")
            elif not re.fullmatch(re.escape(region) + "[a-z]", zone, re.ASCII):
                problems.add(f"cloud.zones[{i}]", f"{shown(zone)} is not an Availability Zone of {region}",
                             f"use the region code and one letter, e.g. {region}a")
    if len(zones) > MAX_ZONES:
        problems.add("cloud.zones", f"{len(zones)} zones; the AWS address plan has {MAX_ZONES} fixed subnet slots "
                     "(a zone keeps its subnets when zones are added)", f"use at most {MAX_ZONES}")
    return CloudSettings(region=region or "", zones=zones)


# One parser per cloud target; a target missing here has no cloud section.
CLOUD_PARSERS: dict[str, Callable[[Section, bool], CloudSettings]] = {"alicloud": _alicloud, "aws": _aws}


def provider_region_problems(cloud: CloudSettings | None, provider_config: Mapping[str, Any],
                             problems: Problems, target: Target | None = "alicloud") -> None:
    """A provider's own region key that says another region than cloud.region."""
    provider = "aws" if target == "aws" else "alicloud"
    ambient_region = provider_config.get(f"{provider}:region")
    if cloud is not None and cloud.region and ambient_region is not None and ambient_region != cloud.region:
        # The program builds its own provider in cloud.region (alicloud/platform.py); the default provider this key
        # configures creates nothing, so a different value only says the stack is not where the reader thinks.
        problems.add(f"{provider}:region", f"{shown(str(ambient_region))} differs from cloud.region "
                     f"({cloud.region}), which is where every resource goes", f"remove {provider}:region, or set "
                     "cloud.region to the region you mean")
