"""Turn a `Report` into text (a table), JSON (a documented, stable shape) or JUnit XML (for CI).

Every string passes through `redact` on the way out, so even a check that misbehaves cannot print key material.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from istio_vault_ca.verify.checks.result import CheckResult, Report, Status, redact

FORMATS = ("text", "json", "junit")
# The JSON summary is a public contract: exactly these four counts (skips are listed, not counted).
SUMMARY_KEYS = ("pass", "warn", "fail", "error")
_STYLES = {
    Status.PASS: "green",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.ERROR: "bold magenta",
    Status.SKIP: "dim",
}


def _clean(check: CheckResult) -> dict[str, str]:
    return {
        "id": check.id,
        "status": check.status.value,
        "target": redact(check.target),
        "finding": redact(check.finding),
        "hint": redact(check.hint),
    }


def summary_counts(report: Report) -> dict[str, int]:
    counts = report.summary()
    return {key: counts[key] for key in SUMMARY_KEYS}


def summary_line(report: Report) -> str:
    counts = report.summary()
    parts = [f"{counts['pass']} passed", f"{counts['warn']} warned", f"{counts['fail']} failed"]
    parts.append(f"{counts['error']} errored")
    if counts["skip"]:
        parts.append(f"{counts['skip']} skipped")
    verdict = "OK" if report.ok else "FAILED"
    return f"{verdict}: {', '.join(parts)} ({len(report.checks)} checks)"


def to_json(report: Report) -> str:
    """`{"checks": [{id, status, target, finding, hint}], "summary": {pass, warn, fail, error}}`."""
    document = {"checks": [_clean(check) for check in report.checks], "summary": summary_counts(report)}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def to_junit(report: Report, suite: str = "istio-vault-ca verify") -> str:
    """One testcase per check (classname = target); fail -> <failure>, error -> <error>, skip -> <skipped>."""
    from xml.etree import ElementTree as ET

    counts = report.summary()
    testsuite = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(report.checks)),
        failures=str(counts["fail"]),
        errors=str(counts["error"]),
        skipped=str(counts["skip"]),
    )
    for check in report.checks:
        clean = _clean(check)
        case = ET.SubElement(testsuite, "testcase", classname=clean["target"], name=clean["id"])
        body = f"{clean['finding']}\nhint: {clean['hint']}" if clean["hint"] else clean["finding"]
        if check.status is Status.FAIL:
            ET.SubElement(case, "failure", message=clean["finding"], type="fail").text = body
        elif check.status is Status.ERROR:
            ET.SubElement(case, "error", message=clean["finding"], type="error").text = body
        elif check.status is Status.SKIP:
            ET.SubElement(case, "skipped", message=clean["finding"])
        else:
            ET.SubElement(case, "system-out").text = f"{check.status.value}: {body}"
    root = ET.Element("testsuites", name=suite)
    root.append(testsuite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def to_text(report: Report, stream: TextIO, *, collapse_passing_targets: bool = False) -> None:
    """A table people read in a terminal or a CI log, then the summary line."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=stream, width=None if stream.isatty() else 160, highlight=False, soft_wrap=False)
    table = Table(show_lines=False, header_style="bold", expand=False)
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("target", overflow="fold")
    table.add_column("finding", overflow="fold", ratio=1)
    rows = _collapse_passing_targets(report.checks) if collapse_passing_targets else report.checks
    for check in rows:
        clean = _clean(check)
        finding = Text(clean["finding"])
        if clean["hint"] and check.status is not Status.PASS:
            finding.append(f"\n→ {clean['hint']}", style="dim")
        table.add_row(Text(clean["status"].upper(), style=_STYLES[check.status]), clean["id"], clean["target"], finding)
    console.print(table)
    console.print(Text(summary_line(report), style="bold green" if report.ok else "bold red"))


def _collapse_passing_targets(checks: list[CheckResult]) -> list[CheckResult]:
    """For a fleet (`verify chain DIR...`), a target whose checks all passed reads as one row; the rest in full.

    A person scans a fleet report for what is wrong; JSON and JUnit always list every check.
    """
    by_target: dict[str, list[CheckResult]] = {}
    for check in checks:
        by_target.setdefault(check.target, []).append(check)
    if len(by_target) < 2:
        return checks
    rows: list[CheckResult] = []
    for target, own in by_target.items():
        if all(check.status is Status.PASS for check in own):
            rows.append(CheckResult(f"({len(own)} checks)", Status.PASS, target, f"all {len(own)} checks passed"))
        else:
            rows.extend(own)
    return rows


def emit(report: Report, output: str, stream: TextIO | None = None, *, collapse_passing_targets: bool = False) -> None:
    """Write the report in the requested format to `stream` (stdout by default)."""
    stream = stream or sys.stdout
    if output == "json":
        stream.write(to_json(report))
    elif output == "junit":
        stream.write(to_junit(report))
    else:
        to_text(report, stream, collapse_passing_targets=collapse_passing_targets)
