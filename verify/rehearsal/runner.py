"""The rehearsal: the rendered artifacts, end to end, on a throw-away OpenBao with a real `bao agent`.

It proves on one machine that the scripts, the policy and the istiod overlay work together before anything
reaches a cluster. Everything it starts is torn down in `finally` (also on Ctrl-C and SIGTERM): processes by
process group, the 0700 temp dir that held the CA key removed. No text it reports holds a private key.

This module orders the steps and records their outcome; the steps themselves live in `consistency` (the tree,
before anything runs), `scripts` (the rendered scripts against OpenBao) and `pod` (the agent and the four files).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ...generator.errors import RehearsalAborted, RehearsalStepFailed
from ...generator.render.writer import MARKER
from ..checks.result import CheckResult, Status
from . import pod, scripts, tokenreview
from .consistency import check_cluster_overlay, hand_edits
from .openbao import create_namespaces, start_dev_server
from .processes import kill_group, no_interrupts, sigterm_as_interrupt
from .results import Done, Observer, Options, Outcome, StepResult, one_line
from .workspace import Workspace

if TYPE_CHECKING:
    from ...generator.config.loader import LoadedConfig


class Rehearsal:
    """One rehearsal: a private workdir, the steps in order, teardown always."""

    def __init__(self, options: Options, loaded: LoadedConfig, bao: str, observer: Observer) -> None:
        self.ws = Workspace.create(options, loaded, bao)
        self.options = options
        self.loaded = loaded
        self.observer = observer
        self.layout = self.ws.layout
        self.workdir = self.ws.workdir
        self.tree = self.ws.tree
        self.steps = self._plan_steps()

    def _plan_steps(self) -> list[StepResult]:
        from_dir = self.options.from_dir
        steps = [
            StepResult("render", f"use the rendered tree {from_dir}" if from_dir else "render the config"),
            StepResult("consistency", "consistency of the istiod overlay, policy and tree"),
            StepResult("openbao", f"start a throw-away {self._server_name()} dev server"),
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

    def _server_name(self) -> str:
        return "Vault" if self.options.server_kind == "vault" else "OpenBao"

    def step(self, step_id: str) -> StepResult:
        return next(step for step in self.steps if step.id == step_id)

    def run(self) -> Outcome:
        outcome = Outcome(self.loaded.source, self.steps, workdir=self.workdir, server=self._server_name())
        outcome.certificates, outcome.started = self.ws.certificates, time.time()
        started = time.monotonic()
        self.observer.planned(self.steps)
        try:
            with sigterm_as_interrupt():
                self._run_steps()
        except RehearsalAborted:
            pass
        except KeyboardInterrupt:
            outcome.interrupted = True
        finally:
            reason = "interrupted" if outcome.interrupted else "an earlier step failed"
            for step in self.steps:
                if step.status is Status.SKIP and step.id != "teardown":
                    step.finding = f"not run: {reason}"
            with no_interrupts():
                self._do(self.step("teardown"), self._teardown, abort=False)
            outcome.pids = [process.pid for process in self.ws.processes]
            outcome.seconds = time.monotonic() - started
        return outcome

    def _run_steps(self) -> None:
        ws = self.ws
        self._do(self.step("render"), self._render)
        self._do(self.step("consistency"), self._consistency)
        self._start_services()
        for script in self.layout.setup_scripts:
            self._do(self.step(f"setup:{script}"), functools.partial(scripts.setup, ws, script))
        for cluster in self.layout.clusters:
            if cluster.import_script:
                self._do(
                    self.step(f"import:{cluster.name}"), functools.partial(scripts.import_intermediate, ws, cluster)
                )
        for cluster in self.layout.clusters:
            self._do(self.step(f"agent:{cluster.name}"), functools.partial(pod.run_agent, ws, cluster))
            self._do(self.step(f"files:{cluster.name}"), functools.partial(pod.check_files, ws, cluster))
        self._do(self.step("rerun"), functools.partial(scripts.rerun, ws))

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
        except RehearsalStepFailed as failure:
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
            raise RehearsalAborted(f"step {step.id} failed")

    # -- before anything runs ------------------------------------------------------------------------------

    def _render(self) -> Done:
        if self.options.from_dir is not None:
            if not self.tree.is_dir():
                raise RehearsalStepFailed(
                    f"{self.options.from_dir} is not a directory", "pass the OUT directory istio-vault-ca render wrote"
                )
            # The marker only says "rendered by istio-vault-ca": `render` does not count it either.
            count = sum(1 for path in self.tree.rglob("*") if path.is_file() and path != self.tree / MARKER)
            return Done(f"{count} files, rehearsed against the clusters of {self.loaded.source}")
        from ...generator.render.tree import render_tree
        from ...generator.render.writer import write_tree

        tree = render_tree(self.loaded.config)
        write_tree(tree, self.tree)
        return Done(f"{len(tree)} files from {self.loaded.source} into a private temp dir")

    def _consistency(self) -> Done:
        missing = [script for script in self.layout.all_scripts if not (self.tree / script).is_file()]
        if missing:
            raise RehearsalStepFailed(
                f"the tree has no {missing[0]} (the config has {len(self.ws.plans)} cluster(s))",
                "pass the config the tree was rendered from with -c, or render it again",
            )
        edits = hand_edits(self.tree, self.loaded) if self.options.from_dir is not None else []
        notes: list[CheckResult] = []
        try:
            for cluster in self.layout.clusters:
                checked = check_cluster_overlay(self.tree, cluster)
                self.ws.overlays[cluster.name] = checked
                notes += checked.notes
        except RehearsalStepFailed as failure:
            failure.checks += edits
            raise
        notes += edits
        finding = f"secret-volume-path equals ROOT_CA_DIR; {len(self.layout.clusters)} overlay(s) consistent"
        if notes:
            finding += "; " + "; ".join(f"{n.target} {n.finding}" for n in notes[:3])
        return Done(finding, Status.WARN if notes else Status.PASS, tuple(notes))

    # -- services ------------------------------------------------------------------------------------------

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
        """An OpenBao target runs as production OpenBao does: the audit device declared in the server config
        (the rendered stanza), no API audit creation. A Vault target gets API audit creation, as Vault allows
        (a real Vault binary from `--server` allows it by itself)."""
        from ...generator.config.plan import audit_declared, audit_stanza

        config = self.loaded.config
        kind = self.options.server_kind
        name = "Vault" if kind == "vault" else "OpenBao"
        start = functools.partial(start_dev_server, self.workdir / "openbao", binary=self.ws.bao, kind=kind)
        if config.vault.flavor == "openbao":
            if kind == "vault":
                raise RehearsalStepFailed(
                    f"the config says vault.flavor: openbao but the server binary {self.ws.bao} is HashiCorp Vault",
                    "set vault.flavor: vault for a Vault server (its audit device is enabled over the API), "
                    "or give --server an OpenBao binary",
                )
            declared = audit_declared(config)
            stanza = audit_stanza(config.vault.audit, str(self.ws.audit_log)) if declared else ""
            server = start(server_config=stanza)
            how = "the rendered audit stanza in its config" if declared else "no audit device (audit disabled)"
            mode = f"as production OpenBao: {how}, no API audit creation"
        elif kind == "vault":
            server = start()
            mode = "HashiCorp Vault: 01-audit.sh enables the device over the API"
        else:
            server = start()
            mode = "standing in for Vault: unsafe_allow_api_audit_creation lets 01-audit.sh enable the device"
        self.ws.server = server
        self.ws.processes.append(server.process)
        created = create_namespaces(server, self.layout.clusters)
        made = f"; namespaces {', '.join(created)} created (an administrator's step in a real Vault)" if created else ""
        return Done(f"{name} {server.address} (dev mode, in memory, root token only for this run; {mode}){made}")

    def _start_endpoint(self) -> float:
        self.ws.endpoint = tokenreview.start()
        return time.monotonic()

    def _endpoint_done(self, error: BaseException | None) -> Done:
        endpoint = self.ws.endpoint
        if error is not None or endpoint is None:
            raise RehearsalStepFailed(f"the {tokenreview.NAME} endpoint did not start: {error}")
        ca_file = self.workdir / "kubernetes-ca.crt"
        ca_file.write_bytes(endpoint.ca_pem)
        return Done(f"{endpoint.url} stands in for the Kubernetes API server (CA made for this run)")

    # -- teardown ------------------------------------------------------------------------------------------

    def _teardown(self) -> Done:
        server = self.ws.server
        if server is not None:
            # In-memory dev server: nothing to flush, so no graceful shutdown to wait for (SIGTERM's takes ~0.4 s).
            # Killed before the loop below, which would TERM it as one of the processes and wait for that.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if server.process.poll() is None:
                    os.killpg(server.process.pid, signal.SIGKILL)
            server.stop()
        for process in self.ws.processes:
            kill_group(process)
        if self.ws.endpoint is not None:
            self.ws.endpoint.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
        alive = [process.pid for process in self.ws.processes if process.poll() is None]
        if alive or self.workdir.exists():
            raise RehearsalStepFailed(f"still alive: {alive}; temp dir left: {self.workdir.exists()}")
        return Done(f"{len(self.ws.processes)} processes stopped, temp dir removed")
