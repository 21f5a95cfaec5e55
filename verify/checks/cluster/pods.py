"""istiod's pods: found, injected, the agent's init container and sidecar, and discovery ready.

Each maps a step of the source document's troubleshooting ("fails in the init phase", "fails after init",
"istiod crashes") onto a check that names the cause, reading the agent's log when it failed.
"""

from __future__ import annotations

from ....generator.config.injectors import from_pod
from ..agent_logs import last_lines
from ..registry import Tier, check
from ..result import CheckResult, failed, passed, skipped, warned
from .agent import agent_context, diagnose_agent_log
from .state import (
    DISCOVERY,
    JSON,
    ClusterState,
    ClusterView,
    LogRead,
    PodState,
    PodView,
    container_status,
    containers_of,
    deployment_target,
    dig,
    succeeded,
)
from .webhook import excluded_by, injector_webhooks


@check("cluster.pods-found", tier=Tier.SETUP, needs=("namespace_obj", "pod_listing"))
def pods_found(view: ClusterView) -> CheckResult:
    """istiod pods exist for the Deployment: without them nothing below can be judged."""
    state, plan = view.state, view.plan
    target = deployment_target(plan)
    if not state.pods:
        return failed(
            "cluster.pods-found",
            target,
            f"no running pods match the selector of Deployment {plan.config.istiod.deployment}",
            f"kubectl -n {state.namespace} describe deployment {plan.config.istiod.deployment} shows why",
        )
    names = ", ".join(pod.name for pod in state.pods)
    return passed("cluster.pods-found", target, f"{len(state.pods)} istiod pod(s): {names}")


def _is_injected(pod: PodState) -> bool:
    inj = from_pod(pod.obj)
    annotations = dig(pod.obj, "metadata", "annotations") or {}
    init_names = {c.get("name") for c in containers_of(dig(pod.obj, "spec"), "initContainers")}
    return annotations.get(inj.inject_status) == "injected" or inj.init_container in init_names


@check("cluster.pod-injected", tier=Tier.ISTIOD_REFUSES, needs=("pod",))
def pod_injected(view: PodView) -> CheckResult:
    """The injector added its containers: an uninjected pod has no CA files and istiod silently self-signs."""
    pod, state = view.pod, view.state
    inj = from_pod(pod.obj)
    check_id = "cluster.pod-injected"
    init_names = {c.get("name") for c in containers_of(dig(pod.obj, "spec"), "initContainers")}
    if _is_injected(pod):
        if inj.init_container not in init_names:
            return failed(
                check_id,
                pod.target,
                f"injected, but without the {inj.init_container} init container: istiod can start before the files "
                "exist",
                f"remove {inj.prefix}agent-pre-populate: false and re-apply the rendered overlay",
            )
        return passed(check_id, pod.target, f"injected by the {inj.name} agent injector ({inj.init_container} present)")
    return failed(check_id, pod.target, *_why_not_injected(pod, state))


def _why_not_injected(pod: PodState, state: ClusterState) -> tuple[str, str]:
    inj = from_pod(pod.obj)
    annotations = dig(pod.obj, "metadata", "annotations") or {}
    plain = f"created without the Vault agent (no {inj.init_container}, no {inj.inject_status}): istiod has no CA files"
    restart = f"kubectl -n {pod.namespace} rollout restart deployment/{_owner_deployment(pod)}"
    if str(annotations.get(inj.prefix + "agent-inject", "")).lower() != "true":
        return (
            f"{plain}; the pod lacks {inj.prefix}agent-inject: 'true'",
            "re-apply the rendered overlay so the pod template carries the annotations, then " + restart,
        )
    webhooks = injector_webhooks(state)
    if not webhooks:
        return f"{plain}; there is no injector webhook", "install the Vault agent injector, then " + restart
    webhook = webhooks[0]
    excluded = excluded_by(webhook, state)
    if excluded:
        return f"{plain}; {excluded}", "fix the injector webhook's selectors, then " + restart
    if webhook.failure_policy == "Ignore":
        return (
            f"{plain}; the injector webhook has failurePolicy Ignore, so the pod was admitted un-injected "
            "while the injector was down or unreachable, and istiod silently self-signs",
            f"make sure the injector is running, then {restart}; set injector.webhook.failurePolicy: Fail",
        )
    return (
        f"{plain}; the webhook matches the pod, so it predates the injector or the injector skipped it",
        f"check the injector's log (kubectl -n vault logs deploy/vault-agent-injector), then {restart}",
    )


def _owner_deployment(pod: PodState) -> str:
    """The Deployment name behind a ReplicaSet-owned pod (<deployment>-<hash>-<id>)."""
    for owner in dig(pod.obj, "metadata", "ownerReferences") or []:
        if owner.get("kind") == "ReplicaSet":
            return str(owner.get("name", "")).rsplit("-", 1)[0]
    return "istiod"


