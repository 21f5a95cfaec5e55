"""Checks for an ambient mesh (`istiod.data_plane: ambient`): the CA files judged as ztunnel takes them.

ztunnel does not read the CA directory: it sends istiod a CSR for each workload on its node and parses istiod's
`IstioCertificateResponse.cert_chain`. It is Rust and no oracle binary of it runs here (it is not a Go module
the fidelity tests can build): these verdicts come from reading its source, cited below, not from running it.
Sources read (github.com/istio/ztunnel at the tags 1.24.0, 1.25.0, 1.26.0, 1.28.0, 1.29.0, 1.30.0, 1.30.3 and
1.31.0-rc.0; istio/istio security/pkg/server/ca/server.go):

- istiod answers a CSR with `[leaf, cert-chain.pem, root-cert.pem]` (server.go CreateCertificate). Since
  istio/istio#55060 (merged 2025-02-11, taken here as Istio 1.26: the istio tag itself was not read) every element
  that holds several PEM certificates is split into one element per certificate ("specifically expected by
  ztunnel"); before, cert-chain.pem and root-cert.pem are one element each.
- ztunnel src/identity/caclient.rs `fetch_certificate` passes every element after the leaf to
  src/tls/certificate.rs `WorkloadCertificate::new`. From 1.26.0 that takes the trust roots from the LAST element
  only (`chain.last()`, all of its certificates via `parse_cert_multi`) and each other element through
  `parse_cert`, which reads the FIRST PEM certificate of the element and drops the rest. At 1.24.0 and 1.25.0
  every element goes through `parse_cert` and the roots are the last element's first certificate.
- The trust roots come only from that response: ztunnel's src/ has no reference to meshConfig caCertificates
  (git grep at 1.30.3), so extra roots there reach sidecars, never ztunnel.
- CRLs from 1.29.0 only (src/tls/crl.rs `CrlManager`, enabled by the CRL_PATH environment variable in
  src/config.rs); see `crl` below.

So ztunnel trusts exactly one root, and with the split response (1.26+) the last certificate of root-cert.pem;
before the split it presents only the first certificate of cert-chain.pem. Ambient meshes are judged from 1.24
(the oldest tag read); older releases are judged as 1.24 is. ztunnel and istiod are assumed to be the same
release (they come from one chart version).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives.serialization import PublicFormat

from ....generator.config.cafiles import CA_CERT, CERT_CHAIN, ROOT_CERT
from ..pkix import Encoding
from ..registry import Tier, check
from ..result import CheckResult, failed, passed, skipped, warned
from . import gox509, pem
from .bundle import CA_CRL, Bundle, common_name
from .peers import make_leaf
from .versions import IstioVersion

# istio/istio#55060 (server.go CreateCertificate splits every element into one certificate each).
SPLIT_RESPONSE_FROM = (1, 26)
# ztunnel src/tls/certificate.rs WorkloadCertificate::new: `chain.last()` with parse_cert_multi, first at 1.26.0.
MULTI_CERT_ROOT_ELEMENT_FROM = (1, 26)
# ztunnel src/tls/crl.rs and CRL_PATH (src/config.rs): first at the 1.29.0 tag (absent at 1.28.0).
CRL_FROM = (1, 29)

HINT_ORDER = (
    "write cert-chain.pem as ca-cert.pem followed by each issuer up to the root (Vault: cert/ca_chain), with "
    "no other certificate"
)


class ZtunnelView(NamedTuple):
    """What ztunnel keeps of istiod's response: the roots it trusts and the CA certificates it presents after the
    workload certificate (in the order it sends them)."""

    trusted: tuple[x509.Certificate, ...]
    presented: tuple[x509.Certificate, ...]
    split: bool


def _anchor(cert: x509.Certificate) -> bytes:
    """A root as webpki (rustls) uses it, a TrustAnchor: subject and public key; serial and dates do not count, so
    a root re-issued with the same name and key is the same anchor."""
    key = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return cert.subject.public_bytes() + key


def _release(version: IstioVersion) -> str:
    return f"{version.major}.{version.minor}"


def response_elements(bundle: Bundle) -> list[tuple[x509.Certificate, ...]]:
    """The CA part of istiod's response (after the leaf), each element as the certificates it holds: cert-chain.pem
    then root-cert.pem, one element per file, or one per certificate from 1.26 (SPLIT_RESPONSE_FROM)."""
    files = [bundle.chain or (), bundle.roots or ()]
    elements = [tuple(certs) for certs in files if certs]  # istiod appends only non-empty files
    if bundle.version.at_least(*SPLIT_RESPONSE_FROM):
        return [(cert,) for element in elements for cert in element]
    return elements


def ztunnel_view(bundle: Bundle) -> ZtunnelView:
    """WorkloadCertificate::new over the response: the last element is the roots (all of its certificates from
    1.26, its first before), every other element contributes its first certificate."""
    elements = response_elements(bundle)
    split = bundle.version.at_least(*SPLIT_RESPONSE_FROM)
    if not elements:
        return ZtunnelView((), (), split)
    if bundle.version.at_least(*MULTI_CERT_ROOT_ELEMENT_FROM):
        return ZtunnelView(elements[-1], tuple(element[0] for element in elements[:-1]), split)
    firsts = tuple(element[0] for element in elements)
    return ZtunnelView(firsts[-1:], firsts[:-1], split)


@check("chain.ztunnel-chain", tier=Tier.PEERS_REJECT, needs=("ca_cert", "key", "chain", "roots"), when="ambient")
def ztunnel_chain(bundle: Bundle) -> CheckResult:
    """Ambient: ztunnel presents the workload certificate with only what it kept of cert-chain.pem (before 1.26 its
    first certificate alone): that must complete the path to root-cert.pem, or peers fail with "unable to get
    issuer certificate"; so the order and completeness that only warn for sidecars fail here."""
    assert bundle.ca_cert is not None and bundle.key is not None and bundle.chain is not None
    assert bundle.roots is not None
    chain_name = bundle.label(CERT_CHAIN)
    view = ztunnel_view(bundle)
    release = _release(bundle.version)
    if not bundle.chain:
        return failed(
            "chain.ztunnel-chain",
            bundle.target,
            f"{chain_name} is empty: ztunnel {release} presents the workload certificate alone and would take the "
            f"roots from {bundle.label(ROOT_CERT)}'s element; peers cannot reach the root",
            HINT_ORDER,
        )
    if not view.split and bundle.chain[0] != bundle.ca_cert:
        return failed(
            "chain.ztunnel-chain",
            bundle.target,
            f"{chain_name} starts with {common_name(bundle.chain[0])}, not {bundle.label(CA_CERT)}: istiod "
            f"{release} sends the file as one element and ztunnel {release} keeps only its first certificate, so peers "
            "receive the wrong issuer (unable to get issuer certificate)",
            HINT_ORDER,
        )
    leaf = make_leaf(bundle.ca_cert, bundle.key, bundle.now)
    options = gox509.Options(roots=bundle.roots, intermediates=view.presented, now=bundle.now)
    try:
        gox509.verify(leaf, options)
    except gox509.VerifyError as error:
        kept = ", ".join(common_name(cert) for cert in view.presented) or "nothing"
        how = "every certificate" if view.split else "only the first certificate"
        return failed(
            "chain.ztunnel-chain",
            bundle.target,
            f"ztunnel {release} presents {how} of {chain_name} ({kept}) after the workload certificate, and peers "
            f"cannot build a path to {bundle.label(ROOT_CERT)} from it: {error}",
            HINT_ORDER
            + (
                "; before Istio 1.26 ztunnel sends only ca-cert.pem, so an intermediate below another intermediate "
                "cannot work in ambient mode: upgrade, or sign ca-cert.pem directly with the root"
                if not view.split
                else ""
            ),
        )
    return passed(
        "chain.ztunnel-chain",
        bundle.target,
        f"ztunnel {release} presents {len(view.presented)} CA certificate(s) of the response after the workload "
        f"certificate and they complete the path to {bundle.label(ROOT_CERT)}",
    )


