"""`plan-rotation`: the CAs due for renewal (verify/rotation/due.py surveys the live Vault) and their rotation
scripts rendered into OUT; with `--root`, where a root rotation stands (verify/rotation/root.py reads it from Vault),
the next phase's files rendered into OUT, and the refusal of a phase whose precondition is not verified (exit 1,
the reason on stderr)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...generator.errors import RotationRefused, UsageError
from ..rotation.root import (
    IntermediateNow,
    RootRotationState,
    check_new_root,
    confirm_bundle,
    read_root_cert_file,
    refusal,
    report_lines,
    root_file_problem,
    survey,
    wait_refusal,
    write_bundle_fields,
)
from ..rotation.root_offline import configured_root, read_certificate

if TYPE_CHECKING:
    from cryptography import x509

    from ...generator.config.model import Config
    from ...generator.config.plan import ClusterPlan
    from ...generator.render.root_rotation import OfflineRoot
    from ...generator.render.tree import Tree
    from ..clients.vault import VaultApi

# Istio's default workload certificate lifetime (istio.io content/en/about/faq/security/cert-lifetime-config.md:
# 24 hours, `SECRET_TTL` in proxyMetadata changes it, values over 90 days are refused).
DEFAULT_WORKLOAD_CERT_TTL = "24h"
ROOT_CONFIGMAP = "istio-ca-root-cert"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def root_cert_of_configmap(configmap: dict[str, Any] | None, namespace: str) -> tuple[bytes, str]:
    """root-cert.pem of the `istio-ca-root-cert` ConfigMap istiod writes into every namespace (istio/istio
    pilot/pkg/serviceregistry/kube/controller/namespacecontroller.go, key
    pkg/config/constants CACertNamespaceConfigMapDataName = "root-cert.pem"), and how
    to name it; refused when there is no such ConfigMap or key."""
    where = f"ConfigMap {namespace}/{ROOT_CONFIGMAP}"
    if configmap is None:
        raise RotationRefused(f"no {where} (is istiod running, and the namespace in the mesh?); nothing confirmed")
    value = (configmap.get("data") or {}).get("root-cert.pem")
    if not isinstance(value, str):
        raise RotationRefused(f"{where} has no root-cert.pem; nothing confirmed")
    return value.encode(), where


def _confirm(args: argparse.Namespace, api: VaultApi, config: Config, state: RootRotationState) -> None:
    if args.confirm_bundle_from_cluster:
        from ..clients.kube import connect

        namespace = args.confirm_bundle_from_cluster
        kube = connect(args.kubeconfig, args.context)
        pem, where = root_cert_of_configmap(kube.config_map(namespace, ROOT_CONFIGMAP), namespace)
        print(confirm_bundle(api, config, state, pem, where))
    else:
        pem, where = read_root_cert_file(Path(args.confirm_bundle))
        print(confirm_bundle(api, config, state, pem, where))


def _record_reissued(api: VaultApi, config: Config, state: RootRotationState) -> bool:
    """The first time every intermediate is found on the new root (bundle delivered, old root still in it), the
    time is recorded in the bundle's KV entry: phase (d) waits the workload certificate TTL from then."""
    from ...generator.render.root_rotation import REISSUED_AT_FIELD

    if state.next_phase != "d" or state.reissued_at is not None:
        return False
    write_bundle_fields(api, config, {REISSUED_AT_FIELD: f"{_now():%Y-%m-%dT%H:%M:%SZ}"})
    return True


def _offline(cert: x509.Certificate) -> OfflineRoot:
    from ...generator.render.root_rotation import OfflineRoot
    from ..rotation.root_offline import pem, root_id

    return OfflineRoot(root_id(cert), cert.subject.rfc4514_string(), pem(cert))


