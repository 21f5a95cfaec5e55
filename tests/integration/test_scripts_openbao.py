"""The rendered scripts, run unchanged against a real OpenBao dev server (`vault` resolves to bao)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import hvac
import pytest
from cryptography import x509

from tests.support import EXAMPLES, render_into, run_setup

pytestmark = pytest.mark.integration


def client(env: dict[str, str]) -> Any:
    return hvac.Client(url=env["VAULT_ADDR"], token=env["VAULT_TOKEN"])


def state(
    env: dict[str, str],
    *,
    kv_version: int,
    kv_mount: str = "kv",
    kv_path: str = "istioca",
    root_mount: str = "pki",
    int_mount: str = "istioca",
) -> dict[str, str]:
    """What must never change on a re-run: CA serials and a digest of the stored key (never the key)."""
    vault = client(env)
    root = x509.load_pem_x509_certificate(vault.read(f"{root_mount}/cert/ca")["data"]["certificate"].encode())
    intermediate = x509.load_pem_x509_certificate(vault.read(f"{int_mount}/cert/ca")["data"]["certificate"].encode())
    if kv_version == 2:
        stored = vault.secrets.kv.v2.read_secret_version(
            path=kv_path, mount_point=kv_mount, raise_on_deleted_version=True
        )
        key = stored["data"]["data"]["ca-key.pem"]
    else:
        key = vault.secrets.kv.v1.read_secret(path=kv_path, mount_point=kv_mount)["data"]["ca-key.pem"]
    return {
        "root": format(root.serial_number, "x"),
        "intermediate": format(intermediate.serial_number, "x"),
        "key_sha256": hashlib.sha256(key.encode()).hexdigest(),
        "policy": vault.sys.read_policy("istioca")["data"]["rules"],
    }


@pytest.mark.parametrize(("example", "kv_version"), [("tsb-single-cluster", 1), ("kv-v2", 2)])
def test_first_run_configures_second_changes_nothing(
    example: str, kv_version: int, tmp_path: Path, script_env: dict[str, str]
) -> None:
    tree = render_into(EXAMPLES / f"{example}.yaml", tmp_path / "out")
    first = run_setup(tree, script_env)
    assert first.returncode == 0, first.stderr
    assert "generated the root CA" in first.stdout
    assert "stored its copy in kv/istioca" in first.stdout
    before = state(script_env, kv_version=kv_version)

    second = run_setup(tree, script_env)
    assert second.returncode == 0, second.stderr
    assert "keeping it" in second.stdout and "keeping both" in second.stdout
    assert "enabled" not in second.stdout.replace("already", "")
    assert state(script_env, kv_version=kv_version) == before

    vault = client(script_env)
    chain = vault.read("istioca/cert/ca_chain")["data"]["certificate"]
    certs = x509.load_pem_x509_certificates(chain.encode())
    root = x509.load_pem_x509_certificate(vault.read("pki/cert/ca")["data"]["certificate"].encode())
    assert [c.subject for c in certs][-1] == root.subject, "cert/ca_chain must end with the root"
    intermediate = certs[0]
    assert intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    lifetime = intermediate.not_valid_after_utc - intermediate.not_valid_before_utc
    assert lifetime.days >= 43800 // 24 - 1, "the signing mount must grant the requested intermediate TTL"
    assert vault.sys.read_mount_configuration("pki")["data"]["max_lease_ttl"] == 87600 * 3600
    assert (tmp_path / "vault-audit.log").exists()
    role = vault.auth.kubernetes.read_role("istiod", mount_point="kubernetes")
    assert role["bound_service_account_names"] == ["istiod-service-account"]
    assert role["bound_service_account_namespaces"] == ["istio-system"]
    assert role["token_policies"] == ["istioca"]
    for output in (first.stdout + first.stderr, second.stdout + second.stderr):
        assert "PRIVATE KEY" not in output


def test_existing_stored_key_is_never_overwritten(tmp_path: Path, script_env: dict[str, str]) -> None:
    tree = render_into(EXAMPLES / "tsb-single-cluster.yaml", tmp_path / "out")
    vault = client(script_env)
    vault.sys.enable_secrets_engine("kv", path="kv", options={"version": "1"})
    vault.secrets.kv.v1.create_or_update_secret(path="istioca", secret={"ca-key.pem": "precious"}, mount_point="kv")
    result = run_setup(tree, script_env)
    assert result.returncode == 1
    assert "already holds a CA key" in result.stderr and "refusing to overwrite" in result.stderr
    assert vault.secrets.kv.v1.read_secret(path="istioca", mount_point="kv")["data"]["ca-key.pem"] == "precious"


def test_interrupted_run_resumes_with_the_same_key(tmp_path: Path, script_env: dict[str, str]) -> None:
    """A run that stored the key but died before signing: the next run signs that same key."""
    tree = render_into(EXAMPLES / "tsb-single-cluster.yaml", tmp_path / "out")
    for step in ("01-audit.sh", "02-root-pki.sh", "03-kv.sh"):
        assert run_setup(tree, script_env, f"vault/{step}").returncode == 0
    vault = client(script_env)
    vault.sys.enable_secrets_engine("pki", path="istioca")
    exported = vault.write(
        "istioca/keys/generate/exported", key_name="istiod-intermediate", key_type="rsa", key_bits=2048
    )
    vault.secrets.kv.v1.create_or_update_secret(
        path="istioca", secret={"ca-key.pem": exported["data"]["private_key"]}, mount_point="kv"
    )
    result = run_setup(tree, script_env)
    assert result.returncode == 0, result.stderr
    assert "resuming with key istiod-intermediate" in result.stdout
    cert = x509.load_pem_x509_certificate(vault.read("istioca/cert/ca")["data"]["certificate"].encode())
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(exported["data"]["private_key"].encode(), password=None)
    assert cert.public_key() == key.public_key()


def test_intermediate_without_stored_key_stops_with_advice(tmp_path: Path, script_env: dict[str, str]) -> None:
    tree = render_into(EXAMPLES / "tsb-single-cluster.yaml", tmp_path / "out")
    assert run_setup(tree, script_env).returncode == 0
    client(script_env).secrets.kv.v1.delete_secret(path="istioca", mount_point="kv")
    result = run_setup(tree, script_env)
    assert result.returncode == 1
    assert "its key is not in kv/istioca" in result.stderr and "plan-rotation" in result.stderr


def test_mount_of_wrong_type_is_not_touched(tmp_path: Path, script_env: dict[str, str]) -> None:
    tree = render_into(EXAMPLES / "tsb-single-cluster.yaml", tmp_path / "out")
    client(script_env).sys.enable_secrets_engine("kv", path="pki")
    result = run_setup(tree, script_env)
    assert result.returncode == 1
    assert "pki/ is already a 'kv' mount, not 'pki'" in result.stderr


@pytest.mark.parametrize(
    ("example", "existing", "options"),
    [("kv-v2", 1, {"version": "1"}), ("kv-v2", 1, None), ("tsb-single-cluster", 2, {"version": "2"})],
    ids=["v1-with-options-vs-v2", "v1-without-options-vs-v2", "v2-vs-v1"],
)
def test_kv_version_mismatch_is_refused(
    example: str, existing: int, options: dict[str, str] | None, tmp_path: Path, script_env: dict[str, str]
) -> None:
    tree = render_into(EXAMPLES / f"{example}.yaml", tmp_path / "out")
    client(script_env).sys.enable_secrets_engine("kv", path="kv", options=options)
    result = run_setup(tree, script_env)
    assert result.returncode == 1
    wanted = 3 - existing
    assert f"kv/ is KV version {existing} but the config says {wanted}" in result.stderr


def test_unreachable_and_unauthenticated_vault_are_explained(tmp_path: Path, script_env: dict[str, str]) -> None:
    tree = render_into(EXAMPLES / "tsb-single-cluster.yaml", tmp_path / "out")
    down = dict(script_env, VAULT_ADDR="http://127.0.0.1:9")
    result = run_setup(tree, down)
    assert result.returncode == 1 and "cannot reach Vault at http://127.0.0.1:9" in result.stderr
    denied = dict(script_env, VAULT_TOKEN="not-a-token")
    result = run_setup(tree, denied)
    assert result.returncode == 1 and "not authenticated to Vault" in result.stderr
    missing_cli = dict(script_env, VAULT_CLI="no-such-vault-cli")
    result = run_setup(tree, missing_cli)
    assert result.returncode == 1 and "'no-such-vault-cli' CLI is not on PATH" in result.stderr


def test_key_material_only_in_private_temp_dirs_and_removed(tmp_path: Path, script_env: dict[str, str]) -> None:
    tree = render_into(EXAMPLES / "tsb-single-cluster.yaml", tmp_path / "out")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = run_setup(tree, dict(script_env, TMPDIR=str(scratch)))
    assert result.returncode == 0, result.stderr
    assert list(scratch.iterdir()) == [], "work directories must be removed on exit"


def test_ttl_messages_use_the_configs_units(tmp_path: Path, script_env: dict[str, str]) -> None:
    tree = render_into(EXAMPLES / "tsb-single-cluster.yaml", tmp_path / "out")
    first = run_setup(tree, script_env)
    assert first.returncode == 0, first.stderr
    # A new mount is enabled with its max lease TTL (one CLI call, not enable then tune).
    assert "enabled the pki secrets engine at pki/ with max lease TTL 87600h" in first.stdout
    second = run_setup(tree, script_env)
    assert second.returncode == 0, second.stderr
    assert "pki/ max lease TTL is 87600h (unchanged)" in second.stdout
    assert "istioca/ max lease TTL is 43800h (unchanged)" in second.stdout
    assert "315360000" not in first.stdout + second.stdout
