"""docs/operations.md names only what exists: make targets of the Makefile, config keys the settings read, outputs
the program exports, and the Kubernetes objects, namespaces and labels the program creates; its rollout, node and
teardown statements match what the program does for the shipped stacks.

The checker reads the runbook's commands (fenced code blocks and inline code) and its backticked config keys; a
negative test runs it on a snippet with one wrong item of each kind, so a checker that extracts nothing fails.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from components import sizing
from components.config_reader import Section
from components.settings import SECRET_KEYS, Settings, parse
from components.workloads.emqx_cluster import rollout_estimate
from preview import engine
from tests.conftest import StackRunner
from tools import config_schema

ROOT = Path(__file__).resolve().parents[1]
RUNBOOK = ROOT / "docs" / "operations.md"
SHIPPED = ("dev", "local", "prod")
PROJECT_PREFIX = "emqx-platform:"


# ------------------------------------------------------------------------------------------ what exists


@dataclass(frozen=True)
class Facts:
    make_targets: frozenset[str]
    config_keys: frozenset[str]  # dotted paths, list items as `[]`
    outputs: frozenset[str]
    namespaces: frozenset[str]
    names: Mapping[str, frozenset[str]]  # canonical kind -> object names
    labels: frozenset[tuple[str, str]]
    containers: frozenset[str]  # containers and init containers of the pod templates the program writes


def make_targets() -> frozenset[str]:
    text = (ROOT / "Makefile").read_text()
    targets = {m.group(1) for m in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.MULTILINE)}
    return frozenset(t for t in targets if not t.startswith("."))


def stack_values(name: str) -> tuple[dict[str, Any], set[str]]:
    """A shipped stack file as the settings see it: project keys without their namespace, JSON decoded."""
    config, secret_keys = engine.load_stack_config(ROOT / "stacks" / f"Pulumi.{name}.yaml")
    values: dict[str, Any] = {}
    for key, text in config.items():
        short = key[len(PROJECT_PREFIX):] if key.startswith(PROJECT_PREFIX) else key
        try:
            values[short] = json.loads(text)
        except ValueError:
            values[short] = text
    secrets = {k[len(PROJECT_PREFIX):] for k in secret_keys if k.startswith(PROJECT_PREFIX)}
    return values, secrets


def shipped_settings(name: str) -> Settings:
    values, secrets = stack_values(name)
    return parse(values, stack=name, secret_keys=secrets)


def config_keys() -> frozenset[str]:
    # The schema generator's complete configs reach every key (rebalance and load-test runs, the existing target);
    # the shipped stacks are parsed too, so a key only they use is known. Every path read counts: a section is a
    # valid --path target.
    paths = set(config_schema.read_paths())
    for name in SHIPPED:
        Section.read_paths.clear()
        shipped_settings(name)
        paths |= Section.read_paths
    return frozenset(paths | set(SECRET_KEYS))


def _walk(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        mapping = cast(Mapping[str, Any], value)
        yield mapping
        for v in mapping.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in cast(list[Any], value):
            yield from _walk(v)


KINDS = {
    "svc": "service", "service": "service", "services": "service",
    "secret": "secret", "secrets": "secret",
    "ds": "daemonset", "daemonset": "daemonset", "daemonsets": "daemonset",
    "ns": "namespace", "namespace": "namespace", "namespaces": "namespace",
    "emqx": "emqx", "certificate": "certificate", "certificates": "certificate", "issuer": "issuer",
    "configmap": "configmap", "cm": "configmap",
}


def facts_of(recordings: list[engine.Recording]) -> Facts:
    outputs: set[str] = set()
    namespaces: set[str] = set()
    names: dict[str, set[str]] = {kind: set() for kind in set(KINDS.values())}
    labels: set[tuple[str, str]] = set()
    containers: set[str] = set()
    for rec in recordings:
        outputs |= set(rec.outputs)
        for res in rec.resources:
            inputs = engine.unwrap(res.inputs)
            kind = res.type.rsplit(":", 1)[-1].lower()
            meta = inputs.get("metadata") if isinstance(inputs.get("metadata"), dict) else {}
            if res.type.startswith("kubernetes:") and meta.get("name"):
                if kind in names:
                    names[kind].add(meta["name"])
                if kind == "namespace":
                    namespaces.add(meta["name"])
                if meta.get("namespace"):
                    namespaces.add(meta["namespace"])
                if kind == "certificate":
                    # cert-manager writes the Secret the Certificate names.
                    names["secret"].add(inputs["spec"]["secretName"])
                if kind == "emqx":
                    # The operator's Services (emqx-operator 2.2.29 apis/apps/v2beta1/names.go: <name>-listeners,
                    # <name>-dashboard, <name>-headless).
                    names["service"] |= {f"{meta['name']}-{s}" for s in ("listeners", "dashboard", "headless")}
            if res.type == "kubernetes:helm.sh/v3:Release" and inputs.get("namespace"):
                namespaces.add(inputs["namespace"])
            if res.type == "alicloud:cs/nodePool:NodePool":
                labels |= {(lab["key"], lab["value"]) for lab in inputs.get("labels") or []}
            for mapping in _walk(inputs):
                for key in ("containers", "initContainers"):
                    found_list = mapping.get(key)
                    if isinstance(found_list, list):
                        containers |= {c["name"] for c in cast(list[dict[str, Any]], found_list) if "name" in c}
                for key in ("labels", "matchLabels"):
                    found = mapping.get(key)
                    if isinstance(found, dict):
                        labels |= {(str(k), str(v)) for k, v in cast(dict[str, Any], found).items()}
    return Facts(make_targets=make_targets(), config_keys=config_keys(), outputs=frozenset(outputs),
                 namespaces=frozenset(namespaces), names={k: frozenset(v) for k, v in names.items()},
                 labels=frozenset(labels), containers=frozenset(containers))


def dev_values_with_access_list() -> dict[str, Any]:
    values, _ = stack_values("dev")
    values["cluster"] = {**values.get("cluster", {}),
                         "apiServer": {"public": False, "allowedCidrs": ["203.0.113.0/24"]}}
    return values


def secret_values(name: str) -> dict[str, Any]:
    """A shipped stack as a run_stack mapping, its secrets marked as a stack file marks them."""
    values, secrets = stack_values(name)
    return {k: ({"secure": v} if k in secrets else v) for k, v in values.items()}


@pytest.fixture(scope="module")
def facts(run_stack: StackRunner) -> Facts:
    # The shipped stacks, and dev with an API server access list: the only way the api_server_* outputs exist.
    recordings = [run_stack(name) for name in SHIPPED]
    recordings.append(run_stack(dev_values_with_access_list(), stack="dev"))
    return facts_of(recordings)


# ------------------------------------------------------------------------------------------ the checker


FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
# An end of one shell command inside a line: what follows is another command or a redirection.
COMMAND_END = re.compile(r"\s(?:\||;|&&|>|#)\s|\)|$")
CONFIG_KEY = re.compile(r"[a-z][A-Za-z0-9]*(?:\.[a-z][A-Za-z0-9]*|\[[0-9]*\])+")
PLACEHOLDER = re.compile(r"[<$]")


@dataclass
class Checked:
    problems: list[str]
    counts: dict[str, int]


def command_lines(markdown: str) -> list[str]:
    """Shell lines of the fenced blocks (continuations joined) and every inline code span outside them."""
    lines: list[str] = []
    for block in FENCE.findall(markdown):
        lines += re.sub(r"\\\n\s*", " ", block).splitlines()
    prose = FENCE.sub("", markdown)
    lines += re.findall(r"`([^`\n]+)`", prose)
    return lines


def inline_code(markdown: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", FENCE.sub("", markdown))


def _after(line: str, words: str) -> Iterator[list[str]]:
    """The arguments of each `words ...` command in a line, up to the end of that command, shell-split."""
    for m in re.finditer(rf"(?<![-\w]){re.escape(words)}(?![-\w])", line):
        rest = line[m.end():]
        end = COMMAND_END.search(rest)
        segment = rest[: end.start() if end else len(rest)]
        try:
            yield shlex.split(segment)
        except ValueError:
            yield segment.split()


def _positionals(args: list[str], with_value: set[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--":
            break
        elif arg.startswith("-"):
            skip = arg in with_value
        else:
            out.append(arg)
    return out


def _normal_key(key: str) -> str:
    key = key[len(PROJECT_PREFIX):] if key.startswith(PROJECT_PREFIX) else key
    key = re.sub(r"\[[0-9]*\]", "[]", key)
    # An element of a list setting (`nodePools.emqx.instanceTypes[1]`) is that setting.
    return key[:-2] if key.endswith("[]") else key


def check(markdown: str, facts: Facts) -> Checked:
    problems: list[str] = []
    counts = {"make": 0, "config": 0, "output": 0, "kubectl": 0}
    sections = {k.split(".", 1)[0] for k in facts.config_keys if "." in k}

    for line in command_lines(markdown):
        for args in _after(line, "make"):
            targets = [a for a in args if "=" not in a and not a.startswith("-")]
            for target in targets[:1]:
                counts["make"] += 1
                if target not in facts.make_targets:
                    problems.append(f"make target {target!r} is not in the Makefile ({line.strip()})")
        for verb in ("set", "get", "rm"):
            for args in _after(line, f"pulumi config {verb}"):
                keys = _positionals(args, {"-s", "--stack", "-C", "--cwd"})
                if not keys or PLACEHOLDER.search(keys[0]):
                    continue
                counts["config"] += 1
                key = _normal_key(keys[0])
                if ":" in key or key not in facts.config_keys:
                    problems.append(f"config key {keys[0]!r} is not read by the settings ({line.strip()})")
        for args in _after(line, "pulumi stack output"):
            names = _positionals(args, {"-s", "--stack", "-C", "--cwd", "--shell"})
            if names:
                counts["output"] += 1
                if names[0] not in facts.outputs:
                    problems.append(f"stack output {names[0]!r} is not exported ({line.strip()})")
        for args in _after(line, "kubectl"):
            problems += _kubectl(args, facts, counts, line.strip())

    for code in inline_code(markdown):
        candidate = code.split(":", 1)[0].strip() if ": " in code or code.endswith(":") else code.strip()
        if CONFIG_KEY.fullmatch(candidate) and candidate.split(".", 1)[0].split("[", 1)[0] in sections:
            counts["config"] += 1
            if _normal_key(candidate) not in facts.config_keys:
                problems.append(f"config key `{candidate}` is not read by the settings")
    return Checked(problems=problems, counts=counts)


def _kubectl(args: list[str], facts: Facts, counts: dict[str, int], line: str) -> list[str]:
    problems: list[str] = []
    options_with_value = {"-n", "--namespace", "-l", "--selector", "-o", "--output", "-c", "--container", "-L",
                          "--label-columns", "--field-selector", "-f", "--filename", "--context"}
    i = 0
    while i < len(args):
        arg, value = args[i], args[i + 1] if i + 1 < len(args) else ""
        if arg in ("-n", "--namespace") and not PLACEHOLDER.search(value):
            counts["kubectl"] += 1
            if value not in facts.namespaces:
                problems.append(f"namespace {value!r} is not one the program uses ({line})")
        if arg in ("-l", "--selector") and not PLACEHOLDER.search(value):
            for term in value.split(","):
                if "=" in term:
                    counts["kubectl"] += 1
                    pair = tuple(term.split("=", 1))
                    if pair not in facts.labels:
                        problems.append(f"label {term!r} is on nothing the program creates ({line})")
        if arg in ("-c", "--container") and not PLACEHOLDER.search(value):
            counts["kubectl"] += 1
            if value not in facts.containers:
                problems.append(f"container {value!r} is in no pod template the program writes ({line})")
        i += 2 if arg in options_with_value else 1
    positionals = _positionals(args, options_with_value)
    if not positionals:
        return problems
    verb, rest = positionals[0], positionals[1:]
    if verb == "rollout" and rest:
        rest = rest[1:]
    refs: list[tuple[str, str]] = []
    if verb in ("get", "describe", "rollout", "port-forward", "delete", "edit"):
        if rest and "/" not in rest[0]:
            kinds = rest[0].split(",")
            refs += [(kinds[0], name) for name in rest[1:]] if len(kinds) == 1 else []
        refs += [tuple(r.split("/", 1)) for r in rest if "/" in r]  # type: ignore[misc]
    for kind, name in refs:
        canonical = KINDS.get(kind.lower())
        if canonical is None or PLACEHOLDER.search(name):
            continue
        counts["kubectl"] += 1
        if name not in facts.names[canonical]:
            problems.append(f"{canonical} {name!r} is not created by the program ({line})")
    return problems


# ------------------------------------------------------------------------------------------ tests


def test_every_command_and_key_in_the_runbook_exists(facts: Facts) -> None:
    checked = check(RUNBOOK.read_text(), facts)
    assert not checked.problems, "\n".join(checked.problems)
    # The checker really read the runbook: each kind of reference occurs there.
    assert checked.counts["make"] >= 2, checked.counts
    assert checked.counts["config"] >= 20, checked.counts
    assert checked.counts["output"] >= 8, checked.counts
    assert checked.counts["kubectl"] >= 20, checked.counts


def test_the_checker_reports_a_wrong_target_key_output_and_object(facts: Facts) -> None:
    snippet = "\n".join([
        "Set `nodePools.emqx.size` and keep `emqx.cores: 3` (this one exists).",
        "```sh",
        "make deploy STACK=prod",
        "make preview STACK=prod",
        "pulumi config set --path emqx.cors 3",
        "pulumi config set --secret emqx-platform:licenceKey x",
        "pulumi config set --path 'rebalance.runs[0].connEvictRate' 500",
        'HOST=$(pulumi stack output --json load_balancer_ip | jq -r .)',
        "pulumi stack output --show-secrets kubeconfig",
        "kubectl -n emqx get svc emqx-listener",
        "kubectl -n emqx-system get pods -l apps.emqx.io/instance=emqx",
        "kubectl -n kube-system rollout status ds/emqx-node-tunning",
        "kubectl -n emqx get secret emqx-ca-cert -o yaml",
        "kubectl -n emqx get pods -l app=emqx",
        "kubectl -n kube-system logs <reconciler pod> -c tuning",
        "```",
    ])
    checked = check(snippet, facts)
    wrong = ["'deploy'", "`nodePools.emqx.size`", "'emqx.cors'", "'emqx-platform:licenceKey'", "'load_balancer_ip'",
             "'emqx-listener'", "'emqx-system'", "'emqx-node-tunning'", "'emqx-ca-cert'", "'app=emqx'", "'tuning'"]
    for item in wrong:
        assert any(item in p for p in checked.problems), (item, checked.problems)
    assert len(checked.problems) == len(wrong), checked.problems


def test_the_listener_service_the_runbook_uses_is_named_on_the_recorded_certificate(run_stack: StackRunner) -> None:
    # The operator creates the Service, not the program; the listener certificate the program records names it.
    rec = run_stack("dev")
    cert = rec.one("kubernetes:cert-manager.io/v1:Certificate", "emqx-dev-certificate-emqx-listener-tls")
    assert "emqx-listeners.emqx.svc" in engine.unwrap(cert.inputs)["spec"]["dnsNames"]
    assert "svc emqx-listeners" in RUNBOOK.read_text()


def _table(marker: str) -> list[list[str]]:
    text = RUNBOOK.read_text()
    body = text.split(f"<!-- {marker}", 1)[1].split("-->", 1)[1].split(f"<!-- /{marker}", 1)[0]
    rows = [line for line in body.strip().splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_rollout_times_are_the_programs_estimates_for_the_shipped_stacks() -> None:
    rows = {row[0]: row[1:] for row in _table("runbook-rollout")}
    assert set(rows) == set(SHIPPED)
    for name in SHIPPED:
        settings = shipped_settings(name)
        estimate = rollout_estimate(settings)
        plan = settings.sizing
        assert rows[name] == [f"{plan.cores} core + {plan.replicants} replicant",
                              f"{math.ceil(estimate.seconds / 60)} min", f"{estimate.timeout_seconds // 60} min"]


def test_node_counts_for_quota_are_the_node_pools_the_program_creates(run_stack: StackRunner) -> None:
    rows = {row[0]: row[1:] for row in _table("runbook-nodes")}
    assert set(rows) == {"dev", "prod"}
    for name, row in rows.items():
        pools = [engine.unwrap(r.inputs) for r in run_stack(name).by_type("alicloud:cs/nodePool:NodePool")]
        # The EMQX pools, and beside replicants the cores' own pools (emqx-<stack>-emqx-core-<zone>).
        core = [p for p in pools if p["nodePoolName"].startswith(f"emqx-{name}-emqx-core-")]
        emqx = [p for p in pools if p["nodePoolName"].startswith(f"emqx-{name}-emqx-") and p not in core]
        system = [p for p in pools if p["nodePoolName"] == f"emqx-{name}-system"]
        assert len(system) == 1 and emqx

        def size(pool: Mapping[str, Any], bound: str) -> int:
            scaling = pool.get("scalingConfig")
            return int(scaling[bound]) if scaling else int(pool["desiredSize"])

        def nodes(group: list[Mapping[str, Any]]) -> tuple[str, int, int, int]:
            kind = group[0]["instanceTypes"][0]
            rest, peak = sum(size(p, "minSize") for p in group), sum(size(p, "maxSize") for p in group)
            return f"{rest} / {peak} x {kind}", rest, peak, sizing.INSTANCE_SHAPES[kind].vcpu

        emqx_cell, rest, peak, vcpu = nodes(emqx)
        at_rest, at_peak = rest * vcpu, peak * vcpu
        if core:
            core_cell, core_rest, core_peak, core_vcpu = nodes(core)
            emqx_cell = f"{emqx_cell} (replicants) + {core_cell} (cores)"
            at_rest, at_peak = at_rest + core_rest * core_vcpu, at_peak + core_peak * core_vcpu
        system_type = system[0]["instanceTypes"][0]
        system_vcpu = size(system[0], "minSize") * sizing.INSTANCE_SHAPES[system_type].vcpu
        assert row == [
            emqx_cell,
            f"{size(system[0], 'minSize')} x {system_type}",
            f"{at_rest + system_vcpu} / {at_peak + system_vcpu}",
        ]


def test_the_teardown_keys_lift_only_the_protection(run_stack: StackRunner) -> None:
    # The runbook's teardown of prod: the two deletionProtection keys and `pulumi up` change nothing but protection.
    protected = run_stack(secret_values("prod"), stack="prod")
    values = secret_values("prod")
    values.setdefault("cluster", {})["deletionProtection"] = False
    values.setdefault("loadBalancer", {})["deletionProtection"] = False
    lifted = run_stack(values, stack="prod")
    protection_inputs = {"deletionProtection", "deletionProtectionConfig", "deleteProtection"}
    before = {(r.type, r.name): r for r in protected.resources}
    after = {(r.type, r.name): r for r in lifted.resources}
    assert set(before) == set(after)
    changed: set[str] = set()
    for key, old in before.items():
        new = after[key]
        differing = {k for k in set(old.inputs) | set(new.inputs) if old.inputs.get(k) != new.inputs.get(k)}
        assert differing <= protection_inputs, (key, differing)
        if differing or old.options != new.options:
            changed.add(key[0])
        assert {k: v for k, v in new.options.items() if k != "protect"} == \
            {k: v for k, v in old.options.items() if k != "protect"}, key
        assert not new.options["protect"], key
    assert protected.outputs.keys() == lifted.outputs.keys()
    assert changed == {"alicloud:vpc/network:Network", "alicloud:cs/managedKubernetes:ManagedKubernetes",
                       "alicloud:nlb/loadBalancer:LoadBalancer"}


def test_readme_points_to_the_runbook() -> None:
    readme = (ROOT / "README.md").read_text()
    deploying = readme.split("## Deploying for real", 1)[1].split("\n## ", 1)[0]
    assert "docs/operations.md" in deploying
    assert RUNBOOK.is_file()


def test_the_node_log_the_runbook_points_to_is_where_the_tuning_script_writes(run_stack: StackRunner) -> None:
    # The runbook sends the engineer to `journalctl -t emqx-tuning` on a node: the pre-user-data must log there.
    rec = run_stack("dev")
    pool = rec.one("alicloud:cs/nodePool:NodePool", "emqx-dev-emqx-cn-hangzhou-h")
    script = base64.b64decode(engine.unwrap(pool.inputs)["preUserData"]).decode()
    tag = re.search(r"logger -t ([a-z-]+) ", script)
    assert tag is not None
    assert f"journalctl -t {tag.group(1)}" in RUNBOOK.read_text()
