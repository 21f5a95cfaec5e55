"""How many vault/bao CLI processes the rendered vault/setup.sh starts, on a first run and on a re-run.

Each CLI call costs a process start-up (about 0.12 s for bao), so the count is the scripts' fixed cost; unlike a
timing it is deterministic, which lets a test hold it to an upper bound. A wrapper named `vault` (and `bao`) put
first on PATH logs the script that called it, then runs the real bao.

Usage: python -m bench.cli_calls [-c CONFIG]: prints the calls per script for both runs.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

WRAPPER = """#!/usr/bin/env bash
# Logs which script started this CLI process (the parent's command line), then runs the real CLI.
script=$(tr '\\0' ' ' </proc/$PPID/cmdline | awk '{{print $2}}')
printf '%s\\n' "${{script##*/}}" >>{log}
exec {bao} "$@"
"""


@dataclass(frozen=True)
class CallCounts:
    """CLI processes per script (file name) for the first run of setup.sh and for the re-run."""

    first: dict[str, int]
    rerun: dict[str, int]

    @property
    def first_total(self) -> int:
        return sum(self.first.values())

    @property
    def rerun_total(self) -> int:
        return sum(self.rerun.values())


def _counts(log: Path) -> dict[str, int]:
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return dict(sorted(Counter(lines).items()))


def count_calls(workdir: Path, config_text: str | None = None) -> CallCounts:
    """Render `config_text` (None: the built-in default), run its vault/setup.sh twice on a fresh OpenBao dev
    server through the counting wrapper, and return the counts. Raises RuntimeError when a run fails."""
    from istio_vault_ca.generator.config.loader import STARTER, parse_text
    from istio_vault_ca.generator.pki.factory import self_signed_ca
    from istio_vault_ca.generator.render.tree import render_tree
    from istio_vault_ca.generator.render.writer import write_tree
    from istio_vault_ca.verify.rehearsal.openbao import start_dev_server

    text = config_text if config_text is not None else STARTER.read_text(encoding="utf-8")
    config = parse_text(text, "bench config" if config_text is not None else "built-in default")
    tree = workdir / "out"
    write_tree(render_tree(config), tree)
    server = start_dev_server(workdir / "openbao")
    try:
        wrappers = workdir / "counting-bin"
        wrappers.mkdir(mode=0o700)
        log = workdir / "calls.log"
        for name in ("vault", "bao"):
            wrapper = wrappers / name
            wrapper.write_text(WRAPPER.format(log=shlex.quote(str(log)), bao=shlex.quote(server.bao)), encoding="utf-8")
            wrapper.chmod(0o700)
        kube_ca = workdir / "kubernetes-ca.crt"
        kube_ca.write_bytes(self_signed_ca("bench kubernetes CA").pem)
        env = server.env()
        env.update(
            PATH=f"{wrappers}{os.pathsep}{env['PATH']}",
            AUDIT_FILE_PATH=str(workdir / "vault-audit.log"),
            K8S_CA_CERT_FILE=str(kube_ca),
            TMPDIR=str(workdir),
        )
        runs: list[dict[str, int]] = []
        for run in ("first", "re-run"):
            log.unlink(missing_ok=True)
            done = subprocess.run(
                ["bash", str(tree / "vault" / "setup.sh")], env=env, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"vault/setup.sh ({run}) exited {done.returncode}:\n{done.stderr[-2000:]}")
            runs.append(_counts(log))
        return CallCounts(runs[0], runs[1])
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", help="config (default: the built-in default)")
    args = parser.parse_args(argv)
    text = Path(args.config).read_text(encoding="utf-8") if args.config else None
    with tempfile.TemporaryDirectory(prefix="ivc-cli-calls-") as workdir:
        counts = count_calls(Path(workdir), text)
    for title, calls in (("first run", counts.first), ("re-run", counts.rerun)):
        print(f"{title}: {sum(calls.values())} CLI calls")
        for script, number in calls.items():
            print(f"  {number:3d}  {script}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
