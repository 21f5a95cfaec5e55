"""Checks of the tier "peers reject": istiod loads the CA, but the workload certificates it issues fail at the
peers. A peer (istio-agent, Go; Envoy, BoringSSL) receives the leaf with cert-chain.pem (istiod sends exactly
those: `security/pkg/pki/ca/ca.go` SignWithCertChain) and trusts root-cert.pem; Go's rules are applied here
(`gox509`), for serverAuth and clientAuth, since mTLS asks for both.
"""

from __future__ import annotations

import datetime as dt
import functools

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from ....generator.config.cafiles import CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT
from ..registry import Tier, check
from ..result import CheckResult, failed, passed
from . import gox509, pem
from .bundle import Bundle
from .istiod import HINT_CA

SPIFFE_ID = "spiffe://cluster.local/ns/default/sa/default"
_MTLS = (("serverAuth", ExtendedKeyUsageOID.SERVER_AUTH), ("clientAuth", ExtendedKeyUsageOID.CLIENT_AUTH))


@check("chain.ca-key-usage", tier=Tier.PEERS_REJECT, needs=("ca_cert",))
def ca_key_usage(bundle: Bundle) -> CheckResult:
    """Go's CheckSignatureFrom refuses a leaf signed by a CA whose keyUsage is present without keyCertSign."""
    assert bundle.ca_cert is not None
    name = bundle.label(CA_CERT)
    usage = gox509.extension(bundle.ca_cert, x509.KeyUsage)
    if usage is None:
        return passed(
            "chain.ca-key-usage", bundle.target, f"{name} has no keyUsage (no restriction; see chain.ca-extensions)"
        )
    if not usage.key_cert_sign:
        return failed(
            "chain.ca-key-usage",
            bundle.target,
            f"{name} keyUsage lacks keyCertSign: peers reject every workload certificate "
            "(x509: parent certificate cannot sign this kind of certificate)",
            HINT_CA,
        )
    return passed("chain.ca-key-usage", bundle.target, f"{name} keyUsage includes keyCertSign")


@check("chain.ca-eku", tier=Tier.PEERS_REJECT, needs=("ca_cert",))
def ca_eku(bundle: Bundle) -> CheckResult:
    """An extendedKeyUsage on a CA limits every certificate below it (Go's checkChainForKeyUsage): mTLS needs
    serverAuth and clientAuth (istiod itself needs serverAuth to load the CA)."""
    assert bundle.ca_cert is not None
    name = bundle.label(CA_CERT)
    eku = gox509.extension(bundle.ca_cert, x509.ExtendedKeyUsage)
    if eku is None or len(eku) == 0 or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
        return passed("chain.ca-eku", bundle.target, f"{name} does not restrict extendedKeyUsage")
    lacking = [label for label, oid in _MTLS if oid not in eku]
    if not lacking:
        return passed("chain.ca-eku", bundle.target, f"{name} extendedKeyUsage allows serverAuth and clientAuth")
    names = ", ".join(sorted(getattr(oid, "_name", oid.dotted_string) for oid in eku))
    return failed(
        "chain.ca-eku",
        bundle.target,
        f"{name} extendedKeyUsage ({names}) excludes {' and '.join(lacking)}: "
        "x509: certificate specifies an incompatible key usage",
        "re-issue the intermediate without extendedKeyUsage (or with serverAuth and clientAuth)",
    )


@check("chain.path-length", tier=Tier.PEERS_REJECT, needs=("ca_cert",))
def path_length(bundle: Bundle) -> CheckResult:
    """Each pathLen above ca-cert.pem must allow the CAs below it plus the workload certificate's issuer; istiod
    loads such a bundle (its own check stops at ca-cert.pem) but peers reject every leaf."""
    assert bundle.ca_cert is not None
    path = bundle.istiod_path or (bundle.ca_cert,)
    # A peer's chain is leaf, path[0] (ca-cert.pem), path[1], ...: Go counts len(currentChain) - 1 = i
    # intermediates under path[i] (verify.go isValid).
    for below, cert in enumerate(path):
        constraints = gox509.extension(cert, x509.BasicConstraints)
        limit = constraints.path_length if constraints is not None else None
        if limit is not None and below > limit:
            return failed(
                "chain.path-length",
                bundle.target,
                f"{bundle.name_of(cert)} has pathLen {limit} but {below} CA certificate(s) sit below it: "
                "peers reject every workload certificate (x509: too many intermediates for path length constraint)",
                "re-issue that CA without the pathLen limit (or with a larger one)",
            )
    own = gox509.extension(bundle.ca_cert, x509.BasicConstraints)
    detail = "no limit" if own is None or own.path_length is None else f"pathLen {own.path_length}"
    return passed(
        "chain.path-length", bundle.target, f"path lengths allow the chain; {bundle.label(CA_CERT)} has {detail}"
    )


@check("chain.spiffe-leaf", tier=Tier.PEERS_REJECT, needs=("ca_cert", "key", "roots"))
def spiffe_leaf(bundle: Bundle) -> CheckResult:
    """Sign a throw-away workload certificate with the key and verify it as a Go peer does: the leaf with
    cert-chain.pem as intermediates, root-cert.pem as anchors, for serverAuth and for clientAuth."""
    assert bundle.ca_cert is not None and bundle.key is not None and bundle.roots is not None
    leaf = make_leaf(bundle.ca_cert, bundle.key, bundle.now)
    options = gox509.Options(roots=bundle.roots, intermediates=bundle.chain or (), now=bundle.now)
    verdicts = gox509.verify_each(leaf, options, [usage for _, usage in _MTLS])
    errors = [f"{label}: {verdicts[usage]}" for label, usage in _MTLS if verdicts[usage]]
    if errors:
        return failed(
            "chain.spiffe-leaf",
            bundle.target,
            f"peers reject a workload certificate signed with {bundle.label(CA_KEY)} and sent with "
            f"{bundle.label(CERT_CHAIN)}: {'; '.join(errors)}",
            "cert-chain.pem must hold ca-cert.pem and its issuers up to root-cert.pem; fix the checks above",
        )
    return passed(
        "chain.spiffe-leaf",
        bundle.target,
        f"a leaf for {SPIFFE_ID} signed with {bundle.label(CA_KEY)} verifies to {bundle.label(ROOT_CERT)} "
        "for serverAuth and clientAuth",
    )


def make_leaf(ca_cert: x509.Certificate, ca_key: pem.GoKey, now: dt.datetime) -> x509.Certificate:
    """A workload-shaped certificate (empty subject, critical SPIFFE URI SAN, server+client auth) on EC P-256."""
    from ....generator.pki.factory import workload_leaf

    return workload_leaf(ca_cert, ca_key, SPIFFE_ID, now, key=_leaf_key())


@functools.lru_cache(maxsize=1)
def _leaf_key() -> pem.GoKey:
    """The test leaf's own key, made once per process: it is thrown away with the leaf, and no verdict depends on
    it (only the CA key's signature is verified), so a fleet of directories need not make one each."""
    from ....generator.pki.factory import new_key

    key = new_key()
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key
