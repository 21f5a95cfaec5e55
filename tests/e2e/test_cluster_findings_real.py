"""`verify cluster` on the real API server: hand edits, a Pod made without injection, access problems (exit 3),
the files read inside the Pod (the kubectl backend, testinfra), and `verify all` with Vault down.

Real: the API server (its 401/403/TLS answers and Status wording), kube-controller-manager, the vault-k8s
injector, the ``pods/log`` proxy. Stood in (tests/e2e/istiod_cluster.py): Pod status patched through
``pods/status``, the kubelet's log endpoint, and ``kubectl exec`` (the kubectl stand-in reads a local directory
playing the Pod's ca_dir).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from istio_vault_ca.generator.config.plan import ClusterPlan
from istio_vault_ca.verify.rehearsal.openbao import free_port
from tests.e2e import istiod_cluster as ic
from tests.e2e import vault_injector as injector
from tests.e2e.cluster import Cluster
from tests.e2e.kubelet_logs import KubeletLogs
from tests.support import make_self_signed_ca_pem

# Every test runs in its tmp_path with the config there (cluster_plan).
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("cluster_plan")]

P = "vault.hashicorp.com/"


@pytest.fixture
def istiod(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    cluster_plan: ClusterPlan,
    values: dict[str, bytes],
    webhook_cleanup: None,
) -> dict[str, Any]:
    """A healthy istiod: injected, bound, running, discovery logging the plugged-in CA."""
    return ic.healthy_istiod(kube_cluster, vault_injector, kubelet_logs, cluster_plan, values["root-cert.pem"])


def kubeconfig_variant(
    kube_cluster: Cluster, path: Path, *, server: str | None = None, ca_pem: bytes | None = None, token: str = ""
) -> Path:
    """The admin kubeconfig with its server, CA or credentials replaced."""
    document = json.loads(kube_cluster.kubeconfig.read_text(encoding="utf-8"))
    cluster = document["clusters"][0]["cluster"]
    if server:
        cluster["server"] = server
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    if token:
        document["users"][0]["user"] = {"token": token}
    path.write_text(json.dumps(document), encoding="utf-8")
    path.chmod(0o600)
    return path


# ---------------------------------------------------------------------- what the cluster got wrong


@pytest.mark.usefixtures("no_vault", "standin", "webhook_cleanup")
def test_source_document_path_mismatch_is_named(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    cluster_plan: ClusterPlan,
    values: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The source's overlay: secret-volume-path /etc/cacerts-vault (the injector mounts the volume there in
    discovery), ROOT_CA_DIR /vault/secrets; istiod finds no CA files and logs the self-signed fallback."""
    ic.healthy_istiod(
        kube_cluster,
        vault_injector,
        kubelet_logs,
        cluster_plan,
        values["root-cert.pem"],
        plugged_in=False,
        annotations={f"{P}secret-volume-path": "/etc/cacerts-vault"},
    )

    outcome = ic.verify(capsys, kube_cluster.kubeconfig)

    assert outcome.code == 1
    mismatch = outcome.one("cluster.root-ca-dir-matches-volume-path")
    assert mismatch["status"] == "fail"
    assert mismatch["finding"] == (
        "istiod reads ROOT_CA_DIR=/vault/secrets but the agent writes the files to secret-volume-path "
        "/etc/cacerts-vault; istiod finds no CA files there and silently falls back to a self-signed CA"
    )
    assert f"{P}secret-volume-path is '/etc/cacerts-vault'" in outcome.one("cluster.annotations-match")["finding"]
    assert outcome.one("cluster.istiod-ca-log")["status"] == "fail"


