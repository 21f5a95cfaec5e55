"""The offline root: sign an intermediate CSR where the root key lives, so the key never comes near Vault.

`istio-vault-ca sign-intermediate` (verify/cli/sign_command.py reads the files, asks for the passphrase, writes
the certificate 0600) is the only code that touches the root key: it never prints or copies it, and this module
refuses what would give istiod an unusable or unsafe intermediate: a key that is not the root certificate's, a CSR
whose signature does not verify, a certificate that would outlive the root.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import OfflineRootError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

# Vault backdates the certificates it issues by 30 s; a minute covers clocks that are slightly apart.
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class Signed:
    certificate: x509.Certificate
    clamped: bool


def root_certificate_path(certificate_file: str | None, config_source: str | os.PathLike[str] | None) -> Path | None:
    """`root.certificate_file`, relative to the config file's directory (the current one for the built-in
    default). Rendering never reads it; the import step, the verifier and plan-rotation do."""
    if not certificate_file:
        return None
    path = Path(certificate_file).expanduser()
    if path.is_absolute() or config_source is None:
        return path
    source = Path(config_source)
    return source.parent / path if source.is_file() else path


def sign_intermediate(
    root_cert: x509.Certificate,
    root_key: CertificateIssuerPrivateKeyTypes,
    csr: x509.CertificateSigningRequest,
    *,
    ttl_seconds: int,
    max_path_length: int,
    clamp_to_root: bool = False,
    now: dt.datetime | None = None,
) -> Signed:
    """An intermediate CA certificate for the CSR's key and subject, as istiod needs it: CA:true (critical) with
    the path length, keyCertSign|cRLSign (critical), SKI/AKI, no EKU, never valid beyond the root."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    now = now or dt.datetime.now(dt.timezone.utc)
    _check_root(root_cert, root_key, max_path_length, now)
    if not csr.is_signature_valid:
        raise OfflineRootError("the CSR's signature does not verify: it was altered or is not a CSR from Vault")
    public_key = csr.public_key()
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < MIN_RSA_BITS:
        raise OfflineRootError(f"the CSR's RSA key has {public_key.key_size} bits; at least {MIN_RSA_BITS} needed")
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise OfflineRootError("the CSR's key is neither RSA nor EC, which Vault's PKI would not have generated")
    if len(csr.subject) == 0:
        raise OfflineRootError("the CSR has an empty subject; Vault's CSRs carry the intermediate's common name")
    from .factory import BACKDATE

    not_before = max(now - BACKDATE, root_cert.not_valid_before_utc)
    not_after = now + dt.timedelta(seconds=ttl_seconds)
    root_end = root_cert.not_valid_after_utc
    clamped = False
    if not_after > root_end:
        if not clamp_to_root:
            left = int((root_end - now).total_seconds() // 3600)
            raise OfflineRootError(
                f"--ttl would end {not_after:%Y-%m-%d %H:%M} UTC, after the root expires ({root_end:%Y-%m-%d %H:%M} "
                f"UTC): an intermediate cannot outlive its root. Use --ttl {left}h or less, or --clamp-to-root"
            )
        not_after, clamped = root_end, True
    from .factory import certificate

    signed = certificate(
        csr.subject,
        public_key,
        root_key,
        issuer=root_cert,
        not_before=not_before,
        not_after=not_after,
        ca=True,
        path_length=None if max_path_length < 0 else max_path_length,
    )
    return Signed(signed, clamped)


def _check_root(
    root_cert: x509.Certificate, root_key: CertificateIssuerPrivateKeyTypes, max_path_length: int, now: dt.datetime
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if root_key.public_key().public_bytes(serialization.Encoding.DER, spki) != root_cert.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ):
        raise OfflineRootError("--root-key is not the key of --root-cert: refusing to sign with it")
    try:
        constraints = root_cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise OfflineRootError("--root-cert has no basicConstraints extension, so it is not a CA") from None
    if not constraints.ca:
        raise OfflineRootError("--root-cert is not a CA certificate (basicConstraints CA:false)")
    if constraints.path_length is not None and not 0 <= max_path_length < constraints.path_length:
        raise OfflineRootError(
            f"--root-cert allows {constraints.path_length} CA(s) below it, so the intermediate's "
            f"--max-path-length must be 0..{constraints.path_length - 1}"
            if constraints.path_length > 0
            else "--root-cert has pathLen 0: it may not sign intermediate CAs"
        )
    try:
        usage = root_cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.key_cert_sign:
            raise OfflineRootError("--root-cert's keyUsage lacks keyCertSign: it may not sign certificates")
    except x509.ExtensionNotFound:
        pass
    if root_cert.not_valid_after_utc <= now:
        raise OfflineRootError(f"--root-cert expired on {root_cert.not_valid_after_utc:%Y-%m-%d} UTC")
    if root_cert.not_valid_before_utc > now:
        raise OfflineRootError(f"--root-cert is not valid before {root_cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
