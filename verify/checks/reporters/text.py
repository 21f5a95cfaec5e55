"""Text for people: a table on a wide terminal, a stacked list below 120 columns, then the summary line.

Drawn by hand (no rich): importing a layout library cost more than every chain check together, and a table of
four columns needs only padding and wrapping. Colour only on a terminal, never in a CI log or a file.
"""

from __future__ import annotations

import os
import re

from ..result import CheckResult, Report, Status
from .common import clean, config_line, summary_line

# Below this many columns a four-column table leaves the finding ~20 characters: stack the fields instead.
TABLE_MIN_COLUMNS = 120
# Width for output that is not a terminal (CI logs, files), unless COLUMNS says otherwise.
PIPE_COLUMNS = 160
TARGET_MAX = 40
_COLOURS = {
    Status.PASS: "32",
    Status.WARN: "33",
    Status.FAIL: "1;31",
    Status.ERROR: "1;35",
    Status.SKIP: "2",
}


def _columns(tty: bool) -> int:
    """COLUMNS when set (as people and tests set it), else the terminal's width, else PIPE_COLUMNS."""
    explicit = os.environ.get("COLUMNS", "")
    if explicit.isdigit() and int(explicit) > 0:
        return int(explicit)
    if not tty:
        return PIPE_COLUMNS
    import shutil  # only on a terminal: its import (compression modules) is a noticeable part of `verify chain`

    return shutil.get_terminal_size((PIPE_COLUMNS, 24)).columns


# textwrap's whitespace, each made a space (it expands tabs first); runs of spaces are chunks of their own.
_SPACES = str.maketrans("\t\n\x0b\x0c\r", "     ")
_CHUNKS = re.compile(r"( +)")


def wrap(text: str, width: int, breaks: str = "") -> list[str]:
    """`textwrap.wrap(text, width, break_on_hyphens=False)`, line for line (a test compares them), without importing
    textwrap. A word longer than a line is cut at the width, or with `breaks` just after the last of those
    characters that fits ("/" for a target: a path reads best cut after a directory)."""
    chunks = [chunk for chunk in _CHUNKS.split(text.expandtabs().translate(_SPACES)) if chunk]
    chunks.reverse()
    lines: list[str] = []
    while chunks:
        line: list[str] = []
        length = 0
        if lines and chunks[-1].strip() == "":  # no line but the first starts with spaces
            del chunks[-1]
        while chunks and length + len(chunks[-1]) <= width:
            length += len(chunks[-1])
            line.append(chunks.pop())
        if chunks and len(chunks[-1]) > width:  # a word longer than a line: cut it
            word, room = chunks[-1], max(width - length, 0) if width >= 1 else 1
            cut = max((word.rfind(mark, 0, room) for mark in breaks), default=-1)
            end = cut + 1 if cut > 0 and len(word) > room else room
            line.append(word[:end])
            chunks[-1] = word[end:]
        if line and line[-1].strip() == "":  # nor ends with them
            del line[-1]
        if line:
            lines.append("".join(line))
    return lines


def _paint(text: str, status: Status | None, tty: bool, code: str = "") -> str:
    code = code or (_COLOURS[status] if status else "")
    return f"\x1b[{code}m{text}\x1b[0m" if tty and code else text


def render(report: Report, *, collapse_passing_targets: bool = False, tty: bool = False) -> str:
    """The report as lines; `tty` (the stream is a terminal) decides colour and the default width."""
    width = _columns(tty)
    rows = _collapse_passing_targets(report.checks) if collapse_passing_targets else report.checks
    lines = _table(rows, width, tty) if width >= TABLE_MIN_COLUMNS else _stacked(rows, width, tty)
    config = config_line(report)
    if config is not None:
        lines.append(config)
    lines.append(_paint(summary_line(report), None, tty, "1;32" if report.ok else "1;31"))
    return "\n".join(lines) + "\n"


def _finding_lines(check: CheckResult, fields: dict[str, str], width: int) -> list[str]:
    lines = wrap(fields["finding"], width) or [""]
    if fields["hint"] and check.status is not Status.PASS:
        lines += wrap(f"→ {fields['hint']}", width)
    return lines


def _table(rows: list[CheckResult], width: int, tty: bool) -> list[str]:
    all_fields = [clean(check) for check in rows]
    id_width = max([len("check"), *(len(f["id"]) for f in all_fields)])
    target_width = min(TARGET_MAX, max([len("target"), *(len(f["target"]) for f in all_fields)]))
    finding_width = max(20, width - (5 + id_width + target_width + 3 * 2))
    header = f"{'status':<6} {'check':<{id_width}}  {'target':<{target_width}}  finding"
    lines = [_paint(header, None, tty, "1"), "-" * min(width, len(header) + finding_width - len("finding"))]
    for check, fields in zip(rows, all_fields, strict=True):
        targets = wrap(fields["target"], target_width, "/") or [""]
        findings = _finding_lines(check, fields, finding_width)
        for index in range(max(len(targets), len(findings))):
            status = fields["status"].upper() if index == 0 else ""
            check_id = fields["id"] if index == 0 else ""
            target = targets[index] if index < len(targets) else ""
            finding = findings[index] if index < len(findings) else ""
            cell = _paint(f"{status:<6}", check.status, tty)
            lines.append(f"{cell} {check_id:<{id_width}}  {target:<{target_width}}  {finding}".rstrip())
    return lines


def _stacked(rows: list[CheckResult], width: int, tty: bool) -> list[str]:
    """One block per check: status, id and target on the first line, the finding and hint indented below."""
    lines: list[str] = []
    for check in rows:
        fields = clean(check)
        lines.append(f"{_paint(fields['status'].upper(), check.status, tty)} {fields['id']}  {fields['target']}")
        lines += [f"    {line}" for line in _finding_lines(check, fields, max(20, width - 4))]
    return lines


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
