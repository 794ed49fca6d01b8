"""charts: the cert-manager and EMQX Operator releases, and whether the stack installs them."""

from __future__ import annotations

from dataclasses import dataclass

from components.config_reader import Problems, Section
from components.settings.common import Target


@dataclass(frozen=True)
class ChartSettings:
    cert_manager_version: str
    emqx_operator_version: str
    # An existing cluster may already run either: one per cluster, and the operator's chart owns the EMQX CRDs.
    install_cert_manager: bool = True
    install_operator: bool = True
    # A mirror for the charts' images (<registry>/jetstack/..., <registry>/emqx/...), e.g. where Docker Hub and
    # quay.io are slow or unreachable.
    image_registry: str | None = None


def parse_charts(section: Section) -> ChartSettings:
    # cert-manager v1.15 introduced the chart value crds.enabled that the release sets (cert_manager.py); v2 does not
    # exist. The operator's 2.2 line serves apps.emqx.io/v2beta1 (EMQX, Rebalance) and v1beta4 (4.4), the kinds the
    # program renders; its CRDs are vendored for 2.2.29 (schemas/emqx-operator) and no later minor is released.
    cert_manager = section.string("certManagerVersion", "v1.21.1", pattern=r"v1\.[0-9]{1,3}\.[0-9]{1,3}",
                                  hint="a cert-manager release such as v1.21.1")
    if cert_manager is not None and int(cert_manager.split(".")[1]) < 15:
        section.problems.add("charts.certManagerVersion", f"{cert_manager} is older than v1.15, whose chart value "
                             "crds.enabled the program sets", "use v1.15.0 or later, e.g. v1.21.1")
        cert_manager = None
    operator = section.string("emqxOperatorVersion", "2.2.29", pattern=r"2\.2\.[0-9]{1,3}",
                              hint="an EMQX Operator 2.2 release such as 2.2.29 (the line whose kinds the program "
                              "renders)")
    install_cert_manager = section.boolean("installCertManager", True)
    install_operator = section.boolean("installOperator", True)
    registry = section.string("imageRegistry", None, pattern=r"[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*",
                              hint="a registry host and optional path, e.g. registry.cn-hangzhou.aliyuncs.com/mirror")
    return ChartSettings(cert_manager_version=cert_manager or "v1.21.1", emqx_operator_version=operator or "2.2.29",
                         install_cert_manager=install_cert_manager, install_operator=install_operator,
                         image_registry=registry)


def charts_target_problems(charts: ChartSettings, target: Target | None, problems: Problems) -> None:
    """A cluster the stack creates has nothing installed: both charts are needed there."""
    if target is not None and target != "existing":
        for toggle, installed in (("installCertManager", charts.install_cert_manager),
                                  ("installOperator", charts.install_operator)):
            if not installed:
                problems.add(f"charts.{toggle}", f"false only makes sense on an existing cluster; the {target} "
                             "cluster this stack creates has nothing installed", "remove it")
