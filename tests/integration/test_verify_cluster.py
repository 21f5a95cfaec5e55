"""`verify cluster` / `verify all` end to end: the CLI against a Kubernetes API stand-in and a kubectl stand-in.

No kube-apiserver can be installed here, so `tests.kube_stub` serves the REST API (a test stand-in, labelled
so) with objects shaped like a real istiod injected by vault-k8s, and a kubectl stand-in answers the
`kubectl exec` lines testinfra issues. Vault is a real OpenBao where a scenario needs one.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import ClusterPlan, plan
from istio_vault_ca.verify.cli.parser import main
from tests.conftest import run_setup
from tests.kube_stub import seed
from tests.kube_stub.server import KubeStub
from tests.pki_factory import good_bundle
from tests.support import make_self_signed_ca_pem, render_into

REPO = Path(__file__).resolve().parents[2]
STARTER = REPO / "generator" / "config" / "starter.yaml"
POD = seed.POD
NS = "istio-system"
FILES = ("ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem")


# ---------------------------------------------------------------------- fixtures


CONFIG = "istio-vault-ca.yaml"


def config_text() -> str:
    """The built-in default config with 2048-bit keys: the cluster checks do not care, and setup runs faster."""
    return STARTER.read_text(encoding="utf-8").replace("key_bits: 4096", "key_bits: 2048")


@pytest.fixture(autouse=True)
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """./istio-vault-ca.yaml in a fresh working directory, as a user keeps it."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / CONFIG
    path.write_text(config_text(), encoding="utf-8")
    return path


@pytest.fixture
def cluster_plan(config_file: Path) -> ClusterPlan:
    return plan(load(str(config_file)).config)[0]


@pytest.fixture
def stub() -> Iterator[KubeStub]:
    server = KubeStub().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kubeconfig(stub: KubeStub, tmp_path: Path) -> Path:
    return stub.kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def no_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Vault address nobody listens on: `verify cluster` skips the root comparison and says why."""
    from istio_vault_ca.verify.rehearsal.openbao import free_port

    monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("VAULT_TOKEN", raising=False)


@dataclass
class Standin:
    """The kubectl stand-in on PATH: its call log, and the local directory playing the pod's ca_dir."""

    log: Path
    files: Path

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster_plan: ClusterPlan) -> Standin:
    """kubectl = the stand-in, first on PATH; the pod's ca_dir maps to a local directory of agent-made files."""
    bin_dir = tmp_path / "standin-bin"
    bin_dir.mkdir()
    launcher = bin_dir / "kubectl"
    script = REPO / "tests" / "kube_stub" / "kubectl_standin.py"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n', encoding="utf-8")
    launcher.chmod(0o755)
    files = tmp_path / "pod-ca-dir"
    write_agent_files(files, _bundle_values())
    log = tmp_path / "kubectl-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("KUBECTL_STANDIN_LOG", str(log))
    monkeypatch.setenv("KUBECTL_STANDIN_MAP", f"{cluster_plan.config.istiod.ca_dir}={files}")
    monkeypatch.setenv("KUBECTL_STANDIN_OWNER", str(cluster_plan.config.istiod.agent.run_as_user))
    return Standin(log, files)


def _bundle_values() -> dict[str, bytes]:
    bundle = good_bundle()
    values = {
        "ca-cert.pem": bundle.ca_cert,
        "ca-key.pem": bundle.ca_key,
        "cert-chain.pem": bundle.cert_chain,
        "root-cert.pem": bundle.root_cert,
    }
    return {name: value for name, value in values.items() if value is not None}


