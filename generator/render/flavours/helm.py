"""istiod Helm chart values (istio/istiod, the istio-discovery chart)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from istio_vault_ca.generator.render.flavours.common import ISTIO_CHART_UID, hold

if TYPE_CHECKING:
    from istio_vault_ca.generator.config.plan import ClusterPlan
    from istio_vault_ca.generator.render.flavours import IstiodSettings

NAME = "helm"
FILE = "istiod/istiod-helm-values.yaml"
DOC = (
    "`istiod/istiod-helm-values.yaml`: add it after your release's own values, `helm upgrade istiod "
    "istio/istiod -n <istio-namespace> -f <your-istiod-values.yaml> -f istiod/istiod-helm-values.yaml` (or "
    "`--reuse-values -f istiod/istiod-helm-values.yaml`); alone it would reset every other value to the chart's "
    "default (Istio 1.24+ value layout)"
)
ISTIOD_UID = ISTIO_CHART_UID


def build(plan: ClusterPlan) -> dict[str, Any]:
    """istio-discovery chart values (Istio 1.24+: `env` is a name->value map at the top level)."""
    values: dict[str, Any] = {"env": dict(plan.env), "podAnnotations": plan.annotations()}
    if hold(plan):
        values["meshConfig"] = {"defaultConfig": {"holdApplicationUntilProxyStarts": True}}
    return values


def read(document: dict[str, Any]) -> IstiodSettings | None:
    # Istio 1.24+ flat values; the legacy `pilot:` block still works there and is all that older charts read.
    for values in (document, document.get("pilot")):
        if isinstance(values, dict) and isinstance(values.get("podAnnotations"), dict):
            env = values.get("env")
            return values["podAnnotations"], ({str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {})
    return None
