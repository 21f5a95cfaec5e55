"""`verify cluster` and `verify all` read every input before the network, and ask an unreachable Vault once.

Each test runs the CLI as a user does (a new process) against local listeners that count the connections they
are offered and close them at once (so a client sees the server as unreachable)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import run_cli


class Counter:
    """A loopback listener that accepts and closes every connection, counting them."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.count = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            conn.close()


@contextmanager
def counting() -> Iterator[Counter]:
    counter = Counter()
    try:
        yield counter
    finally:
        counter.sock.close()


def _environment(tmp_path: Path, vault: str, server: str) -> dict[str, str]:
    import os

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters:\n- name: c\n  cluster:\n    server: {server}\n"
        "users:\n- name: me\n  user:\n    token: abc\n"
        "contexts:\n- name: c\n  context:\n    cluster: c\n    user: me\n",
        encoding="utf-8",
    )
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(HOME=str(tmp_path), VAULT_ADDR=vault, VAULT_TOKEN="t", KUBECONFIG=str(kubeconfig))
    return env


def test_a_bad_merged_cr_is_refused_before_vault_or_the_api_server_is_asked(tmp_path: Path) -> None:
    bad = tmp_path / "merged.yaml"
    bad.write_text("kind: ConfigMap\nmetadata: {name: not-a-cr}\n", encoding="utf-8")
    with counting() as vault, counting() as api:
        env = _environment(tmp_path, f"http://127.0.0.1:{vault.port}", f"https://127.0.0.1:{api.port}")
        for command in ("cluster", "all"):
            result = run_cli("verify", command, "--merged-cr", str(bad), env=env)
            assert result.returncode == 2, result.stdout + result.stderr
            assert f"--merged-cr {bad}: holds 0 ControlPlane / IstioOperator documents" in result.stderr
        assert (vault.count, api.count) == (0, 0)


def test_verify_all_asks_an_unreachable_vault_once(tmp_path: Path) -> None:
    with counting() as vault, counting() as api:
        env = _environment(tmp_path, f"http://127.0.0.1:{vault.port}", f"https://127.0.0.1:{api.port}")
        result = run_cli("verify", "all", "--output", "json", env=env)
        assert result.returncode == 3, result.stdout + result.stderr
        assert '"vault.reachable"' in result.stdout
        assert vault.count == 1, f"Vault was asked {vault.count} times after it did not answer"


def test_verify_all_names_the_vault_address_it_really_asked(tmp_path: Path) -> None:
    """VAULT_ADDR wins over the config's vault.address: the vault.reachable row's target is the one asked."""
    import json

    with counting() as vault, counting() as api:
        address = f"http://127.0.0.1:{vault.port}"
        env = _environment(tmp_path, address, f"https://127.0.0.1:{api.port}")
        result = run_cli("verify", "all", "--output", "json", env=env)
    rows = [c for c in json.loads(result.stdout)["checks"] if c["id"] == "vault.reachable"]
    assert [row["target"] for row in rows] == [address]
