"""Run Istio's own CA code (tests/oracles/istio_ca) over the whole corpus and print a verdict table.

    python -m tests.fidelity.run_oracle                 # table on stdout
    python -m tests.fidelity.run_oracle --json all.json # also every raw verdict
    python -m tests.fidelity.run_oracle --no-istio      # only the generated corpus (no samples, no openssl)

Each row: kind, istiod's start-up mode, load / issue / peer (ok, ERR, or - when skipped), the issued leaf's TTL and
the first error without Istio's wrapper phrases (see WRAPPERS), shortened.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests import gobuild
from tests.fidelity import corpus

Verdict = dict[str, Any]


def run_oracle(binary: Path, directory: Path) -> Verdict:
    proc = subprocess.run([str(binary), str(directory)], capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{binary} {directory}: exit {proc.returncode}: {proc.stderr.strip()}")
    verdict: Verdict = json.loads(proc.stdout)
    return verdict


def _mark(step: dict[str, Any]) -> str:
    if step.get("skipped"):
        return "-"
    return "ok" if step.get("ok") else "ERR"


def first_error(verdict: Verdict) -> str:
    for stage in ("load", "issue", "peer"):
        step = verdict[stage]
        if not step.get("ok") and not step.get("skipped"):
            where = f" [{step['stage']}]" if step.get("stage") else ""
            return f"{stage}{where}: {step.get('error', '')}"
    return ""


# Wrapper phrases Istio puts around the cause; the table drops them (the JSON keeps the full text).
WRAPPERS = (
    "failed to create an istiod CA: ",
    "failed to create CA KeyCertBundle (",
    "cannot verify the cert with the provided root chain and cert pool with error: ",
    "failed to get default cert TTL ",
    "failed to get cert chain TTL ",
)


def shorten(text: str, width: int) -> str:
    if WRAPPERS[1] in text and text.endswith(")"):
        text = text[:-1]  # the bracket WRAPPERS[1] opened
    for wrapper in WRAPPERS:
        text = text.replace(wrapper, "")
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: list[tuple[str, Verdict]], error_width: int = 150) -> str:
    name_width = max(len(name) for name, _ in rows)
    header = f"{'kind':<{name_width}}  {'mode':<11} load  issue peer  {'ttl':>6}  error"
    lines = [header, "-" * len(header)]
    for name, verdict in rows:
        ttl = verdict["issue"].get("ttl_seconds")
        ttl_text = f"{ttl}s" if isinstance(ttl, int) and ttl else ""
        lines.append(
            f"{name:<{name_width}}  {verdict['mode']:<11} {_mark(verdict['load']):<5} {_mark(verdict['issue']):<5} "
            f"{_mark(verdict['peer']):<5} {ttl_text:>6}  {shorten(first_error(verdict), error_width)}"
        )
    return "\n".join(lines)


def collect(include_istio: bool, workdir: Path) -> dict[str, Path]:
    targets: dict[str, Path] = {}
    for name, write in corpus.CORPUS.items():
        target = workdir / "corpus" / name
        target.mkdir(parents=True)
        write(target)
        targets[name] = target
    if include_istio:
        for name, path in corpus.istio_published_bundles(workdir / "samples").items():
            targets[f"istio:{name}"] = path
        targets["istio:tools_certs_selfsigned_mk"] = corpus.istio_tools_certs_bundle(workdir / "tools-certs")
    return targets


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fidelity.run_oracle", description=__doc__)
    parser.add_argument("--json", type=Path, help="also write every raw verdict to this file")
    parser.add_argument("--no-istio", action="store_true", help="skip Istio's sample bundles and tools/certs")
    args = parser.parse_args(argv)
    try:
        binary = gobuild.build(corpus.ORACLE)
    except (gobuild.GoNotInstalledError, gobuild.GoBuildError) as error:
        print(error, file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="oracle-corpus-") as tmp:
        targets = collect(not args.no_istio, Path(tmp))
        with ThreadPoolExecutor(max_workers=2) as pool:
            verdicts = list(pool.map(lambda path: run_oracle(binary, path), targets.values()))
    rows = list(zip(targets, verdicts, strict=True))
    print(f"oracle: {binary}  istio.io/istio {verdicts[0]['istio']}  kinds: {len(rows)}")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(dict(rows), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
