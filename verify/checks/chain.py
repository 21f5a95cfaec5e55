"""Checks of the four CA files istiod loads, as one chain: pure functions over bytes, each with a stable id.

The bytes are parsed once into a `Bundle`; every check reads the bundle and returns one `CheckResult`.
Private key bytes never reach a finding: key problems are described in fixed words, never by echoing input.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, PrivateKeyTypes
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from istio_vault_ca.generator.config.cafiles import CA_CERT, CA_FILES, CA_KEY, CERT_CHAIN, ROOT_CERT
from istio_vault_ca.verify.checks.result import CheckResult, errored, failed, passed, redact, skipped, warned

SPIFFE_ID = "spiffe://cluster.local/ns/default/sa/default"
NO_VALUE = b"<no value>"
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256
MAX_PATH = 10
WEAK_HASHES = ("sha1", "md5")


@dataclass(frozen=True)
class Bundle:
    """The four values, parsed once. `None` means the value is missing or did not parse."""

    target: str
    labels: Mapping[str, str]
    now: dt.datetime
    warn_days: int
    ca_cert: x509.Certificate | None = None
    key: PrivateKeyTypes | None = None
    chain: tuple[x509.Certificate, ...] | None = None
    roots: tuple[x509.Certificate, ...] | None = None
    path: tuple[x509.Certificate, ...] = field(default=())

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    @property
    def root(self) -> x509.Certificate | None:
        """The root the path ends at, else the first certificate of root-cert.pem."""
        if self.path and _self_signed(self.path[-1]) and self.roots and self.path[-1] in self.roots:
            return self.path[-1]
        return self.roots[0] if self.roots else None

    def name_of(self, cert: x509.Certificate) -> str:
        """Which file (and position) a certificate came from, for findings."""
        if self.ca_cert is not None and cert == self.ca_cert:
            return self.label(CA_CERT)
        if self.roots and cert in self.roots:
            return (
                self.label(ROOT_CERT) if len(self.roots) == 1 else f"{self.label(ROOT_CERT)}[{self.roots.index(cert)}]"
            )
        if self.chain and cert in self.chain:
            return f"{self.label(CERT_CHAIN)}[{self.chain.index(cert)}]"
        return _cn(cert)


Check = Callable[[Bundle], CheckResult]
ExtensionT = TypeVar("ExtensionT", bound=x509.ExtensionType)


# ---------------------------------------------------------------- loading


def read_dir(directory: Path) -> tuple[dict[str, bytes | None], int | None]:
    """The four files' bytes (None when absent) and the key file's permission bits. A file that is not a regular
    file or is larger than files.MAX_CA_FILE_BYTES is not read: None here, and the values are a files.DirValues
    whose `refused` maps its name to the reason."""
    from istio_vault_ca.verify.clients.files import read_ca_dir

    values = read_ca_dir(directory, CA_FILES)
    try:
        key_mode: int | None = stat.S_IMODE(os.stat(directory / CA_KEY).st_mode)
    except OSError:
        key_mode = None
    return values, key_mode


def check_dir(directory: Path, *, warn_days: int = 30, now: dt.datetime | None = None) -> list[CheckResult]:
    """Every chain check for one directory; the directory is the target of every result."""
    target = os.fspath(directory)
    if not directory.is_dir():
        return [
            failed(
                "chain.file-present",
                target,
                f"{target} is not a directory",
                "pass the directory that holds ca-cert.pem, ca-key.pem, cert-chain.pem and root-cert.pem",
            )
        ]
    values, key_mode = read_dir(directory)
    return check_values(values, target=target, key_mode=key_mode, warn_days=warn_days, now=now)


def check_values(
    values: Mapping[str, bytes | None],
    *,
    target: str,
    labels: Mapping[str, str] | None = None,
    key_mode: int | None = None,
    warn_days: int = 30,
    now: dt.datetime | None = None,
) -> list[CheckResult]:
    """Every chain check over the four values (from files or from Vault)."""
    labels = dict(labels or {})
    results = [files_present(values, target, labels)]
    bundle, pem_result = parse(values, target=target, labels=labels, warn_days=warn_days, now=now)
    results.append(pem_result)
    results.extend(_guarded(check, bundle) for check in BUNDLE_CHECKS)
    if key_mode is not None:
        results.append(key_file_mode(key_mode, target, labels.get(CA_KEY, CA_KEY)))
    return results


def _guarded(check: Check, bundle: Bundle) -> CheckResult:
    """A check that trips on input nobody foresaw reports an error, never a traceback (nor key bytes)."""
    try:
        return check(bundle)
    except Exception as error:
        check_id = CHECK_IDS.get(check, "chain.unknown")
        return errored(
            check_id,
            bundle.target,
            redact(f"{type(error).__name__}: {error}"),
            "report this as a bug with the certificate files (never the key)",
        )


def files_present(values: Mapping[str, bytes | None], target: str, labels: Mapping[str, str]) -> CheckResult:
    """All four files exist and are non-empty: istiod silently self-signs when any is missing."""
    problems = []
    for name in CA_FILES:
        data = values.get(name)
        if data is None:
            problems.append(f"{labels.get(name, name)} is missing")
        elif not data.strip():
            problems.append(f"{labels.get(name, name)} is empty")
    if problems:
        return failed(
            "chain.file-present",
            target,
            "; ".join(problems),
            "the agent did not render every file: check the injector annotations and the agent's logs",
        )
    return passed("chain.file-present", target, "all four files are present and non-empty")


def parse(
    values: Mapping[str, bytes | None],
    *,
    target: str,
    labels: Mapping[str, str],
    warn_days: int,
    now: dt.datetime | None,
) -> tuple[Bundle, CheckResult]:
    """Parse each value once; the `chain.pem` result names every value that is not the PEM it should be."""
    problems: list[str] = []
    notes: list[str] = []
    certs: dict[str, tuple[x509.Certificate, ...]] = {}
    for name in (CA_CERT, CERT_CHAIN, ROOT_CERT):
        data = values.get(name)
        if data is None or not data.strip():
            continue
        loaded, problem = _load_certificates(data)
        if problem:
            problems.append(f"{labels.get(name, name)} {problem}")
        else:
            certs[name] = loaded
            notes.append(f"{labels.get(name, name)} ({len(loaded)} cert{'s' if len(loaded) > 1 else ''})")
    key = None
    key_data = values.get(CA_KEY)
    if key_data is not None and key_data.strip():
        key, problem = _load_key(key_data)
        if problem:
            problems.append(f"{labels.get(CA_KEY, CA_KEY)} {problem}")
        else:
            notes.append(f"{labels.get(CA_KEY, CA_KEY)} ({describe_key(key)})")
    ca_cert = certs[CA_CERT][0] if CA_CERT in certs else None
    if CA_CERT in certs and len(certs[CA_CERT]) > 1:
        notes.append(f"istiod uses only the first certificate of {labels.get(CA_CERT, CA_CERT)}")
    bundle = Bundle(
        target=target,
        labels=labels,
        now=now or dt.datetime.now(dt.timezone.utc),
        warn_days=warn_days,
        ca_cert=ca_cert,
        key=key,
        chain=certs.get(CERT_CHAIN),
        roots=certs.get(ROOT_CERT),
    )
    bundle = replace(bundle, path=issuer_path(bundle))
    if problems:
        return bundle, failed(
            "chain.pem",
            target,
            "; ".join(problems),
            "the files must be PEM as the agent templates print them; re-render the agent templates",
        )
    if not notes:
        return bundle, skipped("chain.pem", target, "no file to parse")
    return bundle, passed("chain.pem", target, "PEM: " + ", ".join(notes))


def _load_certificates(data: bytes) -> tuple[tuple[x509.Certificate, ...], str]:
    """Certificates in PEM, or a short description of what the bytes are instead."""
    problem = _pem_problem(data, b"CERTIFICATE")
    if problem:
        return (), problem
    try:
        return tuple(x509.load_pem_x509_certificates(data)), ""
    except ValueError as error:
        return (), f"does not parse as PEM certificates ({redact(str(error)).split('. See')[0]})"


def _load_key(data: bytes) -> tuple[PrivateKeyTypes | None, str]:
    """The private key, or a fixed description: nothing derived from the key bytes is ever returned."""
    problem = _pem_problem(data, b"PRIVATE KEY")
    if problem:
        return None, problem
    try:
        # RSA consistency checks cost ~60 ms (seconds for 4096 bits); chain.spiffe-leaf signs with the key
        # and verifies against the certificate, which catches a corrupted key anyway.
        return serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=True), ""
    except TypeError:
        return None, "is an encrypted private key; istiod needs it unencrypted"
    except (ValueError, UnsupportedAlgorithm):
        return None, "has a PRIVATE KEY block that does not parse (truncated or corrupted)"


def _pem_problem(data: bytes, kind: bytes) -> str:
    """Why `data` is not a PEM block of `kind` ('' when it looks right); never quotes the data."""
    if NO_VALUE in data:
        return (
            "holds the literal '<no value>': the agent template printed a field the secret does not have "
            "(KV version 1 vs 2, or a wrong field name)"
        )
    if b"-----BEGIN" not in data:
        if data[:1] == b"\x30":
            return "is DER (binary), not PEM; convert it with `openssl x509 -inform der` or re-export as PEM"
        return "is not PEM (no -----BEGIN line)"
    blocks = re.findall(rb"-----BEGIN ([A-Z0-9 ]+)-----", data)
    if not any(block.endswith(kind) for block in blocks):
        found = ", ".join(sorted({block.decode("ascii") for block in blocks}))
        wanted = kind.decode("ascii")
        return f"holds {found} where a {wanted} belongs"
    if data.count(b"-----BEGIN") != data.count(b"-----END"):
        return "is truncated: a -----BEGIN line has no matching -----END line"
    return ""


# ---------------------------------------------------------------- helpers


def _cn(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when `issuer` really signed `cert` (names and signature)."""
    if cert.issuer != issuer.subject:
        return False
    return _signature_valid(cert, issuer)


