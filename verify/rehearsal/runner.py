"""The rehearsal: the rendered artifacts, end to end, on a throw-away OpenBao with a real `bao agent`.

It proves on one machine that the scripts, the policy and the istiod overlay work together before anything
reaches a cluster. Everything it starts is torn down in `finally` (also on Ctrl-C and SIGTERM): processes by
process group, the 0700 temp dir that held the CA key removed. No text it reports holds a private key.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from istio_vault_ca.generator.errors import OverlayError
from istio_vault_ca.verify.checks.result import CheckResult, Status, redact
from istio_vault_ca.verify.rehearsal import agent, tokenreview
from istio_vault_ca.verify.rehearsal.openbao import DevServer, find_bao, start_dev_server

if TYPE_CHECKING:
    from istio_vault_ca.generator.config.loader import LoadedConfig
    from istio_vault_ca.generator.config.plan import ClusterPlan

from istio_vault_ca.generator.config.cafiles import CA_FILES, CA_KEY

_SCRIPT_ERROR = re.compile(r"^\[(?P<step>[\w-]+)\] ERROR: (?P<message>.+)$", re.MULTILINE)
_STOP_GRACE = 3.0


def scrub(text: str) -> str:
    """Remove key material (any PEM block, long base64 runs) from text meant for people or reports."""
    return redact(text)


def one_line(text: str, limit: int = 220) -> str:
    line = " ".join(scrub(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class StepResult:
    """One line of the progress display; `checks` holds the sub-results of steps that run several checks."""

    id: str
    title: str
    status: Status = Status.SKIP
    seconds: float = 0.0
    finding: str = ""
    hint: str = ""
    checks: list[CheckResult] = field(default_factory=list)

    def as_check(self) -> CheckResult:
        return CheckResult(f"rehearsal.{self.id}", self.status, self.title, self.finding, self.hint)


class Observer(Protocol):
    """Receives progress; called from the thread that runs the rehearsal only."""

    def planned(self, steps: Sequence[StepResult]) -> None: ...

    def started(self, step: StepResult) -> None: ...

    def finished(self, step: StepResult) -> None: ...


class _Silent:
    def planned(self, steps: Sequence[StepResult]) -> None:
        pass

    def started(self, step: StepResult) -> None:
        pass

    def finished(self, step: StepResult) -> None:
        pass


@dataclass(frozen=True)
class Options:
    config: str | None = None
    from_dir: Path | None = None
    keep_dir: Path | None = None
    setup_timeout: float = 300.0
    agent_timeout: float = 30.0


@dataclass
class Outcome:
    """What happened. `workdir` and `pids` let callers prove that nothing was left behind."""

    source: str
    steps: list[StepResult]
    seconds: float = 0.0
    interrupted: bool = False
    workdir: Path | None = None
    pids: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(step.status in (Status.PASS, Status.WARN) for step in self.steps)

    @property
    def failure(self) -> StepResult | None:
        return next((step for step in self.steps if step.status in (Status.FAIL, Status.ERROR)), None)


class StepFailed(Exception):
    """A step's expected failure: a one-line cause and what to change."""

    def __init__(self, finding: str, hint: str = "", checks: Sequence[CheckResult] = ()) -> None:
        super().__init__(finding)
        self.finding = finding
        self.hint = hint
        self.checks = list(checks)


@dataclass(frozen=True)
class Done:
    finding: str
    status: Status = Status.PASS
    checks: tuple[CheckResult, ...] = ()


class _Abort(Exception):
    """A step failed; the remaining steps are skipped and teardown runs."""


# ---------------------------------------------------------------------------------------------------------
# Layout of a rendered tree: one cluster renders flat, several render root/ plus clusters/<name>/.


@dataclass(frozen=True)
class ClusterLayout:
    plan: ClusterPlan
    prefix: str

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def setup(self) -> str:
        return f"{self.prefix}vault/setup.sh"

    @property
    def import_script(self) -> str | None:
        """Offline root: the phase-two script that imports the signed intermediate (run after signing)."""
        external = self.plan.config.root.mode == "external"
        return f"{self.prefix}vault/07-intermediate-import.sh" if external else None


