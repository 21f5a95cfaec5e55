"""`verify cluster` against the real API server, with istiod's Pod mutated by the real vault-k8s injector.

The objects ``tests/kube_stub`` seeds by hand are made here by the real components: the Deployment (the
istio-discovery chart's shape, ``tests.kube_stub.seed.istiod_deployment``, with the rendered annotations) is
applied, kube-controller-manager creates the ReplicaSet and the Pod, and the API server sends the Pod through the
Vault chart's webhook to the real injector, which adds ``vault-agent-init``/``vault-agent`` with its own
``VAULT_CONFIG``.

What stays stubbed, since there is no kubelet: the Pod's status is patched through the ``status`` subresource
(Running, the init container Completed, the containers running, as a kubelet would report them); the files
inside the Pod are read through the kubectl stand-in (``tests/kube_stub/kubectl_standin.py``: ``kubectl exec``
needs a kubelet), over a local directory of agent-made files; container logs cannot be had (the API server asks
the kubelet for them), so the log checks report that they could not read them.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import ClusterPlan, plan
from istio_vault_ca.verify.cli.parser import main
from tests.e2e import vault_injector as injector
from tests.e2e.cluster import LIMITED_USER, Cluster, eventually
from tests.kube_stub import seed
from tests.pki_factory import good_bundle

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
STARTER = REPO / "generator" / "config" / "starter.yaml"
CONFIG = "istio-vault-ca.yaml"


def _values() -> dict[str, bytes]:
    bundle = good_bundle()
    values = {
        "ca-cert.pem": bundle.ca_cert,
        "ca-key.pem": bundle.ca_key,
        "cert-chain.pem": bundle.cert_chain,
        "root-cert.pem": bundle.root_cert,
    }
    return {name: value for name, value in values.items() if value is not None}


@pytest.fixture
def cluster_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ClusterPlan:
    """The default config, istiod in a namespace of its own (the cluster is shared by the session)."""
    monkeypatch.chdir(tmp_path)
    namespace = f"istio-{uuid.uuid4().hex[:8]}"
    text = STARTER.read_text(encoding="utf-8").replace("namespace: istio-system", f"namespace: {namespace}")
    (tmp_path / CONFIG).write_text(text.replace("key_bits: 4096", "key_bits: 2048"), encoding="utf-8")
    return plan(load(CONFIG).config)[0]


@pytest.fixture
def no_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    from istio_vault_ca.verify.rehearsal.openbao import free_port

    monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("VAULT_TOKEN", raising=False)


@pytest.fixture
def pod_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster_plan: ClusterPlan) -> Path:
    """kubectl = the stand-in first on PATH (exec needs a kubelet); the Pod's ca_dir maps to agent-made files."""
    bin_dir = tmp_path / "standin-bin"
    bin_dir.mkdir()
    launcher = bin_dir / "kubectl"
    script = REPO / "tests" / "kube_stub" / "kubectl_standin.py"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n', encoding="utf-8")
    launcher.chmod(0o755)
    files = tmp_path / "pod-ca-dir"
    files.mkdir()
    for name, data in _values().items():
        (files / name).write_bytes(data)
        (files / name).chmod(0o400 if name == "ca-key.pem" else 0o644)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("KUBECTL_STANDIN_LOG", str(tmp_path / "kubectl-calls.jsonl"))
    monkeypatch.setenv("KUBECTL_STANDIN_MAP", f"{cluster_plan.config.istiod.ca_dir}={files}")
    monkeypatch.setenv("KUBECTL_STANDIN_OWNER", str(cluster_plan.config.istiod.agent.run_as_user))
    return files


@pytest.fixture
def webhook_cleanup(kube_cluster: Cluster) -> Iterator[None]:
    yield
    injector.kubectl(kube_cluster.kubeconfig, "delete", "mutatingwebhookconfiguration", "vault-agent-injector-cfg")


