"""The benchmark's helpers work (no timings are asserted anywhere): generated configs are valid, generated CA
bundles pass the chain checks, the request replay speaks the vault CLI, the proxy counts requests."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench import fleet, harness, pki
from bench.__main__ import table
from bench.figures import Row
from bench.harness import Command, CommandFailed, measure, run
from bench.proxy import Request, recording_proxy
from bench.vault import cli_call, loop_script
from istio_vault_ca.generator.config.loader import parse_text
from istio_vault_ca.generator.render.tree import render_tree
from istio_vault_ca.verify.checks.chain import check_dir
from istio_vault_ca.verify.checks.result import Status


@pytest.mark.parametrize("clusters", [1, 2, 100])
def test_fleet_config_is_valid_and_renders_every_cluster(clusters: int) -> None:
    config = parse_text(fleet.fleet_config(clusters), "fleet")
    assert [c.name for c in config.clusters] == [fleet.cluster_name(i) for i in range(clusters)]
    tree = render_tree(config)
    if clusters == 1:
        assert "vault/setup.sh" in tree and not any(path.startswith("clusters/") for path in tree)
    else:
        for index in range(clusters):
            assert f"clusters/{fleet.cluster_name(index)}/vault/setup.sh" in tree
        assert "root/vault/setup.sh" in tree


def test_fleet_config_needs_a_cluster() -> None:
    with pytest.raises(ValueError):
        fleet.fleet_config(0)


def test_bundles_pass_every_chain_check_and_differ_per_directory(tmp_path: Path) -> None:
    directories = pki.write_bundles(tmp_path, 2, key_bits=2048)
    for directory in directories:
        results = check_dir(directory)
        assert [r for r in results if r.status is not Status.PASS] == []
        assert (directory / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    first, second = ((d / "ca-cert.pem").read_bytes() for d in directories)
    assert first != second
    assert (directories[0] / "root-cert.pem").read_bytes() == (directories[1] / "root-cert.pem").read_bytes()


def test_the_leaf_floor_signs_a_leaf_with_the_bundle_key_and_fails_without_it(tmp_path: Path) -> None:
    from cryptography import x509

    from bench import leaf_floor

    (directory,) = pki.write_bundles(tmp_path, 1, key_bits=2048)
    leaf = leaf_floor.main(str(directory))
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate((directory / "ca-cert.pem").read_bytes()))
    (directory / "ca-key.pem").unlink()
    done = subprocess.run([sys.executable, leaf_floor.__file__, str(directory)], capture_output=True, check=False)
    assert done.returncode == 1
    assert b"ca-key.pem" in done.stderr


def test_each_request_becomes_one_vault_cli_call() -> None:
    assert cli_call(Request("GET", "/v1/sys/health?standbyok=true", b"")) == "vault read -format=json sys/health"
    assert cli_call(Request("LIST", "/v1/auth/kubernetes/role", b"")) == "vault list -format=json auth/kubernetes/role"
    assert cli_call(Request("GET", "/v1/kv/metadata?list=true", b"")).startswith("vault list")
    body = json.dumps({"policies": ["istioca"], "ttl": "60s"}).encode()
    call = cli_call(Request("POST", "/v1/auth/token/create", body))
    assert call.startswith("printf '%s' ") and call.endswith("| vault write -format=json auth/token/create -")


def test_the_loop_script_makes_one_cli_call_per_request_and_counts_failures(tmp_path: Path) -> None:
    requests = [Request("GET", "/v1/sys/mounts", b""), Request("POST", "/v1/sys/capabilities", b'{"paths": ["a"]}')]
    script = tmp_path / "loop.sh"
    script.write_text(loop_script(requests))
    fake = tmp_path / "bin" / "vault"
    fake.parent.mkdir()
    # A stand-in vault CLI: logs its arguments and stdin, fails the write.
    fake.write_text('#!/bin/sh\necho "$* $(cat)" >> "$LOG"\n[ "$1" = read ]\n')
    fake.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin", "LOG": str(log)}
    done = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL
    )
    assert done.stdout.strip() == "1"
    assert log.read_text().splitlines() == [
        "read -format=json sys/mounts ",
        'write -format=json sys/capabilities - {"paths": ["a"]}',
    ]


def test_run_reports_the_exit_code_and_refuses_unexpected_ones(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    ok = run(Command([sys.executable, "-c", "raise SystemExit(1)"], env, tmp_path, ok_codes=(0, 1)))
    assert ok.returncode == 1 and ok.cpu >= 0
    with pytest.raises(CommandFailed, match="exited 3"):
        run(Command([sys.executable, "-c", "raise SystemExit(3)"], env, tmp_path))
    series = measure([Command([sys.executable, "-c", "pass"], env, tmp_path)], runs=2, warmup=1)
    assert len(series[0].runs) == 2


@pytest.mark.parametrize("method", ["gnu-time", "proc"])
def test_peak_rss_is_the_commands_own(tmp_path: Path, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not the ~30 MB of the process that forked it (what wait4's ru_maxrss would say)."""
    if method == "proc":
        monkeypatch.setattr(harness, "_gnu_time", lambda: None)
    elif harness._gnu_time() is None:
        pytest.skip("GNU time is not installed")
    ballast = bytearray(64 * 2**20)  # makes this process big, as the bench's own process is
    env = {"PATH": "/usr/bin:/bin"}
    small = harness.peak_rss_mb(Command([sys.executable, "-c", "pass"], env, tmp_path), runs=1)
    # The measured command holds its 80 MiB for a while, as a real command does: a deliberate part of the command
    # (the /proc method reads VmHWM while the process lives), not a wait for something the test could observe.
    big = harness.peak_rss_mb(
        Command([sys.executable, "-c", "import time; b = bytearray(80 * 2**20); time.sleep(0.1)"], env, tmp_path),
        runs=1,
    )
    del ballast
    assert small is not None and big is not None
    assert small < 40 < 80 < big


@pytest.fixture
def upstream() -> Iterator[str]:
    class Echo(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = json.dumps({"path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_proxy_forwards_and_records_every_request(upstream: str) -> None:
    with recording_proxy(upstream) as (address, recording):
        for path in ("/v1/sys/health", "/v1/sys/mounts"):
            with urllib.request.urlopen(address + path, timeout=5) as response:
                assert json.load(response) == {"path": path}
    assert [(r.method, r.path) for r in recording.requests] == [("GET", "/v1/sys/health"), ("GET", "/v1/sys/mounts")]
    assert recording.connections == 2


def test_the_table_is_markdown_with_a_verdict_per_row() -> None:
    text = table([Row("a", "1 ms", "b 2 ms", "0.50x", "< 1x", True), Row("c", "3 ms", note="why")])
    lines = text.splitlines()
    assert lines[0] == "| figure | ours | baseline | ratio | goal | met? |"
    assert lines[2] == "| a | 1 ms | b 2 ms | 0.50x | < 1x | yes |"
    assert lines[3].endswith("| — |") and lines[-1] == "- c: why"