@dataclass(frozen=True)
class Layout:
    root_setup: str | None
    clusters: tuple[ClusterLayout, ...]

    @property
    def setup_scripts(self) -> tuple[str, ...]:
        root = (self.root_setup,) if self.root_setup else ()
        return (*root, *(cluster.setup for cluster in self.clusters))

    @property
    def all_scripts(self) -> tuple[str, ...]:
        """Every script a user runs, in order: setup, then the offline-root imports."""
        imports = tuple(c.import_script for c in self.clusters if c.import_script)
        return (*self.setup_scripts, *imports)

    @property
    def multi(self) -> bool:
        return self.root_setup is not None


def layout_for(plans: Sequence[ClusterPlan]) -> Layout:
    if len(plans) == 1:
        return Layout(None, (ClusterLayout(plans[0], ""),))
    return Layout("root/vault/setup.sh", tuple(ClusterLayout(p, f"clusters/{p.name}/") for p in plans))


def overlay_files(tree: Path, cluster: ClusterLayout) -> list[str]:
    """The istiod overlay files of one cluster that exist in the tree (any flavour, in render order)."""
    from istio_vault_ca.generator.render.tree import OUTPUT_FILES

    return [f"{cluster.prefix}{rel}" for rel in OUTPUT_FILES.values() if (tree / cluster.prefix / rel).is_file()]


# ---------------------------------------------------------------------------------------------------------
# Consistency of the overlay, before anything runs.

_POLICY_PATH = re.compile(r'path\s+"(?P<path>[^"]+)"\s*\{(?P<body>[^}]*)\}')


def policy_read_paths(text: str) -> list[str]:
    """Path patterns that grant read in an HCL policy (the shape we render; enough to cross-check)."""
    return [m.group("path") for m in _POLICY_PATH.finditer(text) if re.search(r'"read"', m.group("body"))]


def policy_allows(pattern: str, path: str) -> bool:
    """Vault glob rules: a trailing `*` is a prefix match, `+` matches one path segment."""
    regex = "".join("[^/]+" if part == "+" else re.escape(part) for part in re.split(r"(\+)", pattern.rstrip("*")))
    return re.fullmatch(regex + (".*" if pattern.endswith("*") else ""), path) is not None


@dataclass(frozen=True)
class OverlayCheck:
    """A cluster's overlay as the rehearsal uses it: where istiod reads, what the agent does, what to warn."""

    root_ca_dir: str
    injection: agent.Injection
    notes: tuple[CheckResult, ...]


def check_cluster_overlay(tree: Path, cluster: ClusterLayout) -> OverlayCheck:
    """Parse the cluster's overlays; fail on what would break istiod silently, warn on what the run proves."""
    target = cluster.prefix or "."
    sources = overlay_files(tree, cluster)
    if not sources:
        raise StepFailed(
            f"{target}: no istiod overlay (istiod/*.yaml) in the tree",
            "render the tree with istio-vault-ca render, or pass the config it was rendered from with -c",
        )
    overlays = []
    for source in sources:
        try:
            overlays.append(agent.read_overlay(tree / source, source))
        except OverlayError as error:
            raise StepFailed(one_line(str(error)), "re-render the overlay from the config") from None
    first = overlays[0]
    for other in overlays[1:]:
        differing = sorted(
            k
            for k in first.annotations.keys() | other.annotations.keys()
            if first.annotations.get(k) != other.annotations.get(k)
        )
        if differing or first.root_ca_dir != other.root_ca_dir:
            what = differing[0] if differing else "ROOT_CA_DIR"
            raise StepFailed(
                f"{other.source} and {first.source} disagree on {what}",
                "every istiod overlay of a cluster must set the same annotations; re-render from the config",
            )
    return _check_injection(tree, cluster, first)