# The checks ask about the same pairs several times per bundle, and a fleet shares its root: verify each pair once.
@functools.lru_cache(maxsize=1024)
def _signature_valid(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _self_signed(cert: x509.Certificate) -> bool:
    return issued_by(cert, cert)


def issuer_path(bundle: Bundle) -> tuple[x509.Certificate, ...]:
    """ca-cert.pem, then each issuer found among the chain and root certificates, as far up as it goes."""
    if bundle.ca_cert is None:
        return ()
    pool = [*(bundle.chain or ()), *(bundle.roots or ())]
    path = [bundle.ca_cert]
    while len(path) < MAX_PATH and not _self_signed(path[-1]):
        issuer = next((c for c in pool if c not in path and issued_by(path[-1], c)), None)
        if issuer is None:
            break
        path.append(issuer)
    return tuple(path)


_NIST_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521", "secp192r1": "P-192"}


def describe_key(key: PrivateKeyTypes | object) -> str:
    """'RSA-4096', 'EC P-256'...: type and size only, never key material."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"EC {_NIST_NAMES.get(key.curve.name, key.curve.name)}"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPrivateKey | dsa.DSAPublicKey):
        return f"DSA-{key.key_size}"
    return type(key).__name__


def _weakness(key: object) -> str:
    """Why a key is too weak, '' when it is fine."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"RSA-{key.key_size} is below {MIN_RSA_BITS} bits"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS:
        return f"EC {_NIST_NAMES.get(key.curve.name, key.curve.name)} is below P-256"
    if isinstance(key, dsa.DSAPrivateKey | dsa.DSAPublicKey):
        return "DSA is not accepted by Istio"
    return ""


def _needs(check_id: str, bundle: Bundle, **values: object) -> CheckResult | None:
    """A skip result naming the inputs that did not load, or None when all are there."""
    missing = [bundle.label(_FIELD_FILES[name]) for name, value in values.items() if value is None]
    if missing:
        return skipped(check_id, bundle.target, f"needs {', '.join(missing)}, which did not load")
    return None


_FIELD_FILES = {"ca_cert": CA_CERT, "key": CA_KEY, "chain": CERT_CHAIN, "roots": ROOT_CERT}


def _certificates(bundle: Bundle) -> list[x509.Certificate]:
    """Every distinct certificate of the bundle, ca-cert.pem first."""
    seen: list[x509.Certificate] = []
    for cert in [
        *([bundle.ca_cert] if bundle.ca_cert else []),
        *(bundle.chain or ()),
        *(bundle.roots or ()),
    ]:
        if cert not in seen:
            seen.append(cert)
    return seen


def _date(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d")


# ---------------------------------------------------------------- checks


def key_matches_cert(bundle: Bundle) -> CheckResult:
    """istiod signs with ca-key.pem and presents ca-cert.pem: a mismatch breaks every workload certificate."""
    check_id = "chain.key-matches-cert"
    if skip := _needs(check_id, bundle, key=bundle.key, ca_cert=bundle.ca_cert):
        return skip
    assert bundle.key is not None and bundle.ca_cert is not None
    cert_key = bundle.ca_cert.public_key()
    key_name, cert_name = bundle.label(CA_KEY), bundle.label(CA_CERT)
    if _spki(bundle.key.public_key()) == _spki(cert_key):
        return passed(check_id, bundle.target, f"{key_name} ({describe_key(bundle.key)}) matches {cert_name}")
    key_kind, cert_kind = describe_key(bundle.key), describe_key(cert_key)
    if _family(key_kind) != _family(cert_kind):
        finding = f"{key_name} is an {key_kind} key but {cert_name} holds an {cert_kind} key"
    else:
        finding = f"{key_name} does not match the public key in {cert_name} (a key of another certificate?)"
    return failed(check_id, bundle.target, finding, "store the intermediate's own key with its certificate")


def _family(description: str) -> str:
    """'RSA-2048' -> 'RSA', 'EC P-256' -> 'EC'."""
    return re.split(r"[- ]", description, maxsplit=1)[0]


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def ca_cert_is_ca(bundle: Bundle) -> CheckResult:
    """A certificate without basicConstraints CA:true cannot issue workload certificates."""
    check_id = "chain.ca-cert-is-ca"
    if skip := _needs(check_id, bundle, ca_cert=bundle.ca_cert):
        return skip
    assert bundle.ca_cert is not None
    name = bundle.label(CA_CERT)
    constraints = _extension(bundle.ca_cert, x509.BasicConstraints)
    if constraints is None:
        return failed(check_id, bundle.target, f"{name} has no basicConstraints extension", _HINT_CA)
    if not constraints.ca:
        return failed(check_id, bundle.target, f"{name} has basicConstraints CA:false: it is not a CA", _HINT_CA)
    return passed(check_id, bundle.target, f"{name} is a CA (basicConstraints CA:true)")


_HINT_CA = "issue the intermediate as a CA: vault write <root>/root/sign-intermediate (not issue/<role>)"


def ca_key_usage(bundle: Bundle) -> CheckResult:
    """Go (and so istiod's workloads) reject certificates signed by a CA whose keyUsage lacks keyCertSign."""
    check_id = "chain.ca-key-usage"
    if skip := _needs(check_id, bundle, ca_cert=bundle.ca_cert):
        return skip
    assert bundle.ca_cert is not None
    name = bundle.label(CA_CERT)
    usage = _extension(bundle.ca_cert, x509.KeyUsage)
    if usage is None:
        return warned(check_id, bundle.target, f"{name} has no keyUsage extension", "a CA should assert keyCertSign")
    if not usage.key_cert_sign:
        return failed(
            check_id,
            bundle.target,
            f"{name} keyUsage lacks keyCertSign: it may not sign certificates",
            _HINT_CA,
        )
    return passed(check_id, bundle.target, f"{name} keyUsage includes keyCertSign")


def ca_eku(bundle: Bundle) -> CheckResult:
    """An extendedKeyUsage on a CA restricts every certificate below it; workloads need serverAuth."""
    check_id = "chain.ca-eku"
    if skip := _needs(check_id, bundle, ca_cert=bundle.ca_cert):
        return skip
    assert bundle.ca_cert is not None
    name = bundle.label(CA_CERT)
    eku = _extension(bundle.ca_cert, x509.ExtendedKeyUsage)
    if eku is None:
        return passed(check_id, bundle.target, f"{name} has no extendedKeyUsage (no restriction)")
    usages = set(eku)
    if usages & {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}:
        return passed(check_id, bundle.target, f"{name} extendedKeyUsage allows serverAuth")
    names = ", ".join(sorted(getattr(oid, "_name", oid.dotted_string) for oid in usages))
    return failed(
        check_id,
        bundle.target,
        f"{name} extendedKeyUsage ({names}) excludes serverAuth: workload certificates would be rejected",
        "re-issue the intermediate without extendedKeyUsage (or with serverAuth and clientAuth)",
    )


def _extension(cert: x509.Certificate, kind: type[ExtensionT]) -> ExtensionT | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def path_valid(bundle: Bundle) -> CheckResult:
    """RFC 5280 path validation, ca-cert.pem to root-cert.pem through cert-chain.pem (cryptography)."""
    check_id = "chain.path-valid"
    if skip := _needs(check_id, bundle, ca_cert=bundle.ca_cert, roots=bundle.roots):
        return skip
    assert bundle.ca_cert is not None and bundle.roots is not None
    ca_policy = verification.ExtensionPolicy.permit_all().require_present(
        x509.BasicConstraints, verification.Criticality.AGNOSTIC, _require_ca
    )
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(list(bundle.roots)))
        .time(bundle.now)
        .extension_policies(ca_policy=ca_policy, ee_policy=verification.ExtensionPolicy.permit_all())
        .build_client_verifier()
    )
    names = f"{bundle.label(CA_CERT)} to {bundle.label(ROOT_CERT)} through {bundle.label(CERT_CHAIN)}"
    try:
        verified = verifier.verify(bundle.ca_cert, list(bundle.chain or ()))
    except verification.VerificationError as error:
        return failed(
            check_id,
            bundle.target,
            f"no valid path from {names}: {_reason(error)}",
            "root-cert.pem must be the root that signed the intermediate (vault read <root mount>/cert/ca)",
        )
    return passed(check_id, bundle.target, f"valid path from {names} ({len(verified.chain)} certificates)")


