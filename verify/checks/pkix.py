"""Key facts without key material, shared by the check families: a key's type and size for findings, and its
public key's DER for comparing a key with a certificate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:  # where cryptography defines them (see below); the public package should a release move them
    from cryptography.hazmat.primitives._serialization import Encoding, PublicFormat
except ImportError:  # pragma: no cover
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = ["Encoding", "PublicFormat", "describe_key", "load_pem_private_key", "spki"]

# `cryptography.hazmat.primitives.serialization` imports its SSH module, which imports `dataclasses` (and with it
# `inspect`) and the cipher modules: about a tenth of a `verify chain DIR` run (docs/maintainers/performance.md).
# What the chain checks need from it is re-exported there from where it is defined; it is taken from there instead, so
# parsing and encoding are the public API's (tests/unit/verify/checks/test_pkix.py compares them for each key
# type); should a release move them, the public package is used.
PemKeyLoader = Callable[..., PrivateKeyTypes]


def _pem_key_loader() -> PemKeyLoader:
    try:
        from cryptography.hazmat.bindings._rust import openssl as rust_openssl

        loader: PemKeyLoader = rust_openssl.keys.load_pem_private_key
    except (ImportError, AttributeError):  # pragma: no cover - a cryptography release that moved it
        from cryptography.hazmat.primitives.serialization import load_pem_private_key as loader
    return loader


load_pem_private_key: PemKeyLoader = _pem_key_loader()


def spki(public_key: Any) -> bytes:
    """The DER SubjectPublicKeyInfo: equal for a key and its certificate whatever the key type."""
    der: bytes = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return der


_NIST_NAMES = {
    "secp256r1": "P-256",
    "secp384r1": "P-384",
    "secp521r1": "P-521",
    "secp192r1": "P-192",
    "secp224r1": "P-224",
}


def describe_key(key: object) -> str:
    """'RSA-4096', 'EC P-256'...: type and size only, never key material."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"EC {_NIST_NAMES.get(key.curve.name, key.curve.name)}"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPrivateKey | dsa.DSAPublicKey):
        return f"DSA-{key.key_size}"
    return type(key).__name__
