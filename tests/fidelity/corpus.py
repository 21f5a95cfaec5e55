"""A corpus of istiod `cacerts` bundle KINDS, written at test time with `cryptography` (no key or certificate is
ever committed).

``CORPUS[name](directory)`` writes one kind of bundle (the four istiod files, fewer, or extra files such as
``tls.crt`` / ``ca-crl.pem``) into an existing empty directory; ``DESCRIPTIONS[name]`` says in one line what it is.
Keys are generated once per process and reused (``key(label)``), so writing the whole corpus takes about a second.

Istio's own sample bundles are not copied into the repository either: ``istio_published_bundles()`` finds them in
the Go module cache of the istio.io/istio version pinned by tests/oracles/istio_ca/go.mod, and
``istio_tools_certs_bundle()`` runs Istio's tools/certs/Makefile.selfsigned.mk (openssl) in a scratch directory.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID, ObjectIdentifier

from tests import gobuild

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
Files = dict[str, bytes]

CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT = "ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"
CA_CRL = "ca-crl.pem"
TLS_CRT, TLS_KEY, TLS_CA = "tls.crt", "tls.key", "ca.crt"

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
YEAR = dt.timedelta(days=365)

ORACLE = "istio_ca"
ISTIO_MODULE = "istio.io/istio"

CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)
SIGNATURE_ONLY_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=True,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


# --------------------------------------------------------------------------------------------------------------
# Keys and certificates


@functools.cache
def key(label: str) -> Key:
    """A key per label, generated once per process. The label's prefix picks the algorithm: ``rsa2048:root``,
    ``rsa1024:x``, ``p256:x``, ``p384:x``, ``ed25519:x``."""
    algorithm = label.partition(":")[0]
    if algorithm == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "rsa1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - a test case
    if algorithm == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key label {label!r}")


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: Key


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "istio-vault-ca fidelity corpus"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        header = bytes([length])
    else:
        octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
        header = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + header + content


_SHA256_RSA = bytes.fromhex("06092a864886f70d01010b")  # OID 1.2.840.113549.1.1.11 sha256WithRSAEncryption
_SHA1_RSA = bytes.fromhex("06092a864886f70d010105")  # OID 1.2.840.113549.1.1.5 sha1WithRSAEncryption


def _resign_sha1(cert: x509.Certificate, signer: Key) -> x509.Certificate:
    """Re-sign ``cert`` with SHA-1 (cryptography no longer signs certificates with SHA-1 itself): swap the
    algorithm OID in the TBS (same length), sign the TBS with PKCS#1 v1.5 / SHA-1 and re-assemble the DER."""
    if not isinstance(signer, rsa.RSAPrivateKey):
        raise TypeError("SHA-1 corpus certificates are RSA-signed")
    tbs = cert.tbs_certificate_bytes
    if tbs.count(_SHA256_RSA) != 1:
        raise ValueError("expected exactly one sha256WithRSAEncryption OID in the TBS certificate")
    tbs = tbs.replace(_SHA256_RSA, _SHA1_RSA)
    signature = signer.sign(tbs, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - the point of the test case
    algorithm = _der(0x30, _SHA1_RSA + b"\x05\x00")
    return x509.load_der_x509_certificate(_der(0x30, tbs + algorithm + _der(0x03, b"\x00" + signature)))


def make_cert(
    common_name: str,
    subject_key: Key,
    issuer: Issued | None,
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    ca: bool = True,
    path_len: int | None = None,
    basic_constraints: bool = True,
    basic_constraints_critical: bool = True,
    key_usage: x509.KeyUsage | None = CA_KEY_USAGE,
    eku: list[ObjectIdentifier] | None = None,
    sha1: bool = False,
    signer: Key | None = None,
    subject: x509.Name | None = None,
    name_constraints: x509.NameConstraints | None = None,
    unknown_critical_extension: bool = False,
) -> Issued:
    """A certificate for ``subject_key`` issued by ``issuer`` (self-signed when None), signed by ``signer``
    when given (to make a bad signature), else by the issuer's key."""
    start = now()
    subject_name = subject or name(common_name)
    issuer_name = issuer.cert.subject if issuer else subject_name
    signing_key = signer or (issuer.key if issuer else subject_key)
    public = subject_key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    if issuer is None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(public)
    else:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name)
        .issuer_name(issuer_name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or start - HOUR)
        .not_valid_after(not_after or start + YEAR)
        .add_extension(ski, critical=False)
        .add_extension(aki, critical=False)
    )
    if basic_constraints:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_len if ca else None), critical=basic_constraints_critical
        )
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    if eku == []:
        # cryptography 51 refuses ExtendedKeyUsage([]) ("usages must be a non-empty list"), so the extension is
        # written as the raw DER of an empty SEQUENCE (30 00) under the extendedKeyUsage OID: the same bytes an
        # older release produced, and what Go's crypto/x509 parses as an ExtKeyUsage list of length zero.
        empty = x509.UnrecognizedExtension(ExtensionOID.EXTENDED_KEY_USAGE, b"\x30\x00")
        builder = builder.add_extension(empty, critical=False)
    elif eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if name_constraints is not None:
        builder = builder.add_extension(name_constraints, critical=True)
    if unknown_critical_extension:
        unknown = x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.1.1"), b"\x05\x00")
        builder = builder.add_extension(unknown, critical=True)
    algorithm = None if isinstance(signing_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(signing_key, algorithm)
    if sha1:
        cert = _resign_sha1(cert, signing_key)
    return Issued(cert, subject_key)


def root_ca(label: str = "rsa2048:root", common_name: str = "Fidelity Root CA", **kwargs: Any) -> Issued:
    """A self-signed root: valid from a day ago for ten years unless overridden."""
    start = now()
    kwargs.setdefault("not_before", start - DAY)
    kwargs.setdefault("not_after", start + 10 * YEAR)
    return make_cert(common_name, key(label), None, **kwargs)


def intermediate(
    issuer: Issued, label: str = "rsa2048:int", common_name: str = "istiod intermediate CA", **kwargs: Any
) -> Issued:
    """An intermediate CA below ``issuer``, pathLen 0 (what Vault's pki/root/sign-intermediate gives by
    default with max_path_length 0), valid from an hour ago for a year unless overridden."""
    kwargs.setdefault("path_len", 0)
    return make_cert(common_name, key(label), issuer, **kwargs)


def cert_pem(*certs: Issued | x509.Certificate) -> bytes:
    out = b""
    for item in certs:
        cert = item.cert if isinstance(item, Issued) else item
        out += cert.public_bytes(serialization.Encoding.PEM)
    return out


def key_pem(private: Key, fmt: str = "traditional") -> bytes:
    """``traditional`` = PKCS#1 ("RSA PRIVATE KEY") for RSA and SEC1 ("EC PRIVATE KEY") for EC, what Vault
    returns; ``pkcs8`` = "PRIVATE KEY"; ``encrypted`` = "ENCRYPTED PRIVATE KEY". Ed25519 is always PKCS#8."""
    if fmt == "encrypted":
        encryption: serialization.KeySerializationEncryption = serialization.BestAvailableEncryption(b"secret")
        private_format = serialization.PrivateFormat.PKCS8
    else:
        encryption = serialization.NoEncryption()
        traditional = fmt == "traditional" and not isinstance(private, ed25519.Ed25519PrivateKey)
        private_format = (
            serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
        )
    return private.private_bytes(serialization.Encoding.PEM, private_format, encryption)


def ec_parameters_pem(private: ec.EllipticCurvePrivateKey) -> bytes:
    """The "EC PARAMETERS" block `openssl ecparam -genkey` writes before the key (named curve OID)."""
    oids = {"secp256r1": "06082a8648ce3d030107", "secp384r1": "06052b81040022"}
    return pem_block("EC PARAMETERS", bytes.fromhex(oids[private.curve.name]))


def pem_block(label: str, body_der: bytes) -> bytes:
    body = base64.b64encode(body_der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN " + label + "-----\n" + "\n".join(lines) + "\n-----END " + label + "-----\n").encode()


def crl_pem(issuer: Issued, revoked: list[x509.Certificate] | None = None) -> bytes:
    start = now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(start - HOUR)
        .next_update(start + 7 * DAY)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
        .add_extension(x509.CRLNumber(1), critical=False)
    )
    for cert in revoked or []:
        entry = x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(start - HOUR).build()
        builder = builder.add_revoked_certificate(entry)
    algorithm = None if isinstance(issuer.key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(issuer.key, algorithm).public_bytes(serialization.Encoding.PEM)


# --------------------------------------------------------------------------------------------------------------
# Bundles


def write(directory: Path, files: Files) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for file_name, content in files.items():
        (directory / file_name).write_bytes(content)


def bundle(inter: Issued, root: Issued, *, chain: bytes | None = None, key_fmt: str = "traditional") -> Files:
    """The four istiod files for ``inter`` under ``root``; cert-chain.pem = intermediate + root by default."""
    return {
        CA_CERT: cert_pem(inter),
        CA_KEY: key_pem(inter.key, key_fmt),
        CERT_CHAIN: cert_pem(inter, root) if chain is None else chain,
        ROOT_CERT: cert_pem(root),
    }


def vault_pki() -> tuple[Issued, Issued]:
    """Vault-like: RSA 2048 root (ten years), RSA 2048 intermediate with pathLen 0 (one year)."""
    root = root_ca()
    return intermediate(root), root


def good(**kwargs: Any) -> Files:
    inter, root = vault_pki()
    return bundle(inter, root, **kwargs)


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def truncate(data: bytes) -> bytes:
    """Cut a PEM file in the middle of its (first) base64 body, losing the END line."""
    return data[: len(data) // 2]


def bag_attributes(data: bytes, what: str) -> bytes:
    """Prefix every PEM block with the text `openssl pkcs12 -nodes` prints before it."""
    if what == "key":
        preamble = (
            b"Bag Attributes\n    localKeyID: 6F 1A 22 9C 01\n    friendlyName: istiod\n"
            b"Key Attributes: <No Attributes>\n"
        )
    else:
        preamble = (
            b"Bag Attributes\n    localKeyID: 6F 1A 22 9C 01\n    friendlyName: istiod\n"
            b"subject=O = istio-vault-ca fidelity corpus, CN = something\n"
            b"issuer=O = istio-vault-ca fidelity corpus, CN = something\n"
        )
    return data.replace(b"-----BEGIN ", preamble + b"-----BEGIN ")


def der(data: bytes) -> bytes:
    """DER of the first certificate in ``data``."""
    return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)


CORPUS: dict[str, Callable[[Path], None]] = {}
DESCRIPTIONS: dict[str, str] = {}


def _kind(kind_name: str, description: str, files: Callable[[], Files]) -> None:
    if kind_name in CORPUS:
        raise ValueError(f"duplicate corpus kind {kind_name}")

    def writer(directory: Path) -> None:
        write(directory, files())

    writer.__name__ = f"write_{kind_name}"
    writer.__doc__ = description
    CORPUS[kind_name] = writer
    DESCRIPTIONS[kind_name] = description


def _with(files: Files, **changes: bytes | None) -> Files:
    """``files`` with some replaced (keyword = file name with '-'/'.' as '_', e.g. ca_cert_pem) or dropped (None)."""
    out = dict(files)
    for keyword, content in changes.items():
        file_name = {
            "ca_cert": CA_CERT,
            "ca_key": CA_KEY,
            "cert_chain": CERT_CHAIN,
            "root_cert": ROOT_CERT,
            "ca_crl": CA_CRL,
            "tls_crt": TLS_CRT,
            "tls_key": TLS_KEY,
            "ca_crt": TLS_CA,
        }[keyword]
        if content is None:
            out.pop(file_name, None)
        else:
            out[file_name] = content
    return out


# --- good bundles and key algorithms / encodings --------------------------------------------------------------


def _vault_rsa() -> Files:
    return good()


def _vault_rsa_pkcs8() -> Files:
    return good(key_fmt="pkcs8")


def _ec_intermediate(key_fmt: str = "traditional") -> Callable[[], Files]:
    def files() -> Files:
        root = root_ca()
        return bundle(intermediate(root, "p256:int", "istiod EC intermediate"), root, key_fmt=key_fmt)

    return files


def _ec_p384_all() -> Files:
    root = root_ca("p384:root", "Fidelity EC Root")
    return bundle(intermediate(root, "p384:int", "istiod P-384 intermediate"), root)


def _ed25519_intermediate() -> Files:
    root = root_ca()
    return bundle(intermediate(root, "ed25519:int", "istiod Ed25519 intermediate"), root)


def _ed25519_all() -> Files:
    root = root_ca("ed25519:root", "Fidelity Ed25519 Root")
    return bundle(intermediate(root, "ed25519:int", "istiod Ed25519 intermediate"), root)


def _ec_parameters(first: bool) -> Callable[[], Files]:
    def files() -> Files:
        root = root_ca()
        inter = intermediate(root, "p256:int", "istiod EC intermediate")
        private = inter.key
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        params, sec1 = ec_parameters_pem(private), key_pem(private)
        return _with(bundle(inter, root), ca_key=params + sec1 if first else sec1 + params)

    return files


def _key_mismatch() -> Files:
    root = root_ca()
    other = intermediate(root, "rsa2048:other", "another intermediate")
    return _with(good(), ca_key=key_pem(other.key))


def _key_encrypted() -> Files:
    inter, root = vault_pki()
    return bundle(inter, root, key_fmt="encrypted")


def _key_pkcs8_labelled_pkcs1() -> Files:
    inter, root = vault_pki()
    body = key_pem(inter.key, "pkcs8").replace(b"BEGIN PRIVATE KEY", b"BEGIN RSA PRIVATE KEY")
    return _with(bundle(inter, root), ca_key=body.replace(b"END PRIVATE KEY", b"END RSA PRIVATE KEY"))


# --- cert-chain.pem contents and order -------------------------------------------------------------------------


def _chain(kind: str) -> Callable[[], Files]:
    def files() -> Files:
        inter, root = vault_pki()
        chains = {
            "empty": b"",
            "whitespace": b"\n  \n\t\n",
            "intermediate_only": cert_pem(inter),
            "root_first": cert_pem(root, inter),
            "root_only": cert_pem(root),
            "duplicates": cert_pem(inter, inter, root),
        }
        return bundle(inter, root, chain=chains[kind])

    return files


def _chain_first_expired_old_intermediate() -> Files:
    inter, root = vault_pki()
    start = now()
    old = intermediate(
        root, "rsa2048:old", "istiod intermediate (previous)", not_before=start - 2 * YEAR, not_after=start - DAY
    )
    return bundle(inter, root, chain=cert_pem(old, inter, root))


def _chain_first_unrelated_short() -> Files:
    inter, root = vault_pki()
    start = now()
    other_root = root_ca("rsa2048:other_root", "Unrelated Root")
    short = intermediate(other_root, "rsa2048:other", "unrelated short-lived CA", not_after=start + 2 * HOUR)
    return bundle(inter, root, chain=cert_pem(short, inter, root))


# --- root-cert.pem contents ------------------------------------------------------------------------------------


def _roots(kind: str) -> Callable[[], Files]:
    def files() -> Files:
        inter, root = vault_pki()
        other = root_ca("rsa2048:other_root", "Unrelated Root")
        same_name = root_ca("rsa2048:other_root", "Fidelity Root CA")
        contents = {
            "right_first": cert_pem(root, other),
            "right_second": cert_pem(other, root),
            "listed_twice": cert_pem(root, root),
            "wrong": cert_pem(other),
            "same_name_other_key": cert_pem(same_name),
            "is_intermediate": cert_pem(inter),
            "empty": b"",
        }
        return _with(bundle(inter, root), root_cert=contents[kind])

    return files


def _root_is_ca_cert() -> Files:
    """The root itself plugged in as istiod's CA (ca-cert = root)."""
    root = root_ca()
    return {CA_CERT: cert_pem(root), CA_KEY: key_pem(root.key), CERT_CHAIN: cert_pem(root), ROOT_CERT: cert_pem(root)}


# --- text encodings --------------------------------------------------------------------------------------------


def _crlf() -> Files:
    return {file_name: crlf(content) for file_name, content in good().items()}


def _bag_attributes() -> Files:
    return {
        file_name: bag_attributes(content, "key" if file_name == CA_KEY else "cert")
        for file_name, content in good().items()
    }


def _text_dump() -> Files:
    """`openssl x509 -text` output before each certificate (what `openssl x509 -text -in x > ca-cert.pem` gives)."""
    files = good()
    dump = b"Certificate:\n    Data:\n        Version: 3 (0x2)\n        Serial Number: 42 (0x2a)\n"
    return {
        n: (c if n == CA_KEY else c.replace(b"-----BEGIN CERTIFICATE", dump + b"-----BEGIN CERTIFICATE"))
        for n, c in files.items()
    }


def _der_file(file_name: str) -> Callable[[], Files]:
    def files() -> Files:
        inter, root = vault_pki()
        out = bundle(inter, root)
        if file_name == CA_KEY:
            out[CA_KEY] = inter.key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            )
        else:
            out[file_name] = der(out[file_name])
        return out

    return files


def _truncated(file_name: str) -> Callable[[], Files]:
    def files() -> Files:
        out = good()
        out[file_name] = truncate(out[file_name])
        return out

    return files


def _empty_file(file_name: str) -> Callable[[], Files]:
    def files() -> Files:
        out = good()
        out[file_name] = b""
        return out

    return files


def _key_in_ca_cert(before: bool) -> Callable[[], Files]:
    def files() -> Files:
        inter, root = vault_pki()
        k = key_pem(inter.key)
        return _with(bundle(inter, root), ca_cert=k + cert_pem(inter) if before else cert_pem(inter) + k)

    return files


def _ca_cert_with_chain() -> Files:
    inter, root = vault_pki()
    return _with(bundle(inter, root), ca_cert=cert_pem(inter, root))


# --- validity periods ------------------------------------------------------------------------------------------


def _validity(which: str, state: str) -> Callable[[], Files]:
    """``which`` in root/intermediate/all; ``state`` expired / not_yet_valid."""

    def files() -> Files:
        start = now()
        if state == "expired":
            begin, end = start - 3 * YEAR, start - DAY
        else:
            begin, end = start + DAY, start + 3 * YEAR
        root = root_ca(not_before=begin, not_after=end) if which in ("root", "all") else root_ca()
        if which in ("intermediate", "all"):
            return bundle(intermediate(root, not_before=begin, not_after=end), root)
        return bundle(intermediate(root), root)

    return files


def _outlives_root(by: dt.timedelta) -> Callable[[], Files]:
    def files() -> Files:
        start = now()
        root = root_ca(not_after=start + YEAR)
        return bundle(intermediate(root, not_after=start + YEAR + by), root)

    return files


def _expires_within_ttl(root_first: bool) -> Callable[[], Files]:
    def files() -> Files:
        root = root_ca()
        inter = intermediate(root, not_after=now() + HOUR)
        return bundle(inter, root, chain=cert_pem(root, inter) if root_first else None)

    return files


# --- extensions of the intermediate / root ---------------------------------------------------------------------


def _inter_ext(**ext: Any) -> Callable[[], Files]:
    def files() -> Files:
        root = root_ca()
        return bundle(intermediate(root, **ext), root)

    return files


def _root_ext(**ext: Any) -> Callable[[], Files]:
    def files() -> Files:
        root = root_ca(**ext)
        return bundle(intermediate(root), root)

    return files


def _eku(*oids: ObjectIdentifier) -> Callable[[], Files]:
    return _inter_ext(eku=list(oids))


def _name_constraints(excluded: bool) -> Callable[[], Files]:
    subtree = [x509.UniformResourceIdentifier("cluster.local")]
    constraints = x509.NameConstraints(
        permitted_subtrees=None if excluded else subtree, excluded_subtrees=subtree if excluded else None
    )
    return _inter_ext(name_constraints=constraints)


def _bad_signature() -> Files:
    root = root_ca()
    return bundle(intermediate(root, signer=key("rsa2048:other_root")), root)


def _sha1(which: str) -> Callable[[], Files]:
    def files() -> Files:
        root = root_ca(sha1=which == "root")
        return bundle(intermediate(root, sha1=which == "intermediate"), root)

    return files


def _rsa1024_intermediate() -> Files:
    root = root_ca()
    return bundle(intermediate(root, "rsa1024:int", "istiod RSA-1024 intermediate"), root)


# --- two intermediate levels -----------------------------------------------------------------------------------


def _two_level(chain: str, int1_path_len: int = 1) -> Callable[[], Files]:
    def files() -> Files:
        root = root_ca()
        int1 = intermediate(root, "rsa2048:int1", "Vault intermediate (level 1)", path_len=int1_path_len)
        int2 = intermediate(int1, "rsa2048:int2", "istiod intermediate (level 2)")
        chains = {
            "full": cert_pem(int2, int1, root),
            "without_int1": cert_pem(int2, root),
            "without_root": cert_pem(int2, int1),
            "reversed": cert_pem(root, int1, int2),
        }
        return bundle(int2, root, chain=chains[chain])

    return files


# --- missing / extra files -------------------------------------------------------------------------------------


def _missing(*file_names: str) -> Callable[[], Files]:
    def files() -> Files:
        out = good()
        for file_name in file_names:
            del out[file_name]
        return out

    return files


def _only_root_cert() -> Files:
    return {ROOT_CERT: good()[ROOT_CERT]}


def _empty_dir() -> Files:
    return {}


def _stray_tls_crt() -> Files:
    out = good()
    out[TLS_CRT] = out[CA_CERT]
    return out


def _tls_trio_beside(broken_istio_files: bool) -> Callable[[], Files]:
    """A complete kubernetes.io/tls trio of ANOTHER intermediate next to the four istiod files."""

    def files() -> Files:
        out = good()
        root = root_ca()
        other = intermediate(root, "rsa2048:int2", "istiod intermediate (tls secret)")
        out.update({TLS_CRT: cert_pem(other), TLS_KEY: key_pem(other.key), TLS_CA: cert_pem(root)})
        if broken_istio_files:
            out[CA_KEY] = b"not a key\n"
            out[CA_CERT] = b"not a certificate\n"
        return out

    return files


def _tls_layout(chain_in_tls_crt: bool) -> Callable[[], Files]:
    def files() -> Files:
        inter, root = vault_pki()
        crt = cert_pem(inter, root) if chain_in_tls_crt else cert_pem(inter)
        return {TLS_CRT: crt, TLS_KEY: key_pem(inter.key, "pkcs8"), TLS_CA: cert_pem(root)}

    return files


def _stray_ca_crt() -> Files:
    out = good()
    out[TLS_CA] = b"garbage that istiod never reads\n"
    return out


def _stray_tls_key_only() -> Files:
    out = good()
    out[TLS_KEY] = out[CA_KEY]
    return out


def _istio_generated_marker() -> Files:
    out = good()
    out["istio-generated"] = b""
    return out


# --- ca-crl.pem ------------------------------------------------------------------------------------------------


def _crl(kind: str) -> Callable[[], Files]:
    def files() -> Files:
        inter, root = vault_pki()
        out = bundle(inter, root)
        crls = {
            "all_chain_signers": crl_pem(inter) + crl_pem(root),
            "intermediate_only": crl_pem(inter),
            "empty": b"",
            "garbage": b"this is not a CRL\n",
            "revokes_nothing_root_only": crl_pem(root),
        }
        if kind == "chain_intermediate_only":
            out[CERT_CHAIN] = cert_pem(inter)
            out[CA_CRL] = crl_pem(inter)
        else:
            out[CA_CRL] = crls[kind]
        return out

    return files


# --- registry --------------------------------------------------------------------------------------------------

SERVER, CLIENT = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH

_KINDS: list[tuple[str, str, Callable[[], Files]]] = [
    (
        "vault_rsa",
        "Vault-like: RSA root, RSA intermediate pathLen 0, PKCS#1 key, chain = intermediate + root",
        _vault_rsa,
    ),
    ("vault_rsa_pkcs8_key", "Vault-like bundle with the key as PKCS#8 (PRIVATE KEY)", _vault_rsa_pkcs8),
    ("ec_intermediate_sec1_key", "RSA root, EC P-256 intermediate, SEC1 key (EC PRIVATE KEY)", _ec_intermediate()),
    ("ec_intermediate_pkcs8_key", "RSA root, EC P-256 intermediate, PKCS#8 key", _ec_intermediate("pkcs8")),
    ("ec_p384_root_and_intermediate", "EC P-384 root and EC P-384 intermediate", _ec_p384_all),
    ("ed25519_intermediate", "RSA root, Ed25519 intermediate (PKCS#8 key)", _ed25519_intermediate),
    ("ed25519_root_and_intermediate", "Ed25519 root and Ed25519 intermediate", _ed25519_all),
    (
        "ec_key_after_ec_parameters",
        "ca-key.pem = EC PARAMETERS block then the SEC1 key (openssl ecparam -genkey)",
        _ec_parameters(first=True),
    ),
    ("ec_key_before_ec_parameters", "ca-key.pem = SEC1 key then an EC PARAMETERS block", _ec_parameters(first=False)),
    ("key_mismatch", "ca-key.pem belongs to another certificate", _key_mismatch),
    ("key_encrypted_pkcs8", "ca-key.pem is an ENCRYPTED PRIVATE KEY", _key_encrypted),
    ("key_pkcs8_labelled_rsa", "PKCS#8 DER under an RSA PRIVATE KEY label", _key_pkcs8_labelled_pkcs1),
    ("chain_empty", "cert-chain.pem is an empty file", _chain("empty")),
    ("chain_whitespace_only", "cert-chain.pem holds only whitespace", _chain("whitespace")),
    ("chain_intermediate_only", "cert-chain.pem = the intermediate only (no root)", _chain("intermediate_only")),
    ("chain_root_first", "cert-chain.pem = root then intermediate", _chain("root_first")),
    ("chain_root_only", "cert-chain.pem = the root only (intermediate missing)", _chain("root_only")),
    ("chain_duplicates", "cert-chain.pem = intermediate twice, then root", _chain("duplicates")),
    (
        "chain_first_expired_previous_intermediate",
        "cert-chain.pem starts with an expired previous intermediate, then the current one and the root",
        _chain_first_expired_old_intermediate,
    ),
    (
        "chain_first_unrelated_short_lived",
        "cert-chain.pem starts with an unrelated CA expiring in 2h, then intermediate + root",
        _chain_first_unrelated_short,
    ),
    ("roots_right_first", "root-cert.pem = the right root, then an unrelated root", _roots("right_first")),
    ("roots_right_second", "root-cert.pem = an unrelated root, then the right root", _roots("right_second")),
    ("root_wrong", "root-cert.pem = an unrelated root only", _roots("wrong")),
    ("roots_listed_twice", "root-cert.pem = the right root twice", _roots("listed_twice")),
    (
        "root_same_name_other_key",
        "root-cert.pem = a root with the same name but another key",
        _roots("same_name_other_key"),
    ),
    (
        "root_cert_is_intermediate",
        "root-cert.pem = the intermediate itself (anchor at the intermediate)",
        _roots("is_intermediate"),
    ),
    ("root_cert_empty", "root-cert.pem is an empty file", _roots("empty")),
    ("root_plugged_as_ca", "the root itself as ca-cert/ca-key (cert-chain = root)", _root_is_ca_cert),
    ("crlf_line_endings", "all four files with CRLF line endings", _crlf),
    ("bag_attributes", "'Bag Attributes' preambles (openssl pkcs12 -nodes) before every PEM block", _bag_attributes),
    ("text_dump_before_certs", "openssl x509 -text output before every certificate", _text_dump),
    ("der_ca_cert", "ca-cert.pem is DER", _der_file(CA_CERT)),
    ("der_ca_key", "ca-key.pem is DER (PKCS#1)", _der_file(CA_KEY)),
    ("der_root_cert", "root-cert.pem is DER", _der_file(ROOT_CERT)),
    ("der_cert_chain", "cert-chain.pem is DER (the intermediate)", _der_file(CERT_CHAIN)),
    ("truncated_ca_cert", "ca-cert.pem cut in half", _truncated(CA_CERT)),
    ("truncated_ca_key", "ca-key.pem cut in half", _truncated(CA_KEY)),
    ("truncated_cert_chain", "cert-chain.pem cut in half", _truncated(CERT_CHAIN)),
    ("truncated_root_cert", "root-cert.pem cut in half", _truncated(ROOT_CERT)),
    ("empty_ca_cert", "ca-cert.pem is an empty file", _empty_file(CA_CERT)),
    ("empty_ca_key", "ca-key.pem is an empty file", _empty_file(CA_KEY)),
    ("key_inside_ca_cert_after", "ca-cert.pem = certificate then its private key", _key_in_ca_cert(before=False)),
    ("key_inside_ca_cert_before", "ca-cert.pem = private key then the certificate", _key_in_ca_cert(before=True)),
    ("ca_cert_holds_chain", "ca-cert.pem = intermediate + root", _ca_cert_with_chain),
    ("expired_root", "root expired yesterday", _validity("root", "expired")),
    ("not_yet_valid_root", "root valid from tomorrow", _validity("root", "not_yet_valid")),
    ("expired_intermediate", "intermediate expired yesterday", _validity("intermediate", "expired")),
    ("not_yet_valid_intermediate", "intermediate valid from tomorrow", _validity("intermediate", "not_yet_valid")),
    ("expired_all", "root and intermediate expired yesterday", _validity("all", "expired")),
    ("not_yet_valid_all", "root and intermediate valid from tomorrow", _validity("all", "not_yet_valid")),
    (
        "intermediate_outlives_root_by_seconds",
        "intermediate ends 30 s after its root",
        _outlives_root(dt.timedelta(seconds=30)),
    ),
    ("intermediate_outlives_root_by_a_year", "intermediate ends a year after its root", _outlives_root(YEAR)),
    (
        "intermediate_expires_in_1h",
        "intermediate ends in 1 h (less than the 24 h workload TTL)",
        _expires_within_ttl(root_first=False),
    ),
    (
        "intermediate_expires_in_1h_root_first_chain",
        "intermediate ends in 1 h, cert-chain.pem = root first",
        _expires_within_ttl(root_first=True),
    ),
    (
        "intermediate_bc_noncritical",
        "intermediate basicConstraints not critical",
        _inter_ext(basic_constraints_critical=False),
    ),
    ("intermediate_no_key_usage", "intermediate without keyUsage", _inter_ext(key_usage=None)),
    (
        "intermediate_key_usage_without_cert_sign",
        "intermediate keyUsage digitalSignature+keyEncipherment only",
        _inter_ext(key_usage=SIGNATURE_ONLY_KEY_USAGE),
    ),
    ("intermediate_ca_false", "intermediate with CA:FALSE", _inter_ext(ca=False)),
    ("intermediate_no_basic_constraints", "intermediate without basicConstraints", _inter_ext(basic_constraints=False)),
    ("intermediate_pathlen_1", "intermediate pathLen 1", _inter_ext(path_len=1)),
    ("intermediate_pathlen_unlimited", "intermediate without a pathLen", _inter_ext(path_len=None)),
    ("intermediate_eku_server_only", "intermediate EKU serverAuth only", _eku(SERVER)),
    ("intermediate_eku_client_only", "intermediate EKU clientAuth only", _eku(CLIENT)),
    ("intermediate_eku_code_signing_only", "intermediate EKU codeSigning only", _eku(ExtendedKeyUsageOID.CODE_SIGNING)),
    ("intermediate_eku_server_and_client", "intermediate EKU serverAuth + clientAuth", _eku(SERVER, CLIENT)),
    ("intermediate_eku_any", "intermediate EKU anyExtendedKeyUsage", _eku(ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)),
    ("intermediate_eku_empty_list", "intermediate with an EKU extension listing nothing", _eku()),
    ("root_eku_client_only", "root EKU clientAuth only", _root_ext(eku=[CLIENT])),
    ("root_pathlen_0_above_intermediate", "root pathLen 0 with the intermediate below it", _root_ext(path_len=0)),
    (
        "root_no_basic_constraints",
        "root (X.509 v3) without basicConstraints",
        _root_ext(basic_constraints=False),
    ),
    ("root_no_key_usage", "root without keyUsage", _root_ext(key_usage=None)),
    (
        "intermediate_name_constraints_exclude_trust_domain",
        "intermediate excludes URI domain cluster.local",
        _name_constraints(excluded=True),
    ),
    (
        "intermediate_name_constraints_permit_trust_domain",
        "intermediate permits URI domain cluster.local only",
        _name_constraints(excluded=False),
    ),
    (
        "intermediate_unknown_critical_extension",
        "intermediate carries an unknown critical extension",
        _inter_ext(unknown_critical_extension=True),
    ),
    (
        "intermediate_bad_signature",
        "intermediate names the root as issuer but is signed by another key",
        _bad_signature,
    ),
    ("sha1_root_self_signature", "root self-signed with SHA-1 (RSA)", _sha1("root")),
    ("sha1_intermediate_signature", "intermediate signed by the root with SHA-1 (RSA)", _sha1("intermediate")),
    ("rsa1024_intermediate", "RSA 1024-bit intermediate key", _rsa1024_intermediate),
    ("two_level_full_chain", "root -> int1 -> int2 (ca-cert), chain = int2 + int1 + root", _two_level("full")),
    ("two_level_without_int1", "root -> int1 -> int2, chain = int2 + root (int1 missing)", _two_level("without_int1")),
    ("two_level_without_root", "root -> int1 -> int2, chain = int2 + int1", _two_level("without_root")),
    ("two_level_reversed_chain", "root -> int1 -> int2, chain = root + int1 + int2", _two_level("reversed")),
    ("two_level_int1_pathlen_0", "root -> int1 (pathLen 0) -> int2, full chain", _two_level("full", int1_path_len=0)),
    ("missing_ca_cert", "no ca-cert.pem", _missing(CA_CERT)),
    ("missing_ca_key", "no ca-key.pem", _missing(CA_KEY)),
    ("missing_cert_chain", "no cert-chain.pem", _missing(CERT_CHAIN)),
    ("missing_root_cert", "no root-cert.pem", _missing(ROOT_CERT)),
    ("missing_all", "empty directory", _empty_dir),
    ("only_root_cert", "root-cert.pem alone (additional roots only)", _only_root_cert),
    ("stray_tls_crt", "the four files plus a tls.crt (copy of ca-cert.pem), no tls.key / ca.crt", _stray_tls_crt),
    ("stray_tls_key_only", "the four files plus a tls.key", _stray_tls_key_only),
    ("stray_ca_crt", "the four files plus an unreadable ca.crt", _stray_ca_crt),
    (
        "tls_trio_beside_istio_files",
        "the four files plus a complete tls.crt/tls.key/ca.crt of another intermediate",
        _tls_trio_beside(broken_istio_files=False),
    ),
    (
        "tls_trio_beside_broken_istio_files",
        "a valid tls.crt/tls.key/ca.crt trio beside broken ca-cert/ca-key",
        _tls_trio_beside(broken_istio_files=True),
    ),
    (
        "tls_secret_layout",
        "kubernetes.io/tls layout only: tls.crt (intermediate), tls.key, ca.crt (root)",
        _tls_layout(chain_in_tls_crt=False),
    ),
    (
        "tls_secret_layout_chain_in_tls_crt",
        "kubernetes.io/tls layout, tls.crt = intermediate + root (cert-manager)",
        _tls_layout(chain_in_tls_crt=True),
    ),
    ("istio_generated_marker", "the four files plus an istio-generated key", _istio_generated_marker),
    (
        "crl_all_chain_signers",
        "ca-crl.pem with a CRL from the intermediate and one from the root",
        _crl("all_chain_signers"),
    ),
    (
        "crl_intermediate_only",
        "ca-crl.pem with the intermediate's CRL only (chain includes the root)",
        _crl("intermediate_only"),
    ),
    ("crl_root_only", "ca-crl.pem with the root's CRL only", _crl("revokes_nothing_root_only")),
    ("crl_empty_file", "ca-crl.pem is an empty file", _crl("empty")),
    ("crl_garbage", "ca-crl.pem holds text, no PEM block", _crl("garbage")),
    (
        "crl_chain_intermediate_only",
        "cert-chain.pem = intermediate only, ca-crl.pem = its CRL",
        _crl("chain_intermediate_only"),
    ),
]

for _name, _description, _files in _KINDS:
    _kind(_name, _description, _files)


# --------------------------------------------------------------------------------------------------------------
# Istio's own bundles (read from the Go module cache of the pinned istio.io/istio; never copied into the repo)

# name -> {istiod file name: file name in samples/certs}
_SAMPLE_SETS: dict[str, dict[str, str]] = {
    "samples_default_combined_roots": {
        CA_CERT: "ca-cert.pem",
        CA_KEY: "ca-key.pem",
        CERT_CHAIN: "cert-chain.pem",
        ROOT_CERT: "root-cert-combined.pem",
    },
    "samples_default_combined_roots_2": {
        CA_CERT: "ca-cert.pem",
        CA_KEY: "ca-key.pem",
        CERT_CHAIN: "cert-chain.pem",
        ROOT_CERT: "root-cert-combined-2.pem",
    },
    "samples_alt": {
        CA_CERT: "ca-cert-alt.pem",
        CA_KEY: "ca-key-alt.pem",
        CERT_CHAIN: "cert-chain-alt.pem",
        ROOT_CERT: "root-cert-alt.pem",
    },
    "samples_alt_combined_roots": {
        CA_CERT: "ca-cert-alt.pem",
        CA_KEY: "ca-key-alt.pem",
        CERT_CHAIN: "cert-chain-alt.pem",
        ROOT_CERT: "root-cert-combined.pem",
    },
    "samples_alt_2": {
        CA_CERT: "ca-cert-alt-2.pem",
        CA_KEY: "ca-key-alt-2.pem",
        CERT_CHAIN: "cert-chain-alt-2.pem",
        ROOT_CERT: "root-cert-alt.pem",
    },
}


def istio_module_dir() -> Path:
    """The pinned istio.io/istio in the Go module cache (``go mod download -json`` in tests/oracles/istio_ca)."""
    return gobuild.module_dir(ORACLE, ISTIO_MODULE)


def istio_published_bundles(workdir: Path | None = None) -> dict[str, Path]:
    """Istio's sample plugged-in CA bundles. ``samples_default`` is samples/certs itself (istiod reads only the
    four names from it); the alternative sets are assembled under the four istiod names in ``workdir`` (a new
    temporary directory when None) from the files present in this Istio version."""
    samples = istio_module_dir() / "samples" / "certs"
    bundles = {"samples_default": samples}
    base = workdir if workdir is not None else Path(tempfile.mkdtemp(prefix="istio-samples-"))
    for set_name, mapping in _SAMPLE_SETS.items():
        if not all((samples / source).is_file() for source in mapping.values()):
            continue
        target = base / set_name
        target.mkdir(parents=True, exist_ok=True)
        for istiod_name, source in mapping.items():
            shutil.copyfile(samples / source, target / istiod_name)
        bundles[set_name] = target
    return bundles


class ToolMissingError(RuntimeError):
    """make or openssl is not installed."""


def istio_tools_certs_bundle(workdir: Path, cluster: str = "cluster1") -> Path:
    """Run Istio's tools/certs/Makefile.selfsigned.mk (``root-ca`` then ``<cluster>-cacerts``) in ``workdir`` and
    return ``workdir/<cluster>``, the intermediate bundle it documents for plugging into istiod."""
    for tool in ("make", "openssl"):
        if shutil.which(tool) is None:
            raise ToolMissingError(f"{tool} is not installed: Istio's tools/certs Makefile needs it")
    makefile = istio_module_dir() / "tools" / "certs" / "Makefile.selfsigned.mk"
    workdir.mkdir(parents=True, exist_ok=True)
    for target in ("root-ca", f"{cluster}-cacerts"):
        proc = subprocess.run(
            ["make", "-f", str(makefile), target], cwd=workdir, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"make -f {makefile} {target} failed:\n{proc.stdout}\n{proc.stderr}")
    return workdir / cluster
