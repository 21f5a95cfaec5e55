"""Reporters: the JSON shape is a public contract, JUnit XML parses, text has a table and a summary line,
and no format lets key material through."""

from __future__ import annotations

import io
import json
import random
import textwrap
from xml.etree import ElementTree as ET

import pytest

from istio_vault_ca.verify.checks.reporters import REPORTER_BY_NAME, emit, get_reporter
from istio_vault_ca.verify.checks.reporters.common import summary_line
from istio_vault_ca.verify.checks.reporters.text import wrap
from istio_vault_ca.verify.checks.result import Report, Status, errored, failed, passed, skipped, warned
from tests.support import validate_json_shape

STATUSES = {s.value for s in Status}


def to_json(report: Report) -> str:
    return get_reporter("json").render(report)


def to_junit(report: Report) -> str:
    return get_reporter("junit").render(report)


CHECK_KEYS = {"id", "status", "target", "finding", "hint"}
SUMMARY_KEYS = {"pass", "warn", "fail", "error", "skip"}
FAKE_KEY = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "-----END PRIVATE KEY-----\n"
)


def sample() -> Report:
    return Report(
        [
            passed("chain.pem", "dir-a", "PEM: all four"),
            warned("chain.key-file-mode", "dir-a", "ca-key.pem is mode 0644", "chmod 600 ca-key.pem"),
            failed("chain.order", "dir-b", "cert-chain.pem starts with the root", "put the intermediate first"),
            errored("vault.kv-mount", "sys/mounts (kv/)", "GET sys/mounts: 500", "see the server log"),
            skipped("chain.spiffe-leaf", "dir-b", "needs ca-key.pem, which did not load"),
        ]
    )


def test_json_has_the_documented_shape() -> None:
    document = json.loads(to_json(sample()))
    validate_json_shape(document)
    assert document["summary"] == {"pass": 1, "warn": 1, "fail": 1, "error": 1, "skip": 1}
    assert [c["status"] for c in document["checks"]] == ["pass", "warn", "fail", "error", "skip"]
    assert document["checks"][2] == {
        "id": "chain.order",
        "status": "fail",
        "target": "dir-b",
        "finding": "cert-chain.pem starts with the root",
        "hint": "put the intermediate first",
    }


def test_junit_parses_with_one_testcase_per_check() -> None:
    root = ET.fromstring(to_junit(sample()))  # noqa: S314 - our own output
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "5",
        "1",
        "1",
        "1",
    )
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "chain.pem",
        "chain.key-file-mode",
        "chain.order",
        "vault.kv-mount",
        "chain.spiffe-leaf",
    ]
    assert cases[2].get("classname") == "dir-b"
    failure = cases[2].find("failure")
    assert failure is not None and failure.get("message") == "cert-chain.pem starts with the root"
    assert "put the intermediate first" in (failure.text or "")
    assert cases[3].find("error") is not None
    assert cases[4].find("skipped") is not None
    assert cases[0].find("failure") is None and cases[1].find("failure") is None


def test_text_is_a_table_with_hints_and_a_summary_line() -> None:
    stream = io.StringIO()
    emit(sample(), "text", stream)
    text = stream.getvalue()
    assert "chain.order" in text and "dir-b" in text
    assert "put the intermediate first" in text
    assert text.rstrip().splitlines()[-1] == summary_line(sample())
    assert summary_line(sample()) == "FAILED: 1 passed, 1 warned, 1 failed, 1 errored, 1 skipped (5 checks)"


def test_summary_line_says_ok_when_only_warnings() -> None:
    report = Report([passed("a", "t", "f"), warned("b", "t", "f")])
    assert summary_line(report).startswith("OK: 1 passed, 1 warned")


@pytest.mark.parametrize("output", ["text", "json", "junit"])
def test_key_material_is_redacted_in_every_format(output: str) -> None:
    report = Report([failed("chain.pem", "dir", f"unexpected {FAKE_KEY} here", f"hint {FAKE_KEY}")])
    stream = io.StringIO()
    emit(report, output, stream)
    text = stream.getvalue()
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj" not in text
    assert "PRIVATE KEY" not in text
    assert "redacted" in text


