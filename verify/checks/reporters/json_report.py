"""`{"checks": [{id, status, target, finding, hint}], "summary": {pass, warn, fail, error}}`: a public contract."""

from __future__ import annotations

import json

from ..result import Report
from .common import clean, summary_counts


def render(report: Report, *, collapse_passing_targets: bool = False, tty: bool = False) -> str:
    """Every check, always (machines filter for themselves)."""
    del collapse_passing_targets, tty
    document = {"checks": [clean(check) for check in report.checks], "summary": summary_counts(report)}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
