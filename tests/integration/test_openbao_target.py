"""An OpenBao target (vault.flavor: openbao) against a real OpenBao dev server run as production OpenBao runs:
the rendered audit stanza in its config and no `unsafe_allow_api_audit_creation`, so the server refuses audit
devices over the API exactly as an OpenBao 2.x server in production does.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.model import Config
from istio_vault_ca.generator.config.plan import plan
from istio_vault_ca.verify.checks.vault import check_vault
from istio_vault_ca.verify.clients.vault import Settings, VaultApi
from istio_vault_ca.verify.rehearsal.openbao import DevServer, start_dev_server
from tests.support import make_self_signed_ca_pem, render_into, require_openbao, run_setup

pytestmark = pytest.mark.integration

# EC keys: quick to generate; nothing here depends on the key type.
CONFIG = """\
vault:
  cli: bao
  flavor: openbao
  audit: {{file_path: {audit_log}}}
root: {{key_type: ec, key_bits: 256}}
intermediate: {{key_type: ec, key_bits: 256}}
"""


@dataclass
class Target:
    config_path: Path
    tree: Path
    workdir: Path

    def start(self, server_config: str) -> DevServer:
        return start_dev_server(
            self.workdir / f"openbao-{len(list(self.workdir.glob('openbao-*')))}", server_config=server_config
        )

    def env(self, server: DevServer) -> dict[str, str]:
        kube_ca = self.workdir / "kubernetes-ca.crt"
        if not kube_ca.exists():
            kube_ca.write_bytes(make_self_signed_ca_pem("test kubernetes CA"))
        env = server.env()
        env.pop("AUDIT_FILE_PATH", None)  # the config's file_path is the one the stanza declares
        env.update(K8S_CA_CERT_FILE=str(kube_ca), TMPDIR=str(self.workdir))
        return env


@pytest.fixture
def target(tmp_path: Path) -> Target:
    require_openbao()
    config_path = tmp_path / "istio-vault-ca.yaml"
    config_path.write_text(CONFIG.format(audit_log=tmp_path / "openbao-audit.log"), encoding="utf-8")
    return Target(config_path, render_into(config_path, tmp_path / "out"), tmp_path)


@pytest.fixture
def declared(target: Target) -> Iterator[tuple[Target, DevServer]]:
    """A server started with only the rendered openbao/audit.hcl as its config."""
    server = target.start((target.tree / "openbao/audit.hcl").read_text(encoding="utf-8"))
    try:
        yield target, server
    finally:
        server.stop()


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("[audit] ERROR:")]


def test_setup_passes_twice_with_only_the_rendered_stanza(declared: tuple[Target, DevServer]) -> None:
    target, server = declared
    assert "unsafe_allow_api_audit_creation" not in (server.workdir / "server.hcl").read_text(encoding="utf-8")
    env = target.env(server)
    refused = subprocess.run(
        ["bao", "audit", "enable", "-path=probe", "file", f"file_path={target.workdir / 'probe.log'}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0 and "declarative" in refused.stderr, "this server must refuse API audit devices"
    for run in ("first", "second"):
        result = run_setup(target.tree, env)
        assert result.returncode == 0, f"{run} run:\n{result.stdout}\n{result.stderr}"
        assert f"[audit] declared audit device file/ writes {target.workdir / 'openbao-audit.log'}" in result.stdout
    assert (target.workdir / "openbao-audit.log").stat().st_size > 0, "the declared device logs the setup"


def test_missing_stanza_stops_step_01_with_one_line(target: Target) -> None:
    server = target.start("")
    try:
        result = run_setup(target.tree, target.env(server), "vault/01-audit.sh")
    finally:
        server.stop()
    assert result.returncode == 1
    (line,) = _error_lines(result.stderr)
    assert "no audit device at file/: OpenBao loads audit devices only from its server config" in line
    assert "add openbao/audit.hcl" in line and "restart the server" in line
    assert "declarative" not in result.stderr, "our explanation, not the raw CLI error"


def test_a_device_declared_with_another_file_is_named(target: Target) -> None:
    other = target.workdir / "elsewhere.log"
    server = target.start(f'audit "file" "file/" {{\n  options {{\n    file_path = "{other}"\n  }}\n}}\n')
    try:
        result = run_setup(target.tree, target.env(server), "vault/01-audit.sh")
    finally:
        server.stop()
    assert result.returncode == 1
    (line,) = _error_lines(result.stderr)
    assert f"file_path={other}" in line and "set vault.audit.file_path (or AUDIT_FILE_PATH)" in line


def test_verify_vault_recognises_openbao_and_the_declared_device(declared: tuple[Target, DevServer]) -> None:
    target, server = declared
    assert run_setup(target.tree, target.env(server)).returncode == 0
    config = load(str(target.config_path)).config
    results = {
        r.id: r for r in check_vault(VaultApi(Settings(server.address, server.token, True, None)), config, plan(config))
    }
    assert "(OpenBao)" in results["vault.reachable"].finding
    assert "the config says" not in results["vault.reachable"].finding
    assert results["vault.audit-device"].status.value == "pass"
    assert results["vault.audit-device"].finding.startswith("declared file audit device file/ writes")
    assert all(r.status.value in ("pass", "skip") for r in results.values()), [
        (r.id, r.finding) for r in results.values() if r.status.value not in ("pass", "skip")
    ]


def test_verify_vault_explains_a_missing_declared_device(target: Target) -> None:
    server = target.start("")
    try:
        config = load(str(target.config_path)).config
        api = VaultApi(Settings(server.address, server.token, True, None))
        results = {r.id: r for r in check_vault(api, config, plan(config))}
    finally:
        server.stop()
    audit = results["vault.audit-device"]
    assert audit.status.value == "fail" and "no audit device at file/" in audit.finding
    assert 'declare audit "file" "file/" { options { file_path =' in audit.hint
    assert "openbao/audit.hcl" in audit.hint


def test_vault_config_against_openbao_is_told_its_flavor(openbao: DevServer) -> None:
    default = Config()
    results = {
        r.id: r
        for r in check_vault(VaultApi(Settings(openbao.address, openbao.token, True, None)), default, plan(default))
    }
    reachable = results["vault.reachable"]
    # A mismatch to fix, so a WARN with the fix as its hint (not a PASS carrying the advice).
    assert reachable.status.value == "warn"
    assert "(OpenBao)" in reachable.finding and "but the config says vault.flavor: vault" in reachable.finding
    assert reachable.hint.startswith("set vault.flavor: openbao in the config and render again")
