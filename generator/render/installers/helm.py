"""istiod Helm chart values (istio/istiod, the istio-discovery chart), in the layout of `istiod.istio_version`'s chart.

The layout changed in 1.24 (istio/istio manifests/charts/istio-control/istio-discovery, templates/deployment.yaml
at the tags): 1.24.0 on reads `.Values.env` and `.Values.podAnnotations`, and also takes a `pilot:` block
(templates/zzy_descope_legacy.yaml copies `.Values.pilot` to the top, istio/istio#52036); 1.23.0 and older read
only `.Values.pilot.env` and `.Values.pilot.podAnnotations`, so top-level values are silently ignored there
(istiod then self-signs). `meshConfig` is top-level in both.

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
    "default (the value layout of `istiod.istio_version`'s chart)"
)
# The first release whose chart reads env and podAnnotations at the top level.
FLAT_VALUES_FROM = (1, 24)
ISTIOD_UID = ISTIO_CHART_UID


def build(plan: ClusterPlan) -> dict[str, Any]:
    """istio-discovery chart values: `env` (a name->value map) and `podAnnotations` at the top level from 1.24,
    under `pilot:` before."""
    from ...config.model import istio_release

    pilot: dict[str, Any] = {"env": dict(plan.env), "podAnnotations": plan.annotations()}
    flat = istio_release(plan.config.istiod.istio_version) >= FLAT_VALUES_FROM
    values: dict[str, Any] = pilot if flat else {"pilot": pilot}
    if hold(plan):
        values["meshConfig"] = {"defaultConfig": {"holdApplicationUntilProxyStarts": True}}
    return values


def read(document: dict[str, Any]) -> IstiodSettings | None:
    # Istio 1.24+ flat values, else the `pilot:` block of 1.23 and older charts (see the module docstring).
    for values in (document, document.get("pilot")):
        if isinstance(values, dict) and isinstance(values.get("podAnnotations"), dict):
            env = values.get("env")
            return values["podAnnotations"], ({str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {})
    return None
