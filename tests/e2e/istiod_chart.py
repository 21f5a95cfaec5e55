"""The real istiod Deployment on the e2e API server: Istio's istio-discovery chart rendered by Istio's own code.

``tests/oracles/istio_overlay`` (its go.mod pins ``istio.io/istio``; Helm is the ``helm.sh/helm/v4`` that module
requires) prints every object the chart renders:

- ``helm-manifests FILE...``: the helm CLI's ``-f`` values merge (``pkg/cli/values`` ``Options.MergeValues``), then
  ``operator/pkg/helm`` ``Render`` of the embedded ``istio-control/istio-discovery`` chart, release ``istiod`` in
  ``istio-system`` (what ``helm template istiod istio/istiod -n istio-system -f FILE`` prints);
- ``istioctl-manifests FILE...``: ``operator/pkg/render`` ``GenerateManifest`` (``istioctl manifest generate -f
  FILE``): every component of the merged IstioOperator, post-processed (``k8s.*`` patches).

What is applied: everything the chart renders except the kinds in ``SKIPPED_KINDS`` (named with the reason in
each test's output). The API server stores the Deployment, kube-controller-manager creates the ReplicaSet and the
Pod, and the Pod goes through the real vault-k8s webhook (``tests/e2e/vault_injector.py``) registered for the
namespace. There is no kubelet: a Pod never runs, and tests that need it running patch ``pods/status``
(``mark_running``), saying so.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.e2e import vault_injector as injector
from tests.e2e.cluster import Cluster, eventually
from tests.kube_stub import seed

NAMESPACE = "istio-system"  # the harness renders the release into istio-system, as the chart's docs install it
DEPLOYMENT = "istiod"
POD_SELECTOR = "app=istiod"
ROOT_CONFIG_MAP = "istio-ca-root-cert"

# Rendered but not applied, and why.
SKIPPED_KINDS = {
    "CustomResourceDefinition": "Istio's config CRDs (istioctl's base component): istiod's Pod does not need them, "
    "and no istiod runs to serve them",
    "MutatingWebhookConfiguration": "istio-sidecar-injector calls the istiod Service, which has no endpoints "
    "without a kubelet; registered, it would intercept the Pods of other tests",
    "ValidatingWebhookConfiguration": "istio-validator calls the istiod Service, which has no endpoints without a "
    "kubelet",
}

JSON = dict[str, Any]


def render_manifests(harness: Path, mode: str, *files: Path) -> list[JSON]:
    """Every object the harness prints for ``mode`` (``helm-manifests`` or ``istioctl-manifests``)."""
    proc = subprocess.run(
        [str(harness), mode, *map(str, files)], capture_output=True, text=True, check=False, timeout=300
    )
    assert proc.returncode == 0, f"istio_overlay {mode} failed: {proc.stderr.strip()}"
    documents = [d for d in YAML(typ="safe", pure=True).load_all(proc.stdout) if d]
    assert documents, f"istio_overlay {mode} printed no object"
    return [dict(d) for d in documents]


def split(objects: Iterable[JSON]) -> tuple[list[JSON], list[str]]:
    """(objects to apply, ``Kind/name`` of the skipped ones)."""
    applied: list[JSON] = []
    skipped: list[str] = []
    for obj in objects:
        if obj["kind"] in SKIPPED_KINDS:
            skipped.append(f"{obj['kind']}/{obj['metadata']['name']}")
        else:
            applied.append(obj)
    return applied, skipped


def deployment(objects: Iterable[JSON]) -> JSON:
    found = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == DEPLOYMENT]
    assert len(found) == 1, f"{len(found)} istiod Deployments rendered"
    return found[0]


def kubectl_json(cluster: Cluster, *args: str) -> JSON:
    reply = injector.kubectl(cluster.kubeconfig, *args, "-o", "json")
    assert reply.returncode == 0, reply.stderr
    result: JSON = json.loads(reply.stdout)
    return result


def prepare(cluster: Cluster, webhook: injector.Webhook) -> None:
    """istio-system (selected by the injector's webhook), the webhook registered with failurePolicy Fail and
    seen working, and no istiod Deployment, Pod or root ConfigMap left from an earlier test."""
    kubeconfig = cluster.kubeconfig
    _remove_istiod(cluster)
    eventually(lambda: not (pods(cluster) or replica_sets(cluster)) or None, "the earlier istiod objects to go")
    injector.apply(
        kubeconfig,
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": {injector.NAMESPACE_LABEL: "enabled"}},
        },
        webhook.configuration("Fail"),
    )
    probe = injector.istiod_pod(
        "probe", NAMESPACE, {"vault.hashicorp.com/agent-inject": "true", "vault.hashicorp.com/role": "r"}, {}
    )
    probe["spec"]["serviceAccountName"] = "default"
    eventually(  # the API server loads a new webhook configuration asynchronously
        lambda: "vault-agent-init" in injector.dry_run_create(kubeconfig, probe).stdout or None, "the webhook"
    )


def remove_webhook(cluster: Cluster) -> None:
    injector.delete_configuration(cluster.kubeconfig, "vault")


def clean_up(cluster: Cluster) -> None:
    """After a test: the webhook configuration goes (other tests register their own), and so do istiod's
    Deployment, ReplicaSets, Pods (one may have been patched Running) and the root ConfigMap a test wrote; the
    namespace and the chart's other objects stay for the next test of this kind."""
    remove_webhook(cluster)
    _remove_istiod(cluster)


def _remove_istiod(cluster: Cluster) -> None:
    kubeconfig = cluster.kubeconfig
    injector.kubectl(kubeconfig, "delete", "deployment", DEPLOYMENT, "-n", NAMESPACE, "--ignore-not-found")
    for kind in ("replicasets", "pods"):  # not left to the garbage collector: the next test lists them
        injector.kubectl(kubeconfig, "delete", kind, "-n", NAMESPACE, "-l", POD_SELECTOR, "--ignore-not-found")
    # The root ConfigMap a test wrote in istiod's place (istiod itself never runs here).
    injector.kubectl(kubeconfig, "delete", "configmap", ROOT_CONFIG_MAP, "-n", NAMESPACE, "--ignore-not-found")


def pods(cluster: Cluster) -> list[JSON]:
    listed = kubectl_json(cluster, "get", "pods", "-n", NAMESPACE, "-l", POD_SELECTOR)
    return [p for p in listed["items"] if not p["metadata"].get("deletionTimestamp")]


def replica_sets(cluster: Cluster) -> list[JSON]:
    listed = kubectl_json(cluster, "get", "replicasets", "-n", NAMESPACE, "-l", POD_SELECTOR)
    return [r for r in listed["items"] if not r["metadata"].get("deletionTimestamp")]


def install(cluster: Cluster, objects: Sequence[JSON]) -> None:
    """Apply the chart's objects (the skipped kinds left out) to the API server."""
    applied, _ = split(objects)
    injector.apply(cluster.kubeconfig, *applied)


def istiod_pod(cluster: Cluster) -> JSON:
    """The Pod kube-controller-manager made from the Deployment (after the API server's admission chain)."""
    return eventually(lambda: pods(cluster), "istiod's Pod")[0]


def replica_failure(cluster: Cluster) -> str:
    """The ReplicaFailure condition message of istiod's ReplicaSet: why the API server refused its Pods."""

    def message() -> str | None:
        for replica_set in replica_sets(cluster):
            for condition in replica_set.get("status", {}).get("conditions") or []:
                if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
                    return str(condition.get("message", ""))
        return None

    return eventually(message, "a ReplicaFailure condition on istiod's ReplicaSet")


def mark_running(cluster: Cluster, pod: JSON) -> JSON:
    """What a kubelet would report once the Pod started, patched through the ``status`` subresource (there is no
    kubelet): the init containers terminated with exit 0, every container running and ready."""
    status = {
        "phase": "Running",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": "True"},
            {"type": "Ready", "status": "True"},
        ],
        "initContainerStatuses": [seed._completed(c["name"]) for c in pod["spec"].get("initContainers") or []],
        "containerStatuses": [seed._running(c["name"], c["image"]) for c in pod["spec"]["containers"]],
    }
    return _patch_status(cluster, pod, status)