def _require_ca(policy: object, cert: x509.Certificate, constraints: x509.BasicConstraints) -> None:
    del policy, cert
    if not constraints.ca:
        raise ValueError("an issuer is not a CA (basicConstraints CA:false)")


def _reason(error: Exception) -> str:
    """cryptography's message without its object dumps."""
    text = str(error).removeprefix("validation failed: ").removeprefix("candidates exhausted: ")
    text = re.sub(
        r" \(encountered processing <Certificate\(subject=<Name\((.*?)\)>, \.\.\.\)>\)",
        lambda match: f" (at {match.group(1) or 'the workload certificate'})",
        text,
    )
    return redact(text.split("AlgorithmIdentifier")[0].rstrip(": "))


def order(bundle: Bundle) -> CheckResult:
    """Istio reads cert-chain.pem issuer-first: ca-cert.pem, then each issuer, up to the root."""
    check_id = "chain.order"
    if skip := _needs(check_id, bundle, ca_cert=bundle.ca_cert, chain=bundle.chain, roots=bundle.roots):
        return skip
    assert bundle.ca_cert is not None and bundle.chain is not None and bundle.roots is not None
    chain_name = bundle.label(CERT_CHAIN)
    hint = "write cert-chain.pem as ca-cert.pem followed by each issuer up to the root (Vault: cert/ca_chain)"
    first = bundle.chain[0]
    if first != bundle.ca_cert:
        return failed(
            check_id,
            bundle.target,
            f"{chain_name} starts with {_cn(first)}, not {bundle.label(CA_CERT)} ({_cn(bundle.ca_cert)})",
            hint,
        )
    for index, (cert, issuer) in enumerate(zip(bundle.chain, bundle.chain[1:], strict=False)):
        if not issued_by(cert, issuer):
            return failed(
                check_id,
                bundle.target,
                f"{chain_name}[{index}] ({_cn(cert)}) is not issued by the next one, "
                f"{chain_name}[{index + 1}] ({_cn(issuer)})",
                hint,
            )
    last = bundle.chain[-1]
    if last in bundle.roots or any(issued_by(last, root) for root in bundle.roots):
        return passed(check_id, bundle.target, f"{chain_name} is in issuer-first order ({len(bundle.chain)} certs)")
    return failed(
        check_id,
        bundle.target,
        f"{chain_name} ends with {_cn(last)}, which is neither {bundle.label(ROOT_CERT)} nor issued by it",
        hint,
    )