def deploy_istiod(
    kube_cluster: Cluster,
    webhook: injector.Webhook,
    cluster_plan: ClusterPlan,
    *,
    failure_policy: str | None = "Fail",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Namespace, service account, root ConfigMap, the webhook (unless None), istiod's Deployment; returns the Pod
    the controllers made (and the injector mutated), with its status patched to Running."""
    kubeconfig = kube_cluster.kubeconfig
    istiod = cluster_plan.config.istiod
    ns = istiod.namespace
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {injector.NAMESPACE_LABEL: "enabled"}},
        },
        seed.service_account(istiod.service_account, ns),
        seed.root_config_map(ns, _values()["root-cert.pem"]),
    ]
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
    deployment = seed.istiod_deployment(cluster_plan)
    deployment["spec"]["template"]["metadata"]["annotations"].update(annotations or {})
    injector.apply(kubeconfig, deployment)

    def pods() -> list[dict[str, Any]]:
        reply = injector.kubectl(kubeconfig, "get", "pods", "-n", ns, "-l", "istio=pilot", "-o", "json")
        return list(json.loads(reply.stdout)["items"]) if reply.returncode == 0 else []

    pod = eventually(pods, "istiod's Pod")[0]
    status = {
        "phase": "Running",
        "conditions": [
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "True"},
            {"type": "ContainersReady", "status": "True"},
            {"type": "PodScheduled", "status": "True"},
        ],
        "initContainerStatuses": [seed._completed(c["name"]) for c in pod["spec"].get("initContainers") or []],
        "containerStatuses": [seed._running(c["name"], c["image"]) for c in pod["spec"]["containers"]],
    }
    reply = injector.kubectl(
        kubeconfig,
        "patch",
        "pod",
        pod["metadata"]["name"],
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    assert reply.returncode == 0, reply.stderr
    patched: dict[str, Any] = json.loads(
        injector.kubectl(kubeconfig, "get", "pod", pod["metadata"]["name"], "-n", ns, "-o", "json").stdout
    )
    return patched


class Outcome:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.code, self.stdout, self.stderr = code, stdout, stderr

    @property
    def checks(self) -> list[dict[str, str]]:
        return list(json.loads(self.stdout)["checks"])

    def one(self, check_id: str) -> dict[str, str]:
        found = [c for c in self.checks if c["id"] == check_id]
        assert len(found) == 1, f"{check_id}: {found}"
        return found[0]

    def statuses(self) -> dict[str, str]:
        return {f"{c['id']} {c['target']}": c["status"] for c in self.checks}

    def failing(self) -> set[str]:
        return {c["id"] for c in self.checks if c["status"] in ("fail", "error")}


def verify(capsys: pytest.CaptureFixture[str], kubeconfig: Path, *extra: str) -> Outcome:
    capsys.readouterr()
    code = main(["verify", "cluster", "-c", CONFIG, "--kubeconfig", str(kubeconfig), "--output", "json", *extra])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return Outcome(code, captured.out, captured.err)


@pytest.mark.usefixtures("no_vault", "pod_files", "webhook_cleanup")
def test_healthy_istiod_injected_by_the_real_injector(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    cluster_plan: ClusterPlan,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pod = deploy_istiod(kube_cluster, vault_injector, cluster_plan)
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["vault-agent-init"]
    assert pod["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"] == "injected"

    outcome = verify(capsys, kube_cluster.kubeconfig)

    for check_id in (
        "cluster.namespace-exists",
        "cluster.service-account-exists",
        "cluster.annotations-match",
        "cluster.root-ca-dir-matches-volume-path",
        "cluster.injector-webhook",
        "cluster.pod-injected",
        "pod.ca-files-present",
        "chain.key-matches-cert",
    ):
        assert outcome.one(check_id)["status"] == "pass", outcome.one(check_id)
    # No kubelet, so no container logs: the log check says it could not read them (stubbed in tests/integration).
    log_check = outcome.one("cluster.istiod-ca-log")
    assert log_check["status"] == "warn", log_check
    print("istiod-ca-log:", log_check["finding"])


@pytest.mark.usefixtures("no_vault", "pod_files", "webhook_cleanup")
def test_not_injected_without_the_webhook(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    cluster_plan: ClusterPlan,
    capsys: pytest.CaptureFixture[str],
) -> None:
    injector.kubectl(kube_cluster.kubeconfig, "delete", "mutatingwebhookconfiguration", "vault-agent-injector-cfg")
    pod = deploy_istiod(kube_cluster, vault_injector, cluster_plan, failure_policy=None)
    assert not pod["spec"].get("initContainers")

    outcome = verify(capsys, kube_cluster.kubeconfig)

    print(json.dumps(outcome.statuses(), indent=1))
    assert outcome.code != 0
    assert outcome.one("cluster.injector-webhook")["status"] == "fail"
    assert outcome.one("cluster.pod-injected")["status"] == "fail"


@pytest.mark.usefixtures("no_vault", "pod_files", "webhook_cleanup")
def test_webhook_failure_policy_ignore_warns(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    cluster_plan: ClusterPlan,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deploy_istiod(kube_cluster, vault_injector, cluster_plan, failure_policy="Ignore")

    outcome = verify(capsys, kube_cluster.kubeconfig)

    webhook = outcome.one("cluster.injector-webhook")
    assert webhook["status"] == "warn" and "failurePolicy is Ignore" in webhook["finding"]
    assert outcome.one("cluster.pod-injected")["status"] == "pass"


@pytest.mark.usefixtures("no_vault", "pod_files", "webhook_cleanup")
def test_limited_user_gets_the_api_servers_403(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    cluster_plan: ClusterPlan,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deploy_istiod(kube_cluster, vault_injector, cluster_plan)
    limited = kube_cluster.kubeconfig_for(LIMITED_USER)

    outcome = verify(capsys, limited)

    print(outcome.stdout[:2000], outcome.stderr[:2000])
    assert outcome.code != 0
    assert "403" in outcome.stdout + outcome.stderr
    assert LIMITED_USER in outcome.stdout + outcome.stderr


@pytest.mark.usefixtures("no_vault", "pod_files", "webhook_cleanup")
def test_hand_changed_secret_volume_path_is_caught_with_the_real_pods_cause(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    cluster_plan: ClusterPlan,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The source guide's mistake, made by hand on the Deployment: the real injector mounts the secret volume at
    /etc/cacerts-vault in istiod's container, where ROOT_CA_DIR (/vault/secrets) does not look."""
    pod = deploy_istiod(
        kube_cluster,
        vault_injector,
        cluster_plan,
        annotations={"vault.hashicorp.com/secret-volume-path": "/etc/cacerts-vault"},
    )
    discovery = next(c for c in pod["spec"]["containers"] if c["name"] == "discovery")
    mounts = {m["mountPath"]: m["name"] for m in discovery["volumeMounts"]}
    assert mounts.get("/etc/cacerts-vault") == "vault-secrets"
    assert "/vault/secrets" not in mounts
    env = {e["name"]: e.get("value") for e in discovery["env"]}
    assert env["ROOT_CA_DIR"] == "/vault/secrets"

    outcome = verify(capsys, kube_cluster.kubeconfig)

    print(json.dumps(outcome.statuses(), indent=1))
    assert outcome.code != 0
    mismatch = outcome.one("cluster.root-ca-dir-matches-volume-path")
    assert mismatch["status"] == "fail"
    assert "/etc/cacerts-vault" in mismatch["finding"] and "/vault/secrets" in mismatch["finding"]
    assert outcome.one("cluster.annotations-match")["status"] == "fail"
