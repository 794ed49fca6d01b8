"""tuning: the node sysctl overrides and open-file limit; the tuning profile once the sizing is known.

Not named tuning.py: a submodule is bound as an attribute of its package, and the package imports components.tuning
by that name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components import sizing, tuning
from components.config_reader import Problems, Section
from components.render.emqx import max_ports
from components.settings.cluster import ClusterSettings


@dataclass(frozen=True)
class TuningOverrides:
    sysctls: Mapping[str, Any]
    nofile: int | None


def parse_tuning(section: Section) -> TuningOverrides:
    problems = section.problems
    tuning_overrides = section.mapping("sysctls")
    problems.extend(tuning.validate_overrides(tuning_overrides, key="tuning.sysctls"))
    nofile_override = section.integer("nofile", None, minimum=65536, maximum=tuning.NR_OPEN_MAX,
                                      hint=f"at most {tuning.NR_OPEN_MAX}, the kernel's fs.nr_open ceiling")
    return TuningOverrides(sysctls=tuning_overrides, nofile=nofile_override)


def build_tuning_profile(overrides: TuningOverrides, plan: sizing.SizingPlan, cluster: ClusterSettings,
                         problems: Problems, *,
                         reserved_ports: tuple[int, ...] = tuning.EMQX_PORTS) -> tuning.TuningProfile | None:
    """The profile for the planned connections per node, or None with the problems that prevent it."""
    nofile_override, tuning_overrides = overrides.nofile, overrides.sysctls
    profile: tuning.TuningProfile | None = None
    ports = max_ports(plan.max_connections_per_node)
    if nofile_override is not None and nofile_override <= ports:
        problems.add("tuning.nofile", f"{nofile_override} is not above node.max_ports ({ports}, from the "
                     "sizing): EMQX would run out of file descriptors before reaching its planned connections",
                     f"use more than {ports}, or leave it unset")
    try:
        profile = tuning.build_profile(
            max_connections_per_node=plan.max_connections_per_node,
            kubernetes_version=cluster.kubernetes_minor,
            overrides={str(k): v for k, v in tuning_overrides.items()},
            nofile=nofile_override,
            reserved_ports=reserved_ports,
        )
    except ValueError as error:
        # Overrides that contradict each other or the open-file limit the sizing needs.
        for line in str(error).splitlines():
            problems.items.append(line if line.startswith("tuning.") else f"tuning.nofile: {line}")
    return profile
