"""Overlays that add and never replace: the patch forms, `render --merge-into` and cluster.istiod-keeps-user-settings.

What Istio's own code does with these forms is proven in tests/fidelity/test_overlay_istio.py (Go tier); here the
render's shape, the merge's round trip (comments, order, idempotence) and the check's verdicts on API-shaped dicts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from istio_vault_ca.generator.config.plan import ClusterPlan
from istio_vault_ca.generator.errors import MergeIntoError, OverlayError
from istio_vault_ca.generator.render.installers import istio_operator, tsb
from istio_vault_ca.generator.render.installers.common import check_tpath_string, split_path
from istio_vault_ca.generator.render.merge_into import merge_into
from istio_vault_ca.verify.checks.cluster import ClusterState, PodState, PodView, VaultRoot
from istio_vault_ca.verify.checks.cluster.user_settings import istiod_keeps_user_settings, read_merged_cr
from istio_vault_ca.verify.checks.result import Status
from istio_vault_ca.verify.cli.parser import main
from tests.support import REPO

STARTER = REPO / "generator" / "config" / "starter.yaml"


def _safe(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


# ---------------------------------------------------------------------- patch forms


def test_no_tsb_patch_sets_a_whole_list_or_map(cluster_plan: ClusterPlan) -> None:
    patches = tsb.build(cluster_plan)["spec"]["components"]["istio"]["kubeSpec"]["overlays"][0]["patches"]
    assert all(not isinstance(p["value"], (list, dict)) for p in patches)
    paths = [p["path"] for p in patches]
    assert "spec.values.pilot.env.ROOT_CA_DIR" in paths
    assert r"spec.components.pilot.k8s.podAnnotations.vault\.hashicorp\.com/agent-inject" in paths
    assert len(paths) == len(set(paths)) == len(cluster_plan.env) + len(cluster_plan.annotations())


def test_istio_operator_output_holds_maps_only(cluster_plan: ClusterPlan) -> None:
    spec = istio_operator.build(cluster_plan)["spec"]
    assert "env" not in spec["components"]["pilot"]["k8s"]
    assert spec["values"]["pilot"]["env"] == cluster_plan.env


@pytest.mark.parametrize("installer", [tsb, istio_operator])
def test_read_gives_back_what_build_wrote(installer: Any, cluster_plan: ClusterPlan) -> None:
    assert installer.read(installer.build(cluster_plan)) == (cluster_plan.annotations(), cluster_plan.env)


def test_split_path_is_istios_split() -> None:
    assert split_path(r"a.b\.c/d.env[-1]") == ["a", "b.c/d", "env", "[-1]"]


def test_a_value_tpath_would_turn_into_a_map_is_refused() -> None:
    check_tpath_string("p", '{{- with secret "a/b" -}}\n{{ .Data.certificate }}\n{{- end }}\n')
    check_tpath_string("p", "https://vault:8200")
    with pytest.raises(OverlayError, match="YAML mapping"):
        check_tpath_string("p", "role: admin")


# ---------------------------------------------------------------------- render --merge-into

CONTROLPLANE = """\
# production control plane
apiVersion: install.tetrate.io/v1alpha1
kind: ControlPlane
metadata:
  name: controlplane
  namespace: istio-system
spec:
  hub: registry.example/tsb   # mirrored images
  components:
    istio:
      kubeSpec:
        overlays:
          # scope gateways to their namespace
          - apiVersion: install.istio.io/v1alpha1
            kind: IstioOperator
            name: tsb-istiocontrolplane
            patches:
              - path: spec.components.pilot.k8s.env[-1]
                value:
                  name: PILOT_SCOPE_GATEWAY_TO_NAMESPACE
                  value: "true"   # theirs
              - path: spec.components.pilot.k8s.podAnnotations.example\\.com/team
                value: mesh
          - apiVersion: apps/v1
            kind: Deployment
            name: istiod
            patches: []
