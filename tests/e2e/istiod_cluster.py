"""istiod on the e2e API server, as the scenario tests set it up: the objects, the Pods, their status and logs.

What is real: the API server (storage, admission, RBAC, the ``pods/log`` proxy), kube-controller-manager (the
Deployment's ReplicaSet and Pods), the vault-k8s injector mutating each Pod. What is stood in, since there is no
kubelet:

- each Pod's status is patched through the ``pods/status`` subresource, as a kubelet would report it (Running
  with ``vault-agent-init`` Completed, or ``vault-agent-init`` in CrashLoopBackOff with the app containers
  PodInitializing);
- each Pod is bound (``binding`` subresource, as kube-scheduler does) to the Node of ``tests/e2e/kubelet_logs.py``,
  whose log endpoint serves the text the scenario sets: istiod's start-up lines in a release's wording
  (``tests.kube_stub.seed.istiod_log``) or the log of a real ``bao agent`` run;
- files inside the Pod are read through the kubectl stand-in (``tests/kube_stub/kubectl_standin.py``):
  ``kubectl exec`` needs the kubelet's streaming server (SPDY/WebSocket to the container runtime), which is not
  stood in.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from istio_vault_ca.generator.config.plan import ClusterPlan
from istio_vault_ca.verify.cli.parser import main
from tests.e2e import vault_injector as injector
from tests.e2e.cluster import Cluster, eventually
from tests.e2e.kubelet_logs import KubeletLogs
from tests.kube_stub import seed
from tests.pki_factory import good_bundle
from tests.support import render_into, run_setup

REPO = Path(__file__).resolve().parents[2]
STARTER = REPO / "generator" / "config" / "starter.yaml"
CONFIG = "istio-vault-ca.yaml"
FILES = ("ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem")
JSON = dict[str, Any]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def config_text(namespace: str) -> str:
    """The starter config, istiod in ``namespace`` (the cluster is shared by the session), 2048-bit keys."""
    text = STARTER.read_text(encoding="utf-8").replace("namespace: istio-system", f"namespace: {namespace}")
    return text.replace("key_bits: 4096", "key_bits: 2048")


def bundle_values() -> dict[str, bytes]:
    """Four CA files made now (not from Vault): for scenarios that do not run Vault."""
    return good_bundle().files()


def write_agent_files(directory: Path, values: Mapping[str, bytes], key_mode: int = 0o400) -> Path:
    """As the agent writes them: consul-template's default 0644, and agent-inject-perms for the key."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in values.items():
        path = directory / name
        path.write_bytes(data)
        path.chmod(key_mode if name == "ca-key.pem" else 0o644)
    return directory


@dataclass
class Standin:
    """The kubectl stand-in on PATH: its call log, and the local directory playing the Pod's ca_dir."""

    log: Path
    files: Path

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]


def install_kubectl_standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: ClusterPlan, files: Path) -> Standin:
    """kubectl = the stand-in, first on PATH (exec needs a kubelet); the Pod's ca_dir maps to ``files``."""
    bin_dir = tmp_path / "standin-bin"
    bin_dir.mkdir(exist_ok=True)
    launcher = bin_dir / "kubectl"
    script = REPO / "tests" / "kube_stub" / "kubectl_standin.py"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n', encoding="utf-8")
    launcher.chmod(0o755)
    log = tmp_path / "kubectl-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("KUBECTL_STANDIN_LOG", str(log))
    monkeypatch.setenv("KUBECTL_STANDIN_MAP", f"{plan.config.istiod.ca_dir}={files}")
    monkeypatch.setenv("KUBECTL_STANDIN_OWNER", str(plan.config.istiod.agent.run_as_user))
    return Standin(log, files)


def kubectl_json(kubeconfig: Path, *args: str) -> Any:
    reply = injector.kubectl(kubeconfig, *args, "-o", "json")
    assert reply.returncode == 0, reply.stderr
    return json.loads(reply.stdout)


# ---------------------------------------------------------------------- objects


