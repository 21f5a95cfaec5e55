"""End to end on the real API server (issue 11, item 4): OpenBao's Kubernetes auth reviews istiod's real token.

1. ``istio-vault-ca render`` of ``examples/istio-helm.yaml``; the rendered ``vault/setup.sh`` (steps 01-06, with
   ``05-kubernetes-auth.sh``) runs against a real OpenBao dev server (tests/conftest.py ``openbao``) with
   ``K8S_HOST`` = the e2e API server's URL and ``K8S_CA_CERT_FILE`` = its CA. The config's reviewer is ``local``:
   outside a Pod OpenBao has no token of its own, so it reviews with the token presented at login
   (hashicorp/vault-plugin-auth-kubernetes ``token_review.go`` ``tokenReviewAPI.Review``: the login JWT is the
   bearer unless ``token_reviewer_jwt`` is set; ``path_config.go`` documents the fallback; OpenBao 2.7's kubernetes
   auth behaves the same, as this test shows), which istiod may do: the chart's
   ``istiod-clusterrole-istio-system`` (istio-discovery templates/clusterrole.yaml) grants tokenreviews create.
2. istiod from the real istio-discovery chart with the rendered values (``tests/e2e/istiod_chart.py``), mutated by
   the real vault-k8s webhook.
3. istiod's service-account token from the real TokenRequest API (``kubectl create token``), bound to that Pod as
   the kubelet's projected token is.
4. A real ``bao agent`` runs the ``VAULT_CONFIG`` of the Pod's ``vault-agent-init`` after the rehearsal's path
   moves (``verify.rehearsal.agent.localize``) and renders the four CA files.
5. ``istio-vault-ca verify cluster`` and ``verify all`` (the CLI, a kubeconfig for the real API server) judge it.

What a kubelet would do is stood in for, since there is none: the Pod's status is patched through ``pods/status``
(init container completed, containers running); the files inside the Pod are read through the kubectl stand-in
(``tests/kube_stub/kubectl_standin.py``: ``kubectl exec`` needs a kubelet) over the directory the real agent
wrote; istiod does not run, so the ``istio-ca-root-cert`` ConfigMap it would publish is written from the agent's
``root-cert.pem``; container logs cannot be had, so the log check warns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import pytest
from ruamel.yaml import YAML

from istio_vault_ca.generator.config.cafiles import CA_FILES, CA_KEY, ROOT_CERT
from istio_vault_ca.verify.rehearsal import agent
from tests.e2e import istiod_chart as chart
from tests.e2e import vault_injector as injector
from tests.e2e.cluster import Cluster
from tests.kube_stub import seed
from tests.support import EXAMPLES, REPO, run_cli, run_setup

pytestmark = pytest.mark.e2e

EXAMPLE = EXAMPLES / "istio-helm.yaml"
VALUES = "istiod/istiod-helm-values.yaml"
P = "vault.hashicorp.com/"
AGENT_TIMEOUT = 60


@dataclass
class Deployed:
    config: Path
    tree: Path
    pod: dict[str, Any]
    fs: Path  # the Pod's file system as far as the agent wrote it (paths re-rooted by localize)
    ca_files: Path  # fs + ROOT_CA_DIR: what istiod reads
    vault_env: dict[str, str]
    agent_code: int  # the real bao agent's exit code
    agent_errors: list[str]  # its [ERROR] lines


def _yaml() -> YAML:
    return YAML(typ="safe", pure=True)


def deploy(
    tmp_path: Path, openbao: Any, cluster: Cluster, webhook: injector.Webhook, harness: Path, edit: dict[str, str]
) -> Deployed:
    """Steps 1-4 of the module docstring; ``edit`` changes rendered annotations by hand before the chart renders."""
    config = tmp_path / "istio-vault-ca.yaml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    tree = tmp_path / "out"
    rendered = run_cli("render", "-c", config, "-o", tree)
    assert rendered.returncode == 0, rendered.stderr

    # 1. The rendered scripts configure OpenBao's Kubernetes auth for the real API server.
    vault_env = openbao.env()
    env = {
        **vault_env,
        "K8S_HOST": cluster.server,
        "K8S_CA_CERT_FILE": str(cluster.ca_file),
        "AUDIT_FILE_PATH": str(tmp_path / "vault-audit.log"),
        "TMPDIR": str(tmp_path),
    }
    setup = run_setup(tree, env)
    assert setup.returncode == 0, f"{setup.stdout}\n{setup.stderr}"
    assert f"[kubernetes-auth] auth/kubernetes/config points at {cluster.server}" in setup.stdout
    auth = hvac.Client(url=openbao.address, token=openbao.token).read("auth/kubernetes/config")["data"]
    assert auth["kubernetes_host"] == cluster.server
    assert auth["kubernetes_ca_cert"].strip() == cluster.ca_file.read_text().strip()

    # 2. istiod from the real chart with the rendered (or hand-edited) values, mutated by the real injector.
    values_file = tree / VALUES
    if edit:
        values = _yaml().load(values_file.read_text(encoding="utf-8"))
        values["podAnnotations"].update({P + key: value for key, value in edit.items()})
        values_file = tmp_path / "hand-edited-values.yaml"
        with values_file.open("w", encoding="utf-8") as handle:
            _yaml().dump(values, handle)
    chart.prepare(cluster, webhook)
    chart.install(cluster, chart.render_manifests(harness, "helm-manifests", values_file))
    pod = chart.istiod_pod(cluster)
    name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]

    # 3. istiod's token from the TokenRequest API, bound to its Pod like the kubelet's projected token.
    base = tmp_path / "pod"
    base.mkdir(mode=0o700)
    token = injector.kubectl(
        cluster.kubeconfig,
        "create",
        "token",
        pod["spec"]["serviceAccountName"],
        "-n",
        chart.NAMESPACE,
        "--bound-object-kind=Pod",
        f"--bound-object-name={name}",
        f"--bound-object-uid={uid}",
        "--duration=1h",
    )
    assert token.returncode == 0, token.stderr
    token_file = base / "token"
    token_file.write_text(token.stdout.strip(), encoding="utf-8")
    token_file.chmod(0o600)

    # 4. The injected agent config, moved to run here, rendered by a real bao agent.
    moved = agent.localize(
        injector.injected_config(pod),
        vault_address=openbao.address,
        token_path=token_file,
        root=base / "fs",
        sink_path=base / "vault-token",
        pid_file=base / "agent.pid",
    )
    config_file = base / "agent.json"
    config_file.write_text(json.dumps(moved, indent=2), encoding="utf-8")
    log = base / "agent.log"
    with log.open("wb") as stream:
        ran = subprocess.run(
            [openbao.bao, "agent", f"-config={config_file}"],
            env={"HOME": str(base), "PATH": os.environ.get("PATH", ""), "TMPDIR": str(base)},
            stdout=stream,
            stderr=subprocess.STDOUT,
            timeout=AGENT_TIMEOUT,
            check=False,
        )
    # Only its [ERROR] entries are kept, each with its indented continuation lines (the agent never logs the
    # rendered contents).
    errors: list[str] = []
    in_error = False
    for line in log.read_text(errors="replace").splitlines():
        if "[ERROR]" in line:
            errors.append(line)
            in_error = True
        elif in_error and line[:1].isspace():
            errors[-1] += "\n" + line
        else:
            in_error = False

    discovery = chart.container(pod, "discovery")
    root_ca_dir = next(e["value"] for e in discovery["env"] if e["name"] == "ROOT_CA_DIR")
    fs = base / "fs"
    return Deployed(config, tree, pod, fs, fs / root_ca_dir.lstrip("/"), vault_env, ran.returncode, errors)


def istiod_started(cluster: Cluster, deployed: Deployed) -> dict[str, Any]:
    """What the kubelet and istiod would leave behind, stood in for: Pod status Running, and the root ConfigMap
    istiod publishes once it loaded its CA files (here from the agent's root-cert.pem, when it wrote one)."""
    pod = chart.mark_running(cluster, deployed.pod)
    root = deployed.ca_files / ROOT_CERT
    if root.is_file():
        injector.apply(cluster.kubeconfig, seed.root_config_map(chart.NAMESPACE, root.read_bytes()))
    return pod


@dataclass
class Verdict:
    code: int
    checks: list[dict[str, str]]
    stderr: str

    def status(self, check_id: str, target: str | None = None) -> str:
        found = [c["status"] for c in self.checks if c["id"] == check_id and target in (None, c["target"])]
        assert len(found) == 1, f"{check_id} {target or ''}: {found}"
        return found[0]

    def one(self, check_id: str) -> dict[str, str]:
        return next(c for c in self.checks if c["id"] == check_id)

    def failing(self) -> set[str]:
        return {c["id"] for c in self.checks if c["status"] in ("fail", "error")}


def verify(target: str, cluster: Cluster, deployed: Deployed, tmp_path: Path) -> Verdict:
    """``istio-vault-ca verify TARGET`` as a user runs it, kubectl exec answered by the stand-in."""
    standin = tmp_path / "standin-bin"
    standin.mkdir(exist_ok=True)
    launcher = standin / "kubectl"
    script = REPO / "tests" / "kube_stub" / "kubectl_standin.py"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n', encoding="utf-8")
    launcher.chmod(0o755)
    env = {
        **deployed.vault_env,
        "PATH": f"{standin}{os.pathsep}{deployed.vault_env['PATH']}",
        "KUBECTL_STANDIN_LOG": str(tmp_path / "kubectl-calls.jsonl"),
        # What the Pod's ca_dir holds: whatever the agent wrote there (nothing, when it wrote elsewhere).
        "KUBECTL_STANDIN_MAP": f"/vault/secrets={deployed.ca_files}",
        "KUBECTL_STANDIN_OWNER": "1337",
        "PYTHONPATH": str(REPO),
    }
    result = run_cli(
        "verify", target, "-c", deployed.config, "--kubeconfig", cluster.kubeconfig, "--output", "json", env=env
    )
    assert "Traceback" not in result.stderr, result.stderr
    checks = list(json.loads(result.stdout)["checks"])
    return Verdict(result.returncode, checks, result.stderr)


@pytest.fixture
def istio_system(kube_cluster: Cluster) -> Any:
    """The cluster; afterwards istiod's objects and the webhook configuration go (``istiod_chart.clean_up``)."""
    yield kube_cluster
    chart.clean_up(kube_cluster)


def test_healthy_istiod_gets_its_ca_files_through_openbaos_review_of_its_real_token(
    harness: Path,
    istio_system: Cluster,
    vault_injector: injector.Webhook,
    openbao: Any,
    tmp_path: Path,
) -> None:
    deployed = deploy(tmp_path, openbao, istio_system, vault_injector, harness, edit={})
    assert deployed.agent_code == 0, deployed.agent_errors[:5]
    assert sorted(p.name for p in deployed.ca_files.iterdir()) == sorted(CA_FILES)
    assert (deployed.ca_files / CA_KEY).stat().st_mode & 0o777 == 0o400
    istiod_started(istio_system, deployed)

    cluster_verdict = verify("cluster", istio_system, deployed, tmp_path)
    all_verdict = verify("all", istio_system, deployed, tmp_path)

    for verdict in (cluster_verdict, all_verdict):
        print({c["id"]: c["status"] for c in verdict.checks})
        print("warnings:", [(c["id"], c["finding"]) for c in verdict.checks if c["status"] == "warn"])
        assert verdict.failing() == set()
        assert verdict.code == 0, verdict.stderr
        for check_id in (
            "cluster.annotations-match",
            "cluster.root-ca-dir-matches-volume-path",
            "cluster.pod-injected",
            "pod.ca-files-present",
            "chain.key-matches-cert",
        ):
            found = [c["status"] for c in verdict.checks if c["id"] == check_id]
            assert found and set(found) == {"pass"}, verdict.one(check_id)
        root_map = "configmap/istio-system/istio-ca-root-cert"
        assert verdict.status("cluster.root-configmap-matches-vault", root_map) == "pass"
        # No kubelet, so no container log: the one check that reads it says so.
        assert verdict.status("cluster.istiod-ca-log") == "warn"
    vault_checks = {c["id"] for c in all_verdict.checks if c["id"].startswith("vault.")}
    warned = {"vault.k8s-auth-config", "vault.reachable"}
    assert vault_checks and all(all_verdict.status(i) == "pass" for i in vault_checks - warned)
    # The example says vault.flavor: vault and OpenBao answers: vault.reachable warns, naming the fix.
    reachable = all_verdict.one("vault.reachable")
    assert reachable["status"] == "warn" and "set vault.flavor: openbao" in reachable["hint"]
    # The one Vault warning: the config says in-cluster (kubernetes.default.svc), K8S_HOST pointed it here.
    auth_config = all_verdict.one("vault.k8s-auth-config")
    assert auth_config["status"] == "warn" and istio_system.server in auth_config["finding"]


def test_hand_changed_secret_volume_path_is_caught_with_the_real_pods_cause(
    harness: Path,
    istio_system: Cluster,
    vault_injector: injector.Webhook,
    openbao: Any,
    tmp_path: Path,
) -> None:
    """The source guide's mistake, made by hand in the rendered values: the real injector mounts the secret volume
    at /etc/cacerts-vault and the real agent writes the files there, while ROOT_CA_DIR stays /vault/secrets."""
    deployed = deploy(
        tmp_path, openbao, istio_system, vault_injector, harness, edit={"secret-volume-path": "/etc/cacerts-vault"}
    )
    assert deployed.agent_code == 0, deployed.agent_errors[:5]
    mounts = {m["mountPath"]: m["name"] for m in chart.container(deployed.pod, "discovery")["volumeMounts"]}
    assert mounts.get("/etc/cacerts-vault") == "vault-secrets" and "/vault/secrets" not in mounts
    written = deployed.fs / "etc" / "cacerts-vault"
    assert sorted(p.name for p in written.iterdir()) == sorted(CA_FILES)
    assert not deployed.ca_files.exists()
    istiod_started(istio_system, deployed)

    for target in ("cluster", "all"):
        verdict = verify(target, istio_system, deployed, tmp_path)
        print(target, "failing:", [(c["id"], c["finding"]) for c in verdict.checks if c["status"] == "fail"])
        assert verdict.code == 1
        mismatch = verdict.one("cluster.root-ca-dir-matches-volume-path")
        assert mismatch["status"] == "fail"
        assert "/etc/cacerts-vault" in mismatch["finding"] and "/vault/secrets" in mismatch["finding"]
        assert verdict.status("cluster.annotations-match") == "fail"
        assert P + "secret-volume-path" in verdict.one("cluster.annotations-match")["finding"]
        assert verdict.status("pod.ca-files-present") == "fail"
        # istiod never ran, so no root ConfigMap: the check fails without naming another root.
        root_map = verdict.one("cluster.root-configmap-matches-vault")
        assert root_map["status"] == "fail" and "no istio-ca-root-cert ConfigMap" in root_map["finding"]


def test_hand_changed_role_is_refused_by_openbao_and_caught_by_verify(
    harness: Path,
    istio_system: Cluster,
    vault_injector: injector.Webhook,
    openbao: Any,
    tmp_path: Path,
) -> None:
    """vault.hashicorp.com/role changed by hand: OpenBao refuses the real agent's login with istiod's real token,
    no file is written; the Pod's vault-agent-init keeps failing (its status patched so, as the kubelet would
    report it). verify names the changed annotation and the failing init container."""
    deployed = deploy(tmp_path, openbao, istio_system, vault_injector, harness, edit={"role": "istiod-by-hand"})
    print("agent:", deployed.agent_code, deployed.agent_errors[:3])
    assert deployed.agent_code != 0
    assert any('invalid role name "istiod-by-hand"' in line for line in deployed.agent_errors)
    assert not deployed.fs.exists() or not any(deployed.fs.rglob("*.pem"))
    chart.mark_init_failing(istio_system, deployed.pod, deployed.agent_code)

    for target in ("cluster", "all"):
        verdict = verify(target, istio_system, deployed, tmp_path)
        print(target, "failing:", [(c["id"], c["finding"]) for c in verdict.checks if c["status"] == "fail"])
        assert verdict.code == 1
        changed = verdict.one("cluster.annotations-match")
        assert (
            changed["status"] == "fail" and P + "role" in changed["finding"] and "istiod-by-hand" in changed["finding"]
        )
        assert verdict.status("cluster.agent-init-succeeded") == "fail"
