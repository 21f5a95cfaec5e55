"""Build a Go program of the test suite once and cache the binary outside the repository.

The programs live in their own Go modules: ``tests/oracles/<name>/``, or any directory under ``tests/`` named by its
path from there (``e2e/kube``). One module may hold several main packages (``e2e/kube`` has ``./cmd/kube-apiserver``,
``./cmd/etcd``, ...); ``package`` picks one, and the binary is named after it. A binary is cached at
``${XDG_CACHE_HOME:-~/.cache}/istio-vault-ca-tests/bin/<binary>-<key>`` where ``key`` is the first 16 hex digits of a
SHA-256 over go.mod, go.sum, every ``.go`` file of the module, the package, the ``-ldflags`` and the output of
``go version``: moving a pin or editing the program builds a new binary, anything else reuses the cached one.

    python -m tests.gobuild istio_ca                              # the oracle under tests/oracles/
    python -m tests.gobuild e2e/kube ./cmd/etcd                   # one main package of the module tests/e2e/kube
    python -m tests.gobuild e2e/kube ./cmd/kube-apiserver --ldflags '-X k8s.io/component-base/version.gitVersion=v1'
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
from collections.abc import Iterator, Sequence
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
PROGRAM_ROOTS = (TESTS_DIR / "oracles", TESTS_DIR / "e2e")
GO_MISSING_TEMPLATE = "Go is not installed: the {tier} tier needs Go 1.26 (CI must have it)"
GO_MISSING = GO_MISSING_TEMPLATE.format(tier="fidelity")


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
    # A caller's -p=N (build parallelism, for a shared machine) is kept; every other GOFLAGS entry is replaced.
    parallelism = [flag for flag in os.environ.get("GOFLAGS", "").split() if flag.startswith("-p=")]
    env["GOFLAGS"] = " ".join(["-mod=readonly", "-buildvcs=false", *parallelism])
    env["CGO_ENABLED"] = "0"
    return env


def _run_go(args: list[str], cwd: Path) -> str:
    proc = subprocess.run([go_executable(), *args], cwd=cwd, env=go_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GoBuildError(f"`go {' '.join(args)}` in {cwd} failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
    return proc.stdout


def program_dir(name: str, root: Path | None = None) -> Path:
    """The module directory (holding a go.mod) for ``name``: ``<root>/<name>`` when ``root`` is given; else
    ``tests/<name>`` (``e2e/kube``), ``tests/oracles/<name>`` or ``tests/e2e/<name>``, the first holding a go.mod;
    or ``name`` itself when it is a path to such a directory."""
    if root is not None:
        candidate = Path(root) / name
        if (candidate / "go.mod").is_file():
            return candidate.resolve()
        raise FileNotFoundError(f"no Go program named {name!r} (looked for go.mod in {candidate})")
    as_path = Path(name)
    if (as_path / "go.mod").is_file():
        return as_path.resolve()
    for root_dir in (TESTS_DIR, *PROGRAM_ROOTS):
        candidate = root_dir / name
        if (candidate / "go.mod").is_file():
            return candidate
    searched = ", ".join(str(root_dir / name) for root_dir in (TESTS_DIR, *PROGRAM_ROOTS))
    raise FileNotFoundError(f"no Go program named {name!r} (looked for go.mod in {searched})")


def source_files(src: Path) -> list[Path]:
    """go.mod, go.sum and every .go file of the program, in a stable order."""
    files = [src / "go.mod"]
    if (src / "go.sum").is_file():
        files.append(src / "go.sum")
    files += sorted(p for p in src.rglob("*.go") if p.is_file())
    return files


def cache_key(src: Path, package: str = ".", ldflags: str = "") -> str:
    digest = hashlib.sha256()
    for path in source_files(src):
        digest.update(path.relative_to(src).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    # The defaults add nothing, so the keys of single-package programs built before these arguments existed hold.
    if package != ".":
        digest.update(b"package\0" + package.encode() + b"\0")
    if ldflags:
        digest.update(b"ldflags\0" + ldflags.encode() + b"\0")
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


def binary_name(src: Path, package: str = ".") -> str:
    """The module directory's name for its root package, else the package's last path element (``./cmd/etcd``)."""
    clean = package.rstrip("/")
    if clean in (".", "./", ""):
        return src.name
    return Path(clean).name


def build(name: str, package: str = ".", *, ldflags: str = "", root: Path | None = None) -> Path:
    """Path of the cached binary for main package ``package`` (relative to the module, ``./cmd/x``) of program
    ``name`` (see ``program_dir``); builds it with ``go build -trimpath [-ldflags LDFLAGS]`` first when no binary
    matches the sources."""
    go_executable()
    src = program_dir(name, root)
    if package not in (".", "./") and not package.startswith("./"):
        raise ValueError(f"package must be relative to the module, like ./cmd/NAME (got {package!r})")
    bin_name = binary_name(src, package)
    target = cache_dir() / f"{bin_name}-{cache_key(src, package, ldflags)}"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / f".{bin_name}.lock"):
        if target.is_file() and os.access(target, os.X_OK):
            return target
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            flags = ["-ldflags", ldflags] if ldflags else []
            _run_go(["build", "-trimpath", *flags, "-o", str(tmp), package], src)
            tmp.chmod(0o755)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
    return target


def module_dir(name: str, module: str, root: Path | None = None) -> Path:
    """Directory of ``module`` (at the version the program's go.mod pins) in the Go module cache, downloading it
    through the module proxy when needed."""
    src = program_dir(name, root)
    info = json.loads(_run_go(["mod", "download", "-json", module], src))
    if not isinstance(info, dict) or info.get("Error") or not info.get("Dir"):
        raise GoBuildError(f"go mod download {module} in {src}: {info}")
    return Path(str(info["Dir"]))


USAGE = "usage: python -m tests.gobuild NAME [./PACKAGE] [--ldflags FLAGS]   (NAME: a module dir under tests/)"


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    ldflags = ""
    if "--ldflags" in args:
        at = args.index("--ldflags")
        if at + 1 >= len(args):
            print(USAGE, file=sys.stderr)
            return 2
        ldflags = args[at + 1]
        del args[at : at + 2]
    if not 1 <= len(args) <= 2:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        print(build(args[0], args[1] if len(args) == 2 else ".", ldflags=ldflags))
    except (GoNotInstalledError, GoBuildError, FileNotFoundError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
