"""`verify cluster` on an ambient cluster: the ztunnel DaemonSet is recognised and the root ztunnel takes from
istiod (istio-ca-root-cert in istiod's namespace) is compared with Vault's, on API-shaped dicts (no server);
sidecar clusters get no ztunnel result at all."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import ClusterPlan, plan
from istio_vault_ca.verify.checks.cluster import ClusterState, RootConfigMap, VaultRoot, ZtunnelRead, run
from istio_vault_ca.verify.checks.result import CheckResult, Status
from tests.fidelity import corpus
from tests.support import REPO

STARTER = REPO / "generator" / "config" / "starter.yaml"
IDS = ("cluster.ztunnel-daemonset", "cluster.ztunnel-trust")


@pytest.fixture(scope="module")
def sidecar_plan() -> ClusterPlan:
    return plan(load(str(STARTER)).config)[0]


@pytest.fixture(scope="module")
def roots() -> tuple[bytes, bytes]:
    """Vault's root and another root, as PEM."""
    _, vault_root = corpus.vault_pki()
    other = corpus.root_ca("rsa2048:other_root", "Unrelated Root")
    return corpus.cert_pem(vault_root), corpus.cert_pem(other)


def _daemon_set(image: str = "docker.io/istio/ztunnel:1.31.0-distroless", ready: int = 3) -> dict[str, object]:
    return {
        "metadata": {"name": "ztunnel", "namespace": "istio-system"},
        "spec": {"template": {"spec": {"containers": [{"name": "istio-proxy", "image": image}]}}},
        "status": {"desiredNumberScheduled": 3, "numberReady": ready},
    }


def _state(published: bytes | None, ztunnel: ZtunnelRead | None) -> ClusterState:
    config_map = {"data": {"root-cert.pem": published.decode()}} if published is not None else None
    return ClusterState(
        namespace="istio-system",
        namespace_obj={"metadata": {"name": "istio-system"}},
        service_account=None,
        deployment=None,
        root_config_maps=(RootConfigMap("istio-system", config_map, "istiod's namespace"),),
        ztunnel=ztunnel,
    )


def _ztunnel_results(
    state: ClusterState, cluster_plan: ClusterPlan, vault_root: bytes | None
) -> dict[str, CheckResult]:
    root = VaultRoot(vault_root, "pki/cert/ca") if vault_root else VaultRoot(None, "pki/cert/ca", "VAULT_ADDR unset")
    return {r.id: r for r in run(state, cluster_plan, root, warn_days=30) if r.id in IDS}


def _ambient(sidecar_plan: ClusterPlan) -> ClusterPlan:
    return replace(sidecar_plan, data_plane="ambient")


def test_a_sidecar_cluster_reports_no_ztunnel_check(sidecar_plan: ClusterPlan, roots: tuple[bytes, bytes]) -> None:
    assert _ztunnel_results(_state(roots[0], None), sidecar_plan, roots[0]) == {}


def test_ztunnel_trusting_vault_s_root_passes_and_says_what_it_could_not_see(
    sidecar_plan: ClusterPlan, roots: tuple[bytes, bytes]
) -> None:
    state = _state(roots[0], ZtunnelRead("istio-system", "ztunnel", _daemon_set()))
    results = _ztunnel_results(state, _ambient(sidecar_plan), roots[0])
    assert results["cluster.ztunnel-daemonset"].status is Status.PASS
    assert "3 of 3 ztunnel pod(s) ready (docker.io/istio/ztunnel:1.31.0-distroless)" in (
        results["cluster.ztunnel-daemonset"].finding
    )
    trust = results["cluster.ztunnel-trust"]
    assert trust.status is Status.PASS, trust.finding
    assert "ztunnel 1.31 (from the image tag 1.31.0-distroless) takes the last root" in trust.finding
    assert "config dump (port 15000), not read here" in trust.finding
    assert trust.target == "daemonset/istio-system/ztunnel"


@pytest.mark.parametrize(("image", "fails"), [("istio/ztunnel:1.31.0", True), ("istio/ztunnel:1.25.2", False)])
def test_the_root_ztunnel_takes_depends_on_its_release(
    image: str, fails: bool, sidecar_plan: ClusterPlan, roots: tuple[bytes, bytes]
) -> None:
    """istio-ca-root-cert = Vault's root, then another one: 1.26+ takes the last, older releases the first."""
    state = _state(roots[0] + roots[1], ZtunnelRead("istio-system", "ztunnel", _daemon_set(image)))
    trust = _ztunnel_results(state, _ambient(sidecar_plan), roots[0])["cluster.ztunnel-trust"]
    assert trust.status is (Status.FAIL if fails else Status.PASS), trust.finding
    if fails:
        assert "not Vault's root" in trust.finding and "CN=Unrelated Root" in trust.finding and trust.hint


def test_a_missing_daemonset_fails_and_the_trust_check_skips(
    sidecar_plan: ClusterPlan, roots: tuple[bytes, bytes]
) -> None:
    state = _state(roots[0], ZtunnelRead("istio-system", "ztunnel", None))
    results = _ztunnel_results(state, _ambient(sidecar_plan), roots[0])
    assert results["cluster.ztunnel-daemonset"].status is Status.FAIL
    assert "data plane is ambient" in results["cluster.ztunnel-daemonset"].finding
    assert results["cluster.ztunnel-trust"].status is Status.SKIP


