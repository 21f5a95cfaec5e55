"""What a CA certificate in Vault holds against what the config asks for: common name, key type and size,
issuer, path length and lifetime.

The setup scripts never replace an existing root or intermediate, so after a config change Vault keeps the
old CA; these differences are what `verify vault` fails on and what makes `plan-rotation` list a cluster as
due ("config changed").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ....generator.config.cafiles import CA_CERT, ROOT_CERT
from ....generator.config.durations import parse_duration
from ....generator.config.model import Root
from ....generator.config.plan import ClusterPlan
from ..registry import Tier, check
from ..result import CheckResult, failed, passed, skipped
from .state import ClusterVaultState, VaultState, ca_file, cn

# Vault and OpenBao backdate the CAs they generate and sign by `not_before_duration`, 30 s by default (openbao
# builtin/logical/pki/fields.go, addCACommonFields, used by root/generate and root/sign-intermediate): a CA's
# lifetime is the TTL asked for plus that. Five minutes of slack also covers the offline signer's one-minute
# backdate (generator/pki/offline_root.py).
LIFETIME_SLACK_SECONDS = 300


@dataclass(frozen=True)
class Difference:
    """One config field whose value the CA in Vault does not have (no key material, only its type and size)."""

    field: str
    want: str
    found: str

    def describe(self) -> str:
        return f"{self.field}: the config asks for {self.want}, Vault holds {self.found}"


def key_of(cert: x509.Certificate) -> tuple[str, int] | None:
    """(key_type, key_bits) as the config spells them (`rsa`/4096, `ec`/256), None for any other key type."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec", key.curve.key_size
    return None


