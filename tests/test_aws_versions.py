"""EKS version table and instance architecture, against AWS's published calendar and naming convention.

Expected dates are typed from the EKS release calendar (endoflife.date/amazon-eks); expected architectures from
AWS's instance-type pages (Graviton families: C6g[d][n], M6g[d], R6g[d], T4g, X2gd, Im4gn, Is4gen, I4g, G5g,
C7g[d][n], M7g[d], R7g[d], C8g, M8g, R8g, Hpc7g; a1 is first-generation Graviton).
"""

from __future__ import annotations

from datetime import date

import pytest

from components.aws.versions import (
    AMI_TYPES,
    MINORS,
    ami_type_for,
    arch_of,
    instance_type_problems,
    kubernetes_version_problems,
)

TODAY = date(2026, 11, 30)


def test_table_lists_the_three_supported_minors() -> None:
    assert [m.version for m in MINORS] == ["1.34", "1.35", "1.36"]
    m134, m135, m136 = MINORS
    # 1.36: released on EKS 2026-06-02 (endoflife.date products/amazon-eks.md, PR #10240), no longer an estimate.
    assert (m136.ga, m136.end_of_standard, m136.end_of_extended) == (date(2026, 6, 2), date(2027, 8, 2),
                                                                     date(2028, 8, 2))
    assert not m136.dates_estimated
    assert (m134.ga, m134.end_of_standard, m134.end_of_extended) == (date(2025, 10, 6), date(2026, 12, 2),
                                                                     date(2027, 12, 2))
    assert (m135.ga, m135.end_of_standard, m135.end_of_extended) == (date(2026, 1, 28), date(2027, 3, 27),
                                                                     date(2028, 3, 27))
    for m in MINORS:
        # EKS policy: 14 months standard, then 12 months extended.
        assert (m.end_of_standard.year - m.ga.year) * 12 + m.end_of_standard.month - m.ga.month == 14, m.version
        extended = (m.end_of_extended.year - m.end_of_standard.year, m.end_of_extended.month)
        assert extended == (1, m.end_of_standard.month), m.version


@pytest.mark.parametrize("version", ["1.34", "1.35", "1.36", " 1.35 "])
def test_supported_versions_pass_today(version: str) -> None:
    assert kubernetes_version_problems(version, today=TODAY) == ([], [])


@pytest.mark.parametrize("version", ["1.31", "1.33", "1.37", "2.0"])
def test_unlisted_minor_is_refused_with_the_list(version: str) -> None:
    errors, warnings = kubernetes_version_problems(version, today=TODAY)
    assert warnings == []
    assert errors == [f"cluster.kubernetesVersion: {version} is not a version this program deploys on EKS; "
                      "use one of 1.34, 1.35, 1.36"]


@pytest.mark.parametrize("version", ["v1.35", "1.35.2", "latest", "", 1.35, None])
def test_malformed_version_is_refused(version: object) -> None:
    [error], _ = kubernetes_version_problems(version, today=TODAY, key="eks.version")
    assert error.startswith("eks.version: ") and "MAJOR.MINOR" in error


def test_past_end_of_standard_support_warns() -> None:
    errors, [warning] = kubernetes_version_problems("1.34", today=date(2026, 12, 2))
    assert errors == []
    assert warning.startswith("cluster.kubernetesVersion: 1.34 left EKS standard support on 2026-12-02")
    assert "upgrade to 1.35 or 1.36" in warning
    assert kubernetes_version_problems("1.34", today=date(2026, 12, 1)) == ([], [])


def test_past_end_of_extended_support_is_refused() -> None:
    [error], warnings = kubernetes_version_problems("1.34", today=date(2027, 12, 2))
    assert warnings == [] and "left EKS extended support on 2027-12-02" in error


def test_not_yet_released_is_refused() -> None:
    [error], _ = kubernetes_version_problems("1.36", today=date(2026, 3, 1))
    assert "not released on EKS before 2026-06-02" in error and "1.34, 1.35" in error
    # Available from its EKS release day on.
    assert kubernetes_version_problems("1.36", today=date(2026, 6, 2)) == ([], [])


@pytest.mark.parametrize(
    ("instance_type", "arch"),
    [
        ("c7g.xlarge", "arm64"),
        ("c7gd.2xlarge", "arm64"),  # Graviton + local NVMe
        ("c6gn.16xlarge", "arm64"),  # Graviton + network
        ("c7gn.medium", "arm64"),
        ("c8g.4xlarge", "arm64"),
        ("m7g.large", "arm64"),
        ("r8g.large", "arm64"),
        ("im4gn.large", "arm64"),  # series "im", processor g
        ("is4gen.medium", "arm64"),
        ("x2gd.xlarge", "arm64"),
        ("t4g.small", "arm64"),
        ("hpc7g.16xlarge", "arm64"),
        ("g5g.xlarge", "arm64"),  # GPU series "g", Graviton processor
        ("a1.large", "arm64"),  # first-generation Graviton, no processor letter
        ("c6g.metal", "arm64"),
        ("C7G.XLARGE", "arm64"),
        ("c7i.xlarge", "x86_64"),
        ("m7i-flex.large", "x86_64"),
        ("c6in.xlarge", "x86_64"),
        ("c7a.xlarge", "x86_64"),  # AMD
        ("g5.xlarge", "x86_64"),  # GPU series "g" on x86
        ("g6e.xlarge", "x86_64"),
        ("m5.large", "x86_64"),
        ("r7iz.large", "x86_64"),
        ("u-6tb1.metal", "x86_64"),
        ("inf2.xlarge", "x86_64"),
        ("trn1.2xlarge", "x86_64"),
    ],
)
def test_arch_of(instance_type: str, arch: str) -> None:
    assert arch_of(instance_type) == arch


@pytest.mark.parametrize("bad", ["c7g", "c7g.", ".xlarge", "graviton.large", "mac2.metal", "c7g xlarge", ""])
def test_arch_of_refuses_what_it_cannot_tell(bad: str) -> None:
    with pytest.raises(ValueError):
        arch_of(bad)


def test_ami_type_follows_the_architecture() -> None:
    assert ami_type_for("c7g.xlarge") == "AL2023_ARM_64_STANDARD"
    assert ami_type_for("c7i.xlarge") == "AL2023_x86_64_STANDARD"
    assert set(AMI_TYPES.values()) == {"AL2023_ARM_64_STANDARD", "AL2023_x86_64_STANDARD"}


def test_instance_type_problems() -> None:
    assert instance_type_problems(["c7g.xlarge", "c8g.xlarge"]) == []
    [mixed] = instance_type_problems(["c7g.xlarge", "c7i.xlarge"], key="nodePools.emqx.instanceTypes")
    assert mixed.startswith("nodePools.emqx.instanceTypes: mixes x86_64 (c7i.xlarge) and arm64 (c7g.xlarge)")
    [bad] = instance_type_problems(["c7g"])
    assert bad.startswith("nodePools.instanceType: 'c7g' is not an EC2 instance type")
