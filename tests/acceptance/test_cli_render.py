"""The generator commands as a user runs them: exit codes, messages and files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support import EXAMPLES, REPO

CLI = [sys.executable, "-m", "istio_vault_ca.verify.cli.parser"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, env=env, check=False)


def test_render_then_check_is_clean_and_byte_stable(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("render", "-c", str(EXAMPLES / "kv-v2.yaml"), "-o", str(out)).returncode == 0
    first = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert run("render", "-c", str(EXAMPLES / "kv-v2.yaml"), "-o", str(out)).returncode == 0
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == first
    check = run("render", "--check", "-c", str(EXAMPLES / "kv-v2.yaml"), "-o", str(out))
    assert check.returncode == 0 and "up to date" in check.stdout


def test_check_names_changed_missing_and_extra_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = str(EXAMPLES / "tsb-single-cluster.yaml")
    run("render", "-c", config, "-o", str(out))
    (out / "policy.hcl").write_text("edited\n")
    (out / "vault" / "06-policy.sh").unlink()
    (out / "stray.txt").write_text("x")
    result = run("render", "--check", "-c", config, "-o", str(out))
    assert result.returncode == 1
    assert "policy.hcl (differs)" in result.stderr
    assert "vault/06-policy.sh (missing)" in result.stderr
    assert "stray.txt (not rendered any more)" in result.stderr
    assert f"istio-vault-ca render -c {config} -o {out}" in result.stderr


def test_files_dropped_from_the_config_disappear(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run("render", "-c", str(EXAMPLES / "kv-v2.yaml"), "-o", str(out))
    assert (out / "istiod" / "istiod-helm-values.yaml").exists()
    run("render", "-c", str(EXAMPLES / "tsb-single-cluster.yaml"), "-o", str(out))
    assert not (out / "istiod" / "istiod-helm-values.yaml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "no staging directories are left behind"


def test_refuses_to_replace_a_directory_it_did_not_render(tmp_path: Path) -> None:
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    result = run("render", "-o", str(precious))
    assert result.returncode == 2
    assert "was not rendered by istio-vault-ca; refusing to replace it" in result.stderr
    assert (precious / "notes.txt").read_text() == "keep me"


def test_scripts_are_executable_and_data_files_are_not(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run("render", "-o", str(out))
    assert os.access(out / "vault" / "setup.sh", os.X_OK)
    assert not os.access(out / "policy.hcl", os.X_OK)


def test_default_config_is_the_local_file_else_built_in(tmp_path: Path) -> None:
    result = run("validate", cwd=tmp_path)
    assert result.returncode == 0 and "built-in default: valid" in result.stdout
    (tmp_path / "istio-vault-ca.yaml").write_text("istiod:\n  service_account: istiod\n")
    result = run("validate", cwd=tmp_path)
    assert result.returncode == 0 and "istio-vault-ca.yaml: valid" in result.stdout


def test_init_writes_a_starter_that_renders_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "istio-vault-ca.yaml"
    assert run("init", str(target)).returncode == 0
    assert "ca_dir: /vault/secrets" in target.read_text()
    again = run("init", str(target))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert run("render", "-c", str(target), "-o", str(tmp_path / "out")).returncode == 0


def test_schema_is_json_schema_of_the_model() -> None:
    result = run("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {
        "vault",
        "root",
        "intermediate",
        "kv",
        "istiod",
        "kubernetes_auth",
        "clusters",
    }


def test_help_and_unknown_command() -> None:
    assert run("--help").returncode == 0
    result = run("frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_committed_out_matches_the_default_config() -> None:
    result = run("render", "--check", "-o", str(REPO / "out"), cwd=REPO / "tests")
    assert result.returncode == 0, result.stderr
