"""The offline preview engine and its writers, exercised on the toy program in tests/fixtures/toy.

Expected values come from the toy program's source (written out again here by hand), from the
Pulumi CLI's documented config handover, and from real parsers (YAML, base64, email MIME, Kubernetes schemas).
"""

from __future__ import annotations

import base64
import email
import importlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kubernetes_validate
import pytest
import yaml

from preview import engine, fakes, writers
from preview.__main__ import main

if TYPE_CHECKING:
    from conftest import StackRunner

TOY_DIR = Path(__file__).resolve().parent / "fixtures" / "toy"
TOY = TOY_DIR / "__main__.py"
TOY_STACKS = TOY_DIR / "stacks"
LICENSE_PLACEHOLDER = "offline-secret-emqx-platform:licenseKey"
NODE_POOL = "alicloud:cs/nodePool:NodePool"
PASSWORD = "random:index/randomPassword:RandomPassword"


def toy(run_stack: StackRunner, name_or_config: str | dict[str, Any] = "dev") -> engine.Recording:
    return run_stack(name_or_config, program=TOY, stacks_dir=TOY_STACKS)


def run_cli(tmp_path: Path, stack: str, stacks_dir: Path = TOY_STACKS) -> int:
    argv = ["--program", str(TOY), "--stacks-dir", str(stacks_dir), "--stack", stack, "--out", str(tmp_path / "out")]
    return main(argv)


def leaky_stacks(tmp_path: Path) -> Path:
    """The dev stack plus leakByValue: secrets that lost their secret marker on the way."""
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    document = yaml.safe_load((TOY_STACKS / "Pulumi.dev.yaml").read_text())
    document["config"]["emqx-platform:leakByValue"] = True
    (stacks / "Pulumi.leaky.yaml").write_text(yaml.safe_dump(document))
    return stacks


# ------------------------------------------------------------------------------------------- config


