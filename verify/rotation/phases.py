"""The steps of `plan-rotation --root` between reading Vault and writing OUT: the root a namespace's ConfigMap
holds (to confirm the bundle reached the workloads), the time every intermediate was found on the new root
(recorded once), and the files of the phase asked for, with an online root (root.mode vault: `render_online`) or
an offline one (external: `render_offline`). verify/runs/rotation.py runs them in order."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...generator.errors import RotationRefused, UsageError
from ..checks.cluster.state import ROOT_CONFIG_MAP
from .root import IntermediateNow, RootRotationState, write_bundle_fields

if TYPE_CHECKING:
    from cryptography import x509

    from ...generator.config.model import Config
    from ...generator.config.plan import ClusterPlan
    from ...generator.render.root_rotation import OfflineRoot
    from ...generator.render.tree import Tree
    from ..clients.vault import VaultApi


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def root_cert_of_configmap(configmap: dict[str, Any] | None, namespace: str) -> tuple[bytes, str]:
    """root-cert.pem of the `istio-ca-root-cert` ConfigMap istiod writes into every namespace (istio/istio
    pilot/pkg/serviceregistry/kube/controller/namespacecontroller.go, key
    pkg/config/constants CACertNamespaceConfigMapDataName = "root-cert.pem"), and how
    to name it; refused when there is no such ConfigMap or key."""
    where = f"ConfigMap {namespace}/{ROOT_CONFIG_MAP}"
    if configmap is None:
        raise RotationRefused(f"no {where} (is istiod running, and the namespace in the mesh?); nothing confirmed")
    value = (configmap.get("data") or {}).get("root-cert.pem")
    if not isinstance(value, str):
        raise RotationRefused(f"{where} has no root-cert.pem; nothing confirmed")
    return value.encode(), where


def record_reissued(api: VaultApi, config: Config, state: RootRotationState) -> bool:
    """The first time every intermediate is found on the new root (bundle delivered, old root still in it), the
    time is recorded in the bundle's KV entry: phase (d) waits the workload certificate TTL from then."""
    from ...generator.render.root_rotation import REISSUED_AT_FIELD

    if state.next_phase != "d" or state.reissued_at is not None:
        return False
    write_bundle_fields(api, config, {REISSUED_AT_FIELD: f"{now():%Y-%m-%dT%H:%M:%SZ}"})
    return True


def _offline(cert: x509.Certificate) -> OfflineRoot:
    from ...generator.render.root_rotation import OfflineRoot
    from .root_offline import pem, root_id

    return OfflineRoot(root_id(cert), cert.subject.rfc4514_string(), pem(cert))


def render_offline(
    phase: str, config: Config, plans: tuple[ClusterPlan, ...], state: RootRotationState, new_root: Path | None
) -> Tree:
    """root.mode external: phase (a) takes the new root from --new-root-file; (c) prints sign-intermediate with it."""
    from ...generator.render import root_rotation as render
    from .root_offline import read_certificate

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


def render_online(phase: str, config: Config, plans: tuple[ClusterPlan, ...], state: RootRotationState) -> Tree:
    """root.mode vault: phase (a) makes the new root in Vault; (c) re-issues each intermediate not yet on it."""
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