def _check_injection(tree: Path, cluster: ClusterLayout, overlay: agent.IstiodOverlay) -> OverlayCheck:
    source = overlay.source
    if overlay.annotation("agent-inject") != "true":
        raise StepFailed(
            f'{source}: vault.hashicorp.com/agent-inject is not "true": the injector would add no agent',
            "re-render the overlay from the config",
        )
    if overlay.secret_volume_path != overlay.root_ca_dir:
        raise StepFailed(
            f"{source}: secret-volume-path {overlay.secret_volume_path} is not ROOT_CA_DIR {overlay.root_ca_dir}: "
            "istiod would find no CA files and silently fall back to a self-signed CA",
            "both come from istiod.ca_dir in the config: re-render rather than editing one of them",
        )
    injection = agent.parse_injection(overlay)
    if not injection.role:
        raise StepFailed(f"{source}: no vault.hashicorp.com/role (the injector refuses the pod)", "re-render")
    by_destination = {template.destination: template for template in injection.templates}
    missing = [name for name in CA_FILES if f"{overlay.root_ca_dir}/{name}" not in by_destination]
    if missing:
        raise StepFailed(
            f"{source}: no agent template writes {', '.join(missing)} into ROOT_CA_DIR {overlay.root_ca_dir}",
            "istiod needs all four CA files there; re-render the overlay from the config",
        )
    notes = [
        CheckResult("rehearsal.consistency.unsupported", Status.WARN, source, note) for note in injection.unsupported
    ]
    notes += _policy_coverage(tree, cluster, injection)
    return OverlayCheck(overlay.root_ca_dir, injection, tuple(notes))


def _policy_coverage(tree: Path, cluster: ClusterLayout, injection: agent.Injection) -> list[CheckResult]:
    """Warn here; the agent step then proves the gap with a real 403."""
    policy_file = f"{cluster.prefix}policy.hcl"
    try:
        granted = policy_read_paths((tree / policy_file).read_text(encoding="utf-8"))
    except OSError:
        raise StepFailed(f"{policy_file} is missing", "render the tree again") from None
    notes = []
    for template in injection.templates:
        for path in template.secret_paths():
            if not any(policy_allows(pattern, path) for pattern in granted):
                notes.append(
                    CheckResult(
                        "rehearsal.consistency.policy",
                        Status.WARN,
                        policy_file,
                        f"grants no read on {path}, which the {template.name} template reads",
                    )
                )
    return notes


# ---------------------------------------------------------------------------------------------------------
# Step 6: the four files, with the verifier's chain checks, plus the file mode the annotation asked for.


def check_ca_files(directory: Path, target: str, key_perms: str | None = None) -> list[CheckResult]:
    """The chain checks (`chain.*`) over the files the agent wrote; `target` names them without the temp path."""
    from istio_vault_ca.verify.checks import chain

    values, key_mode = chain.read_dir(directory)
    results = chain.check_values(values, target=target, key_mode=key_mode)
    if key_perms and key_mode is not None and key_mode != int(key_perms, 8):
        results.append(
            CheckResult(
                "rehearsal.key-perms",
                Status.FAIL,
                target,
                f"ca-key.pem has mode {key_mode:04o}, not the {key_perms} of agent-inject-perms-ca-key.pem",
            )
        )
    return results


# ---------------------------------------------------------------------------------------------------------
# Vault state before and after the second run of the scripts.


def _vault_get(server: DevServer, path: str) -> Any:
    url = f"{server.address}/v1/{path}"
    request = urllib.request.Request(url, headers={"X-Vault-Token": server.token})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback dev server
            return json.load(response)
    except urllib.error.HTTPError as error:
        if error.code in (400, 404):
            return None
        raise


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _serial(certificate_pem: str) -> str:
    from cryptography import x509

    serial = x509.load_pem_x509_certificates(certificate_pem.encode())[0].serial_number
    return f"{serial:x}"


def vault_state(server: DevServer, plans: Sequence[ClusterPlan], paths: Sequence[str]) -> dict[str, str]:
    """Comparable values (serials, digests; never secret values) of everything the scripts manage."""
    state: dict[str, str] = {}
    for path in sorted(set(paths)):
        data = (_vault_get(server, path) or {}).get("data") or {}
        certificate = data.get("certificate")
        state[path] = f"serial {_serial(certificate)}" if isinstance(certificate, str) else _digest(data)
    mounts = (_vault_get(server, "sys/mounts") or {}).get("data") or {}
    for mount, details in mounts.items():
        state[f"sys/mounts/{mount}"] = _digest({k: details.get(k) for k in ("type", "options", "config")})
        if details.get("type") == "pki":
            for listing in ("issuers", "keys"):
                keys = ((_vault_get(server, f"{mount}{listing}?list=true") or {}).get("data") or {}).get("keys")
                state[f"{mount}{listing}"] = _digest(sorted(keys or []))
    for name in ("sys/auth", "sys/audit"):
        state[name] = _digest((_vault_get(server, name) or {}).get("data"))
    for p in plans:
        for path in (
            f"{p.auth_path}/config",
            f"{p.auth_path}/role/{p.cluster.role}",
            f"sys/policies/acl/{p.cluster.policy}",
        ):
            state[path] = _digest((_vault_get(server, path) or {}).get("data"))
    return state


