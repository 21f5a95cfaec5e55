"""The exporter's run loop without a network: each fault becomes a counted reason, a log line and stale results,
never an exception out of the loop; a hung run is given up without a second one beside it; no key bytes in logs."""

from __future__ import annotations

import argparse
import logging
import threading

import pytest

from istio_vault_ca.generator.errors import KubeAccessError, VaultForbidden
from istio_vault_ca.verify.checks.result import Report, passed
from istio_vault_ca.verify.cli.serve_command import Exporter, parse_listen
from istio_vault_ca.verify.cli.verify_command import vault_report
from istio_vault_ca.verify.rehearsal.openbao import free_port

KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"


def _good(_args: argparse.Namespace) -> tuple[Report, int]:
    report = Report([passed("vault.token", "default", "ok")])
    report.facts.started, report.facts.duration = 1700000000.0, 0.5
    report.facts.reachable["vault"] = True
    return report, 0


def _exporter(*builds: object, timeout: float = 30.0) -> Exporter:
    queue = list(builds)

    def build(args: argparse.Namespace) -> tuple[Report, int]:
        step = queue.pop(0)
        if isinstance(step, BaseException):
            raise step
        assert callable(step)
        result: tuple[Report, int] = step(args)
        return result

    return Exporter(build, argparse.Namespace(), interval=60, timeout=timeout)


def test_faults_keep_the_last_results_and_count_reasons(caplog: pytest.LogCaptureFixture) -> None:
    exporter = _exporter(
        _good,
        VaultForbidden("Vault refused the token (permission denied)"),
        KubeAccessError("cannot reach the API server"),
        RuntimeError(f"garbage from somewhere {KEY}"),
        _good,
    )
    caplog.set_level(logging.INFO, "istio_vault_ca.serve")
    for _ in range(4):
        exporter.run_once()
    body = exporter.body.decode()
    assert 'istio_vault_ca_check_status{check="vault.token",cluster="",target="default"} 1.0' in body
    assert 'istio_vault_ca_run_failures_total{reason="vault_forbidden"} 1.0' in body
    assert 'istio_vault_ca_run_failures_total{reason="kubernetes_unreachable"} 1.0' in body
    assert 'istio_vault_ca_run_failures_total{reason="crash"} 1.0' in body
    assert 'istio_vault_ca_reachable{service="vault"} 0.0' in body
    assert "istio_vault_ca_results_stale 1.0" in body
    assert "istio_vault_ca_runs_total 4.0" in body
    assert "BEGIN PRIVATE KEY" not in caplog.text and "MIIEvQ" not in caplog.text
    assert "run failed (crash): unexpected RuntimeError; keeping the last results" in caplog.text
    exporter.run_once()
    assert "istio_vault_ca_results_stale 0.0" in exporter.body.decode()


def test_a_hung_run_is_given_up_and_not_doubled() -> None:
    release = threading.Event()
    entered = threading.Event()

    def hang(args: argparse.Namespace) -> tuple[Report, int]:
        entered.set()
        release.wait()
        return _good(args)

    exporter = _exporter(hang, _good, timeout=0.05)
    exporter.run_once()
    # The worker runs on: given up after 0.05 s, it may not even have been scheduled yet on a loaded machine.
    assert entered.wait(timeout=60)
    exporter.run_once()  # the hung one still runs: no second run beside it
    body = exporter.body.decode()
    assert 'istio_vault_ca_run_failures_total{reason="timeout"} 1.0' in body
    assert 'istio_vault_ca_run_failures_total{reason="previous_run_hung"} 1.0' in body
    release.set()


def test_unreachable_vault_is_a_reason_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real vault_report against a closed loopback port: connection refused -> vault_unreachable."""
    args = argparse.Namespace(config=None, cluster=None, warn_days=30, skip_check=None)
    exporter = Exporter(vault_report, args, interval=60, timeout=30)
    monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{free_port()}")
    exporter.run_once()
    assert 'istio_vault_ca_run_failures_total{reason="vault_unreachable"} 1.0' in exporter.body.decode()


@pytest.mark.parametrize(("text", "want"), [("127.0.0.1:9402", ("127.0.0.1", 9402)), ("[::1]:9402", ("::1", 9402))])
def test_parse_listen(text: str, want: tuple[str, int]) -> None:
    assert parse_listen(text) == want


@pytest.mark.parametrize("text", ["9402", "host:", ":9402", "host:99999", "host:x"])
def test_parse_listen_refuses(text: str) -> None:
    from istio_vault_ca.generator.errors import UsageError

    with pytest.raises(UsageError):
        parse_listen(text)
