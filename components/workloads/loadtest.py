"""Load-test runs declared in stack config: generators, verifier and their objects (components/render/loadtest.py).

Runs go one after another, in the order listed: each waits for the previous run's verdict, so two runs never share
the cluster. pulumi-kubernetes waits for each Job's Complete condition and fails the update as soon as a Job reports
Failed (batch/v1 Job await), so a failed verdict fails `pulumi up`. Each object (and its Pulumi resource) is named
from the run's own settings, so an edited run is a new set of resources beside the old ones, not a replacement; a
change around the run (keepalive, tuning, the load balancer's address) is ignored on objects that exist, so a run
that has been taken is not taken again. The result ConfigMap is kept when its run goes (retainOnDelete): the verdict
outlives the run's removal from the config.

Each run's verdict is read back from its result ConfigMap (ConfigMap.get) with an id derived from the verifier Job's
id, so the read waits for that Job: the Python SDK awaits the id Output before it sends ReadResource, and sends an
unknown id as the unknown sentinel (pulumi 3.272.0 runtime/resource.py read_resource: `await
rpc.serialize_property(opts.id, ...)`; runtime/rpc.py serialize_property returns UNKNOWN for an unknown Output).
The engine skips a read whose id is unknown, leaving its outputs unknown (pulumi/pulumi pkg/resource/deploy/step.go
ReadStep.Apply: "the only time we can't run is if the ID we are given is unknown"), and the SDK resolves them as
unknown in a preview (rpc.resolve_outputs). So a preview of a new run reads nothing and shows the verdict as unknown;
`pulumi up` reads it once the Job completed (pulumi-kubernetes returns from a Job's create only at Complete), and
every later update reads it again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import loadtest
from components.platform import Platform
from components.pools import pool_placement
from components.render import auth as auth_render
from components.render import loadtest as render
from components.render import loadtest_result
from components.render.emqx import LISTENERS, Placement
from components.render.loadtest_verifier import Expected
from components.settings import LoadTestRun, Settings

MQTT_PORT = next(p for kind, _, p in LISTENERS if kind == "tcp")
MQTTS_PORT = next(p for kind, _, p in LISTENERS if kind == "ssl")


def run_spec(run: LoadTestRun, settings: Settings) -> render.RunSpec:
    emqx = settings.emqx
    plain = settings.load_balancer.allow_plain_text if run.target == "loadBalancer" else not emqx.auth.certificates_only
    plan = run.plan(loadtest.source_port_limit(settings.tuning))
    bench_image, verifier_image = loadtest.images(settings.charts.image_registry)
    return render.RunSpec(
        name=run.name, namespace=emqx.namespace, emqx_name=emqx.name, emqx_secret=f"{emqx.name}-secrets",
        port=MQTT_PORT if plain else MQTTS_PORT, tls=not plain, keepalive_seconds=emqx.keepalive_seconds,
        topic=run.topic, qos=run.qos, payload_bytes=run.payload_bytes, duration_seconds=run.duration_seconds,
        username=run.username,
        expected=Expected(connections=run.connections, message_rate=plan.message_rate,
                          nodes=settings.sizing.cores + settings.sizing.replicants,
                          rate_tolerance=run.rate_tolerance, max_dropped_ratio=run.max_dropped_ratio,
                          subscribers=run.subscribers),
        emqx_nodes=settings.sizing.cores + settings.sizing.replicants,
        run_fields={k: v for k, v in asdict(run).items() if k != "key"},
        bench_image=bench_image, verifier_image=verifier_image,
    )


# What the image's launcher cannot pass on intact: emqtt-bench 0.6.2's bin/emqtt_bench (the image's ENTRYPOINT, which
# the generator script calls) ends in `exec ... escript ... $@` with $@ unquoted, so the shell splits the password at
# whitespace and expands glob characters in it (github.com/emqx/emqtt-bench, tag 0.6.2, bin/emqtt_bench).
# The shell splits at IFS (space, tab, newline by default): the ASCII whitespace is named, not \s.
UNSAFE_PASSWORD = re.compile(r"[ \t\n\r\v\f*?\[]")


def _password(users: str, username: str, run: str) -> str:
    found = [p for u, p in auth_render.parse_users(users) if u == username]
    if not found:
        # Said, not raised: an offline preview holds a placeholder for mqttUsers. On the cluster the generators'
        # connects are then refused, and the verdict fails on connections and refused connects.
        pulumi.log.warn(f"loadTest run {run}: user {username!r} is not in mqttUsers, so its clients will be refused")
    elif UNSAFE_PASSWORD.search(found[0]):
        # Raised inside the secret's apply, so `pulumi up` fails with this message; the password itself is not said.
        raise ValueError(f"loadTest.runs {run}.username: the password of mqttUsers user {username!r} has whitespace "
                         "or one of * ? [, which emqtt-bench 0.6.2's launcher splits or expands (bin/emqtt_bench "
                         "passes $@ unquoted); give the load-test user a password without them")
    return found[0] if found else ""


class LoadTests(pulumi.ComponentResource):
    results: dict[str, str]  # run name -> the ConfigMap holding its plan and verdict
    # run name -> its verdict and numbers as the verifier wrote them (render/loadtest_result.py verdict_output)
    verdicts: dict[str, pulumi.Output[dict[str, Any]]]

    def __init__(self, name: str, *, settings: Settings, platform: Platform, after: Sequence[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("emqx-platform:workloads:LoadTests", name, None, opts)
        self.results = {}
        self.verdicts = {}
        previous: list[pulumi.Resource] = list(after)
        limit = loadtest.source_port_limit(settings.tuning)
        # The load-generator pool's label and taint (components/alicloud/cluster.py); anywhere on an existing cluster.
        placement = Placement()
        if settings.loadgen_pool is not None and settings.loadgen_pool.enabled:
            selector, tolerations = pool_placement(settings.loadgen_pool.name, dedicated=True)
            placement = Placement(node_selector=selector, tolerations=tolerations)
        for run in settings.load_test:
            spec, plan = run_spec(run, settings), run.plan(limit)
            run_object = render.run_object_name(spec)
            host: pulumi.Input[str]
            if run.target == "loadBalancer":
                # What devices dial (settings refuse this target where the stack has no load balancer of its own):
                # an address where the platform has stable ones (Alibaba), else its DNS name (an AWS NLB's
                # addresses are per zone and reassigned by AWS).
                host = pulumi.Output.all(platform.listener_addresses, platform.listener_hostnames).apply(
                    lambda found: next(iter([*found[0], *found[1]])))
            else:
                host = f"{spec.emqx_name}-listeners.{spec.namespace}.svc"
            credentials: str | None = None
            opts_run = pulumi.ResourceOptions(parent=self, provider=platform.provider, depends_on=previous)
            created: list[pulumi.Resource] = []
            jobs: list[pulumi.Resource] = []
            verifier: k8s.batch.v1.Job | None = None
            if run.username is not None and settings.mqtt_users is not None:
                credentials = f"{run_object}-credentials"
                username = run.username
                created.append(k8s.core.v1.Secret(
                    f"{name}-{run_object}-credentials",
                    metadata={"name": credentials, "namespace": spec.namespace, "labels": dict(render.LABELS)},
                    type="Opaque",
                    string_data={"password": pulumi.Output.secret(settings.mqtt_users).apply(
                        lambda text, user=username, run=run.name: _password(text, user, run))},
                    opts=opts_run))
            for obj in render.manifests(spec, plan, placement=placement, sysctls=settings.pod_sysctls,
                                        credentials_secret=credentials):
                kind, object_name = obj["kind"], obj["metadata"]["name"]
                suffix = object_name[len(run_object) + 1:]
                # The digest in the resource name: an edited run is a new resource, never a replacement that would
                # delete the old run's verdict.
                resource_name = f"{name}-{run_object}-{suffix}-{kind.lower()}"
                # A run taken is left as it is: what the stack feeds it (load balancer address, keepalive, tuning,
                # the verifier's code) may change later without replacing a Job, which would take the run again.
                keep = {"Job": ["spec"], "ConfigMap": ["data"]}.get(kind, [])
                these = pulumi.ResourceOptions(parent=self, provider=platform.provider,
                                               depends_on=[*previous, *created], ignore_changes=keep,
                                               retain_on_delete=suffix == "result")
                if kind == "Job":
                    if suffix == "bench":
                        env = obj["spec"]["template"]["spec"]["containers"][0]["env"]
                        env[0] = {"name": "BENCH_HOST", "value": host}
                    job = k8s.batch.v1.Job(resource_name, metadata=obj["metadata"], spec=obj["spec"], opts=these)
                    jobs.append(job)
                    if suffix == "verify":
                        verifier = job
                elif kind == "ConfigMap":
                    created.append(k8s.core.v1.ConfigMap(resource_name, metadata=obj["metadata"], data=obj["data"],
                                                         opts=these))
                elif kind == "ServiceAccount":
                    created.append(k8s.core.v1.ServiceAccount(
                        resource_name, metadata=obj["metadata"],
                        automount_service_account_token=obj["automountServiceAccountToken"], opts=these))
                elif kind == "Role":
                    created.append(k8s.rbac.v1.Role(resource_name, metadata=obj["metadata"], rules=obj["rules"],
                                                    opts=these))
                elif kind == "RoleBinding":
                    created.append(k8s.rbac.v1.RoleBinding(resource_name, metadata=obj["metadata"],
                                                           role_ref=obj["roleRef"], subjects=obj["subjects"],
                                                           opts=these))
            result = f"{run_object}-result"
            self.results[run.name] = result
            if verifier is not None:
                self.verdicts[run.name] = self._verdict(f"{name}-{run_object}-verdict", spec.namespace, result,
                                                        verifier, platform.provider)
            # The next run starts once this one's generators and verdict are done.
            previous = jobs
        self.register_outputs({"results": self.results, "verdicts": self.verdicts})

    def _verdict(self, resource_name: str, namespace: str, result: str, verifier: k8s.batch.v1.Job,
                 provider: k8s.Provider) -> pulumi.Output[dict[str, Any]]:
        """The result ConfigMap read back once the verifier Job completed (the module's docstring says why the id
        carries the Job): a ConfigMap, not a Secret, and only its verdict.json is taken."""
        configmap = f"{namespace}/{result}"  # pulumi-kubernetes ids a namespaced object <namespace>/<name>
        read = k8s.core.v1.ConfigMap.get(resource_name, verifier.id.apply(lambda _: configmap),
                                         opts=pulumi.ResourceOptions(parent=self, provider=provider))
        return read.data.apply(lambda data: loadtest_result.verdict_output(data, configmap))