# ---------------------------------------------------------------------------------------------------------
# The run.


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C so teardown still runs."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Teardown must finish even if Ctrl-C is pressed again."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a process we started in its own session, and everything it started, TERM then KILL."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, _STOP_GRACE), (signal.SIGKILL, _STOP_GRACE)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class Rehearsal:
    """One rehearsal: a private workdir, the steps in order, teardown always."""

    def __init__(self, options: Options, loaded: LoadedConfig, bao: str, observer: Observer) -> None:
        from istio_vault_ca.generator.config.plan import plan

        self.options = options
        self.loaded = loaded
        self.bao = bao
        self.observer = observer
        self.plans = plan(loaded.config)
        self.layout = layout_for(self.plans)
        self.workdir = Path(tempfile.mkdtemp(prefix="ivc-rehearsal-"))
        self.tree = options.from_dir if options.from_dir is not None else self.workdir / "tree"
        self.server: DevServer | None = None
        self.endpoint: tokenreview.TokenReviewServer | None = None
        self.processes: list[subprocess.Popen[bytes]] = []
        self.overlays: dict[str, OverlayCheck] = {}
        self.offline_root: tuple[Any, Any] | None = None
        self.steps = self._plan_steps()

    # -- steps -------------------------------------------------------------------------------------------

    def _plan_steps(self) -> list[StepResult]:
        from_dir = self.options.from_dir
        steps = [
            StepResult("render", f"use the rendered tree {from_dir}" if from_dir else "render the config"),
            StepResult("consistency", "consistency of the istiod overlay, policy and tree"),
            StepResult("openbao", "start a throw-away OpenBao dev server"),
            StepResult("tokenreview", f"start the {tokenreview.NAME} endpoint"),
            *(StepResult(f"setup:{script}", f"run {script}") for script in self.layout.setup_scripts),
        ]
        for cluster in self.layout.clusters:
            if cluster.import_script:
                title = f"sign the CSR with a throw-away offline root, run {cluster.import_script}"
                steps.append(StepResult(f"import:{cluster.name}", title))
        for cluster in self.layout.clusters:
            suffix = f" (cluster {cluster.name})" if self.layout.multi else ""
            steps.append(StepResult(f"agent:{cluster.name}", f"bao agent renders the four CA files{suffix}"))
            steps.append(StepResult(f"files:{cluster.name}", f"check the four CA files{suffix}"))
        steps.append(StepResult("rerun", "run the setup scripts again (exit 0, nothing changes)"))
        steps.append(StepResult("teardown", "tear down (stop everything, remove the temp dir)"))
        return steps

    def step(self, step_id: str) -> StepResult:
        return next(step for step in self.steps if step.id == step_id)

    def run(self) -> Outcome:
        outcome = Outcome(self.loaded.source, self.steps, workdir=self.workdir)
        started = time.monotonic()
        self.observer.planned(self.steps)
        try:
            with _sigterm_as_interrupt():
                self._run_steps()
        except _Abort:
            pass
        except KeyboardInterrupt:
            outcome.interrupted = True
        finally:
            reason = "interrupted" if outcome.interrupted else "an earlier step failed"
            for step in self.steps:
                if step.status is Status.SKIP and step.id != "teardown":
                    step.finding = f"not run: {reason}"
            with _no_interrupts():
                self._do(self.step("teardown"), self._teardown, abort=False)
            outcome.pids = [process.pid for process in self.processes]
            outcome.seconds = time.monotonic() - started
        return outcome

    def _run_steps(self) -> None:
        self._do(self.step("render"), self._render)
        self._do(self.step("consistency"), self._consistency)
        self._start_services()
        for script in self.layout.setup_scripts:
            self._do(self.step(f"setup:{script}"), functools.partial(self._setup, script))
        for cluster in self.layout.clusters:
            if cluster.import_script:
                self._do(self.step(f"import:{cluster.name}"), functools.partial(self._import, cluster))
        for cluster in self.layout.clusters:
            self._do(self.step(f"agent:{cluster.name}"), functools.partial(self._agent, cluster))
            self._do(self.step(f"files:{cluster.name}"), functools.partial(self._files, cluster))
        self._do(self.step("rerun"), self._rerun)

    def _do(
        self, step: StepResult, action: Callable[[], Done], *, abort: bool = True, begun: float | None = None
    ) -> None:
        """Run one step: time it, record its outcome, tell the observer; a failure skips what follows."""
        if begun is None:
            self.observer.started(step)
        start = time.monotonic() if begun is None else begun
        failed = False
        try:
            done = action()
            step.status, step.finding, step.checks = done.status, one_line(done.finding), list(done.checks)
        except StepFailed as failure:
            step.status, step.finding, step.hint = Status.FAIL, one_line(failure.finding), one_line(failure.hint)
            step.checks = failure.checks
            failed = True
        except KeyboardInterrupt:
            step.status, step.finding = Status.FAIL, "interrupted"
            raise
        except Exception as error:  # an unexpected error is still one step's finding
            step.status, step.finding = Status.ERROR, one_line(f"{type(error).__name__}: {error}")
            failed = True
        finally:
            step.seconds = time.monotonic() - start
            self.observer.finished(step)
        if failed and abort:
            raise _Abort

    def _render(self) -> Done:
        if self.options.from_dir is not None:
            if not self.tree.is_dir():
                raise StepFailed(
                    f"{self.tree} is not a directory", "pass the OUT directory istio-vault-ca render wrote"
                )
            count = sum(1 for path in self.tree.rglob("*") if path.is_file())
            return Done(f"{count} files, rehearsed against the clusters of {self.loaded.source}")
        from istio_vault_ca.generator.render.tree import render_tree
        from istio_vault_ca.generator.render.writer import write_tree

        tree = render_tree(self.loaded.config)
        write_tree(tree, self.tree)
        return Done(f"{len(tree)} files from {self.loaded.source} into a private temp dir")

    def _consistency(self) -> Done:
        missing = [script for script in self.layout.all_scripts if not (self.tree / script).is_file()]
        if missing:
            raise StepFailed(
                f"the tree has no {missing[0]} (the config has {len(self.plans)} cluster(s))",
                "pass the config the tree was rendered from with -c, or render it again",
            )
        edits = self._hand_edits()
        notes: list[CheckResult] = []
        try:
            for cluster in self.layout.clusters:
                checked = check_cluster_overlay(self.tree, cluster)
                self.overlays[cluster.name] = checked
                notes += checked.notes
        except StepFailed as failure:
            failure.checks += edits
            raise
        notes += edits
        finding = f"secret-volume-path equals ROOT_CA_DIR; {len(self.layout.clusters)} overlay(s) consistent"
        if notes:
            finding += "; " + "; ".join(f"{n.target} {n.finding}" for n in notes[:3])
        return Done(finding, Status.WARN if notes else Status.PASS, tuple(notes))

    def _hand_edits(self) -> list[CheckResult]:
        """With --from, name the files that differ from a fresh render: the run then shows if they still work."""
        if self.options.from_dir is None:
            return []
        from istio_vault_ca.generator.render.tree import render_tree
        from istio_vault_ca.generator.render.writer import stale_files

        stale = [entry for entry in stale_files(render_tree(self.loaded.config), self.tree) if "(differs)" in entry]
        if not stale:
            return []
        names = ", ".join(entry.removesuffix(" (differs)") for entry in stale[:4])
        more = f" and {len(stale) - 4} more" if len(stale) > 4 else ""
        return [
            CheckResult(
                "rehearsal.consistency.hand-edits",
                Status.WARN,
                str(self.tree),
                f"differs from a render of {self.loaded.source}: {names}{more}",
            )
        ]

    def _start_services(self) -> None:
        """The dev server and the TokenReview endpoint start concurrently (key generation overlaps start-up)."""
        server_step, endpoint_step = self.step("openbao"), self.step("tokenreview")
        self.observer.started(server_step)
        self.observer.started(endpoint_step)
        begun = time.monotonic()
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(self._start_endpoint)
            try:
                self._do(server_step, self._start_server, begun=begun)
            finally:
                # Wait for the endpoint even when the server failed, so teardown can stop it.
                with contextlib.suppress(Exception):
                    future.exception()
        finished_at = future.result() if future.exception() is None else time.monotonic()
        self._do(endpoint_step, lambda: self._endpoint_done(future.exception()), begun=begun)
        endpoint_step.seconds = finished_at - begun

    def _start_server(self) -> Done:
        self.server = start_dev_server(self.workdir / "openbao")
        self.processes.append(self.server.process)
        return Done(f"{self.server.address} (dev mode, in memory, root token only for this run)")

    def _start_endpoint(self) -> float:
        self.endpoint = tokenreview.start()
        return time.monotonic()

    def _endpoint_done(self, error: BaseException | None) -> Done:
        if error is not None or self.endpoint is None:
            raise StepFailed(f"the {tokenreview.NAME} endpoint did not start: {error}")
        ca_file = self.workdir / "kubernetes-ca.crt"
        ca_file.write_bytes(self.endpoint.ca_pem)
        return Done(f"{self.endpoint.url} stands in for the Kubernetes API server (CA made for this run)")

    # -- setup scripts -------------------------------------------------------------------------------------

    def _script_env(self, cluster_plan: ClusterPlan | None) -> dict[str, str]:
        assert self.server is not None and self.endpoint is not None
        dropped = ("AUDIT_FILE_PATH", "TOKEN_REVIEWER_JWT_FILE", "CSR_DIR", "SIGNED_CERT_FILE", "ROOT_CERT_FILE")
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("VAULT_", "BAO_", "K8S_")) and key not in dropped
        }
        env = self.server.env(base)
        scratch = self.workdir / "scratch"
        scratch.mkdir(mode=0o700, exist_ok=True)
        audit_dir = self.workdir / "audit"
        audit_dir.mkdir(mode=0o700, exist_ok=True)
        env.update(
            HOME=str(scratch),
            TMPDIR=str(scratch),
            AUDIT_FILE_PATH=str(audit_dir / "vault-audit.log"),
            K8S_HOST=self.endpoint.url,
            K8S_CA_CERT_FILE=str(self.workdir / "kubernetes-ca.crt"),
            CSR_DIR=str(self.workdir / "csr"),
            ROOT_CERT_FILE=str(self.workdir / "offline-root.pem"),
        )
        reviewer = cluster_plan.kubernetes_auth.token_reviewer if cluster_plan else None
        if cluster_plan is not None and cluster_plan.kubernetes_auth.reviewer == "secret" and reviewer is not None:
            jwt = self._mint(f"reviewer-{cluster_plan.name}", reviewer.namespace, reviewer.service_account)
            env["TOKEN_REVIEWER_JWT_FILE"] = str(jwt)
        return env

    def _mint(self, name: str, namespace: str, service_account: str) -> Path:
        assert self.endpoint is not None
        directory = self.workdir / "jwt"
        directory.mkdir(mode=0o700, exist_ok=True)
        path = directory / f"{name}.jwt"
        path.touch(mode=0o600)
        path.write_text(self.endpoint.signer.mint(namespace, service_account), encoding="ascii")
        return path

    def _plan_of(self, script: str) -> ClusterPlan | None:
        """The cluster a script belongs to (None for the shared root/ scripts of a multi-cluster tree)."""
        if not self.layout.multi:
            return self.layout.clusters[0].plan
        return next((c.plan for c in self.layout.clusters if script.startswith(c.prefix)), None)

    def _run_logged(self, argv: list[str], env: dict[str, str], log: Path, timeout: float) -> int:
        """Run a child in its own session with its output in `log` (never shown raw); kill its group on exit."""
        log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with log.open("wb") as stream:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=stream,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
                start_new_session=True,
            )
            self.processes.append(process)
            try:
                return process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise StepFailed(f"{Path(argv[1]).name} did not finish within {timeout:.0f} s") from None
            finally:
                _kill_group(process)

    def _run_script(self, script: str, run: str) -> str:
        log = self.workdir / "logs" / f"{script.replace('/', '_')}.{run}.log"
        code = self._run_logged(
            ["bash", str(self.tree / script)], self._script_env(self._plan_of(script)), log, self.options.setup_timeout
        )
        text = log.read_text(encoding="utf-8", errors="replace")
        if code != 0:
            raise StepFailed(
                f"{script} exited {code}: {_script_cause(text)}",
                "the script's own message says what to change; re-render from the config if it was edited",
            )
        done = [line for line in text.splitlines() if line.startswith("[setup] done")]
        return done[-1].removeprefix("[setup] ") if done else "exit 0"

    def _setup(self, script: str) -> Done:
        return Done(self._run_script(script, "first"))

    def _import(self, cluster: ClusterLayout) -> Done:
        """Offline root: sign the CSR setup.sh wrote, as `istio-vault-ca sign-intermediate` would, then import."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        from istio_vault_ca.generator.errors import OfflineRootError
        from istio_vault_ca.generator.pki.offline_root import sign_intermediate

        root_cert, root_key = self._offline_root()
        csr_file = self.workdir / "csr" / f"{cluster.name}-intermediate.csr"
        try:
            csr = x509.load_pem_x509_csr(csr_file.read_bytes())
            signed = sign_intermediate(
                root_cert,
                root_key,
                csr,
                ttl_seconds=cluster.plan.intermediate_ttl_seconds,
                max_path_length=cluster.plan.intermediate.max_path_length,
            )
        except (OSError, ValueError, OfflineRootError) as error:
            raise StepFailed(
                f"signing {csr_file.name} failed: {error}", "setup.sh must write the CSR to CSR_DIR"
            ) from None
        signed_file = csr_file.with_suffix(".pem")
        signed_file.write_bytes(signed.certificate.public_bytes(serialization.Encoding.PEM))
        assert cluster.import_script is not None
        return Done(
            f"signed {signed.certificate.subject.rfc4514_string()}; {self._run_script(cluster.import_script, 'first')}"
        )

    def _offline_root(self) -> tuple[Any, Any]:
        """A root CA made for this run only, standing in for the offline root; its key never leaves memory."""
        if self.offline_root is None:
            self.offline_root = make_offline_root(self.loaded.config.root.common_name, self.loaded.config.root.ttl)
            from cryptography.hazmat.primitives import serialization

            (self.workdir / "offline-root.pem").write_bytes(
                self.offline_root[0].public_bytes(serialization.Encoding.PEM)
            )
        return self.offline_root

    def _rerun(self) -> Done:
        assert self.server is not None
        templates = [t for checked in self.overlays.values() for t in checked.injection.templates]
        paths = [path for template in templates for path in template.secret_paths()]
        before = vault_state(self.server, self.plans, paths)
        for script in self.layout.all_scripts:
            self._run_script(script, "second")
        after = vault_state(self.server, self.plans, paths)
        changed = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
        if changed:
            raise StepFailed(
                f"the second run changed {', '.join(changed[:4])}{' …' if len(changed) > 4 else ''}",
                "the scripts must be idempotent and never replace a CA or the stored key; re-render from the config",
            )
        serials = sorted({value[len("serial ") :][:8] for value in before.values() if value.startswith("serial ")})
        return Done(
            f"exit 0; none of {len(before)} values changed: CA serials {', '.join(serials)}, the stored key, "
            "mounts, auth, roles, policies"
        )

    # -- agent and files -------------------------------------------------------------------------------------

    def _agent(self, cluster: ClusterLayout) -> Done:
        assert self.server is not None
        injection = self.overlays[cluster.name].injection
        istiod = cluster.plan.config.istiod
        base = self.workdir / "pods" / cluster.name
        base.mkdir(mode=0o700, parents=True)
        config = agent.build_config(
            injection,
            vault_address=self.server.address,
            token_path=self._mint(f"istiod-{cluster.name}", istiod.namespace, istiod.service_account),
            root=base / "fs",
            sink_path=base / "vault-token",
            pid_file=base / "agent.pid",
        )
        config_file = base / "agent.json"
        config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
        env = {"HOME": str(base), "PATH": os.environ.get("PATH", ""), "TMPDIR": str(base)}
        log = base / "agent.log"
        code = self._run_logged([self.bao, "agent", f"-config={config_file}"], env, log, self.options.agent_timeout)
        if code != 0:
            expected = agent.Expectation(
                istiod.namespace,
                istiod.service_account,
                cluster.plan.cluster.policy,
                cluster.plan.config.kv.version,
                cluster.plan.config.kv.mount,
            )
            diagnosis = agent.diagnose(log.read_text(encoding="utf-8", errors="replace"), injection, expected)
            self._keep(cluster, base / "fs" / self.overlays[cluster.name].root_ca_dir.lstrip("/"))
            raise StepFailed(diagnosis.cause, diagnosis.hint)
        root = base / "fs"
        missing = [t.name for t in injection.templates if not agent.local_destination(root, t).is_file()]
        if missing:
            raise StepFailed(f"the agent exited 0 but wrote no {', '.join(missing)}")
        return Done(
            f"logged in as {istiod.namespace}/{istiod.service_account} (role {injection.role} at "
            f"{injection.auth_path}) and wrote {len(injection.templates)} files like a vault-agent-init container"
        )

    def _files(self, cluster: ClusterLayout) -> Done:
        checked = self.overlays[cluster.name]
        ca_dir = self.workdir / "pods" / cluster.name / "fs" / checked.root_ca_dir.lstrip("/")
        target = checked.root_ca_dir + (f" (cluster {cluster.name})" if self.layout.multi else "")
        key_template = next((t for t in checked.injection.templates if t.name == CA_KEY), None)
        checks = check_ca_files(ca_dir, target, key_template.perms if key_template else None)
        self._keep(cluster, ca_dir)
        bad = next((check for check in checks if check.failed), None)
        if bad is not None:
            hint = bad.hint
            if "<no value>" in bad.finding:
                kv = cluster.plan.config.kv
                syntax = 'index .Data "<key>"' if kv.version == 1 else 'index .Data.data "<key>"'
                hint = f"{kv.mount}/ is KV v{kv.version}, whose templates read {syntax}; re-render from the config"
            raise StepFailed(bad.finding, hint, checks)
        warnings = [check for check in checks if check.status is Status.WARN]
        finding = (
            f"{len(checks) - len(warnings)} chain checks passed: key matches, chain verifies, SPIFFE leaf verifies"
        )
        return Done(finding, Status.WARN if warnings else Status.PASS, tuple(checks))

    def _keep(self, cluster: ClusterLayout, ca_dir: Path) -> None:
        """--keep DIR: copy the four files out (dir 0700, key 0600) before the temp dir goes."""
        if self.options.keep_dir is None:
            return
        target = self.options.keep_dir / cluster.name if self.layout.multi else self.options.keep_dir
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(target, 0o700)
        if self.layout.multi:
            os.chmod(self.options.keep_dir, 0o700)
        for name in CA_FILES:
            source = ca_dir / name
            if source.is_file():
                destination = target / name
                destination.unlink(missing_ok=True)
                mode = 0o600 if name == CA_KEY else 0o644
                fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
                with os.fdopen(fd, "wb") as stream:
                    stream.write(source.read_bytes())

    # -- teardown --------------------------------------------------------------------------------------------

    def _teardown(self) -> Done:
        for process in self.processes:
            _kill_group(process)
        if self.endpoint is not None:
            self.endpoint.stop()
        if self.server is not None:
            # In-memory dev server: nothing to flush, so no graceful shutdown to wait for.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if self.server.process.poll() is None:
                    os.killpg(self.server.process.pid, signal.SIGKILL)
            self.server.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
        alive = [process.pid for process in self.processes if process.poll() is None]
        if alive or self.workdir.exists():
            raise StepFailed(f"still alive: {alive}; temp dir left: {self.workdir.exists()}")
        return Done(f"{len(self.processes)} processes stopped, temp dir removed")


def make_offline_root(common_name: str, ttl: str) -> tuple[Any, Any]:
    """A self-signed root CA (EC P-256: quick to make) valid for the configured root TTL."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from istio_vault_ca.generator.config.durations import parse_duration

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(seconds=parse_duration(ttl)))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def _script_cause(text: str) -> str:
    """The script's own `[step] ERROR: ...` line (first line of it), else its last line."""
    errors = list(_SCRIPT_ERROR.finditer(text))
    if errors:
        last = errors[-1]
        return f"[{last.group('step')}] {last.group('message')}"
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def rehearse(options: Options, observer: Observer | None = None) -> Outcome:
    """Load the config (ConfigError: exit 2), find bao (OpenBaoMissing), then run every step and tear down."""
    from istio_vault_ca.generator.config.loader import load

    bao = find_bao()
    loaded = load(options.config)
    return Rehearsal(options, loaded, bao, observer or _Silent()).run()
