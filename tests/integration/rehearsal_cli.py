"""Helpers of the rehearsal tests: `istio-vault-ca rehearse` run as a user runs it, with the checks every run must
pass (no temp dir or process left, no traceback, no key material in the output), and the report's step names."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support import REPO, TEST_SERVER_ENV

AGENT_STEP = "bao agent renders the four CA files"
FILES_STEP = "check the four CA files"
CONSISTENCY_STEP = "consistency of the istiod overlay, policy and tree"
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{60,}")


def rehearsal_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(TMPDIR=str(tmp), PYTHONUNBUFFERED="1", COLUMNS="200", TERM="dumb")
    return env


def leftovers(tmp: Path) -> list[str]:
    """Temp dirs the rehearsal made, and live processes whose working directory is inside `tmp`."""
    found = [p.name for p in tmp.glob("ivc-*")]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(tmp)):
            found.append(f"pid {proc.name} in {cwd}")
    return found


def assert_clean(tmp: Path, output: str) -> None:
    assert leftovers(tmp) == []
    assert "Traceback" not in output
    assert "PRIVATE KEY" not in output
    assert not BASE64_RUN.search(output), "output holds a long base64 run (key material?)"


def cli(tmp_path: Path, *args: str, cwd: Path = REPO, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`istio-vault-ca ARGS` as a user runs it, from `cwd`."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "istio_vault_ca.verify.cli.parser", *args],
        cwd=cwd,
        env=rehearsal_env(tmp),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def rehearse(tmp_path: Path, *args: str, cwd: Path = REPO, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`rehearse ARGS`, on the IVC_TEST_SERVER binary (as `--server`) when that is set and ARGS name none."""
    server = os.environ.get(TEST_SERVER_ENV)
    chosen = ("--server", server) if server and "--server" not in args else ()
    result = cli(tmp_path, "rehearse", *chosen, *args, cwd=cwd, timeout=timeout)
    assert_clean(tmp_path / "tmp", result.stdout + result.stderr)
    return result


def step_line(output: str, status: str, step: str) -> str:
    """The display line of a step with the given status; fails the test naming what was shown instead."""
    for line in output.splitlines():
        if line.strip().startswith(status) and step in line:
            return line
    raise AssertionError(f"no {status} line for {step!r} in:\n{output}")


def cause_of(output: str) -> str:
    return next(line.split("cause: ", 1)[1] for line in output.splitlines() if "cause: " in line)