def workload_namespace(kube_cluster: Cluster, name: str, root_pem: bytes) -> None:
    """A namespace labelled istio-injection=enabled holding istiod's root ConfigMap (as istiod's namespace
    controller writes it); tests remove the label when done, so the next test samples its own."""
    injector.apply(
        kube_cluster.kubeconfig,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"istio-injection": "enabled"}}},
        seed.root_config_map(name, root_pem),
    )


@contextlib.contextmanager
def reader_kubeconfig(kube_cluster: Cluster, user: str, role: str, resources: str) -> Iterator[Path]:
    """A kubeconfig for ``user``, who may get and list ``resources`` only (a real ClusterRole ``role`` and its
    binding, deleted afterwards)."""
    admin = kube_cluster.kubeconfig
    reply = injector.kubectl(admin, "create", "clusterrole", role, "--verb=get,list", f"--resource={resources}")
    assert reply.returncode == 0, reply.stderr
    try:
        reply = injector.kubectl(admin, "create", "clusterrolebinding", role, f"--clusterrole={role}", f"--user={user}")
        assert reply.returncode == 0, reply.stderr
        yield kube_cluster.kubeconfig_for(user)
    finally:
        injector.kubectl(admin, "delete", "clusterrolebinding", role)
        injector.kubectl(admin, "delete", "clusterrole", role)


def unlabel_workload_namespace(kube_cluster: Cluster, name: str) -> None:
    injector.kubectl(kube_cluster.kubeconfig, "label", "namespace", name, "istio-injection-")


def deploy_istiod(
    kube_cluster: Cluster,
    webhook: injector.Webhook,
    plan: ClusterPlan,
    root_pem: bytes | None,
    *,
    failure_policy: str | None = "Fail",
    annotations: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    drop_annotations: Sequence[str] = (),
    service_account: str | None = None,
    replicas: int = 1,
) -> list[JSON]:
    """Namespace, service account(s), istiod's root ConfigMap (none when ``root_pem`` is None: a real istiod
    writes its own), the webhook (unless None) and istiod's Deployment (the istio-discovery chart's shape with the
    rendered annotations, ``seed.istiod_deployment``, ``env`` replacing or adding discovery's variables); returns the
    Pods kube-controller-manager made and the injector mutated, sorted by name, not yet bound or running."""
    kubeconfig = kube_cluster.kubeconfig
    istiod = plan.config.istiod
    ns = istiod.namespace
    objects: list[JSON] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {injector.NAMESPACE_LABEL: "enabled"}},
        },
        seed.service_account(istiod.service_account, ns),
    ]
    if root_pem is not None:
        objects.append(seed.root_config_map(ns, root_pem))
    if service_account:
        objects.append(seed.service_account(service_account, ns))
    if failure_policy is not None:
        objects.append(webhook.configuration(failure_policy))
    injector.apply(kubeconfig, *objects)
    if failure_policy is not None:  # the API server loads a new webhook configuration asynchronously
        probe = injector.istiod_pod(
            "probe",
            ns,
            {"vault.hashicorp.com/agent-inject": "true", "vault.hashicorp.com/role": "r"},
            {},
            service_account=istiod.service_account,
        )
        eventually(lambda: "vault-agent-init" in injector.dry_run_create(kubeconfig, probe).stdout, "the webhook")
    deployment = seed.istiod_deployment(plan)
    deployment["spec"]["replicas"] = replicas
    template = deployment["spec"]["template"]
    template["metadata"]["annotations"].update(annotations or {})
    for name in drop_annotations:
        del template["metadata"]["annotations"][name]
    if env:
        (discovery,) = [c for c in template["spec"]["containers"] if c["name"] == "discovery"]
        kept = [v for v in discovery["env"] if v["name"] not in env]
        discovery["env"] = kept + [{"name": k, "value": v} for k, v in env.items()]
    if service_account:
        template["spec"]["serviceAccountName"] = service_account
    injector.apply(kubeconfig, deployment)

    def pods() -> list[JSON]:
        reply = injector.kubectl(kubeconfig, "get", "pods", "-n", ns, "-l", "istio=pilot", "-o", "json")
        items = list(json.loads(reply.stdout)["items"]) if reply.returncode == 0 else []
        return items if len(items) == replicas else []

    found: list[JSON] = eventually(pods, f"istiod's {replicas} Pod(s)")
    return sorted(found, key=lambda pod: str(pod["metadata"]["name"]))