@pytest.mark.usefixtures("no_vault", "webhook_cleanup")
def test_pod_created_without_injection_names_the_ignore_policy(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    cluster_plan: ClusterPlan,
    values: dict[str, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The injector is down (the webhook's URL answers nothing) and its failurePolicy is Ignore: the API server
    creates istiod's Pod without the agent, and istiod falls back to a self-signed CA."""
    ic.install_kubectl_standin(tmp_path, monkeypatch, cluster_plan, tmp_path / "no-agent-no-files")
    down = vault_injector.configuration("Ignore")
    down["webhooks"][0]["clientConfig"]["url"] = f"https://127.0.0.1:{free_port()}/mutate"
    injector.apply(kube_cluster.kubeconfig, down)
    (pod,) = ic.deploy_istiod(kube_cluster, vault_injector, cluster_plan, values["root-cert.pem"], failure_policy=None)
    assert not pod["spec"].get("initContainers")
    assert f"{P}agent-inject-status" not in pod["metadata"]["annotations"]
    started = ic.start_pod(kube_cluster, kubelet_logs, pod, ic.running_status(pod))
    ic.istiod_logs(kubelet_logs, started, cluster_plan, plugged_in=False)

    outcome = ic.verify(capsys, kube_cluster.kubeconfig)

    assert outcome.code == 1
    injected = outcome.one("cluster.pod-injected")
    assert injected["status"] == "fail"
    assert "created without the Vault agent" in injected["finding"]
    assert "failurePolicy Ignore" in injected["finding"]
    assert injected["hint"].startswith(
        f"make sure the injector is running, then kubectl -n {cluster_plan.config.istiod.namespace} rollout restart"
    )
    webhook = outcome.one("cluster.injector-webhook")
    assert webhook["status"] == "warn"
    assert "silently signs with a self-signed CA" in webhook["finding"]
    assert outcome.one("cluster.agent-init-succeeded")["status"] == "skip"
    assert outcome.one("pod.ca-files-present")["status"] == "fail"
    assert outcome.one("cluster.istiod-ca-log")["status"] == "fail"


@pytest.mark.usefixtures("no_vault", "standin", "webhook_cleanup")
def test_annotation_edited_by_hand_is_named(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    cluster_plan: ClusterPlan,
    values: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    ic.healthy_istiod(
        kube_cluster,
        vault_injector,
        kubelet_logs,
        cluster_plan,
        values["root-cert.pem"],
        annotations={f"{P}role": "istiod-prod", f"{P}agent-inject-token": "true"},
        drop_annotations=[f"{P}error-on-missing-key-ca-key.pem"],
    )

    outcome = ic.verify(capsys, kube_cluster.kubeconfig)

    assert outcome.code == 1
    assert outcome.failing() == {"cluster.annotations-match"}
    assert outcome.one("cluster.annotations-match")["finding"] == (
        "pod template annotations differ from the render: "
        f"missing {P}error-on-missing-key-ca-key.pem; "
        f"extra {P}agent-inject-token='true'; "
        f"differing {P}role is 'istiod-prod', rendered 'istiod'"
    )


@pytest.mark.usefixtures("no_vault", "webhook_cleanup")
def test_missing_namespace_is_one_failing_check(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    cluster_plan: ClusterPlan,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """istiod's namespace was never created; the webhook is registered with the Vault chart's default
    namespaceSelector (empty: every namespace; nothing else creates Pods while this test runs)."""
    webhook = vault_injector.configuration("Fail")
    webhook["webhooks"][0]["namespaceSelector"] = {}
    injector.apply(kube_cluster.kubeconfig, webhook)
    ns = cluster_plan.config.istiod.namespace

    outcome = ic.verify(capsys, kube_cluster.kubeconfig)

    assert outcome.code == 1
    assert outcome.failing() == {"cluster.namespace-exists"}
    assert outcome.one("cluster.namespace-exists")["finding"] == f"namespace {ns} does not exist in this cluster"
    assert outcome.one("cluster.deployment-service-account")["finding"] == f"namespace {ns} does not exist"


# ---------------------------------------------------------------------- access problems: exit 3 or exit 2


@pytest.mark.usefixtures("no_vault", "standin")
def test_forbidden_exits_3_naming_the_rbac_needed(
    kube_cluster: Cluster, istiod: dict[str, Any], cluster_plan: ClusterPlan, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user who may read everything but Deployments (a real ClusterRole): the API server's own 403 wording."""
    ns = cluster_plan.config.istiod.namespace
    user, reader = f"no-deployments-{ns}", f"no-deployments-{ns}"
    resources = "namespaces,serviceaccounts,pods,pods/log,configmaps"
    resources += ",mutatingwebhookconfigurations.admissionregistration.k8s.io"
    with ic.reader_kubeconfig(kube_cluster, user, reader, resources) as kubeconfig:
        outcome = ic.verify(capsys, kubeconfig)

    assert outcome.code == 3
    # The --output document is written even so: the error as its one entry (exit 3 all the same).
    assert [(c["id"], c["status"]) for c in outcome.checks] == [("cluster.api-reachable", "error")]
    assert (
        f'refused get Deployment {ns}/istiod (403): deployments.apps "istiod" is forbidden: User '
        f'"{user}" cannot get resource "deployments" in API group "apps" in the namespace "{ns}"'
    ) in outcome.stderr
    assert "grant get/list on namespaces, serviceaccounts, deployments" in outcome.stderr


@pytest.mark.usefixtures("no_vault")
def test_wrong_credentials_exit_3(kube_cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = kubeconfig_variant(kube_cluster, tmp_path / "stale", token="expired")

    outcome = ic.verify(capsys, stale)

    assert outcome.code == 3
    assert "rejected our credentials (401)" in outcome.stderr
    # The --output document is written even so: the error as its one entry (exit 3 all the same).
    assert [(c["id"], c["status"]) for c in outcome.checks] == [("cluster.api-reachable", "error")]


@pytest.mark.usefixtures("no_vault")
def test_untrusted_api_server_certificate_exits_3(
    kube_cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = kubeconfig_variant(kube_cluster, tmp_path / "other-ca", ca_pem=make_self_signed_ca_pem("some other CA"))

    outcome = ic.verify(capsys, other)

    assert outcome.code == 3
    assert "TLS with the API server" in outcome.stderr
    assert "certificate-authority" in outcome.stderr


@pytest.mark.usefixtures("no_vault")
def test_unreachable_api_server_exits_3_with_what_to_do(
    kube_cluster: Cluster, cluster_plan: ClusterPlan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = kubeconfig_variant(kube_cluster, tmp_path / "dead", server=f"https://127.0.0.1:{free_port()}")

    outcome = ic.verify(capsys, dead)

    assert outcome.code == 3
    # The --output document is written even so: the error as its one entry (exit 3 all the same).
    assert [(c["id"], c["status"]) for c in outcome.checks] == [("cluster.api-reachable", "error")]
    assert f"is unreachable (get Namespace {cluster_plan.config.istiod.namespace})" in outcome.stderr
    assert "what to do: check the --kubeconfig/--context" in outcome.stderr


@pytest.mark.usefixtures("no_vault")
def test_unknown_context_and_missing_kubeconfig_are_usage_errors(
    kube_cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = ic.verify(capsys, kube_cluster.kubeconfig, "--context", "prod")
    assert outcome.code == 2
    assert "Context 'prod' not found" in outcome.stderr
    assert "(contexts: e2e)" in outcome.stderr

    outcome = ic.verify(capsys, tmp_path / "nope")
    assert outcome.code == 2
    assert "not found (pass --kubeconfig or set KUBECONFIG)" in outcome.stderr


def test_real_entry_point_prints_no_traceback_when_unreachable(
    kube_cluster: Cluster, cluster_plan: ClusterPlan, tmp_path: Path
) -> None:
    """The installed console script, as a user runs it, on a kubeconfig whose server answers nothing."""
    dead = kubeconfig_variant(kube_cluster, tmp_path / "dead", server=f"https://127.0.0.1:{free_port()}")
    env = {**os.environ, "VAULT_ADDR": f"http://127.0.0.1:{free_port()}"}
    done = subprocess.run(
        [sys.executable, "-m", "istio_vault_ca.verify.cli.parser", "verify", "cluster", "--kubeconfig", str(dead)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("istio-vault-ca: error: the API server at https://127.0.0.1:")


# ---------------------------------------------------------------------- the files inside the Pod


@pytest.mark.usefixtures("no_vault")
def test_kubectl_backend_issues_exactly_these_commands(
    kube_cluster: Cluster,
    istiod: dict[str, Any],
    standin: ic.Standin,
    cluster_plan: ClusterPlan,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kubeconfig = kube_cluster.kubeconfig

    outcome = ic.verify(capsys, kubeconfig, "--context", "e2e")

    assert outcome.code == 0, outcome.stdout
    ns, name = cluster_plan.config.istiod.namespace, istiod["metadata"]["name"]
    prefix = [f"--kubeconfig={kubeconfig}", "--context=e2e", "-n", ns, "-c", "discovery", "exec", name, "--"]
    files = [f"/vault/secrets/{file}" for file in ic.FILES]
    assert standin.calls() == [
        [*prefix, "/bin/sh", "-c", "stat -Lc '%a %u %n' -- " + " ".join(files)],
        *([*prefix, "/bin/sh", "-c", f"cat -- {path}"] for path in files),
    ]


@pytest.mark.usefixtures("no_vault", "istiod")
def test_distroless_istiod_is_read_through_the_agent_sidecar(
    kube_cluster: Cluster, standin: ic.Standin, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The injector mounts the vault-secrets volume in vault-agent too, whose image has a shell."""
    monkeypatch.setenv("KUBECTL_STANDIN_NO_SHELL", "discovery")

    outcome = ic.verify(capsys, kube_cluster.kubeconfig)

    assert outcome.code == 0, outcome.stdout
    containers = [call[call.index("-c") + 1] for call in standin.calls()]
    assert containers == ["discovery", "vault-agent", "vault-agent", "vault-agent", "vault-agent", "vault-agent"]
    assert outcome.one("pod.ca-files-present")["status"] == "pass"


@pytest.mark.usefixtures("no_vault", "istiod")
def test_key_readable_by_others_fails_the_mode_check(
    kube_cluster: Cluster, standin: ic.Standin, capsys: pytest.CaptureFixture[str]
) -> None:
    (standin.files / "ca-key.pem").chmod(0o644)

    outcome = ic.verify(capsys, kube_cluster.kubeconfig)

    assert outcome.code == 1
    assert outcome.failing() == {"pod.ca-file-modes"}
    assert outcome.one("pod.ca-file-modes")["finding"] == (
        "ca-key.pem is 0644: group or other users in the pod can read the CA key"
    )


@pytest.mark.usefixtures("no_vault", "istiod")
def test_text_report_names_checks_and_summary(
    kube_cluster: Cluster, standin: ic.Standin, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = ic.verify(capsys, kube_cluster.kubeconfig, output="text")

    assert outcome.code == 0
    assert "cluster.istiod-ca-log" in outcome.stdout
    assert "OK:" in outcome.stdout


SUITE: tuple[str, ...] = (sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfs")
SUITE += ("-p", "istio_vault_ca.verify.testinfra_suite.plugin", "--pyargs", "istio_vault_ca.verify.testinfra_suite")


def test_testinfra_suite_over_kubectl_runs_the_same_checks(
    kube_cluster: Cluster, istiod: dict[str, Any], standin: ic.Standin, cluster_plan: ClusterPlan, tmp_path: Path
) -> None:
    env = {**os.environ, "VAULT_ADDR": f"http://127.0.0.1:{free_port()}", "PYTHONPATH": str(ic.REPO)}
    ns, name = cluster_plan.config.istiod.namespace, istiod["metadata"]["name"]
    host = f"kubectl://{name}?namespace={ns}&container=discovery&kubeconfig={kube_cluster.kubeconfig}"

    done = subprocess.run(
        [*SUITE, f"--hosts={host}", "--ivc-config", str(tmp_path / ic.CONFIG)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" in done.stdout
    assert "skipped" in done.stdout  # the root ConfigMap comparison, with no Vault
    assert "Vault's root is not available" in done.stdout
    assert standin.calls()[0][:3] == [f"--kubeconfig={kube_cluster.kubeconfig}", "-n", ns]


@pytest.mark.usefixtures("no_vault", "istiod", "standin")
def test_verify_all_with_vault_down_reports_the_cluster_and_exits_3(
    kube_cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = ic.verify(capsys, kube_cluster.kubeconfig, command="all")

    assert outcome.code == 3
    (vault,) = outcome.with_id("vault.reachable")
    assert vault["status"] == "error" and "cannot reach Vault" in vault["finding"]
    assert outcome.with_id("cluster.deployment-exists"), "the cluster part still ran"
    assert outcome.one("cluster.istiod-ca-log")["status"] == "pass"
