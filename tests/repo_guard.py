"""Records every file the test session opens beside the repository (e.g. a sibling folder of reference material
that only the authors' machines have). A clone has nothing beside it, so conftest.py fails the session on any such
read."""

from __future__ import annotations

import os
import sys
from pathlib import Path

outside_reads: list[str] = []
_installed: list[Path] = []


def install(repo_root: Path) -> None:
    # With the clone at the filesystem root everything would be "beside" it: nothing to guard there. Under mutmut
    # the tests run from a copy in mutants/, inside the clone, whose .venv is then "beside" the copy: a mutant must
    # be judged by its tests alone.
    if _installed or repo_root.parent == Path(repo_root.anchor) or "MUTANT_UNDER_TEST" in os.environ:
        return
    beside = str(repo_root.parent).rstrip(os.sep) + os.sep
    inside = str(repo_root) + os.sep

    def audit(event: str, args: tuple[object, ...]) -> None:
        if event not in ("open", "os.listdir", "os.scandir") or not args:
            return
        target = args[0]
        if not isinstance(target, str | os.PathLike):
            return  # a file descriptor
        path = os.path.abspath(os.fspath(target))
        if path.startswith(beside) and not path.startswith(inside) and path != inside.rstrip(os.sep):
            outside_reads.append(path)

    sys.addaudithook(audit)
    _installed.append(repo_root)
