"""A real CA bundle made at run time with `cryptography`, shaped like the one Vault hands istiod for the default
config: RSA-4096 root, RSA-4096 intermediate with pathLen 0, `cert-chain.pem` = intermediate then root."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from istio_vault_ca.generator.pki import factory

FILES = ("ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem")


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
    root_key = factory.new_key("rsa", key_bits)
    root = factory.self_signed_ca("example.com Root CA", root_key, lifetime=dt.timedelta(days=3650))
    int_key = factory.new_key("rsa", key_bits)
    assert isinstance(int_key, rsa.RSAPrivateKey)
    directories = []
    for index in range(count):
        name = "example.com Intermediate Authority" + (f" {index:03d}" if count > 1 else "")
        intermediate = factory.issued_ca(name, root, int_key, lifetime=dt.timedelta(days=1825))
        directories.append(_write(parent / f"cluster-{index:03d}", intermediate.cert, int_key, root.cert))
    return directories


def self_signed_pem(common_name: str) -> bytes:
    """A throw-away CA certificate (EC P-256), e.g. to stand in for a Kubernetes API server's CA."""
    return factory.self_signed_ca(common_name, lifetime=dt.timedelta(days=1)).pem
