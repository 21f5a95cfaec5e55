"""`python -m bench [--runs N] [--only FIGURE ...] [--keep]`: measure every figure beside its baseline and print a
Markdown table (figure, ours, baseline, ratio, goal, met?). Results also go to bench/results/latest.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.figures import FIGURES, Context, Row, ensure_openssl, memory_rows
from bench.harness import child_env

RESULTS = Path(__file__).resolve().parent / "results"


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("istio-vault-ca")
    return [str(script)] if script.exists() else [sys.executable, "-m", "istio_vault_ca.verify.cli.parser"]


def table(rows: list[Row]) -> str:
    lines = ["| figure | ours | baseline | ratio | goal | met? |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r.figure} | {r.ours} | {r.baseline} | {r.ratio} | {r.goal} | {r.verdict} |" for r in rows]
    notes = [f"- {r.figure}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def machine() -> dict[str, str]:
    openssl = shutil.which("openssl")
    version = (
        subprocess.run([openssl, "version"], capture_output=True, text=True, check=False).stdout.strip()
        if openssl
        else "missing"
    )
    return {
        "cpus": str(os.cpu_count()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "openssl": version,
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="measured runs per command, after one warm-up (default 7)")
    parser.add_argument("--only", nargs="+", choices=sorted(FIGURES), metavar="FIGURE", help="only these figures")
    parser.add_argument("--keep", action="store_true", help="keep the workspace (configs, bundles, scripts)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    openssl = ensure_openssl(_progress)
    workspace = Path(tempfile.mkdtemp(prefix="ivc-bench-"))
    context = Context(workspace, _cli(), child_env(workspace), args.runs, openssl, _progress)
    before = machine()
    started = time.monotonic()
    rows: list[Row] = []
    try:
        for name, figure in FIGURES.items():
            if args.only and name not in args.only:
                continue
            rows += figure(context)
        rows += memory_rows(context)
    finally:
        if args.keep:
            _progress(f"workspace kept: {workspace}")
        else:
            shutil.rmtree(workspace, ignore_errors=True)
    after = machine()
    print(table(rows))
    print(
        f"\nwall time, medians of {args.runs} runs after a warm-up (bytecode and template caches warm, as after "
        f"`pip install` and a first run); {before['cpus']} CPUs, Python {before['python']}, "
        f"{before['openssl']}; load average {before['load average']} before, {after['load average']} after; "
        f"{time.monotonic() - started:.0f} s in all"
    )
    RESULTS.mkdir(exist_ok=True)
    document = {
        "machine": before,
        "load_average_after": after["load average"],
        "runs": args.runs,
        "rows": [{**row.__dict__, "met": row.met} for row in rows],
        "series": {
            key: {
                "command": entry.command.describe(),
                "median_s": entry.median,
                "fastest_s": entry.fastest,
                "median_cpu_s": entry.median_cpu,
            }
            for key, entry in context.series.items()
        },
    }
    (RESULTS / "latest.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