def test_plain_paths_are_not_redacted() -> None:
    path = "/srv/gitops/clusters/production/istio/vault/ca/bundle/files/here"
    document = json.loads(to_json(Report([passed("chain.pem", path, f"read {path}")])))
    assert document["checks"][0]["target"] == path


def test_fleet_text_collapses_targets_that_passed_and_keeps_the_rest_whole() -> None:
    report = Report(
        [
            passed("chain.pem", "cluster-a", "PEM: all four"),
            passed("chain.order", "cluster-a", "issuer-first"),
            passed("chain.pem", "cluster-b", "PEM: all four"),
            failed("chain.order", "cluster-b", "cert-chain.pem starts with the root", "put the intermediate first"),
        ]
    )
    stream = io.StringIO()
    emit(report, "text", stream, collapse_passing_targets=True)
    text = stream.getvalue()
    assert "all 2 checks passed" in text and "(2 checks)" in text
    assert "issuer-first" not in text, "a passing target's rows are collapsed"
    assert "PEM: all four" in text and "cert-chain.pem starts with the root" in text, "a failing target stays whole"
    assert text.rstrip().splitlines()[-1] == summary_line(report)
    assert len(json.loads(to_json(report))["checks"]) == 4, "JSON always lists every check"
    uncollapsed = io.StringIO()
    emit(report, "text", uncollapsed)
    assert "issuer-first" in uncollapsed.getvalue(), "only a fleet's table collapses"


def test_narrow_terminal_stacks_each_check_and_keeps_findings_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    finding = "cert-chain.pem starts with the root certificate instead of the intermediate that istiod signs with"
    report = Report([failed("chain.order", "/etc/istio/cacerts-from-vault", finding, "put the intermediate first")])
    stream = io.StringIO()
    emit(report, "text", stream)
    lines = stream.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    assert lines[0] == "FAIL chain.order  /etc/istio/cacerts-from-vault"
    assert " ".join(line.strip() for line in lines[1:-1]).startswith(finding)
    assert lines[-2].strip() == "→ put the intermediate first"


def test_wide_output_is_a_table_with_a_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    stream = io.StringIO()
    emit(sample(), "text", stream)
    lines = stream.getvalue().splitlines()
    assert lines[0].split() == ["status", "check", "target", "finding"]
    assert all(len(line) <= 160 for line in lines)
    assert "\x1b[" not in stream.getvalue(), "no colour when the stream is not a terminal"


def test_every_registered_reporter_is_an_output_choice() -> None:
    from istio_vault_ca.verify.cli.parser import build_parser

    parser = build_parser()
    for argv in (["verify", "chain", "d"], ["verify", "vault"], ["verify", "cluster"], ["verify", "all"]):
        for name in REPORTER_BY_NAME:
            assert parser.parse_args([*argv, "--output", name]).output == name
        with pytest.raises(SystemExit):
            parser.parse_args([*argv, "--output", "yaml"])


def _texts(count: int, seed: int) -> list[tuple[str, int]]:
    """Texts and widths for the wrapping comparison: words, runs of every whitespace textwrap knows, a no-break
    space, hyphens and slashes, words longer than the line, and widths down to 1."""
    rng = random.Random(seed)
    pieces = ["a", "-", "/", ".", " ", " ", "  ", "\t", "\n", "\r", "\x0b", "\x0c", "\xa0", "é", "→", "pem", "ca-cert"]
    cases = []
    for _ in range(count):
        length = rng.randint(0, 14)
        parts = [rng.choice(pieces) if rng.random() < 0.5 else "x" * rng.randint(1, 30) for _ in range(length)]
        cases.append(("".join(parts), rng.randint(1, 45)))
    return cases


def test_text_wrapping_is_textwraps_line_for_line() -> None:
    """The text report wraps without importing textwrap (start-up time); it must wrap exactly as it did."""
    cases = _texts(5000, seed=20261201)
    different = [
        (text, width)
        for text, width in cases
        if wrap(text, width) != textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False)
    ]
    assert different == []
    assert sum(len(textwrap.wrap(text, width)) > 1 for text, width in cases) > 2500, "most cases do wrap"


