"""`--output html`: the page a reviewer opens from a CI artifact, read back as they would read it.

A fleet of three directories (a good bundle, one whose root-cert.pem holds a private key, one with an expired
intermediate) runs through the CLI in a new process; the page is parsed (xml.etree after the doctype, html.parser
for the tags) and compared with the JSON report of the same directories and with the certificates in the files,
read here with cryptography: the counts, every finding with its hint, each chain's nodes and dates, every
certificate on the timeline. Hostile names, key material and the error documents are checked on their own.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any, NamedTuple
from xml.etree import ElementTree as ET

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from istio_vault_ca.verify.checks.facts import CertificateFact, Facts
from istio_vault_ca.verify.checks.reporters import get_reporter
from istio_vault_ca.verify.checks.result import CheckResult, Report, Status
from tests import pki_factory as pki
from tests.html_page import assert_self_contained, check_rows, parse, section, text_of
from tests.support import run_cli

# The role of each file's certificates, as istiod reads them (ca-cert.pem: its first block only).
ROLES = {"ca-cert.pem": "intermediate", "cert-chain.pem": "chain", "root-cert.pem": "root"}


class Fleet(NamedTuple):
    dirs: dict[str, Path]
    html: str
    code: int
    document: dict[str, Any]
    text: str
    days: set[str]  # the UTC dates the run may have started on


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    base = tmp_path_factory.mktemp("fleet")
    dirs = {
        "east": pki.good_bundle().write(base / "east"),
        "west": pki.BAD_BUNDLES["private key in a certificate file"][0]().write(base / "west"),
        "north": pki.BAD_BUNDLES["expired intermediate"][0]().write(base / "north"),
    }
    before = dt.datetime.now(dt.timezone.utc)
    html = run_cli("verify", "chain", *dirs.values(), "--output", "html")
    after = dt.datetime.now(dt.timezone.utc)
    assert "Traceback" not in html.stderr, html.stderr
    as_json = run_cli("verify", "chain", *dirs.values(), "--output", "json")
    text = run_cli("verify", "chain", *dirs.values(), env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    days = {f"{before:%Y-%m-%d}", f"{after:%Y-%m-%d}"}
    return Fleet(dirs, html.stdout, html.returncode, json.loads(as_json.stdout), text.stdout, days)


def certificates_in(directory: Path) -> list[tuple[str, x509.Certificate]]:
    found: list[tuple[str, x509.Certificate]] = []
    for name, role in ROLES.items():
        data = (directory / name).read_bytes()
        if b"-----BEGIN CERTIFICATE-----" not in data:
            continue
        certificates = x509.load_pem_x509_certificates(data)
        found += [(role, cert) for cert in (certificates[:1] if name == "ca-cert.pem" else certificates)]
    return found


def untimed(text: str) -> str:
    """A finding without the clock times Go's messages quote (the JSON run came seconds after the HTML run)."""
    return re.sub(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "TIME", text)


def day(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d}"


def test_the_summary_counts_are_the_checks(fleet: Fleet) -> None:
    page = parse(fleet.html)
    summary = section(page, "summary")
    counts = {li.get("class"): int(li.get("data-count", "-1")) for li in summary.iter("li")}
    assert counts == fleet.document["summary"]
    assert summary.find(".//ul").get("data-total") == str(len(fleet.document["checks"]))  # type: ignore[union-attr]
    assert fleet.code == 1
    verdict = summary.find(".//span[@class='verdict failed']")
    assert verdict is not None and verdict.text == "FAILED"
    # The summary line is the text report's own last line.
    line = summary.find(".//span[@class='summary-line']")
    assert line is not None and line.text == fleet.text.strip().splitlines()[-1]
    assert page.find(".//title").text == "istio-vault-ca report: FAILED"  # type: ignore[union-attr]


