"""The installers of istiod the config can name in `istiod.outputs`, and the uid istiod runs as under each.

The config validates `istiod.outputs` and the agent's uid against this table; generator/render/installers/ holds
one module per name (its overlay's `build` and `read`), looked up through `INSTALLER_MODULES`. The table lives
here, below the renderer, so that loading a config never imports the renderer.
"""

from __future__ import annotations

# istiod's uid in Istio's istio-discovery chart: `runAsUser: 1337` on the discovery container (istio/istio
# manifests/charts/istio-control/istio-discovery/templates/deployment.yaml, release 1.28); IstioOperator renders
# that chart, and TSB's ControlPlane installs istiod through the same operator and chart.
ISTIO_CHART_UID = 1337

# The name in `istiod.outputs` -> the module of generator/render/installers/.
INSTALLER_MODULES: dict[str, str] = {
    "tsb-controlplane": "tsb",
    "istio-operator": "istio_operator",
    "helm": "helm",
}

# The uid istiod runs as under each installer (the agent must write the key as that uid).
ISTIOD_UID: dict[str, int] = {name: ISTIO_CHART_UID for name in INSTALLER_MODULES}
