"""Regenerate `chart-paths.txt`: where each Istio release's istiod chart reads istiod's env and pod annotations.

The chart is not copied into this repository (and the module proxy serves no istio.io/istio revision of 1.23 or
older, so the Go oracle cannot load those charts); only these facts are kept, with each tag's commit. From a local
clone of istio/istio:

    python -m tests.istio_chart.derive_paths CHECKOUT > tests/istio_chart/chart-paths.txt

For each tag X.Y.0 from 1.12.0 on: the `.Values` path that manifests/charts/istio-control/istio-discovery/
templates/deployment.yaml ranges over for the discovery container's env, the one it renders as pod annotations,
and whether the chart has templates/zzy_descope_legacy.yaml, which copies `.Values.pilot` to the top (so that a
`pilot:` block reaches the flat layout too).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

CHART = "manifests/charts/istio-control/istio-discovery/templates"
ENV = re.compile(r"range \$key, \$val := \.Values((?:\.pilot)?)\.env\b")
ANNOTATIONS = re.compile(r"toYaml \.Values((?:\.pilot)?)\.podAnnotations\b")


def _git(checkout: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(checkout), *args], check=True, capture_output=True, text=True).stdout


def _one(pattern: re.Pattern[str], text: str, what: str, tag: str) -> str:
    found = {match.group(1) for match in pattern.finditer(text)}
    if len(found) != 1:
        raise SystemExit(f"{tag}: expected one {what} path in deployment.yaml, found {sorted(found)}")
    return f"Values{found.pop()}.{what}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a local clone of istio/istio with its tags")
    parser.add_argument("--last-minor", type=int, default=30, help="the newest 1.Y.0 tag to read (default 30)")
    args = parser.parse_args(argv)
    out = sys.stdout
    out.write("# release commit env-path annotations-path pilot-block-copied-to-top\n")
    out.write("# Derived by tests/istio_chart/derive_paths.py from istio/istio; regenerate rather than edit.\n")
    for minor in range(12, args.last_minor + 1):
        tag = f"1.{minor}.0"
        commit = _git(args.checkout, "rev-parse", f"{tag}^{{commit}}").strip()
        deployment = _git(args.checkout, "show", f"{tag}:{CHART}/deployment.yaml")
        descope = (
            subprocess.run(
                ["git", "-C", str(args.checkout), "cat-file", "-e", f"{tag}:{CHART}/zzy_descope_legacy.yaml"],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        )
        env = _one(ENV, deployment, "env", tag)
        annotations = _one(ANNOTATIONS, deployment, "podAnnotations", tag)
        out.write(f"{tag} {commit} {env} {annotations} {int(descope)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