def running_status(pod: JSON) -> JSON:
    """A kubelet's report of a started istiod: vault-agent-init Completed, every container running and ready."""
    return {
        "phase": "Running",
        "hostIP": "127.0.0.1",
        "conditions": [
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "True"},
            {"type": "ContainersReady", "status": "True"},
            {"type": "PodScheduled", "status": "True"},
        ],
        "initContainerStatuses": [seed._completed(c["name"]) for c in pod["spec"].get("initContainers") or []],
        "containerStatuses": [seed._running(c["name"], c["image"]) for c in pod["spec"]["containers"]],
    }


def init_failed_status(pod: JSON) -> JSON:
    """A kubelet's report of an agent that keeps failing: vault-agent-init in CrashLoopBackOff (last exit 1,
    4 restarts), the app containers waiting in PodInitializing."""
    return {
        "phase": "Pending",
        "hostIP": "127.0.0.1",
        "conditions": [
            {"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized"},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
            {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady"},
            {"type": "PodScheduled", "status": "True"},
        ],
        "initContainerStatuses": [seed._crash_looping(c["name"]) for c in pod["spec"].get("initContainers") or []],
        "containerStatuses": [seed._pod_initializing(c["name"], c["image"]) for c in pod["spec"]["containers"]],
    }


def report_status(kube_cluster: Cluster, pod: JSON, status: JSON) -> JSON:
    """A kubelet's report on the Pod (``pods/status``); returns the Pod as the API server then has it."""
    name, ns = pod["metadata"]["name"], pod["metadata"]["namespace"]
    reply = injector.kubectl(
        kube_cluster.kubeconfig,
        "patch",
        "pod",
        name,
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    assert reply.returncode == 0, reply.stderr
    reported: JSON = kubectl_json(kube_cluster.kubeconfig, "get", "pod", name, "-n", ns)
    return reported


def start_pod(kube_cluster: Cluster, kubelet: KubeletLogs, pod: JSON, status: JSON) -> JSON:
    """Bind the Pod to the stand-in kubelet's Node, patch its status; returns the Pod as the API server has it."""
    kubelet.bind(pod["metadata"]["namespace"], pod["metadata"]["name"])
    started = report_status(kube_cluster, pod, status)
    assert started["spec"]["nodeName"] == kubelet.node
    return started


def istiod_logs(
    kubelet: KubeletLogs, pod: JSON, plan: ClusterPlan, *, release: str = "1.24", plugged_in: bool = True
) -> None:
    """discovery's start-up log in ``release``'s wording (``seed.istiod_log`` cites istio's istio_ca.go)."""
    kubelet.set_log(
        pod["metadata"]["namespace"],
        pod["metadata"]["name"],
        "discovery",
        seed.istiod_log(release, plugged_in=plugged_in, ca_dir=plan.config.istiod.ca_dir),
    )


def healthy_istiod(
    kube_cluster: Cluster,
    webhook: injector.Webhook,
    kubelet: KubeletLogs,
    plan: ClusterPlan,
    root_pem: bytes,
    *,
    release: str = "1.24",
    plugged_in: bool = True,
    **deploy: Any,
) -> JSON:
    """One istiod Pod, injected, bound, running, its discovery log set; returns the Pod."""
    (pod,) = deploy_istiod(kube_cluster, webhook, plan, root_pem, **deploy)
    started = start_pod(kube_cluster, kubelet, pod, running_status(pod))
    istiod_logs(kubelet, started, plan, release=release, plugged_in=plugged_in)
    return started


def injected_vault_config(pod: JSON) -> JSON:
    return injector.injected_config(pod)


def service_account_token(kube_cluster: Cluster, namespace: str, name: str) -> str:
    """A token from the real TokenRequest API (``kubectl create token``), what the Pod's projected volume holds."""
    reply = injector.kubectl(kube_cluster.kubeconfig, "create", "token", name, "-n", namespace)
    assert reply.returncode == 0, reply.stderr
    return reply.stdout.strip()


def decode_claims(token: str) -> JSON:
    payload = token.split(".")[1]
    claims: JSON = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


# ---------------------------------------------------------------------- a real OpenBao


def configured_vault(
    tmp_path: Path,
    script_env: dict[str, str],
    kube_cluster: Cluster,
    monkeypatch: pytest.MonkeyPatch,
    *,
    config: str = CONFIG,
) -> dict[str, str]:
    """The rendered setup on the OpenBao, its Kubernetes auth pointed at this API server (K8S_HOST, its CA);
    the verifier's VAULT_ADDR/VAULT_TOKEN point at it."""
    env = {**script_env, "K8S_HOST": kube_cluster.server, "K8S_CA_CERT_FILE": str(kube_cluster.ca_file)}
    tree = render_into(tmp_path / config, tmp_path / "out")
    done = run_setup(tree, env)
    assert done.returncode == 0, done.stderr
    for name in ("VAULT_ADDR", "VAULT_TOKEN"):
        monkeypatch.setenv(name, env[name])
    return env


def may_review_tokens(kube_cluster: Cluster, namespace: str, service_account: str) -> None:
    """The role's reviewer is the client's own JWT (``reviewer: local`` with no in-cluster token), so the
    service account needs system:auth-delegator to have TokenReview called with its token, as on a cluster."""
    reply = injector.kubectl(
        kube_cluster.kubeconfig,
        "create",
        "clusterrolebinding",
        f"{namespace}-{service_account}-auth-delegator",
        "--clusterrole=system:auth-delegator",
        f"--serviceaccount={namespace}:{service_account}",
    )
    assert reply.returncode == 0, reply.stderr


# ---------------------------------------------------------------------- the CLI


class Outcome:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.code, self.stdout, self.stderr = code, stdout, stderr

    @property
    def checks(self) -> list[dict[str, str]]:
        return list(json.loads(self.stdout)["checks"])

    def with_id(self, check_id: str) -> list[dict[str, str]]:
        return [c for c in self.checks if c["id"] == check_id]

    def one(self, check_id: str, target: str | None = None) -> dict[str, str]:
        found = [c for c in self.with_id(check_id) if target is None or c["target"] == target]
        assert len(found) == 1, f"{check_id}: {found}"
        return found[0]

    def failing(self) -> set[str]:
        return {c["id"] for c in self.checks if c["status"] in ("fail", "error")}

    def statuses(self) -> dict[str, str]:
        return {f"{c['id']} {c['target']}": c["status"] for c in self.checks}


def verify(
    capsys: pytest.CaptureFixture[str],
    kubeconfig: Path,
    *extra: str,
    command: str = "cluster",
    output: str = "json",
) -> Outcome:
    """The CLI as a user runs it (in-process, so the kubectl stand-in's environment applies)."""
    capsys.readouterr()
    code = main(["verify", command, "-c", CONFIG, "--kubeconfig", str(kubeconfig), "--output", output, *extra])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return Outcome(code, captured.out, captured.err)


def pod_target(pod: JSON) -> str:
    return f"pod/{pod['metadata']['namespace']}/{pod['metadata']['name']}"


__all__: Sequence[str] = (
    "CONFIG",
    "FILES",
    "Outcome",
    "Standin",
    "bundle_values",
    "config_text",
    "configured_vault",
    "deploy_istiod",
    "healthy_istiod",
    "init_failed_status",
    "install_kubectl_standin",
    "istiod_logs",
    "may_review_tokens",
    "reader_kubeconfig",
    "report_status",
    "running_status",
    "start_pod",
    "unique",
    "verify",
    "workload_namespace",
    "write_agent_files",
)
