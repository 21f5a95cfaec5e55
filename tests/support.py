"""Helpers shared by tests: render a config, make throw-away certificates, compare directory trees."""

from __future__ import annotations

import datetime
import difflib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
GOLDEN = REPO / "tests" / "golden"


def render_into(config_path: Path | None, out: Path) -> Path:
    from istio_vault_ca.generator.config.loader import load
    from istio_vault_ca.generator.render.tree import render_tree
    from istio_vault_ca.generator.render.writer import write_tree

    loaded = load(str(config_path) if config_path else None)
    write_tree(render_tree(loaded.config), out)
    return out


def make_self_signed_ca_pem(common_name: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def assert_directories_match(expected: Path, actual: Path, refresh: str) -> None:
    """Fail with a unified diff per differing file and the command that refreshes the golden tree."""

    def files(root: Path) -> dict[str, Path]:
        return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}

    want, got = files(expected), files(actual)
    report: list[str] = []
    for name in sorted(want.keys() - got.keys()):
        report.append(f"missing from the render: {name}")
    for name in sorted(got.keys() - want.keys()):
        report.append(f"not in the golden tree: {name}")
    for name in sorted(want.keys() & got.keys()):
        a, b = want[name].read_text(encoding="utf-8"), got[name].read_text(encoding="utf-8")
        if a != b:
            report.extend(
                difflib.unified_diff(a.splitlines(), b.splitlines(), f"golden/{name}", f"rendered/{name}", lineterm="")
            )
        elif bool(want[name].stat().st_mode & 0o111) != bool(got[name].stat().st_mode & 0o111):
            report.append(f"executable bit differs: {name}")
    if report:
        raise AssertionError("\n".join([*report, f"If the change is intended, refresh with: {refresh}"]))
