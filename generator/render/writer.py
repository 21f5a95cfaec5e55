"""Write a rendered tree atomically (render to a temp dir, then swap), or compare it with what is on disk."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from istio_vault_ca.generator.errors import UnsafeOutputDir
from istio_vault_ca.generator.render.tree import RenderedFile, Tree

# Marks a directory we rendered: we only ever replace such a directory (or an empty one).
MARKER = ".istio-vault-ca"
MARKER_TEXT = b"Rendered by istio-vault-ca. This directory is replaced as a whole on every render.\n"


def _with_marker(tree: Tree) -> Tree:
    return {**tree, MARKER: RenderedFile(MARKER_TEXT)}


def write_tree(tree: Tree, out: Path) -> None:
    out = out.resolve() if out.exists() else out.absolute()
    if out.exists():
        if not out.is_dir():
            raise UnsafeOutputDir(f"{out} exists and is not a directory")
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise UnsafeOutputDir(
                f"{out} is not empty and was not rendered by istio-vault-ca; refusing to replace it "
                "(choose another -o, or empty it first)"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.render-", dir=out.parent))
    try:
        os.chmod(staging, 0o755)  # noqa: S103 - a rendered tree is public by design
        for relative, rendered in _with_marker(tree).items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(rendered.content)
            os.chmod(target, 0o755 if rendered.executable else 0o644)
        _swap(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap(staging: Path, out: Path) -> None:
    """Replace `out` by `staging` with renames, so readers see the old tree or the new one, never half."""
    if not out.exists():
        staging.rename(out)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    retired.rmdir()
    out.rename(retired)
    try:
        staging.rename(out)
    except OSError:
        retired.rename(out)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def stale_files(tree: Tree, out: Path) -> list[str]:
    """Relative paths that differ between the render and OUT: changed, missing, extra or wrong mode."""
    expected = _with_marker(tree)
    problems: list[str] = []
    on_disk: set[str] = set()
    if out.is_dir():
        for path in out.rglob("*"):
            if path.is_file() or path.is_symlink():
                on_disk.add(path.relative_to(out).as_posix())
    for relative, rendered in expected.items():
        path = out / relative
        if relative not in on_disk:
            problems.append(f"{relative} (missing)")
        elif path.read_bytes() != rendered.content:
            problems.append(f"{relative} (differs)")
        elif relative != MARKER and bool(path.stat().st_mode & 0o111) != rendered.executable:
            problems.append(f"{relative} (executable bit differs)")
    problems += [f"{relative} (not rendered any more)" for relative in sorted(on_disk - expected.keys())]
    return problems
