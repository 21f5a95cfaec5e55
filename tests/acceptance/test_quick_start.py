"""The README's Quick start, followed literally in an empty directory, works step by step up to the cluster.

The commands are read from the README's Quick start block, so this test breaks when the README drifts: each line
runs as written with bash, in a fresh directory, with the installed `istio-vault-ca` on PATH, against a real
OpenBao dev server. Only what the README leaves to the reader is supplied: the package is already installed (the
`pip install` line is checked to name an extra that exists), `$EDITOR` keeps the starter config as it is, and the
placeholders of its `export` lines get the dev server's values (a Vault on this machine, outside any cluster, so
both commented `export` lines apply). It stops at the line that applies the overlay to a cluster.
"""

from __future__ import annotations

import importlib.metadata
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

BLOCK = re.compile(r"^## Quick start\n+```console\n(?P<body>.*?)\n```", re.MULTILINE | re.DOTALL)
CLUSTER_STEP = "apply out/istiod/"

# What each command must print (stdout and stderr together) besides exiting 0.
EXPECTED = {
    "istio-vault-ca init": "wrote istio-vault-ca.yaml",
    "istio-vault-ca render": "rendered 11 files from istio-vault-ca.yaml into out",
    "istio-vault-ca rehearse": "rehearsal passed",
    "out/vault/setup.sh": "done: Vault CA for istiod, cluster default",
    # The one warning: K8S_HOST overrides the config's in-cluster address, as the README says it may.
    "istio-vault-ca verify vault": "OK: 18 passed, 1 warned, 0 failed, 0 errored (19 checks)",
    "istio-vault-ca verify chain --from-vault": "OK: 23 passed, 0 warned, 0 failed, 0 errored (23 checks)",
}


def quick_start() -> list[str]:
    found = BLOCK.search((REPO / "README.md").read_text(encoding="utf-8"))
    assert found, "README.md has no '## Quick start' section with a console block"
    return [line for line in found["body"].splitlines() if line.strip()]


def without_comment(line: str) -> str:
    return re.sub(r"\s+#.*$", "", line).strip()


def exported(line: str, values: dict[str, str]) -> dict[str, str]:
    """The variables an `export NAME=placeholder ...` line (or a comment holding one) names, with our values."""
    words = shlex.split(line.split("export ", 1)[1])
    names = [word.split("=", 1)[0] for word in words]
    unknown = [name for name in names if name not in values]
    assert not unknown, f"the Quick start exports {unknown}: teach this test what a dev server needs there"
    return {name: values[name] for name in names}


@pytest.mark.integration
def test_the_quick_start_works_as_written_up_to_the_cluster(
    openbao: object, kube_ca_file: Path, tmp_path: Path
) -> None:
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "istio-vault-ca").exists(), "the package's console script is installed beside python"
    env: dict[str, str] = openbao.env()  # type: ignore[attr-defined]
    env.update(PATH=f"{bin_dir}:{env['PATH']}", EDITOR="true", COLUMNS="120", TMPDIR=str(tmp_path))
    supplied = {
        "VAULT_ADDR": env["VAULT_ADDR"],
        "VAULT_TOKEN": env["VAULT_TOKEN"],
        "AUDIT_FILE_PATH": str(tmp_path / "vault-audit.log"),
        # Vault stores the address and the CA; no token is reviewed before the cluster step.
        "K8S_HOST": "https://127.0.0.1:6443",
        "K8S_CA_CERT_FILE": str(kube_ca_file),
    }
    for name in ("VAULT_ADDR", "VAULT_TOKEN"):
        env.pop(name)  # only the README's export line sets them
    workdir = tmp_path / "fresh-clone"
    workdir.mkdir()

    lines = quick_start()
    ran: list[str] = []
    for line in lines:
        command = without_comment(line)
        if line.lstrip().startswith("#"):
            if CLUSTER_STEP in line:
                break
            if "export " in line:
                env.update(exported(line, supplied))
            continue
        if command.startswith("pip install"):
            extra = re.search(r"istio-vault-ca\[(\w+)\]", command)
            extras = importlib.metadata.metadata("istio-vault-ca").get_all("Provides-Extra") or []
            assert extra and extra[1] in extras, f"{command}: no such extra (the package offers {extras})"
            continue
        if command.startswith("export "):
            env.update(exported(command, supplied))
            continue
        result = subprocess.run(
            ["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"Quick start step `{command}` exited {result.returncode}:\n{output}"
        if command in EXPECTED:
            assert EXPECTED[command] in output, f"`{command}` did not say {EXPECTED[command]!r}:\n{output}"
        if command == "istio-vault-ca verify vault":
            assert "WARN   vault.k8s-auth-config" in output and "K8S_HOST override" in output, output
        ran.append(command)
    else:
        pytest.fail(f"the Quick start has no '# {CLUSTER_STEP}...' line to stop at")

    assert [c for c in ran if c in EXPECTED] == list(EXPECTED), f"commands run: {ran}"
    assert "$EDITOR istio-vault-ca.yaml" in ran
    assert without_comment(lines[-1]) == "istio-vault-ca verify all"


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
    process = subprocess.Popen(
        [bao, "server", "-dev", "-dev-root-token-id=root", f"-dev-listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        start_new_session=True,
    )
    server = openbao.DevServer(f"http://127.0.0.1:{port}", "root", tmp_path, bao, process, tmp_path / "none.log")
    try:
        openbao._wait_ready(server, 15.0)
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
