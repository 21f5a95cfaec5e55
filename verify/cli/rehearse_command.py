"""`istio-vault-ca rehearse`: a live progress display over the rehearsal runner, and its exit code.

Exit codes: 0 every step passed, 1 a step failed, 2 the config or `--server` is invalid, 3 OpenBao is not installed,
130 interrupted. Progress goes to stdout for `--output text`, to stderr when stdout carries a JSON or JUnit report.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from ..checks.result import Report, Status
from ..rehearsal.results import SUITE, Options, Outcome, StepResult, one_line
from ..rehearsal.runner import Rehearsal

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_MISSING_TOOL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
_LABELS = {
    Status.PASS: ("PASS", "green"),
    Status.WARN: ("WARN", "yellow"),
    Status.FAIL: ("FAIL", "bold red"),
    Status.ERROR: ("ERROR", "bold magenta"),
    Status.SKIP: ("skip", "dim"),
}


class Display:
    """One line per step with its status and time; live in a terminal, line by line in logs and CI."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.steps: list[StepResult] = []
        self.running: dict[str, float] = {}
        self.done: set[str] = set()
        self.live: Live | None = None

    def planned(self, steps: Sequence[StepResult]) -> None:
        self.steps = list(steps)
        if self.console.is_terminal:
            self.live = Live(self, console=self.console, refresh_per_second=8, transient=False)
            self.live.start()

    def started(self, step: StepResult) -> None:
        self.running[step.id] = time.monotonic()

    def finished(self, step: StepResult) -> None:
        """Print in plan order: steps passed over (an earlier one failed) show as skipped first."""
        index = next((i for i, planned in enumerate(self.steps) if planned.id == step.id), len(self.steps))
        for planned in self.steps[:index]:
            if planned.id not in self.done and planned.id not in self.running:
                self._finish(planned)
        self._finish(step)

    def _finish(self, step: StepResult) -> None:
        self.running.pop(step.id, None)
        self.done.add(step.id)
        if self.live is None:
            for line in step_lines(step):
                self.console.print(line, soft_wrap=True)

    def close(self) -> None:
        """Show the steps that never ran (an earlier one failed) as skipped, then stop the live display."""
        for step in self.steps:
            if step.id not in self.done:
                self._finish(step)
        if self.live is not None:
            self.live.refresh()
            self.live.stop()
            self.live = None

    def __rich__(self) -> RenderableType:
        lines: list[RenderableType] = []
        for step in self.steps:
            started = self.running.get(step.id)  # the live thread reads while the runner updates
            if started is not None:
                elapsed = time.monotonic() - started
                lines.append(Spinner("dots", text=Text(f"  {elapsed:5.1f} s  {step.title}", no_wrap=True)))
            elif step.id in self.done:
                lines.extend(step_lines(step, one_row=True))
            else:
                lines.append(Text(f"  ....  {'':>7}  {step.title}", style="dim"))
        return Group(*lines)


def step_lines(step: StepResult, *, one_row: bool = False) -> list[Text]:
    """The step's line, then (failures and warnings only) its cause and hint, indented.

    `one_row` keeps the step's own line to the terminal width (the live display); cause and hint still wrap.
    """
    label, style = _LABELS[step.status]
    line = Text(no_wrap=one_row, overflow="ellipsis")
    line.append(f"  {label:<5} ", style=style)
    line.append(f"{step.seconds:5.1f} s  " if step.status is not Status.SKIP else f"{'':>7}  ")
    line.append(step.title)
    if step.finding and step.status is Status.PASS:
        line.append(f": {step.finding}", style="dim")
    lines = [line]
    if step.status in (Status.FAIL, Status.ERROR):
        lines.append(Text(f"               cause: {step.finding}", style=style))
        if step.hint:
            lines.append(Text(f"               hint: {step.hint}"))
    notes = [check for check in step.checks if check.status is Status.WARN]
    if step.status is Status.WARN and not notes:
        notes = [step.as_check()]
    lines.extend(Text(f"               warning: {one_line(f'{n.target} {n.finding}')}", style="yellow") for n in notes)
    return lines


