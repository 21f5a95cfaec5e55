"""Known failure signatures in a `vault-agent-init` log, turned into a cause and a fix.

The source document's troubleshooting is "read the agent's log by hand". These are the lines that log shows
for the usual mistakes (Vault's API error envelope, the Kubernetes auth plugin's messages, consul-template's
view and runner errors, Go's network and x509 errors), most specific first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from verify.result import redact

EVIDENCE_CHARS = 240


@dataclass(frozen=True)
class Context:
    """What the hints name: the values the config expects."""

    role: str
    auth_path: str
    service_account: str
    namespace: str
    policy: str
    vault_address: str


@dataclass(frozen=True)
class Diagnosis:
    cause: str
    hint: str
    evidence: str


@dataclass(frozen=True)
class _Signature:
    pattern: re.Pattern[str]
    explain: Callable[[re.Match[str], Context], tuple[str, str]]


def _login_denied(_match: re.Match[str], ctx: Context) -> tuple[str, str]:
    return (
        f"Vault refused the Kubernetes login at {ctx.auth_path}/login: permission denied "
        "(it could not validate the pod's service-account token)",
        "the token reviewer cannot call TokenReview (it needs the system:auth-delegator ClusterRole), or "
        f"{ctx.auth_path}/config has the wrong kubernetes_host or CA: re-run vault/05-kubernetes-auth.sh",
    )


def _read_denied(match: re.Match[str], ctx: Context) -> tuple[str, str]:
    path = match.group("path")
    return (
        f"the Vault policy does not let role {ctx.role} read {path} (403 permission denied)",
        f"policy {ctx.policy} must grant read on {path} and be in the role's token_policies: "
        "re-run vault/06-policy.sh and vault/05-kubernetes-auth.sh (KV v2 paths need data/ in the policy)",
    )


def _role_missing(match: re.Match[str], ctx: Context) -> tuple[str, str]:
    return (
        f"Vault has no role {match.group('role')} at {ctx.auth_path}",
        f"create it with vault/05-kubernetes-auth.sh, or set vault.hashicorp.com/role to {ctx.role}",
    )


def _sa_not_bound(_match: re.Match[str], ctx: Context) -> tuple[str, str]:
    return (
        f"the service account istiod runs as is not bound to role {ctx.role} (service account name not authorized)",
        f"the role binds {ctx.service_account}: make istiod run as it, or set istiod.service_account to the "
        "Deployment's serviceAccountName and re-run vault/05-kubernetes-auth.sh",
    )


def _ns_not_bound(_match: re.Match[str], ctx: Context) -> tuple[str, str]:
    return (
        f"istiod's namespace is not bound to role {ctx.role} (namespace not authorized)",
        f"the role binds namespace {ctx.namespace}: fix istiod.namespace and re-run vault/05-kubernetes-auth.sh",
    )


def _auth_unconfigured(_match: re.Match[str], ctx: Context) -> tuple[str, str]:
    return (
        f"the Kubernetes auth method at {ctx.auth_path} has no config",
        f"write {ctx.auth_path}/config with vault/05-kubernetes-auth.sh",
    )


def _no_token(_match: re.Match[str], _ctx: Context) -> tuple[str, str]:
    return (
        "the agent found no service-account token to log in with",
        "do not set automountServiceAccountToken: false on istiod's pod (or point "
        "vault.hashicorp.com/agent-service-account-token-volume-name at a projected token)",
    )


def _missing_key(match: re.Match[str], _ctx: Context) -> tuple[str, str]:
    return (
        f"a template read a key the secret does not have ({match.group(0).strip()})",
        "kv.version in the config must match the KV mount (v1 reads .Data, v2 reads .Data.data) and the key "
        "must be stored under the name the template reads: re-run vault/03-kv.sh and re-render",
    )


def _tls(_match: re.Match[str], ctx: Context) -> tuple[str, str]:
    return (
        f"TLS to Vault failed ({_match.group(0).strip()})",
        "give the agent Vault's CA (vault.hashicorp.com/ca-cert or tls-secret), check the name in "
        f"{ctx.vault_address or 'vault.hashicorp.com/service'} matches the certificate, or use http:// if "
        "Vault serves plain HTTP",
    )


def _unreachable(match: re.Match[str], ctx: Context) -> tuple[str, str]:
    return (
        f"the agent cannot reach Vault ({match.group(0).strip()})",
        f"check the address the agent uses ({ctx.vault_address or 'the injector default'}; set "
        "vault.address/agent_address in the config), the Vault service and NetworkPolicies",
    )


def _denied(_match: re.Match[str], ctx: Context) -> tuple[str, str]:
    return (
        "Vault answered permission denied",
        f"check role {ctx.role} and policy {ctx.policy} with `vault read {ctx.auth_path}/role/{ctx.role}`",
    )


# A short run inside one log entry: real newlines are allowed (consul-template prints the API error's own), a
# new timestamped entry is not, so one entry's "Code: 403" is never paired with another's "permission denied".
_S = r"(?:(?!\n\d{4}-\d\d-\d\dT)[\s\S]){0,600}?"
SIGNATURES: tuple[_Signature, ...] = (
    _Signature(re.compile(r"/login" + _S + r"Code: 403\." + _S + r"permission denied"), _login_denied),
    _Signature(
        # Not the "failed to check if X is KVv2" warning, which also says 403 and is harmless.
        re.compile(
            r"vault\.read\((?P<path>[^)\s]+)\):(?: vault\.read\([^)\s]+\):)? Error making API request\."
            + _S
            + r"Code: 403\."
            + _S
            + r"permission denied"
        ),
        _read_denied,
    ),
    _Signature(re.compile(r"invalid role name \\?\"(?P<role>[^\"\\]+)\\?\""), _role_missing),
    _Signature(re.compile(r"service account name not authorized"), _sa_not_bound),
    _Signature(re.compile(r"namespace not authorized"), _ns_not_bound),
    _Signature(re.compile(r"could not load backend configuration"), _auth_unconfigured),
    _Signature(re.compile(r"error reading JWT with Kubernetes Auth"), _no_token),
    _Signature(re.compile(r"map has no entry for key \\?\"[^\"\\]+\\?\"|<no value>"), _missing_key),
    _Signature(
        re.compile(
            r"x509: [^\n\"\\]+|tls: [^\n\"\\]+|server gave HTTP response to HTTPS client|"
            r"certificate signed by unknown authority"
        ),
        _tls,
    ),
    _Signature(
        re.compile(r"connection refused|no such host|i/o timeout|context deadline exceeded|network is unreachable"),
        _unreachable,
    ),
    _Signature(re.compile(r"permission denied"), _denied),
)


def diagnose(log: str, ctx: Context) -> Diagnosis | None:
    """The first known signature in the log (most specific first), or None when nothing is recognised."""
    for signature in SIGNATURES:
        match = signature.pattern.search(log)
        if match:
            cause, hint = signature.explain(match, ctx)
            return Diagnosis(cause, hint, evidence(log, match.start()))
    return None


def evidence(log: str, position: int) -> str:
    """The log line holding `position`, redacted and shortened, for the finding."""
    start = log.rfind("\n", 0, position) + 1
    end = log.find("\n", position)
    line = " ".join(log[start : end if end != -1 else len(log)].split())
    line = redact(line)
    return line if len(line) <= EVIDENCE_CHARS else line[: EVIDENCE_CHARS - 1] + "…"


def last_lines(log: str, count: int = 3) -> str:
    """The tail of an unrecognised log, redacted, so the finding still shows something to go on."""
    lines = [line.strip() for line in log.strip().splitlines() if line.strip()][-count:]
    return " | ".join(redact(line)[:EVIDENCE_CHARS] for line in lines)
