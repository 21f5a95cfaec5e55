"""The code under test is this checkout's: `istio_vault_ca`, as the test process and the console script import it,
resolves to files in this checkout, never to another clone's (a venv built from another checkout, an editable
install of an older clone left in the interpreter). And an editable install of a fresh clone (hatch_build.py)
gives a working console script whose package is that clone, without putting `generator` or `verify` on sys.path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

import istio_vault_ca
import istio_vault_ca.generator
import istio_vault_ca.verify
from istio_vault_ca.generator.render.templating import templates_dir
from tests.support import REPO, copy_checkout

SCRIPT = Path(sys.executable).with_name("istio-vault-ca")
# Run the console script itself (its own file, by its own interpreter), then report where its package came from.
PROBE = """\
import runpy, sys
script = sys.argv[1]
sys.argv = [script, "--version"]
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit:
    pass
import istio_vault_ca.generator, istio_vault_ca.verify, istio_vault_ca.verify.cli.parser as parser
from istio_vault_ca.generator.render.templating import templates_dir
for path in (istio_vault_ca.generator.__file__, istio_vault_ca.verify.__file__, parser.__file__, templates_dir()):
    print(path)
"""


def outside(paths: Sequence[str | Path], root: Path) -> list[str]:
    """The paths that are not in `root` (symbolic links resolved)."""
    return [str(path) for path in paths if not Path(path).resolve().is_relative_to(root.resolve())]


def test_the_tests_import_this_checkout() -> None:
    imported: list[str | Path] = [
        *istio_vault_ca.__path__,
        istio_vault_ca.generator.__file__ or "",
        istio_vault_ca.verify.__file__ or "",
        templates_dir(),
    ]
    assert outside(imported, REPO) == [], (
        f"the tests of {REPO} import istio_vault_ca from elsewhere: rebuild the venv from this checkout "
        "(make test, or pip install -e . in it)"
    )


def test_the_console_script_runs_this_checkout(tmp_path: Path) -> None:
    if not SCRIPT.is_file():
        pytest.fail(f"no console script beside {sys.executable}: install this checkout (make test or pip install -e .)")
    interpreter = SCRIPT.read_text(encoding="utf-8").splitlines()[0].removeprefix("#!").strip()
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTHON")}
    result = subprocess.run(
        [interpreter, "-c", PROBE, str(SCRIPT)],
        cwd=tmp_path,  # nothing of any checkout in the working directory
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    version, *paths = result.stdout.splitlines()
    assert version.startswith("istio-vault-ca ")
    assert len(paths) == 4 and outside(paths, REPO) == [], f"{SCRIPT} runs code from elsewhere:\n{result.stdout}"


@pytest.mark.slow
def test_an_editable_install_of_a_fresh_clone_is_that_clone(tmp_path: Path) -> None:
    """`python -m venv v && v/bin/pip install -e CLONE && v/bin/istio-vault-ca --help`, as README's development
    section has it: the package is the clone (an edit there is seen at once), and only `istio_vault_ca` is
    importable (the clone's folders are not put on sys.path, so PyPI's `generator` and `verify` are not shadowed)."""
    clone = tmp_path / "clone"
    copy_checkout(clone)
    venv = tmp_path / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {name: value for name, value in os.environ.items() if not name.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in argv], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=900
        )

    installed = run(venv / "bin" / "pip", "install", "--quiet", "-e", clone)
    assert installed.returncode == 0, installed.stderr[-3000:]
    helped = run(venv / "bin" / "istio-vault-ca", "--help")
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: istio-vault-ca")

    python = venv / "bin" / "python"
    where = run(python, "-c", "import istio_vault_ca.verify.cli.parser as p; print(p.__file__)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()) == clone / "verify" / "cli" / "parser.py"
    (clone / "verify" / "edited_in_the_clone.py").write_text("SEEN = True\n", encoding="utf-8")
    edited = run(python, "-c", "from istio_vault_ca.verify.edited_in_the_clone import SEEN; print(SEEN)")
    assert edited.stdout.strip() == "True", edited.stderr
    for name in ("generator", "verify", "templates"):
        shadow = run(python, "-c", f"import {name}")
        assert shadow.returncode == 1 and "ModuleNotFoundError" in shadow.stderr, (name, shadow.stderr)