def includes_root(bundle: Bundle) -> CheckResult:
    """cert-chain.pem must end with the root, as Vault's pem_bundle does, so peers can build the full path."""
    check_id = "chain.includes-root"
    if skip := _needs(check_id, bundle, chain=bundle.chain, roots=bundle.roots):
        return skip
    assert bundle.chain is not None and bundle.roots is not None
    chain_name, root_name = bundle.label(CERT_CHAIN), bundle.label(ROOT_CERT)
    if bundle.chain[-1] in bundle.roots:
        return passed(check_id, bundle.target, f"{chain_name} ends with {root_name}")
    return failed(
        check_id,
        bundle.target,
        f"{chain_name} does not end with {root_name} (it ends with {_cn(bundle.chain[-1])})",
        "sign the intermediate with format=pem_bundle so cert/ca_chain includes the root",
    )


def root_self_signed(bundle: Bundle) -> CheckResult:
    """root-cert.pem must hold a self-signed CA: the trust anchor istiod hands every workload."""
    check_id = "chain.root-self-signed"
    if skip := _needs(check_id, bundle, roots=bundle.roots):
        return skip
    assert bundle.roots is not None
    for root in bundle.roots:
        name = bundle.name_of(root)
        if not _self_signed(root):
            return failed(
                check_id,
                bundle.target,
                f"{name} ({_cn(root)}) is not self-signed: it is issued by {root.issuer.rfc4514_string()}",
                "root-cert.pem must hold the root CA certificate (vault read <root mount>/cert/ca)",
            )
        constraints = _extension(root, x509.BasicConstraints)
        if not isinstance(constraints, x509.BasicConstraints) or not constraints.ca:
            return failed(check_id, bundle.target, f"{name} is self-signed but not a CA", _HINT_CA)
    return passed(check_id, bundle.target, f"{bundle.label(ROOT_CERT)} is a self-signed CA")