def test_a_long_target_is_cut_after_a_directory() -> None:
    assert wrap("/srv/ca-bundles/prod-east-1/cluster-000/current", 40, "/") == [
        "/srv/ca-bundles/prod-east-1/cluster-000/",
        "current",
    ]
    target = "https://vault.example:8200 (cluster east)"
    assert wrap(target, 30, "/") == ["https://vault.example:8200", "(cluster east)"]
    assert wrap("a" * 50, 20, "/") == ["a" * 20, "a" * 20, "a" * 10], "no slash: cut at the width"
    assert wrap("/" + "b" * 30, 20, "/") == ["/" + "b" * 19, "b" * 11], "a leading slash is no place to cut"


@pytest.mark.parametrize(
    "words",
    [
        "is truncated or corrupted: no complete PEM block (a -----BEGIN line without its -----END?)",
        "holds -----BEGIN CERTIFICATE----- without its END line: re-export it",
        "a -----BEGIN line in lower case ----- is not PEM",
    ],
)
def test_our_words_about_pem_are_never_redacted(words: str) -> None:
    document = json.loads(to_json(Report([failed("chain.pem", "dir", f"ca-cert.pem {words}", f"hint: {words}")])))
    assert document["checks"][0]["finding"] == f"ca-cert.pem {words}"
    assert document["checks"][0]["hint"] == f"hint: {words}"


@pytest.mark.parametrize(
    ("material", "words_after_survive"),
    [
        (FAKE_KEY, True),
        (FAKE_KEY.replace("\n", " "), True),  # pasted into one line
        # Without its END, nothing after a private key's BEGIN line can be told from key bytes: all of it goes.
        (FAKE_KEY.split("-----END")[0], False),
        (FAKE_KEY[:60], False),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,AB12\n\nMIIEvQIBADANBgkq\n",
            False,
        ),
        ("-----BEGIN PRIVATE KEY-----\nMIIE truncated", False),
    ],
)
def test_key_material_is_redacted_whole_or_truncated(material: str, words_after_survive: bool) -> None:
    document = json.loads(to_json(Report([failed("chain.pem", "dir", f"read: {material} (then our words)")])))
    finding = document["checks"][0]["finding"]
    assert finding.startswith("read: [redacted PEM]")
    assert finding.endswith("(then our words)") is words_after_survive
    assert "MIIE" not in finding and "PRIVATE KEY" not in finding and "DEK-Info" not in finding


def test_a_truncated_certificate_keeps_the_words_after_it() -> None:
    cut = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\n"
    document = json.loads(to_json(Report([failed("chain.pem", "dir", f"{cut}is cut short: re-export it")])))
    assert document["checks"][0]["finding"] == "[redacted PEM]\nis cut short: re-export it"


@pytest.mark.parametrize("config", ["built-in default", "envs/prod/istio-vault-ca.yml"])
def test_every_format_names_the_config_the_run_used(config: str) -> None:
    report = Report([passed("vault.reachable", "http://127.0.0.1:8200", "reachable")])
    report.facts.config = config
    text = get_reporter("text").render(report)
    assert text.splitlines()[-2:] == [f"config: {config}", summary_line(report)]
    document = json.loads(to_json(report))
    validate_json_shape(document)
    assert document["config"] == config
    properties = ET.fromstring(to_junit(report)).iter("property")  # noqa: S314 - our own output
    assert [(p.get("name"), p.get("value")) for p in properties] == [("config", config)]
    exposition = get_reporter("prometheus").render(report).splitlines()
    assert f'istio_vault_ca_config_info{{config="{config}"}} 1.0' in exposition


def test_a_run_without_a_config_names_none() -> None:
    report = Report([passed("chain.key-matches", "ca", "matches")])
    assert "config" not in json.loads(to_json(report))
    assert "config:" not in get_reporter("text").render(report)
    assert "<properties" not in to_junit(report)
    assert "config_info" not in get_reporter("prometheus").render(report)
