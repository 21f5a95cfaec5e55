"""The rendered istiod overlays applied with Istio's and Helm's own code (tests/oracles/istio_overlay): ours are
added and the install's own pilot env entries and pod annotations are kept, for every installer shape.

The harness prints what the istio-discovery chart renders for istiod's Deployment (pod annotations, the discovery
container's env) after:
- tsb: our ControlPlane's `kubeSpec.overlays` patches applied with operator/pkg/tpath the way
  operator/pkg/render/postprocess.go applyPatches does, to a TSB-like IstioOperator that already holds pilot env
  entries (`k8s.env`, `values.pilot.env`) and pod annotations, then istioctl's render of that IstioOperator;
- istioctl: `istioctl install -f theirs.yaml -f istiod/istio-operator-overlay.yaml` (render.GenerateManifest);
- helm: `helm upgrade -f their-values.yaml -f istiod/istiod-helm-values.yaml` (helm v4 values.Options.MergeValues,
  then the chart).
Negative controls show the harness does see replacement: the whole-list / whole-map forms this tool rendered before
drop the install's entries.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from istio_vault_ca.generator.render.installers import tsb
from istio_vault_ca.generator.render.merge_into import merge_into
from tests.support import REPO, render_into

pytestmark = pytest.mark.e2e

CONFIG = REPO / "examples" / "kv-v2.yaml"  # renders all three istiod outputs

THEIR_IOP = {
    "apiVersion": "install.istio.io/v1alpha1",
    "kind": "IstioOperator",
    "metadata": {"name": "tsb-istiocontrolplane", "namespace": "istio-system"},
    "spec": {
        "profile": "default",
        "components": {
            "pilot": {
                "k8s": {
                    "env": [
                        {"name": "PILOT_SCOPE_GATEWAY_TO_NAMESPACE", "value": "true"},
                        {"name": "PILOT_ENABLE_WORKLOAD_ENTRY_AUTOREGISTRATION", "value": "true"},
                    ],
                    "podAnnotations": {"example.com/team": "mesh"},
                }
            }
        },
        "values": {"pilot": {"env": {"PILOT_PUSH_THROTTLE": "200"}}},
    },
}
THEIR_ENV = {"PILOT_SCOPE_GATEWAY_TO_NAMESPACE": "true", "PILOT_ENABLE_WORKLOAD_ENTRY_AUTOREGISTRATION": "true"}
THEIR_VALUES_ENV = {"PILOT_PUSH_THROTTLE": "200"}
THEIR_ANNOTATIONS = {"example.com/team": "mesh"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_into(CONFIG, tmp_path_factory.mktemp("render")) / "istiod"


def _write(path: Path, document: Any) -> Path:
    with path.open("w") as handle:
        YAML(typ="safe", pure=True).dump(document, handle)
    return path


def _load(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text())


def run(harness: Path, *args: Path | str) -> dict[str, Any]:
    proc = subprocess.run([str(harness), *map(str, args)], capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def deployment(result: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    env = {e["name"]: e.get("value") for e in result["deployment"]["env"]}
    return result["deployment"]["podAnnotations"] or {}, env


def ours(rendered: Path) -> tuple[dict[str, str], dict[str, str]]:
    annotations, env = tsb.read(_load(rendered / "tsb-controlplane-overlay.yaml")) or ({}, {})
    return dict(annotations), env


def assert_both(result: dict[str, Any], rendered: Path, their_env: dict[str, str]) -> None:
    annotations, env = deployment(result)
    our_annotations, our_env = ours(rendered)
    assert annotations.items() >= {**THEIR_ANNOTATIONS, **our_annotations}.items()
    assert env.items() >= {**their_env, **our_env}.items()
    names = [e["name"] for e in result["deployment"]["env"]]
    assert len(names) == len(set(names)), f"duplicate env entries: {names}"


# ---------------------------------------------------------------------- TSB ControlPlane overlay


def test_tsb_overlay_adds_ours_and_keeps_theirs(harness: Path, rendered: Path, tmp_path: Path) -> None:
    result = run(harness, "tsb", _write(tmp_path / "iop.yaml", THEIR_IOP), rendered / "tsb-controlplane-overlay.yaml")
    assert_both(result, rendered, {**THEIR_ENV, **THEIR_VALUES_ENV})
    pilot = result["iop"]["spec"]["components"]["pilot"]["k8s"]
    assert pilot["env"] == THEIR_IOP["spec"]["components"]["pilot"]["k8s"]["env"]  # type: ignore[index]


def test_tsb_overlay_adds_ours_when_the_iop_has_no_env_or_annotations(
    harness: Path, rendered: Path, tmp_path: Path
) -> None:
    bare = {**THEIR_IOP, "spec": {"profile": "default"}}
    result = run(harness, "tsb", _write(tmp_path / "iop.yaml", bare), rendered / "tsb-controlplane-overlay.yaml")
    annotations, env = deployment(result)
    our_annotations, our_env = ours(rendered)
    assert annotations.items() >= our_annotations.items()
    assert env.items() >= our_env.items()


def test_tsb_overlay_is_idempotent_when_theirs_already_names_root_ca_dir(
    harness: Path, rendered: Path, tmp_path: Path
) -> None:
    again = json.loads(json.dumps(THEIR_IOP))
    again["spec"]["values"]["pilot"]["env"]["ROOT_CA_DIR"] = "/etc/cacerts"
    result = run(harness, "tsb", _write(tmp_path / "iop.yaml", again), rendered / "tsb-controlplane-overlay.yaml")
    _, env = deployment(result)
    assert env["ROOT_CA_DIR"] == ours(rendered)[1]["ROOT_CA_DIR"]
    assert [e["name"] for e in result["deployment"]["env"]].count("ROOT_CA_DIR") == 1


def test_merged_controlplane_applies_their_patches_and_ours(harness: Path, rendered: Path, tmp_path: Path) -> None:
    """`render --merge-into` output, through Istio's code: their env[-1] patch and ours, in one entry."""
    controlplane = tmp_path / "cp.yaml"
    controlplane.write_text(
        "apiVersion: install.tetrate.io/v1alpha1\nkind: ControlPlane\nmetadata:\n  name: controlplane\nspec:\n"
        "  components:\n    istio:\n      kubeSpec:\n        overlays:\n"
        "          - apiVersion: install.istio.io/v1alpha1\n            kind: IstioOperator\n"
        "            name: tsb-istiocontrolplane\n            patches:\n"
        "              - path: spec.components.pilot.k8s.env[-1]\n"
        "                value: {name: PILOT_EXTRA_FROM_PATCH, value: 'yes'}\n"
    )
    from istio_vault_ca.generator.config.loader import load
    from istio_vault_ca.generator.config.plan import plan

    merge_into(plan(load(str(CONFIG)).config)[0], controlplane)
    result = run(harness, "tsb", _write(tmp_path / "iop.yaml", THEIR_IOP), controlplane)
    assert_both(result, rendered, {**THEIR_ENV, **THEIR_VALUES_ENV, "PILOT_EXTRA_FROM_PATCH": "yes"})


