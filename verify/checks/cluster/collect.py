"""Reading the cluster once: everything the cluster checks need, as API-shaped dicts, and what each istiod pod
holds (its CA files, read inside it with kubectl exec, and the Istio release of its image). Nothing is judged
here: the judge (`runner.run`) reads only the state this returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ....generator.config.injectors import from_pod
from .state import (
    DISCOVERY,
    JSON,
    ROOT_CONFIG_MAP,
    SYSTEM_NAMESPACES,
    CaFilesRead,
    ClusterState,
    LogRead,
    MergedCr,
    PodState,
    RootConfigMap,
    ZtunnelRead,
    container_status,
    dig,
    started,
    succeeded,
)

if TYPE_CHECKING:
    from ....generator.config.plan import ClusterPlan
    from ...clients.kube import Kube, KubeTarget
    from ..chain.versions import IstioVersion


def collect(
    kube: Kube,
    plan: ClusterPlan,
    *,
    merged_cr: MergedCr | None = None,
    only_pod: str | None = None,
) -> ClusterState:
    """Read everything the checks need, once. Access problems raise `clients.kube.KubeAccessError`.

    `merged_cr`: the `--merged-cr` file the run read before any network work. `only_pod`: the one istiod pod
    (by name) to collect, as the pytest-testinfra suite judges its host's pod alone; the other pods are listed
    but neither read nor kept. Each kept pod's CA files are read inside it with kubectl, told `kube.target`."""
    istiod = plan.config.istiod
    namespace = istiod.namespace
    namespace_obj = kube.namespace(namespace)
    if namespace_obj is None:
        return ClusterState(namespace, None, None, None, webhooks=tuple(kube.mutating_webhooks()), merged_cr=merged_cr)
    deployment = kube.deployment(namespace, istiod.deployment)
    pods: tuple[PodState, ...] = ()
    if deployment is not None:
        selector = dig(deployment, "spec", "selector", "matchLabels") or {}
        listed = [pod for pod in kube.pods(namespace, selector) if _live(pod)]
        if only_pod is not None:
            listed = [pod for pod in listed if _pod_name(pod) == only_pod]
        pods = tuple(_pod_state(kube, pod, plan) for pod in sorted(listed, key=_pod_name))
    config_maps, workload_problem = _root_config_maps(kube, namespace)
    return ClusterState(
        namespace=namespace,
        namespace_obj=namespace_obj,
        service_account=kube.service_account(namespace, istiod.service_account),
        deployment=deployment,
        pods=pods,
        webhooks=tuple(kube.mutating_webhooks()),
        root_config_maps=config_maps,
        workload_namespace_problem=workload_problem,
        merged_cr=merged_cr,
        ztunnel=_ztunnel(kube, namespace) if plan.data_plane == "ambient" else None,
    )


def read_pod_ca_files(pod: JSON, plan: ClusterPlan, target: KubeTarget) -> CaFilesRead:
    """The four files as istiod sees them, read with kubectl exec through testinfra: through discovery, else
    through the agent sidecar, which mounts the same vault-secrets volume and has a shell when istiod's image is
    distroless. A failed read is kept as its problem for the judge to report, never raised."""
    from ....generator.errors import PodFilesError
    from ...clients.podfiles import read_in_pod

    ca_dir = plan.config.istiod.ca_dir
    name, namespace = _pod_name(pod) or "?", _namespace_of(pod) or "?"
    where = f"pod/{namespace}/{name}:{ca_dir}"
    if dig(container_status(pod, DISCOVERY), "state", "running") is None:
        return CaFilesRead(where)
    containers = [DISCOVERY]
    sidecar = from_pod(pod).sidecar  # vault-agent, or openbao-agent for openbao-k8s
    if dig(container_status(pod, sidecar), "state", "running") is not None:
        containers.append(sidecar)
    try:
        files = read_in_pod(
            name, namespace, containers, ca_dir, kubeconfig=target.kubeconfig, context=target.context, target=where
        )
    except PodFilesError as error:
        return CaFilesRead(where, problem=str(error), hint=error.hint)
    return CaFilesRead(where, files)


def image_release(pod: JSON) -> IstioVersion | None:
    """The Istio release of the pod's discovery container, from its image tag (`pilot:1.24.3-distroless`); None
    when the tag names no release (a digest, `latest`)."""
    from ..chain import parse_version

    for container in dig(pod, "spec", "containers") or []:
        if container.get("name") == DISCOVERY:
            image = str(container.get("image", ""))
            tag = image.rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]
            try:
                return parse_version(tag)
            except ValueError:
                return None
    return None


ZTUNNEL_DAEMONSET = "ztunnel"


