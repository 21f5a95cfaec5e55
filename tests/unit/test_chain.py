"""Chain checks over bundles built at test time: a good bundle passes, each kind of bad bundle is caught by
the check made for it, with a one-line finding naming the file."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from istio_vault_ca.verify.checks import chain
from istio_vault_ca.verify.checks.result import CheckResult, Status
from tests import pki_factory as pki


def run(bundle: pki.Bundle, directory: Path, **options: object) -> dict[str, CheckResult]:
    results = chain.check_dir(bundle.write(directory), **options)  # type: ignore[arg-type]
    by_id = {result.id: result for result in results}
    assert len(by_id) == len(results), "each check reports once per directory"
    return by_id


def test_good_bundle_passes_every_check(tmp_path: Path) -> None:
    results = run(pki.good_bundle(), tmp_path)
    assert {r.id: r.status for r in results.values() if r.status is not Status.PASS} == {}
    assert set(results) == {
        "chain.file-present",
        "chain.pem",
        "chain.key-file-mode",
        *chain.CHECK_IDS.values(),
    }
    for result in results.values():
        assert result.target == str(tmp_path)


def test_there_are_at_least_twenty_kinds_of_bad_bundle() -> None:
    assert len(pki.BAD_BUNDLES) >= 20


@pytest.mark.parametrize("kind", sorted(pki.BAD_BUNDLES))
def test_bad_bundle_is_caught_by_its_check(kind: str, tmp_path: Path) -> None:
    build, check_id, file_name = pki.BAD_BUNDLES[kind]
    results = run(build(), tmp_path)
    result = results[check_id]
    assert result.status is Status.FAIL, f"{kind}: {check_id} did not fail: {result.finding}"
    assert file_name in result.finding, f"{kind}: the finding does not name {file_name}: {result.finding}"
    assert "\n" not in result.finding, "findings are one line"
    assert result.hint, "a failed check says what to do"
    errors = [r for r in results.values() if r.status is Status.ERROR]
    assert errors == [], f"{kind}: a check crashed: {errors}"


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


def test_checks_use_the_given_clock(tmp_path: Path) -> None:
    later = pki.NOW + 4000 * pki.DAY
    results = run(pki.good_bundle(), tmp_path, now=later)
    assert results["chain.validity"].status is Status.FAIL
    assert "expired on" in results["chain.validity"].finding


def test_spiffe_leaf_is_a_workload_certificate() -> None:
    inter, _ = pki.good_pair()
    leaf = chain.make_leaf(inter.cert, inter.key, dt.datetime.now(dt.timezone.utc))
    from cryptography import x509

    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [chain.SPIFFE_ID]
    assert leaf.issuer == inter.cert.subject
    leaf.verify_directly_issued_by(inter.cert)


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

    explode.__name__ = "key_matches_cert"
    monkeypatch.setattr(chain, "BUNDLE_CHECKS", (explode,))
    monkeypatch.setitem(chain.CHECK_IDS, explode, "chain.key-matches-cert")
    results = run(bundle, tmp_path)
    result = results["chain.key-matches-cert"]
    assert result.status is Status.ERROR
    assert "PRIVATE KEY" not in result.finding
    assert all(line not in result.finding for line in secret.splitlines()[1:-1])
