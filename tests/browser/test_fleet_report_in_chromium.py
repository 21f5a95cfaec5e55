"""`verify fleet`'s HTML page in a real browser: the trust matrix and the effective-expiry timeline render, with no
console message and no load but the page. The report is built from certificates made here (the fleet's judging
and facts, as verify/runs/fleet.py records them); the run against a real OpenBao is tests/integration's."""

from __future__ import annotations

from pathlib import Path

import pytest

from istio_vault_ca.verify.checks.fleet import check_fleet
from istio_vault_ca.verify.checks.reporters import html_report
from istio_vault_ca.verify.checks.result import Report
from istio_vault_ca.verify.runs.fleet import add_fleet_facts
from tests.browser import chromium
from tests.browser.test_report_in_chromium import elements
from tests.unit.test_fleet_judging import NOW, fleet, root, seen


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chromium.require()
    state = fleet(
        seen("east", root()),
        seen("west", root(), days=10),  # its intermediate ends inside the 30-day window
        seen("central", root("Foreign Root"), trusted=(root(),)),
    )
    report = Report(check_fleet(state))
    report.facts.started, report.facts.warn_days = NOW.timestamp(), 30
    add_fleet_facts(state, report)
    path = tmp_path_factory.mktemp("fleet-report") / "fleet.html"
    path.write_text(html_report.render(report), encoding="utf-8")
    return path


def test_the_matrix_and_the_timeline_render_without_console_messages(page: Path) -> None:
    run = chromium.run(page, "--dump-dom")
    assert run.returncode == 0, run.log[-2000:]
    assert run.console() == []
    assert run.loads() == [page.resolve().as_uri()]
    found = elements(run.stdout)
    cells = [attrs.get("class") for tag, attrs in found if tag == "td" and "trust-" in (attrs.get("class") or "")]
    assert cells.count("trust-yes") == 6 and cells.count("trust-no") == 3  # central's column rejects
    bars = [attrs for tag, attrs in found if tag == "g" and attrs.get("data-role") == "effective expiry"]
    assert sorted(str(attrs["data-target"]) for attrs in bars) == ["central", "east", "west"]
    assert [attrs["class"] for attrs in bars if attrs["data-target"] == "west"] == ["row expiry-due"]
