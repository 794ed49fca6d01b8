"""Kubernetes objects of one load-test run: the emqtt-bench generators (an indexed Job), the verifier Job that
decides the run from EMQX's counters, and the ConfigMaps and RBAC around them. Pure: dicts in, dicts out.

Names come from the run's own settings and the pinned images (run_object_name), like Rebalance runs: a Job's pod
template cannot change after creation, and a run is a measurement taken once, so an edited run is a new set of
objects. What the stack adds around a run (keepalive, node count, tuning, the verifier's code) is left out of the name:
changing it must not take the measurement again (workloads/loadtest.py keeps existing objects as they are).
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from components import loadtest
from components.loadtest import BenchPod, RunPlan
from components.render import loadtest_verifier
from components.render.emqx import SECRET_DASHBOARD_PASSWORD, Placement

VERIFIER_SOURCE = Path(loadtest_verifier.__file__)
BENCH_BINARY = "/emqtt_bench/bin/emqtt_bench"  # the image's ENTRYPOINT (Dockerfile at 0.6.2)
BENCH_UID = 1000  # the image's emqtt_bench user (Dockerfile: useradd -u 1000)
NOBODY = 65534
LABELS = {"app.kubernetes.io/part-of": "emqx-platform", "app.kubernetes.io/component": "load-test"}
# How the script refers to values it gets from the environment (the host is known only once the load balancer
# exists; the password is a secret): written unquoted into the argument list, inside double quotes.
HOST_REF = '"$BENCH_HOST"'
PASSWORD_REF = '"$BENCH_PASSWORD"'


@dataclass(frozen=True)
class RunSpec:
    """What a run's objects are made from (settings.LoadTestRun plus what the stack knows)."""

    name: str
    namespace: str
    emqx_name: str
    emqx_secret: str  # the stack's EMQX Secret, whose dashboard password the verifier logs in with
    port: int
    tls: bool
    keepalive_seconds: int
    topic: str
    qos: int
    payload_bytes: int
    duration_seconds: int
    username: str | None
    expected: loadtest_verifier.Expected
    emqx_nodes: int
    # The run's own settings (settings.LoadTestRun as a dict): the only content its name is digested from.
    run_fields: Mapping[str, Any] = field(default_factory=dict[str, Any])
    # Where the images are pulled from: charts.imageRegistry's mirror, or Docker Hub.
    bench_image: str = loadtest.BENCH_IMAGE
    verifier_image: str = loadtest.VERIFIER_IMAGE


def run_object_name(spec: RunSpec) -> str:
    """lt-<run>-<digest of the run's own settings and the pinned images>: an edit of the run is a new run, a change
    around it (keepalive, EMQX nodes, tuning, a mirror for the images, the verifier's code) is not."""
    content = {"run": dict(spec.run_fields), "name": spec.name, "bench": loadtest.BENCH_IMAGE,
               "verifier": loadtest.VERIFIER_IMAGE}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"lt-{spec.name}-{digest}"


def bench_args(spec: RunSpec, plan: RunPlan, pod: BenchPod) -> list[str]:
    """emqtt-bench's command line for one pod, each token shell-ready. Long option names only: the tests check each
    against the options the pinned release declares (schemas/emqtt-bench)."""
    args = [pod.role, "--host", HOST_REF, "--port", str(spec.port), "--count", str(pod.clients),
            "--startnumber", str(pod.start_number), "--connrate", str(pod.connect_rate),
            "--keepalive", str(spec.keepalive_seconds)]
    if spec.tls:
        # The listener's certificate is the stack's own CA or the user's issuer: the generators measure the broker,
        # not certificate checks, so they connect without verifying it (emqtt-bench's default).
        args += ["--ssl", "true"]
    if spec.username is not None:
        args += ["--username", shlex.quote(spec.username), "--password", PASSWORD_REF]
    if pod.role in ("pub", "sub"):
        args += ["--topic", shlex.quote(spec.topic), "--qos", str(spec.qos)]
    if pod.role == "pub":
        args += ["--size", str(spec.payload_bytes), "--interval_of_msg", str(plan.publish_interval_ms)]
    return args