def test_control_the_whole_list_form_drops_their_env(harness: Path, rendered: Path, tmp_path: Path) -> None:
    """Negative control: the form this tool rendered before (whole env list, whole annotation map)."""
    our_annotations, our_env = ours(rendered)
    legacy = {
        "spec": {
            "components": {
                "istio": {
                    "kubeSpec": {
                        "overlays": [
                            {
                                "apiVersion": "install.istio.io/v1alpha1",
                                "kind": "IstioOperator",
                                "name": "tsb-istiocontrolplane",
                                "patches": [
                                    {
                                        "path": tsb.LEGACY_ENV_PATCH,
                                        "value": [{"name": k, "value": v} for k, v in our_env.items()],
                                    },
                                    {"path": tsb.LEGACY_ANNOTATIONS_PATCH, "value": our_annotations},
                                ],
                            }
                        ]
                    }
                }
            }
        }
    }
    result = run(harness, "tsb", _write(tmp_path / "iop.yaml", THEIR_IOP), _write(tmp_path / "cp.yaml", legacy))
    annotations, env = deployment(result)
    assert not (THEIR_ENV.keys() & env.keys())
    assert "example.com/team" not in annotations


def _append_patch_controlplane(path: Path) -> Path:
    entry = {
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "name": "tsb-istiocontrolplane",
        "patches": [{"path": "spec.components.pilot.k8s.env[-1]", "value": {"name": "ROOT_CA_DIR", "value": "/x"}}],
    }
    return _write(path, {"spec": {"components": {"istio": {"kubeSpec": {"overlays": [entry]}}}}})


