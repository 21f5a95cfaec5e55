"""The README's Quick start, followed literally, works step by step up to the cluster.

The block is read from the README's Quick start section, so this test breaks when the README drifts. It runs as one
bash script, as a newcomer pastes it: from a copy of this checkout (its tracked and new files), with the user's own
`python3`, a fresh venv made by the block's first line, the install line installing this checkout with pip, and the
block's own OpenBao dev server on 127.0.0.1:8200. Only what the README leaves to the reader is supplied: `$EDITOR`
keeps the starter config as it is, and the commented `export` line for a Vault outside the cluster gets a stand-in
API server CA (a Vault on this machine, outside any cluster). It stops at the line that applies the overlay to a
cluster. Slow: pip installs the package and its dependencies into the fresh venv.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, copy_checkout

BLOCK = re.compile(r"^## Quick start\n+(?:.*?\n)*?```console\n(?P<body>.*?)\n```", re.MULTILINE | re.DOTALL)
CLUSTER_STEP = "apply out/istiod/"
MARK = "@@quick-start-step@@"

# What each command must print (stdout and stderr together) besides exiting 0.
EXPECTED = {
    "istio-vault-ca init": "wrote istio-vault-ca.yaml",
    "istio-vault-ca render": "rendered 12 files from istio-vault-ca.yaml into out",
    "istio-vault-ca rehearse": "rehearsal passed",
    "out/vault/setup.sh": "done: Vault CA for istiod, cluster default",
    # The two warnings: K8S_HOST overrides the config's in-cluster address, as the README says it may, and the
    # OpenBao dev server answers a config that says vault.flavor: vault (vault.reachable names the fix).
    "istio-vault-ca verify vault": "OK: 19 passed, 2 warned, 0 failed, 0 errored (21 checks)",
    "istio-vault-ca verify chain --from-vault": "OK: 23 passed, 0 warned, 0 failed, 0 errored (23 checks)",
}


def quick_start() -> list[str]:
    found = BLOCK.search((REPO / "README.md").read_text(encoding="utf-8"))
    assert found, "README.md has no '## Quick start' section with a console block"
    return [line for line in found["body"].splitlines() if line.strip()]


def without_comment(line: str) -> str:
    return re.sub(r"\s+#.*$", "", line).strip()


def supplied_exports(line: str, values: dict[str, str]) -> str | None:
    """A commented `export` line whose every variable the test can supply, as a real export; None otherwise."""
    words = shlex.split(line.split("export ", 1)[1])
    names = [word.split("=", 1)[0] for word in words]
    if not all(name in values for name in names):
        return None
    return "export " + " ".join(f"{name}={shlex.quote(values[name])}" for name in names)


def script(lines: list[str], values: dict[str, str]) -> tuple[str, list[str]]:
    """The block up to the cluster step as one bash script, each command announced by a marker line."""
    body = ["set -euo pipefail"]
    commands: list[str] = []
    for line in lines:
        if line.lstrip().startswith("#"):
            if CLUSTER_STEP in line:
                return "\n".join(body) + "\n", commands
            if "export " in line and (export := supplied_exports(line, values)):
                body.append(export)
            continue
        command = without_comment(line)
        commands.append(command)
        body.append(f"printf '\\n%s %d\\n' {MARK} {len(commands) - 1}")
        body.append(line)
    pytest.fail(f"the Quick start has no '# {CLUSTER_STEP}...' line to stop at")


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def user_path() -> str:
    """The PATH a newcomer has: this test's venv taken out (the block makes and activates its own)."""
    ours = str(Path(sys.executable).parent)
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != ours)


@pytest.mark.slow
@pytest.mark.integration
def test_the_quick_start_works_as_written_up_to_the_cluster(kube_ca_file: Path, tmp_path: Path) -> None:
    if not port_free(8200):
        pytest.fail("127.0.0.1:8200 is taken: the Quick start's dev server listens there (stop what holds it)")
    checkout = tmp_path / "istio-vault-ca"
    copy_checkout(checkout)
    supplied = {"K8S_HOST": "https://127.0.0.1:6443", "K8S_CA_CERT_FILE": str(kube_ca_file)}
    text, commands = script(quick_start(), supplied)
    env = {
        "PATH": user_path(),
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "EDITOR": "true",
        "COLUMNS": "120",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    process = subprocess.Popen(
        ["bash", "-c", text],
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=900)
    finally:
        # The block's dev server (and anything else it left running) goes with the block's process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        if process.poll() is None:
            process.kill()
            process.wait()
    steps = output.split(f"\n{MARK} ")
    outputs = {commands[int(part.split("\n", 1)[0])]: part.split("\n", 1)[1] for part in steps[1:]}
    assert process.returncode == 0, f"the Quick start stopped at `{list(outputs)[-1:]}`:\n{output[-6000:]}"
    assert list(outputs) == commands, f"commands run: {list(outputs)}"
    for command, expected in EXPECTED.items():
        assert command in outputs, f"the Quick start no longer runs `{command}`"
        assert expected in outputs[command], f"`{command}` did not say {expected!r}:\n{outputs[command]}"
    assert "WARN   vault.k8s-auth-config" in outputs["istio-vault-ca verify vault"]
    assert "K8S_HOST override" in outputs["istio-vault-ca verify vault"]
    assert "$EDITOR istio-vault-ca.yaml" in commands
    assert commands[0].startswith("python3 -m venv"), "the block starts by making the venv it installs into"
    assert without_comment(quick_start()[-1]) == "istio-vault-ca verify all"
    # The checkout is left as it was: the block works beside it.
    assert not (checkout / "istio-vault-ca.yaml").exists() and (tmp_path / "mesh-ca" / "out" / "vault").is_dir()


@pytest.mark.integration
def test_a_plain_openbao_dev_server_refusing_audit_devices_gets_told_how_to_declare_one(tmp_path: Path) -> None:
    """`bao server -dev` as a newcomer starts it: OpenBao 2.x refuses audit devices over the API."""
    from istio_vault_ca.generator.errors import OpenBaoMissing
    from istio_vault_ca.verify.rehearsal import openbao

    try:
        bao = openbao.find_bao()
    except OpenBaoMissing as error:
        pytest.skip(f"needs OpenBao: {error}")
    port = openbao.free_port()
    log = tmp_path / "bao.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [bao, "server", "-dev", "-dev-root-token-id=root", f"-dev-listen-address=127.0.0.1:{port}"],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
            cwd=tmp_path,
            start_new_session=True,
        )
    server = openbao.DevServer(f"http://127.0.0.1:{port}", "root", tmp_path, bao, process, log)
    try:
        openbao.wait_ready(server, openbao.START_TIMEOUT)  # this server's own banner, not another's answer
        env = server.env()
        env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
        run = subprocess.run(
            ["bash", "-c", "istio-vault-ca init && istio-vault-ca render && out/vault/setup.sh"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        server.stop()
    assert run.returncode == 1
    assert "[audit] ERROR: this server (OpenBao 2.x) refuses audit devices over the API" in run.stderr
    assert 'audit "file" "file" { options { file_path = "/vault/vault-audit.log" } }' in run.stderr
    assert "vault.audit.enabled: false" in run.stderr
