"""`istio-vault-ca sign-intermediate`: sign an intermediate CSR with an offline root and say what was signed.

Refusals are `OfflineRootError` (exit 2, printed by the CLI's `main`); nothing here prints key material.
"""

from __future__ import annotations

import argparse

from ...generator.errors import EXIT_OK


def sign_intermediate(args: argparse.Namespace) -> int:
    """Exit 0 with the certificate written (0600); a refusal raises and exits 2 with the reason."""
    from cryptography import x509

    from ...generator.pki.offline_root import sign_files

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
