"""Helpers of the integration tests that run istiod's agent: a real `bao agent` running the agent config the
rehearsal builds from an overlay, a token holding one policy, and the certificates of a PEM file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cryptography import x509

from istio_vault_ca.verify.rehearsal import agent
from istio_vault_ca.verify.rehearsal.openbao import find_bao


def run_agent(env: dict[str, str], overlay: Path, directory: Path, policy: str) -> Path:
    """vault-agent-init for real: the rehearsal's vault-k8s mapping of `overlay`'s annotations, run once by
    `bao agent` with a token holding istiod's policy; returns the directory the four files were written to."""
    injection = agent.parse_injection(agent.read_overlay(overlay, overlay.name))
    work = directory.parent / f"{directory.name}-agent"
    work.mkdir(mode=0o700)
    config = agent.build_config(
        injection,
        vault_address=env["VAULT_ADDR"],
        token_path=work / "jwt",
        root=directory,
        sink_path=work / "sink",
        pid_file=work / "pid",
    )
    (work / "token").write_text(policy_token(env, policy), encoding="utf-8")
    config["auto_auth"]["method"] = {"type": "token_file", "config": {"token_file_path": str(work / "token")}}
    (work / "agent.json").write_text(json.dumps(config), encoding="utf-8")
    done = subprocess.run(
        [find_bao(), "agent", f"-config={work / 'agent.json'}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return agent.local_destination(directory, injection.templates[0]).parent


def policy_token(env: dict[str, str], policy: str) -> str:
    """A new token holding only ``policy`` (``bao token create``, with the token of ``env``)."""
    return subprocess.run(
        [find_bao(), "token", "create", f"-policy={policy}", "-field=token"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def pems(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())
