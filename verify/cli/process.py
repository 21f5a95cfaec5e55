"""How a command's process runs and ends: without the cyclic garbage collector when it runs once, and for
`verify chain` and `render` without the interpreter's teardown. Both are start-up time a one-shot command does
not need (docs/maintainers/performance.md); `main` (parser.py) applies them."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence

# Commands that run for minutes (rehearse) or until stopped (serve): they keep Python's cyclic garbage collector.
LONG_RUNNING = ("serve", "rehearse")


def collect_garbage_only_if_long_running(arguments: Sequence[str]) -> None:
    """A command that runs once and exits holds little it could free: without the cyclic collector's passes over
    every object its imports create, `verify chain` and `render` run ~3% fewer instructions."""
    if not arguments or arguments[0] not in LONG_RUNNING:
        gc.disable()


def exit_without_teardown(code: int) -> None:
    """End the process now, its output flushed: tearing the interpreter down (every module freed, a last full
    garbage collection) is ~5% of the instructions of `verify chain` and `render` and frees nothing the exit does
    not. Only for them: their code registers no exit handler, starts no thread and closes every file it writes
    (tests/unit/verify/cli/test_process_exit.py); other commands exit as usual. A flush that fails (a closed
    pipe) leaves the exit to the interpreter, which reports it."""
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return
    os._exit(code)