def test_what_cannot_be_seen_is_a_skip_with_the_reason(sidecar_plan: ClusterPlan, roots: tuple[bytes, bytes]) -> None:
    forbidden = ZtunnelRead("istio-system", "ztunnel", None, "daemonsets.apps is forbidden")
    results = _ztunnel_results(_state(roots[0], forbidden), _ambient(sidecar_plan), roots[0])
    assert results["cluster.ztunnel-daemonset"].status is Status.SKIP
    assert "daemonsets.apps is forbidden" in results["cluster.ztunnel-daemonset"].finding
    present = ZtunnelRead("istio-system", "ztunnel", _daemon_set())
    no_map = _ztunnel_results(_state(None, present), _ambient(sidecar_plan), roots[0])["cluster.ztunnel-trust"]
    assert no_map.status is Status.SKIP and "istio-ca-root-cert" in no_map.finding
    no_vault = _ztunnel_results(_state(roots[0], present), _ambient(sidecar_plan), None)["cluster.ztunnel-trust"]
    assert no_vault.status is Status.SKIP and "VAULT_ADDR unset" in no_vault.finding


def test_pods_not_ready_fail(sidecar_plan: ClusterPlan, roots: tuple[bytes, bytes]) -> None:
    state = _state(roots[0], ZtunnelRead("istio-system", "ztunnel", _daemon_set(ready=1)))
    result = _ztunnel_results(state, _ambient(sidecar_plan), roots[0])["cluster.ztunnel-daemonset"]
    assert result.status is Status.FAIL and "1 of 3" in result.finding and result.hint


class _Kube:
    """The reads `collect` makes, answering an empty istio-system, with a ztunnel DaemonSet or an RBAC refusal."""

    def __init__(self, daemon_set: object) -> None:
        self._daemon_set = daemon_set
        self.asked: list[str] = []

    def namespace(self, name: str) -> dict[str, object]:
        return {"metadata": {"name": name}}

    def service_account(self, namespace: str, name: str) -> None:
        return None

    def deployment(self, namespace: str, name: str) -> None:
        return None

    def mutating_webhooks(self) -> list[object]:
        return []

    def config_map(self, namespace: str, name: str) -> None:
        return None

    def namespaces(self, labels: object = None) -> list[object]:
        return []

    def daemon_set(self, namespace: str, name: str) -> object:
        self.asked.append(f"{namespace}/{name}")
        if isinstance(self._daemon_set, Exception):
            raise self._daemon_set
        return self._daemon_set


def test_collect_reads_the_daemonset_for_ambient_clusters_only(sidecar_plan: ClusterPlan) -> None:
    from istio_vault_ca.generator.errors import KubeAccessError
    from istio_vault_ca.verify.checks.cluster import collect

    kube = _Kube(_daemon_set())
    assert collect(kube, sidecar_plan).ztunnel is None  # type: ignore[arg-type]
    assert kube.asked == []
    state = collect(kube, _ambient(sidecar_plan))  # type: ignore[arg-type]
    assert kube.asked == ["istio-system/ztunnel"]
    assert state.ztunnel is not None and state.ztunnel.obj == _daemon_set()
    forbidden = KubeAccessError("the API server refused get DaemonSet istio-system/ztunnel (403): forbidden")
    refused = collect(_Kube(forbidden), _ambient(sidecar_plan))  # type: ignore[arg-type]
    assert refused.ztunnel is not None and refused.ztunnel.obj is None
    assert "(403): forbidden" in refused.ztunnel.problem
    with pytest.raises(KubeAccessError):  # the server gone is not a ztunnel finding: the run stops (exit 3)
        collect(_Kube(KubeAccessError("cannot reach the API server")), _ambient(sidecar_plan))  # type: ignore[arg-type]


def test_the_files_in_istiod_s_pod_are_judged_as_ztunnel_takes_them(sidecar_plan: ClusterPlan, tmp_path: Path) -> None:
    """verify cluster / verify all read the CA files inside istiod's pod: an ambient cluster's get the ztunnel
    checks (root-cert.pem = the right root then another: 1.26+ ztunnel trusts the other one)."""
    from istio_vault_ca.verify.checks.chain import IstioVersion, read_dir
    from istio_vault_ca.verify.checks.cluster import pod_file_checks
    from istio_vault_ca.verify.clients.podfiles import PodFiles

    directory = tmp_path / "ca"
    directory.mkdir()
    corpus.CORPUS["roots_right_first"](directory)
    files = PodFiles("pod/istio-system/istiod-1:/vault/secrets", "/vault/secrets", dict(read_dir(directory)[0]))
    sidecar = {r.id: r for r in pod_file_checks(files, sidecar_plan, version=IstioVersion(1, 31))}
    assert "chain.ztunnel-root" not in sidecar
    ambient = {r.id: r for r in pod_file_checks(files, _ambient(sidecar_plan), version=IstioVersion(1, 31))}
    assert ambient["chain.ztunnel-root"].status is Status.FAIL
    assert ambient["chain.ztunnel-root"].target == "pod/istio-system/istiod-1:/vault/secrets"
