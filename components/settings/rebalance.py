"""rebalance: the operator's Rebalance runs (Enterprise only)."""

from __future__ import annotations

from dataclasses import dataclass

from components.config_reader import Problems, Section
from components.settings.emqx import EmqxSettings


@dataclass(frozen=True)
class RebalanceRun:
    name: str
    conn_evict_rate: int
    sess_evict_rate: int
    wait_takeover: int
    wait_health_check: int
    abs_conn_threshold: int
    rel_conn_threshold: str
    abs_sess_threshold: int
    rel_sess_threshold: str


def parse_rebalance(section: Section) -> tuple[RebalanceRun, ...]:
    runs: list[RebalanceRun] = []
    names: set[str] = set()
    for item in section.items("runs"):
        name = item.string("name", None, required=True, pattern=r"[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?",
                           hint="a short DNS label naming this run, e.g. after-scale-out-1")
        conn = item.integer("connEvictRate", None, minimum=1, maximum=100_000, required=True,
                            hint="connections evicted per second per source node, e.g. 500")
        sess = item.integer("sessEvictRate", 500, minimum=1, maximum=100_000)
        takeover = item.integer("waitTakeover", 60, minimum=0, maximum=3600)
        health = item.integer("waitHealthCheck", 60, minimum=0, maximum=3600)
        abs_conn = item.integer("absConnThreshold", 1000, minimum=1, maximum=100_000_000)
        rel_conn = item.number("relConnThreshold", 1.1, minimum=1.0, maximum=100.0,
                               hint="a ratio above 1.0, e.g. 1.1")
        abs_sess = item.integer("absSessThreshold", 1000, minimum=1, maximum=100_000_000)
        rel_sess = item.number("relSessThreshold", 1.1, minimum=1.0, maximum=100.0, hint="a ratio above 1.0")
        # EMQX refuses a ratio of exactly 1.0 (emqx_node_rebalance_api.erl: validator Value > 1.0), and so the run
        # would fail on the cluster, after `pulumi up` had reported success.
        for field_name, ratio in (("relConnThreshold", rel_conn), ("relSessThreshold", rel_sess)):
            if ratio <= 1.0:
                item.problems.add(f"{item.key}.{field_name}", f"{ratio:g} is not above 1.0, which EMQX refuses",
                                  "use a ratio above 1.0, e.g. 1.1")
        if name in names:
            item.problems.add(f"{item.key}.name", f"{name!r} is used by another run", "give each run its own name")
        if name is None or conn is None:
            continue
        names.add(name)
        runs.append(RebalanceRun(name=name, conn_evict_rate=conn, sess_evict_rate=sess or 500,
                                 wait_takeover=takeover if takeover is not None else 60,
                                 wait_health_check=health if health is not None else 60,
                                 abs_conn_threshold=abs_conn or 1000, rel_conn_threshold=ratio_text(rel_conn),
                                 abs_sess_threshold=abs_sess or 1000, rel_sess_threshold=ratio_text(rel_sess)))
    return tuple(runs)


def rebalance_edition_problems(rebalance: tuple[RebalanceRun, ...], emqx: EmqxSettings, problems: Problems) -> None:
    if rebalance and not emqx.release.rebalance_allowed:
        problems.add("rebalance.runs", f"rebalancing is Enterprise-only; {emqx.release.edition} EMQX "
                     f"{emqx.release.version} has no rebalance API", "remove the runs, or use edition enterprise")


def ratio_text(ratio: float) -> str:
    """The ratio as the operator passes it to EMQX: every digit kept (`:g` would turn 1.0000001 into "1", which
    EMQX refuses), shortest form that reads back as the same number."""
    text = repr(ratio)
    return text[:-2] if text.endswith(".0") else text