@check("cluster.agent-init-succeeded", tier=Tier.ISTIOD_REFUSES, needs=("pod",))
def agent_init_succeeded(view: PodView) -> CheckResult:
    """The agent's init container (vault-agent-init, openbao-agent-init) exited 0; a failed one's log is read
    and known failures become causes."""
    pod, plan = view.pod, view.plan
    inj = from_pod(pod.obj)
    check_id = "cluster.agent-init-succeeded"
    status = container_status(pod.obj, inj.init_container, init=True)
    if not _is_injected(pod) or status is None:
        return skipped(check_id, pod.target, f"no {inj.init_container} status (see cluster.pod-injected)")
    if succeeded(status):
        return passed(check_id, pod.target, f"{inj.init_container} rendered the files and exited 0")
    state = _describe_state(status)
    log = pod.logs.get(inj.init_container, LogRead(None, "the container has not written a log yet"))
    if log.text is None:
        return failed(
            check_id,
            pod.target,
            f"{inj.init_container} {state}; its log is unavailable ({log.problem})",
            f"kubectl -n {pod.namespace} logs {pod.name} -c {inj.init_container}",
        )
    diagnosis = diagnose_agent_log(log.text, agent_context(plan))
    if diagnosis is not None:
        return failed(
            check_id,
            pod.target,
            f"{inj.init_container} {state}: {diagnosis.cause} (log: {diagnosis.evidence})",
            diagnosis.hint,
        )
    running = dig(status, "state", "running") is not None
    tail = last_lines(log.text) or "empty log"
    result = warned if running else failed
    return result(
        check_id,
        pod.target,
        f"{inj.init_container} {state}; no known failure in its log (last lines: {tail})",
        f"kubectl -n {pod.namespace} logs {pod.name} -c {inj.init_container}",
    )


def _describe_state(status: JSON) -> str:
    state = status.get("state") or {}
    last = dig(status, "lastState", "terminated") or {}
    restarts = int(status.get("restartCount") or 0)
    again = f", restarted {restarts}x" if restarts else ""
    if "terminated" in state:
        terminated = state["terminated"]
        return f"exited {terminated.get('exitCode')} ({terminated.get('reason') or 'Error'}{again})"
    if "waiting" in state:
        reason = dig(state, "waiting", "reason") or "waiting"
        code = f", last exit {last.get('exitCode')}" if last else ""
        return f"is {reason}{code}{again}"
    if "running" in state:
        return f"is still running (the agent keeps retrying{again})"
    return "has no state yet"


@check("cluster.agent-sidecar-running", tier=Tier.SETUP, needs=("pod",))
def agent_sidecar_running(view: PodView) -> CheckResult:
    """The agent sidecar keeps the files fresh (and renews its token) while istiod runs."""
    pod, plan = view.pod, view.plan
    inj = from_pod(pod.obj)
    check_id = "cluster.agent-sidecar-running"
    if plan.config.istiod.agent.pre_populate_only:
        return skipped(
            check_id,
            pod.target,
            "istiod.agent.pre_populate_only is set: no sidecar, files are rendered once at start",
            "restart istiod after rotating the intermediate",
        )
    if not _is_injected(pod):
        return skipped(check_id, pod.target, "pod was not injected (see cluster.pod-injected)")
    if inj.sidecar not in {c.get("name") for c in containers_of(dig(pod.obj, "spec"))}:
        return failed(
            check_id,
            pod.target,
            f"no {inj.sidecar} sidecar: CA files are never re-rendered, so a rotated intermediate is not picked up",
            f"remove {inj.prefix}agent-pre-populate-only from the pod template, or set "
            "istiod.agent.pre_populate_only: true in the config",
        )
    status = container_status(pod.obj, inj.sidecar)
    if status is not None and dig(status, "state", "running") is not None and status.get("ready", True):
        return passed(check_id, pod.target, f"{inj.sidecar} sidecar is running")
    if status is not None and dig(status, "state", "waiting", "reason") == "PodInitializing":
        return skipped(
            check_id, pod.target, f"{inj.sidecar} waits for the init containers (see cluster.agent-init-succeeded)"
        )
    state = _describe_state(status) if status else "has no status yet"
    log = pod.logs.get(inj.sidecar)
    diagnosis = diagnose_agent_log(log.text, agent_context(plan)) if log and log.text else None
    if diagnosis:
        return failed(check_id, pod.target, f"{inj.sidecar} {state}: {diagnosis.cause}", diagnosis.hint)
    return failed(
        check_id, pod.target, f"{inj.sidecar} {state}", f"kubectl -n {pod.namespace} logs {pod.name} -c {inj.sidecar}"
    )


@check("cluster.discovery-ready", tier=Tier.ISTIOD_REFUSES, needs=("pod",))
def discovery_ready(view: PodView) -> CheckResult:
    """istiod's discovery container is ready: a CA it refuses to load keeps it from becoming ready."""
    pod = view.pod
    check_id = "cluster.discovery-ready"
    status = container_status(pod.obj, DISCOVERY)
    if status is not None and status.get("ready"):
        return passed(check_id, pod.target, "discovery is ready")
    if status is None:
        return failed(check_id, pod.target, "the pod has no discovery container status", "is this istiod?")
    state = _describe_state(status)
    if dig(status, "state", "waiting", "reason") == "PodInitializing":
        return failed(
            check_id,
            pod.target,
            f"discovery {state}: the init containers have not finished",
            "see cluster.agent-init-succeeded",
        )
    return failed(
        check_id,
        pod.target,
        f"discovery is not ready: {state}",
        f"kubectl -n {pod.namespace} logs {pod.name} -c {DISCOVERY}",
    )
