"""The one Python warning a dependency raises on input we only judge: cryptography's DSA deprecation.

cryptography, which deprecated DSA, warns `CryptographyDeprecationWarning: DSA is deprecated ...` each time it
builds a DSA key object: loading a DSA private key, `public_key()` of a certificate or CSR holding a DSA key, and
naming the `dsa` key classes. This tool never makes or uses a DSA key; a DSA key only reaches it as input it refuses or
describes (a CA file in `verify chain`, an offline root or CSR in `sign-intermediate`), and it says so in its own
finding. The warning is about cryptography's support plans, not about the operator's files, so the command line
and the pytest-testinfra suite ignore exactly that warning (matched by its message; `UserWarning` is the class
cryptography's warning derives from) and nothing else: every other warning still reaches the terminal, and
tests/acceptance/test_no_warnings.py runs each command under `-W error` on a DSA input too.
"""

from __future__ import annotations

DSA_DEPRECATION = "DSA is deprecated"


def ignore_dsa_deprecation() -> None:
    """Ignore cryptography's DSA deprecation warning in this process (idempotent; placed before `-W` options)."""
    import warnings

    warnings.filterwarnings("ignore", message=DSA_DEPRECATION, category=UserWarning)
