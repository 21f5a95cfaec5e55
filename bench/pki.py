"""A real CA bundle made at run time with `cryptography`, shaped like the one Vault hands istiod for the default
config: RSA-4096 root, RSA-4096 intermediate with pathLen 0, `cert-chain.pem` = intermediate then root."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

FILES = ("ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem")


def _ca(
    common_name: str,
    key: rsa.RSAPrivateKey,
    issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] | None,
    days: int,
    path_length: int | None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(directory: Path, intermediate: x509.Certificate, key: rsa.RSAPrivateKey, root: x509.Certificate) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca-cert.pem").write_bytes(_pem(intermediate))
    (directory / "cert-chain.pem").write_bytes(_pem(intermediate) + _pem(root))
    (directory / "root-cert.pem").write_bytes(_pem(root))
    key_path = directory / "ca-key.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    os.chmod(key_path, 0o600)
    return directory


def write_bundles(parent: Path, count: int, *, key_bits: int = 4096) -> list[Path]:
    """`count` directories of the four files (ca-key.pem 0600), one root for all, as in a fleet: each directory
    has its own intermediate certificate (own name and serial). They share one intermediate key, because
    generating a hundred RSA-4096 keys would take minutes; nothing in the checks depends on keys differing."""
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    root = _ca("tetrate.io", root_key, None, days=3650, path_length=None)
    int_key = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    directories = []
    for index in range(count):
        name = "tetrate.io Intermediate Authority" + (f" {index:03d}" if count > 1 else "")
        intermediate = _ca(name, int_key, (root, root_key), days=1825, path_length=0)
        directories.append(_write(parent / f"cluster-{index:03d}", intermediate, int_key, root))
    return directories


def self_signed_pem(common_name: str) -> bytes:
    """A throw-away CA certificate (EC P-256), e.g. to stand in for a Kubernetes API server's CA."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)