def summary(outcome: Outcome) -> list[Text]:
    if outcome.interrupted:
        return [
            Text(
                f"rehearsal interrupted after {outcome.seconds:.1f} s; everything it started is stopped",
                style="bold red",
            )
        ]
    failure = outcome.failure
    if failure is None:
        return [
            Text(
                f"rehearsal passed in {outcome.seconds:.1f} s: the rendered scripts, policy and istiod overlay work "
                f"together ({outcome.server} dev server, real agent, simulated Kubernetes TokenReview; "
                "no cluster used)",
                style="bold green",
            )
        ]
    lines = [Text(f'rehearsal FAILED at step "{failure.title}": {failure.finding}', style="bold red")]
    if failure.hint:
        lines.append(Text(f"hint: {failure.hint}"))
    return lines


def report_of(outcome: Outcome) -> Report:
    """Steps as checks (`rehearsal.<step>`, target = the step), each followed by its own sub-checks; the facts
    hold the certificates the agent wrote (the HTML report's chain and timeline), when the run began and the
    config it rehearsed."""
    from ...generator.config.defaults import WARN_DAYS  # the window the rehearsal's chain checks judge by
    from ..checks.facts import Facts

    facts = Facts(list(outcome.certificates), started=outcome.started, warn_days=WARN_DAYS)
    facts.config = outcome.source
    report = Report(facts=facts)
    for step in outcome.steps:
        report.checks.append(step.as_check())
        report.extend(step.checks)
    return report


def options_from(args: argparse.Namespace, server_kind: str = "openbao") -> Options:
    return Options(
        config=args.config,
        from_dir=Path(args.from_dir) if getattr(args, "from_dir", None) else None,
        keep_dir=Path(args.keep) if getattr(args, "keep", None) else None,
        server_kind=server_kind,
    )


def server_label(kind: str, chosen: str | None) -> str:
    """The server a rehearsal runs on, as the banner names it (with the binary's path when the user chose it)."""
    name = "Vault" if kind == "vault" else "OpenBao"
    return f"{name} ({chosen})" if chosen else name


def rehearse(args: argparse.Namespace) -> int:
    """Handler of `istio-vault-ca rehearse`."""
    from ...generator.config.loader import load
    from ...generator.errors import ConfigError, OpenBaoMissing, ServerBinaryRefused, UsageError
    from ..rehearsal.openbao import find_bao, server_binary
    from .failure import write_error_document

    output = getattr(args, "output", "text") or "text"
    console = Console(stderr=output != "text", highlight=False)
    kind = "openbao"
    try:
        bao, kind = server_binary(args.server) if getattr(args, "server", None) else (find_bao(), kind)
    except ServerBinaryRefused as error:
        print(error.render(), file=sys.stderr)
        write_error_document(error, args)
        return EXIT_USAGE
    except OpenBaoMissing as error:
        print(f"error: the rehearsal needs OpenBao: {error}", file=sys.stderr)
        write_error_document(error, args)
        return EXIT_MISSING_TOOL
    try:
        loaded = load(args.config)
        args.config_source = loaded.source
    except ConfigError as error:
        print(str(error), file=sys.stderr)
        write_error_document(error, args)
        return EXIT_USAGE
    options = options_from(args, kind)
    label = server_label(kind, bao if getattr(args, "server", None) else None)
    if options.keep_dir is not None and options.keep_dir.exists() and not options.keep_dir.is_dir():
        refused = UsageError(f"--keep {options.keep_dir} exists and is not a directory")
        print(f"error: {refused}", file=sys.stderr)
        write_error_document(refused, args)
        return EXIT_USAGE
    console.print(
        Text(
            f"Rehearsal of {loaded.source}: rendered scripts on a throw-away local {label}, a real "
            "agent from the same binary, and a simulated Kubernetes TokenReview standing in for the API server",
            style="bold",
        ),
        soft_wrap=True,
    )
    display = Display(console)
    try:
        outcome = Rehearsal(options, loaded, bao, display).run()
    finally:
        display.close()
    for line in summary(outcome):
        console.print(line, soft_wrap=True)
    if output != "text":  # the live display above is the text report
        from ..checks.reporters import get_reporter, junit

        report = report_of(outcome)
        sys.stdout.write(
            junit.render(report, suite=SUITE) if output == "junit" else get_reporter(output).render(report)
        )
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if outcome.ok else EXIT_FAILED
