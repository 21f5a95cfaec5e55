"""Regenerate `values-keys.txt`: the dotted key paths of the OpenBao Helm chart's values.yaml.

The chart itself is not copied into this repository; only the key paths are kept, with the chart version and the
commit they were read from. From a local checkout of openbao/openbao-helm:

    python -m tests.openbao_chart.derive_keys CHECKOUT --ref openbao-0.29.2 > tests/openbao_chart/values-keys.txt

`--ref` reads the file at that tag or commit with `git show` (without it, the working tree's file).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

VALUES = "charts/openbao/values.yaml"
CHART = "charts/openbao/Chart.yaml"


def key_paths(values: Any, prefix: str = "") -> Iterator[str]:
    """Every mapping key, as `a.b.c`, parents before children."""
    if isinstance(values, dict):
        for key, value in values.items():
            path = f"{prefix}{key}"
            yield path
            yield from key_paths(value, f"{path}.")


def _read(checkout: Path, ref: str | None, path: str) -> str:
    if ref is None:
        return (checkout / path).read_text(encoding="utf-8")
    return subprocess.run(
        ["git", "-C", str(checkout), "show", f"{ref}:{path}"], check=True, capture_output=True, text=True
    ).stdout


def main(argv: list[str] | None = None) -> int:
    from ruamel.yaml import YAML

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a local clone of openbao/openbao-helm")
    parser.add_argument("--ref", help="tag or commit to read (default: the working tree)")
    args = parser.parse_args(argv)
    yaml = YAML(typ="safe", pure=True)
    values = yaml.load(_read(args.checkout, args.ref, VALUES))
    chart = yaml.load(_read(args.checkout, args.ref, CHART))
    commit = subprocess.run(
        ["git", "-C", str(args.checkout), "rev-parse", f"{args.ref or 'HEAD'}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    out = sys.stdout
    out.write(f"# Key paths of openbao/openbao-helm {VALUES}: chart {chart['name']} {chart['version']}")
    out.write(f" (appVersion {chart['appVersion']}), commit {commit}.\n")
    out.write("# Derived by tests/openbao_chart/derive_keys.py; regenerate it rather than editing by hand.\n")
    for path in key_paths(values):
        out.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
