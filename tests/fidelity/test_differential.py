"""`verify chain` against Istio's own code: for every bundle of the corpus and every bundle Istio publishes, our
verdict and its tier equal what istiod (built from the pinned istio.io/istio module) and a Go peer conclude.

The oracle (tests/oracles/istio_ca) loads the directory with istiod's own functions, signs a workload certificate
and verifies it as a peer; it is built once with Go and cached outside the repository. Disagreements allowed are
exactly `DOCUMENTED` (docs/explanation/verifier.md lists them); one that disappears fails too, so the list stays
true.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from istio_vault_ca.verify.checks import chain
from istio_vault_ca.verify.checks.registry import REGISTRY, Tier
from istio_vault_ca.verify.checks.result import CheckResult
from tests import gobuild
from tests.fidelity import corpus
from tests.support import go_built

pytestmark = pytest.mark.e2e

# kind -> why our verdict differs from istiod's, on purpose or by a known limit.
DOCUMENTED = {
    "rsa1024_intermediate": "policy: chain.key-strength fails RSA below 2048 bits; Go and istiod accept RSA-1024",
    "intermediate_eku_empty_list": (
        "limit: cryptography cannot parse an empty extendedKeyUsage extension that Go reads as no restriction, so "
        "chain.pem fails the certificate"
    ),
}
# Istio's own samples/certs "alt 2" set holds a key that is not its certificate's: istiod refuses it too.
UPSTREAM_BROKEN = {"samples_alt_2"}


@pytest.fixture(scope="session")
def oracle() -> Path:
    return go_built(lambda: gobuild.build("istio_ca"), "tests/oracles/istio_ca")


def istiod_verdict(binary: Path, directory: Path) -> dict[str, Any]:
    proc = subprocess.run([str(binary), str(directory)], capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    verdict: dict[str, Any] = json.loads(proc.stdout)
    return verdict


def disagreement(verdict: dict[str, Any], results: list[CheckResult]) -> str:
    """'' when our failures and their tiers say what istiod and the peer did, else what differs."""
    failing = {r.id: REGISTRY[r.id].tier for r in results if r.failed}
    refused = {check for check, tier in failing.items() if tier is Tier.ISTIOD_REFUSES}
    rejected = {check for check, tier in failing.items() if tier is Tier.PEERS_REJECT}
    loads, peers_accept = bool(verdict["load"].get("ok")), bool(verdict["peer"].get("ok"))
    if not loads and not refused:
        return f"istiod refuses ({verdict['load'].get('error')}) but no istiod-refuses check failed: {sorted(failing)}"
    if loads and refused:
        return f"istiod loads the bundle but {sorted(refused)} say it refuses"
    if loads and not peers_accept and not rejected:
        return f"peers reject the leaf ({verdict['peer'].get('error')}) but no peers-reject check failed"
    if loads and peers_accept and failing:
        return f"istiod and peers accept, we fail {sorted(failing)}"
    return ""


def test_the_corpus_has_every_kind() -> None:
    assert len(corpus.CORPUS) == 103
    assert set(DOCUMENTED) <= set(corpus.CORPUS)


@pytest.mark.parametrize("kind", sorted(corpus.CORPUS))
def test_verdict_equals_istiods(kind: str, oracle: Path, tmp_path: Path) -> None:
    corpus.CORPUS[kind](tmp_path)
    verdict = istiod_verdict(oracle, tmp_path)
    results = chain.check_dir(tmp_path)
    assert not [r for r in results if r.status.value == "error"], "no check crashes"
    differs = disagreement(verdict, results)
    if kind in DOCUMENTED:
        assert differs, f"{kind} now agrees with istiod: drop it from DOCUMENTED ({DOCUMENTED[kind]})"
    else:
        assert differs == "", f"{kind}: {differs}"


def test_istios_published_bundles_pass_with_warnings_at_most(oracle: Path, tmp_path: Path) -> None:
    bundles = corpus.istio_published_bundles(tmp_path / "samples")
    try:
        bundles["tools_certs_selfsigned_mk"] = corpus.istio_tools_certs_bundle(tmp_path / "tools-certs")
    except corpus.ToolMissingError as error:
        if os.environ.get("CI"):
            pytest.fail(str(error))
    assert len(bundles) == 7, sorted(bundles)
    for name, directory in sorted(bundles.items()):
        verdict = istiod_verdict(oracle, directory)
        results = chain.check_dir(directory)
        assert disagreement(verdict, results) == "", name
        if name not in UPSTREAM_BROKEN:
            assert [r.id for r in results if r.failed] == [], f"Istio's own {name} must pass (warnings at most)"
