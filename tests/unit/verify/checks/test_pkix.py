"""pkix takes `load_pem_private_key`, `Encoding` and `PublicFormat` from where cryptography defines them, not from
`cryptography.hazmat.primitives.serialization` (slow to import): they must be that package's very objects."""

from __future__ import annotations

import subprocess
import sys

from cryptography.hazmat.primitives import serialization

from istio_vault_ca.verify.checks import pkix


def test_the_objects_are_the_ones_cryptography_exports() -> None:
    assert pkix.load_pem_private_key is serialization.load_pem_private_key
    assert pkix.Encoding is serialization.Encoding
    assert pkix.PublicFormat is serialization.PublicFormat


def test_the_chain_checks_import_neither_that_package_nor_dataclasses_nor_pathlib() -> None:
    code = (
        "import sys\n"
        "import istio_vault_ca.verify.checks.chain, istio_vault_ca.verify.cli.verify_commands\n"
        "import istio_vault_ca.verify.checks.reporters.text\n"
        "heavy = ('cryptography.hazmat.primitives.serialization', 'dataclasses', 'pathlib')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
