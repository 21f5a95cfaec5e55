"""`serve` against a real OpenBao, scraped by a real Prometheus server (both on 127.0.0.1): Prometheus answers a
query for the intermediate's not-after with Vault's own value; while Vault is stopped (SIGSTOP: every request
hangs) scrapes keep answering with the last results marked stale, and the exporter recovers when Vault returns.

The exporter runs with the token of its own rendered policy (monitoring/vault-policy.hcl, written by the rendered
monitoring/vault-monitor.sh), so this also proves that policy reads everything `verify vault` needs except the two
checks it gives up. Waiting is for conditions (a series appears, a counter moves), never for a duration.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from istio_vault_ca.verify.rehearsal.openbao import free_port
from tests.prometheus.tools import POLL, WAIT, get, require
from tests.support import REPO, server_under_test, wait_until
from tests.vault_setup import EC_CONFIG, Configured, configure

MONITORING = "monitoring:\n  enabled: true\n  image: registry.example/istio-vault-ca:test\n"
# serve's --timeout: long enough for a whole `verify vault` run on a loaded two-core machine (the first run imports
# hvac and asks Vault some twenty questions), short enough that the stopped Vault below is noticed quickly.
RUN_TIMEOUT = 10
NOT_AFTER = 'istio_vault_ca_certificate_not_after_timestamp_seconds{role="intermediate",source="vault"}'


def sample(text: str, prefix: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rpartition(" ")[2])
    return None


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[Configured]:
    configured = configure(tmp_path / "vault", EC_CONFIG + MONITORING)
    try:
        yield configured
    finally:
        if configured.server.process.poll() is None:
            os.kill(configured.server.process.pid, signal.SIGCONT)
        configured.server.stop()


def monitor_token(configured: Configured) -> str:
    """Run the rendered monitoring/vault-monitor.sh, then mint a token holding only the exporter's policy."""
    script = configured.tree / "monitoring" / "vault-monitor.sh"
    result = subprocess.run(["bash", str(script)], env=configured.env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    created = configured.client().auth.token.create(policies=["istioca-monitor"], no_default_policy=False, ttl="1h")
    return str(created["auth"]["client_token"])


@pytest.mark.integration
def test_prometheus_scrapes_serve_and_serve_survives_a_stopped_vault(vault: Configured, tmp_path: Path) -> None:
    prometheus = require("prometheus")
    port, prom_port = free_port(), free_port()
    env = {**vault.env, "VAULT_TOKEN": monitor_token(vault), "PYTHONPATH": str(REPO)}
    serve_log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(
        [sys.executable, "-m", "istio_vault_ca.verify.cli.parser", "serve", "--listen", f"127.0.0.1:{port}",
         "--interval", "1", "--timeout", str(RUN_TIMEOUT), "vault", "-c", str(vault.config_path),
         "--skip-check", "vault.kv-key-matches", "--skip-check", "vault.policy-grants-read"],
        env=env, stdout=serve_log, stderr=subprocess.STDOUT, cwd=REPO,
    )  # fmt: skip
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {"job_name": "istio-vault-ca-exporter", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                ],
            }
        ),
        encoding="utf-8",
    )
    server = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{prom_port}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"),
    )  # fmt: skip
    metrics = f"http://127.0.0.1:{port}/metrics"
    try:
        # Every Vault check passes with the exporter's own policy, the two given-up ones excepted (no series).
        first = wait_until(
            lambda: _if(get(metrics), "istio_vault_ca_check_status{"), WAIT, "a first successful run", interval=POLL
        )
        statuses = [line for line in first.splitlines() if line.startswith("istio_vault_ca_check_status{")]
        # vault.reachable warns when the server is OpenBao standing in for the config's vault.flavor: vault.
        warned = {'check="vault.reachable"'} if server_under_test()[1] == "openbao" else set()
        assert len(statuses) == 19, "\n".join(statuses)
        for line in statuses:
            want_status = " 0.0" if any(label in line for label in warned) else " 1.0"
            assert line.endswith(want_status), "\n".join(statuses)
        assert "kv-key-matches" not in first and "policy-grants-read" not in first

        query = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": NOT_AFTER})
        answer = wait_until(lambda: _result(get(query)), WAIT, "Prometheus to answer the query", interval=POLL)
        pem = vault.client().read("istioca/cert/ca")["data"]["certificate"]
        want = x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc.timestamp()
        assert [float(r["value"][1]) for r in answer] == [want]
        assert answer[0]["metric"]["cluster"] == "default"

        # Vault stops: runs hang and time out, scrapes keep answering with the last results, marked stale.
        os.kill(vault.server.process.pid, signal.SIGSTOP)
        stale = wait_until(
            lambda: _if(get(metrics), "istio_vault_ca_results_stale 1.0"), WAIT, "stale results", interval=POLL
        )
        assert sample(stale, 'istio_vault_ca_run_failures_total{reason="timeout"}') is not None
        assert _has_value(stale, want)  # the last results, still shown
        assert get(f"http://127.0.0.1:{port}/healthz") == "ok\n"

        # Vault returns: the next run succeeds and the results are fresh again.
        os.kill(vault.server.process.pid, signal.SIGCONT)
        wait_until(lambda: _if(get(metrics), "istio_vault_ca_results_stale 0.0"), WAIT, "fresh results", interval=POLL)
    finally:
        for process in (server, serve):
            process.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0  # graceful on SIGTERM
        server.wait(timeout=30)
        serve_log.close()
    log = (tmp_path / "serve.log").read_text(encoding="utf-8")
    assert "run failed (timeout)" in log and "SIGTERM: stopping" in log
    assert "BEGIN" not in log


def _if(text: str | None, needle: str) -> str | None:
    return text if text is not None and needle in text else None


def _result(text: str | None) -> list[dict[str, Any]] | None:
    if text is None:
        return None
    result: list[dict[str, Any]] = json.loads(text)["data"]["result"]
    return result or None


def _has_value(text: str, want: float) -> bool:
    return any(
        line.startswith("istio_vault_ca_certificate_not_after_timestamp_seconds{")
        and 'role="intermediate"' in line
        and float(line.rpartition(" ")[2]) == want
        for line in text.splitlines()
    )