def mark_init_failing(cluster: Cluster, pod: JSON, exit_code: int) -> JSON:
    """What a kubelet reports while vault-agent-init keeps exiting ``exit_code`` (patched through ``status``, there
    is no kubelet): the init container in CrashLoopBackOff, the containers waiting in PodInitializing."""
    status = {
        "phase": "Pending",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized"},
            {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady"},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
        ],
        "initContainerStatuses": [
            seed._crash_looping(c["name"], exit_code) for c in pod["spec"].get("initContainers") or []
        ],
        "containerStatuses": [seed._pod_initializing(c["name"], c["image"]) for c in pod["spec"]["containers"]],
    }
    return _patch_status(cluster, pod, status)


def _patch_status(cluster: Cluster, pod: JSON, status: JSON) -> JSON:
    name = pod["metadata"]["name"]
    reply = injector.kubectl(
        cluster.kubeconfig,
        "patch",
        "pod",
        name,
        "-n",
        NAMESPACE,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    assert reply.returncode == 0, reply.stderr
    return kubectl_json(cluster, "get", "pod", name, "-n", NAMESPACE)


def container(pod: JSON, name: str) -> JSON:
    """The container ``name`` of a Pod (or a Pod template)."""
    found: list[JSON] = [c for c in pod["spec"]["containers"] if c["name"] == name]
    assert len(found) == 1, f"the Pod has {len(found)} containers named {name}"
    return found[0]


def mount_paths(container_spec: JSON) -> list[str]:
    return [m["mountPath"] for m in container_spec.get("volumeMounts") or []]