def test_each_finding_is_shown_with_its_hint_worst_first(fleet: Fleet) -> None:
    rows = check_rows(section(parse(fleet.html), "findings"))
    expected = [c for c in fleet.document["checks"] if c["status"] in ("fail", "error", "warn")]
    assert len(rows) == len(expected) == 6
    order = {"fail": 0, "error": 1, "warn": 2}
    assert [order[row.get("class", "").split("status-")[1]] for row in rows] == sorted(
        order[c["status"]] for c in expected
    )
    shown = []
    for row in rows:
        cells = {td.get("class", "").split()[0]: td for td in row.iter("td")}
        hint = cells["finding"].find("div[@class='hint']")
        finding = (cells["finding"].text or "").strip()
        shown.append(
            (
                row.get("data-check"),
                text_of(cells["status"]),
                text_of(cells["target"]),
                finding,
                text_of(hint) if hint is not None else "",
            )
        )
    wanted = [(c["id"], c["status"], c["target"], untimed(c["finding"]), c["hint"]) for c in expected]
    assert sorted((i, s, t, untimed(f), h) for i, s, t, f, h in shown) == sorted(wanted)
    assert all(hint for *_, hint in shown), "every warning and failure has a hint"


def test_every_check_is_listed_under_its_target(fleet: Fleet) -> None:
    targets = section(parse(fleet.html), "targets").findall("details")
    assert [d.get("data-target") for d in targets] == [str(p) for p in fleet.dirs.values()]
    for details in targets:
        own = [c for c in fleet.document["checks"] if c["target"] == details.get("data-target")]
        rows = check_rows(details)
        assert [(r.get("data-check"), r.get("class")) for r in rows] == [
            (c["id"], f"check status-{c['status']}") for c in own
        ]
    # A target with anything but passes is open; one whose checks all passed is folded (still listed).
    for details in targets:
        statuses = {c["status"] for c in fleet.document["checks"] if c["target"] == details.get("data-target")}
        assert (details.get("open") == "open") == (statuses != {"pass"})
    assert [d.get("open") for d in targets] == [None, "open", "open"]


def node_texts(svg: ET.Element) -> list[list[str]]:
    return [[text_of(t) for t in g.iter("text")] for g in svg.iter("g") if "node" in (g.get("class") or "").split()]


def test_each_chain_is_drawn_root_to_intermediate_to_test_leaf(fleet: Fleet) -> None:
    chains = {div.get("data-target"): div for div in section(parse(fleet.html), "chains").findall("div")}
    assert list(chains) == [str(p) for p in fleet.dirs.values()]
    east = chains[str(fleet.dirs["east"])].find(".//svg")
    assert east is not None
    inter, top = pki.good_pair()
    nodes = node_texts(east)
    assert [texts[0] for texts in nodes] == ["root", "intermediate", "test leaf"]
    for texts, cert in zip(nodes, (top.cert, inter.cert), strict=False):
        assert texts[1] == cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        assert texts[2].startswith("RSA 2048 · serial ")
        assert texts[3] == f"{day(cert.not_valid_before_utc)} → {day(cert.not_valid_after_utc)}"
    assert nodes[2][1:] == ["workload-shaped, SPIFFE URI SAN", "EC P-256 · made by the check", "issued and verified"]
    assert len(east.findall(".//g[@class='edge']")) == 2
    north = node_texts(chains[str(fleet.dirs["north"])].find(".//svg"))  # type: ignore[arg-type]
    assert north[2][-1] == "rejected by peers"
    # west's root-cert.pem holds a key, not the root: the root is drawn from cert-chain.pem and says so.
    west = node_texts(chains[str(fleet.dirs["west"])].find(".//svg"))  # type: ignore[arg-type]
    assert [texts[0] for texts in west] == ["root (in cert-chain.pem only)", "intermediate", "test leaf"]
    assert west[2][-1] == "not issued (see the check)"


