"""IstioOperator: `spec.components.pilot.k8s.podAnnotations` and `spec.values.pilot.env` for
`istioctl install -f <yours> -f <this>`.

Patch forms: maps only, so that istioctl's merge of several `-f` files adds our keys to yours.
istio/istio operator/pkg/render/manifest.go (release 1.31) MergeInputs merges each file into the previous ones with
operator/pkg/values/map.go `Map.MergeFrom`: a map merges key by key, anything else (a list included) is replaced
by the later file. A `k8s.env` list in this file would therefore drop every `k8s.env` entry of yours; a
`values.pilot.env` map adds ROOT_CA_DIR and keeps your keys, and reaches istiod's container through the
istio-discovery chart (applyComponentValuesToHelmValues flattens `values.pilot` into the chart's `.Values.env`,
templates/deployment.yaml; charts before 1.24 read `.Values.pilot.env` there). `k8s.podAnnotations` is a map:
merged the same way, then applied to the Deployment as a strategic merge patch (postprocess.go postProcess).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import ISTIO_CHART_UID, dig, hold, read_env_list, read_env_map

if TYPE_CHECKING:
    from ...config.plan import ClusterPlan
    from . import IstiodSettings

NAME = "istio-operator"
FILE = "istiod/istio-operator-overlay.yaml"
DOC = (
    "`istiod/istio-operator-overlay.yaml`: `istioctl install -f <your IstioOperator> "
    "-f istiod/istio-operator-overlay.yaml` (maps only: istioctl merges them into yours key by key), or "
    "`istio-vault-ca render --merge-into <your IstioOperator>` to write them into your file"
)
ISTIOD_UID = ISTIO_CHART_UID
ISTIO_OPERATOR_API = "install.istio.io/v1alpha1"


def build(plan: ClusterPlan) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "components": {"pilot": {"k8s": {"podAnnotations": plan.annotations()}}},
        "values": {"pilot": {"env": dict(sorted(plan.env.items()))}},
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
    # k8s.env (a strategic merge patch applied after Helm) wins over values.pilot.env for the same name.
    env = read_env_map(dig(document, "spec", "values", "pilot", "env"))
    env.update(read_env_list(k8s.get("env")))
    return k8s["podAnnotations"], env
