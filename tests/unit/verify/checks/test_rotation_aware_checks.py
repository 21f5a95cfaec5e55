"""The cluster checks that compare roots and annotations, during a root rotation: pure checks over a state and the
rotation as verify/rotation/root.py reads it from Vault (the trust bundle's roots and `next_phase`)."""

from __future__ import annotations

import datetime as dt

import pytest

from istio_vault_ca.generator.config.plan import MULTIROOT_ENV, ClusterPlan
from istio_vault_ca.generator.pki.factory import self_signed_ca
from istio_vault_ca.generator.render.root_rotation import bundle_plan
from istio_vault_ca.verify.checks.cluster import (
    ClusterState,
    ClusterView,
    ConfigMapView,
    PodState,
    PodView,
    RootConfigMap,
    VaultRoot,
    annotations_match,
    root_configmap_matches_vault,
)
from istio_vault_ca.verify.checks.cluster.state import MergedCr
from istio_vault_ca.verify.checks.cluster.user_settings import istiod_keeps_user_settings
from istio_vault_ca.verify.checks.result import CheckResult, Status
from istio_vault_ca.verify.checks.rotation_seen import PHASE_WORDS, RotationSeen

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
OLD = self_signed_ca("old root", now=NOW - dt.timedelta(days=10)).pem
NEW = self_signed_ca("new root", now=NOW - dt.timedelta(days=1)).pem
STRAY = self_signed_ca("istiod self-signed", now=NOW).pem
SOURCE = "kv/data/istio-trust-bundle"


def rotation(phase: str | None, *roots: bytes) -> RotationSeen:
    return RotationSeen(b"".join(roots), SOURCE, phase, "" if phase else "permission denied on pki/config/issuers")


def configmap_check(
    cluster_plan: ClusterPlan, held: bytes, seen: RotationSeen | None, vault_root: bytes | None = OLD
) -> CheckResult:
    state = ClusterState("istio-system", {"metadata": {"name": "istio-system"}}, None, None)
    config_map = RootConfigMap("apps", {"data": {"root-cert.pem": held.decode()}}, "sampled workload namespace")
    root = VaultRoot(vault_root, "pki/cert/ca", "" if vault_root else "not read")
    return root_configmap_matches_vault(ConfigMapView(state, cluster_plan, root, rotation=seen, config_map=config_map))


# ---------------------------------------------------------------------- istio-ca-root-cert


def test_outside_a_rotation_the_configmap_is_compared_with_vaults_root(cluster_plan: ClusterPlan) -> None:
    assert configmap_check(cluster_plan, OLD, None).status is Status.PASS
    result = configmap_check(cluster_plan, STRAY, None)
    assert result.status is Status.FAIL and "not Vault's root" in result.finding
    assert configmap_check(cluster_plan, OLD, None, vault_root=None).status is Status.SKIP


@pytest.mark.parametrize("phase", ["b", "c", "d"])
def test_the_bundle_in_the_configmap_passes_naming_the_phase(cluster_plan: ClusterPlan, phase: str) -> None:
    result = configmap_check(cluster_plan, OLD + NEW, rotation(phase, OLD, NEW))
    assert result.status is Status.PASS, result.finding
    assert result.finding == (f"holds exactly the 2 root(s) of the trust bundle at {SOURCE} ({PHASE_WORDS[phase]})")
    assert f"phase ({phase})" in result.finding


def test_the_bundle_passes_without_vaults_root_too(cluster_plan: ClusterPlan) -> None:
    """During a rotation the expected roots are the bundle's: the root mount's cert/ca is not needed."""
    assert configmap_check(cluster_plan, OLD + NEW, rotation("c", OLD, NEW), vault_root=None).status is Status.PASS


def test_the_old_root_alone_is_a_warning_while_the_bundle_is_delivered(cluster_plan: ClusterPlan) -> None:
    result = configmap_check(cluster_plan, OLD, rotation("b", OLD, NEW))
    assert result.status is Status.WARN
    assert "1 of the 2 root(s) of the trust bundle" in result.finding and "lacks CN=new root" in result.finding
    assert "phase (b)" in result.finding and "--confirm-bundle-from-cluster apps" in result.hint


@pytest.mark.parametrize("phase", ["c", "d"])
def test_the_old_root_alone_fails_once_intermediates_move_to_the_new_root(
    cluster_plan: ClusterPlan, phase: str
) -> None:
    result = configmap_check(cluster_plan, OLD, rotation(phase, OLD, NEW))
    assert result.status is Status.FAIL
    assert "mTLS outage" in result.finding and f"phase ({phase})" in result.finding


def test_after_phase_d_the_new_root_alone_passes_and_the_old_one_left_warns(cluster_plan: ClusterPlan) -> None:
    assert configmap_check(cluster_plan, NEW, rotation("done", NEW), vault_root=NEW).status is Status.PASS
    result = configmap_check(cluster_plan, OLD + NEW, rotation("done", NEW), vault_root=NEW)
    assert result.status is Status.WARN
    assert "CN=old root" in result.finding and "root rotation done" in result.finding
    result = configmap_check(cluster_plan, OLD, rotation("done", NEW), vault_root=NEW)
    assert result.status is Status.FAIL and "which the bundle does not hold" in result.finding


