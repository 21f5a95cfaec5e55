"""Root rotation with an offline root (root.mode external): the roots come from the trust bundle's KV entry.

Phase (a) records both roots' certificates (never a key) beside the bundle: `old_root` (root.certificate_file's
certificate when the rotation began) and `new_root` (the file given with `--new-root-file`). Every later run reads
them back from there, so the rotation resumes without the root mount a Vault-kept root has, and a different new
root file is refused with the reason. The phase state machine is verify/rotation/root.py's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ...generator.errors import UsageError

if TYPE_CHECKING:
    from ...generator.config.model import Config

OLD_ROOT_FIELD = "old_root"
NEW_ROOT_FIELD = "new_root"


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def root_id(cert: x509.Certificate) -> str:
    """How the scripts and the report name an offline root: from its certificate's SHA-256."""
    return f"offline-{fingerprint(cert)[:16]}"


def _load(text: str) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(text.encode())
    except ValueError:
        return None


def offline_roots(
    stored: dict[str, str], configured_root: x509.Certificate | None
) -> tuple[str, x509.Certificate, str | None, x509.Certificate | None]:
    """(old id, old root, new id, new root): as phase (a) recorded them, else the old root is the configured one."""
    old = _load(stored.get(OLD_ROOT_FIELD, "")) or configured_root
    if old is None:
        raise UsageError(
            "root.mode external: root.certificate_file cannot be read and no root rotation is recorded in KV; "
            "run plan-rotation --root where the offline root's certificate (never its key) is readable"
        )
    new = _load(stored.get(NEW_ROOT_FIELD, ""))
    return root_id(old), old, root_id(new) if new else None, new


def read_certificate(path: Path, what: str) -> x509.Certificate:
    """A root certificate file; a clear error (exit 2) when it is not one."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UsageError(f"{what} {path} cannot be read: {error.strerror or error}") from None
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise UsageError(f"{what} {path} is not a PEM certificate") from None
    try:
        if not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise UsageError(f"{what} {path} is not a CA certificate (basicConstraints CA:false)")
    except x509.ExtensionNotFound:
        raise UsageError(f"{what} {path} has no basicConstraints extension, so it is not a CA") from None
    if cert.issuer != cert.subject:
        raise UsageError(f"{what} {path} is not a root (its issuer is not its subject)")
    return cert


def configured_root(config: Config, source: str) -> x509.Certificate | None:
    """root.certificate_file's certificate, None when it cannot be read (the KV record may still hold the roots)."""
    from ...generator.pki.offline_root import root_certificate_path

    path = root_certificate_path(config.root.certificate_file, source)
    if path is None:
        return None
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(Encoding.PEM).decode()
