"""A failed Vault agent's log turned into a cause and a fix, in the config's own names.

The source document's troubleshooting is "read the agent's log by hand"; known failures (permission denied on the
KV path, role not found, service account not authorized, TLS, a `<no value>` render) are recognised here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..agent_logs import Finding, Kind, find

if TYPE_CHECKING:
    from ....generator.config.plan import ClusterPlan


@dataclass(frozen=True)
class AgentContext:
    """What the agent-log hints name: the values the config expects."""

    role: str
    auth_path: str
    service_account: str
    namespace: str
    policy: str
    vault_address: str
    # Where this cluster's step scripts are: `vault/` in a flat tree, `clusters/<name>/vault/` in a fleet.
    scripts: str = "vault/"


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
            f"{ctx.auth_path}/config has the wrong kubernetes_host or CA: re-run "
            f"{ctx.scripts}05-kubernetes-auth.sh",
        )
    if kind is Kind.READ_DENIED:
        return (
            f"the Vault policy does not let role {ctx.role} read {found.path} (403 permission denied)",
            f"policy {ctx.policy} must grant read on {found.path} and be in the role's token_policies: "
            f"re-run {ctx.scripts}06-policy.sh and {ctx.scripts}05-kubernetes-auth.sh (KV v2 paths need data/ in "
            "the policy)",
        )
    if kind is Kind.ROLE_MISSING:
        return (
            f"Vault has no role {found.role} at {ctx.auth_path}",
            f"create it with {ctx.scripts}05-kubernetes-auth.sh, or set vault.hashicorp.com/role to {ctx.role}",
        )
    if kind is Kind.SA_NOT_BOUND:
        return (
            f"the service account istiod runs as is not bound to role {ctx.role} (service account name not authorized)",
            f"the role binds {ctx.service_account}: make istiod run as it, or set istiod.service_account to the "
            f"Deployment's serviceAccountName and re-run {ctx.scripts}05-kubernetes-auth.sh",
        )
    if kind is Kind.NS_NOT_BOUND:
        return (
            f"istiod's namespace is not bound to role {ctx.role} (namespace not authorized)",
            f"the role binds namespace {ctx.namespace}: fix istiod.namespace and re-run "
            f"{ctx.scripts}05-kubernetes-auth.sh",
        )
    if kind is Kind.AUTH_UNCONFIGURED:
        return (
            f"the Kubernetes auth method at {ctx.auth_path} has no config",
            f"write {ctx.auth_path}/config with {ctx.scripts}05-kubernetes-auth.sh",
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
            f"{ctx.auth_path}/config: re-run {ctx.scripts}05-kubernetes-auth.sh",
        )
    if kind is Kind.READ_ERROR:
        return (
            f"reading {found.path} failed: {found.message} (HTTP {found.code})",
            f"the {ctx.scripts} setup scripts must leave what the templates read at {found.path}: check "
            f"`vault read {found.path}` and re-run them",
        )
    if kind is Kind.MISSING_KEY:
        return (
            f"a template read a key the secret does not have ({found.text})",
            "kv.version in the config must match the KV mount (v1 reads .Data, v2 reads .Data.data) and the key "
            f"must be stored under the name the template reads: re-run {ctx.scripts}03-kv.sh and re-render",
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


def agent_context(plan: ClusterPlan) -> AgentContext:
    from ....generator.render.layout import step_script

    return AgentContext(
        role=plan.cluster.role,
        auth_path=plan.auth_path,
        service_account=plan.config.istiod.service_account,
        namespace=plan.config.istiod.namespace,
        policy=plan.cluster.policy,
        vault_address=plan.config.vault.agent_address or "",
        scripts=step_script(plan, ""),
    )
