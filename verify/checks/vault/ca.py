"""Vault itself and the CA it holds: reachable, the audit device, the PKI and KV mounts, the root, the intermediate
and its chain, and the stored key matching the intermediate.

Each check reads the API paths named in its target through the state's cached `VaultApi`.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ....generator.config.cafiles import CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT
from ....generator.config.durations import hours
from ....generator.config.plan import OPENBAO_AUDIT_FILE, ClusterPlan, audit_stanza
from ....generator.render.layout import IMPORT_STEP
from ..chain import describe_key, issued_by
from ..pkix import spki
from ..registry import Tier, check
from ..result import CheckResult, failed, passed, skipped, warned
from .state import (
    FLAVOR_NAMES,
    NO_VALUE,
    ClusterVaultState,
    VaultState,
    ca_file,
    cn,
    max_ttl,
    root_signing_ttl,
    server_flavor,
    template_value,
    ttl,
)

# ---------------------------------------------------------------- Vault-wide checks


@check("vault.reachable", tier=Tier.INFO)
def reachable(state: VaultState) -> CheckResult:
    """sys/health: reachable and unsealed (sealed raises before we get here), and which version."""
    health = state.api.health()
    version = str(health.get("version") or "unknown version")
    role = "standby" if health.get("standby") else "active"
    finding = f"{state.api.address} is unsealed, {role}, version {version}"
    flavor = server_flavor(version)
    if flavor is not None:
        finding += f" ({FLAVOR_NAMES[flavor]})"
        configured = state.config.vault.flavor
        if flavor != configured:
            # The flavor decides how the audit device is made and which chart the Helm values are for: a
            # mismatch is something to fix, so it warns (a PASS carrying a recommendation would hide it).
            return warned(
                "vault.reachable",
                "sys/health",
                f"{finding}, but the config says vault.flavor: {configured}",
                f"set vault.flavor: {flavor} in the config and render again (the audit device and the Helm values "
                f"follow it)",
            )
    return passed("vault.reachable", "sys/health", finding)


@check("vault.namespace", tier=Tier.SETUP)
def namespace_support(state: VaultState) -> CheckResult:
    """A config naming a namespace needs a server with namespaces: Vault's community edition ignores the header."""
    check_id, target = "vault.namespace", "sys/health"
    wanted = sorted({name for name in (state.config.vault.namespace, *(c.namespace for c in state.clusters)) if name})
    if not wanted:
        # Nothing to see on the server: the root namespace is what every server has.
        return passed(check_id, target, "the config names no namespace: every path is in the root namespace")
    version = str(state.api.health().get("version") or "")
    flavor = server_flavor(version)
    names = ", ".join(wanted)
    if flavor is None:
        return skipped(
            check_id,
            target,
            f"sys/health reports no readable version ({version!r}): cannot tell if "
            f"this server has namespaces ({names})",
        )
    if flavor == "vault" and "+ent" not in version:
        # Vault CE's http/handler_stubs_oss.go `adjustRequest` returns the request unchanged: X-Vault-Namespace is
        # dropped and every path lands in the root namespace.
        return failed(
            check_id,
            target,
            f"the config names namespace {names} but Vault {version} is the community edition, which ignores "
            "X-Vault-Namespace: every path read or written would be the root namespace's",
            "namespaces need Vault Enterprise (a version ending +ent) or OpenBao 2.3+; on this server drop "
            "vault.namespace and clusters[].vault_namespace, render again and re-run setup.sh",
        )
    return passed(check_id, target, f"{FLAVOR_NAMES[flavor]} {version} has namespaces ({names})")


@check("vault.token", tier=Tier.INFO)
def token(state: VaultState) -> CheckResult:
    """auth/token/lookup-self: the token works (a refused token raises: exit 3)."""
    body = state.data("auth/token/lookup-self") or {}
    policies = ", ".join(body.get("policies") or []) or "none"
    ttl = body.get("ttl") or 0
    expires = f"expires in {ttl}s" if ttl else "does not expire"
    return passed("vault.token", "auth/token/lookup-self", f"token accepted (policies: {policies}; {expires})")


