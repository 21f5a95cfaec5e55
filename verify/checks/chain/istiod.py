"""Checks of the tier "istiod refuses": what `pilot/pkg/bootstrap/istio_ca.go` createIstioCA does with the
directory, in its order: which files it uses, `security/pkg/pki/util/keycertbundle.go` Verify (parse ca-cert.pem,
verify it to root-cert.pem through cert-chain.pem, parse the key, match key and certificate, CRLs), then
`security/pkg/pki/ca/ca.go` NewPluggedCertIstioCAOptions (ca-cert.pem must be a CA) and NewIstioCA (the first
certificate of cert-chain.pem must parse and be unexpired). Each failure here is one istiod would refuse to start
on (or, before 1.27, silently replace by a self-signed CA); findings quote the substance of istiod's error.
"""

from __future__ import annotations

from cryptography import x509

from ....generator.config.cafiles import CA_CERT, CA_FILES, CA_KEY, CERT_CHAIN, ROOT_CERT
from ..pkix import describe_key, spki
from ..registry import Tier, check
from ..result import CheckResult, failed, passed, skipped
from . import gox509, pem
from .bundle import CA_CRL, Bundle, common_name, moment

_HINT_AGENT = "the agent did not render every file: check the injector annotations and the agent's logs"
_HINT_PEM = "the files must be PEM as the agent templates print them; re-render the agent templates"
# The same two for values read from Vault: no agent or file is involved, only the paths the templates read.
_HINT_VAULT_MISSING = (
    "Vault has nothing at these paths: run vault/setup.sh; `istio-vault-ca verify vault` names the step that "
    "did not run (for a lost KV key, the command that repairs it)"
)
_HINT_VAULT_PEM = (
    "the values at these Vault paths must be PEM: the PKI mounts serve it, so look at what is stored in KV and at "
    "kv.version ('<no value>'); `istio-vault-ca verify vault` compares the stored key with the intermediate"
)
HINT_CA = "issue the intermediate as a CA: vault write <root>/root/sign-intermediate (not issue/<role>)"


@check("chain.file-present", tier=Tier.ISTIOD_REFUSES)
def files_present(bundle: Bundle) -> CheckResult:
    """All four files must exist: 1.26.1+ refuses an incomplete bundle; before, no ca-key.pem meant a silent
    self-signed CA (createIstioCA / checkCABundleCompleteness)."""
    roles = (CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT)
    refused = [bundle.refused[name] for name in sorted(bundle.refused)]
    if refused:
        return failed(
            "chain.file-present",
            bundle.target,
            "; ".join(refused),
            "the CA directory must hold the agent's four small PEM files; replace what is there",
        )
    missing = [bundle.label(role) for role in roles if bundle.values.get(role) is None]
    if bundle.tls_layout:
        missing = [bundle.label(r) for r in (CA_CERT, CA_KEY, ROOT_CERT) if bundle.values.get(r) is None]
    if not missing:
        names = ", ".join(bundle.label(role) for role in (CA_FILES if not bundle.tls_layout else (CA_CERT, CA_KEY)))
        return passed("chain.file-present", bundle.target, f"{names} present" + _tls_note(bundle))
    if len(missing) == len(roles) or (bundle.tls_layout and len(missing) == 3):
        consequence = "istiod finds no plugged-in CA and silently creates its own self-signed root (istio-ca-secret)"
    elif bundle.version.refuses_incomplete_bundle:
        consequence = f"istiod {bundle.version} refuses to start: incomplete signing CA bundle detected"
    elif bundle.label(CA_KEY) in missing:
        consequence = (
            f"istiod {bundle.version} finds no {bundle.label(CA_KEY)} and silently creates its own self-signed root"
        )
    else:
        consequence = f"istiod {bundle.version} refuses to start: it cannot read {missing[0]}"
    hint = _HINT_VAULT_MISSING if bundle.from_vault else _HINT_AGENT
    return failed("chain.file-present", bundle.target, f"{', '.join(missing)} missing: {consequence}", hint)


def _tls_note(bundle: Bundle) -> str:
    return " (kubernetes.io/tls names, which istiod prefers)" if bundle.tls_layout else ""


