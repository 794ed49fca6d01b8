"""Every emqtt-bench option the program writes is one the pinned release declares (its own source, vendored)."""

from __future__ import annotations

import hashlib
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from components import loadtest
from components.render import loadtest as render
from components.render.loadtest_verifier import Expected
from tests.validators import REPO_ROOT

VENDORED = REPO_ROOT / "schemas" / "emqtt-bench"


def _recorded_sums() -> dict[str, str]:
    text = (VENDORED / "SOURCE.md").read_text(encoding="utf-8")
    return {path: digest for digest, path in re.findall(r"^([0-9a-f]{64})  (\S+)$", text, flags=re.MULTILINE)}


def test_the_vendored_source_is_the_recorded_upstream_bytes() -> None:
    sums = _recorded_sums()
    assert set(sums) == {f"{loadtest.BENCH_TAG}/emqtt_bench.erl", f"{loadtest.BENCH_TAG}/LICENSE"}
    on_disk = {str(p.relative_to(VENDORED)) for p in VENDORED.glob("*/*") if p.is_file()}
    assert on_disk == set(sums), "every vendored file is listed in SOURCE.md, and only those"
    for path, digest in sums.items():
        assert hashlib.sha256((VENDORED / path).read_bytes()).hexdigest() == digest, f"{path} was edited"


def _macro(source: str, name: str) -> str:
    """The text of `-define(NAME, ...).` up to the next -define."""
    start = source.index(f"-define({name},")
    end = source.find("-define(", start + 1)
    return source[start:end]


# getopt option specs: {Name, ShortChar | undefined, "long-name", ArgSpec, Help}.
_LONG = re.compile(r"\{\s*[a-z_]+\s*,\s*(?:\$.|undefined)\s*,\s*\"([^\"]+)\"")


def declared_options(source: str) -> dict[str, set[str]]:
    """Long option names per subcommand, from the COMMON_OPTS, PUB_OPTS, SUB_OPTS and CONN_OPTS macros."""
    common = set(_LONG.findall(_macro(source, "COMMON_OPTS")))
    pub = common | set(_LONG.findall(_macro(source, "PUB_OPTS")))
    sub = common | set(_LONG.findall(_macro(source, "SUB_OPTS")))
    assert "-define(CONN_OPTS, ?COMMON_OPTS)." in source  # conn takes the common options only
    return {"pub": pub, "sub": sub, "conn": common}


SOURCE = (VENDORED / loadtest.BENCH_TAG / "emqtt_bench.erl").read_text(encoding="utf-8")
OPTIONS = declared_options(SOURCE)


def test_the_option_list_is_read_from_the_source() -> None:
    # A reading that found nothing would let every flag through.
    assert {"host", "port", "count", "connrate", "ifaddr", "username", "ssl"} <= OPTIONS["conn"]
    assert {"topic", "qos", "size", "interval_of_msg", "limit"} <= OPTIONS["pub"]
    assert "interval_of_msg" not in OPTIONS["sub"] and "topic" in OPTIONS["sub"]


def _spec(**changes: object) -> render.RunSpec:
    base: dict[str, object] = dict(
        name="r1", namespace="emqx", emqx_name="emqx", emqx_secret="emqx-secrets", port=8883, tls=True,
        keepalive_seconds=60, topic="bench/%i", qos=1, payload_bytes=256, duration_seconds=300, username="bench",
        expected=Expected(connections=10_000, message_rate=1000.0, nodes=2, rate_tolerance=0.1,
                          max_dropped_ratio=0.001), emqx_nodes=2)
    return render.RunSpec(**{**base, **changes})  # type: ignore[arg-type]


PLAN = loadtest.plan_run(connections=50_000, publishers=1000, subscribers=1000, connect_rate=1000, message_rate=1000,
                         per_source_limit=64_505)


@pytest.mark.parametrize("spec", [_spec(), _spec(tls=False, username=None, port=1883)], ids=["tls-user", "plain"])
def test_every_flag_the_generators_get_exists_at_the_pinned_release(spec: render.RunSpec) -> None:
    script = render.bench_script(spec, PLAN)
    lines = [line for line in script.splitlines() if re.match(r"\s+[0-9]+\) set -- ", line)]
    assert len(lines) == len(PLAN.pods) == 3
    roles = set()
    for line in lines:
        tokens = shlex.split(line.split(" set -- ", 1)[1].removesuffix(" ;;"))
        role, flags = tokens[0], [t[2:] for t in tokens[1:] if t.startswith("--")]
        roles.add(role)
        assert flags, line
        unknown = set(flags) - OPTIONS[role]
        assert not unknown, f"emqtt-bench {loadtest.BENCH_TAG} {role} has no option {sorted(unknown)}"
        # Short options are not used: their letters are easy to mix up between releases.
        assert not [t for t in tokens[1:] if re.fullmatch(r"-[A-Za-z]", t)]
    assert roles == {"pub", "sub", "conn"}


def test_a_renamed_flag_would_fail_here() -> None:
    renamed = SOURCE.replace('"interval_of_msg"', '"interval-of-msg"')
    assert "interval_of_msg" not in declared_options(renamed)["pub"]


def test_the_image_is_the_vendored_tag() -> None:
    assert f"emqx/emqtt-bench:{loadtest.BENCH_TAG}" == loadtest.BENCH_IMAGE
    assert Path(VENDORED / loadtest.BENCH_TAG).is_dir()


def test_the_generator_script_is_valid_bash() -> None:
    script = render.bench_script(_spec(), PLAN)
    result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
