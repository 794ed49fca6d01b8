"""Which EMQX release a stack runs, and what that release allows (image, CR kind, replicants, licence).

Facts (EMQX's release notes and its licence change in 5.9.0): 5.8.x is the last Apache-2.0 line (image emqx/emqx);
from 5.9.0 the one image emqx/emqx is under the Business Source License and refuses to cluster without a licence
key; core + replicant is Enterprise-only since 5.8.0 (apps/emqx_conf/src/emqx_conf_schema.erl, v5.8.9: "Node role
'replicant' is only allowed in Enterprise edition since 5.8.0"; open-source 5.1 to 5.7 run them); the operator's
v2beta1 EMQX kind serves 5.1.1 and later, its v1beta4 kinds 4.4.14 up to below 5.0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Edition = Literal["opensource", "enterprise"]

# Released EMQX versions the operator can run, per edition, read on RELEASES_READ. A version outside this table is
# refused unless `emqx.allowUnlistedVersion: true` says it is a release newer than the table: a typo such as 5.8.99
# would otherwise pass every check here and only fail as an image pull error on a running cluster.
# Sources: the tags of github.com/emqx/emqx (snapshot whose newest commit is 2026-08-07): open source v5.x.y;
# Enterprise e5.0.0-e5.6.1, e5.8.8-e5.8.11, e5.9.0-e5.9.3, e5.10.0-e5.10.4 (Enterprise 5.7.x and 5.8.0-5.8.7 were
# built from a private repository and have no tag there, so they come from the Enterprise release notes,
# docs.emqx.com/en/emqx/latest/changes/all-changes-ee: e5.7.0-e5.7.2, e5.8.0-e5.8.7); Enterprise 4.4 from
# docs.emqx.com/en/emqx/latest/changes/changes-ee-v4 (4.4.33 of 2025-11-26 the newest; 4.4.14 is the operator's
# oldest). Refresh: `git tag` in a clone of emqx/emqx and those two release-note pages.
RELEASES_READ = "2026-11-30"


def _series(minor: str, first: int, last: int) -> tuple[str, ...]:
    return tuple(f"{minor}.{patch}" for patch in range(first, last + 1))


RELEASED: dict[Edition, frozenset[str]] = {
    "opensource": frozenset(
        _series("5.0", 0, 26) + _series("5.1", 0, 6) + _series("5.2", 0, 1) + _series("5.3", 0, 2)
        + _series("5.4", 0, 1) + _series("5.5", 0, 1) + _series("5.6", 0, 1) + _series("5.7", 0, 2)
        + _series("5.8", 0, 9)
    ),
    "enterprise": frozenset(
        _series("4.4", 14, 33)
        + _series("5.0", 0, 4) + _series("5.1", 0, 1) + _series("5.2", 0, 1) + _series("5.3", 0, 2)
        + _series("5.4", 0, 1) + _series("5.5", 0, 1) + _series("5.6", 0, 1) + _series("5.7", 0, 2)
        + _series("5.8", 0, 11) + _series("5.9", 0, 3) + _series("5.10", 0, 4)
    ),
}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def nearest_released(edition: Edition, version: str) -> list[str]:
    """The released versions either side of `version` (one below, one above, where there are), same major."""
    wanted = _version_key(version)
    known = sorted((v for v in RELEASED[edition] if _version_key(v)[0] == wanted[0]), key=_version_key)
    below = [v for v in known if _version_key(v) < wanted]
    above = [v for v in known if _version_key(v) > wanted]
    return below[-1:] + above[:1]


def unlisted_problem(edition: Edition, version: str, key: str = "emqx") -> str | None:
    if version in RELEASED[edition]:
        return None
    label = "open-source" if edition == "opensource" else "Enterprise"
    near = " or ".join(nearest_released(edition, version))
    return (f"{key}.version: {version} is not a released {label} EMQX version (the release table was read on "
            f"{RELEASES_READ}); use {near or 'a released version'}, or set {key}.allowUnlistedVersion: true if it "
            "was released after that date")


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
    edition: str, version: str, repository: str | None, *, key: str = "emqx", allow_unlisted: bool = False
) -> tuple[EmqxRelease | None, list[str]]:
    release, problems = _parse_release(edition, version, repository, key=key)
    if release is not None and not allow_unlisted:
        problem = unlisted_problem(release.edition, version, key)
        if problem:
            return None, [problem]
    return release, problems


def _parse_release(
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