@check("chain.pem", tier=Tier.ISTIOD_REFUSES)
def pem_parses(bundle: Bundle) -> CheckResult:
    """Each file parses the way istiod reads it: the first PEM block of ca-cert.pem as a certificate, the first
    block of ca-key.pem by its label, at least one certificate in root-cert.pem."""
    problems: list[str] = []
    notes: list[str] = []
    for role, kind in (
        (CA_CERT, "CERTIFICATE"),
        (CA_KEY, "PRIVATE KEY"),
        (CERT_CHAIN, "CERTIFICATE"),
        (ROOT_CERT, "CERTIFICATE"),
    ):
        data = bundle.values.get(role)
        if data is None:
            continue
        name = bundle.label(role)
        obvious = pem.pem_problem(data, kind) if data.strip() else ""
        if role == CERT_CHAIN and not data.strip():
            if data:  # NewIstioCA: whitespace is not an empty chain, and no certificate parses from it
                problems.append(f"{name} holds only whitespace: istiod cannot read the chain's expiry")
            else:
                notes.append(f"{name} (empty)")
            continue
        if obvious:
            problems.append(f"{name} {obvious}")
        elif role in bundle.problems:
            problems.append(f"{name}: {bundle.problems[role]}")
        elif role == CA_KEY and bundle.key is not None:
            notes.append(f"{name} ({describe_key(bundle.key)})")
        elif role == CERT_CHAIN:
            first, why = pem.first_certificate(data)
            if first is None:
                problems.append(f"{name}: istiod reads its first block for the chain's expiry and it fails: {why}")
            else:
                notes.append(f"{name} ({_count(bundle.chain)})")
        elif role == ROOT_CERT:
            notes.append(f"{name} ({_count(bundle.roots)})")
        elif role == CA_CERT:
            notes.append(name)
    if problems:
        return failed(
            "chain.pem", bundle.target, "; ".join(problems), _HINT_VAULT_PEM if bundle.from_vault else _HINT_PEM
        )
    if not notes:
        return skipped("chain.pem", bundle.target, "no file to parse")
    return passed("chain.pem", bundle.target, "PEM: " + ", ".join(notes))


def _count(certs: tuple[x509.Certificate, ...] | None) -> str:
    count = len(certs or ())
    return f"{count} cert{'s' if count != 1 else ''}"


# Go's rejections of a candidate issuer (gox509.py, after crypto/x509 verify.go) and what each one asks to fix: the
# root only when no certificate of root-cert.pem signed the path.
_PATH_HINTS = (
    (
        "insecure algorithm",
        "a certificate on the path is signed with SHA-1 or MD5, which Go refuses (chain.signature-algorithm names "
        "it): re-sign the intermediate with SHA-256 or stronger; the root is not the cause",
    ),
    (
        "expired or is not yet valid",
        "a certificate on the path is outside its validity (chain.validity and chain.chain-expiry name it): "
        "re-issue it (istio-vault-ca plan-rotation), or correct the clock of Vault or this machine",
    ),
    (
        "cannot sign this kind of certificate",
        "an issuer on the path is not a CA (basicConstraints CA:TRUE with keyCertSign): re-issue it as a CA",
    ),
    (
        "not authorized to sign other certificates",
        "an intermediate of cert-chain.pem is not a CA: re-issue it with basicConstraints CA:TRUE",
    ),
    (
        "path length constraint",
        "a CA on the path allows fewer intermediates below it (pathLen, chain.path-length): re-issue that CA",
    ),
    (
        "not authorized to sign for this name",
        "a CA on the path has name constraints the SPIFFE names break: re-issue it within them or without them",
    ),
    (
        "unhandled critical extension",
        "a certificate on the path carries a critical extension Go does not know: re-issue it without it",
    ),
)
_ROOT_HINT = (
    "root-cert.pem must hold the root that (through cert-chain.pem) signed ca-cert.pem: vault read <root mount>/cert/ca"
)


def path_hint(error: str) -> str:
    """The fix for the first reason Go gave, naming the root only when the root is the cause."""
    return next((hint for words, hint in _PATH_HINTS if words in error), _ROOT_HINT)


