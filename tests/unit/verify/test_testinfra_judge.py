"""The pytest-testinfra suite judges a kubectl:// pod as `verify cluster` does (verify/runs/cluster.py): its files as
the istiod release of the pod's image loads them, and the cluster checks with Vault's root and the root rotation
under way. Only the I/O is stood in for (the API client, the cluster read, the Vault reads); the suite's own
wiring and the registry it calls are real."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from istio_vault_ca.generator.config.loader import parse_text
from istio_vault_ca.generator.config.plan import ClusterPlan, plan
from istio_vault_ca.verify.checks import cluster as cluster_checks
from istio_vault_ca.verify.checks.chain import parse_version
from istio_vault_ca.verify.checks.cluster import ClusterState, PodState, VaultRoot
from istio_vault_ca.verify.checks.rotation_seen import RotationSeen
from istio_vault_ca.verify.clients import kube
from istio_vault_ca.verify.runs import cluster as runs_cluster
from istio_vault_ca.verify.testinfra_suite.plugin import _cluster_results

BACKEND = SimpleNamespace(NAME="kubectl", name="istiod-a", kubeconfig=None, context="east")
SEEN = RotationSeen(b"", "istioca-kv/root-rotation/trust-bundle", "b")


def _pod(name: str, image: str) -> PodState:
    return PodState(
        {
            "metadata": {"name": name, "namespace": "istio-system"},
            "spec": {"containers": [{"name": "discovery", "image": image}]},
        }
    )


@pytest.fixture
def one_cluster() -> ClusterPlan:
    return plan(parse_text("{}", "test"))[0]


@pytest.fixture
def judged(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """What the cluster registry was given, with the cluster read and the API client stood in for."""
    calls: list[tuple[Any, ...]] = []
    pods = (_pod("istiod-b", "docker.io/istio/pilot:1.31.0"), _pod("istiod-a", "docker.io/istio/pilot:1.22.3"))
    monkeypatch.setattr(kube, "connect", lambda kubeconfig, context: object())
    monkeypatch.setattr(
        cluster_checks, "collect", lambda api, plan: ClusterState("istio-system", None, None, None, pods)
    )

    def recorded_run(*args: Any) -> list[Any]:
        calls.append(args)
        return []

    monkeypatch.setattr(cluster_checks, "run", recorded_run)
    return calls


def test_the_pods_image_release_and_the_rotation_judge_as_verify_cluster_does(
    judged: list[tuple[Any, ...]], one_cluster: ClusterPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = VaultRoot(b"-----BEGIN CERTIFICATE-----", "pki/cert/ca")
    monkeypatch.setattr(runs_cluster, "vault_side", lambda config, plan: (root, SEEN))

    results, version = _cluster_results(BACKEND, one_cluster)

    assert results == []
    assert version == parse_version("1.22.3")  # this host's pod, not istiod-b nor the newest modelled release
    ((state, _plan, given_root, rotation),) = judged
    assert [pod.name for pod in state.pods] == ["istiod-a"]
    assert (given_root, rotation) == (root, SEEN)


class _RefusingVault:
    """A Vault client whose every read fails as an unreachable Vault does; counts the clients made."""

    made = 0
    address = "http://127.0.0.1:9"

    def __init__(self) -> None:
        type(self).made += 1

    def read(self, path: str) -> dict[str, Any]:
        from istio_vault_ca.generator.errors import VaultUnavailable

        raise VaultUnavailable("unreachable", f"cannot reach Vault to read {path}")


def test_without_vaults_root_no_rotation_is_asked_for(
    judged: list[tuple[Any, ...]], one_cluster: ClusterPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `verify cluster`: one Vault client, and the rotation is read only when Vault answered for its root."""
    from istio_vault_ca.verify.rotation import root as rotation_root

    _RefusingVault.made = 0
    monkeypatch.setattr(runs_cluster, "open_vault", lambda config, namespace=None: _RefusingVault())
    monkeypatch.setattr(rotation_root, "seen_rotation", lambda api, config: pytest.fail("Vault was asked again"))

    _cluster_results(BACKEND, one_cluster)

    ((_state, _plan, root, rotation),) = judged
    assert rotation is None
    assert root.pem is None and "cannot reach Vault" in root.problem
    assert _RefusingVault.made == 1


def test_an_unreachable_api_server_is_an_error_row_and_no_release(
    one_cluster: ClusterPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    from istio_vault_ca.generator.errors import KubeConfigProblem

    def refuse(kubeconfig: str | None, context: str | None) -> object:
        raise KubeConfigProblem("no context east in the kubeconfig")

    monkeypatch.setattr(kube, "connect", refuse)
    results, version = _cluster_results(BACKEND, one_cluster)
    assert [(r.id, r.status.value, r.finding) for r in results] == [
        ("cluster.namespace-exists", "error", "no context east in the kubeconfig")
    ]
    assert version is None
