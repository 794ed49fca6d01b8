"""The repository is self-contained: what the tests validate against is vendored, unchanged, and nothing the tests or
tools use lives outside the repository root (a user's clone has nothing beside it)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from tests import validators
from tests.repo_guard import outside_reads
from tests.validators import REPO_ROOT

VENDORED = REPO_ROOT / "schemas" / "emqx-operator"


def _recorded_sums() -> dict[str, str]:
    text = (VENDORED / "SOURCE.md").read_text(encoding="utf-8")
    return {path: digest for digest, path in re.findall(r"^([0-9a-f]{64})  (\S+)$", text, flags=re.MULTILINE)}


def test_vendored_crds_are_the_recorded_upstream_bytes() -> None:
    sums = _recorded_sums()
    assert sums, "SOURCE.md lists no checksums"
    on_disk = {str(p.relative_to(VENDORED)) for p in VENDORED.glob("*/*") if p.is_file()}
    assert on_disk == set(sums), "every vendored file is listed in SOURCE.md, and only those"
    for path, digest in sums.items():
        assert hashlib.sha256((VENDORED / path).read_bytes()).hexdigest() == digest, f"{path} was edited"


def test_every_crd_the_validators_use_is_vendored() -> None:
    for file in validators.CRD_FILES.values():
        assert (validators.crds_dir() / file).is_file()
    assert validators.crds_dir().is_relative_to(REPO_ROOT)


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_the_operator_chart_installed_is_the_one_validated_against(run_stack, stack: str) -> None:
    releases = [r for r in run_stack(stack).by_type("kubernetes:helm.sh/v3:Release")
                if r.inputs["chart"] == "emqx-operator"]
    assert releases, f"{stack} installs no emqx-operator chart"
    for release in releases:
        assert release.inputs["version"] == validators.OPERATOR_VERSION
        assert (VENDORED / release.inputs["version"]).is_dir()


# --- nothing outside the repository -------------------------------------------------------------------------

_SCANNED = ["tests", "tools", "preview", "components", "Makefile", ".ci", ".github", "pyproject.toml", "__main__.py"]
# A path that climbs out of the repository: `..` in a path, `parents[n]`/`.parent` chains deeper than the file sits,
# an absolute path into a workspace, or the sibling `shared/` folder this project grew from.
_ESCAPES = (
    re.compile(r"""(^|["'/\s])\.\./"""),
    re.compile(r"/work/"),
    re.compile(r"""["'/]shared/"""),
)


ALLOW_MARK = "hostile path, read nowhere"


def _files() -> list[Path]:
    out: list[Path] = []
    for entry in _SCANNED:
        path = REPO_ROOT / entry
        if path.is_file():
            out.append(path)
        elif path.is_dir():
            out.extend(p for p in path.rglob("*") if p.is_file() and "golden" not in p.parts
                       and p.suffix in ("", ".py", ".sh", ".yml", ".yaml", ".toml", ".cfg", ".txt"))
    return out


def _climbs_out(path: Path, line: str) -> bool:
    depth = len(path.relative_to(REPO_ROOT).parts) - 1  # folders between the file and the root
    for match in re.finditer(r"parents\[(\d+)\]", line):
        if int(match.group(1)) > depth:
            return True
    return any(len(m.group(0)) // len(".parent") > depth + 1 for m in re.finditer(r"(\.parent)+", line))


def test_no_test_or_tool_references_a_path_outside_the_repository() -> None:
    offenders = []
    for path in _files():
        if path == Path(__file__):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            # Comments read nothing; a hostile input that is a path (a stack named `../x`) says so on its line.
            if line.lstrip().startswith("#") or ALLOW_MARK in line:
                continue
            if any(p.search(line) for p in _ESCAPES) or _climbs_out(path, line):
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    assert not offenders, "paths outside the repository:\n" + "\n".join(offenders)


def test_the_scan_sees_an_escape(tmp_path: Path) -> None:
    # The scanner itself must fail on what it is meant to catch.
    tests_dir = REPO_ROOT / "tests"
    assert _climbs_out(tests_dir / "x.py", 'Path(__file__).resolve().parents[2] / "crds"')
    assert not _climbs_out(tests_dir / "x.py", "Path(__file__).resolve().parents[1]")
    assert _climbs_out(tests_dir / "x.py", "Path(__file__).parent.parent.parent")
    # Built from parts, so this file itself names no sibling path.
    sibling = "../" + "shared" + "/emqx-operator/crds/x.yaml"
    assert any(p.search(f'open("{sibling}")') for p in _ESCAPES)
    assert any(p.search(f'Path("{sibling[3:]}")') for p in _ESCAPES)


def test_the_runtime_guard_records_a_read_beside_the_repository() -> None:
    # conftest.py audits every file the test session opens; a read beside the clone fails the session.
    sibling = REPO_ROOT.parent / "shared-does-not-exist" / "x.yaml"
    if REPO_ROOT.parent == Path(REPO_ROOT.anchor):
        pytest.skip("the clone sits at the filesystem root: there is no 'beside' to guard")
    before = len(outside_reads)
    with pytest.raises(FileNotFoundError):
        sibling.open()
    assert outside_reads[before:] == [str(sibling)]
    del outside_reads[before:]
