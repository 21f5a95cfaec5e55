"""istiod Helm chart values (istio/istiod, the istio-discovery chart).

Maps only (`env`, `podAnnotations`, `meshConfig`), so that the file adds to the user's values instead of replacing
them: the helm CLI merges `-f` files with helm.sh/helm/v4 pkg/cli/values/options.go `Options.MergeValues` ->
pkg/chart/v2/loader/load.go `MergeMaps` (helm v3: pkg/cli/values mergeMaps, the same rule): a map merges key by
key, anything else (a list included) is replaced by the later file. `env` is a name->value map in the chart
(templates/deployment.yaml ranges over `.Values.env`), so ROOT_CA_DIR is added to the user's env keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import ISTIO_CHART_UID, hold

if TYPE_CHECKING:
    from ...config.plan import ClusterPlan
    from . import IstiodSettings

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
