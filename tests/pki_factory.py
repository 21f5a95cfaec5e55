"""Build CA bundles at test time with `cryptography`, so no key or certificate is ever committed.

`good_bundle()` mirrors what Vault hands istiod: an RSA root, an intermediate signed by it with pathLen 0, and
`cert-chain.pem` = intermediate then root (`format=pem_bundle`). `BAD_BUNDLES` maps each kind of broken bundle
to the check id that must catch it.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
NOW = dt.datetime.now(dt.timezone.utc)
DAY = dt.timedelta(days=1)


@functools.cache
def key(kind: str = "rsa", size: int = 2048, slot: int = 0) -> PrivateKey:
    """A cached key: RSA generation is slow, and tests only need a few distinct keys (`slot`)."""
    del slot  # only part of the cache key
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    curve = {192: ec.SECP192R1(), 256: ec.SECP256R1(), 384: ec.SECP384R1()}[size]
    return ec.generate_private_key(curve)


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def make_ca(
    common_name: str,
    issuer: Issued | None = None,
    *,
    signing_key: PrivateKey | None = None,
    subject_key: PrivateKey | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    path_length: int | None = None,
    ca: bool = True,
    key_cert_sign: bool = True,
    eku: list[x509.ObjectIdentifier] | None = None,
    digest: hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None = None,
) -> Issued:
    """A CA certificate with the extensions Vault puts on one; `issuer=None` makes it self-signed."""
    subject_key = subject_key or key("rsa", 2048, abs(hash(common_name)) % 4)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_name = issuer.cert.subject if issuer else subject
    signer = signing_key or (issuer.key if issuer else subject_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - DAY)
        .not_valid_after(not_after or NOW + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=key_cert_sign,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key((issuer.key if issuer else subject_key).public_key()),
            critical=False,
        )
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    cert = builder.sign(signer, digest or hashes.SHA256())
    return Issued(cert, subject_key)


@dataclass(frozen=True)
class Bundle:
    """The four files' bytes; `None` leaves a file out."""

    ca_cert: bytes | None
    ca_key: bytes | None
    cert_chain: bytes | None
    root_cert: bytes | None
    key_mode: int = 0o600

    def files(self) -> dict[str, bytes]:
        """The files there are, by name (as istiod's CA directory holds them)."""
        names = {
            "ca-cert.pem": self.ca_cert,
            "ca-key.pem": self.ca_key,
            "cert-chain.pem": self.cert_chain,
            "root-cert.pem": self.root_cert,
        }
        return {name: content for name, content in names.items() if content is not None}

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        for name, content in self.files().items():
            (directory / name).write_bytes(content)
        if self.ca_key is not None:
            os.chmod(directory / "ca-key.pem", self.key_mode)
        return directory


def root(**changes: object) -> Issued:
    return make_ca("Test Root CA", subject_key=key("rsa", 2048, 10), **changes)  # type: ignore[arg-type]


def intermediate(parent: Issued, **changes: object) -> Issued:
    options: dict[str, object] = {"subject_key": key("rsa", 2048, 11), "path_length": 0}
    options.update(changes)
    return make_ca("Test Intermediate CA", parent, **options)  # type: ignore[arg-type]


def assemble(inter: Issued, top: Issued, **changes: object) -> Bundle:
    bundle = Bundle(inter.pem, inter.key_pem, inter.pem + top.pem, top.pem)
    return replace(bundle, **changes)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=1)
def good_pair() -> tuple[Issued, Issued]:
    top = root(not_after=NOW + 3650 * DAY)
    return intermediate(top, not_after=NOW + 1825 * DAY), top


def good_bundle() -> Bundle:
    inter, top = good_pair()
    return assemble(inter, top)