def validity(bundle: Bundle) -> CheckResult:
    """Every certificate must be valid now: an expired or future intermediate breaks every workload."""
    check_id = "chain.validity"
    certs = _certificates(bundle)
    if not certs:
        return skipped(check_id, bundle.target, "no certificate loaded")
    problems = []
    for cert in certs:
        if bundle.now < cert.not_valid_before_utc:
            problems.append(f"{bundle.name_of(cert)} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M}")
        elif bundle.now > cert.not_valid_after_utc:
            problems.append(f"{bundle.name_of(cert)} expired on {_date(cert.not_valid_after_utc)}")
    if problems:
        return failed(
            check_id,
            bundle.target,
            "; ".join(problems),
            "re-issue the certificate (check the clocks of Vault and this machine)",
        )
    return passed(check_id, bundle.target, f"all {len(certs)} certificates are valid now")


def not_beyond_root(bundle: Bundle) -> CheckResult:
    """An intermediate that outlives its root stops verifying when the root expires; Vault only warns."""
    check_id = "chain.not-beyond-root"
    root = bundle.root
    if skip := _needs(check_id, bundle, ca_cert=bundle.ca_cert, roots=root):
        return skip
    assert bundle.ca_cert is not None and root is not None
    late = [c for c in (bundle.path[:-1] or (bundle.ca_cert,)) if c.not_valid_after_utc > root.not_valid_after_utc]
    if late:
        cert = late[0]
        return failed(
            check_id,
            bundle.target,
            f"{bundle.name_of(cert)} expires {_date(cert.not_valid_after_utc)}, after "
            f"{bundle.label(ROOT_CERT)} ({_date(root.not_valid_after_utc)})",
            "re-sign the intermediate with a ttl that ends before the root's (or rotate the root first)",
        )
    return passed(
        check_id,
        bundle.target,
        f"{bundle.label(CA_CERT)} ends {_date(bundle.ca_cert.not_valid_after_utc)}, within the root "
        f"({_date(root.not_valid_after_utc)})",
    )


