"""Write a rendered tree atomically (render to a temp dir, then swap), or compare it with what is on disk."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import UnsafeOutputDir
from .tree import RenderedFile, Tree

# Marks a directory we rendered: we only ever replace such a directory (or an empty one).
MARKER = ".istio-vault-ca"
MARKER_TEXT = b"Rendered by istio-vault-ca. This directory is replaced as a whole on every render.\n"


def _with_marker(tree: Tree) -> Tree:
    return {**tree, MARKER: RenderedFile(MARKER_TEXT)}


def refusal(out: Path) -> str | None:
    """Why `write_tree` would refuse to replace OUT, or None when it may (absent, empty or rendered by us)."""
    if not out.exists():
        return None
    if not out.is_dir():
        return f"{out} exists and is not a directory"
    if any(out.iterdir()) and not (out / MARKER).is_file():
        return (
            f"{out} is not empty and was not rendered by istio-vault-ca; refusing to replace it "
            f"(it has no {MARKER} file; choose another -o, or empty it first)"
        )
    return None


def write_tree(tree: Tree, out: Path) -> None:
    out = out.resolve() if out.exists() else out.absolute()
    reason = refusal(out)
    if reason is not None:
        raise UnsafeOutputDir(reason)
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


@dataclass(frozen=True)
class Difference:
    """One path where OUT differs from the render: `missing`, `differs`, `executable bit differs` or
    `not rendered any more`."""

    path: str
    kind: str

    def __str__(self) -> str:
        return f"{self.path} ({self.kind})"


def differences(tree: Tree, out: Path) -> list[Difference]:
    """Paths that differ between the render and OUT: changed, missing, extra or wrong mode."""
    expected = _with_marker(tree)
    found: list[Difference] = []
    on_disk: set[str] = set()
    if out.is_dir():
        for path in out.rglob("*"):
            if path.is_file() or path.is_symlink():
                on_disk.add(path.relative_to(out).as_posix())
    for relative, rendered in expected.items():
        path = out / relative
        if relative not in on_disk:
            found.append(Difference(relative, "missing"))
        elif path.read_bytes() != rendered.content:
            found.append(Difference(relative, "differs"))
        elif relative != MARKER and bool(path.stat().st_mode & 0o111) != rendered.executable:
            found.append(Difference(relative, "executable bit differs"))
    found += [Difference(relative, "not rendered any more") for relative in sorted(on_disk - expected.keys())]
    return found


def stale_files(tree: Tree, out: Path) -> list[str]:
    """Relative paths that differ between the render and OUT, each with what differs."""
    return [str(difference) for difference in differences(tree, out)]


def unified_diff(tree: Tree, out: Path, relative: str) -> list[str]:
    """The unified diff from the file on disk to the rendered one (lines without their newline)."""
    import difflib

    on_disk = (out / relative).read_bytes().decode("utf-8", errors="replace").splitlines()
    rendered = _with_marker(tree)[relative].content.decode("utf-8", errors="replace").splitlines()
    return list(
        difflib.unified_diff(
            on_disk, rendered, fromfile=f"{relative} (on disk)", tofile=f"{relative} (rendered)", lineterm=""
        )
    )
