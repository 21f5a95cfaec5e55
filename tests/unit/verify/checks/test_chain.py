"""Chain checks over bundles built at test time: a good bundle passes, each kind of bad bundle is caught by the
check made for it with the status of that check's tier, and version-dependent behaviour follows --istio-version.

Ground truth for the verdicts is Istio's own code: tests/fidelity compares these checks with it over a larger
corpus (the e2e tier, which builds the oracle with Go)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from istio_vault_ca.verify.checks import chain
from istio_vault_ca.verify.checks.chain import IstioVersion, parse_version
from istio_vault_ca.verify.checks.registry import REGISTRY, Tier
from istio_vault_ca.verify.checks.result import CheckResult, Status
from tests import pki_factory as pki

# Checks that report only when their input exists: ca-crl.pem, tls.crt; an ambient data plane (test_ztunnel.py).
CONDITIONAL = {"chain.crl", "chain.tls-layout", "chain.istio-release"}
AMBIENT_ONLY = {"chain.ztunnel-chain", "chain.ztunnel-root", "chain.ztunnel-crl", "chain.ztunnel-shared-root"}


def run(bundle: pki.Bundle, directory: Path, **options: object) -> dict[str, CheckResult]:
    results = chain.check_dir(bundle.write(directory), **options)  # type: ignore[arg-type]
    by_id = {result.id: result for result in results}
    assert len(by_id) == len(results), "each check reports once per directory"
    return by_id


def test_good_bundle_passes_every_check(tmp_path: Path) -> None:
    results = run(pki.good_bundle(), tmp_path)
    assert {r.id: r.status for r in results.values() if r.status is not Status.PASS} == {}
    assert set(results) == set(chain.CHECK_IDS) - CONDITIONAL - AMBIENT_ONLY
    assert len(results) == 24
    for result in results.values():
        assert result.target == str(tmp_path)


def test_every_chain_check_is_in_exactly_one_tier_with_a_docstring() -> None:
    for check_id in chain.CHECK_IDS:
        spec = REGISTRY[check_id]
        assert isinstance(spec.tier, Tier)
        assert spec.doc, f"{check_id} says why in its docstring"
    assert {REGISTRY[c].tier for c in chain.CHECK_IDS} == {
        Tier.ISTIOD_REFUSES,
        Tier.PEERS_REJECT,
        Tier.PRACTICE,
        Tier.POLICY,
        Tier.INFO,  # chain.signing-root: which root of a rotation's bundle signs, a fact
    }


def test_the_bad_bundle_corpus_is_complete() -> None:
    assert len(pki.BAD_BUNDLES) == 28
    assert {status for _, _, status, _ in pki.BAD_BUNDLES.values()} == {pki.FAIL, pki.WARN}


@pytest.mark.parametrize("kind", sorted(pki.BAD_BUNDLES))
def test_bad_bundle_is_caught_by_its_check(kind: str, tmp_path: Path) -> None:
    build, check_id, status, file_name = pki.BAD_BUNDLES[kind]
    results = run(build(), tmp_path)
    result = results[check_id]
    assert result.status.value == status, f"{kind}: {check_id} gave {result.status.value}: {result.finding}"
    assert file_name in result.finding, f"{kind}: the finding does not name {file_name}: {result.finding}"
    assert "\n" not in result.finding, "findings are one line"
    assert result.hint, "a check that is not happy says what to do"
    errors = [r for r in results.values() if r.status is Status.ERROR]
    assert errors == [], f"{kind}: a check crashed: {errors}"
    if status == pki.WARN:
        assert not any(r.failed for r in results.values()), f"{kind}: works for istiod, so nothing fails"


def test_no_value_finding_explains_the_template_mistake(tmp_path: Path) -> None:
    bundle = replace(pki.good_bundle(), cert_chain=b"<no value>\n")
    result = run(bundle, tmp_path)["chain.pem"]
    assert result.status is Status.FAIL
    assert "cert-chain.pem holds the literal '<no value>'" in result.finding
    assert "KV version" in result.finding


def test_unparseable_input_skips_dependent_checks_instead_of_crashing(tmp_path: Path) -> None:
    bundle = replace(pki.good_bundle(), ca_cert=b"garbage", ca_key=None)
    results = run(bundle, tmp_path)
    assert results["chain.key-matches-cert"].status is Status.SKIP
    assert "ca-cert.pem" in results["chain.key-matches-cert"].finding
    assert results["chain.spiffe-leaf"].status is Status.SKIP


def test_missing_key_depends_on_the_istio_release(tmp_path: Path) -> None:
    bundle = replace(pki.good_bundle(), ca_key=None)
    newest = run(bundle, tmp_path / "new")["chain.file-present"]
    assert newest.status is Status.FAIL
    assert "refuses to start: incomplete signing CA bundle detected" in newest.finding
    old = run(bundle, tmp_path / "old", version=IstioVersion(1, 26, 0))["chain.file-present"]
    assert old.status is Status.FAIL
    assert "silently creates its own self-signed root" in old.finding


def test_a_stray_tls_crt_is_read_instead_of_the_four_files(tmp_path: Path) -> None:
    directory = pki.good_bundle().write(tmp_path / "dir")
    (directory / "tls.crt").write_bytes((directory / "ca-cert.pem").read_bytes())
    results = chain.check_dir(directory)
    by_id = {r.id: r for r in results}
    assert by_id["chain.tls-layout"].status is Status.WARN
    assert by_id["chain.file-present"].status is Status.FAIL
    assert "tls.key" in by_id["chain.file-present"].finding and "ca.crt" in by_id["chain.file-present"].finding
    before = {r.id: r for r in chain.check_dir(directory, version=IstioVersion(1, 14, 1))}
    assert "chain.tls-layout" not in before, "istiod before 1.14.2 ignores tls.crt"
    assert not any(r.failed for r in before.values())


def test_a_crl_is_judged_only_where_istiod_reads_it(tmp_path: Path) -> None:
    directory = pki.good_bundle().write(tmp_path / "dir")
    (directory / "ca-crl.pem").write_bytes(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    newest = {r.id: r for r in chain.check_dir(directory)}
    assert newest["chain.crl"].status is Status.FAIL
    assert "istiod refuses" in newest["chain.crl"].finding
    older = {r.id: r for r in chain.check_dir(directory, version=IstioVersion(1, 26))}
    assert "chain.crl" not in older


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.24", IstioVersion(1, 24)), ("1.24.3", IstioVersion(1, 24, 3)), ("v1.31.0-distroless", IstioVersion(1, 31, 0))],
)
def test_istio_versions_parse(text: str, expected: IstioVersion) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize("text", ["latest", "1", "0.8", "1.5", "1.11.9"])
def test_unknown_istio_versions_are_refused_with_the_range(text: str) -> None:
    with pytest.raises(ValueError, match=r"1\.12|X\.Y"):
        parse_version(text)


def test_group_readable_key_warns(tmp_path: Path) -> None:
    results = run(replace(pki.good_bundle(), key_mode=0o644), tmp_path)
    result = results["chain.key-file-mode"]
    assert result.status is Status.WARN
    assert "ca-key.pem is mode 0644" in result.finding
    assert "chmod 600" in result.hint


def test_expiry_warns_within_warn_days_only(tmp_path: Path) -> None:
    top = pki.root(not_after=pki.NOW + 3650 * pki.DAY)
    soon = pki.assemble(pki.intermediate(top, not_after=pki.NOW + 10 * pki.DAY), top)
    warned = run(soon, tmp_path / "a", warn_days=30)["chain.expiry"]
    assert warned.status is Status.WARN
    assert "ca-cert.pem expires first" in warned.finding
    assert "--warn-days 30" in warned.finding
    assert run(soon, tmp_path / "b", warn_days=5)["chain.expiry"].status is Status.PASS


def test_an_intermediate_ending_with_its_root_warns_and_shows_the_times(tmp_path: Path) -> None:
    end = pki.NOW + 100 * pki.DAY
    top = pki.root(not_after=end)
    same_day = pki.assemble(pki.intermediate(top, not_after=end + dt.timedelta(seconds=30)), top)
    result = run(same_day, tmp_path)["chain.not-beyond-root"]
    assert result.status is Status.WARN
    assert result.finding.count("UTC") == 2, "equal dates show their times"


def test_checks_use_the_given_clock(tmp_path: Path) -> None:
    later = pki.NOW + 4000 * pki.DAY
    results = run(pki.good_bundle(), tmp_path, now=later)
    assert results["chain.validity"].status is Status.FAIL
    assert "expired on" in results["chain.validity"].finding


def test_spiffe_leaf_is_a_workload_certificate() -> None:
    inter, _ = pki.good_pair()
    assert not isinstance(inter.key, int)
    leaf = chain.make_leaf(inter.cert, inter.key, dt.datetime.now(dt.timezone.utc))
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [chain.SPIFFE_ID]
    assert leaf.issuer == inter.cert.subject
    leaf.verify_directly_issued_by(inter.cert)
    # Key identifiers as istiod's Go code writes them: no SKI on a leaf, the AKI copied from the CA's SKI.
    kinds = {type(extension.value) for extension in leaf.extensions}
    assert x509.SubjectKeyIdentifier not in kinds
    ca_ski = inter.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest and aki.authority_cert_issuer is None


def test_a_leaf_under_a_ca_without_ski_has_no_aki_as_go_writes_it() -> None:
    """Go's x509.CreateCertificate takes the AKI from the parent's SKI only; it never hashes the parent's key."""
    from istio_vault_ca.generator.pki.factory import certificate, name, new_key, self_signed_ca

    root = self_signed_ca("root")
    key = new_key()
    now = dt.datetime.now(dt.timezone.utc)
    bare = (
        x509.CertificateBuilder()
        .subject_name(name("no-ski"))
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(root.key, hashes.SHA256())  # the factory's default key: EC P-256
    )
    leaf = chain.make_leaf(bare, key, now)  # type: ignore[arg-type]
    kinds = {type(extension.value) for extension in leaf.extensions}
    assert x509.AuthorityKeyIdentifier not in kinds and x509.SubjectKeyIdentifier not in kinds
    always = certificate(name("x"), new_key().public_key(), key, issuer=bare, not_before=now, not_after=now, ca=False)
    assert x509.AuthorityKeyIdentifier in {type(extension.value) for extension in always.extensions}, (
        "Vault-shaped certificates (the default) still hash the issuer's key"
    )