def bench_script(spec: RunSpec, plan: RunPlan) -> str:
    """The generator container's script: the Job's completion index picks the pod's command line."""
    seconds = loadtest.generator_seconds(plan, spec.duration_seconds)
    cases = "\n".join(f"  {p.index}) set -- {' '.join(bench_args(spec, plan, p))} ;;" for p in plan.pods)
    return f"""set -u
# Each client is one socket: take the hard open-file limit (containerd's, raised on tuned nodes).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
case "$JOB_COMPLETION_INDEX" in
{cases}
  *) echo "no plan for index $JOB_COMPLETION_INDEX" >&2; exit 1 ;;
esac
# emqtt-bench keeps its clients until stopped: the run's time is up after {seconds}s.
timeout -k 10 {seconds} {BENCH_BINARY} "$@"
status=$?
# timeout exits 124 when the time was up (137 when the tool had to be killed); any other status is the tool failing
# before the run was over, which fails the Job and the run.
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then exit 0; fi
echo "emqtt-bench exited with status $status before the run's time was up" >&2
exit 1
"""


def _meta(name: str, spec: RunSpec, run_object: str) -> dict[str, Any]:
    return {"name": name, "namespace": spec.namespace,
            "labels": {**LABELS, "emqx-platform/load-test": run_object}}


def run_document(spec: RunSpec, plan: RunPlan) -> dict[str, Any]:
    """What the verifier reads (run.json) and the result ConfigMap shows beside its verdict (plan.json)."""
    return {
        "name": spec.name,
        "expected": asdict(spec.expected),
        "wait_for_ramp_seconds": loadtest.wait_for_ramp_seconds(plan),
        "settle_seconds": loadtest.SETTLE_SECONDS,
        "duration_seconds": spec.duration_seconds,
        "pods": [asdict(p) for p in plan.pods],
    }


def manifests(spec: RunSpec, plan: RunPlan, *, placement: Placement, sysctls: Sequence[Mapping[str, str]],
              credentials_secret: str | None) -> list[dict[str, Any]]:
    """Every object of the run, in the order they are needed."""
    run_object = run_object_name(spec)
    result, script, account = f"{run_object}-result", f"{run_object}-verifier", f"{run_object}-verify"
    timeout = loadtest.timeout_seconds(plan, spec.duration_seconds)
    document = json.dumps(run_document(spec, plan), indent=2, sort_keys=True)
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(result, spec, run_object),
         "data": {"plan.json": document}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(script, spec, run_object),
         "data": {"verify.py": VERIFIER_SOURCE.read_text(), "run.json": document}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(account, spec, run_object),
         "automountServiceAccountToken": True},
        # The verifier writes its verdict into the result ConfigMap, and may touch nothing else.
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(account, spec, run_object),
         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [result],
                    "verbs": ["get", "patch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": _meta(account, spec, run_object),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
         "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": spec.namespace}]},
        bench_job(spec, plan, run_object, placement=placement, sysctls=sysctls,
                  credentials_secret=credentials_secret, timeout=timeout),
        verify_job(spec, run_object, script=script, result=result, account=account, timeout=timeout),
    ]
    return objects


def _timeout_annotations(timeout: int) -> dict[str, str]:
    # pulumi-kubernetes awaits a Job until its Complete condition and fails at once on Failed (batch/v1 Job docs,
    # 4.34.2); its default 10 minutes are too short for a run, so the timeout comes from the run's plan.
    return {"pulumi.com/timeoutSeconds": str(timeout)}