def test_stack_file_reaches_the_program_as_the_cli_hands_it(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.x.yaml"
    stack_file.write_text(
        "config:\n"
        "  alicloud:region: cn-hangzhou\n"
        "  emqx-platform:replicas: 3\n"
        "  emqx-platform:debug: true\n"
        "  emqx-platform:ratio: 1.5\n"
        "  emqx-platform:cloud: {region: cn-hangzhou, zones: [a, b]}\n"
        "  emqx-platform:licenseKey:\n"
        "    secure: AAABAHxNotDecryptable\n"
        "  emqx-platform:auth: {user: admin, password: {secure: AAABAHxAlsoNot}}\n"
        "  bare: value\n"
    )
    config, secret_keys = engine.load_stack_config(stack_file)
    assert config["alicloud:region"] == "cn-hangzhou"
    assert config["emqx-platform:replicas"] == "3"
    assert config["emqx-platform:debug"] == "true"
    assert config["emqx-platform:ratio"] == "1.5"
    assert json.loads(config["emqx-platform:cloud"]) == {"region": "cn-hangzhou", "zones": ["a", "b"]}
    assert config["emqx-platform:licenseKey"] == LICENSE_PLACEHOLDER
    assert json.loads(config["emqx-platform:auth"]) == {
        "user": "admin",
        "password": "offline-secret-emqx-platform:auth.password",
    }
    assert config["emqx-platform:bare"] == "value"
    assert sorted(secret_keys) == ["emqx-platform:auth", "emqx-platform:licenseKey"]


def test_structured_config_arrives_through_get_object(run_stack: StackRunner) -> None:
    # The toy builds one vswitch per zone from config.get_object("cloud").
    rec = toy(run_stack)
    assert rec.one(NODE_POOL).inputs["vswitchIds"] == ["vsw-cn-hangzhou-h", "vsw-cn-hangzhou-i"]
    assert rec.one(NODE_POOL).inputs["desiredSize"] == "3"


# -------------------------------------------------------------------------------------------- record


def test_recording_has_parents_dependencies_providers_and_outputs(run_stack: StackRunner) -> None:
    rec = toy(run_stack)
    assert rec.named("emqx-pool").parent == "platform"
    assert rec.named("mqtt-lb").parent == "platform"
    assert rec.named("platform").parent is None
    assert rec.named("platform").custom is False
    assert rec.named("mqtt-1883").dependencies == ("mqtt-lb",)
    assert rec.named("mqtt-1883").inputs["loadBalancerId"] == "mqtt-lb-id"
    assert set(rec.named("emqx-license").dependencies) == {"emqx", "dashboard-password"}
    assert set(rec.named("emqx-cluster").dependencies) == {"emqx", "emqx-operator"}
    for token in ("kubernetes:core/v1:Namespace", "kubernetes:core/v1:Service", "kubernetes:helm.sh/v3:Release"):
        assert rec.one(token).provider == "ack"
    assert rec.outputs["lbAddress"] == "10.0.0.100"
    assert rec.outputs["replicas"] == 3
    assert rec.named("platform").outputs == {"lbAddress": "10.0.0.100"}
    assert [(c.token, c.args, c.mocked) for c in rec.calls] == [
        ("alicloud:cs/getClusterCredential:getClusterCredential", {"clusterId": "c-toy"}, True)
    ]
    assert rec.unmocked_calls == []
    # The SDK hands dependencies over as a set (hash order varies per process): stable output needs them sorted.
    assert all(list(r.dependencies) == sorted(set(r.dependencies)) for r in rec.resources)


def test_lookup_helpers_refuse_ambiguity(run_stack: StackRunner) -> None:
    rec = toy(run_stack)
    with pytest.raises(LookupError):
        rec.one("kubernetes:core/v1:ConfigMap")
    with pytest.raises(LookupError):
        rec.named("no-such-resource")
    assert [r.name for r in rec.by_type("alicloud:slb/listener:Listener")] == ["mqtt-1883"]


def test_apply_callbacks_run(run_stack: StackRunner) -> None:
    # preview=False: an apply on a secret config value must have produced its value.
    rec = toy(run_stack)
    encoded = rec.named("emqx-license").raw_inputs["data"]["encoded"]
    assert base64.b64decode(encoded).decode() == LICENSE_PLACEHOLDER


def test_unmocked_data_source_is_recorded(run_stack: StackRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(fakes.CALL_FAKES, "alicloud:cs/getClusterCredential:getClusterCredential")
    config, secret_keys = engine.load_stack_config(TOY_STACKS / "Pulumi.dev.yaml")
    rec = engine.run_program(TOY, stack="dev", config=config, secret_keys=secret_keys)
    assert [c.token for c in rec.unmocked_calls] == ["alicloud:cs/getClusterCredential:getClusterCredential"]


def test_generated_password_is_secret_and_as_long_as_asked(run_stack: StackRunner) -> None:
    rec = toy(run_stack)
    password = rec.one(PASSWORD)
    assert password.outputs["result"] == "[secret]"
    assert len(password.raw_outputs["result"]) == 20  # the toy asks for length=20
    assert rec.outputs["dashboardPassword"] == "[secret]"


def test_apply_that_raises_fails_the_run(run_stack: StackRunner) -> None:
    with pytest.raises(RuntimeError, match="apply callback failed on 1"):
        toy(run_stack, {"licenseKey": {"secure": "x"}, "failInApply": True})


def test_config_error_propagates_with_its_problems() -> None:
    config, secret_keys = engine.load_stack_config(TOY_STACKS / "Pulumi.broken.yaml")
    with pytest.raises(Exception) as caught:
        engine.run_program(TOY, stack="broken", config=config, secret_keys=secret_keys)
    assert type(caught.value).__name__ == "ConfigError"
    assert engine.is_config_error(caught.value)
    problems = vars(caught.value)["problems"]
    assert len(problems) == 2
    assert any("nowhere" in p for p in problems) and any("replicas" in p for p in problems)


def test_duplicate_resource_names_fail_like_the_engine(tmp_path: Path) -> None:
    program = tmp_path / "__main__.py"
    program.write_text(
        "import pulumi_random as random\nrandom.RandomString('same', length=4)\nrandom.RandomString('same', length=5)\n"
    )
    with pytest.raises(ValueError, match="Duplicate resource URN"):
        engine.run_program(program, stack="dup", config={}, secret_keys=[])


def test_runs_in_one_process_do_not_leak_into_each_other() -> None:
    def run(config: dict[str, Any]) -> engine.Recording:
        cfg, secret_keys = engine.config_from_mapping(config)
        return engine.run_program(TOY, stack="iso", config=cfg, secret_keys=secret_keys)

    alicloud = {"target": "alicloud", "replicas": 2, "licenseKey": {"secure": "x"}, "cloud": {"zones": ["z1"]}}
    existing = {"target": "existing", "replicas": 5, "licenseKey": {"secure": "x"}, "cloud": {"zones": ["z2", "z3"]}}
    first = run(alicloud)
    second = run(existing)
    third = run(alicloud)

    assert [r.name for r in first.resources].count("eks-emqx") == 1
    assert "eks-emqx" not in [r.name for r in second.resources]
    assert second.one(NODE_POOL).inputs["vswitchIds"] == ["vsw-z2", "vsw-z3"]
    assert second.outputs["replicas"] == 5
    assert len(second.resources) == len(first.resources) - 1
    # Same config, same result, in the same order: nothing accumulated, nothing depends on thread timing.
    assert writers.plan_document(third) == writers.plan_document(first)
    assert [r.urn for r in third.resources] == [r.urn for r in first.resources]


def test_run_stack_fixture_accepts_a_config_dict(run_stack: StackRunner) -> None:
    rec = toy(
        run_stack, {"target": "existing", "replicas": 1, "licenseKey": {"secure": "x"}, "cloud": {"zones": ["q"]}}
    )
    assert rec.stack == "test"
    assert rec.one(NODE_POOL).inputs["desiredSize"] == "1"
    assert rec.one(NODE_POOL).inputs["vswitchIds"] == ["vsw-q"]


# -------------------------------------------------------------------------------------------- writers


def test_manifests_are_the_objects_the_toy_declares(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "dev") == 0
    manifests = tmp_path / "out" / "dev" / "manifests"
    assert sorted(p.name for p in manifests.iterdir()) == [
        "01-namespace-_-emqx.yaml",
        "02-service-emqx-mqtt.yaml",
        "03-secret-emqx-emqx-license.yaml",
        "04-emqx-emqx-emqx.yaml",
    ]
    emqx = {
        "apiVersion": "apps.emqx.io/v2beta1",
        "kind": "EMQX",
        "metadata": {"name": "emqx", "namespace": "emqx", "annotations": {"pulumi.com/waitFor": "condition=Ready"}},
        "spec": {
            "image": "emqx/emqx-enterprise:5.8.6",
            "coreTemplate": {"spec": {"replicas": 3}},
            "replicantTemplate": {
                "spec": {
                    "replicas": 6,
                    "env": [
                        {
                            "name": "EMQX_LICENSE__KEY",
                            "valueFrom": {"secretKeyRef": {"name": "emqx-license", "key": "license"}},
                        }
                    ],
                }
            },
        },
    }
    assert yaml.safe_load((manifests / "04-emqx-emqx-emqx.yaml").read_text()) == emqx
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "mqtt",
            "namespace": "emqx",
            "annotations": {"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "intranet"},
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": {"apps.emqx.io/instance": "emqx"},
            "ports": [{"name": "mqtt", "port": 1883, "targetPort": 1883, "protocol": "TCP"}],
        },
    }
    written_service = yaml.safe_load((manifests / "02-service-emqx-mqtt.yaml").read_text())
    assert written_service == service
    for path in manifests.iterdir():
        obj = yaml.safe_load(path.read_text())
        if obj["apiVersion"] == "v1":
            kubernetes_validate.validate(obj, "1.33", strict=True)


def test_helm_release_stays_in_the_plan(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "dev") == 0
    plan = json.loads((tmp_path / "out" / "dev" / "plan.json").read_text())
    assert list(plan) == ["stack", "resources", "outputs", "placeholders"]
    release = next(r for r in plan["resources"] if r["type"] == "kubernetes:helm.sh/v3:Release")
    assert release["name"] == "emqx-operator"
    assert release["inputs"]["chart"] == "emqx-operator"
    assert release["inputs"]["version"] == "2.2.29"
    assert release["inputs"]["repositoryOpts"] == {"repo": "https://repos.emqx.io/charts"}
    assert release["inputs"]["values"] == {"skipCRDs": False, "image": {"tag": "2.2.29"}}
    listener = next(r for r in plan["resources"] if r["name"] == "mqtt-1883")
    assert listener["parent"] == "platform" and listener["dependencies"] == ["mqtt-lb"]
    assert not any("Release" in p.name for p in (tmp_path / "out" / "dev" / "manifests").iterdir())


def test_user_data_is_written_decoded(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "dev") == 0
    user_data = tmp_path / "out" / "dev" / "user-data"
    assert sorted(p.name for p in user_data.iterdir()) == [
        "eks-emqx.user-data.mime",
        "emqx.pre-user-data.sh",
        "emqx.user-data",
    ]
    assert (user_data / "emqx.pre-user-data.sh").read_text() == (
        "#!/bin/sh\ncat > /etc/sysctl.d/99-emqx.conf <<'EOF'\nfs.nr_open = 2097152\nEOF\nsysctl --system\n"
    )
    assert (user_data / "emqx.user-data").read_text() == "#!/bin/sh\necho joined > /var/log/emqx-node-ready\n"
    message = email.message_from_string((user_data / "eks-emqx.user-data.mime").read_text())
    assert message.is_multipart()
    parts = [p for p in message.walk() if not p.is_multipart()]
    assert [p.get_content_type() for p in parts] == ["text/x-shellscript"]
    assert str(parts[0].get_payload()).strip() == "#!/bin/sh\necho tuned"


def test_no_secret_reaches_any_written_file_or_the_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stacks = leaky_stacks(tmp_path)
    config, secret_keys = engine.load_stack_config(stacks / "Pulumi.leaky.yaml")
    rec = engine.run_program(TOY, stack="leaky", config=config, secret_keys=secret_keys)
    password = rec.one(PASSWORD).raw_outputs["result"]
    kubeconfig_token = fakes.fake_kubeconfig("c-toy").split("token: ")[1].split()[0]
    forbidden = [LICENSE_PLACEHOLDER, password, kubeconfig_token]
    forbidden += [base64.b64encode(s.encode()).decode() for s in forbidden]
    capsys.readouterr()

    assert run_cli(tmp_path, "leaky", stacks) == 0
    captured = capsys.readouterr()
    written = {p: p.read_text() for p in (tmp_path / "out" / "leaky").rglob("*") if p.is_file()}
    # plan.json, five manifests, three user-data files, the marker that says the preview wrote the folder
    assert len(written) == 1 + 5 + 3 + 1
    for secret in forbidden:
        assert secret not in captured.out and secret not in captured.err
        for path, text in written.items():
            assert secret not in text, f"{secret!r} leaked into {path}"

    # ... and they are shown as [secret] where they were, not silently dropped.
    manifests = tmp_path / "out" / "leaky" / "manifests"
    leaky = yaml.safe_load(next(manifests.glob("*-configmap-emqx-leaky.yaml")).read_text())
    assert leaky["data"] == {"password": "[secret]", "license": "[secret]"}
    assert leaky["metadata"]["annotations"]["note"] == "[secret]"
    secret = yaml.safe_load(next(manifests.glob("*-secret-emqx-emqx-license.yaml")).read_text())
    assert secret["stringData"] == {"license": "[secret]", "dashboardPassword": "[secret]"}
    assert secret["data"] == {"encoded": "[secret]"}
    plan = json.loads((tmp_path / "out" / "leaky" / "plan.json").read_text())
    assert plan["outputs"]["license"] == "[secret]" and plan["outputs"]["kubeconfig"] == "[secret]"
    assert "warning: [secret]" in captured.out


def test_writer_refuses_to_write_a_secret_that_slipped_through(tmp_path: Path) -> None:
    leaked = engine.RecordedResource(
        type="kubernetes:core/v1:ConfigMap",
        name="bad",
        urn="urn:pulumi:s::p::kubernetes:core/v1:ConfigMap::bad",
        parent=None,
        dependencies=(),
        inputs={"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "hunter2-but-longer"}},
        outputs={},
        custom=True,
    )
    rec = engine.Recording(
        stack="s", resources=(leaked,), outputs={}, calls=(), secret_values=frozenset({"hunter2-but-longer"})
    )
    with pytest.raises(writers.SecretLeak):
        writers.write_outputs(rec, tmp_path / "out", "s")
    assert not (tmp_path / "out" / "s").exists()


def test_config_error_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(tmp_path, "broken") == 2
    captured = capsys.readouterr()
    assert "target: must be alicloud or existing" in captured.err
    assert "replicas: must be at least 1" in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert not (tmp_path / "out").exists()


def test_failed_run_removes_the_previous_output_of_that_stack_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A plan left from an earlier run would read as the plan of the stack file that just failed.
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.dev.yaml").write_text((TOY_STACKS / "Pulumi.dev.yaml").read_text())
    assert run_cli(tmp_path, "dev", stacks) == 0
    other = tmp_path / "out" / "other-stack"
    other.mkdir()
    (stacks / "Pulumi.dev.yaml").write_text((TOY_STACKS / "Pulumi.broken.yaml").read_text())
    capsys.readouterr()
    assert run_cli(tmp_path, "dev", stacks) == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["other-stack"]
    assert "removed" in capsys.readouterr().err


def test_a_run_that_crashes_removes_the_previous_output_too(tmp_path: Path) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.dev.yaml").write_text((TOY_STACKS / "Pulumi.dev.yaml").read_text())
    assert run_cli(tmp_path, "dev", stacks) == 0
    crashing = tmp_path / "crash.py"
    crashing.write_text("raise RuntimeError('not a config error')\n")
    argv = ["--program", str(crashing), "--stacks-dir", str(stacks), "--stack", "dev", "--out", str(tmp_path / "out")]
    with pytest.raises(RuntimeError):
        main(argv)
    assert not (tmp_path / "out" / "dev").exists()
    # A stack file that went missing is a failed run too.
    (stacks / "Pulumi.dev.yaml").rename(stacks / "Pulumi.gone.yaml")
    assert run_cli(tmp_path, "gone", stacks) == 0
    (stacks / "Pulumi.gone.yaml").unlink()
    assert run_cli(tmp_path, "gone", stacks) == 2
    assert not (tmp_path / "out" / "gone").exists()


def test_rerun_replaces_the_stack_output(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "dev") == 0
    stale = tmp_path / "out" / "dev" / "manifests" / "99-stale.yaml"
    stale.write_text("{}\n")
    other = tmp_path / "out" / "other-stack"
    other.mkdir()
    assert run_cli(tmp_path, "dev") == 0
    assert not stale.exists()
    assert other.is_dir()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dev", "other-stack"]


def test_printed_tree_indents_children_under_their_component(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(tmp_path, "dev") == 0
    lines = capsys.readouterr().out.splitlines()
    platform = next(i for i, line in enumerate(lines) if line.endswith("toy:Platform  platform"))
    pool = next(line for line in lines if "  emqx-pool" in line)
    assert len(pool) - len(pool.lstrip()) > len(lines[platform]) - len(lines[platform].lstrip())
    assert 'instanceTypes=["ecs.c7.2xlarge"]' in pool and "nodes=3" in pool
    assert any("EMQX  emqx-cluster" in line and "cores=3" in line and "replicants=6" in line for line in lines)


def test_quiet_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--program", str(TOY), "--stacks-dir", str(TOY_STACKS), "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    assert capsys.readouterr().out == ""


# --------------------------------------------------------------------------------------- real program


REAL_STACKS = sorted((Path(__file__).resolve().parent.parent / "stacks").glob("Pulumi.*.yaml"))


@pytest.mark.skipif(
    not (Path(__file__).resolve().parent.parent / "__main__.py").exists() or not REAL_STACKS,
    reason="the real program or its stacks do not exist yet",
)
@pytest.mark.parametrize("stack_file", REAL_STACKS, ids=lambda p: p.name)
def test_every_stack_previews_without_leaking(run_stack: StackRunner, stack_file: Path, tmp_path: Path) -> None:
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    # Every stack file we ship must be valid: a ConfigError here is a failure, not a skip.
    rec = run_stack(stack)
    writers.write_outputs(rec, tmp_path, stack)


# ------------------------------------------------------------------------------------------------ fakes


def _sdk_class(token: str) -> type:
    package, module, kind = token.split(":")
    top = module.split("/")[0]
    return getattr(importlib.import_module(f"pulumi_{package}" + ("" if top == "index" else f".{top}")), kind)


def _strip_secrets(value: Any) -> Any:
    if isinstance(value, fakes.Secret):
        return _strip_secrets(value.value)
    if isinstance(value, dict):
        return {k: _strip_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_secrets(v) for v in value]
    return value


@pytest.mark.parametrize("token", sorted(fakes.RESOURCE_FAKES))
def test_fake_outputs_are_properties_of_the_sdk_type_with_its_types(token: str) -> None:
    # The SDK checks output types when it resolves a resource; a fake of the wrong shape breaks the program.
    from pulumi import _types
    from pulumi.runtime import rpc

    types = _types.resource_types(_sdk_class(token))
    outputs = _strip_secrets(fakes.RESOURCE_FAKES[token]("probe", {"length": 12}))
    assert set(outputs) <= set(types), f"{token}: not output properties: {set(outputs) - set(types)}"
    for key, value in outputs.items():
        rpc.translate_output_properties(value, lambda k: k, types[key], True)


def test_a_run_gives_the_caller_its_event_loop_back() -> None:
    import asyncio

    mine = asyncio.new_event_loop()
    asyncio.set_event_loop(mine)
    try:
        engine.run_program(TOY, stack="loop", config={"emqx-platform:licenseKey": "x"}, secret_keys=[])
        assert asyncio.get_event_loop() is mine
    finally:
        mine.close()
    engine.run_program(TOY, stack="loop", config={"emqx-platform:licenseKey": "x"}, secret_keys=[])
    assert not asyncio.get_event_loop().is_closed()
