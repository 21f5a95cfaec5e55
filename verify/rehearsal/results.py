"""What a rehearsal reports: its steps, their outcome, and the observer that shows progress.

Kept apart from the runner so the CLI's display and reports depend on these types only. No text here holds a
private key: every finding goes through `one_line`, which redacts PEM blocks and long base64 runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..checks.facts import CertificateFact
from ..checks.result import CheckResult, Status, redact

# The JUnit testsuite name of rehearse's reports (and of its error documents: verify/cli/failure.py).
SUITE = "istio-vault-ca rehearse"


def scrub(text: str) -> str:
    """Remove key material (any PEM block, long base64 runs) from text meant for people or reports."""
    return redact(text)


def one_line(text: str, limit: int = 220) -> str:
    line = " ".join(scrub(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class StepResult:
    """One line of the progress display; `checks` holds the sub-results of steps that run several checks."""

    id: str
    title: str
    status: Status = Status.SKIP
    seconds: float = 0.0
    finding: str = ""
    hint: str = ""
    checks: list[CheckResult] = field(default_factory=list)

    def as_check(self) -> CheckResult:
        return CheckResult(f"rehearsal.{self.id}", self.status, self.title, self.finding, self.hint)


class Observer(Protocol):
    """Receives progress; called from the thread that runs the rehearsal only."""

    def planned(self, steps: Sequence[StepResult]) -> None: ...

    def started(self, step: StepResult) -> None: ...

    def finished(self, step: StepResult) -> None: ...


@dataclass(frozen=True)
class Options:
    config: str | None = None
    from_dir: Path | None = None
    keep_dir: Path | None = None
    setup_timeout: float = 300.0
    agent_timeout: float = 30.0
    # `--server PATH`: what `server_binary` made of it (vault | openbao); the binary itself is the runner's `bao`.
    server_kind: str = "openbao"


@dataclass
class Outcome:
    """What happened. `workdir` and `pids` let callers prove that nothing was left behind."""

    source: str
    steps: list[StepResult]
    seconds: float = 0.0
    interrupted: bool = False
    workdir: Path | None = None
    pids: list[int] = field(default_factory=list)
    server: str = "OpenBao"  # the dev server's product, as the summary names it (Vault with a --server vault)
    # The certificates of the CA files the agent wrote (the HTML report draws them); never the key.
    certificates: list[CertificateFact] = field(default_factory=list)
    started: float | None = None  # the Unix time the run began, the HTML timeline's "today"

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(step.status in (Status.PASS, Status.WARN) for step in self.steps)

    @property
    def failure(self) -> StepResult | None:
        return next((step for step in self.steps if step.status in (Status.FAIL, Status.ERROR)), None)


@dataclass(frozen=True)
class Done:
    """A step that passed (or warned): its one-line finding and any sub-checks."""

    finding: str
    status: Status = Status.PASS
    checks: tuple[CheckResult, ...] = ()
