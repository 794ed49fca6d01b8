"""Which EMQX release a stack runs, and what that release allows (image, CR kind, replicants, licence).

Facts (shared/reference/FACTS.md, section 2): 5.8.x is the last Apache-2.0 line (image emqx/emqx); from 5.9.0 the one
image emqx/emqx is under the Business Source License and refuses to cluster without a licence key; core + replicant
is Enterprise-only since 5.8.0 (apps/emqx_conf/src/emqx_conf_schema.erl, v5.8.9: "Node role 'replicant' is only
allowed in Enterprise edition since 5.8.0"; open-source 5.1 to 5.7 run them); the operator's v2beta1 EMQX kind
serves 5.1.1 and later, its v1beta4 kinds 4.4.14 up to below 5.0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Edition = Literal["opensource", "enterprise"]


@dataclass(frozen=True)
class EmqxRelease:
    edition: Edition
    version: str
    image: str
    api_version: str  # of the operator's custom resource for this release
    kind: str
    license_reason: str | None  # why a multi-node cluster needs a licence key, or None if it does not

    @property
    def parts(self) -> tuple[int, int, int]:
        major, minor, patch = (int(p) for p in self.version.split("."))
        return major, minor, patch

    @property
    def legacy(self) -> bool:
        return self.parts[0] == 4

    @property
    def open_source(self) -> bool:
        return self.edition == "opensource"

    @property
    def replicants_allowed(self) -> bool:
        if self.legacy:
            return False
        return self.edition == "enterprise" or self.parts < (5, 8, 0)

    @property
    def license_from_file(self) -> bool:
        """Reads `license.key = "file://..."` and re-reads the file every 2 minutes: EMQX Enterprise 5.4.0 and later
        (apps/emqx_license, commit caaf8113fc first released in e5.4.0). 4.4 reads its licence file at start."""
        return self.edition == "enterprise" and self.parts >= (5, 4, 0)

    @property
    def rebalance_allowed(self) -> bool:
        return self.edition == "enterprise"

    @property
    def license_required_for_cluster(self) -> bool:
        return self.license_reason is not None


def parse_release(
    edition: str, version: str, repository: str | None, *, key: str = "emqx"
) -> tuple[EmqxRelease | None, list[str]]:
    # ASCII digits only: int() also reads full-width and other Unicode digits ('５' -> 5).
    if not re.fullmatch(r"[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}", version):
        return None, [f"{key}.version: {version[:60]!r} is not a release number; write it as 5.8.9"]
    major, minor, patch = (int(p) for p in version.split("."))
    v = (major, minor, patch)
    problems: list[str] = []
    if major == 4:
        if edition != "enterprise" or v < (4, 4, 14) or minor != 4:
            problems.append(
                f"{key}.version: {version} is not supported: the operator manages 4.x only as Enterprise 4.4.14 or "
                "later (apps.emqx.io/v1beta4 EmqxEnterprise); set edition enterprise and version 4.4.14+, or use 5.x"
            )
            return None, problems
        image = f"{repository or 'emqx/emqx-ee'}:{version}"
        return EmqxRelease(edition="enterprise", version=version, image=image, api_version="apps.emqx.io/v1beta4",
                           kind="EmqxEnterprise",
                           license_reason="EMQX Enterprise 4.4 runs on an evaluation licence without a key"), []
    if major != 5 or v < (5, 1, 1):
        problems.append(
            f"{key}.version: {version} is outside what EMQX Operator 2.2 manages with apps.emqx.io/v2beta1 "
            "(5.1.1 and later 5.x); use e.g. 5.8.9 (open source) or 5.10.3 (enterprise)"
        )
        return None, problems
    if v >= (5, 9, 0):
        if edition == "opensource":
            problems.append(
                f"{key}.edition: EMQX {version} has no open-source edition (from 5.9.0 it is under the Business "
                "Source License); set edition enterprise and a licence key, or use version 5.8.9"
            )
            return None, problems
        image = f"{repository or 'emqx/emqx'}:{version}"
        reason = f"EMQX {version} (5.9.0 and later) refuses to form a cluster without a licence key"
        return EmqxRelease(edition="enterprise", version=version, image=image, api_version="apps.emqx.io/v2beta1",
                           kind="EMQX", license_reason=reason), []
    if edition == "enterprise":
        image = f"{repository or 'emqx/emqx-enterprise'}:{version}"
        reason = f"EMQX Enterprise {version} runs on a small evaluation licence without a key"
        return EmqxRelease(edition="enterprise", version=version, image=image, api_version="apps.emqx.io/v2beta1",
                           kind="EMQX", license_reason=reason), []
    image = f"{repository or 'emqx/emqx'}:{version}"
    return EmqxRelease(edition="opensource", version=version, image=image, api_version="apps.emqx.io/v2beta1",
                       kind="EMQX", license_reason=None), []
