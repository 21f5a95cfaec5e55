"""Small X.509 helpers the check families share."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization


def spki(public_key: Any) -> bytes:
    """The DER SubjectPublicKeyInfo: equal for a key and its certificate whatever the key type."""
    der: bytes = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der
