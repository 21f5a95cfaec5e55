"""The istiod workload as the config says: namespace, service account, Deployment, annotations, ROOT_CA_DIR.

The source document's worst failure is silent: istiod starts on a self-signed CA when the files are not where it
looks. These checks compare the Deployment with the render, so drift names its cause before a pod starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ....generator.config.cafiles import ISTIOD_DEFAULT_CA_DIR
from ....generator.config.injectors import ANNOTATION_PREFIXES, by_name
from ....generator.render.layout import step_script
from ..registry import Tier, check
from ..result import CheckResult, failed, passed, warned
from .state import (
    JSON,
    ClusterState,
    ClusterView,
    deployment_target,
    dig,
    discovery_container,
    env_value,
    norm,
    pod_template,
    short,
)

if TYPE_CHECKING:
    from ....generator.config.plan import ClusterPlan


@check("cluster.namespace-exists", tier=Tier.SETUP)
def namespace_exists(view: ClusterView) -> CheckResult:
    """istiod's namespace exists (the config's istiod.namespace)."""
    state = view.state
    target = f"namespace/{state.namespace}"
    if state.namespace_obj is None:
        return failed(
            "cluster.namespace-exists",
            target,
            f"namespace {state.namespace} does not exist in this cluster",
            "install istiod there, set istiod.namespace in the config, or pick the right --context",
        )
    return passed("cluster.namespace-exists", target, f"namespace {state.namespace} exists")


@check("cluster.service-account-exists", tier=Tier.SETUP, needs=("namespace_obj",))
def service_account_exists(view: ClusterView) -> CheckResult:
    """The service account the Vault role binds exists in istiod's namespace."""
    state, plan = view.state, view.plan
    name = plan.config.istiod.service_account
    target = f"serviceaccount/{state.namespace}/{name}"
    if state.service_account is not None:
        return passed("cluster.service-account-exists", target, f"service account {name} exists")
    actual = _deployment_service_account(state)
    hint = (
        f"istiod runs as {actual}: set istiod.service_account: {actual} and re-run "
        f"{step_script(plan, '05-kubernetes-auth.sh')}"
        if actual and actual != name
        else "the Vault role binds this name; the Istio charts name it `istiod` since 1.11 "
        "(`istiod-service-account` is the older name the source document uses)"
    )
    return failed(
        "cluster.service-account-exists",
        target,
        f"service account {name} (bound to Vault role {plan.cluster.role}) does not exist in {state.namespace}",
        hint,
    )


@check("cluster.deployment-exists", tier=Tier.SETUP, needs=("namespace_obj",))
def deployment_exists(view: ClusterView) -> CheckResult:
    """The istiod Deployment the overlays patch exists."""
    state, plan = view.state, view.plan
    target = deployment_target(plan)
    if state.deployment is None:
        return failed(
            "cluster.deployment-exists",
            target,
            f"no Deployment {plan.config.istiod.deployment} in {state.namespace}",
            "set istiod.deployment to the istiod Deployment's name (istiod-<revision> with revisions)",
        )
    return passed("cluster.deployment-exists", target, f"Deployment {plan.config.istiod.deployment} exists")


def _deployment_service_account(state: ClusterState) -> str | None:
    if state.deployment is None:
        return None
    spec = dig(pod_template(state), "spec") or {}
    return str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")


@check("cluster.deployment-service-account", tier=Tier.SETUP, needs=("namespace_obj", "deployment"))
def deployment_service_account(view: ClusterView) -> CheckResult:
    """istiod runs as the service account the Vault role binds, or its login is refused."""
    state, plan = view.state, view.plan
    expected = plan.config.istiod.service_account
    actual = _deployment_service_account(state)
    target = deployment_target(plan)
    if actual == expected:
        return passed("cluster.deployment-service-account", target, f"istiod runs as service account {expected}")
    return failed(
        "cluster.deployment-service-account",
        target,
        f"istiod runs as service account {actual}, but Vault role {plan.cluster.role} binds {expected}: "
        "the agent's login is refused (service account name not authorized)",
        f"set istiod.service_account: {actual} in the config and re-run {step_script(plan, '05-kubernetes-auth.sh')}, "
        f"or make the Deployment use {expected}",
    )


@check("cluster.annotations-match", tier=Tier.SETUP, needs=("namespace_obj", "deployment"))
def annotations_match(view: ClusterView) -> CheckResult:
    """Exactly the rendered injector annotations (vault.hashicorp.com/* or openbao.org/*, both read, so a
    wrong prefix shows as drift): a hand edit drifts from the config silently. During a
    root rotation the phase-(b) overlay's (root-cert.pem from the trust bundle) are accepted too."""
    state, plan = view.state, view.plan
    actual = {
        str(k): str(v)
        for k, v in (dig(pod_template(state), "metadata", "annotations") or {}).items()
        if str(k).startswith(ANNOTATION_PREFIXES)
    }
    target = deployment_target(plan)
    differences = [
        (candidate, _annotation_differences(candidate.annotations(), actual)) for candidate in view.accepted_plans()
    ]
    for candidate, (count, _) in differences:
        if not count:
            count = len(candidate.annotations())
            if view.rotation is None:
                which = f"the {count} rendered annotations"
            elif candidate.trust_bundle:
                which = f"the {count} annotations of the phase-(b) overlay ({view.rotation.words})"
            else:
                which = (
                    f"the {count} annotations the render wrote, before the phase-(b) overlay ({view.rotation.words})"
                )
            return passed("cluster.annotations-match", target, f"the pod template carries exactly {which}")
    candidate, (_, parts) = min(differences, key=lambda found: found[1][0])
    against = "the phase-(b) overlay" if candidate.trust_bundle else "the render"
    during = f" ({view.rotation.words}; neither the render's nor the phase-(b) overlay's)" if view.rotation else ""
    layout = chart_layout_hint(plan, pod_template(state)) if not actual else ""
    return failed(
        "cluster.annotations-match",
        target,
        f"pod template annotations differ from {against}{during}: " + "; ".join(parts),
        layout
        or "re-apply the rendered istiod overlay (out/istiod/, or rotation/root/b/<cluster>/ during a root rotation) "
        "instead of editing annotations by hand; change the config and re-render when a value must change",
    )


