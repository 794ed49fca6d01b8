"""Mutation testing of the logic modules with mutmut ([tool.mutmut] in pyproject.toml), and its score per module.

    python tools/mutation_report.py run [--sample N] [--jobs J]   # mutate, test, then report
    python tools/mutation_report.py report [--sample-only]        # report what mutants/ holds

`--sample N` tests every N-th mutant of each module (in name order, so the same code gives the same sample) instead of
all of them: a full run is several thousand mutants, over an hour on 2 cores. The score is killed / (killed +
survived + no tests): a mutant that no selected test even runs counts against the score like a survivor, and one
not yet tested (outside the sample, or an interrupted run) does not count at all.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
SAMPLE_FILE = MUTANTS / "sample.txt"
MUTMUT = [sys.executable, "-m", "mutmut"]
# mutmut's exit codes per mutant (mutmut/stats.py `status_by_exit_code`, mutmut 3.8.1); anything else is suspicious.
KILLED, SURVIVED, NO_TESTS, TIMEOUT = {1, 3, 37}, {0}, {5, 33}, {24, -24, 36, 152, 255}
NOT_RUN = {None, 2, 34}
# Not generated: a probe pattern for a mutmut run that only generates the mutants (it stops on "nothing matches").
GENERATE_ONLY = "generate-only-no-such-mutant"


def _module(meta: Path) -> str:
    return str(meta.relative_to(MUTANTS))[: -len(".meta")]


def results() -> dict[str, dict[str, int | None]]:
    """module path -> {mutant name: exit code or None}"""
    out: dict[str, dict[str, int | None]] = {}
    for meta in sorted(MUTANTS.glob("components/**/*.py.meta")):
        out[_module(meta)] = json.loads(meta.read_text())["exit_code_by_key"]
    return out


def _status(code: int | None) -> str:
    if code in NOT_RUN:
        return "not run"
    if code in KILLED or code in TIMEOUT:
        return "killed"  # a timeout means the mutant made the tests hang: caught
    if code in SURVIVED:
        return "survived"
    if code in NO_TESTS:
        return "no tests"
    return "suspicious"


def report(sample_only: bool) -> float:
    chosen = set(SAMPLE_FILE.read_text().split()) if sample_only and SAMPLE_FILE.exists() else None
    rows: list[tuple[str, Counter[str]]] = []
    for module, codes in results().items():
        counts = Counter(_status(c) for name, c in codes.items() if chosen is None or name in chosen)
        rows.append((module, counts))
    total: Counter[str] = Counter()
    print(f"{'module':32} {'killed':>7} {'survived':>9} {'no tests':>9} {'not run':>8} {'score':>7}")
    for module, counts in [*rows, ("all", sum((c for _, c in rows), total))]:
        judged = counts["killed"] + counts["survived"] + counts["no tests"] + counts["suspicious"]
        score = counts["killed"] / judged if judged else 0.0
        print(f"{module:32} {counts['killed']:>7} {counts['survived']:>9} {counts['no tests']:>9} "
              f"{counts['not run']:>8} {score:>7.1%}")
    judged_all = sum(total[k] for k in ("killed", "survived", "no tests", "suspicious"))
    return total["killed"] / judged_all if judged_all else 0.0


def sample(every: int) -> list[str]:
    names: list[str] = []
    for _, codes in results().items():
        names.extend(sorted(codes)[::every])
    return names


def run(every: int, jobs: int) -> None:
    if every > 1:
        # Generate the mutants (and collect which tests cover what) without testing any, to draw the sample from.
        subprocess.run([*MUTMUT, "run", "--max-children", str(jobs), GENERATE_ONLY], cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        names = sample(every)
        if not names:
            sys.exit("mutmut generated no mutants; run `mutmut run` by hand to see why")
        SAMPLE_FILE.write_text("\n".join(names) + "\n")
        subprocess.run([*MUTMUT, "run", "--max-children", str(jobs), *names], cwd=ROOT, check=True)
    else:
        SAMPLE_FILE.unlink(missing_ok=True)
        subprocess.run([*MUTMUT, "run", "--max-children", str(jobs)], cwd=ROOT, check=True)
    print()
    report(sample_only=every > 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_cmd = sub.add_parser("run", help="mutate, test and report")
    run_cmd.add_argument("--sample", type=int, default=1, help="test every N-th mutant of each module (default: all)")
    run_cmd.add_argument("--jobs", type=int, default=2, help="mutants tested at once")
    report_cmd = sub.add_parser("report", help="report the results in mutants/")
    report_cmd.add_argument("--sample-only", action="store_true", help="only the mutants of the last sampled run")
    args = parser.parse_args()
    if args.command == "run":
        run(max(1, args.sample), max(1, args.jobs))
    else:
        report(args.sample_only)


if __name__ == "__main__":
    main()
