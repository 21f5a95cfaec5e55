"""Issue 27 §5: Vault's answers classified by status and body, so each message points the right way.

A namespace that does not exist on a real OpenBao (it answers 404 "namespace not found") is named as such, not
read as an empty Vault nor as a bad token; a server at VAULT_ADDR that is not Vault (a load balancer's 502/503
page, a web server's 404 or 200) is named as such, never as "sealed". Each runs `verify vault` as a user does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from istio_vault_ca.verify.rehearsal.openbao import DevServer, start_dev_server
from tests.http_answers import answering
from tests.support import require_openbao, run_cli, validate_json_shape


def environment(tmp_path: Path, address: str, token: str = "t") -> dict[str, str]:  # noqa: S107 - a made-up token
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(HOME=str(tmp_path), VAULT_ADDR=address, VAULT_TOKEN=token)
    return env


def write_config(tmp_path: Path, address: str, namespace: str | None = None) -> Path:
    path = tmp_path / "istio-vault-ca.yaml"
    text = f"vault:\n  address: {address}\n" + (f"  namespace: {namespace}\n" if namespace else "")
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def openbao_server(tmp_path: Path) -> Iterator[DevServer]:
    require_openbao()
    server = start_dev_server(tmp_path / "openbao")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.integration
@pytest.mark.parametrize("output", ["text", "json"])
def test_a_missing_namespace_is_named(tmp_path: Path, openbao_server: DevServer, output: str) -> None:
    config = write_config(tmp_path, openbao_server.address, namespace="no-such-team")
    env = environment(tmp_path, openbao_server.address, openbao_server.token)
    result = run_cli("verify", "vault", "-c", config, "--output", output, env=env)
    assert "Traceback" not in result.stderr
    assert result.returncode == 3, result.stdout + result.stderr
    assert "has no namespace 'no-such-team'" in result.stderr
    assert "VAULT_TOKEN" not in result.stderr and "sealed" not in result.stderr
    assert "vault.namespace" in result.stderr  # the hint names the field to fix
    if output == "json":
        document = json.loads(result.stdout)
        validate_json_shape(document)
        [entry] = document["checks"]
        assert (entry["id"], entry["status"]) == ("vault.reachable", "error")
        assert "no-such-team" in entry["finding"]


@pytest.mark.integration
def test_the_namespace_in_the_config_that_exists_still_passes_the_reachability(
    tmp_path: Path, openbao_server: DevServer
) -> None:
    # Without a namespace the same server answers: the error above is the namespace's, not the server's.
    config = write_config(tmp_path, openbao_server.address)
    env = environment(tmp_path, openbao_server.address, openbao_server.token)
    result = run_cli("verify", "vault", "-c", config, "--output", "json", env=env)
    assert result.returncode == 1, result.stderr  # an empty Vault: the checks fail, each with a hint
    document = json.loads(result.stdout)
    validate_json_shape(document)
    checks = {c["id"]: c for c in document["checks"]}
    # Reached, not an error: the warning is the flavor (an OpenBao server, a config saying vault.flavor: vault).
    assert checks["vault.reachable"]["status"] == "warn", checks["vault.reachable"]
    assert "the config says vault.flavor: vault" in checks["vault.reachable"]["finding"]
    assert checks["vault.token"]["status"] == "pass"


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (502, "text/html", b"<html><h1>502 Bad Gateway</h1></html>"),
        (503, "text/plain", b"no healthy upstream"),
        (503, "text/html", b"<h1>Service Unavailable</h1> sealed for maintenance"),
        (404, "text/plain", b"404 page not found"),
        (200, "text/html", b"<html>Welcome to nginx!</html>"),
        (403, "text/html", b"<h1>403 Forbidden</h1>"),
    ],
)
def test_a_server_that_is_not_vault_is_named_never_sealed(
    tmp_path: Path, status: int, content_type: str, body: bytes
) -> None:
    with answering(status, content_type, body) as address:
        config = write_config(tmp_path, address)
        result = run_cli("verify", "vault", "-c", config, "--output", "junit", env=environment(tmp_path, address))
    assert "Traceback" not in result.stderr
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"the server at {address} answered {status}" in result.stderr
    assert "not Vault's" in result.stderr and "load balancer" in result.stderr
    assert "unseal" not in result.stderr and "VAULT_TOKEN" not in result.stderr
    from xml.etree import ElementTree as ET

    [case] = ET.fromstring(result.stdout).findall("./testsuite/testcase")  # noqa: S314 - our own output
    assert case.get("name") == "vault.reachable" and case.find("error") is not None


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("example", "script"),
    [("three-clusters.yaml", "root/vault/setup.sh (its step 02-root-pki.sh)"), (None, "vault/02-root-pki.sh")],
)
def test_the_root_step_hint_names_the_script_of_the_rendered_layout(
    tmp_path: Path, openbao_server: DevServer, example: str | None, script: str
) -> None:
    config = EXAMPLES / example if example else write_config(tmp_path, openbao_server.address)
    env = environment(tmp_path, openbao_server.address, openbao_server.token)
    selected = ["--cluster", "east"] if example else []  # a fleet's hint is the same for one cluster of it
    result = run_cli("verify", "vault", "-c", config, *selected, "--output", "json", env=env)
    assert result.returncode == 1, result.stderr
    checks = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
    for check_id in ("vault.root-mount", "vault.root-cn"):
        assert checks[check_id]["status"] == "fail"
        assert checks[check_id]["hint"] == f"run {script}"
