"""The layering the issues ask for, read from the code itself (ast, not grep): the workloads and the renderers never
import a cloud, and no module knows two clouds at once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLOUDS = {
    "alicloud": ("pulumi_alicloud", "components.alicloud"),
    "aws": ("pulumi_aws", "components.aws"),
}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def clouds_of(path: Path) -> set[str]:
    found = imported(path)
    return {cloud for cloud, prefixes in CLOUDS.items()
            if any(n == p or n.startswith(p + ".") for n in found for p in prefixes)}


def modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", modules("components/workloads", "components/render"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_workloads_and_renderers_import_no_cloud(path: Path) -> None:
    assert clouds_of(path) == set(), f"{path.relative_to(ROOT)} imports a cloud"


@pytest.mark.parametrize("path", modules("components", "preview", "tools", "policy"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_knows_two_clouds(path: Path) -> None:
    assert len(clouds_of(path)) <= 1, f"{path.relative_to(ROOT)} imports {sorted(clouds_of(path))}"


def test_the_check_sees_an_import(tmp_path: Path) -> None:
    # The checks above would pass on nothing if the import reading were broken.
    probe = tmp_path / "probe.py"
    probe.write_text("import pulumi_aws as aws\nfrom components.alicloud.nlb import X\n", encoding="utf-8")
    assert clouds_of(probe) == {"aws", "alicloud"}