@check("vault.audit-device", tier=Tier.SETUP)
def audit_device(state: VaultState) -> CheckResult:
    """The audit device the config asks for: without it reads of the CA key leave no trace."""
    audit = state.config.vault.audit
    check_id, target = "vault.audit-device", "sys/audit"
    if not audit.enabled:
        return skipped(check_id, target, "vault.audit.enabled is false in the config")
    # OpenBao (configured, or recognised from the version) only loads audit devices its server config declares.
    declared = "openbao" in (state.config.vault.flavor, server_flavor(str(state.api.health().get("version") or "")))
    stanza = " ".join(audit_stanza(audit).split())
    repair = (
        f"OpenBao loads audit devices only from its server config: declare {stanza} ({OPENBAO_AUDIT_FILE}) "
        "and restart it"
        if declared
        else f"re-run {state.root_step('01-audit.sh')}"
    )
    device = (state.data(target) or {}).get(f"{audit.path}/")
    if device is None:
        return failed(check_id, target, f"no audit device at {audit.path}/: reads of the CA key are not logged", repair)
    if device.get("type") != "file":
        return failed(check_id, target, f"audit device {audit.path}/ is type {device.get('type')}, not file", repair)
    file_path = (device.get("options") or {}).get("file_path", "?")
    note = "" if file_path == audit.file_path else f" (config default {audit.file_path}, AUDIT_FILE_PATH override)"
    kind = "declared file audit device" if declared else "file audit device"
    return passed(check_id, target, f"{kind} {audit.path}/ writes {file_path}{note}")


@check("vault.root-mount", tier=Tier.SETUP)
def root_mount(state: VaultState) -> CheckResult:
    """The root's PKI mount must allow the intermediate's TTL, or Vault silently signs it shorter."""
    root = state.config.root
    check_id, target = "vault.root-mount", f"sys/mounts ({root.mount}/)"
    if root.mode == "external":
        return skipped(check_id, target, "root.mode is external: the root CA is not in Vault")
    mount = state.mount(root.mount)
    if mount is None:
        return failed(
            check_id, target, f"no secrets engine at {root.mount}/", f"run {state.root_step('02-root-pki.sh')}"
        )
    if mount.get("type") != "pki":
        return failed(
            check_id,
            target,
            f"{root.mount}/ is a {mount.get('type')} mount, not pki",
            "root.mount names another engine's mount: pick a free path for root.mount, or move that engine away",
        )
    want, found = root_signing_ttl(state.config), max_ttl(mount)
    if found and found < want:
        return failed(
            check_id,
            target,
            f"{root.mount}/ max lease TTL is {ttl(found)}, below {hours(want)}: intermediates get signed shorter",
            f"vault secrets tune -max-lease-ttl={hours(want)} {root.mount}",
        )
    if found != want:
        return warned(
            check_id,
            target,
            f"{root.mount}/ max lease TTL is {ttl(found)}, not the configured {hours(want)}",
            f"vault secrets tune -max-lease-ttl={hours(want)} {root.mount}",
        )
    return passed(check_id, target, f"{root.mount}/ is a pki mount with max lease TTL {hours(want)}")


@check("vault.root-cn", tier=Tier.SETUP)
def root_cn(state: VaultState) -> CheckResult:
    """The root in Vault is the one the config names (a mismatch means another root or another mount)."""
    cluster = state.clusters[0]
    if state.config.root.mode == "external":
        return external_root(state)
    path, _ = ca_file(cluster, ROOT_CERT)
    check_id, want = "vault.root-cn", state.config.root.common_name
    root = state.certificate(path)
    if root is None:
        return failed(check_id, path, f"no root CA certificate at {path}", f"run {state.root_step('02-root-pki.sh')}")
    if cn(root) != want:
        return failed(
            check_id,
            path,
            f"root CN is {cn(root)!r}, the config says {want!r}",
            "02-root-pki.sh keeps an existing root: set root.common_name back to "
            f"{cn(root)!r}, or rotate the root: istio-vault-ca plan-rotation{_config_flag(state.config_source)} --root",
        )
    return passed(check_id, path, f"root CN is {cn(root)!r}")


