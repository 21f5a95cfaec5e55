"""`{"checks": [{id, status, target, finding, hint}], "summary": {pass, warn, fail, error, skip}}` and, when the run
read a config, `"config": SOURCE` (its path as given, or "built-in default"): a public contract."""

from __future__ import annotations

import json

from ..result import Report, redact
from .common import clean, summary_counts


def render(report: Report, *, collapse_passing_targets: bool = False, tty: bool = False) -> str:
    """Every check, always (machines filter for themselves)."""
    del collapse_passing_targets, tty
    document: dict[str, object] = {"checks": [clean(check) for check in report.checks]}
    document["summary"] = summary_counts(report)
    if report.facts.config is not None:
        document["config"] = redact(report.facts.config)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
