"""`render` and a plain `verify chain` end their process without the interpreter's teardown (verify/cli/process.py
`exit_without_teardown`): what they print, write and exit with must be exactly what an ordinary exit gives, and
nothing on their path may need that teardown (an exit handler, a thread, a file object left open)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

from istio_vault_ca.verify.cli.parser import main
from tests.support import COUNT_EXIT_HANDLERS, REPO, buffered_env, run_cli

STARTER = REPO / "generator" / "config" / "starter.yaml"
CONTROLPLANE = """\
apiVersion: install.tetrate.io/v1alpha1
kind: ControlPlane
metadata:
  name: controlplane
  namespace: istio-system
spec:
  hub: example.registry/tetrate
"""


def tree(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_render_written_by_the_process_equals_render_in_process(tmp_path: Path) -> None:
    done = run_cli("render", "-o", "out", cwd=tmp_path, env=buffered_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "render says what it wrote"
    with contextlib.redirect_stdout(io.StringIO()) as said:
        assert main(["render", "-o", str(tmp_path / "again")]) == 0
    written = tree(tmp_path / "out")
    assert len(written) > 5 and written == tree(tmp_path / "again")
    assert done.stdout == said.getvalue().replace(str(tmp_path / "again"), "out")


def test_render_check_keeps_its_exit_code_and_message(tmp_path: Path) -> None:
    assert run_cli("render", "-o", "out", cwd=tmp_path, env=buffered_env()).returncode == 0
    assert run_cli("render", "--check", "-o", "out", cwd=tmp_path, env=buffered_env()).returncode == 0
    stale = next(path for path in sorted((tmp_path / "out").rglob("*.sh")))
    stale.write_text(stale.read_text() + "# edited\n")
    done = run_cli("render", "--check", "-o", "out", cwd=tmp_path, env=buffered_env())
    assert done.returncode == 1
    assert stale.name in done.stdout + done.stderr


def test_render_merge_into_writes_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "cp.yaml"
    target.write_text(CONTROLPLANE)
    done = run_cli("render", "-c", str(STARTER), "--merge-into", str(target), cwd=tmp_path, env=buffered_env())
    assert done.returncode == 0, done.stderr
    assert "merged cluster" in done.stdout
    merged = target.read_text()
    reference = tmp_path / "reference.yaml"
    reference.write_text(CONTROLPLANE)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["render", "-c", str(STARTER), "--merge-into", str(reference)]) == 0
    assert merged == reference.read_text() and merged.endswith("\n") and "ROOT_CA_DIR" in merged


def test_render_leaves_nothing_for_an_ordinary_exit_to_do(tmp_path: Path) -> None:
    """In a fresh interpreter: after a render, a --check and a --merge-into, no exit handler is registered and no
    thread but the main one runs (the tests' own interpreter has pytest's handlers)."""
    target = tmp_path / "cp.yaml"
    target.write_text(CONTROLPLANE)
    out = tmp_path / "out"
    program = (
        COUNT_EXIT_HANDLERS + "import contextlib, io, threading\n"
        "from istio_vault_ca.verify.cli.parser import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    codes = [main(['render', '-o', {str(out)!r}]), main(['render', '--check', '-o', {str(out)!r}]),\n"
        f"             main(['render', '-c', {str(STARTER)!r}, '--merge-into', {str(target)!r}])]\n"
        "print(codes, len(registered_exit_handlers), threading.active_count())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=tmp_path, check=True, timeout=120
    )
    assert done.stdout.split("\n")[-2] == "[0, 0, 0] 0 1"
