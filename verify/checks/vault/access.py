"""Who may read the CA key: the Kubernetes auth method, the role binding istiod, and the policy it carries.

The policy is compared with the rendered policy.hcl, and Vault itself is asked (sys/capabilities, for a short-lived
token holding only that policy) whether every path the agent templates read is readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ....generator.config.durations import parse_duration
from ....generator.config.plan import ClusterPlan
from ....generator.errors import VaultApiError
from ...clients.vault import VaultApi
from ..registry import Tier, check
from ..result import CheckResult, failed, passed, skipped, warned
from .policy_hcl import (
    STOCK_DEFAULT,
    beyond,
    describe_grants,
    describe_policy_drift,
    normalise_hcl,
    policy_grants,
)
from .state import VERIFY_TOKEN_TTL, ClusterVaultState, VaultState


@check("vault.k8s-auth-mount", tier=Tier.SETUP, needs=("cluster",))
def k8s_auth_mount(state: ClusterVaultState) -> CheckResult:
    """The auth method the injected agent logs in with (vault.hashicorp.com/auth-path)."""
    cluster = state.cluster
    name = cluster.cluster.auth_mount
    check_id, target = "vault.k8s-auth-mount", f"sys/auth ({name}/)"
    mount = state.mount(name, "sys/auth")
    if mount is None:
        return failed(check_id, target, f"no auth method at auth/{name}/", f"run {state.step('05-kubernetes-auth.sh')}")
    if mount.get("type") != "kubernetes":
        return failed(
            check_id,
            target,
            f"auth/{name}/ is a {mount.get('type')} auth method, not kubernetes",
            "pick another clusters[].auth_mount (05-kubernetes-auth.sh never replaces an auth method), render again",
        )
    return passed(check_id, target, f"auth/{name}/ is a kubernetes auth method")


@check("vault.k8s-auth-config", tier=Tier.SETUP, needs=("cluster",))
def k8s_auth_config(state: ClusterVaultState) -> CheckResult:
    """Without kubernetes_host Vault cannot review istiod's token, so every login fails."""
    cluster = state.cluster
    target = f"{cluster.auth_path}/config"
    check_id = "vault.k8s-auth-config"
    host = (state.data(target) or {}).get("kubernetes_host")
    want = cluster.kubernetes_auth.kubernetes_host
    if not host:
        return failed(
            check_id, target, f"{target} has no kubernetes_host", f"run {state.step('05-kubernetes-auth.sh')}"
        )
    if host != want:
        return warned(
            check_id,
            target,
            f"{target} points at {host}, the config says {want} (a K8S_HOST override?)",
            "set kubernetes_auth.kubernetes_host to the address Vault should use",
        )
    return passed(check_id, target, f"{target} points at {host}")


def _role(state: VaultState, cluster: ClusterPlan) -> tuple[str, dict[str, Any] | None]:
    path = f"{cluster.auth_path}/role/{cluster.cluster.role}"
    return path, state.data(path)


@check("vault.k8s-role-binding", tier=Tier.SETUP, needs=("cluster",))
def k8s_role_binding(state: ClusterVaultState) -> CheckResult:
    """The role must bind exactly istiod's service account and namespace: no more (who else gets the key?)."""
    cluster = state.cluster
    path, role = _role(state, cluster)
    check_id = "vault.k8s-role-binding"
    if role is None:
        return failed(check_id, path, f"no role at {path}", f"run {state.step('05-kubernetes-auth.sh')}")
    istiod = state.config.istiod
    names = sorted(role.get("bound_service_account_names") or [])
    namespaces = sorted(role.get("bound_service_account_namespaces") or [])
    if names != [istiod.service_account] or namespaces != [istiod.namespace]:
        return failed(
            check_id,
            path,
            f"{path} binds service accounts {names} in namespaces {namespaces}; the config says "
            f"[{istiod.service_account!r}] in [{istiod.namespace!r}]",
            f"re-run {state.step('05-kubernetes-auth.sh')} (or fix istiod.service_account / istiod.namespace)",
        )
    return passed(check_id, path, f"{path} binds exactly {istiod.namespace}/{istiod.service_account}")


