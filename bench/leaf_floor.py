"""`python bench/leaf_floor.py DIR`: the least any `verify chain DIR` that signs its test leaf can do, for the bench's
floor row: start Python, import `cryptography.x509`, read ca-key.pem and ca-cert.pem, and sign a workload-shaped
leaf (EC P-256 key, SPIFFE URI SAN) with the CA key. No checks, no report. The key loader is taken from where the
chain checks take it (verify/checks/pkix.py), so both pay the same imports for it; like `verify chain` it ends
without the interpreter's teardown (verify/cli/parser.py `main`), so that what `verify chain` spends above this
floor is its own work."""

from __future__ import annotations

import datetime as dt
import os
import sys

from cryptography import x509
from cryptography.hazmat.bindings._rust import openssl as rust_openssl
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec


def main(directory: str) -> x509.Certificate:
    with open(os.path.join(directory, "ca-cert.pem"), "rb") as file:
        ca = x509.load_pem_x509_certificate(file.read())
    with open(os.path.join(directory, "ca-key.pem"), "rb") as file:
        key = rust_openssl.keys.load_pem_private_key(file.read(), None, unsafe_skip_rsa_key_validation=True)
    now = dt.datetime.now(dt.timezone.utc)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier("spiffe://cluster.local/ns/default/sa/default")]
            ),
            critical=True,
        )
    )
    return builder.sign(key, hashes.SHA256())  # type: ignore[arg-type]


if __name__ == "__main__":
    main(sys.argv[1])
    os._exit(0)  # an error above exits 1 with its traceback, as usual
