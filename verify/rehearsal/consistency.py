"""Consistency of a rendered tree, before anything runs: what would break istiod silently fails here.

The overlays of a cluster must agree, the agent must write the four CA files into ROOT_CA_DIR, and the policy
should grant read on every path the templates read (a warning: the agent step proves a gap with a real 403).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ...generator.config.cafiles import CA_FILES
from ...generator.config.injectors import OPENBAO_K8S
from ...generator.errors import OverlayError, RehearsalStepFailed
from ...generator.render.layout import OUTPUT_FILES, ClusterLayout
from ..checks.result import CheckResult, Status
from . import agent
from .results import one_line

if TYPE_CHECKING:
    from ...generator.config.loader import LoadedConfig


def overlay_files(tree: Path, cluster: ClusterLayout) -> list[str]:
    """The istiod overlay files of one cluster that exist in the tree (any installer, in render order)."""
    return [f"{cluster.prefix}{rel}" for rel in OUTPUT_FILES.values() if (tree / cluster.prefix / rel).is_file()]


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
        raise RehearsalStepFailed(
            f"{target}: no istiod overlay (istiod/*.yaml) in the tree",
            "render the tree with istio-vault-ca render, or pass the config it was rendered from with -c",
        )
    overlays = []
    for source in sources:
        try:
            overlays.append(agent.read_overlay(tree / source, source))
        except OverlayError as error:
            raise RehearsalStepFailed(one_line(str(error)), "re-render the overlay from the config") from None
    first = overlays[0]
    for other in overlays[1:]:
        differing = sorted(
            k
            for k in first.annotations.keys() | other.annotations.keys()
            if first.annotations.get(k) != other.annotations.get(k)
        )
        if differing or first.root_ca_dir != other.root_ca_dir:
            what = differing[0] if differing else "ROOT_CA_DIR"
            raise RehearsalStepFailed(
                f"{other.source} and {first.source} disagree on {what}",
                "every istiod overlay of a cluster must set the same annotations; re-render from the config",
            )
    return _check_injection(tree, cluster, first)


def _check_injection(tree: Path, cluster: ClusterLayout, overlay: agent.IstiodOverlay) -> OverlayCheck:
    source = overlay.source
    configured = cluster.plan.config.vault.injector
    written_for = overlay.injector
    if written_for is OPENBAO_K8S and configured != OPENBAO_K8S.name:
        # vault-k8s reads vault.hashicorp.com/* only; openbao-k8s reads both (see `IstiodOverlay.effective`).
        raise RehearsalStepFailed(
            f"{source}: its annotations are {written_for.prefix}*, for the {written_for.name} injector, "
            f"but the config says vault.injector: {configured}: that injector would ignore them",
            "re-render the tree from the config",
        )
    overlay = replace(overlay, injector_name=configured)
    if overlay.annotation("agent-inject") != "true":
        raise RehearsalStepFailed(
            f'{source}: {overlay.injector.prefix}agent-inject is not "true": the injector would add no agent',
            "re-render the overlay from the config",
        )
    if overlay.secret_volume_path != overlay.root_ca_dir:
        raise RehearsalStepFailed(
            f"{source}: secret-volume-path {overlay.secret_volume_path} is not ROOT_CA_DIR {overlay.root_ca_dir}: "
            "istiod would find no CA files and silently fall back to a self-signed CA",
            "both come from istiod.ca_dir in the config: re-render rather than editing one of them",
        )
    try:
        injection = agent.parse_injection(overlay)
    except OverlayError as error:
        raise RehearsalStepFailed(one_line(str(error)), "re-render the overlay from the config") from None
    if not injection.role:
        raise RehearsalStepFailed(
            f"{source}: no {overlay.injector.prefix}role (the injector refuses the pod)", "re-render"
        )
    by_destination = {template.destination: template for template in injection.templates}
    missing = [name for name in CA_FILES if f"{overlay.root_ca_dir}/{name}" not in by_destination]
    if missing:
        raise RehearsalStepFailed(
            f"{source}: no agent template writes {', '.join(missing)} into ROOT_CA_DIR {overlay.root_ca_dir}",
            "istiod needs all four CA files there; re-render the overlay from the config",
        )
    notes = [
        CheckResult("rehearsal.consistency.unsupported", Status.WARN, source, note) for note in injection.unsupported
    ]
    notes += _policy_coverage(tree, cluster, injection)
    return OverlayCheck(overlay.root_ca_dir, injection, tuple(notes))


def _policy_coverage(tree: Path, cluster: ClusterLayout, injection: agent.Injection) -> list[CheckResult]:
    """A template path the policy grants no read on fails the step at once: the agent would be refused it (403)
    for certain, and proving that by starting OpenBao, the scripts and the agent costs seconds and says less."""
    policy_file = cluster.policy
    try:
        granted = policy_read_paths((tree / policy_file).read_text(encoding="utf-8"))
    except OSError:
        raise RehearsalStepFailed(f"{policy_file} is missing", "render the tree again") from None
    notes = []
    for template in injection.templates:
        for path in template.secret_paths():
            if not any(policy_allows(pattern, path) for pattern in granted):
                notes.append(
                    CheckResult(
                        "rehearsal.consistency.policy",
                        Status.FAIL,
                        policy_file,
                        f"grants no read on {path}, which the {template.name} template reads",
                        f"the agent would be refused {path} (403): render policy.hcl again from the config, or "
                        "give back the read on that path if it was edited out",
                    )
                )
    if notes:
        first = notes[0]
        more = f" (and {len(notes) - 1} more path(s))" if len(notes) > 1 else ""
        raise RehearsalStepFailed(f"{first.target} {first.finding}{more}", first.hint, notes)
    return notes


def hand_edits(tree: Path, loaded: LoadedConfig) -> list[CheckResult]:
    """With --from, name the files that differ from a fresh render: the run then shows if they still work."""
    from ...generator.render.tree import render_tree
    from ...generator.render.writer import stale_files

    stale = [entry for entry in stale_files(render_tree(loaded.config), tree) if "(differs)" in entry]
    if not stale:
        return []
    names = ", ".join(entry.removesuffix(" (differs)") for entry in stale[:4])
    more = f" and {len(stale) - 4} more" if len(stale) > 4 else ""
    return [
        CheckResult(
            "rehearsal.consistency.hand-edits",
            Status.WARN,
            str(tree),
            f"differs from a render of {loaded.source}: {names}{more}",
        )
    ]