@check("chain.ztunnel-root", tier=Tier.PEERS_REJECT, needs=("ca_cert", "roots"), when="ambient")
def ztunnel_root(bundle: Bundle) -> CheckResult:
    """Ambient: ztunnel trusts one root, the last certificate of root-cert.pem from 1.26 (its first before): when
    istiod's intermediate chains to another root, every ambient connection fails; other roots (a rotation's
    bundle, duplicates) are not trusted by ztunnel at all, which only warns."""
    assert bundle.roots is not None
    root_name = bundle.label(ROOT_CERT)
    view = ztunnel_view(bundle)
    release = _release(bundle.version)
    which = "last" if bundle.version.at_least(*MULTI_CERT_ROOT_ELEMENT_FROM) else "first"
    if not bundle.istiod_path:
        return skipped("chain.ztunnel-root", bundle.target, "no verified path (chain.path-valid says why)")
    signing = bundle.istiod_path[-1]
    trusted = view.trusted[0] if view.trusted else None
    if trusted is None or _anchor(signing) != _anchor(trusted):
        kept = f"'{common_name(trusted)}'" if trusted is not None else "nothing"
        return failed(
            "chain.ztunnel-root",
            bundle.target,
            f"ztunnel {release} trusts only the {which} certificate of {root_name} ({kept}), but "
            f"{bundle.label(CA_CERT)} chains to {bundle.name_of(signing)} ('{common_name(signing)}'): every "
            "ambient connection fails (invalid peer certificate: UnknownIssuer / BadSignature)",
            f"make the root that signs the intermediate the {which} certificate of root-cert.pem, or re-issue the "
            "intermediate under that root; a root rotation in ambient mode is planned by plan-rotation --root with "
            "the ztunnel restarts",
        )
    trusted_der = _anchor(trusted)
    ders = [_anchor(root) for root in bundle.roots]
    twice = next((root for root, der in zip(bundle.roots, ders, strict=True) if ders.count(der) > 1), None)
    untrusted = [
        root
        for index, (root, der) in enumerate(zip(bundle.roots, ders, strict=True))
        if der != trusted_der and der not in ders[:index]
    ]
    notes = []
    if twice is not None:
        notes.append(
            f"{root_name} lists '{common_name(twice)}' more than once (ztunnel {release} trusts one certificate "
            "either way)"
        )
    if untrusted:
        names = ", ".join(f"'{common_name(root)}'" for root in untrusted)
        notes.append(
            f"ztunnel {release} does not trust the other root(s) of {root_name} ({names}): workloads whose "
            "certificates chain to them (other clusters, not yet re-issued ones) are rejected by ambient peers"
        )
    if notes:
        return warned(
            "chain.ztunnel-root",
            bundle.target,
            "; ".join(notes),
            "in ambient mode keep root-cert.pem to the one root that signs every cluster's intermediate; during a "
            "root rotation follow plan-rotation --root's ambient phases (restart istiod, then ztunnel, then workloads)",
        )
    return passed(
        "chain.ztunnel-root",
        bundle.target,
        f"ztunnel {release} trusts '{common_name(trusted)}', the root {bundle.label(CA_CERT)} chains to",
    )


