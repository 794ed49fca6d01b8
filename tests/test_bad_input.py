"""Hostile and broken input: stack files, stack names, namespaces, secrets, Unicode digits, zones, huge values.

Every case must end in exit status 2 (preview CLI) or one ConfigError (settings, also under the real CLI), with
the place, what is wrong and how to fix it, quickly, never a traceback and never the whole oversized value.
"""

from __future__ import annotations

import io
import re
import time
import tokenize
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from components import emqx_versions, settings
from components.settings import ConfigError, parse
from preview import engine
from preview.__main__ import main

if TYPE_CHECKING:
    from conftest import StackRunner

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "fixtures" / "toy" / "__main__.py"
FIVE_MIB = "x" * (5 * 1024 * 1024)

ALICLOUD: dict[str, Any] = {
    "target": "alicloud",
    "cloud": {"region": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
    "emqx": {"edition": "opensource", "version": "5.8.9", "capacity": {"connections": 20000, "messageRate": 2000}},
}


def problems(values: dict[str, Any], *, secret_keys: set[str] | None = None, stack: str = "test") -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse(values, stack=stack, secret_keys=secret_keys if secret_keys is not None else set())
    return err.value.problems


def about(found: list[str], key: str) -> str:
    hits = [p for p in found if p.startswith(f"{key}:")]
    assert len(hits) == 1, f"expected one problem about {key!r}, got {found}"
    return hits[0]


def with_value(base: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    out = yaml.safe_load(yaml.safe_dump(base))
    node = out
    *parents, leaf = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
    return out


# ------------------------------------------------------------------------------------------- stack files


def run_cli(tmp_path: Path, text: str | bytes, capsys: pytest.CaptureFixture[str], stack: str = "x") -> tuple[int, str]:
    stacks = tmp_path / "stacks"
    stacks.mkdir(exist_ok=True)
    target = stacks / f"Pulumi.{stack}.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text, encoding="utf-8")
    argv = ["--program", str(TOY), "--stacks-dir", str(stacks), "--stack", stack, "--out", str(tmp_path / "out")]
    code = main(argv)
    return code, capsys.readouterr().err


BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)

BAD_FILES: dict[str, tuple[str | bytes, int, int, str]] = {
    # name: (file content, line, column, words the problem names)
    "not yaml": ("config:\n  emqx-platform:target: [alicloud\n", 3, 1, "not valid YAML"),
    "bad indentation": ("config:\n  emqx-platform:target: alicloud\n bad: 1\n", 3, 2, "not valid YAML"),
    "not utf-8": (b"config:\n  emqx-platform:target: \xff\xfealicloud\n", 2, 25, "not UTF-8"),
    "latin-1": ("config:\n  emqx-platform:tags: {owner: J\u00fcrgen}\n".encode("latin-1"), 2, 32, "not UTF-8"),
    "a list": ("- config\n- x\n", 1, 1, "not a mapping"),
    "a scalar": ("just text\n", 1, 1, "not a mapping"),
    "config a list": ("config:\n  - a\n", 2, 3, "`config`"),
    "config a string": ("config: alicloud\n", 1, 9, "`config`"),
    "duplicate top-level key": ("config: {}\nconfig:\n  a: 1\n", 2, 1, "given twice"),
    "duplicate config key": ("config:\n  emqx-platform:target: alicloud\n  emqx-platform:target: existing\n",
                             3, 3, "given twice"),
    "duplicate nested block": (
        "config:\n  emqx-platform:loadBalancer:\n    addressType: intranet\n"
        "  emqx-platform:loadBalancer:\n    addressType: internet\n", 4, 3, "given twice"),
    "duplicate deep key": ("config:\n  emqx-platform:emqx:\n    capacity:\n      qos: 1\n      qos: 2\n",
                           5, 7, "given twice"),
    "duplicate flow key": ("config:\n  emqx-platform:cloud: {region: a, region: b}\n", 2, 36, "given twice"),
    "alias bomb": (BOMB, 1, 4, "aliases"),
    "alias": ("config:\n  emqx-platform:cloud: &c {region: x}\n  emqx-platform:network: *c\n", 2, 24, "aliases"),
    "merge key": ("base: &b {a: 1}\nconfig:\n  <<: *b\n", 1, 7, "aliases"),
    "python object": ("config:\n  emqx-platform:target: !!python/object/apply:os.system [id]\n", 2, 25, "tag"),
    "python name": ("config: !!python/name:os.system\n", 1, 9, "tag"),
    "binary": ("config:\n  emqx-platform:licenseKey: !!binary aGVsbG8=\n", 2, 29, "tag"),
    "set": ("config:\n  emqx-platform:tags: !!set {a, b}\n", 2, 23, "tag"),
    "local tag": ("config:\n  emqx-platform:target: !alicloud x\n", 2, 25, "tag"),
    "control character": ("config:\n  emqx-platform:target: \"ali\x07cloud\"\n", 2, 29, "U+0007"),
    "two documents": ("config: {}\n---\nconfig: {}\n", 2, 1, "single document"),
    "non-text key": ("config:\n  ? [emqx-platform:target]\n  : alicloud\n", 2, 5, "not text"),
    "too deep": ("config:\n  emqx-platform:emqx: " + "[" * 40 + "]" * 40 + "\n", 2, 53, "nested"),
    "too many values": ("config:\n  emqx-platform:tags: [" + "1, " * 30_000 + "1]\n", 2, 60_009, "values"),
    "too large": ("config:\n  emqx-platform:licenseKey: " + FIVE_MIB + "\n", 1, 1, "larger than"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_stack_file_that_is_not_config_exits_2_with_file_line_column_and_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    text, line, column, words = BAD_FILES[name]
    started = time.monotonic()
    code, err = run_cli(tmp_path, text, capsys)
    assert time.monotonic() - started < 3, "bad input must be refused quickly (no alias expansion, no 5 MiB walk)"
    assert code == 2, err
    assert "Traceback" not in err
    first, hint, *rest = err.strip().splitlines()
    assert first.startswith(f"error: {tmp_path / 'stacks' / 'Pulumi.x.yaml'}:{line}:{column}: "), first
    assert words in first
    assert hint.startswith("hint: ") and len(hint) > len("hint: ") + 10
    assert not rest, "one error line and one hint line"
    assert len(err) < 400, "the message never echoes the input whole"


def test_the_loader_raises_a_value_error_naming_the_place(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.x.yaml"
    stack.write_text("config:\n  a: 1\n  a: 2\n")
    with pytest.raises(engine.StackFileError) as err:
        engine.load_stack_config(stack)
    assert isinstance(err.value, ValueError)
    assert (err.value.line, err.value.column) == (3, 3)
    assert err.value.hint


def test_stack_file_scalars_follow_yaml_1_2_like_the_pulumi_cli(tmp_path: Path) -> None:
    # YAML 1.1 (PyYAML's default) would turn these into True, a date, 90, 511 and a merge; the Pulumi CLI reads
    # YAML 1.2, where they are text: the preview must hand the program what the CLI would.
    stack = tmp_path / "Pulumi.x.yaml"
    stack.write_text("config:\n  a: yes\n  b: 2024-01-01\n  c: 1:30\n  d: 0777\n  e: on\n  f: true\n  g: 12\n"
                     "  h: 1.5\n  i: ~\n  '<<': x\n")
    config, _ = engine.load_stack_config(stack)
    assert config == {
        "emqx-platform:a": "yes", "emqx-platform:b": "2024-01-01", "emqx-platform:c": "1:30",
        "emqx-platform:d": "0777", "emqx-platform:e": "on", "emqx-platform:f": "true", "emqx-platform:g": "12",
        "emqx-platform:h": "1.5", "emqx-platform:i": "null", "emqx-platform:<<": "x",
    }


def test_an_unreadable_stack_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stacks = tmp_path / "stacks"
    (stacks / "Pulumi.x.yaml").mkdir(parents=True)  # exists but is not a file
    code = main(["--program", str(TOY), "--stacks-dir", str(stacks), "--stack", "x", "--out", str(tmp_path / "o")])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_every_stack_in_the_repository_loads() -> None:
    for stack in sorted((ROOT / "stacks").glob("Pulumi.*.yaml")):
        config, _ = engine.load_stack_config(stack)
        assert config, stack


# ------------------------------------------------------------------------------------------- stack names


@pytest.mark.parametrize("stack", [
    "../x", "a/b", "..", "a\\b", "a_b", "a.b", "a b", "-dev",  # hostile path, read nowhere
    "dev-", "d\u00e9v", "\uff44ev", "dev\n", "", "a" * 25, "a" * 5000,
])
def test_a_stack_name_cloud_names_cannot_take_is_refused_before_anything_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stack: str
) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    argv = ["--program", str(TOY), "--stacks-dir", str(stacks), f"--stack={stack}", "--out", str(tmp_path / "out")]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: stack name"), err
    assert "no stack file" not in err  # refused on the name, not because the file is missing
    assert len(err) < 400
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError) as caught:
        parse(ALICLOUD, stack=stack)
    assert caught.value.problems[0].startswith("stack name:")


def test_a_stack_name_of_24_characters_is_the_longest_accepted() -> None:
    assert parse(ALICLOUD, stack="a" * 24).stack == "a" * 24
    with pytest.raises(ConfigError):
        parse(ALICLOUD, stack="a" * 25)


def test_the_real_cli_path_refuses_a_bad_stack_name_and_registers_nothing() -> None:
    # Under `pulumi up` the name arrives through pulumi.get_stack(), in settings.load().
    config, secret_keys = engine.config_from_mapping(ALICLOUD)
    with pytest.raises(ConfigError) as err:
        engine.run_program(ROOT / "__main__.py", stack="a_b", config=config, secret_keys=secret_keys)
    assert err.value.problems[0].startswith("stack name:")
    assert err.value.registered_before_failure == []  # type: ignore[attr-defined]


# Alibaba Cloud name limits of what the program names after the stack (pulumi_alicloud docstrings; ACK: 63).
NAME_LIMITS = {
    ("alicloud:cs/managedKubernetes:ManagedKubernetes", "name"): 63,
    ("alicloud:cs/nodePool:NodePool", "nodePoolName"): 63,
    ("alicloud:slb/loadBalancer:LoadBalancer", "loadBalancerName"): 80,
    ("alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer", "loadBalancerName"): 80,
    ("alicloud:slb/serverGroup:ServerGroup", "name"): 80,
    ("alicloud:slb/acl:Acl", "name"): 80,
    ("alicloud:nlb/loadBalancer:LoadBalancer", "loadBalancerName"): 128,
    ("alicloud:nlb/serverGroup:ServerGroup", "serverGroupName"): 128,
    ("alicloud:vpc/network:Network", "vpcName"): 128,
    ("alicloud:vpc/switch:Switch", "vswitchName"): 128,
    ("alicloud:vpc/natGateway:NatGateway", "natGatewayName"): 128,
    ("alicloud:ecs/eipAddress:EipAddress", "addressName"): 128,
    ("alicloud:ecs/securityGroup:SecurityGroup", "securityGroupName"): 128,
}


def test_the_longest_stack_name_in_the_longest_zones_makes_valid_cloud_names(run_stack: StackRunner) -> None:
    config, _ = engine.load_stack_config(ROOT / "stacks" / "Pulumi.dev.yaml")
    values = {k.split(":", 1)[1]: yaml.safe_load(v) for k, v in config.items()}
    # cn-zhangjiakou-a/b: the longest zone ids of the region table.
    values["cloud"] = {"region": "cn-zhangjiakou", "zones": ["cn-zhangjiakou-a", "cn-zhangjiakou-b"]}
    stack = "a" * settings.STACK_NAME_MAX
    rec = run_stack(values, stack=stack)
    checked = 0
    for r in rec.resources:
        for (token, field), limit in NAME_LIMITS.items():
            if r.type == token and isinstance(r.inputs.get(field), str):
                checked += 1
                name = r.inputs[field]
                assert stack in name and len(name) <= limit, (token, name, len(name))
                assert re.fullmatch(r"[A-Za-z][-A-Za-z0-9]*[A-Za-z0-9]", name), name
    assert checked >= 8


# -------------------------------------------------------------------------------------------- namespaces


def test_a_misspelt_project_namespace_is_refused_with_the_right_one() -> None:
    found = problems(ALICLOUD | {"emqx-platfrom:emqx": {"cores": 3}})
    assert "did you mean emqx-platform:emqx?" in about(found, "emqx-platfrom:emqx")


def test_a_misspelt_provider_namespace_is_refused_with_the_provider() -> None:
    found = problems(ALICLOUD | {"alicloude:region": "cn-hangzhou", "nobody:x": "1"})
    assert "did you mean alicloud:region?" in about(found, "alicloude:region")
    assert "emqx-platform" in about(found, "nobody:x")


def test_keys_of_the_providers_in_use_and_of_pulumi_are_left_alone() -> None:
    others = {f"{ns}:something": "x" for ns in ("alicloud", "aws", "kubernetes", "pulumi", "random")}
    assert parse(ALICLOUD | others, stack="test").target == "alicloud"


def test_the_real_cli_path_sees_other_namespaces(run_stack: StackRunner) -> None:
    # raw_config used to drop every key outside the project's namespace, so a misspelt namespace vanished.
    with pytest.raises(ConfigError) as err:
        run_stack(ALICLOUD | {"emqx-platfrom:emqx": {"cores": 3}, "alicloud:region": "cn-hangzhou"})
    assert [p for p in err.value.problems if p.startswith("emqx-platfrom:emqx:")]
    assert not [p for p in err.value.problems if p.startswith("alicloud:")]
    assert err.value.registered_before_failure == []  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------------ secrets


def test_a_secret_under_a_plain_setting_is_refused_with_the_fix() -> None:
    found = problems(ALICLOUD, secret_keys={"emqx"})
    message = about(found, "emqx")
    assert "not a secret setting" in message and "without --secret" in message


def test_a_nested_secure_value_is_refused_through_the_engine(run_stack: StackRunner) -> None:
    config = with_value(ALICLOUD, "loadBalancer.addressType", {"secure": "AAAB"})
    with pytest.raises(ConfigError) as err:
        run_stack(config)
    assert "not a secret setting" in about(err.value.problems, "loadBalancer")
    assert err.value.registered_before_failure == []  # type: ignore[attr-defined]


def test_a_secret_setting_must_be_text() -> None:
    found = problems(ALICLOUD | {"licenseKey": {"key": "x"}}, secret_keys={"licenseKey"})
    assert [p for p in found if p.startswith("licenseKey: must be text")], found


# ------------------------------------------------------------------------------------ ASCII-only patterns


SOURCES = sorted((ROOT / "components").rglob("*.py"))


def unicode_classes(text: str) -> list[int]:
    """Lines of string literals holding \\d \\w \\s (\\D \\W \\S \\b \\B) without re.ASCII on the same line."""
    lines = text.splitlines()
    found = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type != tokenize.STRING:
            continue
        prefix = re.match(r"[A-Za-z]*", token.string)
        raw = prefix is not None and "r" in prefix.group(0).lower()
        # In a plain literal the regex sees \\d written "\\\\d", or "\\d" (an unknown escape Python keeps).
        escape = r"\\[dDwWsSbB]" if raw else r"\\\\[dDwWsSbB]|(?<!\\)\\[dDwWsS]"
        line = lines[token.start[0] - 1]
        if re.search(escape, token.string) and "re.ASCII" not in line and "re.A)" not in line:
            found.append(token.start[0])
    return found


def test_no_unicode_aware_class_in_any_pattern() -> None:
    # With str patterns, \d \w \s match any Unicode digit, letter or space (`５` is a digit, and int('５') == 5):
    # every pattern spells its classes out in ASCII ([0-9]), or carries re.ASCII on the same line.
    offenders = [f"{source.relative_to(ROOT)}:{line}" for source in SOURCES
                 for line in unicode_classes(source.read_text())]
    assert not offenders, offenders


def test_the_ascii_guard_catches_what_it_is_for() -> None:
    assert unicode_classes('import re\nre.fullmatch(r"\\d+\\.\\d+", v)\n') == [2]
    assert unicode_classes('import re\nre.fullmatch("\\\\w+", v)\n') == [2]
    assert unicode_classes('import re\nre.fullmatch("\\s+", v)\n') == [2]
    assert unicode_classes('x = "a\\nb"\n') == []
    assert unicode_classes('import re\nre.fullmatch(r"\\d+", v, re.ASCII)\n') == []
    assert unicode_classes('import re\nre.fullmatch(r"[0-9]+", v)\n') == []


FULL_WIDTH = [
    ("emqx.version", "\uff15.\uff18.\uff19"),  # ５.８.９
    ("emqx.version", "\u0665.8.9"),  # Arabic-Indic five
    ("emqx.imageRepository", "registry.example.com:\uff15000/emqx"),
    ("charts.emqxOperatorVersion", "\uff12.2.29"),
    ("charts.certManagerVersion", "v1.\uff12\uff11.1"),
    ("charts.imageRegistry", "registry.example.com:\uff15000"),
    ("cluster.kubernetesVersion", "1.3\uff15.7-aliyun.1"),
    ("monitoring.scrapeInterval", "\uff11\uff15s"),
    ("network.vpcCidr", "\uff11\uff10.0.0.0/16"),
    ("network.serviceCidr", "172.21.0.0/\uff12\uff10"),
    ("cloud.region", "cn-hangzhou\uff11"),
]


@pytest.mark.parametrize(("key", "value"), FULL_WIDTH)
def test_non_ascii_digits_are_refused(key: str, value: str) -> None:
    found = problems(with_value(ALICLOUD, key, value))
    assert [p for p in found if p.startswith(key)], found


def test_non_ascii_digits_are_refused_in_lists_and_sysctls() -> None:
    found = problems(with_value(with_value(ALICLOUD, "network.clientCidrs", ["\uff11\uff10.0.0.0/8"]),
                                "tuning.sysctls", {"net.core.somaxconn": "\uff16\uff15\uff15\uff13\uff15"}))
    assert [p for p in found if p.startswith("network.clientCidrs[0]")], found
    assert [p for p in found if p.startswith("tuning.sysctls")], found


def test_existing_cluster_minor_version_takes_ascii_digits_only() -> None:
    existing = {"target": "existing", "cluster": {"kubernetesMinor": "1.\uff13\uff11"},
                "emqx": {"edition": "opensource", "version": "5.8.9", "cores": 1, "replicants": 0}}
    about(problems(existing), "cluster.kubernetesMinor")


def test_release_numbers_take_ascii_digits_only() -> None:
    release, found = emqx_versions.parse_release("opensource", "\uff15.\uff18.\uff19", None)
    assert release is None and found


@pytest.mark.parametrize("text", ["\uff15", "1" * 5000, "[" * 100_000, "{" * 100_000])
def test_cli_config_text_that_is_not_json_stays_text(text: str) -> None:
    # What the real CLI hands over arrives as text: a decode that fails must not raise.
    assert settings._decode(text) == text  # pyright: ignore[reportPrivateUsage]


# ------------------------------------------------------------------------------------------ regions, zones


def test_the_stacks_regions_and_zones_are_known() -> None:
    parse(with_value(ALICLOUD, "cloud.zones", ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"]), stack="t")


@pytest.mark.parametrize("zone", ["cn-hangzhou-h\n", "cn-hangzhou-h/../x",  # hostile path, read nowhere
                                  "CN-HANGZHOU-H", "cn-hangzhou-\uff48",
                                  "cn-hangzhou-h ", "cn-hangzhou-h;rm", "cn-hangzhouh-h", "cn-hangzhou-" + "h" * 40])
def test_zone_ids_with_characters_an_id_cannot_have_are_refused(zone: str) -> None:
    found = problems(with_value(ALICLOUD, "cloud.zones", ["cn-hangzhou-h", zone]))
    assert "cloud.zones[1]" in " ".join(found), found


def test_an_unknown_zone_is_refused_unless_listed_as_extra() -> None:
    values = with_value(ALICLOUD, "cloud.zones", ["cn-hangzhou-h", "cn-hangzhou-z"])
    assert "not a known zone" in about(problems(values), "cloud.zones[1]")
    parse(with_value(values, "cloud.extraZones", ["cn-hangzhou-z"]), stack="t")


def test_an_extra_zone_must_be_one_of_the_zones() -> None:
    found = problems(with_value(ALICLOUD, "cloud.extraZones", ["cn-hangzhou-z"]))
    assert "not in cloud.zones" in about(found, "cloud.extraZones[0]")


def test_a_misspelt_region_is_refused_with_a_suggestion() -> None:
    values = with_value(ALICLOUD, "cloud", {"region": "cn-hangzou", "zones": ["cn-hangzou-h", "cn-hangzou-i"]})
    assert "did you mean cn-hangzhou?" in about(problems(values), "cloud.region")


@pytest.mark.parametrize("region", [
    "../cn-hangzhou", "cn-hangzhou ", "CN-HANGZHOU", "cn", "cn_hangzhou", "c" * 5000,  # hostile path, read nowhere
])
def test_region_ids_with_characters_an_id_cannot_have_are_refused(region: str) -> None:
    found = problems(with_value(ALICLOUD, "cloud.region", region))
    assert len(about(found, "cloud.region")) < 300


def test_a_region_the_table_lacks_takes_zones_listed_as_extra() -> None:
    cloud = {"region": "eu-central-1", "zones": ["eu-central-1a", "eu-central-1b"]}
    about(problems(with_value(ALICLOUD, "cloud", cloud)), "cloud.region")
    parse(with_value(ALICLOUD, "cloud", cloud | {"extraZones": cloud["zones"]}), stack="t")


def test_zones_outside_china_have_no_hyphen_before_the_letter() -> None:
    cloud = {"region": "ap-southeast-1", "zones": ["ap-southeast-1a", "ap-southeast-1b"]}
    assert parse(with_value(ALICLOUD, "cloud", cloud), stack="t").cloud is not None


# --------------------------------------------------------------------------------------- oversized values


HUGE = [
    ("emqx.version", FIVE_MIB),
    ("cloud.region", FIVE_MIB),
    ("loadBalancer.addressType", FIVE_MIB),
    ("target", FIVE_MIB),
    ("cloud.zones", ["cn-hangzhou-h", FIVE_MIB]),
    ("cloud.zones", ["cn-hangzhou-h"] * 200_000),
    ("tags", {FIVE_MIB: "x"}),
    ("tags", {f"k{i}": "v" for i in range(100_000)}),
    ("monitoring.labels", {"a": FIVE_MIB}),
    ("tuning.sysctls", {"net.core.somaxconn": FIVE_MIB}),
    ("emqx.tls.dnsNames", [FIVE_MIB]),
    ("emqx", {FIVE_MIB: 1}),
    ("network.clientCidrs", [FIVE_MIB]),
    ("rebalance.runs", [{"name": "a", "connEvictRate": 1}] * 100_000),
    ("emqx.capacity.connections", 10**4000),
]


@pytest.mark.parametrize(("key", "value"), HUGE, ids=[f"{k}-{i}" for i, (k, _) in enumerate(HUGE)])
def test_an_oversized_value_gives_a_short_message_quickly(key: str, value: Any) -> None:
    values = dict(ALICLOUD)
    node = values
    *parents, leaf = key.split(".")
    for p in parents:
        node[p] = dict(node.get(p, {}))
        node = node[p]
    node[leaf] = value
    started = time.monotonic()
    found = problems(values)
    assert time.monotonic() - started < 2
    assert [p for p in found if p.startswith(key.split(".")[0])], found
    assert all(len(p) <= 700 for p in found), [len(p) for p in found]


def test_an_oversized_unknown_key_is_cut_too() -> None:
    found = problems(ALICLOUD | {FIVE_MIB: 1, "emqx-platfrom:" + FIVE_MIB: 1})
    assert len(found) == 2 and all(len(p) < 400 for p in found)


def test_deep_nesting_is_measured_not_followed() -> None:
    deep: Any = "x"
    for _ in range(100_000):
        deep = [deep]
    found = problems(with_value(ALICLOUD, "tags", {}) | {"tuning": {"sysctls": deep}})
    assert "nested more than" in about(found, "tuning")


def test_every_bad_input_problem_is_reported_at_once_and_nothing_is_registered(run_stack: StackRunner) -> None:
    config = with_value(ALICLOUD, "emqx.version", "\uff15.8.9")
    config = with_value(config, "cloud.zones", ["cn-hangzhou-h", "cn-hangzhou-z"])
    config = with_value(config, "loadBalancer.addressType", {"secure": "AAAB"})
    config["emqx-platfrom:emqx"] = {"cores": 3}
    config["tags"] = {"owner": FIVE_MIB}
    with pytest.raises(ConfigError) as err:
        run_stack(config)
    keys = {p.split(":")[0] for p in err.value.problems}
    assert {"emqx.version", "cloud.zones[1]", "loadBalancer", "emqx-platfrom", "tags"} <= keys, err.value.problems
    assert err.value.registered_before_failure == []  # type: ignore[attr-defined]
    assert len(str(err.value)) < 3000


def test_a_flood_of_keys_gives_a_short_message_quickly() -> None:
    started = time.monotonic()
    found = problems(ALICLOUD | {f"key{i}": 1 for i in range(100_000)})
    assert time.monotonic() - started < 2
    assert len(found) == 1 and "100,003 keys" in found[0]


def test_past_a_hundred_problems_the_rest_are_counted() -> None:
    found = problems(ALICLOUD | {"emqx": {f"k{i}": 1 for i in range(2_000)}})
    assert len(found) == 101
    assert found[-1].startswith("(more): ") and "more problem(s)" in found[-1]


def test_keys_with_control_characters_are_quoted_so_each_problem_stays_one_line() -> None:
    found = problems(ALICLOUD | {"a\nb": 1, "x\n:y": 1, "emqx": {"c\nd": 1}})
    assert len(found) == 3 and all("\n" not in p for p in found), found


def test_an_extra_zone_too_long_for_the_node_pool_names_is_refused() -> None:
    region = "cn-abcdefghijklmnopqrstuv-1"  # 27 characters: its zones make node pool names of 64
    zones = [f"{region}-a", f"{region}-b"]
    found = problems(with_value(ALICLOUD, "cloud", {"region": region, "zones": zones, "extraZones": zones}))
    assert "node pool names of up to 64" in about(found, "cloud.zones[0]")
    finance = "cn-shanghai-finance-1"
    zones = [f"{finance}z", f"{finance}-a"]
    parse(with_value(ALICLOUD, "cloud", {"region": finance, "zones": zones, "extraZones": zones}), stack="t")


def test_a_missing_stack_file_names_the_stacks_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.dev.yaml").write_text("config: {}\n", encoding="utf-8")
    (stacks / "Pulumi.nosuch.yaml").mkdir()  # a folder where the file should be
    for stack in ("staging", "nosuch"):
        code = main(["--program", str(TOY), "--stacks-dir", str(stacks), "--stack", stack,
                     "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 2
        assert err.startswith(f"error: no stack file {stacks}/Pulumi.{stack}.yaml\nhint:"), err
        assert "dev" in err.splitlines()[1]
    assert not (tmp_path / "out").exists()
