"""How `verify fleet` reaches each cluster: the kubeconfig context of every cluster (`--context CLUSTER=CONTEXT`
beside clusters[].kube_context), refused up front when it cannot mean what the user asked, and the roots read from
each cluster's istio-ca-root-cert ConfigMap.

A context the user named is a promise to read that cluster: a context the kubeconfig lacks, or a missing
kubeconfig, is a usage error (exit 2) before any request, and an API server that does not answer is an error row
(exit 3), as `verify cluster` treats them. Only a cluster with no context at all is a skip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...generator.errors import UsageError

if TYPE_CHECKING:
    from cryptography import x509

    from ...generator.config.plan import ClusterPlan
    from ..checks.fleet import KubeSeen
    from ..clients.kube import Kube


def cluster_contexts(
    plans: tuple[ClusterPlan, ...], given: tuple[tuple[str, str], ...], kubeconfig: str | None
) -> dict[str, str]:
    """Each cluster's context, the flag's before the config's. Refused as the config's rules refuse
    clusters[].kube_context twice: one context for two clusters (both would be judged from one API server), one
    cluster given twice (which one would win is a guess), and a --kubeconfig that no context reads."""
    names = [cluster.name for cluster in plans]
    flags: dict[str, str] = {}
    for name, context in given:
        if name not in names:
            known = ", ".join(names)
            raise UsageError(f"--context {name}=...: no cluster named {name!r} in the config (known: {known})")
        if name in flags:
            raise UsageError(
                f"--context {name}={flags[name]} and --context {name}={context}: give each cluster one context"
            )
        flags[name] = context
    contexts: dict[str, str] = {}
    owners: dict[str, str] = {}
    for cluster in plans:
        chosen = flags.get(cluster.name) or cluster.cluster.kube_context
        if not chosen:
            continue
        if chosen in owners:
            raise UsageError(
                f"context {chosen!r} is given for both {owners[chosen]} and {cluster.name}: each cluster has its "
                "own API server, so give each its own context (--context CLUSTER=CONTEXT or clusters[].kube_context)"
            )
        owners[chosen] = cluster.name
        contexts[cluster.name] = chosen
    if kubeconfig is not None and not contexts:
        raise UsageError(
            f"--kubeconfig {kubeconfig}: no cluster has a context to read from it; pass --context CLUSTER=CONTEXT "
            "or set clusters[].kube_context in the config"
        )
    return contexts


def connect_all(contexts: dict[str, str], kubeconfig: str | None) -> dict[str, Kube]:
    """A client per cluster with a context; a missing kubeconfig or an unknown context raises KubeConfigProblem
    (exit 2) here, before any cluster is read. No request is made yet."""
    from ..clients.kube import connect

    return {name: connect(kubeconfig, context) for name, context in contexts.items()}


def kube_seen(cluster: ClusterPlan, kube: Kube | None, context: str | None) -> KubeSeen:
    """The roots in the cluster's istio-ca-root-cert ConfigMap, or why they could not be read: no context (a
    skip), an API server that did not answer (an error), no ConfigMap (a failure: istiod never wrote it)."""
    from ...generator.errors import IvcError
    from ..checks.cluster.state import ROOT_CONFIG_MAP, ROOT_CONFIG_MAP_KEY
    from ..checks.fleet import KubeSeen
    from ..redact import redact

    if kube is None or context is None:
        return KubeSeen(None, "", "no kubeconfig context for this cluster")
    namespace = cluster.config.istiod.namespace
    source = f"configmap/{namespace}/{ROOT_CONFIG_MAP} (context {context})"
    try:
        config_map = kube.config_map(namespace, ROOT_CONFIG_MAP)
    except IvcError as error:
        return KubeSeen(None, source, f"context {context}: {redact(str(error))}", unreachable=True)
    if config_map is None:
        return KubeSeen(None, source, f"no {ROOT_CONFIG_MAP} ConfigMap in namespace {namespace}", missing=True)
    pem = ((config_map.get("data") or {}).get(ROOT_CONFIG_MAP_KEY) or "").encode()
    return KubeSeen(certificates(pem), source)


def certificates(data: bytes | str | None) -> tuple[x509.Certificate, ...]:
    """Every certificate of a PEM text (a Vault field or a ConfigMap key); none for anything else."""
    from cryptography import x509

    raw = data.encode() if isinstance(data, str) else data
    if not raw or b"-----BEGIN CERTIFICATE-----" not in raw:
        return ()
    try:
        return tuple(x509.load_pem_x509_certificates(raw))
    except ValueError:
        return ()