def external_root(state: VaultState) -> CheckResult:
    """With an offline root, each intermediate mount must hold exactly root.certificate_file as its root."""
    from ....generator.pki.offline_root import root_certificate_path

    check_id = "vault.root-cn"
    file = root_certificate_path(state.config.root.certificate_file, state.config_source)
    try:
        expected = x509.load_pem_x509_certificate(file.read_bytes()) if file else None
    except (OSError, ValueError):
        expected = None
    paths = [ca_file(cluster, ROOT_CERT)[0] for cluster in state.clusters]
    if expected is None:
        return warned(
            check_id,
            ", ".join(paths),
            f"cannot read root.certificate_file {file} to compare with Vault's copy",
            "run the verifier where the offline root's certificate (never its key) is readable",
        )
    for cluster, path in zip(state.clusters, paths, strict=True):
        found = state.certificate(path)
        if found != expected:
            what = f"holds {cn(found)!r}" if found else "holds no certificate"
            return failed(
                check_id,
                path,
                f"{path} {what}, not the offline root in {file} ({cn(expected)!r})",
                f"import the intermediate with its root: {state.cluster_step(cluster, IMPORT_STEP)}; after a root "
                "rotation (plan-rotation --root, phase (d) done), point root.certificate_file at the new root "
                "instead",
            )
    return passed(check_id, ", ".join(paths), f"every intermediate mount holds the offline root {cn(expected)!r}")


@check("vault.kv-mount", tier=Tier.SETUP)
def kv_mount(state: VaultState) -> CheckResult:
    """The KV version decides the agent template and the policy path; a mismatch renders `<no value>`."""
    kv = state.config.kv
    check_id, target = "vault.kv-mount", f"sys/mounts ({kv.mount}/)"
    mount = state.mount(kv.mount)
    if mount is None:
        return failed(
            check_id, target, f"no secrets engine at {kv.mount}/", f"run {state.any_cluster_step('03-kv.sh')}"
        )
    if mount.get("type") not in ("kv", "generic"):
        return failed(
            check_id,
            target,
            f"{kv.mount}/ is a {mount.get('type')} mount, not kv",
            "set kv.mount to a free path (the scripts never replace a mount) and render again",
        )
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


# ---------------------------------------------------------------- per-cluster checks


@check("vault.intermediate-mount", tier=Tier.SETUP, needs=("cluster",))
def intermediate_mount(state: ClusterVaultState) -> CheckResult:
    """The intermediate's PKI mount exists with the configured max TTL."""
    cluster = state.cluster
    name = cluster.cluster.intermediate_mount
    check_id, target = "vault.intermediate-mount", f"sys/mounts ({name}/)"
    mount = state.mount(name)
    if mount is None:
        return failed(check_id, target, f"no secrets engine at {name}/", f"run {state.step('04-intermediate-pki.sh')}")
    if mount.get("type") != "pki":
        return failed(
            check_id,
            target,
            f"{name}/ is a {mount.get('type')} mount, not pki",
            "set clusters[].intermediate_mount to a free path (the scripts never replace a mount) and render again",
        )
    want, found = cluster.intermediate_ttl_seconds, max_ttl(mount)
    if found != want:
        return failed(
            check_id,
            target,
            f"{name}/ max lease TTL is {ttl(found)}, the config says {hours(want)}",
            f"vault secrets tune -max-lease-ttl={hours(want)} {name}",
        )
    return passed(check_id, target, f"{name}/ is a pki mount with max lease TTL {hours(want)}")


