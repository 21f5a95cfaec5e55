"""The Prometheus text exposition format, for the node-exporter textfile collector, a Pushgateway or `serve`.

Metric and label names are a public contract (docs/how-to/monitoring.md): dashboards and the rendered
PrometheusRule key on them. Built with `prometheus_client` from a collector that yields metric families from one
report, so no process-wide registry state is kept and every render is exactly the report given.

Every label value passes through `redact` like every other reporter's output: no key bytes reach a label.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..facts import CA_SOURCES
from ..result import Report, Status, redact

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

PREFIX = "istio_vault_ca"
# istio_vault_ca_check_status values; a skipped check has no series (it judged nothing).
STATUS_VALUE: dict[Status, float] = {Status.PASS: 1, Status.WARN: 0, Status.FAIL: -1, Status.ERROR: -2}
# Worst first: when one (check, target) pair appears twice (two pods' files), the series shows the worse.
_SEVERITY = [Status.ERROR, Status.FAIL, Status.WARN, Status.PASS]


@dataclass
class RunStatus:
    """What only a long-running exporter knows: whether the report shown is the latest run's, and how runs went.

    `failures` counts runs that produced no report, by reason (unreachable, forbidden, timeout, ...)."""

    runs: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    last_success: float | None = None
    stale: bool = False
    interval: float = 0.0


def render(report: Report, *, collapse_passing_targets: bool = False, tty: bool = False) -> str:
    """The report as the text exposition format (what `--output prometheus` prints)."""
    del collapse_passing_targets, tty
    return exposition(report)


def exposition(report: Report | None, status: RunStatus | None = None) -> str:
    """The text format of `report` (None before a first run) and, for `serve`, its run status."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ReportCollector(report, status))
    return generate_latest(registry).decode("utf-8")


class _ReportCollector:
    """A prometheus_client collector over one report: `collect` yields the families, nothing is remembered."""

    def __init__(self, report: Report | None, status: RunStatus | None) -> None:
        self.report = report
        self.status = status

    def collect(self) -> Iterator[Metric]:
        if self.report is not None:
            yield from _report_families(self.report)
        if self.status is not None:
            yield from _status_families(self.status)


def _cluster_of(target: str, clusters: tuple[str, ...]) -> str:
    """The `cluster` label: the target when it is a cluster's name, or the cluster a target "ADDRESS (cluster
    NAME)" names (verify fleet's and verify chain --from-vault's rows of many clusters), else the run's one
    cluster, else empty."""
    if target in clusters:
        return target
    if target.endswith(")") and " (cluster " in target:
        named = target.rsplit(" (cluster ", 1)[1][:-1]
        if named in clusters:
            return named
    return clusters[0] if len(clusters) == 1 else ""


