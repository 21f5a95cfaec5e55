"""Wall time of `istio-vault-ca rehearse` on the default config, as a user runs it: median of a few runs.

Usage: python -m bench.rehearse [--runs N] [-c CONFIG]. Prints each run, then the median and the per-step
medians (from the JSON report's step order, timed by the display), so a regression names its step.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STEP_LINE = re.compile(r"^\s+(PASS|WARN|FAIL|ERROR)\s+(?P<seconds>[\d.]+) s\s+(?P<title>[^:]+)")


def one_run(config: str | None, base_env: Mapping[str, str] | None = None) -> tuple[float, dict[str, float]]:
    argv = [sys.executable, "-m", "istio_vault_ca.verify.cli.parser", "rehearse"] + (["-c", config] if config else [])
    env = {**(os.environ if base_env is None else base_env), "COLUMNS": "200"}
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"rehearse exited {result.returncode}:\n{result.stdout}{result.stderr}")
    steps = {}
    for line in result.stdout.splitlines():
        match = STEP_LINE.match(line)
        if match:
            steps[match.group("title").strip()] = float(match.group("seconds"))
    return wall, steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("-c", "--config", help="config (default: the built-in default)")
    args = parser.parse_args()
    walls: list[float] = []
    per_step: dict[str, list[float]] = {}
    for index in range(args.runs):
        wall, steps = one_run(args.config)
        walls.append(wall)
        for title, seconds in steps.items():
            per_step.setdefault(title, []).append(seconds)
        print(f"run {index + 1}: {wall:.2f} s", flush=True)
    for title, values in per_step.items():
        print(f"  {statistics.median(values):6.2f} s  {title}")
    print(f"rehearse median over {args.runs} runs: {statistics.median(walls):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