"""


def _entries(document: Any) -> list[Any]:
    return [
        o
        for o in document["spec"]["components"]["istio"]["kubeSpec"]["overlays"]
        if o["kind"] == "IstioOperator" and o["name"] == "tsb-istiocontrolplane"
    ]


def test_merge_into_controlplane_keeps_their_entry_and_comments_and_is_idempotent(
    tmp_path: Path, cluster_plan: ClusterPlan
) -> None:
    target = tmp_path / "cp.yaml"
    target.write_text(CONTROLPLANE)
    first = merge_into(cluster_plan, target)
    assert first.written
    assert len(first.changes) == len(cluster_plan.env) + len(cluster_plan.annotations())
    text = target.read_text()
    for comment in ("# production control plane", "# mirrored images", "# scope gateways", "# theirs"):
        assert comment in text
    assert text.startswith(CONTROLPLANE.split("          - apiVersion: apps/v1")[0].rsplit("\n", 1)[0])
    document = _safe(text)
    (entry,) = _entries(document)
    paths = [p["path"] for p in entry["patches"]]
    assert paths[:2] == [
        "spec.components.pilot.k8s.env[-1]",
        r"spec.components.pilot.k8s.podAnnotations.example\.com/team",
    ]
    ours = tsb.patches(cluster_plan)
    assert entry["patches"][2:] == ours
    assert document["spec"]["components"]["istio"]["kubeSpec"]["overlays"][-1]["kind"] == "Deployment"
    second = merge_into(cluster_plan, target)
    assert (second.changes, second.written) == ([], False)
    assert target.read_text() == text


def test_merge_into_replaces_our_legacy_patches_and_folds_a_second_entry(
    tmp_path: Path, cluster_plan: ClusterPlan
) -> None:
    legacy = {
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "name": "tsb-istiocontrolplane",
        "patches": [
            {"path": tsb.LEGACY_ENV_PATCH, "value": [{"name": "ROOT_CA_DIR", "value": "/old"}]},
            {"path": tsb.LEGACY_ANNOTATIONS_PATCH, "value": {"vault.hashicorp.com/agent-inject": "true"}},
        ],
    }
    yaml = YAML()
    document = yaml.load(CONTROLPLANE)
    document["spec"]["components"]["istio"]["kubeSpec"]["overlays"].append(legacy)
    target = tmp_path / "cp.yaml"
    with target.open("w") as handle:
        yaml.dump(document, handle)
    result = merge_into(cluster_plan, target)
    assert any(c.startswith("folded overlay entry #3") for c in result.changes)
    assert f"removed patch {tsb.LEGACY_ENV_PATCH} (ours, no longer rendered)" in result.changes
    (entry,) = _entries(_safe(target.read_text()))
    assert entry["patches"][0]["path"] == "spec.components.pilot.k8s.env[-1]"
    assert entry["patches"][2:] == tsb.patches(cluster_plan)
    assert merge_into(cluster_plan, target).changes == []


ISTIO_OPERATOR = """\
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  profile: default
  components:
    pilot:
      k8s:
        # ours from an earlier hand merge, and theirs
        env:
          - name: PILOT_TRACE_SAMPLING
            value: "5"
          - name: ROOT_CA_DIR
            value: /etc/cacerts
        podAnnotations:
          example.com/team: mesh
          vault.hashicorp.com/agent-cache-enable: "true"
