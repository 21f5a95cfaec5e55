"""What the flavour modules share: istiod's env as the list form Kubernetes uses, and reading values back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from istio_vault_ca.generator.config.plan import ClusterPlan

# istiod's uid in Istio's istio-discovery chart: `runAsUser: 1337` on the discovery container (istio/istio
# manifests/charts/istio-control/istio-discovery/templates/deployment.yaml, release 1.28); IstioOperator renders
# that chart, and TSB's ControlPlane installs istiod through the same operator and chart.
ISTIO_CHART_UID = 1337


def hold(plan: ClusterPlan) -> bool:
    return plan.config.istiod.hold_application_until_proxy_starts


def env_list(plan: ClusterPlan) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in sorted(plan.env.items())]


def read_env_list(items: Any) -> dict[str, str]:
    if not isinstance(items, list):
        return {}
    return {str(i["name"]): str(i.get("value", "")) for i in items if isinstance(i, dict) and "name" in i}


def dig(document: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document
