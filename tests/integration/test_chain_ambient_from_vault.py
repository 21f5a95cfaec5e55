"""`verify chain --from-vault` for an ambient cluster against a real OpenBao the rendered scripts set up: the
ztunnel checks judge the values the agent templates read, and a directory under a foreign root beside them fails
the fleet's shared-root check (each ztunnel trusts one root)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fidelity import corpus
from tests.vault_setup import EC_CONFIG, Configured, cli, configure

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Configured]:
    configured = configure(tmp_path_factory.mktemp("chain-ambient"), EC_CONFIG + "istiod:\n  data_plane: ambient\n")
    yield configured
    configured.server.stop()


def _chain(vault: Configured, *args: str) -> tuple[int, list[dict[str, str]]]:
    code, out, err = cli(
        vault.env,
        "verify",
        "chain",
        *args,
        "-c",
        "istio-vault-ca.yaml",
        "--output",
        "json",
        cwd=vault.config_path.parent,
    )
    assert out, err
    assert "PRIVATE KEY" not in out + err
    return code, json.loads(out)["checks"]


def test_the_values_vault_serves_pass_as_ztunnel_takes_them(vault: Configured) -> None:
    code, checks = _chain(vault, "--from-vault")
    assert code == 0, [c for c in checks if c["status"] == "fail"]
    by_id = {c["id"]: c for c in checks}
    assert by_id["chain.ztunnel-chain"]["status"] == "pass"
    assert by_id["chain.ztunnel-root"]["status"] == "pass"
    assert "chain.ztunnel-shared-root" not in by_id, "one target: no fleet to compare"
    code, checks = _chain(vault, "--from-vault", "--data-plane", "sidecar")
    assert not [c for c in checks if c["id"].startswith("chain.ztunnel")]


def test_a_directory_under_a_foreign_root_beside_vault_fails_the_shared_root(vault: Configured, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    corpus.CORPUS["vault_rsa"](foreign)
    code, checks = _chain(vault, str(foreign), "--from-vault")
    assert code == 1
    shared = [c for c in checks if c["id"] == "chain.ztunnel-shared-root"]
    assert len(shared) == 1 and shared[0]["status"] == "fail", shared
    assert str(foreign) in shared[0]["finding"] and "(cluster default)" in shared[0]["finding"]
