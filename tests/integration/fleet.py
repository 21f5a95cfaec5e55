"""Helpers of the fleet and offline-root tests: the rendered scripts and the CLI run as a user runs them against
an OpenBao dev server, and an offline root made at test time (nothing secret is committed)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hvac
from cryptography import x509

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import ClusterPlan, plan
from istio_vault_ca.generator.pki import factory
from tests.support import EXAMPLES, render_into, run_cli


def run(tree: Path, env: dict[str, str], script: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(tree / script)], env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, env=env, timeout=120)


def client(env: dict[str, str]) -> Any:
    return hvac.Client(url=env["VAULT_ADDR"], token=env["VAULT_TOKEN"])


def plans_of(config_path: Path) -> tuple[ClusterPlan, ...]:
    return plan(load(str(config_path)).config)


def make_root(directory: Path, common_name: str = "test offline root") -> tuple[Path, Path, x509.Certificate]:
    """A root made with cryptography at test time: nothing secret is committed."""
    directory.mkdir(parents=True, exist_ok=True)
    root = factory.self_signed_ca(common_name, lifetime=dt.timedelta(days=3650))
    cert_path, key_path = directory / "root-ca.pem", directory / "root-ca.key"
    cert_path.write_bytes(root.pem)
    key_path.write_bytes(root.private_pem())
    key_path.chmod(0o600)
    return cert_path, key_path, root.cert


def offline_setup(
    tmp_path: Path, env: dict[str, str], only: str | None = None
) -> tuple[Path, Path, Path, x509.Certificate, tuple[ClusterPlan, ...]]:
    """The external-root example beside its root certificate (the key kept elsewhere); phase one run."""
    work = tmp_path / "work"
    work.mkdir()
    config = work / "istio-vault-ca.yaml"
    shutil.copy(EXAMPLES / "external-root.yaml", config)
    root_cert, key_beside_cert, root = make_root(work / "offline-root")
    root_key = Path(shutil.move(key_beside_cert, tmp_path / "root-ca.key"))
    tree = render_into(config, work / "out")
    plans = tuple(p for p in plans_of(config) if only in (None, p.name))
    for script in ["root/vault/setup.sh", *(f"clusters/{p.name}/vault/setup.sh" for p in plans)]:
        result = run(tree, env, script, cwd=work)
        assert result.returncode == 0, f"{script}: {result.stderr}"
        assert "PRIVATE KEY" not in result.stdout + result.stderr
    assert root_cert.exists()
    return work, tree, root_key, root, plans


def sign_csr(
    env: dict[str, str], work: Path, root_key: Path, name: str, root_cert: str = "offline-root/root-ca.pem"
) -> subprocess.CompletedProcess[str]:
    return cli(
        env,
        "sign-intermediate",
        "--root-cert",
        root_cert,
        "--root-key",
        str(root_key),
        "--csr",
        f"csr/{name}-intermediate.csr",
        "--ttl",
        "8760h",
        "-o",
        f"csr/{name}-intermediate.pem",
        cwd=work,
    )
