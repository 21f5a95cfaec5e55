"""JUnit XML for CI: one testcase per check (classname = target); fail -> <failure>, error -> <error>; the config
the run judged against as the testsuite's `config` property (JUnit's place for what a run was run with)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from ..result import Report, Status, redact
from .common import clean

SUITE = "istio-vault-ca verify"


def render(report: Report, *, collapse_passing_targets: bool = False, tty: bool = False, suite: str = SUITE) -> str:
    """Every check, always; skip -> <skipped>, pass and warn -> <system-out> with the finding."""
    del collapse_passing_targets, tty
    counts = report.summary()
    testsuite = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(report.checks)),
        failures=str(counts["fail"]),
        errors=str(counts["error"]),
        skipped=str(counts["skip"]),
    )
    if report.facts.config is not None:
        properties = ET.SubElement(testsuite, "properties")
        ET.SubElement(properties, "property", name="config", value=redact(report.facts.config))
    for check in report.checks:
        fields = clean(check)
        case = ET.SubElement(testsuite, "testcase", classname=fields["target"], name=fields["id"])
        body = f"{fields['finding']}\nhint: {fields['hint']}" if fields["hint"] else fields["finding"]
        if check.status is Status.FAIL:
            ET.SubElement(case, "failure", message=fields["finding"], type="fail").text = body
        elif check.status is Status.ERROR:
            ET.SubElement(case, "error", message=fields["finding"], type="error").text = body
        elif check.status is Status.SKIP:
            ET.SubElement(case, "skipped", message=fields["finding"])
        else:
            ET.SubElement(case, "system-out").text = f"{check.status.value}: {body}"
    root = ET.Element("testsuites", name=suite)
    root.append(testsuite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
