"""Shared fixtures: run the Pulumi program under the offline preview engine and ask questions of the result.

    def test_pool(run_stack):
        rec = run_stack("dev")                                   # stacks/Pulumi.dev.yaml
        rec = run_stack({"target": "existing", "licenseKey": {"secure": "x"}})   # a config dict
        pool = rec.one("alicloud:cs/nodePool:NodePool")

Runs are cached for the session (same program, stack and config -> same Recording); each call returns a
deep copy, so a test may modify what it gets.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from preview import engine  # noqa: E402  (needs the repo root on sys.path first)
from tests.repo_guard import install, outside_reads  # noqa: E402

install(REPO_ROOT)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if outside_reads:
        listed = "\n".join(f"  {p}" for p in sorted(set(outside_reads))[:20])
        sys.stderr.write(f"\nerror: the tests read files outside the repository ({REPO_ROOT}):\n{listed}\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


PROGRAM = REPO_ROOT / "__main__.py"
STACKS_DIR = REPO_ROOT / "stacks"
DICT_STACK = "test"


class StackRunner(Protocol):
    def __call__(
        self,
        name_or_config: str | Mapping[str, Any],
        *,
        stack: str | None = None,
        program: Path | None = None,
        stacks_dir: Path | None = None,
    ) -> engine.Recording: ...


def stack_config(
    name_or_config: str | Mapping[str, Any], stacks_dir: Path = STACKS_DIR
) -> tuple[str, dict[str, str], list[str]]:
    """(stack name, config, secret keys) for a stack name or a config dict.

    A dict uses short keys (`target`, not `emqx-platform:target`; other namespaces spelled out, e.g.
    `alicloud:region`), plain Python values (dicts and lists become JSON, as the CLI passes them), and
    `{"secure": "..."}` for a secret, like a stack file.
    """
    if isinstance(name_or_config, str):
        config, secret_keys = engine.load_stack_config(stacks_dir / f"Pulumi.{name_or_config}.yaml")
        return name_or_config, config, secret_keys
    config, secret_keys = engine.config_from_mapping(name_or_config)
    return DICT_STACK, config, secret_keys


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def run_stack() -> StackRunner:
    cache: dict[str, engine.Recording] = {}

    def run(
        name_or_config: str | Mapping[str, Any],
        *,
        stack: str | None = None,
        program: Path | None = None,
        stacks_dir: Path | None = None,
    ) -> engine.Recording:
        name, config, secret_keys = stack_config(name_or_config, stacks_dir or STACKS_DIR)
        stack_name = stack or name
        target = program or PROGRAM
        key = json.dumps([str(target), stack_name, config, sorted(secret_keys)], sort_keys=True)
        if key not in cache:
            cache[key] = engine.run_program(target, stack=stack_name, config=config, secret_keys=secret_keys)
        return copy.deepcopy(cache[key])

    return run
