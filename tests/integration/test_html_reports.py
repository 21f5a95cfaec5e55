"""`--output html` from commands that read a real OpenBao: a fleet's `verify vault` and `plan-rotation`, and a
whole rehearsal. The pages are parsed and compared with what Vault holds and what the agent wrote."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509

from tests.html_page import assert_self_contained, check_rows, parse, section, text_of
from tests.integration.fleet import cli, client, plans_of, run
from tests.integration.rehearsal_cli import rehearse
from tests.support import EXAMPLES, render_into

pytestmark = pytest.mark.integration

FAST = """\
root: {key_type: ec, key_bits: 256}
intermediate: {key_type: ec, key_bits: 256, ttl: 8760h}
kv: {version: 2}
"""


def day(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d}"


def test_a_fleet_on_one_axis_from_verify_vault_and_plan_rotation(tmp_path: Path, script_env: dict[str, str]) -> None:
    config = EXAMPLES / "three-clusters.yaml"
    tree = render_into(config, tmp_path / "out")
    plans = plans_of(config)
    jwt = tmp_path / "reviewer.jwt"
    jwt.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl")
    env = dict(script_env, TOKEN_REVIEWER_JWT_FILE=str(jwt))
    for script in ["root/vault/setup.sh", *(f"clusters/{p.name}/vault/setup.sh" for p in plans)]:
        assert run(tree, env, script).returncode == 0, script
    vault = client(env)
    root = x509.load_pem_x509_certificate(vault.read("pki/cert/ca")["data"]["certificate"].encode())
    ending = {
        p.name: x509.load_pem_x509_certificate(
            vault.read(f"{p.cluster.intermediate_mount}/cert/ca")["data"]["certificate"].encode()
        ).not_valid_after_utc
        for p in plans
    }
    ends = {name: day(moment) for name, moment in ending.items()}
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=400)
    due_names = sorted(name for name, moment in ending.items() if moment <= soon)
    assert due_names and len(due_names) < len(plans)  # the example's TTLs differ: some are due, some are not

    html = cli(env, "verify", "vault", "-c", str(config), "--output", "html")
    as_json = cli(env, "verify", "vault", "-c", str(config), "--output", "json")
    assert html.returncode == as_json.returncode, html.stderr
    assert_self_contained(html.stdout)
    assert "PRIVATE KEY" not in html.stdout
    page = parse(html.stdout)
    counts = {li.get("class"): int(li.get("data-count", "-1")) for li in section(page, "summary").iter("li")}
    assert counts == json.loads(as_json.stdout)["summary"]
    rows = [g for g in section(page, "timeline").iter("g") if g.get("data-role")]
    # Every cluster's intermediate on the one axis, with the date Vault holds.
    for name, end in ends.items():
        mine = [g for g in rows if (g.get("data-target") or "").endswith(f"(cluster {name})")]
        assert [g.get("data-not-after") for g in mine if "intermediate" in (g.get("data-role") or "")] == [end]
    assert len(section(page, "timeline").findall(".//svg")) == 1

    planned = cli(
        env, "plan-rotation", "-c", str(config), "--warn-days", "400", "-o", str(tmp_path / "rot"), "--output", "html"
    )
    assert planned.returncode == 1, planned.stderr
    assert "Vault at " in planned.stderr and planned.stdout.startswith("<!DOCTYPE html>")
    page = parse(planned.stdout)
    due = [row for row in check_rows(section(page, "findings")) if row.get("data-check") == "rotation.intermediate"]
    names = sorted(text_of(row.find("td[@class='target mono']")).rsplit("cluster ", 1)[1].rstrip(")") for row in due)  # type: ignore[arg-type]
    assert names == due_names, text_of(section(page, "findings"))
    for row in due:
        name = text_of(row.find("td[@class='target mono']")).rsplit("cluster ", 1)[1].rstrip(")")  # type: ignore[arg-type]
        assert f"rot/{name}/rotate-intermediate.sh" in text_of(row)
        assert (tmp_path / "rot" / name / "rotate-intermediate.sh").is_file()
    chains = section(page, "chains").findall("div[@data-target]")
    assert len(chains) == len(plans)
    for chain in chains:
        titles = [text_of(t) for t in chain.iter("text") if t.get("class") == "node-title"]
        assert titles == ["root", "intermediate"]
        subjects = [text_of(t) for t in chain.iter("text") if t.get("class") == "node-line"]
        assert subjects[2] == f"{day(root.not_valid_before_utc)} → {day(root.not_valid_after_utc)}"


def test_a_rehearsal_draws_the_files_the_agent_wrote(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(FAST)
    keep = tmp_path / "kept"
    result = rehearse(tmp_path, "-c", str(config), "--keep", str(keep), "--output", "html")
    assert result.returncode == 0, result.stderr
    assert_self_contained(result.stdout)
    key = (keep / "ca-key.pem").read_text()
    assert not [line for line in key.splitlines()[1:-1] if line[:24] in result.stdout]
    page = parse(result.stdout)
    [chain] = section(page, "chains").findall("div[@data-target]")
    nodes = [text_of(t) for t in chain.iter("text") if t.get("class") == "node-title"]
    assert nodes == ["root", "intermediate", "test leaf"]
    leaf = [g for g in chain.iter("g") if "cert-leaf" in (g.get("class") or "")]
    assert leaf[0].get("class") == "node cert-leaf status-pass"
    ca = x509.load_pem_x509_certificate((keep / "ca-cert.pem").read_bytes())
    top = x509.load_pem_x509_certificate((keep / "root-cert.pem").read_bytes())
    shown = {
        (g.get("data-role"), g.get("data-not-after")) for g in section(page, "timeline").iter("g") if g.get("data-role")
    }
    assert shown == {
        ("intermediate, chain", day(ca.not_valid_after_utc)),
        ("chain, root", day(top.not_valid_after_utc)),
    }
    counts = {li.get("class"): li.get("data-count") for li in section(page, "summary").iter("li")}
    assert counts["fail"] == counts["error"] == "0"
