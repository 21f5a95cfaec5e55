"""`rehearse --server PATH` refuses what is not a Vault or OpenBao server before anything starts: exit 2, one
message naming the path and what was found, no traceback. The binary is run once as `PATH version`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from istio_vault_ca.generator.errors import EXIT_USAGE, ServerBinaryRefused
from istio_vault_ca.verify.rehearsal.openbao import server_binary
from tests.support import REPO, TEST_SERVER_ENV, server_under_test


def fake_binary(directory: Path, name: str, version_line: str, code: int = 0) -> Path:
    """A program that answers `version` the way the real one does (or does not)."""
    path = directory / name
    path.write_text(f"#!/bin/sh\necho '{version_line}'\nexit {code}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def rehearse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "istio_vault_ca.verify.cli.parser", "rehearse", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_path_that_does_not_exist_is_refused_with_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-vault"
    result = rehearse("--server", str(missing))
    assert result.returncode == EXIT_USAGE
    assert f"--server {missing}: no such file" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_program_that_is_not_a_server_is_refused_saying_what_it_printed(tmp_path: Path) -> None:
    other = fake_binary(tmp_path, "kubectl", "Client Version: v1.35.0")
    result = rehearse("--server", str(other))
    assert result.returncode == EXIT_USAGE
    assert "not a Vault or OpenBao server" in result.stderr
    assert "Client Version: v1.35.0" in result.stderr
    assert "what to do:" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_directory_or_a_file_that_cannot_run_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "vault"
    plain.write_text("not a program\n", encoding="utf-8")
    for path in (tmp_path, plain):
        with pytest.raises(ServerBinaryRefused, match="not an executable file"):
            server_binary(str(path))


def test_a_server_whose_version_command_fails_is_refused(tmp_path: Path) -> None:
    broken = fake_binary(tmp_path, "vault", "Vault v1.21.4 (deadbeef)", code=1)
    with pytest.raises(ServerBinaryRefused, match="exit 1"):
        server_binary(str(broken))


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("Vault v1.21.4 (a1b2c3d4), built 2026-02-01T00:00:00Z", "vault"),
        ("OpenBao v2.7.2 (9e0a0d3c), committed 2026-10-26T20:32:27Z", "openbao"),
    ],
)
def test_vault_and_openbao_are_told_apart_by_their_version_line(tmp_path: Path, line: str, kind: str) -> None:
    binary = fake_binary(tmp_path, "server", line)
    assert server_binary(str(binary)) == (str(binary.resolve()), kind)


def test_the_integration_helpers_take_the_server_from_ivc_test_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IVC_TEST_SERVER is checked as --server checks its PATH; a bad one fails the run, never falls back."""
    monkeypatch.delenv(TEST_SERVER_ENV, raising=False)
    assert server_under_test() == (None, "openbao")
    vault = fake_binary(tmp_path, "vault", "Vault v1.21.4 (a1b2c3d4)")
    monkeypatch.setenv(TEST_SERVER_ENV, str(vault))
    assert server_under_test() == (str(vault.resolve()), "vault")
    monkeypatch.setenv(TEST_SERVER_ENV, str(tmp_path / "missing"))
    with pytest.raises(pytest.fail.Exception, match=r"IVC_TEST_SERVER: --server .*missing: no such file"):
        server_under_test()