def _render_offline(
    phase: str, config: Config, plans: tuple[ClusterPlan, ...], state: RootRotationState, new_root: Path | None
) -> Tree:
    """root.mode external: phase (a) takes the new root from --new-root-file; (c) prints sign-intermediate with it."""
    from ...generator.render import root_rotation as render
    from ..rotation.root_offline import read_certificate

    if phase == "a":
        if new_root is None:
            raise UsageError(
                "phase (a) with an offline root (root.mode external): make the new root where the old one's key is "
                "kept (see the README's root rotation section), then pass its certificate: "
                "plan-rotation --root --new-root-file NEW-ROOT.pem"
            )
        new = read_certificate(new_root, "--new-root-file")
        return render.render_offline_phase_a(config, _offline(state.old_root), _offline(new))
    if phase == "b":
        return render.render_phase_b(plans)
    assert state.new_root is not None and state.new_issuer is not None
    if phase == "c":
        if new_root is None:
            raise UsageError(
                "phase (c) with an offline root: pass --new-root-file with the new root's certificate (the one phase "
                "(a) recorded): each script prints the sign-intermediate command that names it"
            )
        due = _due(plans, state)
        offline_c = (_offline(state.new_root), str(new_root))
        return {**render.render_phase_b(plans), **render.render_phase_c(config, due, state.new_issuer, offline_c)}
    return {
        **render.render_phase_b(plans),
        **render.render_phase_d(config, plans, state.old_issuer, state.new_issuer, _offline(state.new_root)),
    }


def _due(plans: tuple[ClusterPlan, ...], state: RootRotationState) -> tuple[tuple[ClusterPlan, IntermediateNow], ...]:
    current = dict(state.intermediates)
    due = []
    for cluster in plans:
        found = current.get(cluster.name)
        if cluster.name in state.not_reissued:
            if found is None:
                raise UsageError(f"cluster {cluster.name} has no intermediate to re-issue: run its setup.sh first")
            due.append((cluster, found))
    return tuple(due)


def _render(phase: str, config: Config, plans: tuple[ClusterPlan, ...], state: RootRotationState) -> Tree:
    from ...generator.render import root_rotation as render

    if phase == "a":
        return render.render_phase_a(
            config, state.old_issuer, f"{state.old_root.serial_number:x}", render.new_issuer_name(state.old_issuer)
        )
    if phase == "b":
        return render.render_phase_b(plans)
    assert state.new_issuer is not None
    # From (b) on the clusters run the phase-(b) overlay and policy: they stay in OUT beside the later scripts.
    return {**render.render_phase_b(plans), **_render_later(phase, config, plans, state, state.new_issuer)}


def _render_later(
    phase: str, config: Config, plans: tuple[ClusterPlan, ...], state: RootRotationState, new_issuer: str
) -> Tree:
    from ...generator.render import root_rotation as render

    if phase == "c":
        return render.render_phase_c(config, _due(plans, state), new_issuer)
    return render.render_phase_d(config, plans, state.old_issuer, new_issuer)


def plan_rotation(args: argparse.Namespace) -> int:
    """`plan-rotation`: the root rotation's phases with --root, else the plan of the intermediates due."""
    return root_command(args) if getattr(args, "root", False) else plan_command(args)


