"""The one result type every check returns, so CLI, pytest suite and rehearsal share reporters.

Records here and in the other modules `verify chain` imports are NamedTuples and plain classes, not dataclasses:
importing `dataclasses` (it imports `inspect`) and building each dataclass cost more start-up time than the chain
checks themselves (docs/maintainers/performance.md).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import NamedTuple

from ..redact import redact
from .facts import Facts

__all__ = ["CheckResult", "Report", "Status", "errored", "failed", "passed", "redact", "skipped", "warned"]


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
