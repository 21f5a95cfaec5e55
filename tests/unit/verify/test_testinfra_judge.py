"""The pytest-testinfra suite judges a kubectl:// pod as `verify cluster` does (verify/runs/cluster.py): the same
collected state narrowed to that pod, its files as the istiod release of the pod's image loads them, the cluster
checks with Vault's root and the root rotation under way, the same judge.

Stood in: the API server's answers (a `Kube` whose reads return fixed objects), the Vault side (`vault_side`, the
function both front ends call) and the kubelet's exec (tests/kube_stub/kubectl_standin.py behind a `kubectl` on
PATH, reading a local directory as the pod's ca_dir). Real: collect, testinfra's kubectl backend, the judge and
both front ends' wiring."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import ClusterPlan, plan
from istio_vault_ca.generator.render.root_rotation import bundle_plan
from istio_vault_ca.verify.checks.cluster import VaultRoot
from istio_vault_ca.verify.checks.result import CheckResult
from istio_vault_ca.verify.checks.rotation_seen import RotationSeen
from istio_vault_ca.verify.clients import kube
from istio_vault_ca.verify.runs import cluster as runs_cluster
from istio_vault_ca.verify.runs.cluster import ClusterRequest, PodRequest, cluster_report, pod_results
from istio_vault_ca.verify.testinfra_suite.plugin import host_results
from tests import pki_factory
from tests.kube_stub import seed
from tests.support import REPO

NAMESPACE = "istio-system"
POD = "istiod-a"
OLDER_IMAGE = "docker.io/istio/pilot:1.22.3"  # before 1.26.1: an incomplete bundle is not refused as such
BUNDLE = "istioca-kv/data/root-rotation/trust-bundle"
JSON = dict[str, Any]


def _pod(deployment: JSON, image: str) -> JSON:
    """A running istiod pod of `deployment`'s template (its annotations, its containers) on `image`."""
    template = deployment["spec"]["template"]
    spec = {**template["spec"], "containers": [{**template["spec"]["containers"][0], "image": image}]}
    running = {"running": {"startedAt": seed.STARTED}}
    return {
        "metadata": {**template["metadata"], "name": POD, "namespace": NAMESPACE},
        "spec": spec,
        "status": {
            "phase": "Running",
            "containerStatuses": [{"name": "discovery", "image": image, "ready": True, "state": running}],
        },
    }


class _Kube:
    """The API server's answers for one istiod Deployment and its one pod; `target` is what kubectl is told."""

    def __init__(self, deployment: JSON, pod: JSON, root_pem: bytes) -> None:
        self.target = kube.KubeTarget(None, "east", "https://127.0.0.1:6443")
        self._deployment, self._pod, self._root_pem = deployment, pod, root_pem

    def namespace(self, name: str) -> JSON:
        return seed.namespace(name)

    def namespaces(self, labels: Mapping[str, Any] | None = None) -> list[JSON]:
        return []

    def service_account(self, namespace: str, name: str) -> JSON:
        return seed.service_account(name, namespace)

    def deployment(self, namespace: str, name: str) -> JSON:
        return self._deployment

    def pods(self, namespace: str, labels: Mapping[str, str]) -> list[JSON]:
        return [self._pod]

    def mutating_webhooks(self) -> list[JSON]:
        return [seed.injector_webhook()]

    def config_map(self, namespace: str, name: str) -> JSON:
        return seed.root_config_map(namespace, self._root_pem)

    def log(self, namespace: str, pod: str, container: str, tail_lines: int | None = None) -> str:
        return seed.istiod_log("1.22", plugged_in=True)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "istio-vault-ca.yaml"
    path.write_text("{}\n", encoding="utf-8")
    return path


@pytest.fixture
def one_cluster(config_file: Path) -> ClusterPlan:
    return plan(load(str(config_file)).config)[0]


@pytest.fixture
def pod_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_cluster: ClusterPlan) -> Path:
    """`kubectl` on PATH is the stand-in; the pod's ca_dir is a local directory without cert-chain.pem."""
    bin_dir, files = tmp_path / "bin", tmp_path / "pod-ca-dir"
    bin_dir.mkdir()
    launcher = bin_dir / "kubectl"
    script = REPO / "tests" / "kube_stub" / "kubectl_standin.py"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n', encoding="utf-8")
    launcher.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("KUBECTL_STANDIN_LOG", str(tmp_path / "kubectl-calls.jsonl"))
    monkeypatch.setenv("KUBECTL_STANDIN_MAP", f"{one_cluster.config.istiod.ca_dir}={files}")
    monkeypatch.setenv("KUBECTL_STANDIN_OWNER", str(one_cluster.config.istiod.agent.run_as_user))
    bundle = pki_factory.good_bundle()
    pki_factory.Bundle(bundle.ca_cert, bundle.ca_key, None, bundle.root_cert).write(files)
    return files


