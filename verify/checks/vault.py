"""Checks of the live Vault against the config: each reads one API path (named in its target) through a shared,
cached `VaultApi`, so one cluster costs about fifteen requests.

Also `read_ca_values`: the four files' contents exactly as the rendered agent templates would print them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from istio_vault_ca.generator.config.cafiles import CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT
from istio_vault_ca.generator.config.durations import hours, parse_duration
from istio_vault_ca.generator.config.model import Config
from istio_vault_ca.generator.config.plan import ClusterPlan, plan
from istio_vault_ca.generator.errors import VaultApiError
from istio_vault_ca.verify.checks.chain import describe_key, issued_by
from istio_vault_ca.verify.checks.result import CheckResult, errored, failed, passed, skipped, warned
from istio_vault_ca.verify.clients.vault import VaultApi

NO_VALUE = "<no value>"
VERIFY_TOKEN_TTL = "60s"


@dataclass(frozen=True)
class VaultState:
    """What every check needs: the API (with its cache), the config and the clock."""

    api: VaultApi
    config: Config
    warn_days: int
    now: dt.datetime
    rendered: dict[str, str] = field(default_factory=dict)
    clusters: tuple[ClusterPlan, ...] = ()
    config_source: str | None = None

    def data(self, path: str) -> dict[str, Any] | None:
        """The `data` of a GET, None when Vault has nothing there."""
        response = self.api.read(path)
        if response is None:
            return None
        body = response.get("data")
        return body if isinstance(body, dict) else None

    def mount(self, name: str, listing: str = "sys/mounts") -> dict[str, Any] | None:
        return (self.data(listing) or {}).get(f"{name}/")

    def certificate(self, path: str) -> x509.Certificate | None:
        pem = (self.data(path) or {}).get("certificate")
        if not isinstance(pem, str) or "BEGIN CERTIFICATE" not in pem:
            return None
        return x509.load_pem_x509_certificate(pem.encode())


ClusterCheck = Callable[[VaultState, ClusterPlan], CheckResult]


# ---------------------------------------------------------------- the agent's view


def template_value(response: Mapping[str, Any] | None, data_keys: tuple[str, ...]) -> bytes | None:
    """What `{{ with secret ... }}{{ .Data.<keys> }}{{ end }}` prints: None when the secret is absent,
    the literal `<no value>` when a key is missing (as consul-template does), else the value and a newline."""
    if response is None:
        return None
    value: Any = response.get("data")
    for key in data_keys:
        value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            return f"{NO_VALUE}\n".encode()
    return f"{value}\n".encode()


def read_ca_values(api: VaultApi, cluster: ClusterPlan) -> tuple[dict[str, bytes | None], dict[str, str]]:
    """The four values the agent would render, and labels naming the API path each came from."""
    values: dict[str, bytes | None] = {}
    labels: dict[str, str] = {}
    for ca_file in cluster.ca_files():
        values[ca_file.name] = template_value(api.read(ca_file.secret_path), ca_file.data_keys)
        labels[ca_file.name] = f"{ca_file.name} from {ca_file.secret_path}"
    return values, labels


# ---------------------------------------------------------------- helpers


def _cn(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _file(cluster: ClusterPlan, name: str) -> tuple[str, tuple[str, ...]]:
    ca_file = next(f for f in cluster.ca_files() if f.name == name)
    return ca_file.secret_path, ca_file.data_keys


def _max_ttl(mount: Mapping[str, Any]) -> int:
    return int((mount.get("config") or {}).get("max_lease_ttl") or 0)


def _ttl(seconds: int) -> str:
    return hours(seconds) if seconds else "the system default"


def root_signing_ttl(config: Config) -> int:
    """The root mount's max TTL the scripts set: the root's TTL or the longest intermediate, whichever is more."""
    return max([parse_duration(config.root.ttl), *(p.intermediate_ttl_seconds for p in plan(config))])


# ---------------------------------------------------------------- Vault-wide checks


def reachable(state: VaultState) -> CheckResult:
    """sys/health: reachable and unsealed (sealed raises before we get here), and which version."""
    health = state.api.health()
    version = health.get("version", "unknown version")
    role = "standby" if health.get("standby") else "active"
    return passed("vault.reachable", "sys/health", f"{state.api.address} is unsealed, {role}, version {version}")


def token(state: VaultState) -> CheckResult:
    """auth/token/lookup-self: the token works (a refused token raises: exit 3)."""
    body = state.data("auth/token/lookup-self") or {}
    policies = ", ".join(body.get("policies") or []) or "none"
    ttl = body.get("ttl") or 0
    expires = f"expires in {ttl}s" if ttl else "does not expire"
    return passed("vault.token", "auth/token/lookup-self", f"token accepted (policies: {policies}; {expires})")


def audit_device(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """The audit device the config asks for: without it reads of the CA key leave no trace."""
    audit = state.config.vault.audit
    check_id, target = "vault.audit-device", "sys/audit"
    if not audit.enabled:
        return skipped(check_id, target, "vault.audit.enabled is false in the config")
    device = (state.data(target) or {}).get(f"{audit.path}/")
    if device is None:
        return failed(
            check_id,
            target,
            f"no audit device at {audit.path}/: reads of the CA key are not logged",
            "re-run vault/01-audit.sh (or vault/setup.sh)",
        )
    if device.get("type") != "file":
        return failed(check_id, target, f"audit device {audit.path}/ is type {device.get('type')}, not file")
    file_path = (device.get("options") or {}).get("file_path", "?")
    note = "" if file_path == audit.file_path else f" (config default {audit.file_path}, AUDIT_FILE_PATH override)"
    return passed(check_id, target, f"file audit device {audit.path}/ writes {file_path}{note}")


def root_mount(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """The root's PKI mount must allow the intermediate's TTL, or Vault silently signs it shorter."""
    root = state.config.root
    check_id, target = "vault.root-mount", f"sys/mounts ({root.mount}/)"
    if root.mode == "external":
        return skipped(check_id, target, "root.mode is external: the root CA is not in Vault")
    mount = state.mount(root.mount)
    if mount is None:
        return failed(check_id, target, f"no secrets engine at {root.mount}/", "run vault/02-root-pki.sh")
    if mount.get("type") != "pki":
        return failed(check_id, target, f"{root.mount}/ is a {mount.get('type')} mount, not pki")
    want, found = root_signing_ttl(state.config), _max_ttl(mount)
    if found and found < want:
        return failed(
            check_id,
            target,
            f"{root.mount}/ max lease TTL is {_ttl(found)}, below {hours(want)}: intermediates get signed shorter",
            f"vault secrets tune -max-lease-ttl={hours(want)} {root.mount}",
        )
    if found != want:
        return warned(
            check_id,
            target,
            f"{root.mount}/ max lease TTL is {_ttl(found)}, not the configured {hours(want)}",
            f"vault secrets tune -max-lease-ttl={hours(want)} {root.mount}",
        )
    return passed(check_id, target, f"{root.mount}/ is a pki mount with max lease TTL {hours(want)}")


def root_cn(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """The root in Vault is the one the config names (a mismatch means another root or another mount)."""
    if state.config.root.mode == "external":
        return external_root(state)
    path, _ = _file(cluster, ROOT_CERT)
    check_id, want = "vault.root-cn", state.config.root.common_name
    root = state.certificate(path)
    if root is None:
        return failed(check_id, path, f"no root CA certificate at {path}", "run vault/02-root-pki.sh")
    if _cn(root) != want:
        return failed(check_id, path, f"root CN is {_cn(root)!r}, the config says {want!r}")
    return passed(check_id, path, f"root CN is {_cn(root)!r}")


def external_root(state: VaultState) -> CheckResult:
    """With an offline root, each intermediate mount must hold exactly root.certificate_file as its root."""
    from istio_vault_ca.generator.pki.offline_root import root_certificate_path

    check_id = "vault.root-cn"
    file = root_certificate_path(state.config.root.certificate_file, state.config_source)
    try:
        expected = x509.load_pem_x509_certificate(file.read_bytes()) if file else None
    except (OSError, ValueError):
        expected = None
    paths = [_file(cluster, ROOT_CERT)[0] for cluster in state.clusters]
    if expected is None:
        return warned(
            check_id,
            ", ".join(paths),
            f"cannot read root.certificate_file {file} to compare with Vault's copy",
            "run the verifier where the offline root's certificate (never its key) is readable",
        )
    for path in paths:
        found = state.certificate(path)
        if found != expected:
            what = f"holds {_cn(found)!r}" if found else "holds no certificate"
            return failed(
                check_id,
                path,
                f"{path} {what}, not the offline root in {file} ({_cn(expected)!r})",
                "import the intermediate with its root: vault/07-intermediate-import.sh",
            )
    return passed(check_id, ", ".join(paths), f"every intermediate mount holds the offline root {_cn(expected)!r}")


# ---------------------------------------------------------------- per-cluster checks


def intermediate_mount(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """The intermediate's PKI mount exists with the configured max TTL."""
    name = cluster.cluster.intermediate_mount
    check_id, target = "vault.intermediate-mount", f"sys/mounts ({name}/)"
    mount = state.mount(name)
    if mount is None:
        return failed(check_id, target, f"no secrets engine at {name}/", "run vault/04-intermediate-pki.sh")
    if mount.get("type") != "pki":
        return failed(check_id, target, f"{name}/ is a {mount.get('type')} mount, not pki")
    want, found = cluster.intermediate_ttl_seconds, _max_ttl(mount)
    if found != want:
        return failed(
            check_id,
            target,
            f"{name}/ max lease TTL is {_ttl(found)}, the config says {hours(want)}",
            f"vault secrets tune -max-lease-ttl={hours(want)} {name}",
        )
    return passed(check_id, target, f"{name}/ is a pki mount with max lease TTL {hours(want)}")


