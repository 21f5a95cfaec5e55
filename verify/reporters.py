"""Turn a `Report` into text (a table), JSON (a documented, stable shape) or JUnit XML (for CI).

Every string passes through `redact` on the way out, so even a check that misbehaves cannot print key material.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from typing import TextIO

from verify.result import CheckResult, Report, Status, redact

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


# rich's default table box (HEAVY_HEAD): top, header row, header rule, body row, bottom.
_BOX = ("┏━┳┓", "┃┃┃", "┡━╇┩", "│││", "└─┴┘")
_ANSI = {Status.PASS: "32", Status.WARN: "33", Status.FAIL: "1;31", Status.ERROR: "1;35", Status.SKIP: "2"}
_HEADER = ("status", "check", "target", "finding")


def to_text(report: Report, stream: TextIO) -> None:
    """A table people read in a terminal or a CI log, then the summary line.

    Drawn directly rather than with rich: a fleet's report has thousands of rows, which rich lays out at about a
    millisecond each. Colours only on a terminal (and never with NO_COLOR).
    """
    color = stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    width = shutil.get_terminal_size().columns if stream.isatty() else 160

    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color and text else text

    rows: list[tuple[Status, list[list[str]], int]] = []
    for check in report.checks:
        clean = _clean(check)
        finding = clean["finding"].split("\n")
        cells = [[clean["status"].upper()], [clean["id"]], clean["target"].split("\n"), finding]
        if clean["hint"] and check.status is not Status.PASS:
            cells[3] = [*finding, *f"→ {clean['hint']}".split("\n")]
        rows.append((check.status, cells, len(finding)))
    widths = [len(name) for name in _HEADER]
    for _, cells, _ in rows:
        widths = [max(w, *(len(line) for line in cell)) for w, cell in zip(widths, cells, strict=True)]
    _fit(widths, width - 3 * len(widths) - 1)
    for column in (2, 3):
        widest = len(_HEADER[column])
        for _, cells, _ in rows:
            widest = max(widest, *(len(line) for line in _wrap(cells[column], widths[column])))
        widths[column] = widest

    def rule(box: str) -> str:
        return box[0] + box[2].join(box[1] * (w + 2) for w in widths) + box[3]

    out = [rule(_BOX[0])]
    out.append(
        _BOX[1][0] + _BOX[1][1].join(f" {paint(n.ljust(w), '1')} " for n, w in zip(_HEADER, widths, strict=True))
    )
    out[-1] += _BOX[1][2]
    out.append(rule(_BOX[2]))
    for status, cells, finding_lines in rows:
        wrapped = [_wrap(cell, w) for cell, w in zip(cells, widths, strict=True)]
        # Which wrapped lines of the finding column are the hint (dim): those after the finding's own lines.
        hint_from = len(_wrap(cells[3][:finding_lines], widths[3]))
        for index in range(max(len(lines) for lines in wrapped)):
            parts = []
            for number, (lines, w) in enumerate(zip(wrapped, widths, strict=True)):
                text = lines[index] if index < len(lines) else ""
                padded = text.ljust(w)
                if number == 0:
                    padded = paint(text, _ANSI[status]) + " " * (w - len(text))
                elif number == 3 and index >= hint_from:
                    padded = paint(text, "2") + " " * (w - len(text))
                parts.append(f" {padded} ")
            out.append(_BOX[3][0] + _BOX[3][1].join(parts) + _BOX[3][2])
    out.append(rule(_BOX[4]))
    out.append(paint(summary_line(report), "1;32" if report.ok else "1;31"))
    stream.write("\n".join(out) + "\n")


def _fit(widths: list[int], available: int) -> None:
    """Shrink the widest wrapping column (target, finding) towards the next widest until the table fits, as rich
    does; status and check never wrap."""
    wraps = (False, False, True, True)
    while (excess := sum(widths) - available) > 0:
        widest = max(w for w, wrap in zip(widths, wraps, strict=True) if wrap)
        second = max((w for w, wrap in zip(widths, wraps, strict=True) if wrap and w != widest), default=0)
        columns = [i for i, (w, wrap) in enumerate(zip(widths, wraps, strict=True)) if wrap and w == widest]
        if widest == second or widest <= 1:
            cut = -(-excess // len(columns))  # equal widths: shrink them together
        else:
            cut = min(-(-excess // len(columns)), widest - second)
        for index in columns:
            widths[index] = max(widths[index] - cut, 1)
        if all(widths[i] <= 1 for i in (2, 3)):
            return


def _wrap(lines: list[str], width: int) -> list[str]:
    """Word-wrap each line to `width`, folding words longer than that; empty lines stay."""
    wrapped: list[str] = []
    for line in lines:
        if len(line) <= width:
            wrapped.append(line)
        else:
            wrapped += textwrap.wrap(line, width, break_long_words=True, break_on_hyphens=False) or [""]
    return wrapped


def emit(report: Report, output: str, stream: TextIO | None = None) -> None:
    """Write the report in the requested format to `stream` (stdout by default)."""
    stream = stream or sys.stdout
    if output == "json":
        stream.write(to_json(report))
    elif output == "junit":
        stream.write(to_junit(report))
    else:
        to_text(report, stream)
