"""PEM and DER as istiod's Go code reads them, so a bundle parses here exactly when it parses there.

Go's `encoding/pem` Decode finds the first well-formed block anywhere in the input (text before it, such as
openssl's "Bag Attributes", is skipped; CRLF is fine) and istio's helpers then use only some blocks:
- `security/pkg/pki/util/crypto.go` ParsePemEncodedCertificate: the FIRST block, whatever its type, as a certificate;
- ParsePemEncodedKey: the FIRST block, by its label: EC PRIVATE KEY (SEC1), RSA PRIVATE KEY (PKCS#1), PRIVATE KEY
  (PKCS#8); any other label (EC PARAMETERS, ENCRYPTED PRIVATE KEY) is refused;
- `crypto/x509` CertPool.AppendCertsFromPEM (root-cert.pem, cert-chain.pem): every CERTIFICATE block that parses,
  silently skipping the rest;
- `crypto/tls` X509KeyPair (the key/cert match): CERTIFICATE blocks of the cert file, and the first block whose
  label ends in PRIVATE KEY, parsed as PKCS#1, PKCS#8 or SEC1 regardless of the label.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from ..pkix import load_pem_private_key

NO_VALUE = b"<no value>"
_BEGIN = re.compile(rb"-----BEGIN ([^\r\n]*?)-----[ \t\r]*\n")
# Curves Go's crypto/x509 parses (namedCurveFromOID): anything else fails to parse in istiod.
GO_CURVES = ("secp224r1", "secp256r1", "secp384r1", "secp521r1")


class Block(NamedTuple):
    type: str
    der: bytes


@functools.lru_cache(maxsize=256)
def blocks(data: bytes) -> tuple[Block, ...]:
    """Every block Go's pem.Decode would return, in order (a malformed candidate is skipped, as Go does).

    Cached because the checks ask about the same file several times; `check_values` clears the cache when the
    bundle's checks are done, so no file's bytes (a key's included) outlive them."""
    found: list[Block] = []
    position = 0
    while True:
        begin = _BEGIN.search(data, position)
        if begin is None:
            return tuple(found)
        kind = begin.group(1)
        end_marker = b"-----END " + kind + b"-----"
        end = data.find(end_marker, begin.end())
        if end < 0:
            position = begin.end()
            continue
        body = data[begin.end() : end]
        der = _decode_body(body)
        if der is None:
            position = begin.end()
            continue
        found.append(Block(kind.decode("ascii", "replace"), der))
        position = end + len(end_marker)


def _decode_body(body: bytes) -> bytes | None:
    """The base64 body after optional RFC 1421 headers ("Name: value" lines ending in a blank line)."""
    if b":" in body.split(b"\n", 1)[0]:
        lines = body.replace(b"\r", b"").split(b"\n")
        while lines and lines[0].strip():
            lines.pop(0)
        body = b"\n".join(lines)
    text = body.translate(None, b" \t\r\n")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def first_certificate(data: bytes) -> tuple[x509.Certificate | None, str]:
    """ParsePemEncodedCertificate: the first block as a certificate, or istiod's reason it is not one."""
    found = blocks(data)
    if not found:
        return None, "invalid PEM encoded certificate"
    cert = parse_certificate(found[0].der)
    if cert is None:
        what = "" if found[0].type == "CERTIFICATE" else f": its first PEM block is {found[0].type}"
        return None, f"failed to parse X.509 certificate{what}"
    return cert, ""


def certificates(data: bytes) -> tuple[x509.Certificate, ...]:
    """AppendCertsFromPEM: every CERTIFICATE block that parses, in order."""
    parsed = (parse_certificate(block.der) for block in blocks(data) if block.type == "CERTIFICATE")
    return tuple(cert for cert in parsed if cert is not None)


def parse_certificate(der: bytes) -> x509.Certificate | None:
    """A certificate Go's x509.ParseCertificate would accept (as far as cryptography can tell), else None."""
    try:
        cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
        _ = cert.extensions  # malformed extensions fail here, as they fail Go's parser
    except (ValueError, UnsupportedAlgorithm):
        return None
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in GO_CURVES:
        return None
    return cert


_KEY_LABELS = {"EC PRIVATE KEY": "SEC1", "RSA PRIVATE KEY": "PKCS#1", "PRIVATE KEY": "PKCS#8"}
GoKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def first_key(data: bytes) -> tuple[GoKey | None, str]:
    """ParsePemEncodedKey: the first block by its label, or istiod's reason (never quoting key bytes)."""
    found = blocks(data)
    if not found:
        return None, "invalid PEM-encoded key"
    block = found[0]
    if block.type not in _KEY_LABELS:
        return None, f"unsupported PEM block type for a private key: {block.type}"
    key = _load_labelled(block)
    if key is None:
        return None, f"failed to parse the {_KEY_LABELS[block.type]} private key under its {block.type} label"
    return key, ""


def tls_pair_key(data: bytes) -> GoKey | None:
    """The key crypto/tls X509KeyPair finds: the first block labelled ...PRIVATE KEY, in any of the formats."""
    for block in blocks(data):
        if block.type == "PRIVATE KEY" or block.type.endswith(" PRIVATE KEY"):
            for label in ("RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY"):
                key = _load_labelled(Block(label, block.der))
                if key is not None:
                    return key
            return None
    return None


def _load_labelled(block: Block) -> GoKey | None:
    """Parse DER strictly by the format its label names (cryptography dispatches PEM parsing on the label)."""
    pem = (
        f"-----BEGIN {block.type}-----\n".encode()
        + base64.encodebytes(block.der)
        + f"-----END {block.type}-----\n".encode()
    )
    try:
        key: PrivateKeyTypes = load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name not in GO_CURVES:
        return None
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key
    return None  # Ed448, DSA, X25519...: Go's parsers have no such private keys


def pem_problem(data: bytes, kind: str) -> str:
    """Why `data` is not what a person meant to put there ('' when it looks like PEM); never quotes the data."""
    if NO_VALUE in data:
        return (
            "holds the literal '<no value>': the agent template printed a field the secret does not have "
            "(KV version 1 vs 2, or a wrong field name)"
        )
    if b"-----BEGIN" not in data:
        if data[:1] == b"\x30":
            return "is DER (binary), not PEM; convert it with `openssl x509 -inform der` or re-export as PEM"
        return "is not PEM (no -----BEGIN line)"
    if not blocks(data):
        return "is truncated or corrupted: no complete PEM block (a -----BEGIN line without its -----END?)"
    if not any(block.type.endswith(kind) for block in blocks(data)):
        found = ", ".join(sorted({block.type for block in blocks(data)}))
        return f"holds {found} where a {kind} belongs"
    return ""
