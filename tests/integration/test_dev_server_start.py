"""A dev server is ready when it serves itself: not when something else answers on its port.

`free_port` finds a port free a moment before the server binds it; on a busy machine (two test workers, other
users' dev servers) another process can take it in between. The server then exits ("address already in use"),
while whatever holds the port answers sys/health: a wait that only polled the port took that answer for ours.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from istio_vault_ca.verify.rehearsal import openbao
from tests.support import require_openbao


class _Impostor(BaseHTTPRequestHandler):
    """Another process's server on the port: a healthy-looking sys/health, nothing else."""

    def do_GET(self) -> None:
        body = json.dumps({"initialized": True, "sealed": False, "version": "impostor"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


@pytest.fixture
def impostor() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Impostor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def _version(server: openbao.DevServer) -> str:
    import urllib.request

    with urllib.request.urlopen(f"{server.address}/v1/sys/health", timeout=30) as answer:
        return str(json.load(answer)["version"])


@pytest.mark.integration
def test_a_server_whose_port_is_taken_is_not_ready_even_if_the_port_answers(impostor: int, tmp_path: Path) -> None:
    require_openbao()
    with pytest.raises(RuntimeError, match="dev server exited with 1"):
        openbao.start_dev_server(tmp_path / "bao", port=impostor)


@pytest.mark.integration
def test_a_free_port_taken_before_the_server_binds_it_is_replaced(
    impostor: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_openbao()
    picks = iter([impostor])
    real_free_port = openbao.free_port
    monkeypatch.setattr(openbao, "free_port", lambda: next(picks, None) or real_free_port())
    server = openbao.start_dev_server(tmp_path / "bao")
    try:
        assert not server.address.endswith(f":{impostor}")
        assert _version(server) != "impostor"
        assert server.process.poll() is None
    finally:
        server.stop()