def lifetime_seconds(cert: x509.Certificate) -> int:
    return int((cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds())


def ca_differences(
    cert: x509.Certificate,
    *,
    field: Callable[[str], str],
    common_name: str,
    key_type: str,
    key_bits: int,
    ttl: str,
    issuer_common_name: str | None = None,
    max_path_length: int | None = None,
) -> list[Difference]:
    """Every config field the certificate differs on, each named by `field` (`key_bits` -> `root.key_bits`).

    A lifetime shorter than the TTL is not a difference (Vault may cap it at the mount's or the issuer's end);
    one longer than the TTL allows is. `issuer_common_name` and `max_path_length` are compared when given
    (max_path_length -1 means no limit, as in Vault's sign-intermediate)."""
    found: list[Difference] = []
    if cn(cert) != common_name:
        found.append(Difference(field("common_name"), repr(common_name), repr(cn(cert))))
    key = key_of(cert)
    if key is None or key[0] != key_type:
        found.append(Difference(field("key_type"), key_type, key[0] if key else type(cert.public_key()).__name__))
    elif key[1] != key_bits:
        found.append(Difference(field("key_bits"), str(key_bits), str(key[1])))
    if issuer_common_name is not None:
        issuer = cert.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        issued_by = str(issuer[0].value) if issuer else cert.issuer.rfc4514_string()
        if issued_by != issuer_common_name:
            found.append(Difference("issuer", f"the root {issuer_common_name!r}", f"one issued by {issued_by!r}"))
    if max_path_length is not None:
        constraints = _basic_constraints(cert)
        have = -1 if constraints is None or constraints.path_length is None else constraints.path_length
        if have != max_path_length:
            found.append(Difference(field("max_path_length"), str(max_path_length), str(have)))
    allowed, lifetime = parse_duration(ttl), lifetime_seconds(cert)
    if lifetime > allowed + LIFETIME_SLACK_SECONDS:
        # Whole hours, as the config spells a TTL (the backdate's seconds aside).
        found.append(Difference(field("ttl"), f"at most {ttl}", f"a CA valid {lifetime // 3600}h"))
    return found


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def root_differences(cert: x509.Certificate, root: Root) -> list[Difference]:
    """A root generated in Vault (root.mode vault) against root.*."""
    return ca_differences(
        cert,
        field=lambda name: f"root.{name}",
        common_name=root.common_name,
        key_type=root.key_type,
        key_bits=root.key_bits,
        ttl=root.ttl,
    )


def intermediate_differences(
    cert: x509.Certificate, cluster: ClusterPlan, root_in_vault: x509.Certificate | None = None
) -> list[Difference]:
    """A cluster's intermediate against its effective intermediate.* (defaults with the cluster's overrides).

    The issuer is compared with root.common_name when the root is generated in Vault and `root_in_vault` (the
    root mount's CA) has that name: a root that differs is `vault.root-cn`'s finding, fixed by a root rotation,
    not by a new intermediate under it. An offline root's name is whatever root.certificate_file holds, which
    `vault.root-cn` compares instead."""
    config = cluster.config
    settings = cluster.intermediate
    root_named = root_in_vault is not None and cn(root_in_vault) == config.root.common_name
    return ca_differences(
        cert,
        field=cluster.intermediate_field,
        common_name=settings.common_name,
        key_type=settings.key_type,
        key_bits=settings.key_bits,
        ttl=settings.ttl,
        issuer_common_name=config.root.common_name if config.root.mode == "vault" and root_named else None,
        max_path_length=settings.max_path_length,
    )


# ---------------------------------------------------------------- checks


def _forced_rotation(state: VaultState, cluster: ClusterPlan) -> str:
    return (
        f"Vault keeps an existing intermediate (setup.sh never replaces a CA): issue one as the config says with "
        f"istio-vault-ca plan-rotation{_flag(state)} --force {cluster.name}, then run "
        f"rotation/{cluster.name}/rotate-intermediate.sh (or set the config back to what Vault holds)"
    )


@check("vault.root-config", tier=Tier.SETUP)
def root_config(state: VaultState) -> CheckResult:
    """The root Vault generated is the one root.* describes: 02-root-pki.sh keeps an existing root whatever the
    config says now, so a changed CN, key or TTL would otherwise never show."""
    check_id = "vault.root-config"
    path = ca_file(state.clusters[0], ROOT_CERT)[0]
    if state.config.root.mode == "external":
        return skipped(check_id, path, "root.mode is external: vault.root-cn compares the offline root")
    root = state.certificate(path)
    if root is None:
        return skipped(check_id, path, f"no root CA certificate at {path} (vault.root-cn reports it)")
    differences = root_differences(root, state.config.root)
    if differences:
        return failed(
            check_id,
            path,
            f"the root at {path} is not what the config asks for: " + "; ".join(d.describe() for d in differences),
            "Vault keeps an existing root (02-root-pki.sh never replaces a CA): rotate it as the config says with "
            f"istio-vault-ca plan-rotation{_flag(state)} --root, or set root.* back to what Vault holds",
        )
    return passed(check_id, path, f"the root at {path} has the configured CN, key and lifetime")


@check("vault.intermediate-config", tier=Tier.SETUP, needs=("cluster",))
def intermediate_config(state: ClusterVaultState) -> CheckResult:
    """The intermediate is the one the config describes (CN, key type and size, issuer, path length, at most the
    configured lifetime): step 04 keeps an existing intermediate whatever the config says now."""
    cluster = state.cluster
    check_id = "vault.intermediate-config"
    path = ca_file(cluster, CA_CERT)[0]
    intermediate = state.certificate(path)
    if intermediate is None:
        return skipped(check_id, path, f"no intermediate CA at {path} (vault.intermediate-issuer reports it)")
    differences = intermediate_differences(intermediate, cluster, state.certificate(ca_file(cluster, ROOT_CERT)[0]))
    if differences:
        return failed(
            check_id,
            path,
            f"the intermediate at {path} is not what the config asks for: "
            + "; ".join(d.describe() for d in differences),
            _forced_rotation(state, cluster),
        )
    return passed(check_id, path, f"the intermediate at {path} has the configured CN, key, issuer and lifetime")


def _flag(state: VaultState) -> str:
    from .ca import _config_flag

    return _config_flag(state.config_source)
