"""`plan-rotation --root`: where a root rotation stands (verify/root_rotation.py reads it from Vault), the next
phase's files rendered into OUT, and the refusal of a phase whose precondition is not verified (exit 1, the reason
on stderr)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..generator.errors import RotationRefused, UsageError
from .root_rotation import (
    IntermediateNow,
    RootRotationState,
    confirm_bundle,
    read_root_cert_file,
    refusal,
    report_lines,
    survey,
    wait_refusal,
    write_bundle_fields,
)
from .root_rotation_offline import (
    check_new_root,
    configured_root,
    read_certificate,
    root_file_problem,
)

if TYPE_CHECKING:
    from cryptography import x509

    from ..generator.config.model import Config
    from ..generator.config.plan import ClusterPlan
    from ..generator.render.root_rotation import OfflineRoot
    from ..generator.render.tree import Tree
    from .clients.vault import VaultApi

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
        from .clients.kube import connect

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
    from ..generator.render.root_rotation import REISSUED_AT_FIELD

    if state.next_phase != "d" or state.reissued_at is not None:
        return False
    write_bundle_fields(api, config, {REISSUED_AT_FIELD: f"{_now():%Y-%m-%dT%H:%M:%SZ}"})
    return True


def _offline(cert: x509.Certificate) -> OfflineRoot:
    from ..generator.render.root_rotation import OfflineRoot
    from .root_rotation_offline import pem, root_id

    return OfflineRoot(root_id(cert), cert.subject.rfc4514_string(), pem(cert))


def _render_offline(
    phase: str, config: Config, plans: tuple[ClusterPlan, ...], state: RootRotationState, new_root: Path | None
) -> Tree:
    """root.mode external: phase (a) takes the new root from --new-root-file; (c) prints sign-intermediate with it."""
    from ..generator.render import root_rotation as render
    from .root_rotation_offline import read_certificate

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
    from ..generator.render import root_rotation as render

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
    from ..generator.render import root_rotation as render

    if phase == "c":
        return render.render_phase_c(config, _due(plans, state), new_issuer)
    return render.render_phase_d(config, plans, state.old_issuer, new_issuer)


def root_command(args: argparse.Namespace) -> int:
    """plan-rotation --root -c CONFIG [--phase a|b|c|d] [--confirm-bundle DIR | --confirm-bundle-from-cluster NS]
    [--workload-cert-ttl DURATION] [--skip-ttl-wait] [--new-root-file NEW.pem] [-o OUT]"""
    from ..generator.config.durations import parse_duration
    from ..generator.config.loader import load
    from ..generator.config.plan import plan
    from ..generator.errors import EXIT_FAILED, EXIT_OK
    from ..generator.render.root_rotation import ISTIO_FACTS
    from ..generator.render.writer import write_tree
    from .cli.verify_commands import open_vault

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
    if wanted != "done":
        tree = _render_offline(wanted, config, plans, state, new_root_file) if external else None
        write_tree(tree or _render(wanted, config, plans, state), Path(args.out))
        print(f"wrote {args.out}/ (phase ({wanted}); see its root/README.md); review, then run it")
    if external and (problem := root_file_problem(state, configured, str(config.root.certificate_file))):
        raise RotationRefused(f"not done: {problem}", "the trust bundle and every intermediate are on the new root")
    return EXIT_OK if state.next_phase == "done" else EXIT_FAILED
