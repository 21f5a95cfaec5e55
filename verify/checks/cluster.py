"""Checks that istiod in a live cluster really runs on the Vault CA, each a small function with a stable id.

The source document's troubleshooting is "read three logs by hand"; its worst failure is silent (istiod starts
on a self-signed CA when the files are not where it looks). Every check here names a cause and a fix.

`collect()` reads the cluster once into a `ClusterState` of API-shaped dicts; the checks are pure functions of
that state and the cluster's plan, so the CLI, the pytest-testinfra suite and the tests share them.
"""

from __future__ import annotations

import posixpath
import re
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from istio_vault_ca.verify.checks.agent_logs import Finding, Kind, evidence, find, last_lines
from istio_vault_ca.verify.checks.result import CheckResult, errored, failed, passed, skipped, warned

if TYPE_CHECKING:
    from istio_vault_ca.generator.config.plan import ClusterPlan
    from istio_vault_ca.verify.clients.kube import Kube
    from istio_vault_ca.verify.clients.podfiles import PodFiles

JSON = dict[str, Any]

ANNOTATION_PREFIX = "vault.hashicorp.com/"
INJECT_STATUS = "vault.hashicorp.com/agent-inject-status"
SECRET_VOLUME_PATH = "vault.hashicorp.com/secret-volume-path"
DEFAULT_SECRET_VOLUME_PATH = "/vault/secrets"  # vault-k8s default when the annotation is absent
INIT_CONTAINER = "vault-agent-init"
SIDECAR = "vault-agent"
DISCOVERY = "discovery"
ISTIOD_DEFAULT_CA_DIR = "/etc/cacerts"  # ROOT_CA_DIR's default (./etc/cacerts from /)
ROOT_CONFIG_MAP = "istio-ca-root-cert"
ROOT_CONFIG_MAP_KEY = "root-cert.pem"
INJECTOR_WEBHOOK = "vault.hashicorp.com"
INJECTOR_CONFIG_SUFFIX = "-agent-injector-cfg"
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})


# ---------------------------------------------------------------------- state


@dataclass(frozen=True)
class LogRead:
    """One container's log head, or why it could not be read."""

    text: str | None
    problem: str = ""


@dataclass(frozen=True)
class PodState:
    obj: JSON
    logs: Mapping[str, LogRead] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(dig(self.obj, "metadata", "name") or "?")

    @property
    def namespace(self) -> str:
        return str(dig(self.obj, "metadata", "namespace") or "?")

    @property
    def target(self) -> str:
        return f"pod/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class RootConfigMap:
    namespace: str
    obj: JSON | None
    why_sampled: str


@dataclass(frozen=True)
class VaultRoot:
    """Vault's root certificate as the agent template reads it, or why we could not read it."""

    pem: bytes | None
    source: str
    problem: str = ""


@dataclass(frozen=True)
class ClusterState:
    namespace: str
    namespace_obj: JSON | None
    service_account: JSON | None
    deployment: JSON | None
    pods: tuple[PodState, ...] = ()
    webhooks: tuple[JSON, ...] = ()
    root_config_maps: tuple[RootConfigMap, ...] = ()
    workload_namespace_problem: str = ""


def dig(obj: Any, *keys: str | int) -> Any:
    """obj[k1][k2]... or None when any step is missing: API objects omit empty fields."""
    for key in keys:
        if isinstance(obj, Mapping) and isinstance(key, str):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and -len(obj) <= key < len(obj):
            obj = obj[key]
        else:
            return None
    return obj


def collect(kube: Kube, plan: ClusterPlan) -> ClusterState:
    """Read everything the checks need, once. Access problems raise `clients.kube.KubeAccessError`."""
    istiod = plan.config.istiod
    namespace = istiod.namespace
    namespace_obj = kube.namespace(namespace)
    if namespace_obj is None:
        return ClusterState(namespace, None, None, None, webhooks=tuple(kube.mutating_webhooks()))
    deployment = kube.deployment(namespace, istiod.deployment)
    pods: tuple[PodState, ...] = ()
    if deployment is not None:
        selector = dig(deployment, "spec", "selector", "matchLabels") or {}
        listed = [pod for pod in kube.pods(namespace, selector) if _live(pod)]
        pods = tuple(PodState(pod, _pod_logs(kube, pod)) for pod in sorted(listed, key=_pod_name))
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
    )


def _pod_name(pod: JSON) -> str:
    return str(dig(pod, "metadata", "name") or "")


def _live(pod: JSON) -> bool:
    """Terminating and finished (evicted) pods say nothing about the running istiod."""
    return dig(pod, "metadata", "deletionTimestamp") is None and dig(pod, "status", "phase") not in (
        "Succeeded",
        "Failed",
    )


def _pod_logs(kube: Kube, pod: JSON) -> dict[str, LogRead]:
    """discovery's log always (once started); the agent's only when it did not succeed."""
    from istio_vault_ca.generator.errors import LogUnavailable

    logs: dict[str, LogRead] = {}
    wanted = []
    if _started(container_status(pod, DISCOVERY)):
        wanted.append(DISCOVERY)
    init = container_status(pod, INIT_CONTAINER, init=True)
    if init is not None and not _succeeded(init) and _started(init):
        wanted.append(INIT_CONTAINER)
    sidecar = container_status(pod, SIDECAR)
    if sidecar is not None and dig(sidecar, "state", "running") is None and _started(sidecar):
        wanted.append(SIDECAR)
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