def expiry(bundle: Bundle) -> CheckResult:
    """Days left before the first certificate expires, against --warn-days: time to rotate."""
    check_id = "chain.expiry"
    certs = _certificates(bundle)
    if not certs:
        return skipped(check_id, bundle.target, "no certificate loaded")
    soonest = min(certs, key=lambda c: c.not_valid_after_utc)
    days = (soonest.not_valid_after_utc - bundle.now).days
    finding = f"{bundle.name_of(soonest)} expires first, on {_date(soonest.not_valid_after_utc)} ({days} days)"
    if soonest.not_valid_after_utc < bundle.now:
        return warned(
            check_id,
            bundle.target,
            f"{bundle.name_of(soonest)} already expired on {_date(soonest.not_valid_after_utc)} (chain.validity)",
            "rotate now: istio-vault-ca plan-rotation",
        )
    if days < bundle.warn_days:
        return warned(
            check_id,
            bundle.target,
            f"{finding}, within --warn-days {bundle.warn_days}",
            "plan the rotation now: istio-vault-ca plan-rotation",
        )
    return passed(check_id, bundle.target, finding)


def key_strength(bundle: Bundle) -> CheckResult:
    """RSA below 2048 bits and EC below P-256 are refused by Go and by current policy."""
    check_id = "chain.key-strength"
    subjects: list[tuple[str, object]] = [(bundle.name_of(c), c.public_key()) for c in _certificates(bundle)]
    if bundle.key is not None:
        subjects.insert(0, (bundle.label(CA_KEY), bundle.key))
    if not subjects:
        return skipped(check_id, bundle.target, "no key or certificate loaded")
    weak = [f"{name}: {reason}" for name, key in subjects if (reason := _weakness(key))]
    if weak:
        return failed(
            check_id,
            bundle.target,
            "; ".join(weak),
            "re-issue with key_type rsa and key_bits 2048 or more, or key_type ec and key_bits 256 or more",
        )
    first = subjects[0]
    return passed(check_id, bundle.target, f"every key is strong enough ({first[0]}: {describe_key(first[1])})")


