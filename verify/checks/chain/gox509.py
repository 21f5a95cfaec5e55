"""Certificate path verification with the rules of Go's crypto/x509 `Certificate.Verify`, which both istiod (loading
its CA) and istio-agent peers apply; cryptography's own verifier enforces the stricter web-PKI profile instead.

Mirrored from Go's `crypto/x509/verify.go` (Go 1.22 to 1.26; Istio 1.20+ builds with these):
- chains are built from the leaf through `Intermediates` to any certificate in `Roots` (a root is any anchor, not
  necessarily self-signed; its own signature is never checked), issuer and subject compared as raw names;
- `CheckSignatureFrom`: a v3 parent must have basicConstraints CA:true; a parent with a keyUsage must assert
  keyCertSign; SHA-1 and MD5 signatures are refused;
- `isValid`: every certificate of the chain (root included) must be inside its validity window and carry no
  critical extension Go does not handle; intermediates must be CAs; pathLen counts the intermediates below;
  name constraints on a CA apply to the leaf's SANs (only URI SANs matter for a SPIFFE leaf);
- `checkChainForKeyUsage`: every certificate's extendedKeyUsage, when present, must allow each requested usage
  (serverAuth is asked when none is given), anyExtendedKeyUsage allows all.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import NamedTuple, TypeVar, cast
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from ....generator.errors import CheckError

# Extensions Go's certificate parser handles (crypto/x509/parser.go processExtensions); a critical extension
# outside this set makes Verify fail with "x509: unhandled critical extension".
_HANDLED = {
    ExtensionOID.KEY_USAGE,
    ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    ExtensionOID.NAME_CONSTRAINTS,
    ExtensionOID.CRL_DISTRIBUTION_POINTS,
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    ExtensionOID.CERTIFICATE_POLICIES,
    ExtensionOID.POLICY_MAPPINGS,
    ExtensionOID.POLICY_CONSTRAINTS,
    ExtensionOID.INHIBIT_ANY_POLICY,
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
}
_INSECURE = ("sha1", "md5")
ExtensionT = TypeVar("ExtensionT", bound=x509.ExtensionType)
MAX_DEPTH = 10


class VerifyError(CheckError):
    """Go's error text for the first problem met (as `x509:` messages read); the checks turn it into a finding."""


class Options(NamedTuple):
    roots: Sequence[x509.Certificate]
    intermediates: Sequence[x509.Certificate]
    now: dt.datetime
    usages: Sequence[x509.ObjectIdentifier] = (ExtendedKeyUsageOID.SERVER_AUTH,)


def verify(leaf: x509.Certificate, options: Options) -> list[x509.Certificate]:
    """The first valid chain leaf..anchor Go would accept for `options`, else VerifyError with Go's reason."""
    return _pick(_chains(leaf, options), options.usages)


def verify_each(
    leaf: x509.Certificate, options: Options, usages: Sequence[x509.ObjectIdentifier]
) -> dict[x509.ObjectIdentifier, str]:
    """Go's verdict for each usage asked on its own (as a server and as a client peer verify): usage -> '' when a
    chain is accepted, else Go's reason. The chains are built once: only the key-usage filter differs."""
    try:
        chains = _chains(leaf, options)
    except VerifyError as error:
        return dict.fromkeys(usages, str(error))
    verdicts: dict[x509.ObjectIdentifier, str] = {}
    for usage in usages:
        try:
            _pick(chains, (usage,))
            verdicts[usage] = ""
        except VerifyError as error:
            verdicts[usage] = str(error)
    return verdicts


def _chains(leaf: x509.Certificate, options: Options) -> list[list[x509.Certificate]]:
    _check_valid(leaf, "leaf", [], options)
    if leaf in options.roots:
        return [[leaf]]
    chains, hint = _build([leaf], options)
    if not chains:
        raise VerifyError(f"x509: certificate signed by unknown authority{hint}")
    return chains


def _pick(chains: list[list[x509.Certificate]], usages: Sequence[x509.ObjectIdentifier]) -> list[x509.Certificate]:
    for chain in chains:
        if _usages_allowed(chain, usages):
            return chain
    raise VerifyError("x509: certificate specifies an incompatible key usage")


def _build(chain: list[x509.Certificate], options: Options) -> tuple[list[list[x509.Certificate]], str]:
    """Depth-first, roots before intermediates (as buildChains); the first rejection becomes the hint."""
    current = chain[-1]
    found: list[list[x509.Certificate]] = []
    hint = ""
    if len(chain) > MAX_DEPTH:
        return found, hint
    for kind, pool in (("root", options.roots), ("intermediate", options.intermediates)):
        for candidate in pool:
            if candidate in chain or _raw_subject(candidate) != _raw_issuer(current):
                continue
            try:
                _check_signature_from(current, candidate)
                _check_valid(candidate, kind, chain, options)
            except VerifyError as error:
                hint = hint or f' (possibly because of "{error}" while trying to verify candidate authority)'
                continue
            if kind == "root":
                found.append([*chain, candidate])
            else:
                deeper, deeper_hint = _build([*chain, candidate], options)
                found.extend(deeper)
                hint = hint or deeper_hint
    return found, hint


@functools.lru_cache(maxsize=1024)
def _raw_subject(cert: x509.Certificate) -> bytes:
    """Go compares RawSubject and RawIssuer bytes; computed once per certificate."""
    return cert.subject.public_bytes()


@functools.lru_cache(maxsize=1024)
def _raw_issuer(cert: x509.Certificate) -> bytes:
    return cert.issuer.public_bytes()