# ---------------------------------------------------------------------- small readers


def container_status(pod: JSON, name: str, *, init: bool = False) -> JSON | None:
    key = "initContainerStatuses" if init else "containerStatuses"
    for status in dig(pod, "status", key) or []:
        if status.get("name") == name:
            return dict(status)
    return None


def _started(status: JSON | None) -> bool:
    """The container ran at least once, so it has a log."""
    if status is None:
        return False
    state = status.get("state") or {}
    return bool("running" in state or "terminated" in state or "terminated" in (status.get("lastState") or {}))


def _succeeded(status: JSON) -> bool:
    return bool(dig(status, "state", "terminated", "exitCode") == 0)


def _containers(spec: JSON | None, key: str = "containers") -> list[JSON]:
    return [dict(c) for c in (dig(spec, key) or []) if isinstance(c, Mapping)]


def discovery_container(pod_spec: JSON | None) -> JSON | None:
    """istiod's container is named `discovery` in every chart; fall back to the first container."""
    containers = _containers(pod_spec)
    named = [c for c in containers if c.get("name") == DISCOVERY]
    return named[0] if named else (containers[0] if containers else None)


def _env_value(container: JSON | None, name: str) -> tuple[bool, str | None]:
    """(present, literal value); a valueFrom reference is present with no literal value."""
    for item in dig(container, "env") or []:
        if item.get("name") == name:
            return True, item.get("value") if "valueFrom" not in item else None
    return False, None


def _norm(path: str) -> str:
    return posixpath.normpath(path) if path else path


def _short(value: str, limit: int = 60) -> str:
    one_line = value.replace("\n", "\\n")
    return repr(one_line if len(one_line) <= limit else one_line[: limit - 1] + "…")


def _deployment_target(plan: ClusterPlan) -> str:
    return f"deployment/{plan.config.istiod.namespace}/{plan.config.istiod.deployment}"


def _template(state: ClusterState) -> JSON:
    return dig(state.deployment, "spec", "template") or {}


# ---------------------------------------------------------------------- cluster-level checks


def namespace_exists(state: ClusterState, plan: ClusterPlan) -> CheckResult:
    target = f"namespace/{state.namespace}"
    if state.namespace_obj is None:
        return failed(
            "cluster.namespace-exists",
            target,
            f"namespace {state.namespace} does not exist in this cluster",
            "install istiod there, set istiod.namespace in the config, or pick the right --context",
        )
    return passed("cluster.namespace-exists", target, f"namespace {state.namespace} exists")


def service_account_exists(state: ClusterState, plan: ClusterPlan) -> CheckResult:
    name = plan.config.istiod.service_account
    target = f"serviceaccount/{state.namespace}/{name}"
    if state.service_account is not None:
        return passed("cluster.service-account-exists", target, f"service account {name} exists")
    actual = _deployment_service_account(state)
    hint = (
        f"istiod runs as {actual}: set istiod.service_account: {actual} and re-run vault/05-kubernetes-auth.sh"
        if actual and actual != name
        else "the Vault role binds this name; the Istio charts name it `istiod` since 1.11 "
        "(`istiod-service-account` is the older name the source document uses)"
    )
    return failed(
        "cluster.service-account-exists",
        target,
        f"service account {name} (bound to Vault role {plan.cluster.role}) does not exist in {state.namespace}",
        hint,
    )


def deployment_exists(state: ClusterState, plan: ClusterPlan) -> CheckResult:
    target = _deployment_target(plan)
    if state.deployment is None:
        return failed(
            "cluster.deployment-exists",
            target,
            f"no Deployment {plan.config.istiod.deployment} in {state.namespace}",
            "set istiod.deployment to the istiod Deployment's name (istiod-<revision> with revisions)",
        )
    return passed("cluster.deployment-exists", target, f"Deployment {plan.config.istiod.deployment} exists")


def _deployment_service_account(state: ClusterState) -> str | None:
    if state.deployment is None:
        return None
    spec = dig(_template(state), "spec") or {}
    return str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")


def deployment_service_account(state: ClusterState, plan: ClusterPlan) -> CheckResult:
    expected = plan.config.istiod.service_account
    actual = _deployment_service_account(state)
    target = _deployment_target(plan)
    if actual == expected:
        return passed("cluster.deployment-service-account", target, f"istiod runs as service account {expected}")
    return failed(
        "cluster.deployment-service-account",
        target,
        f"istiod runs as service account {actual}, but Vault role {plan.cluster.role} binds {expected}: "
        "the agent's login is refused (service account name not authorized)",
        f"set istiod.service_account: {actual} in the config and re-run vault/05-kubernetes-auth.sh, "
        f"or make the Deployment use {expected}",
    )