def test_control_env_append_breaks_without_env_and_duplicates_with_it(harness: Path, tmp_path: Path) -> None:
    """Why not `k8s.env[-1]`: on an IstioOperator without `env` tpath creates it as a map (the IstioOperator is
    then refused), and on one that already names ROOT_CA_DIR it appends a second entry."""
    controlplane = _append_patch_controlplane(tmp_path / "cp.yaml")
    bare = _write(tmp_path / "bare.yaml", {**THEIR_IOP, "spec": {"profile": "default"}})
    proc = subprocess.run([str(harness), "tsb", str(bare), str(controlplane)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "cannot unmarshal object" in proc.stderr
    named = json.loads(json.dumps(THEIR_IOP))
    named["spec"]["components"]["pilot"]["k8s"]["env"] = [{"name": "ROOT_CA_DIR", "value": "/x"}]
    result = run(harness, "tsb", _write(tmp_path / "named.yaml", named), controlplane)
    assert [e["name"] for e in result["iop"]["spec"]["components"]["pilot"]["k8s"]["env"]] == ["ROOT_CA_DIR"] * 2


# ---------------------------------------------------------------------- istioctl install -f theirs -f ours


def test_istioctl_merge_adds_ours_and_keeps_theirs(harness: Path, rendered: Path, tmp_path: Path) -> None:
    theirs = _write(tmp_path / "theirs.yaml", THEIR_IOP)
    result = run(harness, "istioctl", theirs, rendered / "istio-operator-overlay.yaml")
    assert_both(result, rendered, {**THEIR_ENV, **THEIR_VALUES_ENV})


def test_control_istioctl_replaces_a_k8s_env_list_of_the_later_file(
    harness: Path, rendered: Path, tmp_path: Path
) -> None:
    """Negative control: a `k8s.env` list in the second file (the form this tool rendered before) replaces theirs."""
    overlay = _load(rendered / "istio-operator-overlay.yaml")
    env = overlay["spec"].pop("values")["pilot"]["env"]
    overlay["spec"]["components"]["pilot"]["k8s"]["env"] = [{"name": k, "value": v} for k, v in env.items()]
    theirs = _write(tmp_path / "theirs.yaml", THEIR_IOP)
    result = run(harness, "istioctl", theirs, _write(tmp_path / "ours.yaml", overlay))
    _, rendered_env = deployment(result)
    assert not (THEIR_ENV.keys() & rendered_env.keys())
    assert rendered_env["ROOT_CA_DIR"] == env["ROOT_CA_DIR"]


# ---------------------------------------------------------------------- helm upgrade -f theirs -f ours


def test_helm_values_add_ours_and_keep_theirs(harness: Path, rendered: Path, tmp_path: Path) -> None:
    their_values = {"env": dict(THEIR_ENV), "podAnnotations": dict(THEIR_ANNOTATIONS), "revision": ""}
    theirs = _write(tmp_path / "values.yaml", their_values)
    result = run(harness, "helm", theirs, rendered / "istiod-helm-values.yaml")
    assert_both(result, rendered, THEIR_ENV)


def test_values_rendered_for_1_23_also_reach_istiod_on_this_chart(harness: Path, tmp_path: Path) -> None:
    """istiod.istio_version 1.23 renders the `pilot:` block, all that 1.23 and older charts read
    (tests/istio_chart/chart-paths.txt); this chart (1.24+) copies `pilot:` to the top
    (templates/zzy_descope_legacy.yaml), so after an upgrade of istiod the same values still reach it."""
    data = _load(CONFIG)
    data["istiod"]["istio_version"] = "1.23"
    old = render_into(_write(tmp_path / "old.yaml", data), tmp_path / "old") / "istiod" / "istiod-helm-values.yaml"
    assert set(_load(old)) == {"pilot"}
    theirs = _write(tmp_path / "values.yaml", {"env": dict(THEIR_ENV), "revision": ""})
    annotations, env = deployment(run(harness, "helm", theirs, old))
    pilot = _load(old)["pilot"]
    assert env.items() >= {**THEIR_ENV, **pilot["env"]}.items()
    assert annotations.items() >= pilot["podAnnotations"].items()
