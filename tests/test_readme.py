"""The README's configuration reference lists exactly the keys the settings layer reads."""

from __future__ import annotations

from pathlib import Path

from components.settings import SECRET_KEYS
from tools import config_schema

ROOT = Path(__file__).resolve().parents[1]


def documented_keys() -> set[str]:
    return {key for key, *_ in config_schema.readme_rows((ROOT / "README.md").read_text())}


def read_keys() -> set[str]:
    # The same complete configs the schema generator reads the parser with: one list of what the settings read.
    paths = config_schema.read_paths()
    leaves = {p for p in paths if not any(q.startswith((p + ".", p + "[]")) for q in paths)}
    return leaves | set(SECRET_KEYS)


def test_every_setting_is_documented_and_every_documented_key_exists() -> None:
    documented, read = documented_keys(), read_keys()
    assert not read - documented, f"settings read but not in the README: {sorted(read - documented)}"
    sections = {k.rsplit(".", 1)[0] for k in read} | {k.split("[]")[0] for k in read}
    assert not documented - read - sections, f"README keys the settings never read: {sorted(documented - read)}"
