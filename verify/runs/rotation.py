"""The runs of `plan-rotation` (the intermediates due) and `plan-rotation --root` (the next root-rotation phase),
each from a frozen request the CLI builds: read the config, survey the live Vault (verify/rotation/), print the
plan as the command shows it, write the phase's files into OUT, and return the exit code (0 nothing left to do,
1 something is due or refused; RotationRefused and UsageError say why)."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...generator.errors import RotationRefused, UsageError
from ..checks.cluster.state import ROOT_CONFIG_MAP
from ..rotation.phases import now, record_reissued, render_offline, render_online, root_cert_of_configmap
from ..rotation.root import (
    RootRotationState,
    check_new_root,
    confirm_bundle,
    read_root_cert_file,
    refusal,
    report_lines,
    root_file_problem,
    survey,
    wait_refusal,
)
from ..rotation.root_offline import configured_root, read_certificate

if TYPE_CHECKING:
    from ...generator.config.model import Config
    from ..clients.vault import VaultApi


@dataclass(frozen=True)
class IntermediatesRequest:
    """`plan-rotation`: which clusters, the window that makes a CA due, the clusters renewed anyway, and where the
    scripts go (`html`: the page on stdout, the lines on stderr)."""

    config: str | None
    cluster: str | None
    out: str
    warn_days: int
    force: frozenset[str] = frozenset()
    html: bool = False


@dataclass(frozen=True)
class RootRequest:
    """`plan-rotation --root`: the phase asked for (None: the next one), the confirmation that the trust bundle
    reached the workloads (a directory, or a namespace's ConfigMap read with kubeconfig/context), the wait for the
    workload certificates, an offline root's new certificate, and where the files go."""

    config: str | None
    out: str
    workload_cert_ttl: str
    phase: str | None = None
    confirm_bundle: str | None = None
    confirm_bundle_from_cluster: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    skip_ttl_wait: bool = False
    new_root_file: str | None = None


def _confirm(request: RootRequest, api: VaultApi, config: Config, state: RootRotationState) -> None:
    """Record in Vault that the trust bundle reached the workloads, from the root a namespace's ConfigMap or a
    directory's root-cert.pem holds (verify/rotation/root.py `confirm_bundle` refuses anything else)."""
    if request.confirm_bundle_from_cluster:
        from ..clients.kube import connect

        namespace = request.confirm_bundle_from_cluster
        kube = connect(request.kubeconfig, request.context)
        pem, where = root_cert_of_configmap(kube.config_map(namespace, ROOT_CONFIG_MAP), namespace)
        print(confirm_bundle(api, config, state, pem, where))
    else:
        assert request.confirm_bundle is not None
        pem, where = read_root_cert_file(Path(request.confirm_bundle))
        print(confirm_bundle(api, config, state, pem, where))


def root_rotation(request: RootRequest) -> int:
    """Where the root rotation stands and the next phase's files: refused (RotationRefused) when the phase's
    precondition is not verified in Vault, or, for phase (d), while the workload certificates may still be on the
    old root."""
    from ...generator.config.durations import parse_duration
    from ...generator.config.loader import load
    from ...generator.config.plan import plan
    from ...generator.errors import EXIT_FAILED, EXIT_OK
    from ...generator.render.root_rotation import ISTIO_FACTS
    from ...generator.render.root_rotation_ambient import ambient_steps
    from ...generator.render.writer import write_tree
    from .common import check_workload_ttl, open_vault

    loaded = load(request.config)
    config = loaded.config
    external = config.root.mode == "external"
    new_root_file = Path(request.new_root_file) if request.new_root_file else None
    if new_root_file is not None and not external:
        raise UsageError(
            "--new-root-file is for an offline root (root.mode external); with root.mode vault phase (a) makes the "
            "new root in Vault"
        )
    given = read_certificate(new_root_file, "--new-root-file") if new_root_file else None
    configured = configured_root(config, loaded.source) if external else None
    if request.confirm_bundle and request.confirm_bundle_from_cluster:
        raise UsageError("--confirm-bundle DIR and --confirm-bundle-from-cluster NAMESPACE: give one of them")
    try:
        ttl_seconds = parse_duration(request.workload_cert_ttl)
    except ValueError as error:
        raise UsageError(f"--workload-cert-ttl {request.workload_cert_ttl!r}: {error}") from None
    check_workload_ttl(ttl_seconds, request.workload_cert_ttl)
    plans = plan(config)
    api = open_vault(config)
    api.health()
    state = survey(api, config, plans, configured)
    if given is not None and new_root_file is not None:
        check_new_root(state, given, str(new_root_file))
    if request.confirm_bundle or request.confirm_bundle_from_cluster:
        _confirm(request, api, config, state)
        api = open_vault(config)
        state = survey(api, config, plans, configured)
    if record_reissued(api, config, state):
        api = open_vault(config)
        state = survey(api, config, plans, configured)
    wanted = request.phase or state.next_phase
    if wanted != "done" and (reason := refusal(state, wanted)):
        raise RotationRefused(f"refused: {reason}", f"the next phase is ({state.next_phase})")
    if wanted == "d" and not request.skip_ttl_wait and (reason := wait_refusal(state, ttl_seconds, now())):
        raise RotationRefused(f"refused: {reason}", "the next phase is (d), once the wait is over")
    print(f"config: {loaded.source}")
    for line in report_lines(state):
        print(f"  {line}")
    print("\n".join(ISTIO_FACTS))
    if wanted != "done" and (ambient := ambient_steps(plans, wanted)):
        print("\n".join(ambient).lstrip("\n"))
    if wanted != "done":
        tree = render_offline(wanted, config, plans, state, new_root_file) if external else None
        write_tree(tree or render_online(wanted, config, plans, state), Path(request.out))
        print(f"wrote {request.out}/ (phase ({wanted}); see its root/README.md); review, then run it")
    if external and (problem := root_file_problem(state, configured, str(config.root.certificate_file))):
        raise RotationRefused(f"not done: {problem}", "the trust bundle and every intermediate are on the new root")
    return EXIT_OK if state.next_phase == "done" else EXIT_FAILED


def intermediates_rotation(request: IntermediatesRequest) -> int:
    """The CAs due for renewal and their scripts; exit 1 when something needs attention. A read that fails stops
    the survey (VaultRequestFailed, exit 3): a plan from part of Vault's answers would be wrong."""
    from ...generator.errors import VaultApiError, VaultRequestFailed

    try:
        return _intermediates(request)
    except VaultApiError as error:  # the survey needs every read: one failing read stops it (exit 3)
        raise VaultRequestFailed(f"Vault answered with an error: {error}") from None


def _intermediates(request: IntermediatesRequest) -> int:
    from ...generator.config.loader import load
    from ...generator.config.plan import plan, select
    from ...generator.errors import EXIT_FAILED, EXIT_OK
    from ...generator.pki.offline_root import root_certificate_path
    from ...generator.render.rotation import ROOT_STEPS, SCRIPT_NAME, render_rotation
    from ...generator.render.writer import write_tree
    from ..rotation import due
    from .common import check_warn_days, open_vault

    check_warn_days(request.warn_days)
    loaded = load(request.config)
    config = loaded.config
    try:
        plans = select(plan(config), request.cluster)
    except LookupError as error:
        raise UsageError(str(error.args[0])) from None
    forced = request.force
    if unknown := sorted(forced - {p.name for p in plans}):
        known = ", ".join(p.name for p in plans)
        raise UsageError(
            f"--force {unknown[0]}: no such cluster{' selected' if request.cluster else ''} (clusters: {known})"
        )
    root_file = (
        root_certificate_path(config.root.certificate_file, loaded.source) if config.root.mode == "external" else None
    )
    api = open_vault(config)
    api.health()
    now = dt.datetime.now(dt.timezone.utc)
    root, root_notes, findings = due.survey(api, config, plans, root_file, now, loaded.source)
    result = due.RotationPlan(root, root_notes, findings, request.warn_days, forced)
    # With --output html stdout is the page: what people read in the terminal goes to stderr.
    html = request.html
    stream = sys.stderr if html else sys.stdout
    print(f"config: {loaded.source}", file=stream)
    print(f"Vault at {api.address}", file=stream)
    for line in due.report_lines(result):
        print(f"  {line}", file=stream)
    if result.root_due:
        print("\n".join(ROOT_STEPS), file=stream)
    if result.due() or result.root_due:
        due_now = [(finding.plan, finding.intermediate) for finding in result.due() if finding.intermediate is not None]
        tree = render_rotation(config, due_now, due.report_lines(result), root_due=result.root_due)
        out = Path(request.out)
        try:
            write_tree(tree, out)
        except OSError as error:
            raise UsageError(f"cannot write {out}: {error.strerror or error}") from None
        scripts = sum(1 for name in tree if name.endswith(SCRIPT_NAME))
        print(f"wrote {out}/ ({scripts} rotation script(s) and README.md); review, then run them", file=stream)
    elif result.attention:
        print("no rotation script written: see the notes above for what to do", file=stream)
    else:
        print("nothing to rotate inside the window; nothing written", file=stream)
    if html:
        from ..checks.reporters import get_reporter
        from ..rotation.report import rotation_report

        sys.stdout.write(get_reporter("html").render(rotation_report(result, api.address, now, request.out)))
    return EXIT_FAILED if result.attention else EXIT_OK
