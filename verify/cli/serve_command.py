"""`serve --listen HOST:PORT TARGET ...`: the checks of `verify TARGET` as a long-running Prometheus exporter.

Why this shape: the outages this tool exists to prevent (an expired intermediate, istiod on a self-signed CA after a
restart) come months after the deploy-time `verify`, so the same checks run on an interval and alerts fire from
their metrics. Three threads:

- the scheduler runs the target's report builder (the very function `verify` calls) in a worker thread, at most
  `--timeout` seconds, then waits the interval plus up to 10% jitter (exporters of a fleet do not hit one Vault in
  step). A run still hung past its timeout is left to finish on its own; no second run starts beside it.
- the HTTP server answers /metrics with the exposition of the last run, prepared when that run ended: a scrape
  only copies bytes and never waits for a check. /healthz says the process serves (liveness, not Vault's health).
- the main thread waits for SIGTERM or SIGINT, then stops both and exits 0.

A run that produces no report (Vault unreachable, sealed or answering 403, the API server gone, a hung request,
a config or directory problem) keeps the previous results on show, marks them stale, counts the failure by reason
and logs one line. Nothing a run meets ends the process: only a bad command line or an unusable --listen does, at
start. Log lines and labels pass through `redact`; no key bytes reach either.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from ...generator.config.defaults import EXPORTER_PORT
from ...generator.errors import UsageError

if TYPE_CHECKING:
    from ..checks.reporters.prometheus import RunStatus
    from ..checks.result import Report

LOG = logging.getLogger("istio_vault_ca.serve")
MAX_DEFAULT_TIMEOUT = 120.0
JITTER = 0.1
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Builder = Callable[[argparse.Namespace], "tuple[Report, int]"]


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 host in brackets, [::1]:9402); UsageError for anything else."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(
            f"--listen {text!r}: give HOST:PORT, e.g. 127.0.0.1:{EXPORTER_PORT} or 0.0.0.0:{EXPORTER_PORT}"
        )
    return host, int(port)


def builder(name: str) -> Builder:
    """The report builder of `verify NAME`: the same function the one-shot command runs."""
    from . import verify_command

    builders: dict[str, Builder] = {
        "chain": verify_command.chain_report,
        "vault": verify_command.vault_report,
        "cluster": verify_command.cluster_report,
        "all": verify_command.all_report,
        "fleet": verify_command.fleet_report,
    }
    return builders[name]


def failure_reason(error: BaseException) -> str:
    """The `reason` label of istio_vault_ca_run_failures_total for an error that ended a run without a report."""
    from ...generator.errors import (
        IvcError,
        KubeAccessError,
        KubeConfigProblem,
        UsageError,
        VaultUnavailable,
    )

    if isinstance(error, VaultUnavailable):
        return f"vault_{error.reason}"
    if isinstance(error, KubeAccessError):
        return "kubernetes_unreachable"
    if isinstance(error, KubeConfigProblem):
        return "kubeconfig"
    if isinstance(error, UsageError):
        return "usage"
    if isinstance(error, IvcError):
        return "failed"
    return "crash"


class Exporter:
    """The last report, its exposition and the run status; the scheduler writes them, scrapes read them."""

    def __init__(self, build: Builder, args: argparse.Namespace, *, interval: float, timeout: float) -> None:
        from ..checks.reporters.prometheus import RunStatus

        self.build, self.args = build, args
        self.interval, self.timeout = interval, timeout
        self.status: RunStatus = RunStatus(interval=interval)
        self.report: Report | None = None
        self.stop = threading.Event()
        self._hung: threading.Thread | None = None
        # Empty until the scheduler's first publish: prometheus_client is imported there, after the port is open.
        self.body = b""

    def _publish(self) -> None:
        """Prepare the bytes every scrape returns until the next run ends (one reference swap: no lock needed)."""
        from ..checks.reporters.prometheus import exposition

        self.body = exposition(self.report, self.status).encode("utf-8")

    def run_once(self) -> None:
        """One run in a worker thread, given up after the timeout; the outcome is published either way."""
        self.status.runs += 1
        if self._hung is not None and self._hung.is_alive():
            self._failed("previous_run_hung", "the previous run is still hung; not starting another beside it")
            return
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["report"] = self.build(self.args)
            except BaseException as error:  # reported by the scheduler: a run never takes the exporter down
                outcome["error"] = error

        worker = threading.Thread(target=work, name="istio-vault-ca-run", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            self._hung = worker
            self._failed("timeout", f"the run did not finish within {self.timeout:g} s (a hung request?)")
        elif "error" in outcome:
            self._errored(outcome["error"])
        else:
            self._succeeded(outcome["report"][0])

    def _succeeded(self, report: Report) -> None:
        self.report = report
        self.status.stale = False
        self.status.last_success = report.facts.started
        counts = report.summary()
        LOG.info(
            "run done in %.1f s: %d passed, %d warned, %d failed, %d errored",
            report.facts.duration or 0.0,
            counts["pass"],
            counts["warn"],
            counts["fail"],
            counts["error"],
        )
        self._publish()

    def _errored(self, error: BaseException) -> None:
        from ...generator.errors import IvcError, KubeAccessError, VaultUnavailable
        from ..checks.result import redact

        reason = failure_reason(error)
        service = "vault" if isinstance(error, VaultUnavailable) else None
        service = "kubernetes" if isinstance(error, KubeAccessError) else service
        if service and self.report is not None:
            self.report = self.report.with_facts(self.report.facts.with_reachable(service, False))
        # An error we did not write is logged by its type only, so nothing read from Vault can reach the log.
        message = redact(str(error)) if isinstance(error, IvcError) else f"unexpected {type(error).__name__}"
        self._failed(reason, message)

    def _failed(self, reason: str, message: str) -> None:
        self.status.failures[reason] = self.status.failures.get(reason, 0) + 1
        self.status.stale = self.report is not None
        kept = "keeping the last results" if self.report is not None else "no results yet"
        LOG.warning("run failed (%s): %s; %s", reason, message, kept)
        self._publish()

    def loop(self) -> None:
        """Run now, then every interval plus jitter, until stopped."""
        import secrets

        jitter = secrets.SystemRandom()
        self._publish()
        while not self.stop.is_set():
            self.run_once()
            self.stop.wait(self.interval * (1 + jitter.uniform(0, JITTER)))


def _handler(exporter: Exporter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """GET /metrics and /healthz from prepared bytes; anything else 404. Access lines are not logged."""

        server_version = "istio-vault-ca"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, exporter.body, CONTENT_TYPE)
            elif path == "/healthz":
                self._send(200, b"ok\n", "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found: try /metrics or /healthz\n", "text/plain; charset=utf-8")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def serve(args: argparse.Namespace) -> int:
    """Check the command line, listen, run until SIGTERM/SIGINT, exit 0."""
    import socket

    host, port = parse_listen(args.listen)
    if not args.interval > 0:
        raise UsageError(f"--interval must be more than 0 seconds, not {args.interval:g}")
    timeout = args.timeout if args.timeout is not None else min(args.interval, MAX_DEFAULT_TIMEOUT)
    if not timeout > 0:
        raise UsageError(f"--timeout must be more than 0 seconds, not {timeout:g}")
    if getattr(args, "config", None) is not None or args.build != "chain":
        from ..runs.common import load_plans

        load_plans(
            args.config, getattr(args, "cluster", None)
        )  # a bad config is exit 2 now, not a failure on every run
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    exporter = Exporter(builder(args.build), args, interval=args.interval, timeout=timeout)
    _Server.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        server = _Server((host, port), _handler(exporter))
    except OSError as error:
        raise UsageError(f"cannot listen on {args.listen}: {error.strerror or error}") from None

    def stop(signum: int, _frame: object) -> None:
        LOG.info("%s: stopping", signal.Signals(signum).name)
        exporter.stop.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    http = threading.Thread(target=server.serve_forever, name="istio-vault-ca-http", daemon=True)
    scheduler = threading.Thread(target=exporter.loop, name="istio-vault-ca-scheduler", daemon=True)
    http.start()
    LOG.info(
        "serving /metrics on %s:%d (verify %s every %g s, timeout %g s)",
        host,
        server.server_address[1],
        args.build,
        args.interval,
        timeout,
    )
    scheduler.start()
    try:
        exporter.stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    started = time.monotonic()
    scheduler.join(max(0.0, 5.0 - (time.monotonic() - started)))
    LOG.info("stopped")
    return 0
