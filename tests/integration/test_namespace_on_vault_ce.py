"""A namespaced config against a server that has no namespaces: setup.sh stops before writing anything.

Vault's community edition ignores X-Vault-Namespace (Vault 1.21.4 http/handler_stubs_oss.go `adjustRequest`
returns the request unchanged), so the scripts would configure the root namespace while the config says
otherwise. No community Vault binary runs here: the real OpenBao binary serves every call, behind a CLI that
answers `status` as a community Vault 1.21.4 does (its version line), which is what the script judges by."""

from __future__ import annotations

from pathlib import Path

import hvac
import pytest

from istio_vault_ca.verify.rehearsal.openbao import find_bao, start_dev_server
from tests.support import make_self_signed_ca_pem, render_into, require_openbao, run_setup
from tests.vault_setup import EC_CONFIG

pytestmark = pytest.mark.integration

NAMESPACED = EC_CONFIG + "vault:\n  namespace: team-a\n  audit:\n    enabled: false\n"


def community_vault_cli(directory: Path, version: str) -> Path:
    """`vault status -format=json` reports `version`; every other command is the real bao."""
    cli = directory / "vault-ce"
    status = "{\\n" + f'  "initialized": true,\\n  "sealed": false,\\n  "version": "{version}"\\n' + "}"
    cli.write_text(
        f'#!/bin/sh\nif [ "$1" = status ]; then printf \'{status}\\n\'; exit 0; fi\nexec {find_bao()} "$@"\n',
        encoding="utf-8",
    )
    cli.chmod(0o755)
    return cli


@pytest.mark.parametrize(("version", "refused"), [("1.21.4", True), ("1.21.4+ent", False)])
def test_setup_refuses_a_namespace_on_a_community_vault(tmp_path: Path, version: str, refused: bool) -> None:
    require_openbao()
    config_path = tmp_path / "istio-vault-ca.yaml"
    config_path.write_text(NAMESPACED, encoding="utf-8")
    tree = render_into(config_path, tmp_path / "out")
    server = start_dev_server(tmp_path / "openbao")
    try:
        kube_ca = tmp_path / "kubernetes-ca.crt"
        kube_ca.write_bytes(make_self_signed_ca_pem("test kubernetes CA"))
        env = server.env()
        env.update(K8S_CA_CERT_FILE=str(kube_ca), TMPDIR=str(tmp_path))
        env["VAULT_CLI"] = str(community_vault_cli(tmp_path, version))
        result = run_setup(tree, env)
        mounts = hvac.Client(url=server.address, token=server.token).sys.list_mounted_secrets_engines()["data"]
        if refused:
            assert result.returncode == 1, result.stdout + result.stderr
            assert f"Vault {version} at {server.address} is the community edition" in result.stderr
            assert "Vault Enterprise or OpenBao 2.3+" in result.stderr
            assert "pki/" not in mounts  # stopped before the first write
        else:
            # An Enterprise version passes the check; OpenBao underneath has no team-a yet, so the first
            # namespaced call fails there: the refusal above is the check's, not the server's.
            assert "is the community edition" not in result.stderr
    finally:
        server.stop()