def test_from_vault_labels_name_the_api_path() -> None:
    good = pki.good_bundle()
    values = {
        chain.CA_CERT: good.ca_cert,
        chain.CA_KEY: b"<no value>\n",
        chain.CERT_CHAIN: good.cert_chain,
        chain.ROOT_CERT: good.root_cert,
    }
    labels = {chain.CA_KEY: "ca-key.pem from kv/data/istioca"}
    results = {r.id: r for r in chain.check_values(values, target="vault", labels=labels)}
    assert "ca-key.pem from kv/data/istioca holds the literal '<no value>'" in results["chain.pem"].finding
    assert "chain.key-file-mode" not in results, "no file mode for values read from Vault"


def test_a_crashing_check_reports_an_error_without_key_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = pki.good_bundle()
    assert bundle.ca_key is not None
    secret = bundle.ca_key.decode()

    def explode(_: chain.Bundle) -> CheckResult:
        raise ValueError(f"cannot use {secret}")

    monkeypatch.setitem(
        REGISTRY, "chain.key-matches-cert", REGISTRY["chain.key-matches-cert"]._replace(function=explode)
    )
    result = run(bundle, tmp_path)["chain.key-matches-cert"]
    assert result.status is Status.ERROR
    assert "PRIVATE KEY" not in result.finding
    assert all(line not in result.finding for line in secret.splitlines()[1:-1])