def chart_layout_hint(plan: ClusterPlan, template: JSON | None) -> str:
    """The real cause when istiod runs a 1.23-or-older image but the Helm values were rendered for 1.24+: those
    charts read only `pilot.env` / `pilot.podAnnotations` (generator/render/installers/helm.py), so our top-level
    values never reached the Deployment. "" when that is not the case (or the image tag names no release)."""
    from ....generator.config.model import istio_release
    from ....generator.render.installers.helm import FLAT_VALUES_FROM
    from ..chain.versions import parse_version

    if "helm" not in plan.outputs:
        return ""
    image = str(dig(discovery_container(dig(template, "spec")), "image") or "")
    tag = image.rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]
    try:
        running = parse_version(tag)
    except ValueError:
        return ""
    rendered = plan.config.istiod.istio_version
    if (running.major, running.minor) >= FLAT_VALUES_FROM or istio_release(rendered) < FLAT_VALUES_FROM:
        return ""
    return (
        f"istiod runs Istio {running}, whose chart reads only pilot.env and pilot.podAnnotations, but "
        f"istiod/istiod-helm-values.yaml was rendered for Istio {rendered} (top-level env and podAnnotations, "
        f"ignored there): set istiod.istio_version: '{running.major}.{running.minor}', re-render and re-apply it "
        "with helm upgrade"
    )


def _annotation_differences(rendered: Mapping[str, str], actual: Mapping[str, str]) -> tuple[int, list[str]]:
    """How many annotations differ, and the differences as the finding says them."""
    missing = sorted(rendered.keys() - actual.keys())
    extra = sorted(actual.keys() - rendered.keys())
    differing = sorted(k for k in rendered.keys() & actual.keys() if rendered[k] != actual[k])
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if extra:
        parts.append("extra " + ", ".join(f"{k}={short(actual[k])}" for k in extra))
    if differing:
        parts.append(
            "differing " + ", ".join(f"{k} is {short(actual[k])}, rendered {short(rendered[k])}" for k in differing)
        )
    return len(missing) + len(extra) + len(differing), parts


@check("cluster.root-ca-dir-matches-volume-path", tier=Tier.ISTIOD_REFUSES, needs=("namespace_obj", "deployment"))
def root_ca_dir_matches_volume_path(view: ClusterView) -> CheckResult:
    """ROOT_CA_DIR (where istiod looks) must be secret-volume-path (where the agent writes)."""
    state, plan = view.state, view.plan
    check_id = "cluster.root-ca-dir-matches-volume-path"
    target = deployment_target(plan)
    template = pod_template(state)
    annotations = dig(template, "metadata", "annotations") or {}
    injector = by_name(plan.config.vault.injector)
    volume_path = norm(str(annotations.get(injector.secret_volume_path) or injector.default_volume_path))
    present, root_ca_dir = env_value(discovery_container(dig(template, "spec")), "ROOT_CA_DIR")
    silent = "istiod finds no CA files there and silently falls back to a self-signed CA"
    fix = f"set both from the config's istiod.ca_dir ({plan.config.istiod.ca_dir}) by re-applying the rendered overlay"
    if not present:
        fix = chart_layout_hint(plan, template) or fix
        return failed(
            check_id,
            target,
            f"ROOT_CA_DIR is not set on the discovery container: istiod reads {ISTIOD_DEFAULT_CA_DIR} while the "
            f"agent writes to {volume_path}; {silent}",
            fix,
        )
    if root_ca_dir is None:
        return warned(
            check_id,
            target,
            "ROOT_CA_DIR comes from valueFrom, so its value cannot be compared here",
            f"make it the literal {volume_path}",
        )
    overridden = _per_file_volume_paths(annotations, volume_path, injector.secret_volume_path)
    if norm(root_ca_dir) != volume_path:
        return failed(
            check_id,
            target,
            f"istiod reads ROOT_CA_DIR={root_ca_dir} but the agent writes the files to secret-volume-path "
            f"{volume_path}; {silent}",
            fix,
        )
    if overridden:
        return failed(
            check_id,
            target,
            f"per-file secret-volume-path annotations move {', '.join(overridden)} out of {volume_path}; {silent}",
            f"remove the {injector.secret_volume_path}-<file> annotations",
        )
    if volume_path != norm(plan.config.istiod.ca_dir):
        return warned(
            check_id,
            target,
            f"ROOT_CA_DIR and secret-volume-path agree on {volume_path}, but the config says "
            f"{plan.config.istiod.ca_dir}",
            "update istiod.ca_dir in the config (and re-render) or re-apply the overlay",
        )
    return passed(check_id, target, f"ROOT_CA_DIR and secret-volume-path are both {volume_path}")


def _per_file_volume_paths(annotations: Mapping[str, Any], volume_path: str, annotation: str) -> list[str]:
    prefix = annotation + "-"
    return sorted(
        f"{key[len(prefix) :]} (to {value})"
        for key, value in annotations.items()
        if str(key).startswith(prefix) and norm(str(value)) != volume_path
    )
