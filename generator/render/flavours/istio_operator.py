"""IstioOperator: `spec.components.pilot.k8s` for `istioctl install -f <yours> -f <this>`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from istio_vault_ca.generator.render.flavours.common import ISTIO_CHART_UID, dig, env_list, hold, read_env_list

if TYPE_CHECKING:
    from istio_vault_ca.generator.config.plan import ClusterPlan
    from istio_vault_ca.generator.render.flavours import IstiodSettings

NAME = "istio-operator"
FILE = "istiod/istio-operator-overlay.yaml"
DOC = (
    "`istiod/istio-operator-overlay.yaml`: `istioctl install -f <your IstioOperator> "
    "-f istiod/istio-operator-overlay.yaml`"
)
ISTIOD_UID = ISTIO_CHART_UID
ISTIO_OPERATOR_API = "install.istio.io/v1alpha1"


def build(plan: ClusterPlan) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "components": {"pilot": {"k8s": {"env": env_list(plan), "podAnnotations": plan.annotations()}}}
    }
    if hold(plan):
        spec["meshConfig"] = {"defaultConfig": {"holdApplicationUntilProxyStarts": True}}
    return {
        "apiVersion": ISTIO_OPERATOR_API,
        "kind": "IstioOperator",
        "metadata": {"name": "istiod-vault-ca", "namespace": plan.config.istiod.namespace},
        "spec": spec,
    }


def read(document: dict[str, Any]) -> IstiodSettings | None:
    k8s = dig(document, "spec", "components", "pilot", "k8s")
    if document.get("kind") != "IstioOperator" or not isinstance(dig(k8s, "podAnnotations"), dict):
        return None
    return k8s["podAnnotations"], read_env_list(k8s.get("env"))
