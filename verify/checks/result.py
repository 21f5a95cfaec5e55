"""The one result type every check returns, so CLI, pytest suite and rehearsal share reporters.

Records here and in the other modules `verify chain` imports are NamedTuples and plain classes, not dataclasses:
importing `dataclasses` (it imports `inspect`) and building each dataclass cost more start-up time than the chain
checks themselves (README "Performance").
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import NamedTuple

from .facts import Facts


class Status(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"


class CheckResult(NamedTuple):
    """One finding. `id` is stable (scripts and dashboards key on it); `finding` is one line for people.

    Invariant: no field ever holds private key material.
    """

    id: str
    status: Status
    target: str
    finding: str
    hint: str = ""

    @property
    def failed(self) -> bool:
        return self.status in (Status.FAIL, Status.ERROR)


def passed(check_id: str, target: str, finding: str) -> CheckResult:
    return CheckResult(check_id, Status.PASS, target, finding)


def failed(check_id: str, target: str, finding: str, hint: str = "") -> CheckResult:
    return CheckResult(check_id, Status.FAIL, target, finding, hint)


def warned(check_id: str, target: str, finding: str, hint: str = "") -> CheckResult:
    return CheckResult(check_id, Status.WARN, target, finding, hint)


def skipped(check_id: str, target: str, finding: str, hint: str = "") -> CheckResult:
    return CheckResult(check_id, Status.SKIP, target, finding, hint)


def errored(check_id: str, target: str, finding: str, hint: str = "") -> CheckResult:
    return CheckResult(check_id, Status.ERROR, target, finding, hint)


class Report:
    """An ordered collection of results with the summary every reporter prints.

    `facts` (certificates, istiod's CA, reachability) feed only the Prometheus and HTML outputs; text, JSON and
    JUnit ignore them, so their shape never changes."""

    __slots__ = ("checks", "facts")

    def __init__(self, checks: list[CheckResult] | None = None, facts: Facts | None = None) -> None:
        self.checks: list[CheckResult] = checks if checks is not None else []
        self.facts: Facts = facts if facts is not None else Facts()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Report):
            return NotImplemented
        return (self.checks, self.facts) == (other.checks, other.facts)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it replaces

    def __repr__(self) -> str:
        return f"Report(checks={self.checks!r}, facts={self.facts!r})"

    def with_facts(self, facts: Facts) -> Report:
        """A copy holding the same results (the list is shared, as `dataclasses.replace` shared it) and `facts`."""
        return Report(self.checks, facts)

    def extend(self, results: Iterable[CheckResult]) -> None:
        self.checks.extend(results)

    def summary(self) -> dict[str, int]:
        counts = {"pass": 0, "warn": 0, "fail": 0, "error": 0, "skip": 0}
        for check in self.checks:
            counts[check.status.value] += 1
        return counts

    @property
    def ok(self) -> bool:
        return not any(check.failed for check in self.checks)

    def exit_code(self) -> int:
        """0 when nothing failed (warnings allowed), 1 otherwise. Connection problems exit 3 elsewhere."""
        return 0 if self.ok else 1


# PEM as RFC 7468 writes it: a label of capitals (PRIVATE KEY, EC PRIVATE KEY), base64 lines, optional headers
# (Proc-Type: 4,ENCRYPTED). Only that is key material: our own words about PEM ("a -----BEGIN line without its
# -----END?") have no label of capitals, and words on the BEGIN line are never base64 lines, so they stay.
_BEGIN = r"-----BEGIN [A-Z0-9][A-Z0-9 ]*-----"
_END = r"-----END [A-Z0-9][A-Z0-9 ]*-----"
# A complete block, its lines joined by newlines or (pasted into one line) by spaces.
_PEM_BLOCK = re.compile(_BEGIN + r"[A-Za-z0-9+/=\s:,.-]*?" + _END)
# A block without its END (a truncated file): the BEGIN line and each line after it that is base64 (a whole line,
# or 16 base64 characters or more where the file was cut) or an RFC 1421 header (Proc-Type:, DEK-Info:), blank
# lines between them included; a BEGIN line with nothing of that after it is words, not key material.
_WHOLE = r"(?=[ \t]*(?:\r?\n|$))"
_PEM_LINE = rf"(?:[A-Za-z0-9+/=]{{16,}}|[A-Za-z0-9+/=]+{_WHOLE}|[A-Z][A-Za-z]*-[A-Za-z-]+:[^\n]*)"
# After a private key's BEGIN line nothing is ours: everything up to its END (or the end of the text) goes.
_KEY_OPEN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:" + _END + "|$)", re.DOTALL)
_PEM_OPEN = re.compile(_BEGIN + r"(?:(?:[ \t]*\r?\n)+[ \t]*" + _PEM_LINE + ")+")
# A long run of base64 mixing digits and both cases (a plain directory path rarely does).
_BASE64_RUN = re.compile(r"(?=[A-Za-z0-9+/=]*[0-9])(?=[A-Za-z0-9+/=]*[A-Z])(?=[A-Za-z0-9+/=]*[a-z])[A-Za-z0-9+/=]{48,}")


def redact(text: str) -> str:
    """Remove anything that could be key material (PEM blocks, long base64 runs) from output text."""
    text = _PEM_BLOCK.sub("[redacted PEM]", text)
    text = _PEM_OPEN.sub("[redacted PEM]", _KEY_OPEN.sub("[redacted PEM]", text))
    return _BASE64_RUN.sub("[redacted]", text)
