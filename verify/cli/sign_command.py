"""`istio-vault-ca sign-intermediate`: sign an intermediate CSR with an offline root and say what was signed.

Refusals are `OfflineRootError` (exit 2, printed by the CLI's `main`); nothing here prints key material.
"""

from __future__ import annotations

import argparse
import getpass
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ...generator.config.durations import parse_duration
from ...generator.errors import EXIT_OK, OfflineRootError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

    from ...generator.pki.offline_root import Signed

PASSPHRASE_ENV = "ISTIO_VAULT_CA_ROOT_KEY_PASSPHRASE"


def sign_intermediate(args: argparse.Namespace) -> int:
    """Exit 0 with the certificate written (0600); a refusal raises and exits 2 with the reason."""
    from cryptography import x509

    signed = sign_files(args)
    cert = signed.certificate
    path_length = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
    print(
        f"signed {cert.subject.rfc4514_string()} with {cert.issuer.rfc4514_string()}: serial "
        f"{cert.serial_number:x}, valid until {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, "
        f"max path length {'unlimited' if path_length is None else path_length}"
    )
    if signed.clamped:
        print("note: --ttl reached beyond the root, so the certificate ends when the root does (--clamp-to-root)")
    print(f"wrote {args.out} (0600); import it with the cluster's vault/07-intermediate-import.sh")
    return EXIT_OK


def sign_files(args: argparse.Namespace) -> Signed:
    """Read the files `sign-intermediate` names, sign, and write the certificate 0600; refusals raise."""
    from cryptography import x509

    from ...generator.pki.offline_root import sign_intermediate as sign

    try:
        ttl_seconds = parse_duration(args.ttl)
    except ValueError as error:
        raise OfflineRootError(f"--ttl {error}") from None
    if not -1 <= args.max_path_length <= 8:
        raise OfflineRootError("--max-path-length must be -1 (unlimited) to 8; istiod's intermediate uses 0")
    root_pem = _read("--root-cert", args.root_cert)
    try:
        root_cert = x509.load_pem_x509_certificate(root_pem)
    except ValueError:
        raise OfflineRootError(f"--root-cert {args.root_cert} is not a PEM certificate") from None
    root_key = _load_root_key(args.root_key)
    csr_pem = _read("--csr", args.csr)
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError:
        raise OfflineRootError(f"--csr {args.csr} is not a PEM certificate signing request") from None
    signed = sign(
        root_cert,
        root_key,
        csr,
        ttl_seconds=ttl_seconds,
        max_path_length=args.max_path_length,
        clamp_to_root=getattr(args, "clamp_to_root", False),
    )
    _write_private(Path(args.out), _pem(signed.certificate))
    return signed


def _pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _read(flag: str, name: str) -> bytes:
    try:
        return Path(name).read_bytes()
    except FileNotFoundError:
        raise OfflineRootError(f"{flag} {name}: file not found") from None
    except IsADirectoryError:
        raise OfflineRootError(f"{flag} {name} is a directory, not a file") from None
    except OSError as error:
        raise OfflineRootError(f"{flag} {name} cannot be read: {error.strerror or 'I/O error'}") from None


def _load_root_key(name: str) -> CertificateIssuerPrivateKeyTypes:
    """The root key from its file; an encrypted one takes its passphrase from the environment or a prompt.
    Messages name the file, never its content."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    data = _read("--root-key", name)
    try:
        mode = stat.S_IMODE(os.stat(name).st_mode)
        if mode & 0o077:
            print(f"warning: --root-key {name} is readable by others (mode {mode:04o}); chmod 600 it", file=sys.stderr)
    except OSError:
        pass
    # Every failure below is re-raised with a fixed message: nothing from the file reaches the terminal.
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # encrypted
        password = _passphrase(name)
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except Exception:
            raise OfflineRootError(f"--root-key {name}: wrong passphrase, or not a PEM private key") from None
    except ValueError:
        raise OfflineRootError(f"--root-key {name} is not a PEM private key") from None
    except Exception:
        raise OfflineRootError(f"--root-key {name} is not a private key this tool can use") from None
    # Only the key types this tool signs with are accepted; DSA is refused by not being listed (naming
    # dsa.DSAPrivateKey would print cryptography's DSA deprecation warning on the operator's terminal).
    if not isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
    ):
        raise OfflineRootError(f"--root-key {name} is not an RSA, EC or EdDSA key")
    return key


def _passphrase(name: str) -> bytes:
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env.encode()
    if sys.stdin.isatty():
        return getpass.getpass(f"passphrase for {name}: ").encode()
    raise OfflineRootError(
        f"--root-key {name} is encrypted: set {PASSPHRASE_ENV} or run from a terminal to be asked for it"
    )


def _write_private(target: Path, content: bytes) -> None:
    """Written to a 0600 temp file beside the target, then renamed: never world-readable, never half-written."""
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise OfflineRootError(f"-o {target}: directory {directory} does not exist")
    try:
        descriptor, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as error:
        raise OfflineRootError(f"-o {target} cannot be written: {error.strerror or 'I/O error'}") from None
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except OSError as error:
        Path(temp_name).unlink(missing_ok=True)
        raise OfflineRootError(f"-o {target} cannot be written: {error.strerror or 'I/O error'}") from None
