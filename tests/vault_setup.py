"""A real OpenBao dev server configured by the rendered vault/setup.sh, for the tests that need a live Vault."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import plan
from istio_vault_ca.verify.checks.result import CheckResult
from istio_vault_ca.verify.checks.vault import check_vault
from istio_vault_ca.verify.clients.vault import Settings, VaultApi
from istio_vault_ca.verify.rehearsal.openbao import DevServer, start_dev_server
from tests.support import (
    REPO,
    make_self_signed_ca_pem,
    render_into,
    require_openbao,
    run_cli,
    run_setup,
    server_under_test,
)

# Fast keys for the drift servers: the checks do not depend on the key type, and EC exercises the non-RSA paths.
EC_CONFIG = "root:\n  key_type: ec\n  key_bits: 256\nintermediate:\n  key_type: ec\n  key_bits: 256\n"


@dataclass
class Configured:
    """A dev server on which the rendered vault/setup.sh ran, and the config it came from."""

    server: DevServer
    config_path: Path
    tree: Path
    env: dict[str, str]

    def client(self) -> Any:
        return hvac.Client(url=self.server.address, token=self.server.token)

    def check(self) -> dict[str, CheckResult]:
        config = load(str(self.config_path)).config
        api = VaultApi(Settings(self.server.address, self.server.token, True, None))
        results = check_vault(api, config, plan(config))
        by_id = {r.id: r for r in results}
        assert len(by_id) == len(results)
        return by_id


def configure(workdir: Path, config_text: str) -> Configured:
    require_openbao()
    binary, kind = server_under_test()
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "istio-vault-ca.yaml"
    config_path.write_text(config_text, encoding="utf-8")
    tree = render_into(config_path, workdir / "out")
    server = start_dev_server(workdir / "openbao", binary=binary, kind=kind)
    kube_ca = workdir / "kubernetes-ca.crt"
    kube_ca.write_bytes(make_self_signed_ca_pem("test kubernetes CA"))
    env = server.env()
    env.update(AUDIT_FILE_PATH=str(workdir / "vault-audit.log"), K8S_CA_CERT_FILE=str(kube_ca), TMPDIR=str(workdir))
    result = run_setup(tree, env)
    if result.returncode != 0:
        server.stop()
        raise AssertionError(f"vault/setup.sh failed:\n{result.stdout}\n{result.stderr}")
    return Configured(server, config_path, tree, env)


def cli(env: dict[str, str], *args: str, cwd: Path = REPO) -> tuple[int, str, str]:
    """The CLI in a new process with exactly `env` (plus this checkout on PYTHONPATH): exit code, stdout, stderr."""
    result = run_cli(*args, cwd=cwd, env={**env, "PYTHONPATH": str(REPO)}, timeout=120)
    return result.returncode, result.stdout, result.stderr
