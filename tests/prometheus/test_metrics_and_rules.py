"""`--output prometheus` passes `promtool check metrics`; the rendered PrometheusRule passes `promtool check rules`
and `promtool test rules` fires each alert (expiry warning and critical, a failing check for 15 minutes, istiod on
the self-signed fallback, the exporter absent, stale results) from synthetic series, and stays quiet on healthy
ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from istio_vault_ca.verify.checks.facts import Facts, IstiodCaFact
from istio_vault_ca.verify.checks.reporters.prometheus import RunStatus, exposition
from istio_vault_ca.verify.checks.result import Report, failed, passed, skipped
from istio_vault_ca.verify.cli.parser import main
from tests import pki_factory
from tests.prometheus.tools import promtool
from tests.support import EXAMPLES, render_into

DAY = 86400


def test_verify_chain_output_passes_promtool_and_carries_the_not_after(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = pki_factory.good_bundle().write(tmp_path / "ca")
    assert main(["verify", "chain", str(directory), "--output", "prometheus"]) == 0
    text = capsys.readouterr().out
    checked = promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    inter, top = pki_factory.good_pair()
    samples = _samples(text)
    subject = {"intermediate": inter.cert, "root": top.cert}
    for role, cert in subject.items():
        cn = cert.subject.rfc4514_string().removeprefix("CN=")
        name = (
            "istio_vault_ca_certificate_not_after_timestamp_seconds"
            f'{{cluster="",position="0",role="{role}",source="files",subject="{cn}",target="{directory}"}}'
        )
        assert samples[name] == cert.not_valid_after_utc.timestamp()
    statuses = {k: v for k, v in samples.items() if k.startswith("istio_vault_ca_check_status{")}
    assert len(statuses) == 24 and set(statuses.values()) == {1.0}
    assert samples['istio_vault_ca_check_results{status="pass"}'] == 24.0


def test_json_output_is_unchanged_by_the_facts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = pki_factory.good_bundle().write(tmp_path / "ca")
    main(["verify", "chain", str(directory), "--output", "json"])
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"checks", "summary"}
    assert set(document["summary"]) == {"pass", "warn", "fail", "error", "skip"}


def test_status_values_worst_wins_skips_absent_and_labels_redacted() -> None:
    key_text = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    report = Report(
        [
            passed("pod.ca-file-modes", "pod/istio-system/istiod-1", "ok"),
            failed("pod.ca-file-modes", "pod/istio-system/istiod-1", "bad"),
            skipped("vault.kv-key-matches", "default", "given up"),
            passed("chain.pem", f"odd {key_text}", "ok"),
        ],
        Facts(clusters=("default",), istiod_ca=[IstiodCaFact("pod/istio-system/istiod-1", "default", "self_signed")]),
    )
    text = exposition(report, RunStatus(runs=3, failures={"vault_unreachable": 2}, stale=True, interval=60))
    assert promtool("check", "metrics", stdin=text).returncode == 0
    samples = _samples(text)
    assert (
        samples[
            'istio_vault_ca_check_status{check="pod.ca-file-modes",cluster="default",target="pod/istio-system/istiod-1"}'
        ]
        == -1.0
    )
    assert not any("kv-key-matches" in name for name in samples)
    assert "BEGIN PRIVATE KEY" not in text and "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in text
    source = 'istio_vault_ca_istiod_ca_source{cluster="default",source="%s",target="pod/istio-system/istiod-1"}'
    assert [samples[source % s] for s in ("plugged", "self_signed", "load_failed", "unknown")] == [0, 1, 0, 0]
    assert samples['istio_vault_ca_run_failures_total{reason="vault_unreachable"}'] == 2.0
    assert samples["istio_vault_ca_runs_total"] == 3.0
    assert samples["istio_vault_ca_results_stale"] == 1.0


def _samples(text: str) -> dict[str, float]:
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rendered PrometheusRule's groups as the plain rules file Prometheus and promtool read."""
    out = render_into(EXAMPLES / "monitoring.yaml", tmp_path_factory.mktemp("render") / "out")
    rule = YAML(typ="safe").load((out / "monitoring" / "prometheus-rule.yaml").read_text(encoding="utf-8"))
    assert rule["kind"] == "PrometheusRule"
    path = out.parent / "rules.yaml"
    path.write_text(json.dumps({"groups": rule["spec"]["groups"]}), encoding="utf-8")
    return path