def _der_bytes(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _swapped_key() -> Bundle:
    inter, top = good_pair()
    return replace(assemble(inter, top), ca_key=Issued(inter.cert, key("rsa", 2048, 12)).key_pem)


def _ec_key() -> Bundle:
    inter, top = good_pair()
    return replace(assemble(inter, top), ca_key=Issued(inter.cert, key("ec", 256)).key_pem)


def _truncated() -> Bundle:
    good = good_bundle()
    assert good.ca_cert is not None
    return replace(good, ca_cert=good.ca_cert[: len(good.ca_cert) // 2])


def _der_cert() -> Bundle:
    inter, top = good_pair()
    return replace(assemble(inter, top), ca_cert=_der_bytes(inter.cert))


def _swapped_root_and_intermediate() -> Bundle:
    inter, top = good_pair()
    return Bundle(top.pem, inter.key_pem, inter.pem + top.pem, inter.pem)


def _root_first() -> Bundle:
    inter, top = good_pair()
    return replace(assemble(inter, top), cert_chain=top.pem + inter.pem)


def _missing_root() -> Bundle:
    inter, top = good_pair()
    return replace(assemble(inter, top), cert_chain=inter.pem)


def _extra_cert() -> Bundle:
    inter, top = good_pair()
    stranger = make_ca("Unrelated CA", subject_key=key("rsa", 2048, 13))
    return replace(assemble(inter, top), cert_chain=inter.pem + top.pem + stranger.pem)


def _variant(**changes: object) -> Callable[[], Bundle]:
    """A bundle whose intermediate is built with `changes`, under the good root."""

    def build() -> Bundle:
        _, top = good_pair()
        options: dict[str, object] = {"not_after": NOW + 1825 * DAY}
        options.update(changes)
        return assemble(intermediate(top, **options), top)

    return build


def _outliving_root() -> Bundle:
    top = root(not_after=NOW + 100 * DAY)
    return assemble(intermediate(top, not_after=NOW + 400 * DAY), top)


def _weak_rsa() -> Bundle:
    _, top = good_pair()
    return assemble(intermediate(top, subject_key=key("rsa", 1024)), top)


def _weak_ec() -> Bundle:
    _, top = good_pair()
    return assemble(intermediate(top, subject_key=key("ec", 192)), top)


SHA256_WITH_RSA = bytes.fromhex("2a864886f70d01010b")
SHA1_WITH_RSA = bytes.fromhex("2a864886f70d010105")


def _der_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def sha1_signed(cert: x509.Certificate, issuer_key: rsa.RSAPrivateKey) -> x509.Certificate:
    """Re-sign `cert` with SHA-1: cryptography refuses to, so swap the algorithm OID and sign the TBS."""
    tbs = cert.tbs_certificate_bytes.replace(SHA256_WITH_RSA, SHA1_WITH_RSA)
    signature = issuer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - the point of the test
    algorithm = _der(0x30, _der(0x06, SHA1_WITH_RSA) + b"\x05\x00")
    return x509.load_der_x509_certificate(_der(0x30, tbs + algorithm + _der(0x03, b"\x00" + signature)))


def _sha1_intermediate() -> Bundle:
    inter, top = good_pair()
    assert isinstance(top.key, rsa.RSAPrivateKey)
    return assemble(Issued(sha1_signed(inter.cert, top.key), inter.key), top)


def _root_path_len_zero() -> Bundle:
    top = root(path_length=0, not_after=NOW + 3650 * DAY)
    return assemble(intermediate(top), top)


def _wrong_root() -> Bundle:
    inter, top = good_pair()
    other = make_ca("Test Root CA", subject_key=key("rsa", 2048, 14))
    return replace(assemble(inter, top), root_cert=other.pem)


def _key_in_cert_file() -> Bundle:
    inter, top = good_pair()
    return replace(assemble(inter, top), root_cert=inter.key_pem)


def _chain_without_ca_cert() -> Bundle:
    inter, top = good_pair()
    return replace(assemble(inter, top), cert_chain=top.pem)


def _replace(**changes: object) -> Callable[[], Bundle]:
    return lambda: replace(good_bundle(), **changes)  # type: ignore[arg-type]


def _ec_parameters_first() -> Bundle:
    """What `openssl ecparam -genkey` writes: an EC PARAMETERS block before the key (istiod reads only the first)."""
    _, top = good_pair()
    inter = intermediate(top, subject_key=key("ec", 256))
    params = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    sec1 = inter.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return replace(assemble(inter, top), ca_key=params + sec1)


FAIL, WARN = "fail", "warn"

# kind -> (builder, check id that must catch it, the status it must give, file the finding must name).
# The status follows the check's tier (docs/explanation/verifier.md): istiod refuses / peers reject -> fail,
# good practice -> warn, policy -> fail.
BAD_BUNDLES: dict[str, tuple[Callable[[], Bundle], str, str, str]] = {
    "swapped key": (_swapped_key, "chain.key-matches-cert", FAIL, "ca-key.pem"),
    "key of another type": (_ec_key, "chain.key-matches-cert", FAIL, "ca-key.pem"),
    "EC PARAMETERS before the key": (_ec_parameters_first, "chain.pem", FAIL, "ca-key.pem"),
    "truncated PEM": (_truncated, "chain.pem", FAIL, "ca-cert.pem"),
    "DER instead of PEM": (_der_cert, "chain.pem", FAIL, "ca-cert.pem"),
    "empty cert-chain.pem": (_replace(cert_chain=b""), "chain.spiffe-leaf", FAIL, "cert-chain.pem"),
    "missing file": (_replace(root_cert=None), "chain.file-present", FAIL, "root-cert.pem"),
    "<no value>": (_replace(ca_key=b"<no value>\n"), "chain.pem", FAIL, "ca-key.pem"),
    "root and intermediate swapped": (_swapped_root_and_intermediate, "chain.key-matches-cert", FAIL, "ca-key.pem"),
    "chain in root-first order": (_root_first, "chain.order", WARN, "cert-chain.pem"),
    "chain missing the root": (_missing_root, "chain.includes-root", WARN, "cert-chain.pem"),
    "chain missing ca-cert": (_chain_without_ca_cert, "chain.spiffe-leaf", FAIL, "cert-chain.pem"),
    "extra unrelated certificate": (_extra_cert, "chain.order", WARN, "cert-chain.pem"),
    "intermediate not a CA": (_variant(ca=False), "chain.ca-cert-is-ca", FAIL, "ca-cert.pem"),
    "missing keyCertSign": (_variant(key_cert_sign=False), "chain.ca-key-usage", FAIL, "ca-cert.pem"),
    "EKU without serverAuth": (
        _variant(eku=[ExtendedKeyUsageOID.CODE_SIGNING]),
        "chain.ca-eku",
        FAIL,
        "ca-cert.pem",
    ),
    "expired intermediate": (
        _variant(not_before=NOW - 400 * DAY, not_after=NOW - DAY),
        "chain.validity",
        FAIL,
        "ca-cert.pem",
    ),
    "not-yet-valid intermediate": (_variant(not_before=NOW + 2 * DAY), "chain.validity", FAIL, "ca-cert.pem"),
    "intermediate outliving the root": (_outliving_root, "chain.not-beyond-root", WARN, "ca-cert.pem"),
    "RSA-1024": (_weak_rsa, "chain.key-strength", FAIL, "ca-cert.pem"),
    "EC P-192": (_weak_ec, "chain.pem", FAIL, "ca-cert.pem"),
    "SHA-1 signature": (_sha1_intermediate, "chain.signature-algorithm", FAIL, "ca-cert.pem"),
    "pathLen 0 on the root": (_root_path_len_zero, "chain.path-length", FAIL, "root-cert.pem"),
    "wrong root": (_wrong_root, "chain.path-valid", FAIL, "root-cert.pem"),
    "garbage bytes": (_replace(root_cert=bytes(range(256)) * 2), "chain.pem", FAIL, "root-cert.pem"),
    "private key in a certificate file": (_key_in_cert_file, "chain.pem", FAIL, "root-cert.pem"),
    "certificate in the key file": (
        lambda: replace(good_bundle(), ca_key=good_bundle().ca_cert),
        "chain.pem",
        FAIL,
        "ca-key.pem",
    ),
    "group-readable key": (_replace(key_mode=0o640), "chain.key-file-mode", WARN, "ca-key.pem"),
}
