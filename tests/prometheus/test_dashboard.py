"""The rendered Grafana dashboard (monitoring/grafana-dashboard.json) asks only for what the exporter emits.

The metric names are taken from the exporter itself: a real `serve` process on a CA directory, its /metrics read
over HTTP (the `# TYPE` line of every family, samples or not). Every panel's PromQL expression is parsed and each
metric it selects must be one of them; then promtool's parser checks each expression (as a recording rule) and a
real Prometheus scraping that exporter evaluates each one: accepted by the server, and a non-empty answer
whenever the series it selects are there. Without promtool or prometheus those two skip saying so (CI fails).
The exporter on a directory labels its series with an empty `cluster`, so for the live queries the dashboard's
`cluster="<name>"` selector is pointed at `cluster=""`; nothing else in an expression is changed.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from istio_vault_ca.verify.rehearsal.openbao import free_port
from tests import pki_factory
from tests.prometheus.tools import POLL, WAIT, get, promtool, require
from tests.support import CLI, EXAMPLES, REPO, render_into, wait_until

DASHBOARD = Path("monitoring") / "grafana-dashboard.json"
CRONJOB = (
    "monitoring:\n  enabled: true\n  image: registry.example/ivc:1\n  mode: cronjob\n"
    "  pushgateway_url: http://pushgateway.monitoring:9091\n"
)
# PromQL words that are not metric names: binary and set operators, modifiers, and number literals' names.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS |= {"inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers left once strings, label matchers, ranges and label
    lists (`by (...)`) are removed, other than functions and aggregations (followed by `(`) and keywords."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        if text[match.end() :].lstrip().startswith("(") or match.group().lower() in KEYWORDS:
            continue
        names.add(match.group())
    return names


def rendered(config: Path | None, out: Path) -> dict[str, Any]:
    tree = render_into(config, out)
    document: dict[str, Any] = json.loads((tree / DASHBOARD).read_text(encoding="utf-8"))
    return document


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@pytest.fixture(scope="module")
def dashboards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    work = tmp_path_factory.mktemp("dashboards")
    (work / "cronjob.yaml").write_text(CRONJOB, encoding="utf-8")
    return {
        "deployment": rendered(EXAMPLES / "monitoring.yaml", work / "deployment"),
        "cronjob": rendered(work / "cronjob.yaml", work / "cronjob"),
    }


@pytest.fixture(scope="module")
def exporter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """A real `serve` on three CA directories (good, one that warns, one that fails, so checks of every outcome
    have series): its port and the first /metrics body holding check results."""
    work = tmp_path_factory.mktemp("exporter")
    bundles = {
        "good": pki_factory.good_bundle(),
        "warns": pki_factory.BAD_BUNDLES["chain in root-first order"][0](),
        "fails": pki_factory.BAD_BUNDLES["swapped key"][0](),
    }
    directories = [str(bundle.write(work / name)) for name, bundle in bundles.items()]
    port = free_port()
    log = (work / "serve.log").open("w")
    process = subprocess.Popen(
        [*CLI, "serve", "--listen", f"127.0.0.1:{port}", "--interval", "3600", "chain", *directories],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
    )  # fmt: skip
    try:
        body = wait_until(
            lambda: text if (text := get(f"http://127.0.0.1:{port}/metrics")) and "check_status{" in text else None,
            WAIT,
            "the exporter's first run",
            interval=POLL,
        )
        yield port, body
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


def emitted(body: str) -> set[str]:
    """Every name a query can select from the exposition: a gauge's family name, a counter's with `_total`."""
    names = set()
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(f"{name}_total" if kind == "counter" and not name.endswith("_total") else name)
    return names


def test_the_parser_finds_metric_names_and_nothing_else() -> None:
    expr = 'sum by (reason) (increase(foo_total{a="b{c}"}[1h])) / on (x) group_left bar or vector(0) > bool 1'
    assert metric_names(expr) == {"foo_total", "bar"}
    assert metric_names("time() - max(istio_vault_ca_last_run_timestamp_seconds)") == {
        "istio_vault_ca_last_run_timestamp_seconds"
    }
    assert metric_names('up{job="x"} == 1') == {"up"}  # Prometheus's own series: not the exporter's


def test_every_query_uses_only_metrics_the_exporter_emits(
    dashboards: dict[str, dict[str, Any]], exporter: tuple[int, str]
) -> None:
    names = emitted(exporter[1])
    assert "istio_vault_ca_check_status" in names and "istio_vault_ca_runs_total" in names
    for mode, dashboard in dashboards.items():
        used = {name for expr in expressions(dashboard) for name in metric_names(expr)}
        assert used, mode
        assert used <= names, f"{mode}: the dashboard asks for metrics the exporter never emits: {used - names}"
    used = {name for expr in expressions(dashboards["deployment"]) for name in metric_names(expr)}
    assert "istio_vault_ca_certificate_not_after_timestamp_seconds" in used
    assert "istio_vault_ca_run_failures_total" in used and "istio_vault_ca_results_stale" in used


def test_the_cronjob_dashboard_leaves_out_what_only_serve_exports(dashboards: dict[str, dict[str, Any]]) -> None:
    used = {name for expr in expressions(dashboards["cronjob"]) for name in metric_names(expr)}
    assert not used & {"istio_vault_ca_run_failures_total", "istio_vault_ca_results_stale"}
    titles = [panel["title"] for panel in dashboards["cronjob"]["panels"]]
    assert "Run failures by reason" not in titles and "Checks failing" in titles


def test_the_dashboard_is_one_grid_with_this_cluster_and_the_configs_thresholds(
    dashboards: dict[str, dict[str, Any]],
) -> None:
    dashboard = dashboards["deployment"]
    assert dashboard["uid"] == "istio-vault-ca-default" and dashboard["title"] == "istio-vault-ca: cluster default"
    panels = dashboard["panels"]
    assert [panel["id"] for panel in panels] == list(range(1, len(panels) + 1))
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and panel["datasource"]["uid"] == "${datasource}"
        for expr in (target["expr"] for target in panel["targets"]):
            if "cluster" in expr:
                assert 'cluster="default"' in expr
    expiry = next(panel for panel in panels if panel["title"] == "Days to the first CA expiry")
    steps = [step["value"] for step in expiry["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert steps == [None, 7, 30]  # examples/monitoring.yaml's alerts, the PrometheusRule's thresholds


def test_promtool_parses_every_query(dashboards: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    exprs = sorted({expr for dashboard in dashboards.values() for expr in expressions(dashboard)})
    rules = [{"record": f"dashboard:query{number}", "expr": expr} for number, expr in enumerate(exprs)]
    path = tmp_path / "queries.yaml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules)} rules found" in checked.stdout
    path.write_text(json.dumps({"groups": [{"name": "bad", "rules": [{"record": "r", "expr": "sum(("}]}]}))
    assert promtool("check", "rules", str(path)).returncode != 0  # the parser does refuse a broken expression


def test_prometheus_scraping_the_exporter_evaluates_every_query(
    dashboards: dict[str, dict[str, Any]], exporter: tuple[int, str], tmp_path: Path
) -> None:
    prometheus = require("prometheus")
    port, body = exporter
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [{"job_name": "ivc", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
            }
        ),
        encoding="utf-8",
    )
    server = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{prom_port}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"),
    )  # fmt: skip
    with_samples = {line.split("{")[0].split(" ")[0] for line in body.splitlines() if line and line[0] != "#"}

    def query(expr: str) -> dict[str, Any] | None:
        url = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        text = get(url)
        return json.loads(text) if text else None

    try:
        wait_until(
            lambda: (query("istio_vault_ca_check_status") or {}).get("data", {}).get("result"),
            WAIT,
            "Prometheus to hold the exporter's series",
            interval=POLL,
        )
        exprs = sorted({expr for dashboard in dashboards.values() for expr in expressions(dashboard)})
        answered = []
        for expr in exprs:
            live = expr.replace('cluster="default"', 'cluster=""')
            answer = query(live)
            assert answer is not None and answer["status"] == "success", (expr, answer)
            if metric_names(expr) <= with_samples:
                assert answer["data"]["result"], f"no answer for {live} although the exporter has its series"
                answered.append(expr)
        # On directories alone no istiod pod is read, no service is reached and no run failed: only those wait.
        unanswered = {name for expr in exprs if expr not in answered for name in metric_names(expr)}
        assert unanswered == {f"istio_vault_ca_{n}" for n in ("istiod_ca_source", "reachable", "run_failures_total")}
    finally:
        server.terminate()
        server.wait(timeout=30)
