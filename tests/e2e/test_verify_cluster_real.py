"""`verify cluster` against the real API server, with istiod's Pod mutated by the real vault-k8s injector.

The objects ``tests/kube_stub`` seeds by hand are made here by the real components: the Deployment (the
istio-discovery chart's shape, ``tests.kube_stub.seed.istiod_deployment``, with the rendered annotations) is
applied, kube-controller-manager creates the ReplicaSet and the Pod, and the API server sends the Pod through the
Vault chart's webhook to the real injector, which adds ``vault-agent-init``/``vault-agent`` with its own
``VAULT_CONFIG``.

What stays stubbed, since there is no kubelet: the Pod's status is patched through the ``status`` subresource
(Running, the init container Completed, the containers running, as a kubelet would report them); the files
inside the Pod are read through the kubectl stand-in (``tests/kube_stub/kubectl_standin.py``: ``kubectl exec``
needs a kubelet), over a local directory of agent-made files; container logs cannot be had (the API server asks
the kubelet for them), so the log checks report that they could not read them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from istio_vault_ca.generator.config.plan import ClusterPlan
from tests.e2e import istiod_cluster as ic
from tests.e2e import vault_injector as injector
from tests.e2e.cluster import LIMITED_USER, Cluster

pytestmark = pytest.mark.e2e


def deploy_istiod(
    kube_cluster: Cluster,
    webhook: injector.Webhook,
    cluster_plan: ClusterPlan,
    *,
    failure_policy: str | None = "Fail",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Namespace, service account, root ConfigMap, the webhook (unless None), istiod's Deployment
    (``istiod_cluster.deploy_istiod``); returns the Pod the controllers made (and the injector mutated), with its
    status patched to Running and bound to no Node (there is no kubelet here, so no host either)."""
    root_pem = ic.bundle_values()["root-cert.pem"]
    (pod,) = ic.deploy_istiod(
        kube_cluster, webhook, cluster_plan, root_pem, failure_policy=failure_policy, annotations=annotations
    )
    status = {key: value for key, value in ic.running_status(pod).items() if key != "hostIP"}
    return ic.report_status(kube_cluster, pod, status)


@pytest.mark.usefixtures("no_vault", "standin", "webhook_cleanup")
def test_healthy_istiod_injected_by_the_real_injector(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    cluster_plan: ClusterPlan,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pod = deploy_istiod(kube_cluster, vault_injector, cluster_plan)
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["vault-agent-init"]
    assert pod["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"] == "injected"

    outcome = ic.verify(capsys, kube_cluster.kubeconfig)

    for check_id in (
        "cluster.namespace-exists",
        "cluster.service-account-exists",
        "cluster.annotations-match",
        "cluster.root-ca-dir-matches-volume-path",
        "cluster.injector-webhook",
        "cluster.pod-injected",
        "pod.ca-files-present",
        "chain.key-matches-cert",
    ):
        assert outcome.one(check_id)["status"] == "pass", outcome.one(check_id)
    # No kubelet, so no container logs: the log check says it could not read them (stubbed in tests/integration).
    log_check = outcome.one("cluster.istiod-ca-log")
    assert log_check["status"] == "warn", log_check
    print("istiod-ca-log:", log_check["finding"])


@pytest.mark.usefixtures("no_vault", "standin", "webhook_cleanup")
def test_not_injected_without_the_webhook(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    cluster_plan: ClusterPlan,
    capsys: pytest.CaptureFixture[str],
) -> None:
    injector.delete_configuration(kube_cluster.kubeconfig, "vault")
    pod = deploy_istiod(kube_cluster, vault_injector, cluster_plan, failure_policy=None)
    assert not pod["spec"].get("initContainers")

    outcome = ic.verify(capsys, kube_cluster.kubeconfig)

    print(json.dumps(outcome.statuses(), indent=1))
    assert outcome.code != 0
    assert outcome.one("cluster.injector-webhook")["status"] == "fail"
    assert outcome.one("cluster.pod-injected")["status"] == "fail"


@pytest.mark.usefixtures("no_vault", "standin", "webhook_cleanup")
def test_webhook_failure_policy_ignore_warns(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    cluster_plan: ClusterPlan,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deploy_istiod(kube_cluster, vault_injector, cluster_plan, failure_policy="Ignore")

    outcome = ic.verify(capsys, kube_cluster.kubeconfig)

    webhook = outcome.one("cluster.injector-webhook")
    assert webhook["status"] == "warn" and "failurePolicy is Ignore" in webhook["finding"]
    assert outcome.one("cluster.pod-injected")["status"] == "pass"


@pytest.mark.usefixtures("no_vault", "standin", "webhook_cleanup")
def test_limited_user_gets_the_api_servers_403(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    cluster_plan: ClusterPlan,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deploy_istiod(kube_cluster, vault_injector, cluster_plan)
    limited = kube_cluster.kubeconfig_for(LIMITED_USER)

    outcome = ic.verify(capsys, limited)

    print(outcome.stdout[:2000], outcome.stderr[:2000])
    assert outcome.code != 0
    assert "403" in outcome.stdout + outcome.stderr
    assert LIMITED_USER in outcome.stdout + outcome.stderr


@pytest.mark.usefixtures("no_vault", "standin", "webhook_cleanup")
def test_hand_changed_secret_volume_path_is_caught_with_the_real_pods_cause(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    cluster_plan: ClusterPlan,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The source guide's mistake, made by hand on the Deployment: the real injector mounts the secret volume at
    /etc/cacerts-vault in istiod's container, where ROOT_CA_DIR (/vault/secrets) does not look."""
    pod = deploy_istiod(
        kube_cluster,
        vault_injector,
        cluster_plan,
        annotations={"vault.hashicorp.com/secret-volume-path": "/etc/cacerts-vault"},
    )
    discovery = next(c for c in pod["spec"]["containers"] if c["name"] == "discovery")
    mounts = {m["mountPath"]: m["name"] for m in discovery["volumeMounts"]}
    assert mounts.get("/etc/cacerts-vault") == "vault-secrets"
    assert "/vault/secrets" not in mounts
    env = {e["name"]: e.get("value") for e in discovery["env"]}
    assert env["ROOT_CA_DIR"] == "/vault/secrets"

    outcome = ic.verify(capsys, kube_cluster.kubeconfig)

    print(json.dumps(outcome.statuses(), indent=1))
    assert outcome.code != 0
    mismatch = outcome.one("cluster.root-ca-dir-matches-volume-path")
    assert mismatch["status"] == "fail"
    assert "/etc/cacerts-vault" in mismatch["finding"] and "/vault/secrets" in mismatch["finding"]
    assert outcome.one("cluster.annotations-match")["status"] == "fail"
