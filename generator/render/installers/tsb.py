"""TSB `ControlPlane`: one entry of `spec.components.istio.kubeSpec.overlays` patching the IstioOperator TSB
renders for istiod.

Patch forms: each patch ADDS one key and never replaces a list or a map.

TSB applies `kubeSpec.overlays` with Istio's operator path library (TSB's overlay reference names
`operator/pkg/tpath`). In istio/istio operator/pkg/render/postprocess.go (release 1.31) applyPatches reads the
object with gopkg.in/yaml.v2 into a `map[any]any` tree and, per patch, calls tpath.GetPathContext(path,
createMissing=true) then tpath.WritePathContext; tpath/tree.go setValueContext on a `map[any]any` parent does
`parentNode[key] = value`: the value replaces whatever the path held. So a patch of
`spec.components.pilot.k8s.env` with a one-entry list drops every env entry TSB's own IstioOperator carries (TSB's
shared-ingress how-to appends `PILOT_SCOPE_GATEWAY_TO_NAMESPACE` with `env[-1]`), and one of `podAnnotations`
with a map drops theirs. Hence:

- one patch per annotation, `spec.components.pilot.k8s.podAnnotations.vault\\.hashicorp\\.com/<key>`: dots escaped
  (operator/pkg/util/path.go PathFromString splits on unescaped `.` only); GetPathContext creates the missing maps,
  the write sets one key. The values pass tryToUnmarshalStringToYAML; `check_tpath_string` refuses one that would
  turn into a map.
- `ROOT_CA_DIR` as `spec.values.pilot.env.ROOT_CA_DIR`: a key of the `values.pilot.env` map, added whether or not
  anything is there and never duplicated (a second write sets the same key). `k8s.env[-1]` would append only when
  the list exists: on a `map[any]any` tree GetPathContext creates a missing `env` as a map, so `[-1]` becomes a map
  key (the IstioOperator then fails to unmarshal), and on a list that already names ROOT_CA_DIR it adds a
  duplicate (both shown with Istio's code in tests/fidelity/test_overlay_istio.py); `k8s.env.[name:ROOT_CA_DIR]` only
  matches an existing entry (getPathContext: "element not found"). `values.pilot.env` reaches istiod's container:
  Istio 1.24+ flattens `values.pilot` into the istio-discovery chart's top level (operator/pkg/render/manifest.go
  applyComponentValuesToHelmValues, FlattenValues) where templates/deployment.yaml ranges over `.Values.env`;
  earlier charts range over `.Values.pilot.env` in the same template (read there; only the 1.31 pin is executed by
  the tests). `k8s.env` entries (theirs) are applied after
  Helm as a strategic merge patch keyed by name (postprocess.go postProcess), so they are kept alongside ours.

Only one overlay entry per object applies (TSB's kube-customization page: the last wins), so our patches belong in
the user's existing `tsb-istiocontrolplane` entry: `render --merge-into` puts them there (`merge`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import (
    ISTIO_CHART_UID,
    VAULT_ANNOTATION_PREFIX,
    check_tpath_string,
    dig,
    hold,
    path_element,
    read_env_list,
    split_path,
)

if TYPE_CHECKING:
    from ...config.plan import ClusterPlan
    from . import IstiodSettings

NAME = "tsb-controlplane"
FILE = "istiod/tsb-controlplane-overlay.yaml"
DOC = (
    "`istiod/tsb-controlplane-overlay.yaml`: its patches belong in your TSB `ControlPlane` CR's existing "
    "`spec.components.istio.kubeSpec.overlays` entry for the IstioOperator (TSB applies only one entry per "
    "object, the last: a second entry would drop yours or ours). `istio-vault-ca render -c <config> --merge-into "
    "<your ControlPlane file>` puts them there; by hand, copy its `patches` into your entry. Each patch adds one "
    "annotation or env key and keeps those your install already sets"
)
ISTIOD_UID = ISTIO_CHART_UID
ISTIO_OPERATOR_API = "install.istio.io/v1alpha1"
ANNOTATIONS_PATH = ("spec", "components", "pilot", "k8s", "podAnnotations")
ENV_PATH = ("spec", "values", "pilot", "env")
HOLD_PATH = "spec.meshConfig.defaultConfig.holdApplicationUntilProxyStarts"
# The whole-list / whole-map forms earlier releases of this tool rendered: read back, and replaced by merge.
LEGACY_ENV_PATCH = "spec.components.pilot.k8s.env"
LEGACY_ANNOTATIONS_PATCH = "spec.components.pilot.k8s.podAnnotations"


def patch_path(prefix: tuple[str, ...], key: str) -> str:
    return ".".join([*prefix, path_element(key)])


def patches(plan: ClusterPlan) -> list[dict[str, Any]]:
    """Our patches, in order: env keys, annotation keys (sorted), then holdApplicationUntilProxyStarts."""
    result: list[dict[str, Any]] = [
        {"path": patch_path(ENV_PATH, name), "value": value} for name, value in sorted(plan.env.items())
    ]
    for key, value in plan.annotations().items():
        path = patch_path(ANNOTATIONS_PATH, key)
        check_tpath_string(path, value)
        result.append({"path": path, "value": value})
    if hold(plan):
        result.append({"path": HOLD_PATH, "value": True})
    return result


def build(plan: ClusterPlan) -> dict[str, Any]:
    """The `spec.components.istio.kubeSpec.overlays` fragment of a TSB ControlPlane: one entry, every patch."""
    overlay = {
        "apiVersion": ISTIO_OPERATOR_API,
        "kind": "IstioOperator",
        "name": plan.config.istiod.operator_name,
        "patches": patches(plan),
    }
    return {"spec": {"components": {"istio": {"kubeSpec": {"overlays": [overlay]}}}}}


def is_ours(patch: Any, env_names: set[str]) -> bool:
    """A patch this tool renders (now or in an earlier release): a vault-k8s annotation key, one of our env names
    under `values.pilot.env`, holdApplicationUntilProxyStarts, or the legacy whole-list / whole-map forms holding
    only our env names / only vault-k8s annotations."""
    if not isinstance(patch, dict) or not isinstance(patch.get("path"), str):
        return False
    path, value = patch["path"], patch.get("value")
    elements = split_path(path)
    if tuple(elements[:-1]) == ANNOTATIONS_PATH:
        return elements[-1].startswith(VAULT_ANNOTATION_PREFIX)
    if tuple(elements[:-1]) == ENV_PATH:
        return elements[-1] in env_names
    if path == HOLD_PATH:
        return True
    if path == LEGACY_ANNOTATIONS_PATCH and isinstance(value, dict) and value:
        return all(str(key).startswith(VAULT_ANNOTATION_PREFIX) for key in value)
    if path == LEGACY_ENV_PATCH and isinstance(value, list) and value:
        return set(read_env_list(value)) <= env_names and len(read_env_list(value)) == len(value)
    return False


def read(document: dict[str, Any]) -> IstiodSettings | None:
    overlays = dig(document, "spec", "components", "istio", "kubeSpec", "overlays")
    if not isinstance(overlays, list):
        return None
    annotations: dict[Any, Any] = {}
    found = False
    env: dict[str, str] = {}
    for overlay in overlays:
        for patch in (overlay or {}).get("patches") or []:
            if not isinstance(patch, dict) or not isinstance(patch.get("path"), str):
                continue
            path, value = patch["path"], patch.get("value")
            elements = split_path(path)
            if tuple(elements[:-1]) == ANNOTATIONS_PATH:
                annotations[elements[-1]] = value
                found = True
            elif tuple(elements[:-1]) == ENV_PATH:
                env[elements[-1]] = str(value)
            elif path == LEGACY_ANNOTATIONS_PATCH and isinstance(value, dict):
                annotations = dict(value)
                found = True
            elif path == LEGACY_ENV_PATCH:
                env.update(read_env_list(value))
    return (annotations, env) if found else None