def test_the_timeline_holds_every_certificate_on_one_axis(fleet: Fleet) -> None:
    timeline = section(parse(fleet.html), "timeline").find(".//svg")
    assert timeline is not None and timeline.get("class") == "timeline"
    shown = {
        (g.get("data-target"), g.get("data-role"), g.get("data-not-after"))
        for g in timeline.iter("g")
        if g.get("data-role")
    }
    expected: dict[tuple[str, str], set[str]] = {}
    for directory in fleet.dirs.values():
        for role, cert in certificates_in(directory):
            expected.setdefault((str(directory), f"{cert.serial_number:x}:{day(cert.not_valid_after_utc)}"), set()).add(
                role
            )
    assert {(t, frozenset(r.split(", ")), d) for t, r, d in shown} == {  # type: ignore[union-attr]
        (target, frozenset(roles), key.split(":")[1]) for (target, key), roles in expected.items()
    }
    assert len(shown) == len(expected) == 6  # two certificates per directory, each read from two files
    today = timeline.find(".//g[@class='today']/text")
    assert today is not None and today.text is not None and today.text.removeprefix("today ") in fleet.days
    window = timeline.find(".//rect[@class='warn-window']/title")
    assert window is not None and window.text == "warning window: 30 days"
    expired = [g.get("data-target") for g in timeline.iter("g") if g.get("class") == "row expiry-expired"]
    assert expired == [str(fleet.dirs["north"])]  # its intermediate (one row: from ca-cert.pem and cert-chain.pem)


def test_the_page_fetches_nothing_and_runs_nothing(fleet: Fleet) -> None:
    assert_self_contained(fleet.html)
    assert "http://" not in fleet.html and "https://" not in fleet.html  # no address among these targets either


def test_no_private_key_reaches_the_page(fleet: Fleet) -> None:
    """Each directory's ca-key.pem, and west's root-cert.pem (a key where the root belongs): none of it shows."""
    assert "PRIVATE KEY-----" not in fleet.html
    keys = [(d / "ca-key.pem").read_text() for d in fleet.dirs.values()]
    keys.append((fleet.dirs["west"] / "root-cert.pem").read_text())
    assert "PRIVATE KEY" in keys[-1]
    lines = [line for key in keys for line in key.splitlines() if not line.startswith("-----")]
    assert len(lines) > 40
    assert not [line for line in lines if line[:24] in fleet.html]


HOSTILE = '<script>alert("x")</script> & "quoted" <img src=x onerror=alert(1)>'


def test_hostile_names_are_text_not_markup() -> None:
    fact = CertificateFact(
        "root", "files", HOSTILE, "", 0, HOSTILE, 2_000_000_000.0, 1_900_000_000.0, HOSTILE, "1f", "EC P-256"
    )
    checks = [
        CheckResult("chain.pem", Status.FAIL, HOSTILE, f"finding {HOSTILE}", f"hint {HOSTILE}"),
        CheckResult(LEAF := "chain.spiffe-leaf", Status.PASS, HOSTILE, HOSTILE),
    ]
    report = Report(checks, Facts([fact], started=1_950_000_000.0, warn_days=30))
    html = get_reporter("html").render(report)
    assert_self_contained(html)
    page = parse(html)
    row = check_rows(section(page, "findings"))[0]
    assert text_of(row.find("td[@class='target mono']")) == HOSTILE  # type: ignore[arg-type]
    assert text_of(row.find(".//div[@class='hint']")) == f"hint {HOSTILE}"  # type: ignore[arg-type]
    assert section(page, "chains").find("div").get("data-target") == HOSTILE  # type: ignore[union-attr]
    labels = [text_of(t) for t in section(page, "timeline").iter("text") if t.get("class") == "row-label"]
    assert labels == [f"{HOSTILE} · root · {HOSTILE}"[:51] + "…"]
    assert LEAF in html