"""


def test_merge_into_istio_operator(tmp_path: Path, cluster_plan: ClusterPlan) -> None:
    target = tmp_path / "iop.yaml"
    target.write_text(ISTIO_OPERATOR)
    result = merge_into(cluster_plan, target)
    assert "removed spec.components.pilot.k8s.podAnnotations.vault.hashicorp.com/agent-cache-enable" in (
        " ".join(result.changes)
    )
    text = target.read_text()
    assert "# ours from an earlier hand merge, and theirs" in text
    spec = _safe(text)["spec"]
    k8s = spec["components"]["pilot"]["k8s"]
    assert k8s["env"] == [{"name": "PILOT_TRACE_SAMPLING", "value": "5"}]
    assert k8s["podAnnotations"] == {"example.com/team": "mesh", **cluster_plan.annotations()}
    assert spec["values"]["pilot"]["env"] == cluster_plan.env
    assert merge_into(cluster_plan, target).changes == []


def test_merge_into_refuses_a_file_without_one_cr(tmp_path: Path, cluster_plan: ClusterPlan) -> None:
    target = tmp_path / "x.yaml"
    target.write_text("kind: ConfigMap\n")
    with pytest.raises(MergeIntoError, match="holds 0"):
        merge_into(cluster_plan, target)


def test_render_merge_into_cli_prints_what_changed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "cp.yaml"
    target.write_text(CONTROLPLANE)
    assert main(["render", "-c", str(STARTER), "--merge-into", str(target)]) == 0
    out = capsys.readouterr().out
    assert "merged cluster" in out
    assert "added patch spec.values.pilot.env.ROOT_CA_DIR" in out
    assert main(["render", "-c", str(STARTER), "--merge-into", str(target)]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------- cluster.istiod-keeps-user-settings


def _pod(cluster_plan: ClusterPlan, env: dict[str, str], annotations: dict[str, str]) -> PodState:
    return PodState(
        {
            "metadata": {"name": "istiod-1", "namespace": "istio-system", "annotations": annotations},
            "spec": {"containers": [{"name": "discovery", "env": [{"name": k, "value": v} for k, v in env.items()]}]},
        }
    )


def _verdict(cluster_plan: ClusterPlan, cr_text: str, pod: PodState) -> Any:
    merged = read_merged_cr("cp.yaml", _safe(cr_text), "tsb-istiocontrolplane")
    state = ClusterState("istio-system", {}, None, None, merged_cr=merged)
    view = PodView(state, cluster_plan, VaultRoot(None, "", ""), pod=pod)
    return istiod_keeps_user_settings(view)


def _merged_controlplane(tmp_path: Path, cluster_plan: ClusterPlan) -> str:
    target = tmp_path / "cp.yaml"
    target.write_text(CONTROLPLANE)
    merge_into(cluster_plan, target)
    return target.read_text()


def test_check_passes_when_ours_and_theirs_are_on_the_pod(tmp_path: Path, cluster_plan: ClusterPlan) -> None:
    cr = _merged_controlplane(tmp_path, cluster_plan)
    env = {"PILOT_SCOPE_GATEWAY_TO_NAMESPACE": "true", **cluster_plan.env}
    pod = _pod(cluster_plan, env, {"example.com/team": "mesh", **cluster_plan.annotations()})
    result = _verdict(cluster_plan, cr, pod)
    assert result.status is Status.PASS, result.finding


def test_check_warns_naming_their_missing_env(tmp_path: Path, cluster_plan: ClusterPlan) -> None:
    cr = _merged_controlplane(tmp_path, cluster_plan)
    pod = _pod(cluster_plan, dict(cluster_plan.env), {"example.com/team": "mesh", **cluster_plan.annotations()})
    result = _verdict(cluster_plan, cr, pod)
    assert result.status is Status.WARN
    assert "env PILOT_SCOPE_GATEWAY_TO_NAMESPACE" in result.finding


def test_check_fails_when_ours_are_missing(tmp_path: Path, cluster_plan: ClusterPlan) -> None:
    cr = _merged_controlplane(tmp_path, cluster_plan)
    pod = _pod(cluster_plan, {"PILOT_SCOPE_GATEWAY_TO_NAMESPACE": "true"}, {"example.com/team": "mesh"})
    result = _verdict(cluster_plan, cr, pod)
    assert result.status is Status.FAIL
    assert "ROOT_CA_DIR" in result.finding


def test_check_names_a_whole_list_patch_even_when_nothing_is_missing_yet(cluster_plan: ClusterPlan) -> None:
    cr = CONTROLPLANE.replace(
        "            patches:\n",
        "            patches:\n              - path: spec.components.pilot.k8s.env\n"
        "                value: [{name: ROOT_CA_DIR, value: /vault/secrets}]\n",
        1,
    )
    env = {"PILOT_SCOPE_GATEWAY_TO_NAMESPACE": "true", **cluster_plan.env}
    pod = _pod(cluster_plan, env, {"example.com/team": "mesh", **cluster_plan.annotations()})
    result = _verdict(cluster_plan, cr, pod)
    assert result.status is Status.WARN
    assert "replaces the whole pilot env list" in result.finding
