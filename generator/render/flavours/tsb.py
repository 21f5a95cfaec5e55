"""TSB `ControlPlane`: one entry of `spec.components.istio.kubeSpec.overlays` patching the IstioOperator TSB
renders for istiod."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from istio_vault_ca.generator.render.flavours.common import ISTIO_CHART_UID, dig, env_list, hold, read_env_list

if TYPE_CHECKING:
    from istio_vault_ca.generator.config.plan import ClusterPlan
    from istio_vault_ca.generator.render.flavours import IstiodSettings

NAME = "tsb-controlplane"
FILE = "istiod/tsb-controlplane-overlay.yaml"
DOC = (
    "`istiod/tsb-controlplane-overlay.yaml`: merge into your TSB `ControlPlane` CR "
    "(`spec.components.istio.kubeSpec.overlays`); note the env patch sets istiod's whole `pilot.k8s.env` list"
)
ISTIOD_UID = ISTIO_CHART_UID
ISTIO_OPERATOR_API = "install.istio.io/v1alpha1"
ANNOTATIONS_PATCH = "spec.components.pilot.k8s.podAnnotations"
ENV_PATCH = "spec.components.pilot.k8s.env"


def build(plan: ClusterPlan) -> dict[str, Any]:
    """The `spec.components.istio.kubeSpec.overlays` fragment of a TSB ControlPlane: one entry, every patch."""
    patches: list[dict[str, Any]] = [
        {"path": ENV_PATCH, "value": env_list(plan)},
        {"path": ANNOTATIONS_PATCH, "value": plan.annotations()},
    ]
    if hold(plan):
        patches.append({"path": "spec.meshConfig.defaultConfig.holdApplicationUntilProxyStarts", "value": True})
    overlay = {
        "apiVersion": ISTIO_OPERATOR_API,
        "kind": "IstioOperator",
        "name": plan.config.istiod.operator_name,
        "patches": patches,
    }
    return {"spec": {"components": {"istio": {"kubeSpec": {"overlays": [overlay]}}}}}


def read(document: dict[str, Any]) -> IstiodSettings | None:
    overlays = dig(document, "spec", "components", "istio", "kubeSpec", "overlays")
    if not isinstance(overlays, list):
        return None
    annotations: dict[Any, Any] | None = None
    env: dict[str, str] = {}
    for overlay in overlays:
        for patch in (overlay or {}).get("patches") or []:
            if not isinstance(patch, dict):
                continue
            if patch.get("path") == ANNOTATIONS_PATCH and isinstance(patch.get("value"), dict):
                annotations = patch["value"]
            elif patch.get("path") == ENV_PATCH:
                env = read_env_list(patch.get("value"))
    return None if annotations is None else (annotations, env)
