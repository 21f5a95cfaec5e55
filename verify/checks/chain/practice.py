"""Checks of the tiers "good practice" (warn: it works, but against good practice) and "policy" (fail by this
tool's security policy where istiod and Go would accept: listed in docs/explanation/verifier.md)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ....generator.config.cafiles import CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT
from ...clients.files import MAX_CHAIN_CERTS
from ..pkix import describe_key
from ..registry import Tier, check
from ..result import CheckResult, failed, passed, skipped, warned
from . import gox509
from .bundle import TLS_CERT, Bundle, common_name, moment
from .versions import NEWEST, IstioVersion

MIN_RSA_BITS = 2048
MIN_EC_BITS = 256


@check("chain.key-strength", tier=Tier.POLICY)
def key_strength(bundle: Bundle) -> CheckResult:
    """Policy: RSA below 2048 bits and EC below P-256 fail here, although Go (and so istiod) accepts RSA-1024."""
    subjects: list[tuple[str, object]] = [(bundle.name_of(c), c.public_key()) for c in bundle.certificates()]
    if bundle.key is not None:
        subjects.insert(0, (bundle.label(CA_KEY), bundle.key))
    if not subjects:
        return skipped("chain.key-strength", bundle.target, "no key or certificate loaded")
    weak = [f"{name}: {reason}" for name, key in subjects if (reason := _weakness(key))]
    if weak:
        return failed(
            "chain.key-strength",
            bundle.target,
            "policy: " + "; ".join(weak),
            "re-issue with key_type rsa and key_bits 2048 or more, or key_type ec and key_bits 256 or more",
        )
    first = subjects[0]
    return passed(
        "chain.key-strength", bundle.target, f"every key is strong enough ({first[0]}: {describe_key(first[1])})"
    )


def _weakness(key: object) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"RSA-{key.key_size} is below {MIN_RSA_BITS} bits"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS:
        return f"{describe_key(key)} is below P-256"
    return ""


@check("chain.key-type", tier=Tier.PRACTICE, needs=("ca_cert",))
def key_type(bundle: Bundle) -> CheckResult:
    """RSA and ECDSA P-256/P-384 are what Istio's tooling and Vault issue; other CA keys (Ed25519, P-521) verify
    in Go but are rarely tested with Envoy and other peers."""
    assert bundle.ca_cert is not None
    key = bundle.ca_cert.public_key()
    usual = isinstance(key, rsa.RSAPublicKey) or (
        isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in ("secp256r1", "secp384r1")
    )
    if usual:
        return passed("chain.key-type", bundle.target, f"{bundle.label(CA_CERT)} holds an {describe_key(key)} key")
    kind = "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else describe_key(key)
    return warned(
        "chain.key-type",
        bundle.target,
        f"{bundle.label(CA_CERT)} holds an {kind} key: Go peers accept it, but few meshes run one",
        "prefer key_type rsa (2048-4096) or ec (256 or 384), as Vault and Istio's own tooling issue",
    )


@check("chain.ca-extensions", tier=Tier.PRACTICE, needs=("ca_cert",))
def ca_extensions(bundle: Bundle) -> CheckResult:
    """RFC 5280 asks a CA for a critical basicConstraints and a keyUsage with keyCertSign; Go does not insist."""
    assert bundle.ca_cert is not None
    name = bundle.label(CA_CERT)
    notes = []
    try:
        constraints = bundle.ca_cert.extensions.get_extension_for_class(x509.BasicConstraints)
        if not constraints.critical:
            notes.append("basicConstraints is not critical")
    except x509.ExtensionNotFound:
        pass  # chain.ca-cert-is-ca fails
    if gox509.extension(bundle.ca_cert, x509.KeyUsage) is None:
        notes.append("it has no keyUsage extension")
    if notes:
        return warned(
            "chain.ca-extensions",
            bundle.target,
            f"{name}: {'; '.join(notes)} (accepted by Go and istiod, not by strict RFC 5280 validators)",
            "sign intermediates with Vault's sign-intermediate, which sets both",
        )
    return passed("chain.ca-extensions", bundle.target, f"{name} has a critical basicConstraints and a keyUsage")


@check("chain.order", tier=Tier.PRACTICE, needs=("ca_cert", "chain", "roots"))
def order(bundle: Bundle) -> CheckResult:
    """cert-chain.pem issuer-first (ca-cert.pem, then each issuer up to the root), as Vault's cert/ca_chain writes
    it; istiod and Go peers build paths from an unordered pool, so any order works."""
    assert bundle.ca_cert is not None and bundle.chain is not None and bundle.roots is not None
    chain_name = bundle.label(CERT_CHAIN)
    hint = "write cert-chain.pem as ca-cert.pem followed by each issuer up to the root (Vault: cert/ca_chain)"
    if not bundle.chain:
        return skipped("chain.order", bundle.target, f"{chain_name} holds no certificate")
    first = bundle.chain[0]
    if first != bundle.ca_cert:
        return warned(
            "chain.order",
            bundle.target,
            f"{chain_name} starts with {common_name(first)}, "
            f"not {bundle.label(CA_CERT)} ({common_name(bundle.ca_cert)})",
            hint,
        )
    for index, (cert, issuer) in enumerate(zip(bundle.chain, bundle.chain[1:], strict=False)):
        if not gox509.signed_by(cert, issuer):
            return warned(
                "chain.order",
                bundle.target,
                f"{chain_name}[{index}] ({common_name(cert)}) is not issued by the next one, "
                f"{chain_name}[{index + 1}] ({common_name(issuer)})",
                hint,
            )
    last = bundle.chain[-1]
    if last in bundle.roots or any(gox509.signed_by(last, root) for root in bundle.roots):
        return passed(
            "chain.order", bundle.target, f"{chain_name} is in issuer-first order ({len(bundle.chain)} certs)"
        )
    return warned(
        "chain.order",
        bundle.target,
        f"{chain_name} ends with {common_name(last)}, which is neither {bundle.label(ROOT_CERT)} nor issued by it",
        hint,
    )


@check("chain.includes-root", tier=Tier.PRACTICE, needs=("chain", "roots"))
def includes_root(bundle: Bundle) -> CheckResult:
    """Vault's pem_bundle ends cert-chain.pem with the root; peers need only the intermediates (they hold the root
    from root-cert.pem), so a chain without it works."""
    assert bundle.chain is not None and bundle.roots is not None
    chain_name, root_name = bundle.label(CERT_CHAIN), bundle.label(ROOT_CERT)
    if bundle.chain and bundle.chain[-1] in bundle.roots:
        return passed("chain.includes-root", bundle.target, f"{chain_name} ends with {root_name}")
    ends = f"it ends with {common_name(bundle.chain[-1])}" if bundle.chain else "it is empty"
    return warned(
        "chain.includes-root",
        bundle.target,
        f"{chain_name} does not end with {root_name} ({ends})",
        "sign the intermediate with format=pem_bundle so cert/ca_chain includes the root",
    )


@check("chain.root-self-signed", tier=Tier.PRACTICE, needs=("roots",))
def root_self_signed(bundle: Bundle) -> CheckResult:
    """Go trusts any certificate of root-cert.pem as an anchor and never checks its own signature; a self-signed
    CA root with a SHA-256 (or better) self-signature is what every tool expects."""
    assert bundle.roots is not None
    hint = "root-cert.pem should hold the root CA certificate (vault read <root mount>/cert/ca)"
    for root in bundle.roots:
        name = bundle.name_of(root)
        if root.issuer != root.subject or not gox509.signature_valid(root, root):
            return warned(
                "chain.root-self-signed",
                bundle.target,
                f"{name} ({common_name(root)}) is not self-signed: it is issued by {root.issuer.rfc4514_string()} "
                "(Go accepts it as an anchor)",
                hint,
            )
        if gox509.signature_hash(root) in ("sha1", "md5"):
            return warned(
                "chain.root-self-signed",
                bundle.target,
                f"{name} is self-signed with {gox509.signature_hash(root).upper()} (anchors' self-signatures are not "
                "checked, but strict tools reject it)",
                "re-issue the root with SHA-256 when you next rotate it",
            )
    return passed("chain.root-self-signed", bundle.target, f"{bundle.label(ROOT_CERT)} is a self-signed root")


@check("chain.cert-count", tier=Tier.PRACTICE)
def cert_count(bundle: Bundle) -> CheckResult:
    """More certificates than any real deployment has (root, an intermediate or two, a cross-signed root during a
    rotation) is a sign the wrong file was mounted; istiod still loads it, so a warning."""
    files = ((CERT_CHAIN, bundle.chain), (ROOT_CERT, bundle.roots))
    counts = [(bundle.label(role), len(certs or ())) for role, certs in files]
    large = [f"{name} holds {count} certificates" for name, count in counts if count > MAX_CHAIN_CERTS]
    if large:
        return warned(
            "chain.cert-count",
            bundle.target,
            f"{'; '.join(large)}, more than the {MAX_CHAIN_CERTS} any real deployment needs",
            "cert-chain.pem is the intermediate and its issuers; root-cert.pem the root (two during a rotation)",
        )
    return passed("chain.cert-count", bundle.target, ", ".join(f"{name}: {count}" for name, count in counts))


@check("chain.not-beyond-root", tier=Tier.PRACTICE, needs=("ca_cert",))
def not_beyond_root(bundle: Bundle) -> CheckResult:
    """An intermediate that ends with or after its root stops verifying when the root expires; Vault only warns."""
    assert bundle.ca_cert is not None
    root = bundle.root
    if root is None:
        return skipped("chain.not-beyond-root", bundle.target, f"needs {bundle.label(ROOT_CERT)}, which did not load")
    late = [c for c in (bundle.path()[:-1] or (bundle.ca_cert,)) if c.not_valid_after_utc >= root.not_valid_after_utc]
    if late and late[0] != root:
        cert = late[0]
        return warned(
            "chain.not-beyond-root",
            bundle.target,
            f"{bundle.name_of(cert)} expires {moment(cert.not_valid_after_utc, root.not_valid_after_utc)}, "
            f"not before {bundle.label(ROOT_CERT)} ({moment(root.not_valid_after_utc, cert.not_valid_after_utc)})",
            "re-sign the intermediate with a ttl that ends before the root's (or rotate the root first)",
        )
    end = bundle.ca_cert.not_valid_after_utc
    return passed(
        "chain.not-beyond-root",
        bundle.target,
        f"{bundle.label(CA_CERT)} ends {moment(end, root.not_valid_after_utc)}, before the root "
        f"({moment(root.not_valid_after_utc, end)})",
    )


@check("chain.expiry", tier=Tier.PRACTICE)
def expiry(bundle: Bundle) -> CheckResult:
    """Days left before the first certificate expires, against --warn-days: time to rotate."""
    certs = bundle.certificates()
    if not certs:
        return skipped("chain.expiry", bundle.target, "no certificate loaded")
    soonest = min(certs, key=lambda c: c.not_valid_after_utc)
    days = (soonest.not_valid_after_utc - bundle.now).days
    if soonest.not_valid_after_utc < bundle.now:
        return warned(
            "chain.expiry",
            bundle.target,
            f"{bundle.name_of(soonest)} already expired on {moment(soonest.not_valid_after_utc)}",
            "rotate now: istio-vault-ca plan-rotation",
        )
    finding = f"{bundle.name_of(soonest)} expires first, on {moment(soonest.not_valid_after_utc)} ({days} days)"
    if days < bundle.warn_days:
        return warned(
            "chain.expiry",
            bundle.target,
            f"{finding}, within --warn-days {bundle.warn_days}",
            "plan the rotation now: istio-vault-ca plan-rotation",
        )
    return passed("chain.expiry", bundle.target, finding)


@check("chain.tls-layout", tier=Tier.PRACTICE, when="tls_layout_note")
def tls_layout(bundle: Bundle) -> CheckResult:
    """istiod 1.14.2+ reads tls.crt / tls.key / ca.crt instead of the four names when tls.crt exists: a stray
    tls.crt makes istiod ignore the Vault-rendered files."""
    return warned(
        "chain.tls-layout",
        bundle.target,
        f"{TLS_CERT} is present: istiod {bundle.version} reads tls.crt, tls.key and ca.crt and ignores "
        "ca-cert.pem, ca-key.pem, cert-chain.pem and root-cert.pem (these checks judge the tls.* files)",
        "remove tls.* from the CA directory unless a kubernetes.io/tls Secret is meant to be istiod's CA",
    )


@check("chain.key-file-mode", tier=Tier.PRACTICE, when="key_mode")
def key_file_mode(bundle: Bundle) -> CheckResult:
    """The CA key readable by its owner only (the agent writes it with key_file_mode, 0400 by default); a warning,
    since Istio's own sample bundles ship world-readable keys and istiod loads them."""
    assert bundle.key_mode is not None
    label, mode = bundle.label(CA_KEY), bundle.key_mode
    if mode & 0o077:
        return warned(
            "chain.key-file-mode",
            bundle.target,
            f"{label} is mode {mode:04o}: group or others can read the CA key",
            f"chmod 600 {label} (in the pod: vault.hashicorp.com/agent-inject-perms-{CA_KEY})",
        )
    return passed("chain.key-file-mode", bundle.target, f"{label} is mode {mode:04o} (owner only)")


@check("chain.istio-release", tier=Tier.PRACTICE, when="unmodelled_release")
def istio_release(bundle: Bundle) -> CheckResult:
    """An istiod newer than the releases modelled is judged as the newest one (every release fact holds "from
    X on"), with a warning: a change in how that release loads the CA directory would not be known here."""
    newest = IstioVersion(*NEWEST)
    return warned(
        "chain.istio-release",
        bundle.target,
        f"Istio {bundle.unmodelled_release} is newer than the releases this verifier models: judged as Istio "
        f"{newest} loads the CA files",
        f"check Istio's release notes since {newest} for changes to plugged-in CA files (pilot/pkg/bootstrap/"
        "istio_ca.go), or upgrade istio-vault-ca to a release that models it",
    )