def test_key_material_in_a_result_is_redacted() -> None:
    key = (
        pki.key("ec", 256)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    body = key.splitlines()[1]
    report = Report([CheckResult("chain.pem", Status.FAIL, f"dir {key}", f"holds {key}", f"hint {key}")])
    html = get_reporter("html").render(report)
    assert body[:24] not in html and "PRIVATE KEY-----" not in html
    assert "[redacted PEM]" in html


def test_the_same_report_renders_the_same_bytes(fleet: Fleet) -> None:
    """The page keeps no clock: a report rebuilt from the same values renders byte for byte the same."""
    facts = Facts(
        [
            CertificateFact(
                "root", "files", "d", "", 0, "Root", 2_000_000_000.0, 1_700_000_000.0, "Root", "a", "RSA 2048"
            )
        ],
        started=1_800_000_000.0,
        warn_days=30,
    )
    checks = [
        CheckResult(c["id"], Status(c["status"]), c["target"], c["finding"], c["hint"])
        for c in fleet.document["checks"]
    ]
    first = get_reporter("html").render(Report(checks, facts))
    again = get_reporter("html").render(
        Report(list(checks), Facts(list(facts.certificates), started=1_800_000_000.0, warn_days=30))
    )
    assert first == again
    assert "2027-01-15" in first  # the run's own start, as the data gives it


def test_a_report_without_certificates_says_so() -> None:
    page = parse(
        get_reporter("html").render(Report([CheckResult("vault.reachable", Status.ERROR, "v", "down", "start it")]))
    )
    assert " ".join(text_of(section(page, "chains")).split()) == "Chains This run read no certificate to draw."
    assert " ".join(text_of(section(page, "timeline")).split()) == "Expiry timeline No certificate seen."
    assert section(page, "timeline").find(".//svg") is None


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (("verify", "vault"), (3, "vault.reachable")),
        (("verify", "cluster"), (2, "cluster.api-reachable")),
        (("plan-rotation",), (3, "vault.reachable")),
    ],
)
def test_a_command_that_stops_still_writes_the_page(
    tmp_path: Path, command: tuple[str, ...], expected: tuple[int, str]
) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": "t"}
    env["KUBECONFIG"] = str(tmp_path / "none")
    result = run_cli(*command, "--output", "html", env=env)
    assert "Traceback" not in result.stderr
    assert result.returncode == expected[0], result.stderr
    page = parse(result.stdout)
    [row] = check_rows(section(page, "findings"))
    assert (row.get("data-check"), row.get("class")) == (expected[1], "check status-error")
    assert text_of(row.find("td[@class='finding']")).startswith("cannot ")  # type: ignore[arg-type]
    counts = {li.get("class"): li.get("data-count") for li in section(page, "summary").iter("li")}
    assert counts == {"pass": "0", "warn": "0", "fail": "0", "error": "1", "skip": "0"}
    assert_self_contained(result.stdout)


def test_a_refused_config_is_a_page_too(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("vault:\n  address: 12\n", encoding="utf-8")
    for command in (["verify", "all"], ["rehearse"], ["plan-rotation"]):
        result = run_cli(*command, "-c", bad, "--output", "html", env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
        assert result.returncode == 2, (command, result.stderr)
        [row] = check_rows(section(parse(result.stdout), "findings"))
        assert row.get("data-check") == "config.valid" and "vault.address" in text_of(row)


def test_plan_rotation_root_refuses_html(tmp_path: Path) -> None:
    result = run_cli(
        "plan-rotation", "--root", "--output", "html", env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    )
    assert result.returncode == 2
    assert "plan-rotation --root reports as text" in result.stderr
    [row] = check_rows(section(parse(result.stdout), "findings"))
    assert row.get("data-check") == "command.input"


def test_what_was_checked_where_names_what_istiod_loaded() -> None:
    """verify cluster's targets are pods: the page says what each istiod's log says it loaded."""
    from istio_vault_ca.verify.checks.facts import IstiodCaFact

    pod = "istio-system/istiod-7d9c (cluster east)"
    checks = [
        CheckResult("cluster.istiod-ca-source", Status.PASS, pod, "istiod loaded the plugged-in CA"),
        CheckResult("cluster.istiod-ca-source", Status.FAIL, "istio-system/istiod-x", "self-signed", "plug the CA in"),
    ]
    facts = Facts(
        istiod_ca=[IstiodCaFact(pod, "east", "plugged"), IstiodCaFact("istio-system/istiod-x", "", "self_signed")]
    )
    page = parse(get_reporter("html").render(Report(checks, facts)))
    blocks = {d.get("data-target"): d for d in section(page, "targets").findall("details")}
    assert text_of(blocks[pod].find("summary/span")).endswith("1 check: 1 passed · istiod loaded: plugged")  # type: ignore[arg-type]
    assert blocks[pod].get("open") is None and blocks["istio-system/istiod-x"].get("open") == "open"
    assert "istiod loaded: self_signed" in text_of(blocks["istio-system/istiod-x"])