@check("vault.k8s-role-policy", tier=Tier.SETUP, needs=("cluster",))
def k8s_role_policy(state: ClusterVaultState) -> CheckResult:
    """istiod's token must carry the policy that reads the CA files; another policy (or an edited `default`)
    granting anything more fails."""
    cluster = state.cluster
    path, role = _role(state, cluster)
    check_id, want = "vault.k8s-role-policy", cluster.cluster.policy
    if role is None:
        return skipped(check_id, path, f"no role at {path}")
    policies = sorted(role.get("token_policies") or role.get("policies") or [])
    if want not in policies:
        return failed(
            check_id,
            path,
            f"{path} carries policies {policies}, not {want!r}",
            f"run {state.step('05-kubernetes-auth.sh')}",
        )
    ours = policy_grants(state.rendered.get(cluster.name, "")) or {}
    with_default = not role.get("token_no_default_policy")
    baseline = {**STOCK_DEFAULT, **ours} if with_default else dict(ours)
    extra = [p for p in policies if p not in (want, "default")]
    judged = [*extra, *(["default"] if with_default or "default" in policies else [])]
    more, harmless, absent = _judge_extra_policies(state, judged, baseline, ours)
    if more:
        names = [name for name, _ in more]
        fixes = []
        if others := [repr(name) for name in names if name != "default"]:
            fixes.append(
                f"re-run {state.step('05-kubernetes-auth.sh')}: it sets token_policies to {want!r} alone "
                f"(drops {', '.join(others)})"
            )
        if "default" in names:
            fixes.append(f"restore Vault's stock default policy, or set token_no_default_policy=true on {path}")
        hint = "least privilege: " + "; ".join(fixes)
        return failed(
            check_id,
            path,
            f"{path} gives istiod's token more than {want!r}: " + "; ".join(finding for _, finding in more),
            hint,
        )
    notes = [f"{', '.join(map(repr, harmless))} (nothing beyond {want!r})"] if harmless else []
    if absent:
        notes.append(f"{', '.join(map(repr, absent))} (not in Vault: whoever creates it decides what istiod may do)")
    if notes:
        return warned(
            check_id, path, f"{path} carries {want!r} and also {'; '.join(notes)}", "least privilege: drop them"
        )
    return passed(check_id, path, f"{path} carries policy {want!r}")


def _judge_extra_policies(
    state: VaultState, names: list[str], baseline: Mapping[str, frozenset[str]], ours: Mapping[str, frozenset[str]]
) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """Each policy's rules read from Vault and compared with ours: ((name, finding) of those granting more, names
    of those granting nothing more, names of those Vault does not have)."""
    more: list[tuple[str, str]] = []
    harmless: list[str] = []
    absent: list[str] = []
    for name in names:
        text = (state.data(f"sys/policies/acl/{name}") or {}).get("policy")
        if not isinstance(text, str):
            if name != "default":
                absent.append(name)
            continue
        grants = policy_grants(text)
        # `default` is judged against Vault's stock default policy (and ours); any other against both.
        allowed = baseline if name != "default" else {**STOCK_DEFAULT, **ours}
        if grants is None:
            more.append((name, f"policy {name!r} has rules this tool cannot read, so it may grant anything"))
        elif added := beyond(grants, allowed):
            where = " (the default policy: Vault attaches it to every token of the role)" if name == "default" else ""
            more.append((name, f"policy {name!r} grants {describe_grants(added)}{where}"))
        elif name != "default":
            harmless.append(name)
    return more, harmless, absent


@check("vault.k8s-role-period", tier=Tier.SETUP, needs=("cluster",))
def k8s_role_period(state: ClusterVaultState) -> CheckResult:
    """A periodic token keeps the agent sidecar renewing instead of re-logging in."""
    cluster = state.cluster
    path, role = _role(state, cluster)
    check_id = "vault.k8s-role-period"
    if role is None:
        return skipped(check_id, path, f"no role at {path}")
    want = parse_duration(cluster.kubernetes_auth.token_period)
    found = int(role.get("token_period") or 0)
    if found != want:
        return failed(
            check_id,
            path,
            f"{path} token_period is {found}s, the config says {want}s",
            f"run {state.step('05-kubernetes-auth.sh')}",
        )
    return passed(check_id, path, f"{path} token_period is {want}s")