def annotations_match(state: ClusterState, plan: ClusterPlan) -> CheckResult:
    """Exactly the rendered vault.hashicorp.com/* annotations: a hand edit drifts from the config silently."""
    rendered = plan.annotations()
    actual = {
        str(k): str(v)
        for k, v in (dig(_template(state), "metadata", "annotations") or {}).items()
        if str(k).startswith(ANNOTATION_PREFIX)
    }
    missing = sorted(rendered.keys() - actual.keys())
    extra = sorted(actual.keys() - rendered.keys())
    differing = sorted(k for k in rendered.keys() & actual.keys() if rendered[k] != actual[k])
    target = _deployment_target(plan)
    if not (missing or extra or differing):
        return passed(
            "cluster.annotations-match",
            target,
            f"the pod template carries exactly the {len(rendered)} rendered annotations",
        )
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if extra:
        parts.append("extra " + ", ".join(f"{k}={_short(actual[k])}" for k in extra))
    if differing:
        parts.append(
            "differing " + ", ".join(f"{k} is {_short(actual[k])}, rendered {_short(rendered[k])}" for k in differing)
        )
    return failed(
        "cluster.annotations-match",
        target,
        "pod template annotations differ from the render: " + "; ".join(parts),
        "re-apply the rendered istiod overlay (out/istiod/) instead of editing annotations by hand; "
        "change the config and re-render when a value must change",
    )


def root_ca_dir_matches_volume_path(state: ClusterState, plan: ClusterPlan) -> CheckResult:
    """ROOT_CA_DIR (where istiod looks) must be secret-volume-path (where the agent writes)."""
    check_id = "cluster.root-ca-dir-matches-volume-path"
    target = _deployment_target(plan)
    template = _template(state)
    annotations = dig(template, "metadata", "annotations") or {}
    volume_path = _norm(str(annotations.get(SECRET_VOLUME_PATH) or DEFAULT_SECRET_VOLUME_PATH))
    present, root_ca_dir = _env_value(discovery_container(dig(template, "spec")), "ROOT_CA_DIR")
    silent = "istiod finds no CA files there and silently falls back to a self-signed CA"
    fix = f"set both from the config's istiod.ca_dir ({plan.config.istiod.ca_dir}) by re-applying the rendered overlay"
    if not present:
        return failed(
            check_id,
            target,
            f"ROOT_CA_DIR is not set on the discovery container: istiod reads {ISTIOD_DEFAULT_CA_DIR} while the "
            f"agent writes to {volume_path}; {silent}",
            fix,
        )
    if root_ca_dir is None:
        return warned(
            check_id,
            target,
            "ROOT_CA_DIR comes from valueFrom, so its value cannot be compared here",
            f"make it the literal {volume_path}",
        )
    overridden = _per_file_volume_paths(annotations, volume_path)
    if _norm(root_ca_dir) != volume_path:
        return failed(
            check_id,
            target,
            f"istiod reads ROOT_CA_DIR={root_ca_dir} but the agent writes the files to secret-volume-path "
            f"{volume_path}; {silent}",
            fix,
        )
    if overridden:
        return failed(
            check_id,
            target,
            f"per-file secret-volume-path annotations move {', '.join(overridden)} out of {volume_path}; {silent}",
            "remove the vault.hashicorp.com/secret-volume-path-<file> annotations",
        )
    if volume_path != _norm(plan.config.istiod.ca_dir):
        return warned(
            check_id,
            target,
            f"ROOT_CA_DIR and secret-volume-path agree on {volume_path}, but the config says "
            f"{plan.config.istiod.ca_dir}",
            "update istiod.ca_dir in the config (and re-render) or re-apply the overlay",
        )
    return passed(check_id, target, f"ROOT_CA_DIR and secret-volume-path are both {volume_path}")


def _per_file_volume_paths(annotations: Mapping[str, Any], volume_path: str) -> list[str]:
    prefix = SECRET_VOLUME_PATH + "-"
    return sorted(
        f"{key[len(prefix) :]} (to {value})"
        for key, value in annotations.items()
        if str(key).startswith(prefix) and _norm(str(value)) != volume_path
    )


# ---------------------------------------------------------------------- injector webhook


@dataclass(frozen=True)
class InjectorWebhook:
    config_name: str
    webhook: JSON

    @property
    def failure_policy(self) -> str:
        # admissionregistration.k8s.io/v1 defaults failurePolicy to Fail.
        return str(self.webhook.get("failurePolicy") or "Fail")


def injector_webhooks(state: ClusterState) -> list[InjectorWebhook]:
    """The Vault chart's webhook (named vault.hashicorp.com in <release>-agent-injector-cfg)."""
    found = []
    for config in state.webhooks:
        config_name = str(dig(config, "metadata", "name") or "")
        for webhook in config.get("webhooks") or []:
            if webhook.get("name") == INJECTOR_WEBHOOK or config_name.endswith(INJECTOR_CONFIG_SUFFIX):
                found.append(InjectorWebhook(config_name, dict(webhook)))
    return found


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes LabelSelector semantics; an empty or absent selector matches everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_expression_matches(e, labels) for e in selector.get("matchExpressions") or [])


def _expression_matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator, values = str(expression.get("key")), expression.get("operator"), expression.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False


def _namespace_labels(state: ClusterState) -> dict[str, str]:
    labels = dict(dig(state.namespace_obj, "metadata", "labels") or {})
    labels.setdefault("kubernetes.io/metadata.name", state.namespace)
    return labels


