"""pkix takes `load_pem_private_key`, `Encoding` and `PublicFormat` from where cryptography defines them, not from
`cryptography.hazmat.primitives.serialization` (slow to import): they must be that package's very objects."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization

from istio_vault_ca.verify.checks import pkix


def test_the_objects_are_the_ones_cryptography_exports() -> None:
    assert pkix.load_pem_private_key is serialization.load_pem_private_key
    assert pkix.Encoding is serialization.Encoding
    assert pkix.PublicFormat is serialization.PublicFormat
