"""The one certificate factory: keys and certificates for the offline root's intermediate, the rehearsal (a
throw-away offline root, TLS for its local servers), the verifier's test leaf, the benchmarks and the tests.

Every certificate comes from `certificate()`; the named helpers only choose its extensions. CA certificates get
what Vault's PKI puts on one (critical CA:true with an optional pathLen, critical keyCertSign|cRLSign, SKI, AKI);
leaves get critical digitalSignature|keyEncipherment and the usages asked for. Keys never leave the caller: the
factory returns objects, and `private_pem` exists for the few places that must write a key file.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from typing import Literal, NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyKind = Literal["rsa", "ec", "ed25519"]
_CURVES: dict[int, ec.EllipticCurve] = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 521: ec.SECP521R1()}
# Clocks of Vault, the cluster and this machine differ by seconds: certificates start a little in the past.
BACKDATE = dt.timedelta(minutes=1)


def new_key(kind: KeyKind = "ec", size: int = 256) -> CertificateIssuerPrivateKeyTypes:
    """A fresh private key: RSA of `size` bits, EC on the NIST curve of `size` bits, or Ed25519."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(_CURVES[size])


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]) if common_name else x509.Name([])


Digest = hashes.SHA256 | hashes.SHA384 | hashes.SHA512


def digest_for(key: CertificateIssuerPrivateKeyTypes) -> Digest | None:
    """The hash Vault and Go pair with a signing key: none for EdDSA, SHA-384/512 for the larger curves."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA512()
    return hashes.SHA256()


class Issued(NamedTuple):
    """A certificate with its private key. (A NamedTuple, and `serialization` imported where it is used: `verify
    chain` imports this module for its test leaf, and `dataclasses` or that package would add to its start-up.)"""

    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes

    @property
    def pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.cert.public_bytes(serialization.Encoding.PEM)

    def private_pem(self) -> bytes:
        """PKCS#8 PEM, for the callers that must write a key file (0600, in a 0700 directory)."""
        from cryptography.hazmat.primitives import serialization

        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def certificate(
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    signing_key: CertificateIssuerPrivateKeyTypes,
    *,
    issuer: x509.Certificate | None = None,
    not_before: dt.datetime,
    not_after: dt.datetime,
    ca: bool,
    path_length: int | None = None,
    usages: Sequence[x509.ObjectIdentifier] = (),
    sans: Sequence[x509.GeneralName] = (),
    san_critical: bool = False,
    digest: Digest | Literal["auto"] | None = "auto",
    key_ids: Literal["always", "as-go"] = "always",
) -> x509.Certificate:
    """One certificate. `issuer=None` makes it self-signed (its subject is its issuer, `signing_key` its own key).

    Key identifiers: "always" gives every certificate a subjectKeyIdentifier and an issued one an
    authorityKeyIdentifier (the issuer's SKI, else the hash of its key), as Vault's PKI does. "as-go" writes what
    Go's `x509.CreateCertificate` writes for a template without them (crypto/x509/x509.go, Go 1.15 to 1.26): an
    SKI only on a CA, the AKI only from the issuer's SKI. That is how istiod issues workload certificates: the
    template of `genCertTemplateFromCSR` (istio security/pkg/pki/util/generate_cert.go, read at the revision the
    e2e tier pins and in older releases' versions of the function) sets neither."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
        .add_extension(_usage(ca=ca), critical=True)
    )
    if ca or key_ids == "always":
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    if issuer is not None:
        aki: x509.AuthorityKeyIdentifier | None = None
        try:
            ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        except x509.ExtensionNotFound:
            if key_ids == "always":
                aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key())
        if aki is not None:
            builder = builder.add_extension(aki, critical=False)
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=san_critical)
    return builder.sign(signing_key, digest_for(signing_key) if isinstance(digest, str) else digest)


def self_signed_ca(
    common_name: str,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    *,
    lifetime: dt.timedelta = dt.timedelta(days=365),
    path_length: int | None = None,
    now: dt.datetime | None = None,
) -> Issued:
    """A root CA: self-signed, CA:true."""
    now = now or dt.datetime.now(dt.timezone.utc)
    key = key or new_key()
    cert = certificate(
        name(common_name),
        key.public_key(),
        key,
        not_before=now - BACKDATE,
        not_after=now + lifetime,
        ca=True,
        path_length=path_length,
    )
    return Issued(cert, key)


def issued_ca(
    common_name: str,
    issuer: Issued,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    *,
    lifetime: dt.timedelta = dt.timedelta(days=180),
    path_length: int | None = 0,
    now: dt.datetime | None = None,
) -> Issued:
    """An intermediate CA signed by `issuer`, never valid beyond it."""
    now = now or dt.datetime.now(dt.timezone.utc)
    key = key or new_key()
    cert = certificate(
        name(common_name),
        key.public_key(),
        issuer.key,
        issuer=issuer.cert,
        not_before=max(now - BACKDATE, issuer.cert.not_valid_before_utc),
        not_after=min(now + lifetime, issuer.cert.not_valid_after_utc),
        ca=True,
        path_length=path_length,
    )
    return Issued(cert, key)


def tls_server(
    ca: Issued, hosts: Sequence[str] = ("127.0.0.1", "localhost"), *, now: dt.datetime | None = None
) -> Issued:
    """A serving certificate for local test servers (the rehearsal's TokenReview server, test API servers)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    key = new_key()
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    cert = certificate(
        name(hosts[0]),
        key.public_key(),
        ca.key,
        issuer=ca.cert,
        not_before=now - BACKDATE,
        not_after=min(now + dt.timedelta(hours=2), ca.cert.not_valid_after_utc),
        ca=False,
        usages=(ExtendedKeyUsageOID.SERVER_AUTH,),
        sans=sans,
    )
    return Issued(cert, key)


def workload_leaf(
    ca_cert: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    spiffe_id: str,
    now: dt.datetime,
    lifetime: dt.timedelta = dt.timedelta(hours=1),
    key: CertificateIssuerPrivateKeyTypes | None = None,
) -> x509.Certificate:
    """A certificate shaped like the ones istiod issues: empty subject, critical SPIFFE URI SAN, server and client
    auth, key identifiers as Go writes them (no SKI; the AKI from the CA's SKI), EC P-256 key (a new one unless
    `key` is given), within the CA's validity."""
    key = key or new_key()
    start = max(now - BACKDATE, ca_cert.not_valid_before_utc)
    end = max(min(now + lifetime, ca_cert.not_valid_after_utc), start)
    return certificate(
        x509.Name([]),
        key.public_key(),
        ca_key,
        issuer=ca_cert,
        not_before=start,
        not_after=end,
        ca=False,
        usages=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
        sans=(x509.UniformResourceIdentifier(spiffe_id),),
        san_critical=True,
        digest=None if isinstance(ca_key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256(),
        key_ids="as-go",
    )