def _excluded_by(webhook: InjectorWebhook, state: ClusterState) -> str:
    """Why the webhook would not see istiod's pods, or '' when it would."""
    if not selector_matches(webhook.webhook.get("namespaceSelector"), _namespace_labels(state)):
        return f"its namespaceSelector does not match namespace {state.namespace}"
    pod_labels = dig(_template(state), "metadata", "labels") or {}
    if state.deployment is not None and not selector_matches(webhook.webhook.get("objectSelector"), pod_labels):
        return "its objectSelector does not match istiod's pod labels"
    return ""


def injector_webhook(state: ClusterState, plan: ClusterPlan) -> CheckResult:
    check_id = "cluster.injector-webhook"
    webhooks = injector_webhooks(state)
    if not webhooks:
        return failed(
            check_id,
            "mutatingwebhookconfigurations",
            "no Vault agent injector webhook (no MutatingWebhookConfiguration with webhook vault.hashicorp.com): "
            "istiod pods start without the agent and istiod self-signs",
            "install the Vault Helm chart with the injector enabled (values in vault-helm-values.yaml)",
        )
    webhook = webhooks[0]
    target = f"mutatingwebhookconfiguration/{webhook.config_name}"
    excluded = _excluded_by(webhook, state)
    if excluded:
        return failed(
            check_id,
            target,
            f"the injector webhook never sees istiod's pods: {excluded}",
            "fix the webhook's selectors in the Vault Helm values (injector.namespaceSelector/objectSelector)",
        )
    if webhook.failure_policy == "Ignore":
        return warned(
            check_id,
            target,
            "failurePolicy is Ignore: whenever the injector is down or slow, istiod pods are created without "
            "the Vault agent, find no CA files and istiod silently signs with a self-signed CA",
            "set injector.webhook.failurePolicy: Fail in the Vault Helm values (keep the injector's own "
            "namespace out of its namespaceSelector so it can still start)",
        )
    return passed(check_id, target, f"injector webhook present, failurePolicy {webhook.failure_policy}")


# ---------------------------------------------------------------------- pods


def pods_found(state: ClusterState, plan: ClusterPlan) -> CheckResult:
    target = _deployment_target(plan)
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
    annotations = dig(pod.obj, "metadata", "annotations") or {}
    init_names = {c.get("name") for c in _containers(dig(pod.obj, "spec"), "initContainers")}
    return annotations.get(INJECT_STATUS) == "injected" or INIT_CONTAINER in init_names


def pod_injected(pod: PodState, state: ClusterState, plan: ClusterPlan) -> CheckResult:
    check_id = "cluster.pod-injected"
    init_names = {c.get("name") for c in _containers(dig(pod.obj, "spec"), "initContainers")}
    if _is_injected(pod):
        if INIT_CONTAINER not in init_names:
            return failed(
                check_id,
                pod.target,
                f"injected, but without the {INIT_CONTAINER} init container: istiod can start before the files exist",
                "remove vault.hashicorp.com/agent-pre-populate: false and re-apply the rendered overlay",
            )
        return passed(check_id, pod.target, f"injected by the Vault agent injector ({INIT_CONTAINER} present)")
    return failed(check_id, pod.target, *_why_not_injected(pod, state))


def _why_not_injected(pod: PodState, state: ClusterState) -> tuple[str, str]:
    annotations = dig(pod.obj, "metadata", "annotations") or {}
    plain = f"created without the Vault agent (no {INIT_CONTAINER}, no {INJECT_STATUS}): istiod has no CA files"
    restart = f"kubectl -n {pod.namespace} rollout restart deployment/{_owner_deployment(pod)}"
    if str(annotations.get("vault.hashicorp.com/agent-inject", "")).lower() != "true":
        return (
            f"{plain}; the pod lacks vault.hashicorp.com/agent-inject: 'true'",
            "re-apply the rendered overlay so the pod template carries the annotations, then " + restart,
        )
    webhooks = injector_webhooks(state)
    if not webhooks:
        return f"{plain}; there is no injector webhook", "install the Vault agent injector, then " + restart
    webhook = webhooks[0]
    excluded = _excluded_by(webhook, state)
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


@dataclass(frozen=True)
class AgentContext:
    """What the agent-log hints name: the values the config expects."""

    role: str
    auth_path: str
    service_account: str
    namespace: str
    policy: str
    vault_address: str


@dataclass(frozen=True)
class AgentDiagnosis:
    cause: str
    hint: str
    evidence: str


def diagnose_agent_log(log: str, ctx: AgentContext) -> AgentDiagnosis | None:
    """The first known failure in an agent log as a cause and a fix, or None when nothing is recognised."""
    found = find(log)
    if found is None:
        return None
    cause, hint = _explain_agent_failure(found, ctx)
    return AgentDiagnosis(cause, hint, found.evidence)