@check("vault.intermediate-issuer", tier=Tier.ISTIOD_REFUSES, needs=("cluster",))
def intermediate_issuer(state: ClusterVaultState) -> CheckResult:
    """The intermediate is signed by the root istiod hands out as root-cert.pem."""
    cluster = state.cluster
    int_path, _ = ca_file(cluster, CA_CERT)
    root_path, _ = ca_file(cluster, ROOT_CERT)
    check_id = "vault.intermediate-issuer"
    intermediate, root = state.certificate(int_path), state.certificate(root_path)
    if intermediate is None:
        return failed(
            check_id, int_path, f"no intermediate CA at {int_path}", f"run {state.step('04-intermediate-pki.sh')}"
        )
    if root is None:
        return skipped(check_id, int_path, f"no root at {root_path} to compare with")
    if not issued_by(intermediate, root):
        rotation = _rotation_root(state, root, lambda candidate: issued_by(intermediate, candidate))
        if rotation:
            return passed(check_id, int_path, f"{int_path} ({cn(intermediate)}) is signed by {rotation}")
        return failed(
            check_id,
            int_path,
            f"{int_path} ({cn(intermediate)}) is not signed by the root at {root_path} ({cn(root)})",
            f"re-sign the intermediate with the configured root ({state.step('04-intermediate-pki.sh')} after a "
            "rotation)",
        )
    return passed(check_id, int_path, f"{int_path} ({cn(intermediate)}) is signed by {root_path}")


def _rotation_root(
    state: ClusterVaultState, root: x509.Certificate, matches: Callable[[x509.Certificate], bool]
) -> str:
    """During a root rotation (`plan-rotation --root`, phases (c) to (d)) the intermediate is re-issued under the new
    root while the root mount's default (offline root: each intermediate mount's root issuer) is still the old one:
    accepted when the trust bundle in KV holds both that root and the one that `matches`. Returns how to name it,
    '' when that is not the case."""
    from ....generator.config.plan import TRUST_BUNDLE_FIELD
    from ....generator.errors import VaultApiError, VaultUnavailable

    cluster = state.cluster
    try:
        value: object = state.data(cluster.trust_bundle_path) or {}
    except (VaultApiError, VaultUnavailable):  # a token not allowed to read it: no rotation to recognise
        return ""
    for key in cluster.kv.data_keys(TRUST_BUNDLE_FIELD):
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, str) or "BEGIN CERTIFICATE" not in value:
        return ""
    try:
        bundle = x509.load_pem_x509_certificates(value.encode())
    except ValueError:
        return ""
    signer = next((candidate for candidate in bundle if candidate != root and matches(candidate)), None)
    if root not in bundle or signer is None:
        return ""
    configured = "the root mount's default" if cluster.config.root.mode == "vault" else "the offline root"
    return (
        f"the new root {cn(signer)} of the trust bundle at {cluster.trust_bundle_path} (a root rotation: the bundle "
        f"holds it and {configured})"
    )


@check("vault.intermediate-chain", tier=Tier.SETUP, needs=("cluster",))
def intermediate_chain(state: ClusterVaultState) -> CheckResult:
    """cert/ca_chain (cert-chain.pem) starts with the intermediate and ends with the root (format=pem_bundle)."""
    cluster = state.cluster
    chain_path, _ = ca_file(cluster, CERT_CHAIN)
    root_path, _ = ca_file(cluster, ROOT_CERT)
    int_path, _ = ca_file(cluster, CA_CERT)
    check_id = "vault.intermediate-chain"
    pem = (state.data(chain_path) or {}).get("certificate")
    chain = x509.load_pem_x509_certificates(pem.encode()) if isinstance(pem, str) and "BEGIN" in pem else []
    root, intermediate = state.certificate(root_path), state.certificate(int_path)
    hint = "re-sign the intermediate with format=pem_bundle and set-signed the whole bundle"
    if not chain:
        return failed(check_id, chain_path, f"{chain_path} is empty", hint)
    if intermediate is not None and chain[0] != intermediate:
        return failed(check_id, chain_path, f"{chain_path} starts with {cn(chain[0])}, not {int_path}", hint)
    if root is not None and chain[-1] != root and (rotation := _rotation_root(state, root, chain[-1].__eq__)):
        return passed(check_id, chain_path, f"{chain_path} is the intermediate then {rotation} ({len(chain)} certs)")
    if root is None or chain[-1] != root:
        return failed(
            check_id,
            chain_path,
            f"{chain_path} ends with {cn(chain[-1])}, not the root at {root_path} ({len(chain)} cert(s))",
            hint,
        )
    return passed(check_id, chain_path, f"{chain_path} is the intermediate then the root ({len(chain)} certs)")