def signature_algorithm(bundle: Bundle) -> CheckResult:
    """SHA-1 and MD5 signatures are forgeable and rejected by Go; a root's self-signature is not relied on."""
    check_id = "chain.signature-algorithm"
    certs = [c for c in _certificates(bundle) if not _self_signed(c)]
    if not certs:
        return skipped(check_id, bundle.target, "no issued certificate loaded")
    weak = []
    for cert in certs:
        try:
            algorithm = cert.signature_hash_algorithm
        except UnsupportedAlgorithm:
            weak.append(f"{bundle.name_of(cert)} uses an unsupported signature algorithm")
            continue
        if algorithm is not None and algorithm.name in WEAK_HASHES:
            weak.append(f"{bundle.name_of(cert)} is signed with {algorithm.name.upper()}")
    if weak:
        return failed(check_id, bundle.target, "; ".join(weak), "re-sign with SHA-256 or stronger")
    names = sorted({(c.signature_hash_algorithm or hashes.SHA256()).name.upper() for c in certs})
    return passed(check_id, bundle.target, f"issued certificates are signed with {', '.join(names)}")


def path_length(bundle: Bundle) -> CheckResult:
    """Each pathLen above ca-cert.pem must allow the CAs below it, or every workload certificate fails."""
    check_id = "chain.path-length"
    if skip := _needs(check_id, bundle, ca_cert=bundle.ca_cert):
        return skip
    assert bundle.ca_cert is not None
    # path[i] has i CA certificates below it (ca-cert.pem is itself a CA under which workloads sit).
    for below, cert in enumerate(bundle.path):
        constraints = _extension(cert, x509.BasicConstraints)
        limit = constraints.path_length if isinstance(constraints, x509.BasicConstraints) else None
        if limit is not None and below > limit:
            return failed(
                check_id,
                bundle.target,
                f"{bundle.name_of(cert)} has pathLen {limit} but {below} CA certificate(s) sit below it "
                f"({bundle.label(CA_CERT)}): every workload certificate would be rejected",
                "re-issue that CA without the pathLen limit (or with a larger one)",
            )
    own = _extension(bundle.ca_cert, x509.BasicConstraints)
    own_limit = own.path_length if isinstance(own, x509.BasicConstraints) else None
    detail = "no limit" if own_limit is None else f"pathLen {own_limit}"
    return passed(check_id, bundle.target, f"path lengths allow the chain; {bundle.label(CA_CERT)} has {detail}")


