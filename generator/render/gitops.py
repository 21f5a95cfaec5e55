"""GitOps: one `kustomization.yaml` per cluster, listing the plain Kubernetes manifests the render wrote for it.

Argo CD and Flux build a directory holding a `kustomization.yaml` with kustomize and apply what it lists, nothing
else: pointed at a cluster's directory they apply `kubernetes/` and `monitoring/` and leave alone what a person
runs (the Vault scripts, `monitoring/vault-monitor.sh`) or hands to an installer (`vault-helm-values.yaml`, the
istiod overlay). Nothing is rendered when a cluster has no such manifest (the default config has none).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

KUSTOMIZATION = "kustomization.yaml"
# Directories of a cluster's tree holding only Kubernetes objects a controller can apply as they are.
APPLIED_DIRS = ("kubernetes/", "monitoring/")


def applied_manifests(paths: Iterable[str], prefix: str) -> list[str]:
    """The cluster's plain manifests, relative to its directory, in the order they were rendered."""
    relative = (path[len(prefix) :] for path in paths if path.startswith(prefix))
    return [path for path in relative if path.startswith(APPLIED_DIRS) and path.endswith(".yaml")]


def kustomization(resources: list[str]) -> dict[str, Any]:
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}


def header(cluster: str) -> str:
    return (
        f"Rendered by istio-vault-ca for cluster {cluster}; edit the config and re-render.\n"
        "What a GitOps controller (Argo CD, Flux) applies from this directory: only the manifests listed here.\n"
        "The Vault scripts, vault-helm-values.yaml and the istiod overlay are run or installed by hand (README.md)."
    )
