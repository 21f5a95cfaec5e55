"""No stale sample: every command output the README and the docs show is one of docs/samples/*.txt, and each
sample is what its commands print today.

docs/gen_samples.py runs each sample's commands in a fresh directory and compares with the file, normalising only
what differs by nature between runs (dates, ports, durations, temporary paths, serials of certificates made during
the run). `--check` runs them all, rehearsals included (OpenBao, hence `integration`). The pages may show a
command's output only through a snippet include of a sample (`--8<-- "samples/NAME.txt"`); a fenced block holding
a prompt line followed by output is refused, except the one listed below with its reason.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import REPO, require_openbao

DOCS = REPO / "docs"
PAGES = [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)
SNIPPET = re.compile(r'^--8<-- "samples/(?P<name>[a-z0-9-]+)\.txt"$')
# (page, the prompt line) of the outputs a test cannot reproduce, each with why.
NOT_REPRODUCIBLE = {
    # The Go module proxy's refusal of OpenBao's server module, recorded when the page was written: upstream's
    # answer, not this tool's output, and it changes whenever the proxy does.
    ("vault-and-openbao.md", "$ go mod download -json github.com/openbao/openbao/v2@latest"),
}


def gen_samples() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_samples", DOCS / "gen_samples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def outputs_shown(text: str) -> list[str]:
    """The first prompt line of every fenced block that shows a command's output: a `$ ` line followed by a line
    that is neither a prompt, nor a continuation of the command, nor a comment; and every `text` block (output
    by convention) that is not a snippet include, by its first line."""
    shown = []
    for block in FENCE.finditer(text):
        if block["info"].strip() == "text" and not SNIPPET.match(block["body"].strip()):
            shown.append("text: " + block["body"].splitlines()[0])
            continue
        first, continued = None, False
        for line in block["body"].splitlines():
            if continued:
                continued = line.endswith("\\")
            elif line.startswith("$ "):
                first, continued = first or line, line.endswith("\\")
            elif first is not None and line.strip() and not line.startswith("#"):
                shown.append(first)
                break
    return shown


def test_pages_show_command_output_only_through_samples() -> None:
    shown = {(page.name, prompt) for page in PAGES for prompt in outputs_shown(page.read_text(encoding="utf-8"))}
    assert shown == NOT_REPRODUCIBLE, "show a command's output with --8<-- from docs/samples (docs/gen_samples.py)"


def test_every_sample_included_exists_and_every_sample_is_included() -> None:
    included = {
        match["name"]
        for page in PAGES
        for line in page.read_text(encoding="utf-8").splitlines()
        if (match := SNIPPET.match(line.strip()))
    }
    produced = {sample.name for sample in gen_samples().SAMPLE_LIST}
    assert included == produced == {path.stem for path in (DOCS / "samples").glob("*.txt")}


def test_the_finder_sees_output_and_ignores_commands_alone() -> None:
    assert outputs_shown("```console\n$ istio-vault-ca render\nrendered 12 files\n```\n") == ["$ istio-vault-ca render"]
    assert outputs_shown("```console\n$ a \\\n  --b\n$ c  # comment\n# note\n```\n") == []
    assert outputs_shown('```console\n--8<-- "samples/rehearse.txt"\n```\n') == []
    assert outputs_shown("```text\n  PASS  render\n```\n") == ["text:   PASS  render"]


def test_a_stale_sample_is_named_and_a_changed_port_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check on a copy of the samples: only a real difference makes it fail (the cheap `bad-config` sample)."""
    module = gen_samples()
    monkeypatch.setattr(module, "SAMPLES", tmp_path)
    real = (DOCS / "samples" / "bad-config.txt").read_text(encoding="utf-8")
    (tmp_path / "bad-config.txt").write_text(real.replace("(line 4)", "(line 5)"), encoding="utf-8")
    assert module.main(["gen_samples.py", "--check", "bad-config"]) == 1
    assert "stale samples (run `python docs/gen_samples.py`): bad-config.txt" in capsys.readouterr().err
    assert (tmp_path / "bad-config.txt").read_text(encoding="utf-8") != real  # --check writes nothing
    (tmp_path / "bad-config.txt").write_text(real, encoding="utf-8")
    assert module.main(["gen_samples.py", "--check", "bad-config"]) == 0
    assert module.normalise("http://127.0.0.1:39683 in 9.8 s") == module.normalise("http://127.0.0.1:8200 in 14 s")
    assert module.normalise("  PASS    9.3 s  run") == module.normalise("  PASS   10.8 s  run")  # the column's padding
    assert module.normalise("rendered 11 files") != module.normalise("rendered 12 files")


@pytest.mark.integration
def test_every_sample_is_what_its_commands_print_today() -> None:
    require_openbao()
    done = subprocess.run(
        [sys.executable, str(DOCS / "gen_samples.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