def spiffe_leaf(bundle: Bundle) -> CheckResult:
    """Sign a throw-away workload certificate with the key and verify it through the chain, as peers will."""
    check_id = "chain.spiffe-leaf"
    if skip := _needs(check_id, bundle, ca_cert=bundle.ca_cert, key=bundle.key, roots=bundle.roots):
        return skip
    assert bundle.ca_cert is not None and bundle.roots is not None
    if not isinstance(bundle.key, _ISSUER_KEYS):
        return failed(check_id, bundle.target, f"{bundle.label(CA_KEY)} is a key type that cannot sign")
    leaf = make_leaf(bundle.ca_cert, bundle.key, bundle.now)
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(list(bundle.roots)))
        .time(bundle.now)
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, [bundle.ca_cert, *(bundle.chain or ())])
    except verification.VerificationError as error:
        return failed(
            check_id,
            bundle.target,
            f"a workload certificate signed with {bundle.label(CA_KEY)} does not verify to "
            f"{bundle.label(ROOT_CERT)}: {_reason(error)}",
            "fix the failing checks above; this is what every istiod-issued certificate would hit",
        )
    return passed(
        check_id,
        bundle.target,
        f"a leaf for {SPIFFE_ID} signed with {bundle.label(CA_KEY)} verifies to {bundle.label(ROOT_CERT)}",
    )


_ISSUER_KEYS = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)


def make_leaf(
    ca_cert: x509.Certificate, ca_key: CertificateIssuerPrivateKeyTypes, now: dt.datetime
) -> x509.Certificate:
    """A workload-shaped certificate (empty subject, SPIFFE URI SAN) on a fast EC P-256 key."""
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    ski = _extension(ca_cert, x509.SubjectKeyIdentifier)
    aki = (
        x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        if isinstance(ski, x509.SubjectKeyIdentifier)
        else x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    )
    start = max(now - dt.timedelta(minutes=1), ca_cert.not_valid_before_utc)
    end = max(min(now + dt.timedelta(hours=1), ca_cert.not_valid_after_utc), start)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(SPIFFE_ID)]), critical=True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(aki, critical=False)
    )
    digest = None if isinstance(ca_key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256()
    return builder.sign(ca_key, digest)


def key_file_mode(mode: int, target: str, label: str = CA_KEY) -> CheckResult:
    """The CA key should be readable by its owner only; the agent writes it as key_file_mode (0400)."""
    check_id = "chain.key-file-mode"
    if mode & 0o077:
        return warned(
            check_id,
            target,
            f"{label} is mode {mode:04o}: group or others can read the CA key",
            f"chmod 600 {label} (in the pod: vault.hashicorp.com/agent-inject-perms-{CA_KEY})",
        )
    return passed(check_id, target, f"{label} is mode {mode:04o} (owner only)")


BUNDLE_CHECKS: Sequence[Check] = (
    key_matches_cert,
    ca_cert_is_ca,
    ca_key_usage,
    ca_eku,
    path_valid,
    order,
    includes_root,
    root_self_signed,
    validity,
    not_beyond_root,
    expiry,
    key_strength,
    signature_algorithm,
    path_length,
    spiffe_leaf,
)

CHECK_IDS: dict[Check, str] = {check: f"chain.{check.__name__.replace('_', '-')}" for check in BUNDLE_CHECKS}