def test_rendered_rules_pass_promtool_check_rules(rules_file: Path) -> None:
    result = promtool("check", "rules", str(rules_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


NOT_AFTER = (
    "istio_vault_ca_certificate_not_after_timestamp_seconds"
    '{role="intermediate",source="vault",target="t",cluster="default",position="0",subject="i"}'
)


ISTIOD_CA = 'istio_vault_ca_istiod_ca_source{target="pod/istio-system/istiod-1",cluster="default",source="%s"}'


def _cert_alert(name: str, severity: str) -> dict[str, object]:
    labels = {
        "alertname": name,
        "severity": severity,
        "role": "intermediate",
        "source": "vault",
        "target": "t",
        "cluster": "default",
        "position": "0",
        "subject": "i",
    }
    return {"exp_labels": labels}


UNIT_TESTS = {
    "rule_files": ["rules.yaml"],
    "evaluation_interval": "1m",
    "tests": [
        {  # 20 days left at t=0: warning, not critical
            "interval": "1m",
            "input_series": [{"series": NOT_AFTER, "values": f"{20 * DAY}+0x10"}],
            "alert_rule_test": [
                {
                    "eval_time": "5m",
                    "alertname": "IstioVaultCaCertificateExpiring",
                    "exp_alerts": [_cert_alert("IstioVaultCaCertificateExpiring", "warning")],
                },
                {"eval_time": "5m", "alertname": "IstioVaultCaCertificateExpiryCritical", "exp_alerts": []},
            ],
        },
        {  # 3 days left: critical, not the warning
            "interval": "1m",
            "input_series": [{"series": NOT_AFTER, "values": f"{3 * DAY}+0x10"}],
            "alert_rule_test": [
                {
                    "eval_time": "5m",
                    "alertname": "IstioVaultCaCertificateExpiryCritical",
                    "exp_alerts": [_cert_alert("IstioVaultCaCertificateExpiryCritical", "critical")],
                },
                {"eval_time": "5m", "alertname": "IstioVaultCaCertificateExpiring", "exp_alerts": []},
            ],
        },
        {  # a year left: quiet
            "interval": "1m",
            "input_series": [{"series": NOT_AFTER, "values": f"{365 * DAY}+0x10"}],
            "alert_rule_test": [
                {"eval_time": "5m", "alertname": "IstioVaultCaCertificateExpiring", "exp_alerts": []},
                {"eval_time": "5m", "alertname": "IstioVaultCaCertificateExpiryCritical", "exp_alerts": []},
            ],
        },
        {  # a failing check: pending at 10m, firing from 15m; a passing one never
            "interval": "1m",
            "input_series": [
                {
                    "series": 'istio_vault_ca_check_status{check="vault.root-cn",target="default",cluster="default"}',
                    "values": "-1x30",
                },
                {
                    "series": 'istio_vault_ca_check_status{check="vault.token",target="default",cluster="default"}',
                    "values": "1x30",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": "IstioVaultCaCheckFailing", "exp_alerts": []},
                {
                    "eval_time": "16m",
                    "alertname": "IstioVaultCaCheckFailing",
                    "exp_alerts": [
                        {
                            "exp_labels": {
                                "alertname": "IstioVaultCaCheckFailing",
                                "severity": "critical",
                                "check": "vault.root-cn",
                                "target": "default",
                                "cluster": "default",
                            }
                        }
                    ],
                },
            ],
        },
        {  # istiod on the self-signed fallback
            "interval": "1m",
            "input_series": [
                {
                    "series": ISTIOD_CA % "self_signed",
                    "values": "1x5",
                },
                {
                    "series": ISTIOD_CA % "plugged",
                    "values": "0x5",
                },
            ],
            "alert_rule_test": [
                {
                    "eval_time": "1m",
                    "alertname": "IstioVaultCaIstiodSelfSigned",
                    "exp_alerts": [
                        {
                            "exp_labels": {
                                "alertname": "IstioVaultCaIstiodSelfSigned",
                                "severity": "critical",
                                "source": "self_signed",
                                "target": "pod/istio-system/istiod-1",
                                "cluster": "default",
                            }
                        }
                    ],
                }
            ],
        },
        {  # the exporter absent: up is 0 (scrapes fail), then the alert after 10 minutes
            "interval": "1m",
            "input_series": [{"series": 'up{job="istio-vault-ca-exporter",instance="x"}', "values": "1 1 0x20"}],
            "alert_rule_test": [
                {"eval_time": "1m", "alertname": "IstioVaultCaExporterAbsent", "exp_alerts": []},
                {
                    "eval_time": "13m",
                    "alertname": "IstioVaultCaExporterAbsent",
                    "exp_alerts": [{"exp_labels": {"alertname": "IstioVaultCaExporterAbsent", "severity": "warning"}}],
                },
            ],
        },
        {  # stale: the last success 10 minutes old with a 60 s interval
            "interval": "1m",
            "input_series": [
                {"series": "istio_vault_ca_last_success_timestamp_seconds", "values": "0x20"},
                {"series": "istio_vault_ca_interval_seconds", "values": "60x20"},
            ],
            "alert_rule_test": [
                {"eval_time": "2m", "alertname": "IstioVaultCaResultsStale", "exp_alerts": []},
                {
                    "eval_time": "10m",
                    "alertname": "IstioVaultCaResultsStale",
                    "exp_alerts": [{"exp_labels": {"alertname": "IstioVaultCaResultsStale", "severity": "warning"}}],
                },
            ],
        },
    ],
}


def _with_annotations(rules_file: Path) -> dict[str, object]:
    """Each expected alert with the annotations the rendered rule gives it (its `$labels` filled in), since
    promtool compares annotations too."""
    rules = {r["alert"]: r for g in json.loads(rules_file.read_text(encoding="utf-8"))["groups"] for r in g["rules"]}
    document: dict[str, Any] = json.loads(json.dumps(UNIT_TESTS))
    for test in document["tests"]:
        for case in test["alert_rule_test"]:
            for alert in case["exp_alerts"]:
                labels = alert["exp_labels"]
                annotations = dict(rules[labels["alertname"]]["annotations"])
                for name, value in annotations.items():
                    for key, label in labels.items():
                        value = value.replace("{{ $labels." + key + " }}", label)
                    annotations[name] = value
                alert["exp_annotations"] = annotations
    return document


def test_promtool_test_rules_fires_each_alert(rules_file: Path) -> None:
    tests = rules_file.parent / "alerts_test.yaml"
    tests.write_text(json.dumps(_with_annotations(rules_file)), encoding="utf-8")
    result = promtool("test", "rules", str(tests), cwd=rules_file.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