@check("vault.kv-key-matches", tier=Tier.ISTIOD_REFUSES, needs=("cluster",))
def kv_key(state: ClusterVaultState) -> CheckResult:
    """The key istiod gets from KV must be the intermediate's key (never printed, only compared)."""
    return kv_key_matches(state, state.cluster)


def kv_key_matches(state: VaultState, cluster: ClusterPlan) -> CheckResult:
    """`vault.kv-key-matches` for one cluster; plan-rotation asks it of each cluster from one Vault-wide state."""
    key_path, key_fields = ca_file(cluster, CA_KEY)
    int_path, _ = ca_file(cluster, CA_CERT)
    check_id = "vault.kv-key-matches"
    field_name = ".".join(key_fields)
    value = template_value(state.api.read(key_path), key_fields)
    hint = f"if a rotation was interrupted, re-run its script; else {_replace_intermediate(state, cluster)}"
    if value is None or value.startswith(NO_VALUE.encode()):
        gone = f"no secret at {key_path}" if value is None else f"{key_path} has no field {field_name}"
        return failed(check_id, key_path, *stored_key_gone(state, cluster, gone))
    try:
        key = serialization.load_pem_private_key(value, password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError):
        return failed(check_id, key_path, f"{key_path} field {field_name} is not an unencrypted PEM private key", hint)
    intermediate = state.certificate(int_path)
    if intermediate is None:
        return skipped(check_id, key_path, f"no intermediate at {int_path} to compare the key with")
    if spki(key.public_key()) != spki(intermediate.public_key()):
        return failed(
            check_id,
            key_path,
            f"the {describe_key(key)} key at {key_path} does not belong to the intermediate at {int_path}",
            hint,
        )
    return passed(check_id, key_path, f"{key_path} holds the {describe_key(key)} key of {int_path}")


def stored_key_gone(state: VaultState, cluster: ClusterPlan, gone: str) -> tuple[str, str]:
    """Finding and hint for a stored key that is not there: what happened to it (KV v2 metadata tells a soft
    delete from a destroyed version or a path never written) and the one command that repairs it."""
    kv, cli = state.config.kv, state.config.vault.cli
    kv_path = cluster.cluster.kv_path
    int_path, _ = ca_file(cluster, CA_CERT)
    if state.certificate(int_path) is None:
        return gone, "run vault/setup.sh: step 04 generates the intermediate's key and stores it"
    metadata_prefix = cluster.kv.metadata_path_prefix
    if metadata_prefix is not None:
        metadata = state.data(f"{metadata_prefix}{kv_path}") or {}
        version = metadata.get("current_version")
        current = (metadata.get("versions") or {}).get(str(version)) or {}
        if current.get("destroyed"):
            gone += f": version {version} was destroyed (kv destroy), so that key is gone"
        elif current.get("deletion_time"):
            return (
                f"{gone}: version {version} was deleted (a KV v2 soft delete, which can be undone)",
                f"restore it: {cli} kv undelete -mount={kv.mount} -versions={version} {kv_path}",
            )
        elif not metadata:
            gone += " (never written, or its metadata deleted: no version to undelete)"
    else:
        gone += " (a KV v1 delete cannot be undone)"
    return gone, f"Vault never exports a key twice: {_replace_intermediate(state, cluster)}"


def _replace_intermediate(state: VaultState, cluster: ClusterPlan) -> str:
    return (
        "replace the intermediate with a new key under the same root: "
        f"istio-vault-ca plan-rotation{_config_flag(state.config_source)} --force {cluster.name}, then run "
        f"rotation/{cluster.name}/rotate-intermediate.sh"
    )


def _config_flag(source: str | None) -> str:
    """` -c FILE` as the user named the config; nothing for the file found without -c (./istio-vault-ca.yaml or
    .yml) or the built-in default."""
    from ....generator.config.loader import BUILT_IN, LOCAL_CONFIG_NAMES

    if not source or source == BUILT_IN or source in LOCAL_CONFIG_NAMES:
        return ""
    return f" -c {shlex.quote(source)}"
