"""`monitoring/grafana-dashboard.json`: a Grafana dashboard over the exporter's metrics, one per cluster tree.

Why it is rendered and not hand-written: its queries name the metrics of the exporter (the public contract of
verify/checks/reporters/prometheus.py) and select this cluster's series by the `cluster` label, its expiry
thresholds are the config's alert thresholds, and the panels that only `serve` feeds (run failures, stale
results) are left out of a cronjob's dashboard, whose Pushgateway never receives them. A test parses every
query and holds it to the metric names the exporter really emits, and Prometheus evaluates each one.

The data source is a dashboard variable (`datasource`, any Prometheus), so the file imports into any Grafana
(Dashboards > Import, or a provisioning directory) without editing. Deterministic: sorted keys, panel ids and
positions from the panel order, no timestamps.
"""

from __future__ import annotations

import json
from typing import Any

from ..config.plan import ClusterPlan

FILE = "monitoring/grafana-dashboard.json"
SCHEMA_VERSION = 39  # Grafana 10.x dashboard model; newer Grafana migrates it on load
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
WIDTH = 24  # Grafana's grid is 24 columns wide
DAY = 86400
# The value istio_vault_ca_check_status takes per status (the reporter's STATUS_VALUE), shown by name.
STATUS_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "1": {"text": "pass", "color": "green", "index": 0},
            "0": {"text": "warn", "color": "yellow", "index": 1},
            "-1": {"text": "fail", "color": "red", "index": 2},
            "-2": {"text": "error", "color": "dark-red", "index": 3},
        },
    }
]


def _thresholds(*steps: tuple[str, float | None]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for color, value in steps]}


def _target(expr: str, legend: str = "", *, instant: bool = False, table: bool = False) -> dict[str, Any]:
    target: dict[str, Any] = {"datasource": DATASOURCE, "expr": expr, "refId": "A"}
    if legend:
        target["legendFormat"] = legend
    if instant:
        target["instant"], target["range"] = True, False
    if table:
        target["format"] = "table"
    return target


def _panel(
    kind: str, title: str, description: str, target: dict[str, Any], size: tuple[int, int], **defaults: Any
) -> dict[str, Any]:
    """One panel; `size` is (height, width) in grid units, placed by `_place`; `defaults` its field defaults."""
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [target],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "_size": size,
    }


