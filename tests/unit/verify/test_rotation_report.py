"""`plan-rotation --output html`: the plan as results and certificates, drawn by the HTML reporter.

The plans come from the same fake Vault as tests/unit/verify/test_rotation.py; what is asserted is what the page
shows a reviewer: each CA's verdict and the action in its hint, and root -> intermediate drawn for the cluster.
"""

from __future__ import annotations

from pathlib import Path

from istio_vault_ca.verify.checks.reporters import get_reporter
from istio_vault_ca.verify.checks.result import Status
from istio_vault_ca.verify.rotation.report import rotation_report
from tests.html_page import assert_self_contained, check_rows, parse, section, text_of
from tests.unit.verify.test_rotation import IN_VAULT, NOW, _plans, _survey, _vault_with

ADDRESS = "http://127.0.0.1:8200"
# With not-before 30 days ago (the fixture's), the root lives the config's 87600h: no "config changed" note.
ROOT_DAYS = 3650 - 30


def test_an_intermediate_inside_the_window_warns_and_names_its_script(tmp_path: Path) -> None:
    (cluster,) = _plans(tmp_path, IN_VAULT % {"kv": 2})
    vault, root, inter = _vault_with(cluster, intermediate_days=10, root_days=ROOT_DAYS)
    report = rotation_report(_survey(vault, (cluster,)), ADDRESS, NOW, "rotation")
    verdicts = [(c.id, c.status, c.target) for c in report.checks]
    assert verdicts == [
        ("rotation.root", Status.PASS, ADDRESS),
        ("rotation.intermediate", Status.WARN, f"{ADDRESS} (cluster {cluster.name})"),
    ]
    assert report.checks[1].finding.startswith("DUE: CN=Test Intermediate")
    assert (
        report.checks[1].hint == f"review and run rotation/{cluster.name}/rotate-intermediate.sh (written by this run)"
    )
    assert report.facts.warn_days == 30 and report.facts.started == NOW.timestamp()
    facts = {fact.role: fact for fact in report.facts.certificates}
    assert facts["root"].not_after == root.cert.not_valid_after_utc.timestamp()
    assert facts["intermediate"].not_before == inter.cert.not_valid_before_utc.timestamp()
    assert (facts["intermediate"].issuer, facts["intermediate"].key_type) == ("Test Root", "EC P-256")

    page = parse(get_reporter("html").render(report))
    [chain] = section(page, "chains").findall(".//svg")
    titles = [text_of(t) for t in chain.iter("text") if t.get("class") == "node-title"]
    assert titles == ["root", "intermediate"]  # plan-rotation issues no test leaf: none is drawn
    [row] = check_rows(section(page, "findings"))
    assert row.get("data-check") == "rotation.intermediate" and "rotate-intermediate.sh" in text_of(row)
    assert_self_contained(get_reporter("html").render(report))


def test_expired_root_fails_with_the_root_rotation_as_hint(tmp_path: Path) -> None:
    (cluster,) = _plans(tmp_path, IN_VAULT % {"kv": 2})
    vault, _, _ = _vault_with(cluster, intermediate_days=-3, root_days=-1)
    report = rotation_report(_survey(vault, (cluster,)), ADDRESS, NOW, "out")
    root, inter = report.checks
    assert (root.status, inter.status) == (Status.FAIL, Status.FAIL)
    assert root.hint.startswith("rotate the root in phases: istio-vault-ca plan-rotation --root")
    assert inter.finding.startswith("EXPIRED: ")


def test_a_missing_intermediate_fails_with_the_note(tmp_path: Path) -> None:
    (cluster,) = _plans(tmp_path, IN_VAULT % {"kv": 2})
    vault, _, _ = _vault_with(cluster, intermediate_days=300)
    del vault.responses[f"{cluster.cluster.intermediate_mount}/cert/ca"]
    report = rotation_report(_survey(vault, (cluster,)), ADDRESS, NOW, "out")
    missing = report.checks[1]
    assert (missing.status, missing.finding) == (Status.FAIL, "no intermediate found")
    assert "run the cluster's vault/setup.sh" in missing.hint
    assert [fact.role for fact in report.facts.certificates] == ["root"]


def test_nothing_to_note_passes_and_a_note_warns(tmp_path: Path) -> None:
    (cluster,) = _plans(tmp_path, IN_VAULT % {"kv": 2})
    vault, _, _ = _vault_with(cluster, intermediate_days=335, root_days=ROOT_DAYS)
    report = rotation_report(_survey(vault, (cluster,)), ADDRESS, NOW, "out")
    assert [(c.status, c.hint) for c in report.checks] == [(Status.PASS, ""), (Status.PASS, "")]
    assert report.ok
    # A root longer-lived than the config asks for is noted: it warns, the note as its hint.
    vault, _, _ = _vault_with(cluster, intermediate_days=335)
    root = rotation_report(_survey(vault, (cluster,)), ADDRESS, NOW, "out").checks[0]
    assert root.status is Status.WARN and root.hint.startswith("config changed: root.ttl")
