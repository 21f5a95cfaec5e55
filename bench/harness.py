"""Timing primitives: run a command as a child process and read its wall time, CPU time and peak RSS.

Every figure is a pair (ours, baseline) measured in the same run, interleaved after a warm-up so both see the same
machine load; medians are reported.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path


class CommandFailed(RuntimeError):
    """A measured command exited with a code the figure does not accept."""


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds, the child and the children it waited for
    returncode: int


@dataclass(frozen=True)
class Command:
    """One measured command: argv, environment, working directory, optional stdin and the exit codes it may end
    with (verify exits 1 when a check fails; that is an answer, not a crash)."""

    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    stdin: bytes | None = None
    ok_codes: tuple[int, ...] = (0,)
    label: str = ""

    def describe(self) -> str:
        return self.label or shlex.join(self.argv)


def run(command: Command, *, timeout: float = 600.0) -> Run:
    """Run once, with stdout and stderr discarded. CPU time comes from wait4, so it is this child's alone."""
    started = time.perf_counter()
    process = subprocess.Popen(
        list(command.argv),
        cwd=command.cwd,
        env=dict(command.env),
        stdin=subprocess.PIPE if command.stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if command.stdin is not None:
        assert process.stdin is not None
        process.stdin.write(command.stdin)
        process.stdin.close()
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if wall >= timeout:
        raise CommandFailed(f"{command.describe()} did not finish within {timeout:.0f} s")
    result = Run(wall, usage.ru_utime + usage.ru_stime, process.returncode)
    if result.returncode not in command.ok_codes:
        raise CommandFailed(
            f"{command.describe()} exited {result.returncode} (expected {', '.join(map(str, command.ok_codes))}); "
            f"run it by hand in {command.cwd} to see why"
        )
    return result


@dataclass
class Series:
    """The measured runs of one command (warm-up excluded)."""

    command: Command
    runs: list[Run] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def fastest(self) -> float:
        return min(r.wall for r in self.runs)

    @property
    def median_cpu(self) -> float:
        return statistics.median(r.cpu for r in self.runs)


def measure(commands: Sequence[Command], *, runs: int, warmup: int = 1, timeout: float = 600.0) -> list[Series]:
    """Run each command `warmup` times unmeasured, then `runs` times, interleaving the commands round by round."""
    series = [Series(command) for command in commands]
    for round_number in range(warmup + runs):
        for entry in series:
            result = run(entry.command, timeout=timeout)
            if round_number >= warmup:
                entry.runs.append(result)
    return series


def peak_rss_mb(command: Command, *, runs: int = 3) -> float | None:
    """The command's peak resident set in MiB (the largest of `runs` runs), None when it cannot be measured.

    Not taken from wait4 in the timing runs: on Linux a child's ru_maxrss starts at the resident size of the
    process that forked it (this one, some 30 MB), so the figure would be a floor, not a measurement. GNU time
    is a small process, so the child it forks reports its own peak; without it, /proc/PID/status VmHWM (the
    peak of the process's own memory after exec) is sampled until the process exits.
    """
    peaks = [_peak_with_gnu_time(command) if _gnu_time() else _peak_from_proc(command) for _ in range(runs)]
    known = [peak for peak in peaks if peak is not None]
    return max(known) / 1024 if known else None


@functools.lru_cache(maxsize=1)
def _gnu_time() -> str | None:
    found = shutil.which("time")
    if not found:
        return None
    with tempfile.NamedTemporaryFile("r") as out:
        probe = subprocess.run([found, "-f", "%M", "-o", out.name, "true"], capture_output=True, check=False)
        return found if probe.returncode == 0 and out.read().strip().isdigit() else None


def _peak_with_gnu_time(command: Command) -> int | None:
    gnu_time = _gnu_time()
    assert gnu_time is not None
    with tempfile.NamedTemporaryFile("r") as out:
        run(replace(command, argv=[gnu_time, "-f", "%M", "-o", out.name, *command.argv]))
        text = out.read().strip().splitlines()
    return int(text[-1]) if text and text[-1].isdigit() else None


def _peak_from_proc(command: Command) -> int | None:
    status = None
    process = subprocess.Popen(
        list(command.argv),
        cwd=command.cwd,
        env=dict(command.env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = None
    while process.poll() is None:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            break
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak or 0, int(line.split()[1]))
        time.sleep(0.002)
    process.wait()
    return peak


def child_env(workspace: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment measured commands run in: the caller's, with bytecode caching on (as after `pip install`,
    which compiles .pyc files) but kept in the workspace, the template cache in the workspace, and no Vault
    settings leaking in from the caller's shell."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith(("VAULT_", "BAO_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("ISTIO_VAULT_CA_NO_CACHE", None)
    env["PYTHONPYCACHEPREFIX"] = str(workspace / "pycache")
    env["XDG_CACHE_HOME"] = str(workspace / "cache")
    return env


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"