def _report_families(report: Report) -> Iterator[Metric]:
    from prometheus_client.core import GaugeMetricFamily

    facts = report.facts
    status = GaugeMetricFamily(
        f"{PREFIX}_check_status",
        "Result of one check on one target: 1 pass, 0 warn, -1 fail, -2 error (skipped checks have no series).",
        labels=["check", "target", "cluster"],
    )
    worst: dict[tuple[str, str, str], Status] = {}
    for result in report.checks:
        if result.status is Status.SKIP:
            continue
        target = redact(result.target)
        key = (result.id, target, _cluster_of(result.target, facts.clusters))
        if key not in worst or _SEVERITY.index(result.status) < _SEVERITY.index(worst[key]):
            worst[key] = result.status
    for key, value in worst.items():
        status.add_metric(list(key), STATUS_VALUE[value])
    yield status

    counts = GaugeMetricFamily(f"{PREFIX}_check_results", "Checks of the last run by status.", labels=["status"])
    for name, count in report.summary().items():
        counts.add_metric([name], count)
    yield counts

    expiry = GaugeMetricFamily(
        f"{PREFIX}_certificate_not_after_timestamp_seconds",
        "Not-after of each CA certificate seen, as a Unix time (role root|intermediate|chain, source files|vault|pod).",
        labels=["role", "source", "target", "cluster", "position", "subject"],
    )
    seen: set[tuple[str, ...]] = set()
    for cert in facts.certificates:
        labels = (
            cert.role,
            cert.source,
            redact(cert.target),
            cert.cluster or _cluster_of(cert.target, facts.clusters),
            str(cert.position),
            redact(cert.subject),
        )
        if labels not in seen:
            seen.add(labels)
            expiry.add_metric(list(labels), cert.not_after)
    yield expiry

    ca = GaugeMetricFamily(
        f"{PREFIX}_istiod_ca_source",
        "What istiod's log says it loaded: 1 on the matching source (plugged, self_signed, load_failed, unknown).",
        labels=["target", "cluster", "source"],
    )
    for fact in facts.istiod_ca:
        for source in CA_SOURCES:
            ca.add_metric([redact(fact.target), fact.cluster, source], 1.0 if source == fact.source else 0.0)
    yield ca

    reachable = GaugeMetricFamily(
        f"{PREFIX}_reachable",
        "Whether the last run reached the service (vault, kubernetes): 1 yes, 0 no.",
        labels=["service"],
    )
    for service, ok in sorted(facts.reachable.items()):
        reachable.add_metric([service], 1.0 if ok else 0.0)
    yield reachable

    if facts.config is not None:
        config = GaugeMetricFamily(
            f"{PREFIX}_config_info",
            "The config the run judged against (a path, or built-in default).",
            labels=["config"],
        )
        config.add_metric([redact(facts.config)], 1.0)
        yield config

    yield from _fleet_families(report)

    if facts.started is not None:
        yield GaugeMetricFamily(
            f"{PREFIX}_last_run_timestamp_seconds", "When the last run started, as a Unix time.", value=facts.started
        )
    if facts.duration is not None:
        yield GaugeMetricFamily(
            f"{PREFIX}_last_run_duration_seconds", "How long the last run's checks took.", value=facts.duration
        )


def _fleet_families(report: Report) -> Iterator[Metric]:
    """`verify fleet`'s figures (none for the other targets): each cluster's effective expiry, as a time and as
    the seconds left at the run, and each trust matrix cell."""
    from prometheus_client.core import GaugeMetricFamily

    facts = report.facts
    if facts.fleet_expiry:
        at = GaugeMetricFamily(
            f"{PREFIX}_fleet_effective_expiry_timestamp_seconds",
            "When the cluster's CA stops issuing full workload certificates (the earliest of root, intermediate and "
            "Vault issuer notAfter, the `bound`, minus the workload TTL), as a Unix time.",
            labels=["cluster", "bound"],
        )
        left = GaugeMetricFamily(
            f"{PREFIX}_fleet_effective_expiry_seconds",
            "Seconds from the last run to the cluster's effective expiry (negative: issuance already fails).",
            labels=["cluster", "bound"],
        )
        for fact in facts.fleet_expiry:
            labels = [fact.cluster, redact(fact.bound)]
            at.add_metric(labels, fact.effective)
            if facts.started is not None:
                left.add_metric(labels, round(fact.effective - facts.started))
        yield at
        if facts.started is not None:
            yield left
    if facts.trust_cells:
        trust = GaugeMetricFamily(
            f"{PREFIX}_fleet_trust",
            "Trust matrix: 1 when a workload in cluster `source` accepts the chain of cluster `peer`, else 0.",
            labels=["source", "peer"],
        )
        for cell in facts.trust_cells:
            trust.add_metric([cell.source, cell.peer], 1.0 if cell.accepts else 0.0)
        yield trust


def _status_families(status: RunStatus) -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    yield CounterMetricFamily(f"{PREFIX}_runs", "Runs started by the exporter.", value=status.runs)
    failures = CounterMetricFamily(
        f"{PREFIX}_run_failures", "Runs that produced no report, by reason.", labels=["reason"]
    )
    for reason, count in sorted(status.failures.items()):
        failures.add_metric([reason], count)
    yield failures
    yield GaugeMetricFamily(
        f"{PREFIX}_results_stale",
        "1 when the results shown are an earlier run's because the latest run failed or timed out.",
        value=1.0 if status.stale else 0.0,
    )
    if status.last_success is not None:
        yield GaugeMetricFamily(
            f"{PREFIX}_last_success_timestamp_seconds",
            "When the run whose results are shown started, as a Unix time.",
            value=status.last_success,
        )
    yield GaugeMetricFamily(
        f"{PREFIX}_interval_seconds", "The exporter's interval between runs.", value=status.interval
    )