def _ztunnel(kube: Kube, namespace: str) -> ZtunnelRead:
    """Istio's ztunnel chart installs the DaemonSet `ztunnel` beside istiod (istio-system by default). A read the
    token is not allowed (403: RBAC on daemonsets, which the other reads do not need) is reported by the ztunnel
    checks as a skip; any other access problem (server gone, credentials) stops the run as every read's does."""
    from ....generator.errors import KubeAccessError

    try:
        return ZtunnelRead(namespace, ZTUNNEL_DAEMONSET, kube.daemon_set(namespace, ZTUNNEL_DAEMONSET))
    except KubeAccessError as error:
        if "(403)" not in str(error):
            raise
        return ZtunnelRead(namespace, ZTUNNEL_DAEMONSET, None, str(error))


def _pod_name(pod: JSON) -> str:
    return str(dig(pod, "metadata", "name") or "")


def _live(pod: JSON) -> bool:
    """Terminating and finished (evicted) pods say nothing about the running istiod."""
    return dig(pod, "metadata", "deletionTimestamp") is None and dig(pod, "status", "phase") not in (
        "Succeeded",
        "Failed",
    )


def _pod_state(kube: Kube, pod: JSON, plan: ClusterPlan) -> PodState:
    logs = _pod_logs(kube, pod)
    files = read_pod_ca_files(pod, plan, kube.target)
    return PodState(pod, logs, _recent_logs(kube, pod, logs), ca_files=files, release=image_release(pod))


def _recent_logs(kube: Kube, pod: JSON, heads: dict[str, LogRead]) -> dict[str, LogRead]:
    """discovery's last lines, read only when its head was cut at the read limit (else the head is the whole
    log): a CA reload is logged whenever the files change, long after the start-up lines."""
    from ....generator.errors import LogUnavailable
    from ...clients.kube import LOG_HEAD_BYTES, LOG_TAIL_LINES

    head = heads.get(DISCOVERY)
    if head is None or head.text is None or len(head.text.encode()) < LOG_HEAD_BYTES:
        return {}
    try:
        tail = kube.log(_namespace_of(pod), _pod_name(pod), DISCOVERY, tail_lines=LOG_TAIL_LINES)
    except LogUnavailable as error:
        return {DISCOVERY: LogRead(None, str(error))}
    return {DISCOVERY: LogRead(tail)}


def _pod_logs(kube: Kube, pod: JSON) -> dict[str, LogRead]:
    """discovery's log always (once started); the agent's only when it did not succeed."""
    from ....generator.errors import LogUnavailable

    logs: dict[str, LogRead] = {}
    wanted = []
    if started(container_status(pod, DISCOVERY)):
        wanted.append(DISCOVERY)
    injector = from_pod(pod)
    init = container_status(pod, injector.init_container, init=True)
    if init is not None and not succeeded(init) and started(init):
        wanted.append(injector.init_container)
    sidecar = container_status(pod, injector.sidecar)
    if sidecar is not None and dig(sidecar, "state", "running") is None and started(sidecar):
        wanted.append(injector.sidecar)
    for container in wanted:
        try:
            logs[container] = LogRead(kube.log(_namespace_of(pod), _pod_name(pod), container))
        except LogUnavailable as error:
            logs[container] = LogRead(None, str(error))
    return logs


def _namespace_of(pod: JSON) -> str:
    return str(dig(pod, "metadata", "namespace") or "")


def _root_config_maps(kube: Kube, namespace: str) -> tuple[tuple[RootConfigMap, ...], str]:
    """istiod's own namespace plus one workload namespace (injection-labelled first)."""
    maps = [RootConfigMap(namespace, kube.config_map(namespace, ROOT_CONFIG_MAP), "istiod's namespace")]
    sample, why = _sample_workload_namespace(kube, namespace)
    if sample is None:
        return tuple(maps), why
    maps.append(RootConfigMap(sample, kube.config_map(sample, ROOT_CONFIG_MAP), why))
    return tuple(maps), ""


def _sample_workload_namespace(kube: Kube, istiod_namespace: str) -> tuple[str | None, str]:
    from lightkube.operators import exists

    for labels, why in (
        ({"istio-injection": "enabled"}, "labelled istio-injection=enabled"),
        ({"istio.io/rev": exists()}, "labelled istio.io/rev"),
    ):
        names = sorted(
            str(dig(ns, "metadata", "name"))
            for ns in kube.namespaces(labels)
            if dig(ns, "metadata", "name") not in SYSTEM_NAMESPACES | {istiod_namespace}
        )
        if names:
            return names[0], f"sampled workload namespace ({why})"
    return None, "no workload namespace is labelled istio-injection=enabled or istio.io/rev"
