"""`istio-vault-ca sign-intermediate`: an offline root signs a CSR with cryptography, refusing what istiod could
not use or what would be unsafe, and never showing key material."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from istio_vault_ca.generator.pki.offline_root import root_certificate_path
from tests.support import CLI

SIGN = [*CLI, "sign-intermediate"]
NOW = dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class Files:
    root_cert: Path
    root_key: Path
    csr: Path
    out: Path
    root: x509.Certificate
    key_pem: bytes


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def make_root(
    directory: Path, *, days: int = 3650, path_length: int | None = None, ca: bool = True, password: bytes | None = None
) -> tuple[Path, Path, x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test offline root")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "root-ca.pem", directory / "root-ca.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(_pem_key(key, password))
    key_path.chmod(0o600)
    return cert_path, key_path, cert, key


def make_csr(path: Path, common_name: str = "mesh intermediate east") -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))


@pytest.fixture
def files(tmp_path: Path) -> Files:
    cert_path, key_path, cert, _ = make_root(tmp_path)
    csr = tmp_path / "east.csr"
    make_csr(csr)
    return Files(cert_path, key_path, csr, tmp_path / "east.pem", cert, key_path.read_bytes())


def sign(
    files: Files, *extra: str, ttl: str = "8760h", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    args = ["--root-cert", str(files.root_cert), "--root-key", str(files.root_key), "--csr", str(files.csr)]
    return subprocess.run(
        [*SIGN, *args, "--ttl", ttl, "-o", str(files.out), *extra],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def assert_no_key_material(result: subprocess.CompletedProcess[str], key_pem: bytes) -> None:
    body = "".join(line for line in key_pem.decode().splitlines() if "-----" not in line)
    shown = result.stdout + result.stderr
    assert "PRIVATE KEY" not in shown
    assert body[:40] not in shown and body[-40:] not in shown
    assert "Traceback" not in shown


def test_signs_an_intermediate_istiod_can_use(files: Files) -> None:
    result = sign(files)
    assert result.returncode == 0, result.stderr
    assert_no_key_material(result, files.key_pem)
    assert stat.S_IMODE(os.stat(files.out).st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(files.out.read_bytes())
    csr = x509.load_pem_x509_csr(files.csr.read_bytes())
    assert cert.subject == csr.subject
    assert cert.issuer == files.root.subject
    cert.verify_directly_issued_by(files.root)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(csr.public_key())
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = files.root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE)
    lifetime = cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=364) < lifetime <= dt.timedelta(days=365)
    assert cert.not_valid_before_utc <= dt.datetime.now(dt.timezone.utc)


def test_path_length_is_configurable(files: Files) -> None:
    assert sign(files, "--max-path-length", "1").returncode == 0
    cert = x509.load_pem_x509_certificate(files.out.read_bytes())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1


def test_refuses_a_root_key_that_is_not_the_root_certificates(files: Files, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    _, wrong_key, _, _ = make_root(other)
    result = sign(Files(files.root_cert, wrong_key, files.csr, files.out, files.root, wrong_key.read_bytes()))
    assert result.returncode == 2
    assert "--root-key is not the key of --root-cert" in result.stderr
    assert not files.out.exists()
    assert_no_key_material(result, wrong_key.read_bytes())


def test_refuses_to_outlive_the_root_unless_clamped(tmp_path: Path) -> None:
    cert_path, key_path, root, _ = make_root(tmp_path, days=30)
    csr = tmp_path / "east.csr"
    make_csr(csr)
    files = Files(cert_path, key_path, csr, tmp_path / "east.pem", root, key_path.read_bytes())
    refused = sign(files, ttl="8760h")
    assert refused.returncode == 2
    assert "cannot outlive its root" in refused.stderr and "--clamp-to-root" in refused.stderr
    assert not files.out.exists()
    clamped = sign(files, "--clamp-to-root", ttl="8760h")
    assert clamped.returncode == 0, clamped.stderr
    cert = x509.load_pem_x509_certificate(files.out.read_bytes())
    assert cert.not_valid_after_utc == root.not_valid_after_utc


def test_refuses_a_root_that_may_not_sign_cas(tmp_path: Path) -> None:
    csr = tmp_path / "east.csr"
    make_csr(csr)
    for name, kwargs, message in [
        ("pathlen0", {"path_length": 0}, "pathLen 0"),
        ("not-ca", {"ca": False}, "not a CA"),
    ]:
        directory = tmp_path / name
        directory.mkdir()
        cert_path, key_path, root, _ = make_root(directory, **kwargs)  # type: ignore[arg-type]
        result = sign(Files(cert_path, key_path, csr, directory / "out.pem", root, b""))
        assert result.returncode == 2, name
        assert message in result.stderr, result.stderr


def test_refuses_a_csr_whose_signature_does_not_verify(files: Files) -> None:
    csr = x509.load_pem_x509_csr(files.csr.read_bytes())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF  # inside the signature
    tampered = x509.load_der_x509_csr(bytes(der))
    files.csr.write_bytes(tampered.public_bytes(serialization.Encoding.PEM))
    result = sign(files)
    assert result.returncode == 2
    assert "signature does not verify" in result.stderr


@pytest.mark.parametrize(
    ("target", "content", "message"),
    [
        ("csr", None, "--csr {path}: file not found"),
        ("csr", b"not a pem", "is not a PEM certificate signing request"),
        ("root_cert", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "is not a PEM certificate"),
        ("root_key", b"garbage", "is not a PEM private key"),
        ("root_key", None, "--root-key {path}: file not found"),
    ],
    ids=["csr-missing", "csr-not-pem", "root-cert-not-pem", "root-key-not-pem", "root-key-missing"],
)
def test_bad_input_exits_2_with_a_clear_message(files: Files, target: str, content: bytes | None, message: str) -> None:
    path: Path = getattr(files, target)
    if content is None:
        path.unlink()
    else:
        path.write_bytes(content)
    result = sign(files)
    assert result.returncode == 2
    assert message.format(path=path) in result.stderr
    assert "Traceback" not in result.stderr
    assert not files.out.exists()


def test_the_root_key_file_given_as_certificate_is_not_echoed(files: Files) -> None:
    result = sign(Files(files.root_key, files.root_key, files.csr, files.out, files.root, files.key_pem))
    assert result.returncode == 2
    assert_no_key_material(result, files.key_pem)


def test_encrypted_root_key_takes_its_passphrase_from_the_environment(tmp_path: Path) -> None:
    cert_path, key_path, root, _ = make_root(tmp_path, password=b"correct horse")
    csr = tmp_path / "east.csr"
    make_csr(csr)
    files = Files(cert_path, key_path, csr, tmp_path / "east.pem", root, key_path.read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "ISTIO_VAULT_CA_ROOT_KEY_PASSPHRASE"}
    missing = subprocess.run(
        [
            *SIGN,
            "--root-cert",
            str(cert_path),
            "--root-key",
            str(key_path),
            "--csr",
            str(csr),
            "--ttl",
            "24h",
            "-o",
            str(files.out),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert missing.returncode == 2 and "ISTIO_VAULT_CA_ROOT_KEY_PASSPHRASE" in missing.stderr
    wrong = sign(files, env={**env, "ISTIO_VAULT_CA_ROOT_KEY_PASSPHRASE": "nope"})
    assert wrong.returncode == 2 and "wrong passphrase" in wrong.stderr
    right = sign(files, env={**env, "ISTIO_VAULT_CA_ROOT_KEY_PASSPHRASE": "correct horse"})
    assert right.returncode == 0, right.stderr


def test_warns_about_a_readable_root_key(files: Files) -> None:
    files.root_key.chmod(0o644)
    result = sign(files)
    assert result.returncode == 0
    assert "readable by others" in result.stderr


def test_root_certificate_file_is_relative_to_the_config(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "istio-vault-ca.yaml"
    config.parent.mkdir()
    config.write_text("root: {mode: external, certificate_file: offline/root.pem}\n")
    assert root_certificate_path("offline/root.pem", config) == tmp_path / "conf" / "offline" / "root.pem"
    assert root_certificate_path("/etc/root.pem", config) == Path("/etc/root.pem")
    assert root_certificate_path("offline/root.pem", "built-in default") == Path("offline/root.pem")
    assert root_certificate_path(None, config) is None
