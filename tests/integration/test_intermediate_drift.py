"""Issue 27 §1: a config change to a CA the scripts keep is reported by step 04, failed by `verify vault` and
made due by `plan-rotation`, as the user met it.

From a working default setup (RSA-4096, 5-year intermediate) the user changes intermediate.common_name,
key_type, key_bits and ttl, re-renders and re-runs setup.sh against a real OpenBao. Step 04 keeps the old
intermediate (it never replaces a CA) but says, field by field, what the config asks for and what Vault holds;
`verify vault` fails with the forced rotation as the hint; `plan-rotation` lists the cluster due because the
config changed, and the script it writes issues the intermediate the config describes.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from istio_vault_ca.generator.config.loader import STARTER
from istio_vault_ca.generator.config.plan import INTERMEDIATE_KEY_NAME
from tests.support import render_into, run_setup
from tests.vault_setup import EC_CONFIG, Configured, cli, configure

CHANGES = {
    "  common_name: example.com Intermediate Authority\n": "  common_name: mesh.example Intermediate CA\n",
    "  ttl: 43800h ": "  ttl: 8760h ",
    "  key_type: rsa\n  key_bits: 4096\n  max_path_length": "  key_type: ec\n  key_bits: 256\n  max_path_length",
}


@pytest.fixture
def default_setup(tmp_path: Path) -> Iterator[Configured]:
    configured = configure(tmp_path / "default", STARTER.read_text(encoding="utf-8"))
    yield configured
    configured.server.stop()


def _change_the_intermediate(config_path: Path) -> None:
    text = config_path.read_text(encoding="utf-8")
    for old, new in CHANGES.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    config_path.write_text(text, encoding="utf-8")


def _verify(vault: Configured) -> tuple[int, dict[str, dict[str, str]]]:
    code, out, err = cli(vault.env, "verify", "vault", "-c", str(vault.config_path), "--output", "json")
    assert out, err
    return code, {c["id"]: c for c in json.loads(out)["checks"]}


@pytest.mark.integration
def test_a_changed_intermediate_is_reported_failed_and_due(default_setup: Configured) -> None:
    vault = default_setup
    code, checks = _verify(vault)
    assert code == 0 and checks["vault.intermediate-config"]["status"] == "pass", checks

    _change_the_intermediate(vault.config_path)
    render_into(vault.config_path, vault.tree)
    rerun = run_setup(vault.tree, vault.env)
    output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, output
    see = "keeping it, see istio-vault-ca plan-rotation --force default"
    for line in (
        "the config asks for intermediate.common_name 'mesh.example Intermediate CA', "
        f"Vault holds 'example.com Intermediate Authority': {see}",
        f"the config asks for intermediate.key_type ec, Vault holds rsa: {see}",
        f"the config asks for intermediate.ttl at most 8760h, Vault holds a CA valid 43800h: {see}",
    ):
        assert f"[intermediate-pki] {line}\n" in output, output
    assert "3 difference(s) from the config above" in output
    assert "already exist and match the config" not in output
    # The root still matches: step 02 says so, and nothing about the root is reported.
    assert "a root CA already exists in pki/ and matches the config" in output

    code, checks = _verify(vault)
    assert code == 1
    failing = {i: c for i, c in checks.items() if c["status"] == "fail"}
    assert set(failing) == {"vault.intermediate-config"}, failing  # step 04 tuned the mount to the new TTL
    finding = failing["vault.intermediate-config"]["finding"]
    assert "intermediate.common_name: the config asks for 'mesh.example Intermediate CA'" in finding
    assert "intermediate.key_type: the config asks for ec, Vault holds rsa" in finding
    assert "intermediate.ttl: the config asks for at most 8760h, Vault holds a CA valid 43800h" in finding
    hint = failing["vault.intermediate-config"]["hint"]
    assert f"istio-vault-ca plan-rotation -c {vault.config_path} --force default" in hint, hint
    assert all(c["hint"] for c in failing.values())

    code, out, err = cli(vault.env, "plan-rotation", "-c", str(vault.config_path), "-o", str(vault.tree.parent / "rot"))
    assert code == 1, out + err
    assert "cluster default: DUE (CONFIG CHANGED) " in out and "-> default/rotate-intermediate.sh" in out, out
    assert "note: config changed: intermediate.common_name" in out

    # Following the hint: the rotation issues the configured intermediate, and Vault then matches the config.
    rotated = subprocess.run(
        ["bash", str(vault.tree.parent / "rot/default/rotate-intermediate.sh")],
        env=vault.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    again = run_setup(vault.tree, vault.env)
    assert again.returncode == 0 and "already exist and match the config" in again.stdout, again.stdout
    code, checks = _verify(vault)
    assert checks["vault.intermediate-config"]["status"] == "pass", checks["vault.intermediate-config"]
    assert code == 0, {i: c["finding"] for i, c in checks.items() if c["status"] != "pass"}


ROOT_CHANGES = {
    "  common_name: example.com Root CA\n": "  common_name: mesh.example Root CA\n",
    "  ttl: 87600h ": "  ttl: 70080h ",
}


@pytest.mark.integration
def test_a_changed_root_is_reported_and_failed_with_the_root_rotation(default_setup: Configured) -> None:
    """root.common_name and root.ttl changed: step 02 keeps the root and says so; the intermediate under it is not
    blamed for its issuer (a forced intermediate rotation would not fix the root), and plan-rotation forces nothing."""
    vault = default_setup
    text = vault.config_path.read_text(encoding="utf-8")
    for old, new in ROOT_CHANGES.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    vault.config_path.write_text(text, encoding="utf-8")
    render_into(vault.config_path, vault.tree)
    rerun = run_setup(vault.tree, vault.env)
    output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, output
    see = "keeping it, see istio-vault-ca plan-rotation --root"
    assert (
        "[root-pki] the config asks for root.common_name 'mesh.example Root CA', Vault holds 'example.com Root CA': "
        f"{see}\n" in output
    ), output
    assert f"[root-pki] the config asks for root.ttl at most 70080h, Vault holds a CA valid 87600h: {see}\n" in output
    assert "kept the root CA in pki/ (2 difference(s) from the config above" in output
    assert "already exist and match the config; keeping both" in output

    code, checks = _verify(vault)
    assert code == 1
    failing = {i: c for i, c in checks.items() if c["status"] == "fail"}
    assert set(failing) == {"vault.root-cn", "vault.root-config"}, failing
    assert all("plan-rotation" in c["hint"] and "--root" in c["hint"] for c in failing.values()), failing
    assert checks["vault.intermediate-config"]["status"] == "pass"

    code, out, err = cli(vault.env, "plan-rotation", "-c", str(vault.config_path), "-o", str(vault.tree.parent / "rot"))
    assert "rotate-intermediate.sh" not in out and "DUE (CONFIG CHANGED)" not in out, out + err
    assert "note: config changed: root.common_name: the config asks for 'mesh.example Root CA'" in out, out


@pytest.fixture
def ec_setup(tmp_path: Path) -> Iterator[Configured]:
    configured = configure(tmp_path / "ec", EC_CONFIG)
    yield configured
    configured.server.stop()


@pytest.mark.integration
def test_resuming_with_a_key_of_another_type_says_so(ec_setup: Configured) -> None:
    """An earlier run stopped after generating (and storing) an RSA key; the config now asks for EC: step 04 resumes
    with that key, since Vault never exports it twice, and says the key type differs."""
    vault = ec_setup
    env = vault.env
    bao = ["vault"]  # the dev server's env puts bao on PATH as `vault`, as the scripts call it

    def run(*args: str) -> None:
        result = subprocess.run([*bao, *args], env=env, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr

    run("secrets", "enable", "-path=fresh", "pki")
    key = subprocess.run(
        [
            *bao,
            "write",
            "-field=private_key",
            "fresh/keys/generate/exported",
            f"key_name={INTERMEDIATE_KEY_NAME}",
            "key_type=rsa",
            "key_bits=2048",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert key.returncode == 0, key.stderr
    run("kv", "put", "-mount=kv", "fresh", f"ca-key.pem={key.stdout}")
    text = vault.config_path.read_text(encoding="utf-8")
    vault.config_path.write_text(text + "clusters:\n- {name: default, intermediate_mount: fresh, kv_path: fresh}\n")
    render_into(vault.config_path, vault.tree)
    step = run_setup(vault.tree, env, "vault/04-intermediate-pki.sh")
    output = step.stdout + step.stderr
    assert step.returncode == 0, output
    assert "resuming with key istiod-intermediate generated by an earlier run" in output
    assert (
        "the config asks for intermediate.key_type ec, Vault holds a rsa key from that run: keeping it, see "
        "istio-vault-ca plan-rotation --force default" in output
    ), output
    assert key.stdout.strip().splitlines()[1] not in output