@check("chain.path-valid", tier=Tier.ISTIOD_REFUSES, needs=("ca_cert", "roots"))
def path_valid(bundle: Bundle) -> CheckResult:
    """istiod verifies ca-cert.pem to root-cert.pem through cert-chain.pem (an unordered pool) with Go's rules
    and the default key usage serverAuth (keycertbundle.go Verify)."""
    names = f"{bundle.label(CA_CERT)} to {bundle.label(ROOT_CERT)} through {bundle.label(CERT_CHAIN)}"
    if bundle.istiod_path is None:
        return failed(
            "chain.path-valid",
            bundle.target,
            f"istiod refuses: cannot verify {names}: {bundle.istiod_path_error}",
            path_hint(bundle.istiod_path_error),
        )
    chain = " -> ".join(bundle.name_of(cert) for cert in bundle.istiod_path)
    return passed("chain.path-valid", bundle.target, f"istiod verifies {names}: {chain}")


@check("chain.key-matches-cert", tier=Tier.ISTIOD_REFUSES, needs=("key", "ca_cert"))
def key_matches_cert(bundle: Bundle) -> CheckResult:
    """istiod signs with ca-key.pem and presents ca-cert.pem: crypto/tls X509KeyPair must pair them."""
    assert bundle.key is not None and bundle.ca_cert is not None
    key_name, cert_name = bundle.label(CA_KEY), bundle.label(CA_CERT)
    pair_key = pem.tls_pair_key(bundle.values.get(CA_KEY) or b"")
    cert_key = bundle.ca_cert.public_key()
    if pair_key is not None and spki(pair_key.public_key()) == spki(cert_key):
        return passed(
            "chain.key-matches-cert", bundle.target, f"{key_name} ({describe_key(bundle.key)}) matches {cert_name}"
        )
    key_kind, cert_kind = describe_key(bundle.key), describe_key(cert_key)
    if key_kind.split("-")[0].split(" ")[0] != cert_kind.split("-")[0].split(" ")[0]:
        finding = f"{key_name} is an {key_kind} key but {cert_name} holds an {cert_kind} key"
    else:
        finding = f"{key_name} does not match the public key in {cert_name} (a key of another certificate?)"
    return failed(
        "chain.key-matches-cert",
        bundle.target,
        f"istiod refuses: the cert does not match the key: {finding}",
        "store the intermediate's own key with its certificate",
    )


