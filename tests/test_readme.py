"""The README's configuration reference lists exactly the keys the settings layer reads."""

from __future__ import annotations

import re
from pathlib import Path

from components.config_reader import Section
from components.settings import SECRET_KEYS, parse

ROOT = Path(__file__).resolve().parents[1]


def documented_keys() -> set[str]:
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- config-reference", 1)[1].split("\n\n", 2)[1]
    keys: set[str] = set()
    for row in table.splitlines()[2:]:
        cell = row.split("|")[1]
        for name in re.findall(r"`([^`]+)`", cell):
            if name.startswith("."):  # `a.b` / `.c` shorthand: a sibling of the first key in the cell
                first = re.findall(r"`([^`]+)`", cell)[0]
                name = first.rsplit(".", 1)[0] + name
            keys.add(name)
    return keys


def read_keys() -> set[str]:
    Section.read_paths.clear()
    alicloud = {
        "target": "alicloud",
        "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
        "emqx": {"edition": "enterprise", "version": "5.10.3", "cores": 3, "replicants": 2},
        "rebalance": {"runs": [{"name": "a", "connEvictRate": 10}]},
        "licenseKey": "k",
    }
    existing = {"target": "existing", "emqx": {"cores": 1}, "cluster": {"kubernetesMinor": "1.31"},
                "loadTest": {"runs": [{"name": "a", "connections": 10, "target": "inCluster", "username": "u"}]},
                "mqttUsers": "u:a-long-password"}
    for values in (alicloud, existing):
        # Only the keys read matter here; both configs are valid, so a ConfigError would be a bug elsewhere.
        parse(values, stack="doc", secret_keys={"licenseKey", "mqttUsers"})
    paths = set(Section.read_paths)
    leaves = {p for p in paths if not any(q.startswith((p + ".", p + "[]")) for q in paths)}
    return leaves | set(SECRET_KEYS)


def test_every_setting_is_documented_and_every_documented_key_exists() -> None:
    documented, read = documented_keys(), read_keys()
    assert not read - documented, f"settings read but not in the README: {sorted(read - documented)}"
    sections = {k.rsplit(".", 1)[0] for k in read} | {k.split("[]")[0] for k in read}
    assert not documented - read - sections, f"README keys the settings never read: {sorted(documented - read)}"