def test_a_root_the_bundle_does_not_hold_fails_in_every_phase(cluster_plan: ClusterPlan) -> None:
    for phase in ("b", "c", "d"):
        result = configmap_check(cluster_plan, OLD + NEW + STRAY, rotation(phase, OLD, NEW))
        assert result.status is Status.FAIL, phase
        assert "CN=istiod self-signed" in result.finding and "which the bundle does not hold" in result.finding


def test_an_unknown_phase_is_said_with_the_reason(cluster_plan: ClusterPlan) -> None:
    result = configmap_check(cluster_plan, OLD + NEW, rotation(None, OLD, NEW))
    assert result.status is Status.PASS
    assert "its phase unknown: permission denied on pki/config/issuers" in result.finding


# ---------------------------------------------------------------------- annotations


def deployment(annotations: dict[str, str], env: dict[str, str] | None = None) -> dict[str, object]:
    container = {"name": "discovery", "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}
    return {"spec": {"template": {"metadata": {"annotations": annotations}, "spec": {"containers": [container]}}}}


def annotations_check(cluster_plan: ClusterPlan, annotations: dict[str, str], seen: RotationSeen | None) -> CheckResult:
    state = ClusterState("istio-system", {}, None, deployment(annotations))
    return annotations_match(ClusterView(state, cluster_plan, VaultRoot(OLD, "pki/cert/ca"), rotation=seen))


def test_the_phase_b_overlay_differs_from_the_render_outside_a_rotation(cluster_plan: ClusterPlan) -> None:
    rendered = cluster_plan.annotations()
    assert annotations_check(cluster_plan, rendered, None).finding == (
        f"the pod template carries exactly the {len(rendered)} rendered annotations"
    )
    result = annotations_check(cluster_plan, bundle_plan(cluster_plan).annotations(), None)
    assert result.status is Status.FAIL
    assert result.finding.startswith("pod template annotations differ from the render: differing ")
    assert "agent-inject-secret-root-cert.pem" in result.finding


@pytest.mark.parametrize("phase", ["b", "c", "d", "done"])
def test_the_phase_b_overlay_is_accepted_during_a_rotation(cluster_plan: ClusterPlan, phase: str) -> None:
    after = bundle_plan(cluster_plan).annotations()
    result = annotations_check(cluster_plan, after, rotation(phase, OLD, NEW))
    assert result.status is Status.PASS
    assert result.finding == (
        f"the pod template carries exactly the {len(after)} annotations of the phase-(b) overlay ({PHASE_WORDS[phase]})"
    )


def test_the_render_is_still_accepted_before_the_overlay_is_applied(cluster_plan: ClusterPlan) -> None:
    result = annotations_check(cluster_plan, cluster_plan.annotations(), rotation("b", OLD, NEW))
    assert result.status is Status.PASS
    assert "before the phase-(b) overlay (root rotation in phase (b)" in result.finding


def test_a_hand_edit_fails_during_a_rotation_against_the_nearest_form(cluster_plan: ClusterPlan) -> None:
    edited = dict(bundle_plan(cluster_plan).annotations())
    edited["vault.hashicorp.com/role"] = "someone-else"
    result = annotations_check(cluster_plan, edited, rotation("c", OLD, NEW))
    assert result.status is Status.FAIL
    assert result.finding.startswith("pod template annotations differ from the phase-(b) overlay (root rotation in")
    assert "differing vault.hashicorp.com/role is 'someone-else'" in result.finding
    assert "rotation/root/b/<cluster>/" in result.hint


# ---------------------------------------------------------------------- --merged-cr


def user_settings_check(cluster_plan: ClusterPlan, settings: ClusterPlan, seen: RotationSeen | None) -> CheckResult:
    container = {"name": "discovery", "env": [{"name": k, "value": v} for k, v in settings.env.items()]}
    pod = PodState(
        {
            "metadata": {"name": "istiod-1", "namespace": "istio-system", "annotations": settings.annotations()},
            "spec": {"containers": [container]},
        }
    )
    state = ClusterState("istio-system", {}, None, None, merged_cr=MergedCr("cr.yaml", "IstioOperator"))
    view = PodView(state, cluster_plan, VaultRoot(OLD, "pki/cert/ca"), rotation=seen, pod=pod)
    return istiod_keeps_user_settings(view)


def test_merged_cr_check_accepts_the_phase_b_settings_only_during_a_rotation(cluster_plan: ClusterPlan) -> None:
    after = bundle_plan(cluster_plan)
    assert MULTIROOT_ENV in after.env
    result = user_settings_check(cluster_plan, after, None)
    assert result.status is Status.FAIL and "lacks (or has another value for) " in result.finding
    result = user_settings_check(cluster_plan, after, rotation("c", OLD, NEW))
    assert result.status is Status.PASS
    assert result.finding.startswith(f"our {len(after.env)} env and {len(after.annotations())} annotations")
    assert user_settings_check(cluster_plan, cluster_plan, rotation("c", OLD, NEW)).status is Status.PASS