def test_a_rotation_bundle_names_both_roots_and_the_root_that_signs(tmp_path: Path) -> None:
    """root-cert.pem with the old and the new root: trusted (several anchors), and the signing root is named."""
    inter, old = pki.good_pair()
    new = pki.make_ca(
        "New Root CA",
        subject_key=pki.key("rsa", 2048, 12),
        not_before=pki.NOW - pki.DAY / 2,
        not_after=pki.NOW + 3650 * pki.DAY,
    )
    results = run(pki.assemble(inter, old, root_cert=old.pem + new.pem), tmp_path / "both")
    assert results["chain.path-valid"].status is Status.PASS
    # A rotation under way: a state to finish, and what istiod needs meanwhile, as a WARN with its hint.
    assert results["chain.trust-bundle"].status is Status.WARN
    assert "holds 2 roots" in results["chain.trust-bundle"].finding
    assert "ISTIO_MULTIROOT_MESH=true" in results["chain.trust-bundle"].hint
    assert "plan-rotation --root" in results["chain.trust-bundle"].hint
    signing = results["chain.signing-root"]
    assert "Test Root CA" in signing.finding and "the bundle holds a newer root" in signing.finding
    twice = run(pki.assemble(inter, old, root_cert=old.pem + old.pem), tmp_path / "twice")
    assert twice["chain.trust-bundle"].status is Status.WARN
    assert "listed twice" in twice["chain.trust-bundle"].finding