def _explain_agent_failure(found: Finding, ctx: AgentContext) -> tuple[str, str]:
    kind = found.kind
    if kind is Kind.LOGIN_DENIED:
        return (
            f"Vault refused the Kubernetes login at {ctx.auth_path}/login: permission denied "
            "(it could not validate the pod's service-account token)",
            "the token reviewer cannot call TokenReview (it needs the system:auth-delegator ClusterRole), or "
            f"{ctx.auth_path}/config has the wrong kubernetes_host or CA: re-run vault/05-kubernetes-auth.sh",
        )
    if kind is Kind.READ_DENIED:
        return (
            f"the Vault policy does not let role {ctx.role} read {found.path} (403 permission denied)",
            f"policy {ctx.policy} must grant read on {found.path} and be in the role's token_policies: "
            "re-run vault/06-policy.sh and vault/05-kubernetes-auth.sh (KV v2 paths need data/ in the policy)",
        )
    if kind is Kind.ROLE_MISSING:
        return (
            f"Vault has no role {found.role} at {ctx.auth_path}",
            f"create it with vault/05-kubernetes-auth.sh, or set vault.hashicorp.com/role to {ctx.role}",
        )
    if kind is Kind.SA_NOT_BOUND:
        return (
            f"the service account istiod runs as is not bound to role {ctx.role} (service account name not authorized)",
            f"the role binds {ctx.service_account}: make istiod run as it, or set istiod.service_account to the "
            "Deployment's serviceAccountName and re-run vault/05-kubernetes-auth.sh",
        )
    if kind is Kind.NS_NOT_BOUND:
        return (
            f"istiod's namespace is not bound to role {ctx.role} (namespace not authorized)",
            f"the role binds namespace {ctx.namespace}: fix istiod.namespace and re-run vault/05-kubernetes-auth.sh",
        )
    if kind is Kind.AUTH_UNCONFIGURED:
        return (
            f"the Kubernetes auth method at {ctx.auth_path} has no config",
            f"write {ctx.auth_path}/config with vault/05-kubernetes-auth.sh",
        )
    if kind is Kind.NO_TOKEN:
        return (
            "the agent found no service-account token to log in with",
            "do not set automountServiceAccountToken: false on istiod's pod (or point "
            "vault.hashicorp.com/agent-service-account-token-volume-name at a projected token)",
        )
    if kind is Kind.LOGIN_ERROR:
        return (
            f"Vault refused the Kubernetes login at {ctx.auth_path}/login: {found.message} (HTTP {found.code})",
            f"check role {ctx.role} with `vault read {ctx.auth_path}/role/{ctx.role}` and "
            f"{ctx.auth_path}/config: re-run vault/05-kubernetes-auth.sh",
        )
    if kind is Kind.READ_ERROR:
        return (
            f"reading {found.path} failed: {found.message} (HTTP {found.code})",
            f"the vault/ setup scripts must leave what the templates read at {found.path}: check "
            f"`vault read {found.path}` and re-run them",
        )
    if kind is Kind.MISSING_KEY:
        return (
            f"a template read a key the secret does not have ({found.text})",
            "kv.version in the config must match the KV mount (v1 reads .Data, v2 reads .Data.data) and the key "
            "must be stored under the name the template reads: re-run vault/03-kv.sh and re-render",
        )
    if kind is Kind.PARSE_ERROR:
        return (
            f"a template does not parse ({found.message})",
            "an agent-inject-template-* annotation is not a valid consul-template: re-render and re-apply the "
            "istiod overlay",
        )
    if kind is Kind.TLS:
        return (
            f"TLS to Vault failed ({found.text})",
            "give the agent Vault's CA (vault.hashicorp.com/ca-cert or tls-secret), check the name in "
            f"{ctx.vault_address or 'vault.hashicorp.com/service'} matches the certificate, or use http:// if "
            "Vault serves plain HTTP",
        )
    if kind is Kind.UNREACHABLE:
        return (
            f"the agent cannot reach Vault ({found.text})",
            f"check the address the agent uses ({ctx.vault_address or 'the injector default'}; set "
            "vault.address/agent_address in the config), the Vault service and NetworkPolicies",
        )
    return (
        "Vault answered permission denied",
        f"check role {ctx.role} and policy {ctx.policy} with `vault read {ctx.auth_path}/role/{ctx.role}`",
    )


def _agent_context(plan: ClusterPlan) -> AgentContext:
    return AgentContext(
        role=plan.cluster.role,
        auth_path=plan.auth_path,
        service_account=plan.config.istiod.service_account,
        namespace=plan.config.istiod.namespace,
        policy=plan.cluster.policy,
        vault_address=plan.config.vault.agent_address or "",
    )