@check("chain.ztunnel-crl", tier=Tier.POLICY, when="ambient_crl")
def ztunnel_crl(bundle: Bundle) -> CheckResult:
    """Ambient with ca-crl.pem: ztunnel before 1.29 enforces no CRL (warn); from 1.29 (src/tls/crl.rs) one block it
    cannot parse makes it drop every CRL and accept revoked certificates, which fails by policy."""
    data = bundle.crl or b""
    name = bundle.label(CA_CRL)
    release = _release(bundle.version)
    if not bundle.version.at_least(*CRL_FROM):
        return warned(
            "chain.ztunnel-crl",
            bundle.target,
            f"ztunnel {release} has no CRL support (it arrives in 1.29): ambient workloads accept certificates "
            f"{name} revokes; only sidecars enforce it",
            "upgrade ambient meshes to Istio 1.29+ to enforce revocations in ztunnel, or revoke by rotating the "
            "intermediate",
        )
    if not data.strip():
        return passed(
            "chain.ztunnel-crl", bundle.target, f"{name} is empty: ztunnel {release} treats it as no revocations"
        )
    if not data.startswith(b"-----BEGIN"):
        ders = [data]  # CrlManager::load_crl: anything not PEM is one DER CRL
    else:
        ders = [block.der for block in pem.blocks(data) if block.type == "X509 CRL"]
    if not ders:
        return warned(
            "chain.ztunnel-crl",
            bundle.target,
            f"{name} holds no 'X509 CRL' block: ztunnel skips every other block and enforces no revocation",
            "put the CRLs in ca-crl.pem as PEM 'X509 CRL' blocks",
        )
    for index, der in enumerate(ders, start=1):
        try:
            x509.load_der_x509_crl(der)
        except ValueError:
            return failed(
                "chain.ztunnel-crl",
                bundle.target,
                f"policy: CRL {index} of {name} does not parse: ztunnel {release} logs 'failed to initialize crl "
                "manager' and runs without any CRL, accepting revoked certificates",
                "replace ca-crl.pem with CRLs that parse (openssl crl -in ca-crl.pem -noout)",
            )
    return passed(
        "chain.ztunnel-crl",
        bundle.target,
        f"{name} holds {len(ders)} CRL(s) ztunnel {release} parses; it checks them on inbound connections only, "
        "allowing unknown revocation status, and when CRL_PATH is set",
    )