def panels(plan: ClusterPlan) -> list[dict[str, Any]]:
    """The panels in reading order: the state now, then the certificates' time left, then the exporter's runs."""
    monitoring = plan.config.monitoring
    alerts = monitoring.alerts
    this = f'cluster="{plan.name}"'
    days_left = f"(istio_vault_ca_certificate_not_after_timestamp_seconds{{{this}}} - time()) / {DAY}"
    expiry = _thresholds(("red", None), ("orange", alerts.expiry_critical_days), ("green", alerts.expiry_warning_days))
    count = _thresholds(("green", None), ("red", 1))
    result = [
        _panel(
            "stat",
            "Checks failing",
            "Checks whose last result is fail or error (istio_vault_ca_check_status < 0).",
            _target(f"count(istio_vault_ca_check_status{{{this}}} < 0) or vector(0)", instant=True),
            (4, 4),
            thresholds=count,
            unit="none",
        ),
        _panel(
            "stat",
            "Checks warning",
            "Checks whose last result is warn (good practice; never fails a command).",
            _target(f"count(istio_vault_ca_check_status{{{this}}} == 0) or vector(0)", instant=True),
            (4, 4),
            thresholds=_thresholds(("green", None), ("yellow", 1)),
            unit="none",
        ),
        _panel(
            "stat",
            "Days to the first CA expiry",
            f"The CA certificate that ends first; orange within {alerts.expiry_warning_days} days, red within "
            f"{alerts.expiry_critical_days} (the PrometheusRule's thresholds).",
            _target(f"min({days_left})", instant=True),
            (4, 4),
            thresholds=expiry,
            unit="d",
            decimals=0,
        ),
        _panel(
            "stat",
            "istiod pods by CA source",
            "What each istiod pod's log says it loaded: plugged (the Vault intermediate), self_signed, load_failed.",
            _target(f"sum by (source) (istio_vault_ca_istiod_ca_source{{{this}}})", "{{source}}", instant=True),
            (4, 8),
            unit="none",
        ),
        _panel(
            "stat",
            "Last run",
            "Time since the run whose results are shown started.",
            _target("time() - max(istio_vault_ca_last_run_timestamp_seconds)", instant=True),
            (4, 4),
            unit="s",
        ),
        _panel(
            "table",
            "Checks not passing",
            "Every check and target whose last result is not pass, with its status.",
            _target(f"istio_vault_ca_check_status{{{this}}} < 1", instant=True, table=True),
            (8, WIDTH),
            mappings=STATUS_MAPPINGS,
        ),
        _panel(
            "timeseries",
            "CA certificates: days left",
            "Days until each CA certificate seen ends, by role, where it was read and its subject.",
            _target(days_left, "{{role}} {{source}} {{target}} {{subject}}"),
            (8, 16),
            thresholds=expiry,
            unit="d",
            custom={"thresholdsStyle": {"mode": "line"}},
        ),
        _panel(
            "timeseries",
            "Check results by status",
            "Checks of each run by status (all clusters of this exporter).",
            _target("sum by (status) (istio_vault_ca_check_results)", "{{status}}"),
            (8, 8),
            unit="none",
        ),
        _panel(
            "timeseries",
            "Reachable",
            "Whether each run reached Vault and the Kubernetes API server (1 yes, 0 no).",
            _target("istio_vault_ca_reachable", "{{service}}"),
            (6, 8),
            unit="none",
            min=0,
            max=1,
        ),
        _panel(
            "timeseries",
            "Run duration",
            "How long each run's checks took.",
            _target("istio_vault_ca_last_run_duration_seconds", "duration"),
            (6, 8),
            unit="s",
        ),
    ]
    if monitoring.mode == "deployment":  # what only `serve` exports (a cronjob's push carries none of it)
        result += [
            _panel(
                "timeseries",
                "Run failures by reason",
                "Runs that produced no report, per hour, by reason.",
                _target("sum by (reason) (increase(istio_vault_ca_run_failures_total[1h]))", "{{reason}}"),
                (6, 8),
                unit="none",
            ),
            _panel(
                "stat",
                "Results stale",
                "1 when the results shown are an earlier run's (the latest failed).",
                _target("max(istio_vault_ca_results_stale)", instant=True),
                (4, 4),
                thresholds=_thresholds(("green", None), ("red", 1)),
                unit="none",
            ),
        ]
    return result


def _place(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ids and grid positions from the order: left to right, wrapping at Grafana's 24 columns."""
    x = y = row_height = 0
    placed = []
    for number, item in enumerate(items, start=1):
        height, width = item.pop("_size")
        if x + width > WIDTH:
            x, y, row_height = 0, y + row_height, 0
        placed.append({**item, "id": number, "gridPos": {"h": height, "w": width, "x": x, "y": y}})
        x, row_height = x + width, max(row_height, height)
    return placed


def dashboard(plan: ClusterPlan) -> dict[str, Any]:
    return {
        "title": f"istio-vault-ca: cluster {plan.name}",
        "uid": f"istio-vault-ca-{plan.name}"[:40],  # Grafana's limit on a uid
        "description": "The istio-vault-ca exporter's checks, CA certificate expiry and runs (rendered; re-render "
        "rather than edit).",
        "tags": ["istio-vault-ca", "istio", "vault"],
        "editable": True,
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-7d", "to": "now"},
        "refresh": "5m",
        "templating": {
            "list": [{"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"}]
        },
        "panels": _place(panels(plan)),
    }


def dashboard_json(plan: ClusterPlan) -> str:
    return json.dumps(dashboard(plan), indent=2, sort_keys=True) + "\n"