def bench_job(spec: RunSpec, plan: RunPlan, run_object: str, *, placement: Placement,
              sysctls: Sequence[Mapping[str, str]], credentials_secret: str | None, timeout: int) -> dict[str, Any]:
    name = f"{run_object}-bench"
    env: list[dict[str, Any]] = [{"name": "BENCH_HOST", "value": ""}]  # filled by the workload
    if credentials_secret is not None:
        env.append({"name": "BENCH_PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": credentials_secret, "key": "password"}}})
    pod_labels = {**LABELS, "emqx-platform/load-test": run_object, "emqx-platform/load-test-part": "bench"}
    cpu, memory = loadtest.pod_requests(loadtest.largest_pod_clients(plan))
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        # The client-side profile: the same pod sysctls as EMQX's (ip_local_port_range gives each pod address its
        # ephemeral ports; small default TCP buffers for many idle clients), from components/tuning.py.
        "securityContext": {"runAsNonRoot": True, "runAsUser": BENCH_UID, "runAsGroup": BENCH_UID,
                            "sysctls": [dict(s) for s in sysctls]},
        # One generator pod per node, required: under flannel (ACK's default network plugin) traffic that leaves the
        # pod network may be SNATed to the node's address (flannel --ip-masq), so pods on one node could share one
        # source address and its ephemeral ports towards the load balancer, and the per-address plan would not hold.
        # With one pod per node, a pod's share holds whether or not its traffic is SNATed. The pool is sized for it
        # (settings._load_test_pool).
        "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": pod_labels}}]}},
        "containers": [{
            "name": "emqtt-bench",
            "image": spec.bench_image,
            "command": ["/bin/bash", "-c", bench_script(spec, plan)],
            "env": env,
            # Every index gets the largest pod's requests (one pod template per Job).
            "resources": {"requests": {"cpu": f"{cpu}m", "memory": f"{memory}Mi"},
                          "limits": {"memory": f"{memory}Mi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        }],
        "terminationGracePeriodSeconds": 10,
    }
    if placement.node_selector:
        pod_spec["nodeSelector"] = dict(placement.node_selector)
    if placement.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in placement.tolerations]
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {**_meta(name, spec, run_object), "annotations": _timeout_annotations(timeout)},
        "spec": {
            "completionMode": "Indexed",
            "completions": len(plan.pods),
            "parallelism": len(plan.pods),
            # A generator that fails invalidates the measurement: no retries, the Job (and `pulumi up`) fails.
            "backoffLimit": 0,
            "activeDeadlineSeconds": timeout,
            "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec},
        },
    }


def verify_job(spec: RunSpec, run_object: str, *, script: str, result: str, account: str,
               timeout: int) -> dict[str, Any]:
    name = f"{run_object}-verify"
    # The operator's dashboard Service, <name>-dashboard (emqx-operator 2.2 dashboardServiceTemplate), port 18083.
    api = f"http://{spec.emqx_name}-dashboard.{spec.namespace}.svc:18083/api/v5"
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {**_meta(name, spec, run_object), "annotations": _timeout_annotations(timeout)},
        "spec": {
            # The verdict is the Job's success: one attempt, exit 1 on a failed run.
            "backoffLimit": 0,
            "activeDeadlineSeconds": timeout,
            "template": {
                "metadata": {"labels": {**LABELS, "emqx-platform/load-test": run_object,
                                        "emqx-platform/load-test-part": "verify"}},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": account,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": NOBODY, "runAsGroup": NOBODY},
                    "containers": [{
                        "name": "verify",
                        "image": spec.verifier_image,
                        "command": ["python", "/verifier/verify.py"],
                        "env": [
                            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
                            {"name": "RUN_FILE", "value": "/verifier/run.json"},
                            {"name": "EMQX_API", "value": api},
                            {"name": "RUN_NAMESPACE", "value": spec.namespace},
                            {"name": "RESULT_CONFIGMAP", "value": result},
                            {"name": "EMQX_DASHBOARD_PASSWORD", "valueFrom": {"secretKeyRef": {
                                "name": spec.emqx_secret, "key": SECRET_DASHBOARD_PASSWORD}}},
                        ],
                        "volumeMounts": [{"name": "verifier", "mountPath": "/verifier", "readOnly": True}],
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                    }],
                    "volumes": [{"name": "verifier", "configMap": {"name": script}}],
                },
            },
        },
    }