@check("vault.policy-text", tier=Tier.SETUP, needs=("cluster",))
def policy_text(state: ClusterVaultState) -> CheckResult:
    """The policy in Vault is the rendered policy.hcl (comments and whitespace aside)."""
    cluster = state.cluster
    name = cluster.cluster.policy
    path = f"sys/policies/acl/{name}"
    check_id = "vault.policy-text"
    text = (state.data(path) or {}).get("policy")
    if not isinstance(text, str):
        return failed(check_id, path, f"no policy {name!r} in Vault", f"run {state.step('06-policy.sh')}")
    rendered = state.rendered.get(cluster.name, "")
    if normalise_hcl(text) == normalise_hcl(rendered):
        return passed(check_id, path, f"policy {name!r} is the rendered policy.hcl")
    if normalise_hcl(text) == normalise_hcl(_rotation_policy(cluster)):
        return passed(
            check_id,
            path,
            f"policy {name!r} is the root rotation's policy (plan-rotation --root phase (b): it also reads the "
            "trust bundle)",
        )
    return failed(
        check_id,
        path,
        f"policy {name!r} differs from the rendered policy.hcl: {describe_policy_drift(text, rendered)}",
        f"re-run {state.step('06-policy.sh')} (or render again if the config changed)",
    )


def _rotation_policy(cluster: ClusterPlan) -> str:
    """policy.hcl as `plan-rotation --root` renders it from phase (b) on (root-cert.pem from the trust bundle)."""
    from ....generator.render.root_rotation import bundle_plan
    from ....generator.render.templating import render_template

    return render_template("policy.hcl.j2", p=bundle_plan(cluster))


@check("vault.policy-grants-read", tier=Tier.SETUP, needs=("cluster",))
def policy_grants_read(state: ClusterVaultState) -> CheckResult:
    """Ask Vault (sys/capabilities) what a token holding only the policy may do on each templated path."""
    cluster = state.cluster
    check_id, target = "vault.policy-grants-read", f"sys/capabilities ({cluster.cluster.policy})"
    paths = list(cluster.policy_paths())
    capabilities = capabilities_of_policy(state.api, cluster.cluster.policy, paths)
    missing = [f"{p} ({', '.join(capabilities.get(p) or ['deny'])})" for p in paths if not _reads(capabilities, p)]
    if missing:
        return failed(
            check_id,
            target,
            f"a token with only policy {cluster.cluster.policy!r} cannot read {'; '.join(missing)}",
            f"the agent would fail to render these files: re-run {state.step('06-policy.sh')}",
        )
    return passed(
        check_id, target, f"a token with only {cluster.cluster.policy!r} can read all {len(paths)} templated paths"
    )


def _reads(capabilities: Mapping[str, list[str]], path: str) -> bool:
    found = capabilities.get(path) or []
    return "read" in found or "root" in found


def capabilities_of_policy(api: VaultApi, policy: str, paths: list[str]) -> dict[str, list[str]]:
    """Create a short-lived token holding only `policy`, ask sys/capabilities, revoke it (always)."""
    created = api.write(
        "auth/token/create",
        {
            "policies": [policy],
            "no_default_policy": True,
            "ttl": VERIFY_TOKEN_TTL,
            "explicit_max_ttl": VERIFY_TOKEN_TTL,
            "renewable": False,
            "display_name": "istio-vault-ca-verify",
        },
    )
    auth = (created or {}).get("auth") or {}
    probe, accessor = auth.get("client_token"), auth.get("accessor")
    if not probe:
        raise VaultApiError("auth/token/create returned no token")
    try:
        answer = api.write("sys/capabilities", {"token": probe, "paths": paths}) or {}
    finally:
        api.write("auth/token/revoke-accessor", {"accessor": accessor})
    data = answer.get("data")
    found: dict[str, Any] = data if isinstance(data, dict) else answer
    return {path: list(found.get(path) or []) for path in paths}