def write_agent_files(directory: Path, values: dict[str, bytes], key_mode: int = 0o400) -> Path:
    """As the agent writes them: consul-template's default 0644, and agent-inject-perms for the key."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in values.items():
        path = directory / name
        path.write_bytes(data)
        path.chmod(key_mode if name == "ca-key.pem" else 0o644)
    return directory


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def checks(self) -> list[dict[str, str]]:
        document: dict[str, Any] = json.loads(self.stdout)
        return list(document["checks"])

    def with_id(self, check_id: str) -> list[dict[str, str]]:
        return [c for c in self.checks if c["id"] == check_id]

    def one(self, check_id: str, target: str | None = None) -> dict[str, str]:
        found = [c for c in self.with_id(check_id) if target is None or c["target"] == target]
        assert len(found) == 1, f"{check_id}: {found}"
        return found[0]

    def failing(self) -> set[str]:
        return {c["id"] for c in self.checks if c["status"] in ("fail", "error")}


def verify(
    capsys: pytest.CaptureFixture[str], kubeconfig: Path, *extra: str, command: str = "cluster", output: str = "json"
) -> Outcome:
    """The CLI as a user runs it (in-process, so the stand-ins' environment applies)."""
    capsys.readouterr()
    code = main(["verify", command, "-c", CONFIG, "--kubeconfig", str(kubeconfig), "--output", output, *extra])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return Outcome(code, captured.out, captured.err)


def pod_target() -> str:
    return f"pod/{NS}/{POD}"


# ---------------------------------------------------------------------- healthy


@pytest.mark.usefixtures("no_vault")
def test_healthy_cluster_passes_with_files_read_inside_the_pod(
    stub: KubeStub, kubeconfig: Path, cluster_plan: ClusterPlan, kubectl: Standin, capsys: pytest.CaptureFixture[str]
) -> None:
    seed.healthy(stub, cluster_plan, _bundle_values()["root-cert.pem"])

    outcome = verify(capsys, kubeconfig)

    assert outcome.code == 0, outcome.stdout
    assert outcome.failing() == set()
    ids = {c["id"] for c in outcome.checks}
    assert {
        "cluster.namespace-exists",
        "cluster.service-account-exists",
        "cluster.deployment-service-account",
        "cluster.annotations-match",
        "cluster.root-ca-dir-matches-volume-path",
        "cluster.injector-webhook",
        "cluster.pod-injected",
        "cluster.agent-init-succeeded",
        "cluster.agent-sidecar-running",
        "cluster.discovery-ready",
        "cluster.istiod-ca-log",
        "pod.ca-files-present",
        "pod.ca-file-modes",
        "chain.key-matches-cert",
        "chain.path-valid",
    } <= ids
    assert outcome.one("cluster.istiod-ca-log")["status"] == "pass"
    assert "Use root cert from /vault/secrets/root-cert.pem" in outcome.one("cluster.istiod-ca-log")["finding"]
    assert outcome.one("pod.ca-file-modes")["finding"] == (
        "modes as rendered (ca-cert.pem 0644, ca-key.pem 0400, cert-chain.pem 0644, root-cert.pem 0644)"
    )
    # Without Vault the root comparison is skipped, with the reason, never failed.
    roots = outcome.with_id("cluster.root-configmap-matches-vault")
    assert [r["status"] for r in roots] == ["skip", "skip"]
    assert "cannot reach Vault" in roots[0]["finding"]
    assert [c["target"] for c in outcome.with_id("chain.path-valid")] == [f"{pod_target()}:/vault/secrets"]


@pytest.mark.usefixtures("no_vault")
def test_text_report_names_checks_and_summary(
    stub: KubeStub, kubeconfig: Path, cluster_plan: ClusterPlan, kubectl: Standin, capsys: pytest.CaptureFixture[str]
) -> None:
    seed.healthy(stub, cluster_plan, _bundle_values()["root-cert.pem"])

    outcome = verify(capsys, kubeconfig, output="text")

    assert outcome.code == 0
    assert "cluster.istiod-ca-log" in outcome.stdout
    assert "OK:" in outcome.stdout


@pytest.mark.integration
def test_with_real_openbao_all_passes_then_a_config_map_root_differing_from_vault_fails(
    stub: KubeStub,
    kubeconfig: Path,
    cluster_plan: ClusterPlan,
    kubectl: Standin,
    script_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    values = _setup_vault(tmp_path, script_env, monkeypatch, cluster_plan)
    agent, files = run_agent(script_env, tmp_path / "out", tmp_path / "pod-root", policy=cluster_plan.cluster.policy)
    assert agent.returncode == 0, agent.stderr
    monkeypatch.setenv("KUBECTL_STANDIN_MAP", f"{cluster_plan.config.istiod.ca_dir}={files}")
    seed.healthy(stub, cluster_plan, values["root-cert.pem"])

    outcome = verify(capsys, kubeconfig, command="all")

    assert outcome.code == 0, outcome.stdout
    families = {c["id"].split(".")[0] for c in outcome.checks}
    assert families == {"vault", "chain", "cluster", "pod"}
    chain_targets = {c["target"] for c in outcome.with_id("chain.key-matches-cert")}
    assert chain_targets == {f"{script_env['VAULT_ADDR']} (cluster default)", f"{pod_target()}:/vault/secrets"}
    roots = outcome.with_id("cluster.root-configmap-matches-vault")
    assert [(r["target"], r["status"]) for r in roots] == [
        (f"configmap/{NS}/istio-ca-root-cert", "pass"),
        ("configmap/bookinfo/istio-ca-root-cert", "pass"),
    ]
    assert f"from {script_env['VAULT_ADDR']} pki/cert/ca" in roots[0]["finding"]

    # The same Vault, a workload namespace now holding some other root (istiod signing elsewhere).
    stub.add(seed.root_config_map(seed.WORKLOAD_NAMESPACE, make_self_signed_ca_pem("istiod self-signed root")))

    outcome = verify(capsys, kubeconfig)

    assert outcome.code == 1
    assert outcome.failing() == {"cluster.root-configmap-matches-vault"}
    own = outcome.one("cluster.root-configmap-matches-vault", f"configmap/{NS}/istio-ca-root-cert")
    assert own["status"] == "pass"
    workload = outcome.one("cluster.root-configmap-matches-vault", "configmap/bookinfo/istio-ca-root-cert")
    assert workload["status"] == "fail"
    assert workload["finding"].startswith("holds CN=istiod self-signed root")
    assert "not Vault's root CN=tetrate.io" in workload["finding"]


def _config_with(tmp_path: Path, ca_dir: str, run_as_user: str) -> Path:
    """The starter config with istiod.ca_dir and agent.run_as_user replaced (local:// plays the pod)."""
    text = config_text().replace("ca_dir: /vault/secrets", ca_dir).replace("run_as_user: 1337", run_as_user)
    # istiod "runs" as this machine's uid here: say so, or the config refuses an agent uid other than 1337.
    text = text.replace("  agent:\n", f"  uid: {run_as_user.split(':', 1)[1].strip()}\n  agent:\n", 1)
    path = tmp_path / "local.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _plan_with(tmp_path: Path, ca_dir: str, run_as_user: str) -> ClusterPlan:
    return plan(load(str(_config_with(tmp_path, ca_dir, run_as_user))).config)[0]


def _setup_vault(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, cluster_plan: ClusterPlan
) -> dict[str, bytes]:
    """Run the rendered setup on the OpenBao, point the verifier at it, return the four values from Vault."""
    tree = render_into(tmp_path / CONFIG, tmp_path / "out")
    done = run_setup(tree, env)
    assert done.returncode == 0, done.stderr
    for name in ("VAULT_ADDR", "VAULT_TOKEN"):
        monkeypatch.setenv(name, env[name])
    return _values_from_vault(env, cluster_plan)


def _values_from_vault(env: dict[str, str], cluster_plan: ClusterPlan) -> dict[str, bytes]:
    """The four values as the agent templates read them (istio_vault_ca.verify.checks.vault reads them the same way)."""
    from istio_vault_ca.verify.checks.vault import read_ca_values
    from istio_vault_ca.verify.clients.vault import VaultApi, settings_from_env

    values, _labels = read_ca_values(VaultApi(settings_from_env(env["VAULT_ADDR"], env)), cluster_plan)
    assert all(values.values()), values.keys()
    return {name: value for name, value in values.items() if value is not None}


# ---------------------------------------------------------------------- the failure scenarios


@pytest.mark.usefixtures("no_vault", "kubectl")
def test_source_document_path_mismatch_is_named(
    stub: KubeStub, kubeconfig: Path, cluster_plan: ClusterPlan, capsys: pytest.CaptureFixture[str]
) -> None:
    """The source's overlay: secret-volume-path /etc/cacerts-vault, ROOT_CA_DIR /vault/secrets."""
    deployment = seed.healthy(stub, cluster_plan, _bundle_values()["root-cert.pem"])
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    annotations["vault.hashicorp.com/secret-volume-path"] = "/etc/cacerts-vault"
    stub.add(deployment, seed.pod_from(deployment))
    seed.set_logs(stub, cluster_plan, plugged_in=False)

    outcome = verify(capsys, kubeconfig)

    assert outcome.code == 1
    mismatch = outcome.one("cluster.root-ca-dir-matches-volume-path")
    assert mismatch["status"] == "fail"
    assert mismatch["finding"] == (
        "istiod reads ROOT_CA_DIR=/vault/secrets but the agent writes the files to secret-volume-path "
        "/etc/cacerts-vault; istiod finds no CA files there and silently falls back to a self-signed CA"
    )
    assert (
        "vault.hashicorp.com/secret-volume-path is '/etc/cacerts-vault'"
        in outcome.one("cluster.annotations-match")["finding"]
    )
    assert outcome.one("cluster.istiod-ca-log")["status"] == "fail"


@pytest.mark.usefixtures("no_vault")
def test_pod_created_without_injection_names_the_ignore_policy(
    stub: KubeStub, kubeconfig: Path, cluster_plan: ClusterPlan, kubectl: Standin, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(kubectl.files)  # no agent, no files
    deployment = seed.healthy(stub, cluster_plan, _bundle_values()["root-cert.pem"])
    stub.add(seed.injector_webhook("Ignore"), seed.pod_from(deployment, injected=False))
    seed.set_logs(stub, cluster_plan, plugged_in=False)

    outcome = verify(capsys, kubeconfig)

    assert outcome.code == 1
    injected = outcome.one("cluster.pod-injected")
    assert injected["status"] == "fail"
    assert "created without the Vault agent" in injected["finding"]
    assert "failurePolicy Ignore" in injected["finding"]
    assert injected["hint"].startswith(
        "make sure the injector is running, then kubectl -n istio-system rollout restart"
    )
    webhook = outcome.one("cluster.injector-webhook")
    assert webhook["status"] == "warn"
    assert "silently signs with a self-signed CA" in webhook["finding"]
    assert outcome.one("cluster.agent-init-succeeded")["status"] == "skip"
    assert outcome.one("pod.ca-files-present")["status"] == "fail"


@pytest.mark.usefixtures("no_vault", "kubectl")
def test_agent_init_permission_denied_gives_cause_and_fix(
    stub: KubeStub, kubeconfig: Path, cluster_plan: ClusterPlan, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = seed.healthy(stub, cluster_plan, _bundle_values()["root-cert.pem"])
    stub.add(seed.pod_from(deployment, init_failed=True))
    stub.logs.clear()
    stub.set_log(NS, POD, "vault-agent-init", seed.agent_log_permission_denied("kv/istioca"))

    outcome = verify(capsys, kubeconfig)

    assert outcome.code == 1
    init = outcome.one("cluster.agent-init-succeeded")
    assert init["status"] == "fail"
    assert init["finding"].startswith(
        "vault-agent-init is CrashLoopBackOff, last exit 1, restarted 4x: the Vault policy does not let role "
        "istiod read kv/istioca (403 permission denied)"
    )
    assert "policy istioca must grant read on kv/istioca" in init["hint"]
    assert outcome.one("cluster.discovery-ready")["finding"].startswith("discovery is PodInitializing")
    assert outcome.one("cluster.istiod-ca-log")["status"] == "skip"
    assert outcome.one("pod.ca-files-present")["status"] == "skip"
    assert stub.requests[-1].query.get("container") != ["discovery"]  # no log read for a container never started


@pytest.mark.usefixtures("no_vault", "kubectl")
@pytest.mark.parametrize("release", ["1.10", "1.17", "1.20", "1.24"])
def test_istiod_self_signed_fallback_fails_in_every_release_wording(
    release: str, stub: KubeStub, kubeconfig: Path, cluster_plan: ClusterPlan, capsys: pytest.CaptureFixture[str]
) -> None:
    seed.healthy(stub, cluster_plan, _bundle_values()["root-cert.pem"], release=release)
    seed.set_logs(stub, cluster_plan, release=release, plugged_in=False)

    outcome = verify(capsys, kubeconfig)

    assert outcome.code == 1
    assert outcome.failing() == {"cluster.istiod-ca-log"}
    log_check = outcome.one("cluster.istiod-ca-log")
    assert log_check["finding"].startswith("istiod fell back to a self-signed CA, not the Vault intermediate")
    assert "Use self-signed certificate as the CA certificate" in log_check["finding"]


@pytest.mark.usefixtures("no_vault", "kubectl")
def test_deployment_running_as_another_service_account(
    stub: KubeStub, kubeconfig: Path, cluster_plan: ClusterPlan, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = seed.healthy(stub, cluster_plan, _bundle_values()["root-cert.pem"])
    deployment["spec"]["template"]["spec"]["serviceAccountName"] = "istiod"
    stub.add(seed.service_account("istiod", NS), deployment, seed.pod_from(deployment, init_failed=True))
    stub.set_log(NS, POD, "vault-agent-init", seed.agent_log_login_refused("service account name not authorized"))

    outcome = verify(capsys, kubeconfig)

    assert outcome.code == 1
    account = outcome.one("cluster.deployment-service-account")
    assert account["status"] == "fail"
    assert account["finding"].startswith(
        "istiod runs as service account istiod, but Vault role istiod binds istiod-service-account"
    )
    assert account["hint"].startswith("set istiod.service_account: istiod in the config")
    init = outcome.one("cluster.agent-init-succeeded")
    assert "is not bound to role istiod (service account name not authorized)" in init["finding"]


@pytest.mark.usefixtures("no_vault", "kubectl")
def test_annotation_edited_by_hand_is_named(
    stub: KubeStub, kubeconfig: Path, cluster_plan: ClusterPlan, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = seed.healthy(stub, cluster_plan, _bundle_values()["root-cert.pem"])
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    annotations["vault.hashicorp.com/role"] = "istiod-prod"
    del annotations["vault.hashicorp.com/error-on-missing-key-ca-key.pem"]
    annotations["vault.hashicorp.com/agent-inject-token"] = "true"
    stub.add(deployment)

    outcome = verify(capsys, kubeconfig)

    assert outcome.code == 1
    assert outcome.failing() == {"cluster.annotations-match"}
    finding = outcome.one("cluster.annotations-match")["finding"]
    assert finding == (
        "pod template annotations differ from the render: "
        "missing vault.hashicorp.com/error-on-missing-key-ca-key.pem; "
        "extra vault.hashicorp.com/agent-inject-token='true'; "
        "differing vault.hashicorp.com/role is 'istiod-prod', rendered 'istiod'"
    )


# ---------------------------------------------------------------------- access problems: exit 3 or a clear check


@pytest.mark.usefixtures("no_vault")
def test_unreachable_api_server_exits_3_with_what_to_do(
    stub: KubeStub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from istio_vault_ca.verify.rehearsal.openbao import free_port

    dead = stub.kubeconfig(tmp_path / "dead", server=f"https://127.0.0.1:{free_port()}")

    outcome = verify(capsys, dead)

    assert outcome.code == 3
    assert outcome.stdout == ""
    assert "is unreachable (get Namespace istio-system)" in outcome.stderr
    assert "what to do: check the --kubeconfig/--context" in outcome.stderr


@pytest.mark.usefixtures("no_vault")
def test_forbidden_exits_3_naming_the_rbac_needed(
    stub: KubeStub, kubeconfig: Path, cluster_plan: ClusterPlan, capsys: pytest.CaptureFixture[str]
) -> None:
    seed.healthy(stub, cluster_plan, _bundle_values()["root-cert.pem"])
    stub.forbidden.add("deployments")

    outcome = verify(capsys, kubeconfig)

    assert outcome.code == 3
    assert (
        'refused get Deployment istio-system/istiod (403): deployments.apps "istiod" is forbidden: User '
        '"system:serviceaccount:default:verifier" cannot get resource "deployments"'
    ) in outcome.stderr
    assert "grant get/list on namespaces, serviceaccounts, deployments" in outcome.stderr


@pytest.mark.usefixtures("no_vault")
def test_wrong_credentials_exit_3(stub: KubeStub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = stub.kubeconfig(tmp_path / "stale", token="expired")

    outcome = verify(capsys, stale)

    assert outcome.code == 3
    assert "rejected our credentials (401)" in outcome.stderr


@pytest.mark.usefixtures("no_vault")
def test_untrusted_api_server_certificate_exits_3(
    stub: KubeStub, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(kubeconfig.read_text(encoding="utf-8"))
    import base64

    document["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(
        make_self_signed_ca_pem("some other CA")
    ).decode()
    kubeconfig.write_text(json.dumps(document), encoding="utf-8")

    outcome = verify(capsys, kubeconfig)

    assert outcome.code == 3
    assert "TLS with the API server" in outcome.stderr
    assert "certificate-authority" in outcome.stderr


@pytest.mark.usefixtures("no_vault")
def test_missing_namespace_is_one_failing_check(
    stub: KubeStub, kubeconfig: Path, cluster_plan: ClusterPlan, capsys: pytest.CaptureFixture[str]
) -> None:
    seed.healthy(stub, cluster_plan, _bundle_values()["root-cert.pem"])
    stub.remove("Namespace", NS)

    outcome = verify(capsys, kubeconfig)

    assert outcome.code == 1
    assert outcome.failing() == {"cluster.namespace-exists"}
    assert outcome.one("cluster.namespace-exists")["finding"] == "namespace istio-system does not exist in this cluster"
    assert outcome.one("cluster.deployment-service-account")["finding"] == "namespace istio-system does not exist"


@pytest.mark.usefixtures("no_vault")
def test_unknown_context_and_missing_kubeconfig_are_usage_errors(
    kubeconfig: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = verify(capsys, kubeconfig, "--context", "prod")
    assert outcome.code == 2
    assert "Context 'prod' not found" in outcome.stderr
    assert "(contexts: stub)" in outcome.stderr

    outcome = verify(capsys, tmp_path / "nope")
    assert outcome.code == 2
    assert "not found (pass --kubeconfig or set KUBECONFIG)" in outcome.stderr


def test_real_entry_point_prints_no_traceback_when_unreachable(tmp_path: Path) -> None:
    """The installed console script, as a user runs it, on a kubeconfig pointing at nothing."""
    from istio_vault_ca.verify.rehearsal.openbao import free_port

    stub = KubeStub().start()
    try:
        dead = stub.kubeconfig(tmp_path / "dead", server=f"https://127.0.0.1:{free_port()}")
    finally:
        stub.stop()
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


# ---------------------------------------------------------------------- files inside the pod via testinfra


@pytest.mark.usefixtures("no_vault")
def test_kubectl_backend_issues_exactly_these_commands(
    stub: KubeStub, kubeconfig: Path, cluster_plan: ClusterPlan, kubectl: Standin, capsys: pytest.CaptureFixture[str]
) -> None:
    seed.healthy(stub, cluster_plan, _bundle_values()["root-cert.pem"])

    outcome = verify(capsys, kubeconfig, "--context", "stub")

    assert outcome.code == 0, outcome.stdout
    prefix = [f"--kubeconfig={kubeconfig}", "--context=stub", "-n", NS, "-c", "discovery", "exec", POD, "--"]
    files = [f"/vault/secrets/{name}" for name in FILES]
    assert kubectl.calls() == [
        [*prefix, "/bin/sh", "-c", "stat -Lc '%a %u %n' -- " + " ".join(files)],
        *([*prefix, "/bin/sh", "-c", f"cat -- {path}"] for path in files),
    ]


@pytest.mark.usefixtures("no_vault")
def test_distroless_istiod_is_read_through_the_agent_sidecar(
    stub: KubeStub,
    kubeconfig: Path,
    cluster_plan: ClusterPlan,
    kubectl: Standin,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The vault-secrets volume is mounted in vault-agent too, whose image has a shell."""
    seed.healthy(stub, cluster_plan, _bundle_values()["root-cert.pem"])
    monkeypatch.setenv("KUBECTL_STANDIN_NO_SHELL", "discovery")

    outcome = verify(capsys, kubeconfig)

    assert outcome.code == 0, outcome.stdout
    containers = [call[call.index("-c") + 1] for call in kubectl.calls()]
    assert containers == ["discovery", "vault-agent", "vault-agent", "vault-agent", "vault-agent", "vault-agent"]
    assert outcome.one("pod.ca-files-present")["status"] == "pass"


@pytest.mark.usefixtures("no_vault")
def test_key_readable_by_others_fails_the_mode_check(
    stub: KubeStub, kubeconfig: Path, cluster_plan: ClusterPlan, kubectl: Standin, capsys: pytest.CaptureFixture[str]
) -> None:
    seed.healthy(stub, cluster_plan, _bundle_values()["root-cert.pem"])
    (kubectl.files / "ca-key.pem").chmod(0o644)

    outcome = verify(capsys, kubeconfig)

    assert outcome.code == 1
    assert outcome.failing() == {"pod.ca-file-modes"}
    assert outcome.one("pod.ca-file-modes")["finding"] == (
        "ca-key.pem is 0644: group or other users in the pod can read the CA key"
    )


def run_agent(env: dict[str, str], tree: Path, directory: Path, *, policy: str = "", service_account: str = "") -> Any:
    """The init container's agent, for real: the rehearsal's vault-k8s mapping of the rendered overlay's
    annotations (`rehearsal.agent`), run by `bao agent`, the pod's ca_dir re-rooted under `directory`. Auto-auth is
    a token holding only `policy`, or the real Kubernetes login as `service_account` (refusals only: no
    TokenReview here). Returns the process and where the four files are."""
    from istio_vault_ca.generator.render.layout import layout_for
    from istio_vault_ca.verify.rehearsal import agent
    from istio_vault_ca.verify.rehearsal.consistency import overlay_files
    from istio_vault_ca.verify.rehearsal.openbao import find_bao

    cluster = layout_for(plan(load(CONFIG).config)).clusters[0]
    overlay = overlay_files(tree, cluster)[0]
    injection = agent.parse_injection(agent.read_overlay(tree / overlay, overlay))
    work = directory.parent / f"agent-{policy or service_account}"
    work.mkdir()
    config = agent.build_config(
        injection,
        vault_address=env["VAULT_ADDR"],
        token_path=work / "jwt",
        root=directory,
        sink_path=work / "sink",
        pid_file=work / "pid",
    )
    if policy:
        token = subprocess.run(
            ["bao", "token", "create", f"-policy={policy}", "-field=token"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        (work / "token").write_text(token, encoding="utf-8")
        config["auto_auth"]["method"] = {"type": "token_file", "config": {"token_file_path": str(work / "token")}}
    else:
        namespace = cluster.plan.config.istiod.namespace
        (work / "jwt").write_text(_service_account_jwt(namespace, service_account), encoding="utf-8")
    (work / "agent.json").write_text(json.dumps(config), encoding="utf-8")
    done = subprocess.run(
        [find_bao(), "agent", f"-config={work / 'agent.json'}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, agent.local_destination(directory, injection.templates[0]).parent


def _service_account_jwt(namespace: str, name: str) -> str:
    """A JWT with the claims of a projected service-account token; the signature is never checked before the
    role's bound names are (and no key is configured), so a placeholder suffices for a refusal."""
    import base64

    def part(document: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")

    claims = {
        "iss": "kubernetes/serviceaccount",
        "sub": f"system:serviceaccount:{namespace}:{name}",
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/service-account.name": name,
    }
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


@pytest.mark.integration
def test_real_bao_agent_files_pass_over_local_and_its_denied_log_is_diagnosed(
    stub: KubeStub,
    kubeconfig: Path,
    cluster_plan: ClusterPlan,
    script_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A real `bao agent` renders the four files (testinfra local:// checks them); with a token lacking the
    policy, the same agent fails, and its real log, served as vault-agent-init's, is turned into the cause."""
    from istio_vault_ca.verify.checks.cluster import pod_file_checks
    from istio_vault_ca.verify.clients.podfiles import get_host, read_ca_files

    values = _setup_vault(tmp_path, script_env, monkeypatch, cluster_plan)
    rendered, directory = run_agent(
        script_env, tmp_path / "out", tmp_path / "pod-root", policy=cluster_plan.cluster.policy
    )
    assert rendered.returncode == 0, rendered.stderr
    assert directory == tmp_path / "pod-root" / "vault" / "secrets"
    here = _plan_with(tmp_path, f"ca_dir: {directory}", f"run_as_user: {os.getuid()}")  # this machine is the pod

    files = read_ca_files(get_host("local://"), str(directory))
    results = pod_file_checks(files, here)

    assert [r.id for r in results if r.failed] == []
    assert {r.id for r in results} >= {"pod.ca-files-present", "pod.ca-file-modes", "chain.key-matches-cert"}
    assert files.modes == {"ca-cert.pem": 0o644, "ca-key.pem": 0o400, "cert-chain.pem": 0o644, "root-cert.pem": 0o644}
    assert files.values["root-cert.pem"] == values["root-cert.pem"]

    denied, _ = run_agent(script_env, tmp_path / "out", tmp_path / "denied", policy="default")
    assert denied.returncode == 1
    deployment = seed.healthy(stub, cluster_plan, values["root-cert.pem"])
    stub.add(seed.pod_from(deployment, init_failed=True))
    stub.set_log(NS, POD, "vault-agent-init", denied.stdout + denied.stderr)  # kubectl logs shows both streams
    monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{_closed_port()}")

    outcome = verify(capsys, kubeconfig)

    assert outcome.code == 1
    init = outcome.one("cluster.agent-init-succeeded")
    assert "the Vault policy does not let role istiod read kv/istioca (403 permission denied)" in init["finding"]
    assert "agent: (view) vault.read(kv/istioca): vault.read(kv/istioca): Error making API request." in init["finding"]

    # The real login refusal when istiod runs as another service account than the role binds.
    refused, _ = run_agent(script_env, tmp_path / "out", tmp_path / "other-sa", service_account="istiod")
    assert refused.returncode == 1
    stub.set_log(NS, POD, "vault-agent-init", refused.stdout + refused.stderr)

    outcome = verify(capsys, kubeconfig)

    init = outcome.one("cluster.agent-init-succeeded")
    assert "is not bound to role istiod (service account name not authorized)" in init["finding"]
    assert init["hint"].startswith("the role binds istiod-service-account")


def _closed_port() -> int:
    from istio_vault_ca.verify.rehearsal.openbao import free_port

    return free_port()


# ---------------------------------------------------------------------- the shipped pytest-testinfra suite


SUITE = (sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfs")
SUITE += ("-p", "istio_vault_ca.verify.testinfra_suite.plugin", "--pyargs", "istio_vault_ca.verify.testinfra_suite")


def _suite(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SUITE, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_testinfra_suite_over_kubectl_runs_the_same_checks(
    stub: KubeStub, kubeconfig: Path, cluster_plan: ClusterPlan, kubectl: Standin, tmp_path: Path
) -> None:
    from istio_vault_ca.verify.rehearsal.openbao import free_port

    seed.healthy(stub, cluster_plan, _bundle_values()["root-cert.pem"])
    env = {**os.environ, "VAULT_ADDR": f"http://127.0.0.1:{free_port()}", "PYTHONPATH": str(REPO)}
    host = f"kubectl://{POD}?namespace={NS}&container=discovery&kubeconfig={kubeconfig}"

    done = _suite(f"--hosts={host}", "--ivc-config", str(tmp_path / CONFIG), env=env, cwd=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" in done.stdout
    assert "skipped" in done.stdout  # the root ConfigMap comparison, with no Vault
    assert "Vault's root is not available" in done.stdout
    assert kubectl.calls()[0][:3] == [f"--kubeconfig={kubeconfig}", "-n", NS]


def test_testinfra_suite_fails_on_a_group_readable_key_over_local(tmp_path: Path) -> None:
    directory = write_agent_files(tmp_path / "secrets", _bundle_values(), key_mode=0o640)
    config = _config_with(tmp_path, f"ca_dir: {directory}", f"run_as_user: {os.getuid()}")
    env = {**os.environ, "PYTHONPATH": str(REPO), "IVC_CONFIG": str(config)}

    done = _suite("--hosts=local://", env=env, cwd=tmp_path)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED" in done.stdout and "test_ca_files[local-pod.ca-file-modes]" in done.stdout
    assert "ca-key.pem is 0640: group or other users in the pod can read the CA key" in done.stdout
    assert stat.S_IMODE((directory / "ca-key.pem").stat().st_mode) == 0o640


# ---------------------------------------------------------------------- verify all reports what it can reach


@pytest.mark.parametrize("output", ["json", "junit", "text"])
def test_verify_all_without_a_kubeconfig_still_reports_vault_and_chain(
    output: str,
    cluster_plan: ClusterPlan,
    script_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The quick start's last step on a machine with no kubeconfig: Vault and chain results, cluster as error."""
    _setup_vault(tmp_path, script_env, monkeypatch, cluster_plan)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    capsys.readouterr()

    code = main(["verify", "all", "-c", CONFIG, "--output", output])
    captured = capsys.readouterr()

    assert code == 3
    assert "Traceback" not in captured.err
    assert "vault.policy" in captured.out and "chain.spiffe-leaf" in captured.out
    assert "cluster.api-reachable" in captured.out
    if output == "json":
        checks = json.loads(captured.out)["checks"]
        (api,) = [c for c in checks if c["id"] == "cluster.api-reachable"]
        assert api["status"] == "error" and "kubeconfig" in api["finding"]
        assert {c["id"].split(".")[0] for c in checks} == {"vault", "chain", "cluster"}
        assert not [c for c in checks if c["status"] in ("fail", "error") and c["id"] != "cluster.api-reachable"]


@pytest.mark.usefixtures("no_vault")
def test_verify_all_with_vault_down_reports_the_cluster_and_exits_3(
    stub: KubeStub, kubeconfig: Path, cluster_plan: ClusterPlan, kubectl: Standin, capsys: pytest.CaptureFixture[str]
) -> None:
    seed.healthy(stub, cluster_plan, make_self_signed_ca_pem("root"))
    outcome = verify(capsys, kubeconfig, command="all")
    assert outcome.code == 3
    (vault,) = outcome.with_id("vault.reachable")
    assert vault["status"] == "error" and "cannot reach Vault" in vault["finding"]
    assert outcome.with_id("cluster.deployment-exists"), "the cluster part still ran"


def test_the_istiod_release_is_read_from_the_image_tag() -> None:
    from istio_vault_ca.verify.checks.chain import IstioVersion
    from istio_vault_ca.verify.checks.cluster import PodState
    from istio_vault_ca.verify.cli.cluster_commands import istiod_version

    def pod(image: str) -> PodState:
        return PodState({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "discovery", "image": image}]}})

    assert istiod_version(pod("docker.io/istio/pilot:1.24.3-distroless")) == IstioVersion(1, 24, 3)
    assert istiod_version(pod("gcr.io/istio-release/pilot:1.26.0")) == IstioVersion(1, 26, 0)
    assert istiod_version(pod("registry.local:5000/pilot@sha256:abc")) is None
    assert istiod_version(pod("tetrate/pilot:latest")) is None