def agent_init_succeeded(pod: PodState, plan: ClusterPlan) -> CheckResult:
    check_id = "cluster.agent-init-succeeded"
    status = container_status(pod.obj, INIT_CONTAINER, init=True)
    if not _is_injected(pod) or status is None:
        return skipped(check_id, pod.target, f"no {INIT_CONTAINER} status (see cluster.pod-injected)")
    if _succeeded(status):
        return passed(check_id, pod.target, f"{INIT_CONTAINER} rendered the files and exited 0")
    state = _describe_state(status)
    log = pod.logs.get(INIT_CONTAINER, LogRead(None, "the container has not written a log yet"))
    if log.text is None:
        return failed(
            check_id,
            pod.target,
            f"{INIT_CONTAINER} {state}; its log is unavailable ({log.problem})",
            f"kubectl -n {pod.namespace} logs {pod.name} -c {INIT_CONTAINER}",
        )
    diagnosis = diagnose_agent_log(log.text, _agent_context(plan))
    if diagnosis is not None:
        return failed(
            check_id,
            pod.target,
            f"{INIT_CONTAINER} {state}: {diagnosis.cause} (log: {diagnosis.evidence})",
            diagnosis.hint,
        )
    running = dig(status, "state", "running") is not None
    tail = last_lines(log.text) or "empty log"
    result = warned if running else failed
    return result(
        check_id,
        pod.target,
        f"{INIT_CONTAINER} {state}; no known failure in its log (last lines: {tail})",
        f"kubectl -n {pod.namespace} logs {pod.name} -c {INIT_CONTAINER}",
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


def agent_sidecar_running(pod: PodState, plan: ClusterPlan) -> CheckResult:
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
    if SIDECAR not in {c.get("name") for c in _containers(dig(pod.obj, "spec"))}:
        return failed(
            check_id,
            pod.target,
            f"no {SIDECAR} sidecar: CA files are never re-rendered, so a rotated intermediate is not picked up",
            "remove vault.hashicorp.com/agent-pre-populate-only from the pod template, or set "
            "istiod.agent.pre_populate_only: true in the config",
        )
    status = container_status(pod.obj, SIDECAR)
    if status is not None and dig(status, "state", "running") is not None and status.get("ready", True):
        return passed(check_id, pod.target, f"{SIDECAR} sidecar is running")
    if status is not None and dig(status, "state", "waiting", "reason") == "PodInitializing":
        return skipped(
            check_id, pod.target, f"{SIDECAR} waits for the init containers (see cluster.agent-init-succeeded)"
        )
    state = _describe_state(status) if status else "has no status yet"
    log = pod.logs.get(SIDECAR)
    diagnosis = diagnose_agent_log(log.text, _agent_context(plan)) if log and log.text else None
    if diagnosis:
        return failed(check_id, pod.target, f"{SIDECAR} {state}: {diagnosis.cause}", diagnosis.hint)
    return failed(
        check_id, pod.target, f"{SIDECAR} {state}", f"kubectl -n {pod.namespace} logs {pod.name} -c {SIDECAR}"
    )


def discovery_ready(pod: PodState, plan: ClusterPlan) -> CheckResult:
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


# ---------------------------------------------------------------------- istiod's own account of its CA


@dataclass(frozen=True)
class _Signal:
    pattern: re.Pattern[str]
    releases: str


_PATH = r"(?P<path>[^\s\"',;]+)"
PLUGGED_IN: tuple[_Signal, ...] = (
    _Signal(re.compile(r"DNS certs use plugged-in cert at " + _PATH), "1.21-1.22"),
    _Signal(re.compile(r"Use plugged-in cert at " + _PATH), "1.10-1.20"),
    _Signal(re.compile(r"Use root cert from " + _PATH), "1.23+"),
    _Signal(re.compile(r"Use local CA certificate"), "1.10+"),
)
SELF_SIGNED: tuple[_Signal, ...] = (
    _Signal(re.compile(r"Use self-signed certificate as the CA certificate"), "1.10+"),
    _Signal(re.compile(r"No plugged-in cert at \S+; self-signed cert is used"), "1.10-1.19"),
    _Signal(re.compile(r"Use istio-generated cacerts at \S+ or istio-ca-secret"), "1.20-1.22"),
    _Signal(re.compile(r"Use roots from istio-ca-secret"), "1.23+"),
    _Signal(re.compile(r"Use roots from \S+ and watch"), "1.23+ (istio-generated cacerts)"),
    _Signal(re.compile(r"Use local self-signed CA certificate"), "1.10-1.14"),
    _Signal(re.compile(r"IstioGenerated \S+ secret found, use it as the CA certificate"), "1.21+"),
    _Signal(re.compile(r"CASecret \S+ not found, will create one"), "1.10+"),
    _Signal(re.compile(r"Load signing key and cert from existing secret"), "1.10+"),
)
CA_FAILURES: tuple[_Signal, ...] = (
    _Signal(re.compile(r"incomplete signing CA bundle detected"), "1.27+"),
    _Signal(re.compile(r"failed to create an istiod CA[^\n]*"), "1.10+"),
    _Signal(re.compile(r"unable to determine signing file format[^\n]*"), "1.15+"),
    _Signal(re.compile(r"Failed to update new Plug-in CA certs[^\n]*"), "1.13+"),
)


def _first(signals: Iterable[_Signal], text: str) -> re.Match[str] | None:
    matches = [m for m in (s.pattern.search(text) for s in signals) if m]
    return min(matches, key=lambda m: m.start()) if matches else None


def istiod_ca_log(pod: PodState, plan: ClusterPlan) -> CheckResult:
    """What istiod says it loaded, in the wording of any release from 1.10 to today."""
    check_id = "cluster.istiod-ca-log"
    log = pod.logs.get(DISCOVERY)
    if log is None:
        return skipped(check_id, pod.target, "discovery has not started, so it has not chosen a CA yet")
    if log.text is None:
        return errored(
            check_id,
            pod.target,
            f"cannot read discovery's log: {log.problem}",
            f"kubectl -n {pod.namespace} logs {pod.name} -c {DISCOVERY}",
        )
    text = log.text
    ca_dir = _norm(plan.config.istiod.ca_dir)
    problem = _first(CA_FAILURES, text)
    if problem:
        return failed(
            check_id,
            pod.target,
            f"istiod could not load the plugged-in CA: {evidence(text, problem.start())}",
            "all four files must be present and valid: see pod.ca-files-present and the chain.* checks",
        )
    fallback = _first(SELF_SIGNED, text)
    if fallback:
        return failed(
            check_id,
            pod.target,
            "istiod fell back to a self-signed CA, not the Vault intermediate "
            f"(log: {evidence(text, fallback.start())})",
            f"istiod found no {plan.config.istiod.ca_dir}/ca-key.pem when it started: check "
            "cluster.root-ca-dir-matches-volume-path and cluster.agent-init-succeeded, then restart istiod",
        )
    plugged = [m for m in (s.pattern.search(text) for s in PLUGGED_IN) if m]
    paths = [m.group("path") for m in plugged if "path" in m.groupdict()]
    elsewhere = [p for p in paths if _norm(posixpath.dirname(p)) != ca_dir]
    if elsewhere:
        return failed(
            check_id,
            pod.target,
            f"istiod loaded a plugged-in CA from {posixpath.dirname(elsewhere[0])}, not from the agent's "
            f"{ca_dir} (log: {evidence(text, text.find(elsewhere[0]))})",
            f"set ROOT_CA_DIR={ca_dir} (see cluster.root-ca-dir-matches-volume-path); a `cacerts` Secret "
            "is being used instead of Vault",
        )
    if plugged:
        first = min(plugged, key=lambda m: ("path" not in m.groupdict(), m.start()))
        where = f" from {ca_dir}" if paths else ""
        return passed(
            check_id, pod.target, f"istiod loaded the plugged-in CA{where} (log: {evidence(text, first.start())})"
        )
    return warned(
        check_id,
        pod.target,
        "no CA selection line in the head of discovery's log (rotated, or an unknown Istio release)",
        f"kubectl -n {pod.namespace} logs {pod.name} -c {DISCOVERY} | grep -iE 'plugged-in|self-signed|root cert'",
    )


# ---------------------------------------------------------------------- the distributed root


def _certificates(pem: bytes) -> list[Any]:
    from cryptography import x509

    try:
        return list(x509.load_pem_x509_certificates(pem))
    except ValueError:
        return []


def _describe(cert: Any) -> str:
    from cryptography.hazmat.primitives import hashes

    subject = cert.subject.rfc4514_string() or "(empty subject)"
    return f"{subject} (sha256 {cert.fingerprint(hashes.SHA256()).hex()[:16]}…)"


def root_configmap_matches_vault(state: ClusterState, plan: ClusterPlan, vault_root: VaultRoot) -> list[CheckResult]:
    """The root istiod hands every workload must be Vault's root; anything else means istiod signs elsewhere."""
    check_id = "cluster.root-configmap-matches-vault"
    results = []
    for config_map in state.root_config_maps:
        target = f"configmap/{config_map.namespace}/{ROOT_CONFIG_MAP}"
        results.append(_compare_root(check_id, target, config_map, vault_root))
    if state.workload_namespace_problem:
        results.append(skipped(check_id, f"configmap/*/{ROOT_CONFIG_MAP}", state.workload_namespace_problem))
    return results


def _compare_root(check_id: str, target: str, config_map: RootConfigMap, vault_root: VaultRoot) -> CheckResult:
    if vault_root.pem is None:
        return skipped(check_id, target, f"Vault's root is not available: {vault_root.problem}", _VAULT_ACCESS_HINT)
    if config_map.obj is None:
        return failed(
            check_id,
            target,
            f"no {ROOT_CONFIG_MAP} ConfigMap in {config_map.namespace} ({config_map.why_sampled})",
            "istiod writes it into every namespace once it runs; check cluster.discovery-ready",
        )
    data = str(dig(config_map.obj, "data", ROOT_CONFIG_MAP_KEY) or "")
    in_map = _certificates(data.encode())
    expected = _certificates(vault_root.pem)
    if not expected:
        return errored(check_id, target, f"Vault's {vault_root.source} is not a PEM certificate")
    if not in_map:
        return failed(
            check_id, target, f"{ROOT_CONFIG_MAP}/{ROOT_CONFIG_MAP_KEY} holds no PEM certificate", _RESTART_HINT
        )
    if expected[0] in in_map:
        return passed(check_id, target, f"holds Vault's root {_describe(expected[0])} from {vault_root.source}")
    return failed(
        check_id,
        target,
        f"holds {_describe(in_map[0])}, not Vault's root {_describe(expected[0])} from {vault_root.source}: "
        "workloads trust a root istiod did not get from Vault (self-signed fallback or a stale cacerts)",
        _RESTART_HINT,
    )


_VAULT_ACCESS_HINT = "set VAULT_ADDR (and VAULT_CACERT for TLS) to compare with Vault; cert/ca needs no token"
_RESTART_HINT = "fix cluster.istiod-ca-log first, then restart istiod so it re-publishes the root"


# ---------------------------------------------------------------------- files inside the pod


def ca_files_present(files: PodFiles, plan: ClusterPlan) -> CheckResult:
    check_id = "pod.ca-files-present"
    missing = [name for name, data in files.values.items() if data is None]
    empty = [name for name, data in files.values.items() if data is not None and not data.strip()]
    if missing or empty:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"empty {', '.join(empty)}"] if empty else []
        )
        return failed(
            check_id,
            files.target,
            f"{'; '.join(parts)} in {files.directory}: istiod without ca-key.pem falls back to self-signed",
            "the agent did not render them: see cluster.agent-init-succeeded and cluster.annotations-match",
        )
    return passed(check_id, files.target, f"all four CA files are in {files.directory}")


