"""Ambient mode: the chain checks that judge the CA files as ztunnel takes istiod's certificate response.

No ztunnel binary runs here (it is Rust, not a Go module the fidelity oracle can build), so the expected verdicts
are the ones ztunnel's source gives, each cited in `AMBIENT_VERDICTS` (verify/checks/chain/ztunnel.py lists the
tags read). They run over the differential corpus (tests/fidelity/corpus.py), whose sidecar verdicts are compared
with Istio's own Go code: a sidecar judgement must not change when ambient checks are added.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from istio_vault_ca.verify.checks import chain
from istio_vault_ca.verify.checks.chain import IstioVersion
from istio_vault_ca.verify.checks.result import CheckResult, Status
from tests.fidelity import corpus

NEW, OLD, NO_CRL = IstioVersion(1, 31), IstioVersion(1, 25), IstioVersion(1, 28)
SPLIT = "server.go CreateCertificate splits each element (istio/istio#55060)"
LAST = "certificate.rs WorkloadCertificate::new: roots = chain.last(), parse_cert_multi (1.26.0+)"
FIRST_ONLY = "certificate.rs parse_cert reads the first PEM certificate of an element"
OLD_ROOT = "certificate.rs at 1.25.0: roots = the last element's first certificate"
CRL = "crl.rs CrlManager::load_crl / proxyfactory.rs: a CRL that does not parse leaves ztunnel without CRLs"

# (corpus kind, release) -> (check, status, where in ztunnel's source the verdict comes from)
AMBIENT_VERDICTS: dict[tuple[str, IstioVersion], tuple[str, Status, str]] = {
    ("vault_rsa", NEW): ("chain.ztunnel-chain", Status.PASS, f"{SPLIT}; {LAST}"),
    ("vault_rsa", OLD): ("chain.ztunnel-root", Status.PASS, OLD_ROOT),
    ("two_level_full_chain", NEW): ("chain.ztunnel-chain", Status.PASS, SPLIT),
    ("two_level_full_chain", OLD): ("chain.ztunnel-chain", Status.FAIL, f"{FIRST_ONLY}: int1 is never sent"),
    ("two_level_reversed_chain", NEW): ("chain.ztunnel-chain", Status.PASS, f"{SPLIT}: every CA is sent"),
    ("two_level_reversed_chain", OLD): ("chain.ztunnel-chain", Status.FAIL, f"{FIRST_ONLY}: the root is sent"),
    ("chain_root_first", OLD): ("chain.ztunnel-chain", Status.FAIL, FIRST_ONLY),
    ("chain_root_first", NEW): ("chain.ztunnel-chain", Status.PASS, SPLIT),
    ("chain_intermediate_only", OLD): ("chain.ztunnel-chain", Status.PASS, "the roots come from root-cert.pem"),
    ("chain_root_only", NEW): ("chain.ztunnel-chain", Status.FAIL, "the intermediate is never sent"),
    ("roots_right_first", NEW): ("chain.ztunnel-root", Status.FAIL, f"{LAST}: the unrelated root is trusted"),
    ("roots_right_first", OLD): ("chain.ztunnel-root", Status.WARN, f"{OLD_ROOT}: the second root is not"),
    ("roots_right_second", NEW): ("chain.ztunnel-root", Status.WARN, f"{LAST}: the first root is not trusted"),
    ("roots_right_second", OLD): ("chain.ztunnel-root", Status.FAIL, OLD_ROOT),
    ("roots_listed_twice", NEW): ("chain.ztunnel-root", Status.WARN, "one certificate is trusted either way"),
    ("crl_garbage", NEW): ("chain.ztunnel-crl", Status.FAIL, CRL),
    ("crl_all_chain_signers", NEW): ("chain.ztunnel-crl", Status.PASS, CRL),
    ("crl_empty_file", NEW): ("chain.ztunnel-crl", Status.PASS, "crl.rs: an empty file means no revocations"),
    ("crl_all_chain_signers", NO_CRL): ("chain.ztunnel-crl", Status.WARN, "crl.rs is absent at 1.28.0"),
}


def _results(kind: str, directory: Path, **options: object) -> dict[str, CheckResult]:
    corpus.CORPUS[kind](directory)
    results = chain.check_dir(directory, **options)  # type: ignore[arg-type]
    return {result.id: result for result in results}


def test_every_ambient_rule_has_corpus_bundles_both_ways() -> None:
    assert len(AMBIENT_VERDICTS) == 19
    checks = {check for check, _, _ in AMBIENT_VERDICTS.values()}
    assert checks == {"chain.ztunnel-chain", "chain.ztunnel-root", "chain.ztunnel-crl"}
    for check in checks:
        statuses = {status for c, status, _ in AMBIENT_VERDICTS.values() if c == check}
        assert Status.PASS in statuses and Status.FAIL in statuses, check


@pytest.mark.parametrize(("kind", "version"), sorted(AMBIENT_VERDICTS), ids=lambda v: str(v))
def test_ambient_verdict_is_ztunnel_s(kind: str, version: IstioVersion, tmp_path: Path) -> None:
    check, status, source = AMBIENT_VERDICTS[(kind, version)]
    results = _results(kind, tmp_path, data_plane="ambient", version=version)
    result = results[check]
    assert result.status is status, f"{kind} on {version} ({source}): {result.finding}"
    assert f"ztunnel {version}" in result.finding
    if status is not Status.PASS:
        assert result.hint, "a finding that is not a pass says what to do"
    assert not [r for r in results.values() if r.status is Status.ERROR]


@pytest.mark.parametrize("kind", sorted({kind for kind, _ in AMBIENT_VERDICTS}))
def test_sidecar_verdicts_are_unchanged_and_carry_no_ztunnel_check(kind: str, tmp_path: Path) -> None:
    sidecar = _results(kind, tmp_path / "sidecar")
    assert not [check for check in sidecar if check.startswith("chain.ztunnel")]
    ambient = _results(kind, tmp_path / "ambient", data_plane="ambient")
    assert {k: (r.status, r.finding) for k, r in ambient.items() if k in sidecar} == {
        k: (r.status, r.finding) for k, r in sidecar.items()
    }


def test_the_chain_order_warns_for_sidecars_and_fails_where_ztunnel_misparses(tmp_path: Path) -> None:
    sidecar = _results("chain_root_first", tmp_path / "s", version=OLD)
    assert sidecar["chain.order"].status is Status.WARN
    assert not any(r.failed for r in sidecar.values())
    ambient = _results("chain_root_first", tmp_path / "a", version=OLD, data_plane="ambient")
    finding = ambient["chain.ztunnel-chain"].finding
    assert "ztunnel 1.25 keeps only its first certificate" in finding and "cert-chain.pem" in finding


def test_a_rotation_bundle_before_the_reissue_breaks_ambient_on_new_releases(tmp_path: Path) -> None:
    """root-cert.pem = old root then new root (plan-rotation's phase (b)), intermediate still under the old one."""
    results = _results("roots_right_first", tmp_path, data_plane="ambient")
    root = results["chain.ztunnel-root"]
    assert root.status is Status.FAIL
    assert "ztunnel 1.31 trusts only the last certificate of root-cert.pem ('CN=Unrelated Root," in root.finding
    assert "plan-rotation --root" in root.hint


def _pair(tmp_path: Path, first: str, second: str) -> list[tuple[str, object]]:
    values: list[tuple[str, object]] = []
    for name, kind in (("a", first), ("b", second)):
        directory = tmp_path / name
        directory.mkdir(parents=True)
        corpus.CORPUS[kind](directory)
        values.append((str(directory), chain.read_dir(directory)[0]))
    return values


def test_an_ambient_fleet_with_per_cluster_roots_fails(tmp_path: Path) -> None:
    from istio_vault_ca.verify.checks.chain.ztunnel import shared_root

    same = shared_root(_pair(tmp_path / "same", "vault_rsa", "two_level_full_chain"), version=NEW)  # type: ignore[arg-type]
    assert same.status is Status.PASS, same.finding
    assert "all 2 ambient targets chain to 'CN=Fidelity Root CA," in same.finding
    other = shared_root(_pair(tmp_path / "other", "vault_rsa", "ed25519_root_and_intermediate"), version=NEW)  # type: ignore[arg-type]
    assert other.status is Status.FAIL
    assert "ambient clusters with different roots" in other.finding and other.hint
    blind = shared_root(_pair(tmp_path / "blind", "vault_rsa", "root_wrong"), version=NEW)  # type: ignore[arg-type]
    assert blind.status is Status.SKIP
    assert "cannot tell which root" in blind.finding