class FleetRoots(NamedTuple):
    """The root each ambient target's intermediate chains to (None: no verified path), for the fleet check."""

    target: str
    signing: tuple[tuple[str, x509.Certificate | None], ...]

    @property
    def fleet(self) -> bool:
        """Registry `when`: this state is the fleet's (a Bundle's `fleet` is None, so the check skips bundles)."""
        return True


def _root_name(root: x509.Certificate) -> str:
    """The root's name and its key's SHA-256 prefix: two roots may share a name, never a key."""
    key = root.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return f"'{common_name(root)}' (key sha256 {hashlib.sha256(key).hexdigest()[:16]})"


@check("chain.ztunnel-shared-root", tier=Tier.PEERS_REJECT, when="fleet")
def ztunnel_shared_root(state: FleetRoots) -> CheckResult:
    """Ambient across several targets: each ztunnel trusts one root (chain.ztunnel-root), so every cluster's
    intermediate must chain to the same root or cross-cluster ambient traffic fails. A check, not a config rule:
    the config has one root for all clusters, so per-cluster roots come only from what is deployed."""
    groups: dict[bytes, list[str]] = {}
    roots: dict[bytes, x509.Certificate] = {}
    unknown = [target for target, root in state.signing if root is None]
    for target, root in state.signing:
        if root is not None:
            der = _anchor(root)
            groups.setdefault(der, []).append(target)
            roots[der] = root
    if len(groups) > 1:
        listed = "; ".join(f"{', '.join(targets)} chain to {_root_name(roots[der])}" for der, targets in groups.items())
        return failed(
            "chain.ztunnel-shared-root",
            state.target,
            f"ambient clusters with different roots: {listed}; each ztunnel trusts only its own cluster's root, so "
            "traffic between them fails",
            "sign every cluster's intermediate with one shared root (one istio-vault-ca config for the fleet); "
            "finish a root rotation on every cluster before relying on cross-cluster ambient traffic",
        )
    if unknown:
        shared = f"; the others chain to {_root_name(next(iter(roots.values())))}" if roots else ""
        return skipped(
            "chain.ztunnel-shared-root",
            state.target,
            f"cannot tell which root {', '.join(unknown)} chain(s) to (no verified path: chain.path-valid says "
            f"why){shared}",
        )
    root = next(iter(roots.values()))
    return passed(
        "chain.ztunnel-shared-root",
        state.target,
        f"all {len(state.signing)} ambient targets chain to {_root_name(root)}",
    )


def shared_root(values: list[tuple[str, Mapping[str, bytes | None]]], *, version: IstioVersion) -> CheckResult:
    """chain.ztunnel-shared-root over several targets' values (files or Vault): each parsed as for its own checks."""
    from ..registry import REGISTRY, run_one
    from .bundle import collect

    signing: list[tuple[str, x509.Certificate | None]] = []
    try:
        for target, target_values in values:
            bundle = collect(target_values, target=target, version=version)
            signing.append((target, bundle.istiod_path[-1] if bundle.istiod_path else None))
    finally:
        pem.blocks.cache_clear()  # the cache holds file bytes (ca-key.pem's too): never beyond this call
    state = FleetRoots(f"ambient fleet ({len(values)} targets)", tuple(signing))
    return run_one(REGISTRY["chain.ztunnel-shared-root"], state)