def ca_file_modes(files: PodFiles, plan: ClusterPlan) -> CheckResult:
    """The key is owner-only at the configured mode, and owned by the uid istiod runs as."""
    check_id = "pod.ca-file-modes"
    agent = plan.config.istiod.agent
    wanted = int(agent.key_file_mode, 8)
    problems: list[str] = []
    notes: list[str] = []
    for name, mode in sorted(files.modes.items()):
        if mode is None:
            continue
        uid = files.uids.get(name)
        others_read = bool(mode & stat.S_IROTH)
        owner_is_istiod = uid is None or uid == agent.run_as_user
        if name == "ca-key.pem":
            if mode & 0o077:
                problems.append(f"ca-key.pem is {mode:04o}: group or other users in the pod can read the CA key")
            elif mode != wanted:
                notes.append(f"ca-key.pem is {mode:04o}, the config says {agent.key_file_mode}")
            if not owner_is_istiod:
                problems.append(
                    f"ca-key.pem is owned by uid {uid}, istiod runs as {agent.run_as_user} and cannot read it"
                )
        elif not (mode & stat.S_IRUSR and owner_is_istiod) and not others_read:
            problems.append(f"{name} is {mode:04o} (uid {uid}): istiod (uid {agent.run_as_user}) cannot read it")
    if problems:
        return failed(
            check_id,
            files.target,
            "; ".join(problems),
            f"vault.hashicorp.com/agent-run-as-user must be istiod's uid ({agent.run_as_user}) and "
            f"agent-inject-perms-ca-key.pem {agent.key_file_mode}: re-apply the rendered overlay",
        )
    modes = ", ".join(f"{n} {m:04o}" for n, m in sorted(files.modes.items()) if m is not None)
    if notes:
        return warned(check_id, files.target, "; ".join(notes), "re-apply the rendered overlay")
    return passed(check_id, files.target, f"modes as rendered ({modes})")