@check("chain.ca-cert-is-ca", tier=Tier.ISTIOD_REFUSES, needs=("ca_cert",))
def ca_cert_is_ca(bundle: Bundle) -> CheckResult:
    """NewPluggedCertIstioCAOptions refuses a ca-cert.pem without basicConstraints CA:true."""
    assert bundle.ca_cert is not None
    name = bundle.label(CA_CERT)
    constraints = gox509.extension(bundle.ca_cert, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        what = "has no basicConstraints extension" if constraints is None else "has basicConstraints CA:false"
        return failed(
            "chain.ca-cert-is-ca",
            bundle.target,
            f"istiod refuses: certificate is not authorized to sign other certificates ({name} {what})",
            HINT_CA,
        )
    return passed("chain.ca-cert-is-ca", bundle.target, f"{name} is a CA (basicConstraints CA:true)")


@check("chain.chain-expiry", tier=Tier.ISTIOD_REFUSES, needs=("chain",))
def chain_first_unexpired(bundle: Bundle) -> CheckResult:
    """NewIstioCA reads the FIRST certificate of cert-chain.pem: expired means "cert chain has expired"; its expiry
    also caps the default workload certificate TTL (minTTL)."""
    data = bundle.values.get(CERT_CHAIN) or b""
    name = bundle.label(CERT_CHAIN)
    if not data:
        return passed("chain.chain-expiry", bundle.target, f"{name} is empty: istiod uses the default workload TTL")
    first, _ = pem.first_certificate(data)
    if first is None:
        return skipped("chain.chain-expiry", bundle.target, f"the first block of {name} is not a certificate")
    left = first.not_valid_after_utc - bundle.now
    if left.total_seconds() <= 0:
        return failed(
            "chain.chain-expiry",
            bundle.target,
            f"istiod refuses: cert chain has expired ({name}[0], {common_name(first)}, ended "
            f"{first.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)",
            "write cert-chain.pem as the current intermediate followed by its issuers (Vault: cert/ca_chain)",
        )
    hours = left.total_seconds() / 3600
    capped = f"; workload certificates are capped at {hours:.1f} h" if hours < 24 else ""
    return passed(
        "chain.chain-expiry", bundle.target, f"{name}[0] is valid until {first.not_valid_after_utc:%Y-%m-%d}{capped}"
    )


@check("chain.crl", tier=Tier.ISTIOD_REFUSES, when="crl")
def crl(bundle: Bundle) -> CheckResult:
    """1.27+: a non-empty ca-crl.pem must hold a CRL signed by every certificate of cert-chain.pem (keycertbundle.go
    Verify: Envoy rejects a chain where only some CAs have a CRL)."""
    data = bundle.crl or b""
    name = bundle.label(CA_CRL)
    if not data:
        return passed("chain.crl", bundle.target, f"{name} is empty: no CRL is distributed")
    crls = []
    for block in pem.blocks(data):
        try:
            crls.append(x509.load_der_x509_crl(block.der))
        except ValueError:
            return failed("chain.crl", bundle.target, f"istiod refuses: failed to parse CRL PEM in {name}", _HINT_CRL)
    signers = [cert for cert in (bundle.chain or ())]
    missing = [s for s in signers if not any(_crl_signed_by(c, s) for c in crls)]
    if missing:
        names = ", ".join(common_name(cert) for cert in missing)
        return failed(
            "chain.crl",
            bundle.target,
            f"istiod refuses: missing CRL signed by certificates: {names} ({name})",
            _HINT_CRL,
        )
    return passed("chain.crl", bundle.target, f"{name} holds a CRL for each of the {len(signers)} chain certificates")


_HINT_CRL = "put one CRL per CA of cert-chain.pem in ca-crl.pem, or remove the file"


def _crl_signed_by(revocations: x509.CertificateRevocationList, signer: x509.Certificate) -> bool:
    try:
        return revocations.is_signature_valid(signer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


@check("chain.validity", tier=Tier.ISTIOD_REFUSES)
def validity(bundle: Bundle) -> CheckResult:
    """Every certificate istiod's path uses must be valid now: Go's Verify refuses an expired or future one."""
    path = bundle.path()
    if not path:
        return skipped("chain.validity", bundle.target, "no certificate loaded")
    problems = []
    for cert in path:
        if bundle.now < cert.not_valid_before_utc:
            problems.append(
                f"{bundle.name_of(cert)} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
            )
        elif bundle.now > cert.not_valid_after_utc:
            problems.append(f"{bundle.name_of(cert)} expired on {moment(cert.not_valid_after_utc)}")
    if problems:
        return failed(
            "chain.validity",
            bundle.target,
            "istiod refuses: " + "; ".join(problems),
            "re-issue the certificate (check the clocks of Vault and this machine)",
        )
    return passed("chain.validity", bundle.target, f"the {len(path)} certificates istiod uses are valid now")


@check("chain.signature-algorithm", tier=Tier.ISTIOD_REFUSES)
def signature_algorithm(bundle: Bundle) -> CheckResult:
    """Go refuses SHA-1 and MD5 signatures on every certificate it checks (the anchor's self-signature is not
    checked: see chain.root-self-signed)."""
    path = bundle.path()
    issued = [cert for cert in path if not (bundle.roots and cert in bundle.roots)]
    if not issued:
        return skipped("chain.signature-algorithm", bundle.target, "no issued certificate loaded")
    weak = [
        f"{bundle.name_of(cert)} is signed with {gox509.signature_hash(cert).upper()}"
        for cert in issued
        if gox509.signature_hash(cert) in ("sha1", "md5")
    ]
    if weak:
        return failed(
            "chain.signature-algorithm",
            bundle.target,
            "istiod refuses: " + "; ".join(weak) + " (x509: insecure algorithm)",
            "re-sign with SHA-256 or stronger",
        )
    names = sorted({(gox509.signature_hash(cert) or "pure").upper() for cert in issued})
    return passed("chain.signature-algorithm", bundle.target, f"issued certificates are signed with {', '.join(names)}")
