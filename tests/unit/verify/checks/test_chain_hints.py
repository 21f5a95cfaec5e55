"""Issue 27 §5: each chain finding's hint names the real cause, and a root-cert.pem that does not parse makes
the checks that need it skip (as a garbage ca-cert.pem does) instead of failing with an empty cause.

Each case is a bundle of the bad-bundle corpus (tests/pki_factory.py) written to a directory and checked by
`verify chain` as a user runs it, with the JSON report read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import pki_factory
from tests.support import run_cli, validate_json_shape


def checks_of(tmp_path: Path, bundle: str) -> dict[str, dict[str, Any]]:
    directory = pki_factory.BAD_BUNDLES[bundle][0]().write(tmp_path / "ca")
    result = run_cli("verify", "chain", directory, "--output", "json")
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    validate_json_shape(document)
    for check in document["checks"]:
        if check["status"] in ("fail", "warn", "error"):
            assert check["hint"], check  # every FAIL and WARN says what to do
            assert not check["finding"].rstrip().endswith(":"), check  # and has a cause
    return {check["id"]: check for check in document["checks"]}


def test_a_sha1_intermediate_is_blamed_not_the_root(tmp_path: Path) -> None:
    checks = checks_of(tmp_path, "SHA-1 signature")
    path = checks["chain.path-valid"]
    assert path["status"] == "fail"
    assert "SHA-1" in path["hint"] and "re-sign the intermediate" in path["hint"]
    assert "root-cert.pem must hold" not in path["hint"]
    # The root did issue it: the order is right, the algorithm is chain.signature-algorithm's finding.
    assert checks["chain.order"]["status"] == "pass", checks["chain.order"]
    assert checks["chain.signature-algorithm"]["status"] == "fail"


@pytest.mark.parametrize("bundle", ["expired intermediate", "not-yet-valid intermediate"])
def test_an_intermediate_out_of_its_validity_is_blamed_not_the_root(tmp_path: Path, bundle: str) -> None:
    path = checks_of(tmp_path, bundle)["chain.path-valid"]
    assert path["status"] == "fail"
    assert "outside its validity" in path["hint"] and "plan-rotation" in path["hint"]
    assert "root-cert.pem must hold" not in path["hint"]


def test_a_wrong_root_still_points_at_the_root(tmp_path: Path) -> None:
    path = checks_of(tmp_path, "wrong root")["chain.path-valid"]
    assert path["status"] == "fail" and "root-cert.pem must hold" in path["hint"]


@pytest.mark.parametrize("root_cert", [bytes(range(256)) * 2, b"-----BEGIN CERTIFICATE-----\nnot base64\n", b"\n"])
def test_a_garbage_root_skips_the_checks_that_need_it(tmp_path: Path, root_cert: bytes) -> None:
    directory = pki_factory.good_bundle().write(tmp_path / "ca")
    (directory / "root-cert.pem").write_bytes(root_cert)
    result = run_cli("verify", "chain", directory, "--output", "json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    validate_json_shape(document)
    checks = {check["id"]: check for check in document["checks"]}
    assert checks["chain.pem"]["status"] == "fail" and "root-cert.pem" in checks["chain.pem"]["finding"]
    for check_id in ("chain.path-valid", "chain.order", "chain.includes-root", "chain.root-self-signed"):
        assert checks[check_id]["status"] == "skip", checks[check_id]
        assert "root-cert.pem" in checks[check_id]["finding"]
