"""What every reporter shares: the redacted fields of a result and the summary counts and line."""

from __future__ import annotations

from ..result import CheckResult, Report, redact

# The JSON summary is a public contract: exactly these five counts, which add up to the number of checks.
SUMMARY_KEYS = ("pass", "warn", "fail", "error", "skip")


def clean(check: CheckResult) -> dict[str, str]:
    """The result's fields as people and machines see them, with anything key-like redacted."""
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


def config_line(report: Report) -> str | None:
    """ "config: SOURCE" for a run that judged against a config (None for one that read none, `verify chain DIR`).

    Paths are shown as given; a config path is never secret, but it passes `redact` like every other string."""
    source = report.facts.config
    return f"config: {redact(source)}" if source is not None else None


def summary_line(report: Report) -> str:
    counts = report.summary()
    parts = [f"{counts['pass']} passed", f"{counts['warn']} warned", f"{counts['fail']} failed"]
    parts.append(f"{counts['error']} errored")
    if counts["skip"]:
        parts.append(f"{counts['skip']} skipped")
    verdict = "OK" if report.ok else "FAILED"
    return f"{verdict}: {', '.join(parts)} ({len(report.checks)} checks)"
