"""Child processes of the rehearsal: each in its own session, killed as a group, and signals during teardown.

A script or agent can start children of its own; killing the process group is what guarantees that nothing
outlives the run, also on Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from ...generator.errors import RehearsalStepFailed

STOP_GRACE = 3.0


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, handled like Ctrl-C so teardown still runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def no_interrupts() -> Iterator[None]:
    """Teardown must finish even if Ctrl-C is pressed again."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a process we started in its own session, and everything it started, TERM then KILL."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, STOP_GRACE)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_logged(
    argv: list[str],
    env: dict[str, str],
    log: Path,
    timeout: float,
    *,
    cwd: Path,
    started: list[subprocess.Popen[bytes]],
) -> int:
    """Run a child in its own session with its output in `log` (never shown raw); kill its group on exit.

    The process is appended to `started` so teardown can prove it is gone.
    """
    log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with log.open("wb") as stream:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=stream,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        started.append(process)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RehearsalStepFailed(f"{Path(argv[1]).name} did not finish within {timeout:.0f} s") from None
        finally:
            kill_group(process)
