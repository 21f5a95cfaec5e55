"""The one result type every check returns, so CLI, pytest suite and rehearsal share reporters."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from istio_vault_ca.verify.checks.facts import Facts


class Status(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckResult:
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


@dataclass
class Report:
    """An ordered collection of results with the summary every reporter prints.

    `facts` (expiries, istiod's CA, reachability) feed only the Prometheus output; the other formats ignore
    them, so their shape never changes."""

    checks: list[CheckResult] = field(default_factory=list)
    facts: Facts = field(default_factory=Facts)

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


_PEM_BLOCK = re.compile(r"-----BEGIN [^-]+-----.*?(?:-----END [^-]+-----|$)", re.DOTALL)
# A long run of base64 mixing digits and both cases (a plain directory path rarely does).
_BASE64_RUN = re.compile(r"(?=[A-Za-z0-9+/=]*[0-9])(?=[A-Za-z0-9+/=]*[A-Z])(?=[A-Za-z0-9+/=]*[a-z])[A-Za-z0-9+/=]{48,}")


def redact(text: str) -> str:
    """Remove anything that could be key material (PEM blocks, long base64 runs) from output text."""
    return _BASE64_RUN.sub("[redacted]", _PEM_BLOCK.sub("[redacted PEM]", text))