def pod_file_checks(files: PodFiles, plan: ClusterPlan, *, warn_days: int = 30) -> list[CheckResult]:
    """Presence, modes and the full chain checks of `verify chain` on the files istiod reads."""
    from istio_vault_ca.verify.checks.chain import check_values

    results = [ca_files_present(files, plan), ca_file_modes(files, plan)]
    results.extend(check_values(files.values, target=files.target, warn_days=warn_days))
    return results


# ---------------------------------------------------------------------- running them all


ClusterCheck = Callable[[ClusterState, "ClusterPlan"], CheckResult]
PodCheck = Callable[[PodState, "ClusterPlan"], CheckResult]

DEPLOYMENT_CHECKS: Sequence[ClusterCheck] = (
    deployment_service_account,
    annotations_match,
    root_ca_dir_matches_volume_path,
)
POD_CHECKS: Sequence[PodCheck] = (agent_init_succeeded, agent_sidecar_running, discovery_ready, istiod_ca_log)


def run(state: ClusterState, plan: ClusterPlan, vault_root: VaultRoot) -> list[CheckResult]:
    """Every cluster check; when a prerequisite is missing its dependents are skipped with the reason."""
    results = [namespace_exists(state, plan)]
    if state.namespace_obj is None:
        reason = f"namespace {state.namespace} does not exist"
        results.append(injector_webhook(state, plan))
        return results + [skipped(check_id, f"namespace/{state.namespace}", reason) for check_id in _DEPENDENTS]
    results.append(service_account_exists(state, plan))
    results.append(deployment_exists(state, plan))
    if state.deployment is None:
        results.extend(skipped(c, _deployment_target(plan), "no istiod Deployment") for c in _DEPLOYMENT_IDS)
    else:
        results.extend(check(state, plan) for check in DEPLOYMENT_CHECKS)
    results.append(injector_webhook(state, plan))
    if state.deployment is not None:
        results.append(pods_found(state, plan))
    for pod in state.pods:
        results.append(pod_injected(pod, state, plan))
        results.extend(check(pod, plan) for check in POD_CHECKS)
    results.extend(root_configmap_matches_vault(state, plan, vault_root))
    return results


_DEPLOYMENT_IDS = (
    "cluster.deployment-service-account",
    "cluster.annotations-match",
    "cluster.root-ca-dir-matches-volume-path",
)
_DEPENDENTS = (
    "cluster.service-account-exists",
    "cluster.deployment-exists",
    *_DEPLOYMENT_IDS,
    "cluster.pods-found",
    "cluster.root-configmap-matches-vault",
)

# Every id this module can report, for the pytest-testinfra suite (one test per id) and the docs.
CLUSTER_CHECK_IDS = (
    "cluster.namespace-exists",
    *_DEPENDENTS[:2],
    *_DEPLOYMENT_IDS,
    "cluster.injector-webhook",
    "cluster.pods-found",
    "cluster.pod-injected",
    "cluster.agent-init-succeeded",
    "cluster.agent-sidecar-running",
    "cluster.discovery-ready",
    "cluster.istiod-ca-log",
    "cluster.root-configmap-matches-vault",
)
POD_FILE_CHECK_IDS = ("pod.ca-files-present", "pod.ca-file-modes")
