"""Build a Go program of the test suite once and cache the binary outside the repository.

The programs live in their own Go modules under ``tests/oracles/<name>/`` (and ``tests/e2e/<name>/``). A binary is
cached at ``${XDG_CACHE_HOME:-~/.cache}/istio-vault-ca-tests/bin/<name>-<key>`` where ``key`` is the first 16 hex
digits of a SHA-256 over go.mod, go.sum, every ``.go`` file of the program and the output of ``go version``: moving
a pin or editing the program builds a new binary, anything else reuses the cached one.

    python -m tests.gobuild istio_ca      # builds (or finds) the oracle and prints its path
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
PROGRAM_ROOTS = (TESTS_DIR / "oracles", TESTS_DIR / "e2e")
GO_MISSING = "Go is not installed: the fidelity tier needs Go 1.26 (CI must have it)"


class GoNotInstalledError(RuntimeError):
    """``go`` is not on PATH."""


class GoBuildError(RuntimeError):
    """``go build`` (or another go command) failed; the message carries its output."""


def go_executable() -> str:
    go = shutil.which("go")
    if go is None:
        raise GoNotInstalledError(GO_MISSING)
    return go


def go_env() -> dict[str, str]:
    """The environment for go commands: module graph read-only (go.mod/go.sum are never rewritten by a test run),
    no VCS stamping (the binary must not depend on the repository's git state), no cgo (no C toolchain needed)."""
    env = dict(os.environ)
    env["GOFLAGS"] = "-mod=readonly -buildvcs=false"
    env["CGO_ENABLED"] = "0"
    return env


def _run_go(args: list[str], cwd: Path) -> str:
    proc = subprocess.run([go_executable(), *args], cwd=cwd, env=go_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GoBuildError(f"`go {' '.join(args)}` in {cwd} failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
    return proc.stdout


def program_dir(name: str) -> Path:
    """``tests/oracles/<name>`` or ``tests/e2e/<name>`` (the first holding a go.mod), or a path to such a dir."""
    as_path = Path(name)
    if (as_path / "go.mod").is_file():
        return as_path.resolve()
    for root in PROGRAM_ROOTS:
        candidate = root / name
        if (candidate / "go.mod").is_file():
            return candidate
    searched = ", ".join(str(root / name) for root in PROGRAM_ROOTS)
    raise FileNotFoundError(f"no Go program named {name!r} (looked for go.mod in {searched})")


def source_files(src: Path) -> list[Path]:
    """go.mod, go.sum and every .go file of the program, in a stable order."""
    files = [src / "go.mod"]
    if (src / "go.sum").is_file():
        files.append(src / "go.sum")
    files += sorted(p for p in src.rglob("*.go") if p.is_file())
    return files


def cache_key(src: Path) -> str:
    digest = hashlib.sha256()
    for path in source_files(src):
        digest.update(path.relative_to(src).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    digest.update(_run_go(["version"], src).encode())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "istio-vault-ca-tests" / "bin"


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Serialise builds of one binary across processes (pytest-xdist workers), so it is built once."""
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(name: str) -> Path:
    """Path of the cached binary for program ``name``; builds it first when no binary matches the sources."""
    go_executable()
    src = program_dir(name)
    binary_name = src.name
    target = cache_dir() / f"{binary_name}-{cache_key(src)}"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / f".{binary_name}.lock"):
        if target.is_file() and os.access(target, os.X_OK):
            return target
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            _run_go(["build", "-trimpath", "-o", str(tmp), "."], src)
            tmp.chmod(0o755)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
    return target


def module_dir(name: str, module: str) -> Path:
    """Directory of ``module`` (at the version the program's go.mod pins) in the Go module cache, downloading it
    through the module proxy when needed."""
    src = program_dir(name)
    info = json.loads(_run_go(["mod", "download", "-json", module], src))
    if not isinstance(info, dict) or info.get("Error") or not info.get("Dir"):
        raise GoBuildError(f"go mod download {module} in {src}: {info}")
    return Path(str(info["Dir"]))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.gobuild NAME   (a program under tests/oracles/ or tests/e2e/)", file=sys.stderr)
        return 2
    try:
        print(build(argv[0]))
    except (GoNotInstalledError, GoBuildError, FileNotFoundError) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