def root_command(args: argparse.Namespace) -> int:
    """plan-rotation --root -c CONFIG [--phase a|b|c|d] [--confirm-bundle DIR | --confirm-bundle-from-cluster NS]
    [--workload-cert-ttl DURATION] [--skip-ttl-wait] [--new-root-file NEW.pem] [-o OUT]"""
    from ...generator.config.durations import parse_duration
    from ...generator.config.loader import load
    from ...generator.config.plan import plan
    from ...generator.errors import EXIT_FAILED, EXIT_OK
    from ...generator.render.root_rotation import ISTIO_FACTS
    from ...generator.render.root_rotation_ambient import ambient_steps
    from ...generator.render.writer import write_tree
    from ..runs.common import open_vault

    if getattr(args, "output", "text") != "text":
        raise UsageError("--output html reports the intermediates' plan; plan-rotation --root reports as text")
    loaded = load(args.config)
    config = loaded.config
    external = config.root.mode == "external"
    new_root_file = Path(args.new_root_file) if getattr(args, "new_root_file", None) else None
    if new_root_file is not None and not external:
        raise UsageError(
            "--new-root-file is for an offline root (root.mode external); with root.mode vault phase (a) makes the "
            "new root in Vault"
        )
    given = read_certificate(new_root_file, "--new-root-file") if new_root_file else None
    configured = configured_root(config, loaded.source) if external else None
    if args.confirm_bundle and args.confirm_bundle_from_cluster:
        raise UsageError("--confirm-bundle DIR and --confirm-bundle-from-cluster NAMESPACE: give one of them")
    try:
        ttl_seconds = parse_duration(args.workload_cert_ttl)
    except ValueError as error:
        raise UsageError(f"--workload-cert-ttl {args.workload_cert_ttl!r}: {error}") from None
    plans = plan(config)
    api = open_vault(config)
    api.health()
    state = survey(api, config, plans, configured)
    if given is not None and new_root_file is not None:
        check_new_root(state, given, str(new_root_file))
    if args.confirm_bundle or args.confirm_bundle_from_cluster:
        _confirm(args, api, config, state)
        api = open_vault(config)
        state = survey(api, config, plans, configured)
    if _record_reissued(api, config, state):
        api = open_vault(config)
        state = survey(api, config, plans, configured)
    wanted = args.phase or state.next_phase
    if wanted != "done" and (reason := refusal(state, wanted)):
        raise RotationRefused(f"refused: {reason}", f"the next phase is ({state.next_phase})")
    if wanted == "d" and not args.skip_ttl_wait and (reason := wait_refusal(state, ttl_seconds, _now())):
        raise RotationRefused(f"refused: {reason}", "the next phase is (d), once the wait is over")
    print(f"config: {loaded.source}")
    for line in report_lines(state):
        print(f"  {line}")
    print("\n".join(ISTIO_FACTS))
    if wanted != "done" and (ambient := ambient_steps(plans, wanted)):
        print("\n".join(ambient).lstrip("\n"))
    if wanted != "done":
        tree = _render_offline(wanted, config, plans, state, new_root_file) if external else None
        write_tree(tree or _render(wanted, config, plans, state), Path(args.out))
        print(f"wrote {args.out}/ (phase ({wanted}); see its root/README.md); review, then run it")
    if external and (problem := root_file_problem(state, configured, str(config.root.certificate_file))):
        raise RotationRefused(f"not done: {problem}", "the trust bundle and every intermediate are on the new root")
    return EXIT_OK if state.next_phase == "done" else EXIT_FAILED


def plan_command(args: argparse.Namespace) -> int:
    """plan-rotation -c CONFIG [--cluster NAME] [-o OUT] [--warn-days N] [--force CLUSTER]..."""
    from ...generator.errors import VaultApiError, VaultUnavailable

    try:
        return _plan_intermediates(args)
    except VaultApiError as error:  # the survey needs every read: one failing read stops it (exit 3)
        raise VaultUnavailable("api", f"Vault answered with an error: {error}") from None


def _plan_intermediates(args: argparse.Namespace) -> int:
    from ...generator.config.loader import load
    from ...generator.config.plan import plan, select
    from ...generator.errors import EXIT_FAILED, EXIT_OK, UsageError
    from ...generator.pki.offline_root import root_certificate_path
    from ...generator.render.rotation import ROOT_STEPS, SCRIPT_NAME, render_rotation
    from ...generator.render.writer import write_tree
    from ..rotation import due
    from ..runs.common import open_vault

    if args.warn_days < 0:
        raise UsageError(f"--warn-days must be 0 or more, not {args.warn_days}")
    loaded = load(args.config)
    config = loaded.config
    try:
        plans = select(plan(config), args.cluster)
    except LookupError as error:
        raise UsageError(str(error.args[0])) from None
    forced = frozenset(getattr(args, "force", None) or ())
    if unknown := sorted(forced - {p.name for p in plans}):
        known = ", ".join(p.name for p in plans)
        raise UsageError(
            f"--force {unknown[0]}: no such cluster{' selected' if args.cluster else ''} (clusters: {known})"
        )
    root_file = (
        root_certificate_path(config.root.certificate_file, loaded.source) if config.root.mode == "external" else None
    )
    api = open_vault(config)
    api.health()
    now = dt.datetime.now(dt.timezone.utc)
    root, root_notes, findings = due.survey(api, config, plans, root_file, now, loaded.source)
    result = due.RotationPlan(root, root_notes, findings, args.warn_days, forced)
    # With --output html stdout is the page: what people read in the terminal goes to stderr.
    html = getattr(args, "output", "text") == "html"
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
        out = Path(args.out)
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

        sys.stdout.write(get_reporter("html").render(rotation_report(result, api.address, now, args.out)))
    return EXIT_FAILED if result.attention else EXIT_OK
