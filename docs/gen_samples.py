"""Produce every command output the documentation shows, by running the commands, so no sample can go stale.

    python docs/gen_samples.py           # run the commands, (re)write docs/samples/*.txt
    python docs/gen_samples.py --check   # run them, write nothing; exit 1 naming each sample that differs
    python docs/gen_samples.py NAME...   # only these samples

Pages include a sample with `--8<-- "samples/NAME.txt"` (pymdownx.snippets). Each sample is one shell session in
a fresh empty directory with the installed `istio-vault-ca` (the one beside this Python) first on PATH: the command
lines as a user types them, each followed by what it printed (stdout and stderr, as a terminal shows them). The
comparison normalises only what differs from run to run by nature: dates and times, ports, durations, temporary
paths and the serial numbers of certificates made during the run. `rehearse` needs the OpenBao CLI (the
`rehearse` extra); tests/integration/test_docs_samples.py runs `--check`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

DOCS = Path(__file__).resolve().parent
SAMPLES = DOCS / "samples"

BAD_CONFIG = """\
intermediate:
  common_name: Istio intermediate CA
  ttl: 8760h
  tll: 8760h
istiod:
  ca_dir: vault/secrets
  outputs: helm
"""


class Sample(NamedTuple):
    name: str
    commands: tuple[str, ...]
    files: MappingProxyType[str, str] = MappingProxyType({})


SAMPLE_LIST = (
    Sample("init-render", ("istio-vault-ca init", "istio-vault-ca render")),
    Sample("rehearse", ("istio-vault-ca rehearse --keep ./ca",)),
    Sample(
        "verify-chain", ("istio-vault-ca rehearse --keep ./ca > /dev/null 2>&1", "istio-vault-ca verify chain ./ca")
    ),
    Sample(
        "rehearse-failure",
        (
            "istio-vault-ca render > /dev/null 2>&1",
            "sed -i '/com.role$/{n;s/value: istiod$/value: istiod-typo/}' out/istiod/tsb-controlplane-overlay.yaml",
            "istio-vault-ca rehearse --from out",
        ),
    ),
    Sample(
        "bad-config", ("cat bad.yaml", "istio-vault-ca render -c bad.yaml"), MappingProxyType({"bad.yaml": BAD_CONFIG})
    ),
)

# What differs between two runs of the same command by nature, never by a change of ours.
NORMALISE = (
    (re.compile(r"\b\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2}| UTC)?)?"), "DATE"),
    (re.compile(r"(127\.0\.0\.1|localhost|\[::1\]):\d+"), r"\1:PORT"),
    (re.compile(r" *\b\d+(\.\d+)? (s|ms)\b"), " N s"),  # with the padding that right-aligns it in a column
    (re.compile(r"(/tmp|/var/folders)/[^\s:'\"),]+"), "TMP"),
    (re.compile(r"\b[0-9a-f]{8}(?:[0-9a-f:]{0,56})\b"), "HEX"),
)


def normalise(text: str) -> str:
    for pattern, replacement in NORMALISE:
        text = pattern.sub(replacement, text)
    return text


def run(sample: Sample) -> str:
    """The session as it shows on a terminal: `$ command`, then its output, for each command (hidden ones ending in
    `> /dev/null 2>&1` run but are not shown)."""
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/"),
        "COLUMNS": "120",
        "LANG": "C.UTF-8",
    }
    shown: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ivc-sample-") as work:
        for name, content in sample.files.items():
            Path(work, name).write_text(content, encoding="utf-8")
        for command in sample.commands:
            result = subprocess.run(
                ["bash", "-c", f"{command} 2>&1"],
                cwd=work,
                env={**env, "TMPDIR": work},
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if command.endswith("> /dev/null 2>&1"):
                if result.returncode != 0:
                    raise SystemExit(f"sample {sample.name}: `{command}` exited {result.returncode}")
                continue
            shown.append(f"$ {command}\n{result.stdout}")
    return "".join(shown).rstrip("\n").replace(work, "/tmp/mesh-ca") + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv[1:]
    names = [a for a in argv[1:] if a != "--check"]
    stale: list[str] = []
    for sample in SAMPLE_LIST:
        if names and sample.name not in names:
            continue
        path = SAMPLES / f"{sample.name}.txt"
        text = run(sample)
        if path.exists() and normalise(path.read_text(encoding="utf-8")) == normalise(text):
            continue
        stale.append(path.name)
        if not check:
            SAMPLES.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote docs/samples/{path.name}")
    if check and stale:
        print(f"stale samples (run `python docs/gen_samples.py`): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