def intermediate_issuer(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """The intermediate is signed by the root istiod hands out as root-cert.pem."""
    int_path, _ = _file(cluster, CA_CERT)
    root_path, _ = _file(cluster, ROOT_CERT)
    check_id = "vault.intermediate-issuer"
    intermediate, root = state.certificate(int_path), state.certificate(root_path)
    if intermediate is None:
        return failed(check_id, int_path, f"no intermediate CA at {int_path}", "run vault/04-intermediate-pki.sh")
    if root is None:
        return skipped(check_id, int_path, f"no root at {root_path} to compare with")
    if not issued_by(intermediate, root):
        return failed(
            check_id,
            int_path,
            f"{int_path} ({_cn(intermediate)}) is not signed by the root at {root_path} ({_cn(root)})",
            "re-sign the intermediate with the configured root (vault/04-intermediate-pki.sh after a rotation)",
        )
    return passed(check_id, int_path, f"{int_path} ({_cn(intermediate)}) is signed by {root_path}")


def intermediate_chain(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """cert/ca_chain (cert-chain.pem) starts with the intermediate and ends with the root (format=pem_bundle)."""
    chain_path, _ = _file(cluster, CERT_CHAIN)
    root_path, _ = _file(cluster, ROOT_CERT)
    int_path, _ = _file(cluster, CA_CERT)
    check_id = "vault.intermediate-chain"
    pem = (state.data(chain_path) or {}).get("certificate")
    chain = x509.load_pem_x509_certificates(pem.encode()) if isinstance(pem, str) and "BEGIN" in pem else []
    root, intermediate = state.certificate(root_path), state.certificate(int_path)
    hint = "re-sign the intermediate with format=pem_bundle and set-signed the whole bundle"
    if not chain:
        return failed(check_id, chain_path, f"{chain_path} is empty", hint)
    if intermediate is not None and chain[0] != intermediate:
        return failed(check_id, chain_path, f"{chain_path} starts with {_cn(chain[0])}, not {int_path}", hint)
    if root is None or chain[-1] != root:
        return failed(
            check_id,
            chain_path,
            f"{chain_path} ends with {_cn(chain[-1])}, not the root at {root_path} ({len(chain)} cert(s))",
            hint,
        )
    return passed(check_id, chain_path, f"{chain_path} is the intermediate then the root ({len(chain)} certs)")


def kv_mount(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """The KV version decides the agent template and the policy path; a mismatch renders `<no value>`."""
    kv = state.config.kv
    check_id, target = "vault.kv-mount", f"sys/mounts ({kv.mount}/)"
    mount = state.mount(kv.mount)
    if mount is None:
        return failed(check_id, target, f"no secrets engine at {kv.mount}/", "run vault/03-kv.sh")
    if mount.get("type") not in ("kv", "generic"):
        return failed(check_id, target, f"{kv.mount}/ is a {mount.get('type')} mount, not kv")
    version = int(str((mount.get("options") or {}).get("version") or 1))
    if version != kv.version:
        return failed(
            check_id,
            target,
            f"{kv.mount}/ is KV version {version}, the config says {kv.version}: the agent template and the "
            "policy read the wrong path",
            f"set kv.version: {version} in the config and re-render, or move the key to a KV v{kv.version} mount",
        )
    return passed(check_id, target, f"{kv.mount}/ is KV version {version}")


def kv_key_matches(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """The key istiod gets from KV must be the intermediate's key (never printed, only compared)."""
    key_path, key_fields = _file(cluster, CA_KEY)
    int_path, _ = _file(cluster, CA_CERT)
    check_id = "vault.kv-key-matches"
    field_name = ".".join(key_fields)
    value = template_value(state.api.read(key_path), key_fields)
    hint = "the key in KV must be the one the intermediate was issued for; re-run vault/04-intermediate-pki.sh"
    if value is None:
        return failed(check_id, key_path, f"no secret at {key_path}", hint)
    if value.startswith(NO_VALUE.encode()):
        return failed(check_id, key_path, f"{key_path} has no field {field_name}", hint)
    try:
        key = serialization.load_pem_private_key(value, password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError):
        return failed(check_id, key_path, f"{key_path} field {field_name} is not an unencrypted PEM private key", hint)
    intermediate = state.certificate(int_path)
    if intermediate is None:
        return skipped(check_id, key_path, f"no intermediate at {int_path} to compare the key with")
    if _spki(key.public_key()) != _spki(intermediate.public_key()):
        return failed(
            check_id,
            key_path,
            f"the {describe_key(key)} key at {key_path} does not belong to the intermediate at {int_path}",
            hint,
        )
    return passed(check_id, key_path, f"{key_path} holds the {describe_key(key)} key of {int_path}")


def _spki(public_key: Any) -> bytes:
    der: bytes = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def k8s_auth_mount(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """The auth method the injected agent logs in with (vault.hashicorp.com/auth-path)."""
    name = cluster.cluster.auth_mount
    check_id, target = "vault.k8s-auth-mount", f"sys/auth ({name}/)"
    mount = state.mount(name, "sys/auth")
    if mount is None:
        return failed(check_id, target, f"no auth method at auth/{name}/", "run vault/05-kubernetes-auth.sh")
    if mount.get("type") != "kubernetes":
        return failed(check_id, target, f"auth/{name}/ is a {mount.get('type')} auth method, not kubernetes")
    return passed(check_id, target, f"auth/{name}/ is a kubernetes auth method")


def k8s_auth_config(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """Without kubernetes_host Vault cannot review istiod's token, so every login fails."""
    target = f"{cluster.auth_path}/config"
    check_id = "vault.k8s-auth-config"
    host = (state.data(target) or {}).get("kubernetes_host")
    want = cluster.kubernetes_auth.kubernetes_host
    if not host:
        return failed(check_id, target, f"{target} has no kubernetes_host", "run vault/05-kubernetes-auth.sh")
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


def k8s_role_binding(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """The role must bind exactly istiod's service account and namespace: no more (who else gets the key?)."""
    path, role = _role(state, cluster)
    check_id = "vault.k8s-role-binding"
    if role is None:
        return failed(check_id, path, f"no role at {path}", "run vault/05-kubernetes-auth.sh")
    istiod = state.config.istiod
    names = sorted(role.get("bound_service_account_names") or [])
    namespaces = sorted(role.get("bound_service_account_namespaces") or [])
    if names != [istiod.service_account] or namespaces != [istiod.namespace]:
        return failed(
            check_id,
            path,
            f"{path} binds service accounts {names} in namespaces {namespaces}; the config says "
            f"[{istiod.service_account!r}] in [{istiod.namespace!r}]",
            "re-run vault/05-kubernetes-auth.sh (or fix istiod.service_account / istiod.namespace)",
        )
    return passed(check_id, path, f"{path} binds exactly {istiod.namespace}/{istiod.service_account}")


def k8s_role_policy(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """istiod's token must carry the policy that reads the CA files; any other policy is extra privilege."""
    path, role = _role(state, cluster)
    check_id, want = "vault.k8s-role-policy", cluster.cluster.policy
    if role is None:
        return skipped(check_id, path, f"no role at {path}")
    policies = sorted(role.get("token_policies") or role.get("policies") or [])
    if want not in policies:
        return failed(
            check_id, path, f"{path} carries policies {policies}, not {want!r}", "run vault/05-kubernetes-auth.sh"
        )
    extra = [p for p in policies if p not in (want, "default")]
    if extra:
        return warned(check_id, path, f"{path} carries {want!r} and also {extra}", "least privilege: drop them")
    return passed(check_id, path, f"{path} carries policy {want!r}")


def k8s_role_period(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """A periodic token keeps the agent sidecar renewing instead of re-logging in."""
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
            "run vault/05-kubernetes-auth.sh",
        )
    return passed(check_id, path, f"{path} token_period is {want}s")


def policy_text(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """The policy in Vault is the rendered policy.hcl (comments and whitespace aside)."""
    name = cluster.cluster.policy
    path = f"sys/policies/acl/{name}"
    check_id = "vault.policy-text"
    text = (state.data(path) or {}).get("policy")
    if not isinstance(text, str):
        return failed(check_id, path, f"no policy {name!r} in Vault", "run vault/06-policy.sh")
    rendered = state.rendered.get(cluster.name, "")
    if normalise_hcl(text) == normalise_hcl(rendered):
        return passed(check_id, path, f"policy {name!r} is the rendered policy.hcl")
    return failed(
        check_id,
        path,
        f"policy {name!r} differs from the rendered policy.hcl: {describe_policy_drift(text, rendered)}",
        "re-run vault/06-policy.sh (or render again if the config changed)",
    )


def policy_grants_read(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """Ask Vault (sys/capabilities) what a token holding only the policy may do on each templated path."""
    check_id, target = "vault.policy-grants-read", f"sys/capabilities ({cluster.cluster.policy})"
    paths = list(cluster.policy_paths())
    capabilities = capabilities_of_policy(state.api, cluster.cluster.policy, paths)
    missing = [f"{p} ({', '.join(capabilities.get(p) or ['deny'])})" for p in paths if not _reads(capabilities, p)]
    if missing:
        return failed(
            check_id,
            target,
            f"a token with only policy {cluster.cluster.policy!r} cannot read {'; '.join(missing)}",
            "the agent would fail to render these files: re-run vault/06-policy.sh",
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


def expiry(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """Days left on the intermediate and the root against --warn-days."""
    int_path, _ = _file(cluster, CA_CERT)
    root_path, _ = _file(cluster, ROOT_CERT)
    check_id = "vault.expiry"
    certs = [(p, c) for p in (int_path, root_path) if (c := state.certificate(p)) is not None]
    if not certs:
        return skipped(check_id, int_path, "no certificate to look at")
    path, soonest = min(certs, key=lambda item: item[1].not_valid_after_utc)
    days = (soonest.not_valid_after_utc - state.now).days
    finding = f"{path} expires first, on {soonest.not_valid_after_utc:%Y-%m-%d} ({days} days)"
    if days < 0:
        return failed(check_id, path, f"{path} expired on {soonest.not_valid_after_utc:%Y-%m-%d}", _ROTATE)
    if days < state.warn_days:
        return warned(check_id, path, f"{finding}, within --warn-days {state.warn_days}", _ROTATE)
    return passed(check_id, path, finding)


_ROTATE = "plan the rotation: istio-vault-ca plan-rotation"


# ---------------------------------------------------------------- policy text


_HCL_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|#[^\n]*|//[^\n]*|/\*.*?\*/|[{}\[\]=,]|[^\s{}\[\]=,"#]+', re.DOTALL)


def normalise_hcl(text: str) -> str:
    """HCL without comments, with single spaces between tokens and no trailing commas."""
    tokens = [t for t in _HCL_TOKEN.findall(text) if not t.startswith(("#", "//", "/*"))]
    kept = [t for i, t in enumerate(tokens) if not (t == "," and i + 1 < len(tokens) and tokens[i + 1] in "]}")]
    return " ".join(kept)


def policy_rules(text: str) -> dict[str, list[str]]:
    """path -> capabilities, from normalised HCL."""
    pattern = re.compile(r'path "([^"]+)" \{ capabilities = \[ ([^\]]*)\] \}')
    return {
        path: sorted(c.strip().strip('"') for c in caps.split(",") if c.strip())
        for path, caps in pattern.findall(normalise_hcl(text))
    }


def describe_policy_drift(found: str, rendered: str) -> str:
    """Which paths were added, removed or changed: a finding people can act on, not a raw diff."""
    have, want = policy_rules(found), policy_rules(rendered)
    parts = [f"missing path {p!r}" for p in sorted(want.keys() - have.keys())]
    parts += [f"extra path {p!r}" for p in sorted(have.keys() - want.keys())]
    parts += [
        f"{p!r} has {have[p]} instead of {want[p]}" for p in sorted(want.keys() & have.keys()) if have[p] != want[p]
    ]
    return "; ".join(parts) or "other stanzas differ"


def rendered_policies(config: Config) -> dict[str, str]:
    """policy.hcl per cluster as `render` writes it (flat for one cluster, clusters/<name>/ for several)."""
    from istio_vault_ca.generator.render.tree import render_tree

    tree = render_tree(config)
    found = {name.split("/")[1]: f.content.decode() for name, f in tree.items() if name.endswith("/policy.hcl")}
    if "policy.hcl" in tree:
        found[plan(config)[0].name] = tree["policy.hcl"].content.decode()
    return found


# ---------------------------------------------------------------- running


VAULT_WIDE: tuple[ClusterCheck, ...] = (audit_device, root_mount, root_cn, kv_mount)
PER_CLUSTER: tuple[ClusterCheck, ...] = (
    intermediate_mount,
    intermediate_issuer,
    intermediate_chain,
    kv_key_matches,
    k8s_auth_mount,
    k8s_auth_config,
    k8s_role_binding,
    k8s_role_policy,
    k8s_role_period,
    policy_text,
    policy_grants_read,
    expiry,
)


def check_vault(
    api: VaultApi,
    config: Config,
    clusters: tuple[ClusterPlan, ...],
    *,
    warn_days: int = 30,
    now: dt.datetime | None = None,
    config_source: str | None = None,
) -> list[CheckResult]:
    """Every Vault check: Vault-wide ones once, the rest per cluster. Raises VaultUnavailable (exit 3).

    `config_source` is the config file's path: root.certificate_file is relative to it."""
    moment = now or dt.datetime.now(dt.timezone.utc)
    state = VaultState(api, config, warn_days, moment, rendered_policies(config), clusters, config_source)
    results = [reachable(state), token(state)]
    results += [_guarded(check, state, clusters[0]) for check in VAULT_WIDE]
    for cluster in clusters:
        results += [_guarded(check, state, cluster) for check in PER_CLUSTER]
    return results


def _guarded(check: ClusterCheck, state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """One failing request or odd answer is that check's error, not the end of the run."""
    check_id = f"vault.{check.__name__.replace('_', '-')}"
    try:
        return check(state, cluster)
    except VaultApiError as error:
        return errored(check_id, cluster.name, str(error), "see the Vault server log for this request")
    except (ValueError, KeyError, TypeError) as error:
        return errored(check_id, cluster.name, f"unexpected answer from Vault: {type(error).__name__}")