@pytest.fixture
def rotating_cluster(monkeypatch: pytest.MonkeyPatch, one_cluster: ClusterPlan, pod_dir: Path) -> None:
    """istiod on an older image, its Deployment carrying the phase-(b) overlay of a root rotation Vault reports."""
    root_pem = pki_factory.good_bundle().root_cert or b""
    deployment = seed.istiod_deployment(bundle_plan(one_cluster))
    stood_in = _Kube(deployment, _pod(deployment, OLDER_IMAGE), root_pem)
    monkeypatch.setattr(kube, "connect", lambda kubeconfig, context: stood_in)
    seen = RotationSeen(root_pem, BUNDLE, "b")
    monkeypatch.setattr(runs_cluster, "vault_side", lambda config, plan: (VaultRoot(root_pem, "pki"), seen))


def _rows(results: list[CheckResult]) -> list[tuple[str, str, str, str, str]]:
    return [(r.id, r.target, r.status.value, r.finding, r.hint) for r in results]


@pytest.mark.usefixtures("rotating_cluster")
def test_the_suite_and_verify_cluster_give_the_same_verdicts_on_one_pod(
    one_cluster: ClusterPlan, config_file: Path
) -> None:
    import testinfra

    report, _code = cluster_report(ClusterRequest(str(config_file), None, 30, context="east"))
    host = testinfra.get_host(f"kubectl://{POD}?namespace={NAMESPACE}&container=discovery&context=east")
    suite = host_results(host, one_cluster, warn_days=30)

    assert _rows(suite) == _rows(report.checks)
    by_id = {r.id: r for r in suite}
    # Judged as the pod's image loads the files, not as the newest release would ("incomplete signing CA bundle").
    assert by_id["chain.file-present"].finding == (
        "cert-chain.pem missing: istiod 1.22.3 refuses to start: it cannot read cert-chain.pem"
    )
    # The Deployment carries the phase-(b) overlay: accepted only because both know the rotation.
    assert by_id["cluster.annotations-match"].status.value == "pass"
    assert "phase-(b) overlay" in by_id["cluster.annotations-match"].finding
    assert by_id["pod.ca-files-present"].target == f"pod/{NAMESPACE}/{POD}:{one_cluster.config.istiod.ca_dir}"


@pytest.mark.usefixtures("rotating_cluster")
def test_a_pod_the_deployment_does_not_list_is_left_to_the_suites_host(one_cluster: ClusterPlan) -> None:
    """No pod object, no release: pod_results says so and judges no files, which the suite then reads itself."""
    results, judged = pod_results(PodRequest(one_cluster, "istiod-elsewhere", 30, context="east"))
    assert not judged
    assert not [r for r in results if r.id.startswith(("pod.", "chain."))]


class _RefusingVault:
    """A Vault client whose every read fails as an unreachable Vault does; counts the clients made."""

    made = 0
    address = "http://127.0.0.1:9"

    def __init__(self) -> None:
        type(self).made += 1

    def read(self, path: str) -> dict[str, Any]:
        from istio_vault_ca.generator.errors import VaultUnreachable

        raise VaultUnreachable(f"cannot reach Vault to read {path}")


def test_without_vaults_root_no_rotation_is_asked_for(
    one_cluster: ClusterPlan, pod_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `verify cluster`: one Vault client, and the rotation is read only when Vault answered for its root."""
    from istio_vault_ca.verify.rotation import root as rotation_root

    deployment = seed.istiod_deployment(one_cluster)
    stood_in = _Kube(deployment, _pod(deployment, OLDER_IMAGE), b"")
    monkeypatch.setattr(kube, "connect", lambda kubeconfig, context: stood_in)
    _RefusingVault.made = 0
    monkeypatch.setattr(runs_cluster, "open_vault", lambda config, namespace=None: _RefusingVault())
    monkeypatch.setattr(rotation_root, "seen_rotation", lambda api, config: pytest.fail("Vault was asked again"))

    results, judged = pod_results(PodRequest(one_cluster, POD, 30, context="east"))

    assert judged and _RefusingVault.made == 1
    compared = [r for r in results if r.id == "cluster.root-configmap-matches-vault"]
    assert compared and {r.status.value for r in compared} == {"skip"}
    assert "cannot reach Vault" in compared[0].finding


def test_an_unreachable_api_server_is_an_error_row_and_no_pod(
    one_cluster: ClusterPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    from istio_vault_ca.generator.errors import KubeConfigProblem

    def refuse(kubeconfig: str | None, context: str | None) -> object:
        raise KubeConfigProblem("no context east in the kubeconfig")

    monkeypatch.setattr(kube, "connect", refuse)
    results, judged = pod_results(PodRequest(one_cluster, POD, 30, context="east"))
    assert _rows(results) == [
        ("cluster.namespace-exists", "api-server", "error", "no context east in the kubeconfig", "")
    ]
    assert not judged
