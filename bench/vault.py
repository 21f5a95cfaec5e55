"""`verify vault` against a local OpenBao dev server configured by the rendered scripts, and its baseline: the
same requests made one `vault` CLI call each, from a shell loop (`vault` resolves to `bao`)."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bench.pki import self_signed_pem
from bench.proxy import Request, recording_proxy


@dataclass(frozen=True)
class ConfiguredVault:
    address: str
    env: dict[str, str]  # VAULT_ADDR, VAULT_TOKEN, and `vault` on PATH resolving to bao


@contextmanager
def configured_openbao(workspace: Path, cli: Sequence[str], env: dict[str, str]) -> Iterator[ConfiguredVault]:
    """A dev server on which `render` + `vault/setup.sh` of the default config have run; stopped afterwards."""
    from istio_vault_ca.verify.rehearsal.openbao import start_dev_server

    server = start_dev_server(workspace / "openbao")
    try:
        out = workspace / "vault-out"
        subprocess.run([*cli, "render", "-o", str(out)], cwd=workspace, env=env, check=True, capture_output=True)
        kube_ca = workspace / "kubernetes-ca.crt"
        kube_ca.write_bytes(self_signed_pem("bench kubernetes CA"))
        script_env = server.env(env)
        script_env.update(
            AUDIT_FILE_PATH=str(workspace / "vault-audit.log"),
            K8S_CA_CERT_FILE=str(kube_ca),
            TMPDIR=str(workspace),
        )
        setup = subprocess.run(
            ["bash", str(out / "vault" / "setup.sh")], env=script_env, capture_output=True, text=True, check=False
        )
        if setup.returncode != 0:
            raise RuntimeError(f"vault/setup.sh failed ({setup.returncode}):\n{setup.stderr[-2000:]}")
        yield ConfiguredVault(server.address, server.env(env))
    finally:
        server.stop()


def record_requests(cli: Sequence[str], vault: ConfiguredVault, cwd: Path) -> tuple[list[Request], int, int]:
    """Run `verify vault` once through a recording proxy: (its requests, TCP connections, exit code)."""
    with recording_proxy(vault.address) as (address, recording):
        env = dict(vault.env, VAULT_ADDR=address)
        done = subprocess.run([*cli, "verify", "vault"], cwd=cwd, env=env, capture_output=True, check=False)
    return list(recording.requests), recording.connections, done.returncode


def cli_call(request: Request) -> str:
    """The vault CLI command that makes the same request (output discarded)."""
    parts = urlsplit(request.path)
    path = parts.path.removeprefix("/v1/")
    listing = request.method == "LIST" or parse_qs(parts.query).get("list") == ["true"]
    if listing:
        return f"vault list -format=json {shlex.quote(path)}"
    if request.method == "GET":
        return f"vault read -format=json {shlex.quote(path)}"
    if request.method == "DELETE":
        return f"vault delete {shlex.quote(path)}"
    body = request.body.decode() if request.body else "{}"
    json.loads(body)  # the CLI reads a JSON object from stdin with `-`
    return f"printf '%s' {shlex.quote(body)} | vault write -format=json {shlex.quote(path)} -"


def loop_script(requests: Sequence[Request]) -> str:
    """A bash script making each request with one CLI call; it counts failed calls (a 404 is a round trip too)."""
    lines = [
        "#!/usr/bin/env bash",
        "# The requests `istio-vault-ca verify vault` made, one vault CLI call each.",
        "set -u",
        "failed=0",
        "while IFS= read -r call; do",
        '  eval "$call" </dev/null >/dev/null 2>&1 || failed=$((failed + 1))',
        "done <<'CALLS'",
        *(cli_call(request) for request in requests),
        "CALLS",
        'echo "$failed"',
    ]
    return "\n".join(lines) + "\n"
