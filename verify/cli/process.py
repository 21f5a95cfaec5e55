"""How a command's process ends: `verify chain` and `render` without the interpreter's teardown, time a one-shot
command does not need (docs/maintainers/architecture.md has the numbers); `main` (parser.py) applies it."""

from __future__ import annotations

import os
import sys


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
