"""Issue 13 item 14: `verify chain --from-vault` involves no agent, so its hints talk about Vault paths.

As a user meets it: the rendered scripts ran against a real OpenBao, a value the agent templates read is broken
in Vault, and `verify chain --from-vault -c istio-vault-ca.yaml` runs from the config's directory. The same
breakage in a directory of files keeps the agent's hint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vault_setup import EC_CONFIG, Configured, cli, configure

AGENT_WORDS = ("agent", "injector", "re-render")


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Configured]:
    configured = configure(tmp_path_factory.mktemp("chain-hints"), EC_CONFIG)
    yield configured
    configured.server.stop()


@pytest.fixture
def stored_key(vault: Configured) -> Iterator[str]:
    """The stored key, put back after the test (never printed)."""
    client = vault.client()
    key: str = client.read("kv/istioca")["data"]["ca-key.pem"]
    yield key
    client.write("kv/istioca", **{"ca-key.pem": key})


def chain_from_vault(vault: Configured) -> tuple[int, dict[str, dict[str, str]]]:
    code, out, err = cli(
        vault.env,
        "verify",
        "chain",
        "--from-vault",
        "-c",
        "istio-vault-ca.yaml",
        "--output",
        "json",
        cwd=vault.config_path.parent,
    )
    assert out, err
    return code, {c["id"]: c for c in json.loads(out)["checks"]}


@pytest.mark.integration
def test_a_missing_kv_key_hint_names_vault_paths_not_the_agent(vault: Configured, stored_key: str) -> None:
    vault.client().delete("kv/istioca")
    code, checks = chain_from_vault(vault)
    assert code == 1
    present = checks["chain.file-present"]
    assert present["status"] == "fail"
    assert "ca-key.pem from kv/istioca missing" in present["finding"]
    assert not any(word in present["hint"] for word in AGENT_WORDS), present["hint"]
    assert "vault/setup.sh" in present["hint"] and "istio-vault-ca verify vault" in present["hint"]


@pytest.mark.integration
def test_a_stored_value_that_is_not_pem_hint_names_vault_paths_not_the_agent(
    vault: Configured, stored_key: str
) -> None:
    vault.client().write("kv/istioca", **{"ca-key.pem": "not a key"})
    code, checks = chain_from_vault(vault)
    assert code == 1
    parsed = checks["chain.pem"]
    assert parsed["status"] == "fail" and "ca-key.pem from kv/istioca is not PEM" in parsed["finding"]
    assert not any(word in parsed["hint"] for word in AGENT_WORDS), parsed["hint"]
    assert "Vault paths" in parsed["hint"]


def test_files_in_a_directory_keep_the_agents_hint(tmp_path: Path) -> None:
    ca = tmp_path / "ca"
    ca.mkdir()
    (ca / "ca-key.pem").write_text("not a key", encoding="utf-8")
    code, out, err = cli({"PATH": "/usr/bin:/bin"}, "verify", "chain", "ca", "--output", "json", cwd=tmp_path)
    assert code == 1, err
    checks = {c["id"]: c for c in json.loads(out)["checks"]}
    assert "agent's logs" in checks["chain.file-present"]["hint"]
    assert "agent templates" in checks["chain.pem"]["hint"]