def _check_signature_from(child: x509.Certificate, parent: x509.Certificate) -> None:
    """Go's CheckSignatureFrom: the parent may sign certificates, the algorithm is not insecure, it verifies."""
    constraints = extension(parent, x509.BasicConstraints)
    if (parent.version is x509.Version.v3 and constraints is None) or (constraints is not None and not constraints.ca):
        raise VerifyError("x509: invalid signature: parent certificate cannot sign this kind of certificate")
    usage = extension(parent, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        raise VerifyError("x509: invalid signature: parent certificate cannot sign this kind of certificate")
    algorithm = signature_hash(child)
    if algorithm in _INSECURE:
        raise VerifyError(f"x509: cannot verify signature: insecure algorithm {algorithm.upper()}")
    if not signature_valid(child, parent):
        raise VerifyError("x509: ECDSA verification failure or crypto/rsa: verification error")


def _check_valid(cert: x509.Certificate, kind: str, chain: list[x509.Certificate], options: Options) -> None:
    """Go's isValid for a leaf, an intermediate or a root at this point of the chain."""
    if any(ext.critical and ext.oid not in _HANDLED for ext in cert.extensions):
        raise VerifyError("x509: unhandled critical extension")
    if options.now < cert.not_valid_before_utc:
        raise VerifyError(
            f"x509: certificate has expired or is not yet valid: current time {_go_time(options.now)} is before "
            f"{_go_time(cert.not_valid_before_utc)}"
        )
    if options.now > cert.not_valid_after_utc:
        raise VerifyError(
            f"x509: certificate has expired or is not yet valid: current time {_go_time(options.now)} is after "
            f"{_go_time(cert.not_valid_after_utc)}"
        )
    if kind != "leaf" and chain:
        _check_name_constraints(cert, chain[0])
    constraints = extension(cert, x509.BasicConstraints)
    if kind == "intermediate" and (constraints is None or not constraints.ca):
        raise VerifyError("x509: certificate is not authorized to sign other certificates")
    if constraints is not None and constraints.path_length is not None and len(chain) - 1 > constraints.path_length:
        raise VerifyError("x509: too many intermediates for path length constraint")


def _check_name_constraints(ca: x509.Certificate, leaf: x509.Certificate) -> None:
    """URI name constraints against the leaf's URI SANs (Go's matchURIConstraint / matchDomainConstraint)."""
    constraints = extension(ca, x509.NameConstraints)
    if constraints is None:
        return
    san = extension(leaf, x509.SubjectAlternativeName)
    uris = san.get_values_for_type(x509.UniformResourceIdentifier) if san is not None else []
    permitted = [c.value for c in constraints.permitted_subtrees or () if isinstance(c, x509.UniformResourceIdentifier)]
    excluded = [c.value for c in constraints.excluded_subtrees or () if isinstance(c, x509.UniformResourceIdentifier)]
    for uri in uris:
        host = (urlsplit(uri).hostname or "").lower()
        if any(_domain_matches(host, constraint) for constraint in excluded):
            raise VerifyError(
                f'x509: a root or intermediate certificate is not authorized to sign for this name: URI "{uri}" '
                "is excluded by a constraint"
            )
        if permitted and not any(_domain_matches(host, constraint) for constraint in permitted):
            raise VerifyError(
                f'x509: a root or intermediate certificate is not authorized to sign for this name: URI "{uri}" '
                "is not permitted by any constraint"
            )


def _domain_matches(host: str, constraint: str) -> bool:
    constraint = constraint.lower()
    if not constraint:
        return True
    if constraint.startswith("."):
        return host.endswith(constraint) and len(host) > len(constraint)
    return host == constraint


def _usages_allowed(chain: Sequence[x509.Certificate], usages: Sequence[x509.ObjectIdentifier]) -> bool:
    """Go's checkChainForKeyUsage: cross out each requested usage a certificate's EKU does not list."""
    if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages:
        return True
    remaining = set(usages)
    for cert in reversed(chain):
        eku = extension(cert, x509.ExtendedKeyUsage)
        if eku is None or len(eku) == 0 or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
            continue
        remaining &= set(eku)
        if not remaining:
            return False
    return True


def extension(cert: x509.Certificate, kind: type[ExtensionT]) -> ExtensionT | None:
    """The extension's value, None when the certificate does not carry it."""
    return cast("ExtensionT | None", _extensions(cert).get(kind))


@functools.lru_cache(maxsize=1024)
def _extensions(cert: x509.Certificate) -> dict[type[x509.ExtensionType], x509.ExtensionType]:
    """A certificate's extensions by class, read once (the rules ask about the same ones many times)."""
    return {type(ext.value): ext.value for ext in cert.extensions}


def signature_hash(cert: x509.Certificate) -> str:
    """The signature's hash name in lower case ('' for Ed25519 or an algorithm cryptography does not know)."""
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return ""
    return algorithm.name.lower() if algorithm is not None else ""


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when `issuer` really signed `cert` (names and signature)."""
    return cert.issuer == issuer.subject and signature_valid(cert, issuer)


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when `issuer`'s key made `cert`'s signature, whatever the hash (SHA-1 included): which certificate
    issued which, for the checks about order, apart from whether Go accepts the algorithm
    (chain.signature-algorithm and chain.path-valid judge that)."""
    if cert.issuer != issuer.subject:
        return False
    if signature_valid(cert, issuer):
        return True
    return signature_hash(cert) in _INSECURE and _insecure_signature_valid(cert, issuer)


def _insecure_signature_valid(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    algorithm = cert.signature_hash_algorithm
    key = issuer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algorithm))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


# The checks ask about the same pairs several times per bundle, and a fleet shares its root: verify each pair once.
@functools.lru_cache(maxsize=1024)
def signature_valid(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _go_time(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
