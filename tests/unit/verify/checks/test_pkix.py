"""pkix's key loading and SubjectPublicKeyInfo encoding (the chain checks' key/certificate comparison) give what
cryptography's public API gives, for every key type istiod can use, and refuse what is not a key the way the
readers of ca-key.pem in verify/checks/chain/pem.py expect: an answer with istiod's reason, not an exception.

pkix takes them from where cryptography defines them, for start-up time; which module that is stays
cryptography's business: only the behaviour is asserted here."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from istio_vault_ca.verify.checks import pkix
from istio_vault_ca.verify.checks.chain import pem

KEYS: dict[str, PrivateKeyTypes] = {
    "RSA-2048": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "EC P-256": ec.generate_private_key(ec.SECP256R1()),
    "EC P-384": ec.generate_private_key(ec.SECP384R1()),
    "Ed25519": ed25519.Ed25519PrivateKey.generate(),
}


def _pem(key: PrivateKeyTypes, fmt: serialization.PrivateFormat, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption)


@pytest.mark.parametrize("name", KEYS)
def test_a_loaded_key_is_the_written_key_and_its_spki_is_the_public_api_s(name: str) -> None:
    key = KEYS[name]
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    formats = [serialization.PrivateFormat.PKCS8]
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        formats.append(serialization.PrivateFormat.TraditionalOpenSSL)  # PKCS#1 and SEC1, as Vault writes them
    for fmt in formats:
        loaded = pkix.load_pem_private_key(_pem(key, fmt), password=None)
        assert pkix.spki(loaded.public_key()) == public_der
        assert pkix.describe_key(loaded) == name


def test_what_is_not_a_usable_key_is_refused_with_a_reason_not_an_exception() -> None:
    """The chain checks' readers of ca-key.pem (pem.py) on top of pkix: a corrupt key and an encrypted one (which
    istiod cannot read either) are answers, never exceptions out of cryptography."""
    corrupt = b"-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n"
    assert pem.first_key(corrupt) == (None, "failed to parse the PKCS#8 private key under its PRIVATE KEY label")
    assert pem.tls_pair_key(corrupt) is None
    encrypted = _pem(KEYS["EC P-256"], serialization.PrivateFormat.PKCS8, password=b"secret")
    assert pem.first_key(encrypted) == (None, "unsupported PEM block type for a private key: ENCRYPTED PRIVATE KEY")
    assert pem.tls_pair_key(encrypted) is None
