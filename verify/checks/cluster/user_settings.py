"""After `render --merge-into`: istiod carries our settings AND still carries the ones the user's CR declares.

Input: the user's CR as merged and applied (`verify cluster --merged-cr FILE`: a TSB ControlPlane or an
IstioOperator). The live Deployment cannot tell which of its env entries the user asked for (it is already the
result of every overlay), so the CR is the only honest reference: what it declares for istiod is compared with what
each istiod pod runs with. What TSB's own rendered IstioOperator adds on top (entries the CR does not name) cannot
be known from the CR; a patch in the CR that replaces a whole `env` list or `podAnnotations` map is named instead,
since that is the form that drops them (istio/istio operator/pkg/tpath/tree.go setValueContext, release 1.31:
a written list or map replaces what the path held).
"""

from __future__ import annotations

from typing import Any

from ....generator.render.installers import tsb
from ....generator.render.installers.common import VAULT_ANNOTATION_PREFIX, dig, split_path
from ..registry import Tier, check
from ..result import CheckResult, failed, passed, warned
from .state import JSON, MergedCr, PodView, containers_of, discovery_container, short

CHECK_ID = "cluster.istiod-keeps-user-settings"
K8S = ("spec", "components", "pilot", "k8s")


def _env_names(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {str(value["name"])} if "name" in value else {str(k) for k in value}
    if isinstance(value, list):
        return {str(i["name"]) for i in value if isinstance(i, dict) and "name" in i}
    return set()


def _from_controlplane(source: str, document: JSON, operator_name: str) -> MergedCr:
    overlays = dig(document, "spec", "components", "istio", "kubeSpec", "overlays") or []
    entries = [o for o in overlays if isinstance(o, dict) and o.get("kind") == "IstioOperator"]
    entries = [o for o in entries if o.get("name") == operator_name]
    env: set[str] = set()
    annotations: set[str] = set()
    clobbers: list[str] = []
    if len(entries) > 1:
        clobbers.append(
            f"{len(entries)} overlay entries for IstioOperator/{operator_name}: TSB applies only the last, the "
            "others' patches are dropped (render --merge-into folds them into one)"
        )
    for entry in entries[-1:]:
        for patch in entry.get("patches") or []:
            if not isinstance(patch, dict) or not isinstance(patch.get("path"), str):
                continue
            path, value = patch["path"], patch.get("value")
            elements = split_path(path)
            if path == tsb.LEGACY_ENV_PATCH:
                clobbers.append(f"patch {path} replaces the whole pilot env list (TSB's own entries included)")
                env |= _env_names(value)
            elif path == tsb.LEGACY_ANNOTATIONS_PATCH:
                clobbers.append(f"patch {path} replaces the whole podAnnotations map")
                annotations |= {str(k) for k in value} if isinstance(value, dict) else set()
            elif tuple(elements[: len(K8S) + 1]) == (*K8S, "env"):
                env |= _env_names(value)
                selector = elements[len(K8S) + 1] if len(elements) > len(K8S) + 1 else ""
                if selector.startswith("[name:") and selector.endswith("]"):
                    env.add(selector[len("[name:") : -1])
            elif tuple(elements[:-1]) == tsb.ENV_PATH:
                env.add(elements[-1])
            elif tuple(elements[:-1]) == tsb.ENV_PATH[:-1] and elements[-1] == "env":
                env |= _env_names(value)
            elif tuple(elements[:-1]) == tsb.ANNOTATIONS_PATH:
                annotations.add(elements[-1])
    return MergedCr(source, "ControlPlane", frozenset(env), frozenset(annotations), tuple(clobbers))


def _from_istio_operator(source: str, document: JSON) -> MergedCr:
    env = _env_names(dig(document, *K8S, "env")) | _env_names(dig(document, "spec", "values", "pilot", "env"))
    annotations = {str(k) for k in dig(document, *K8S, "podAnnotations") or {}}
    annotations |= {str(k) for k in dig(document, "spec", "values", "pilot", "podAnnotations") or {}}
    return MergedCr(source, "IstioOperator", frozenset(env), frozenset(annotations))


def read_merged_cr(source: str, document: Any, operator_name: str) -> MergedCr | None:
    """The declarations of a parsed ControlPlane / IstioOperator document; None for any other document."""
    if not isinstance(document, dict):
        return None
    if document.get("kind") == "ControlPlane":
        return _from_controlplane(source, document, operator_name)
    if document.get("kind") == "IstioOperator":
        return _from_istio_operator(source, document)
    return None


def _pod_env(pod: JSON) -> dict[str, str | None]:
    container = discovery_container(dig(pod, "spec"))
    items = containers_of({"env": dig(container, "env") or []}, "env")
    return {str(i.get("name")): (None if "valueFrom" in i else str(i.get("value", ""))) for i in items}


@check(CHECK_ID, tier=Tier.SETUP, needs=("pod", "merged_cr"), when="merged_cr")
def istiod_keeps_user_settings(view: PodView) -> CheckResult:
    """With --merged-cr: the pod has our annotations and ROOT_CA_DIR and every env entry and annotation the user's CR
    declares (a warning names the ones missing and any CR patch that replaces a whole list or map)."""
    merged: MergedCr = view.merged_cr  # type: ignore[assignment]
    pod, plan = view.pod, view.plan
    env = _pod_env(pod.obj)
    pod_annotations = {str(k): str(v) for k, v in (dig(pod.obj, "metadata", "annotations") or {}).items()}
    # During a root rotation the phase-(b) overlay's settings (ISTIO_MULTIROOT_MESH, the bundle's template) count too.
    candidates = []
    for candidate in view.accepted_plans():
        lacking = [f"env {k}={v}" for k, v in sorted(candidate.env.items()) if env.get(k) != v]
        lacking += [f"annotation {k}" for k, v in candidate.annotations().items() if pod_annotations.get(k) != v]
        candidates.append((len(lacking), candidate, lacking))
    _, plan, ours_missing = min(candidates, key=lambda found: found[0])
    if ours_missing:
        return failed(
            CHECK_ID,
            pod.target,
            f"the pod lacks (or has another value for) {len(ours_missing)} of our settings: "
            + ", ".join(short(m, 90) for m in ours_missing[:6])
            + (" …" if len(ours_missing) > 6 else ""),
            f"apply {merged.source} (after `istio-vault-ca render --merge-into {merged.source}`), then restart istiod",
        )
    theirs_env = sorted(merged.env - set(plan.env) - set(env))
    theirs_annotations = sorted(
        k for k in merged.annotations if not k.startswith(VAULT_ANNOTATION_PREFIX) and k not in pod_annotations
    )
    missing = [f"env {n}" for n in theirs_env] + [f"annotation {k}" for k in theirs_annotations]
    why = f"; {merged.source}: " + "; ".join(merged.clobbers) if merged.clobbers else ""
    if missing:
        return warned(
            CHECK_ID,
            pod.target,
            f"{merged.kind} {merged.source} declares {', '.join(missing)}, which the pod does not have{why}",
            f"`istio-vault-ca render --merge-into {merged.source}` replaces whole-list patches and duplicate "
            "overlay entries with per-key ones; re-apply it and restart istiod",
        )
    if merged.clobbers:
        return warned(
            CHECK_ID,
            pod.target,
            f"the pod has our settings and the CR's, but {merged.source} would remove others: "
            + "; ".join(merged.clobbers),
            f"run `istio-vault-ca render --merge-into {merged.source}` to turn them into per-key patches",
        )
    return passed(
        CHECK_ID,
        pod.target,
        f"our {len(plan.env)} env and {len(plan.annotations())} annotations are there, and so are the "
        f"{len(merged.env - set(plan.env))} env entries and "
        f"{len([k for k in merged.annotations if not k.startswith(VAULT_ANNOTATION_PREFIX)])} annotations "
        f"{merged.source} declares",
    )
