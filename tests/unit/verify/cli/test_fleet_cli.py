"""`verify fleet`'s refusals before any request: exit 2, the message in our words, and a document on `--output
json` holding the error (as every command's, verify/cli/failure.py); trust domains from the config reach the plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from istio_vault_ca.generator.config.loader import parse_text
from istio_vault_ca.generator.config.plan import plan
from tests.support import EXAMPLES, run_cli, validate_json_shape
from tests.unit.verify.cli.test_error_documents import assert_no_traceback, environment

CONFIG = str(EXAMPLES / "three-clusters.yaml")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--context", "east"), "--context 'east': give CLUSTER=CONTEXT"),
        (("--context", "north=prod"), "--context north=...: no cluster named 'north' in the config (known: east, west"),
        (("--workload-cert-ttl", "soon"), "--workload-cert-ttl 'soon':"),
        (("--workload-cert-ttl", "0s"), "--workload-cert-ttl '0s': '0s' must be longer than zero"),
        (("--warn-days", "-1"), "--warn-days must be 0 or more, not -1"),
        (
            ("--workload-cert-ttl", "20000000h"),
            "--workload-cert-ttl must be at most 876000h (100 years), not 20000000h",
        ),
        (("--warn-days", "99999999999999999999"), "--warn-days must be at most 36500 (100 years)"),
    ],
)
def test_refusals_exit_2_with_a_document(tmp_path: Path, flags: tuple[str, ...], message: str) -> None:
    result = run_cli("verify", "fleet", "-c", CONFIG, *flags, "--output", "json", env=environment(tmp_path))
    assert_no_traceback(result.stderr)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    document = json.loads(result.stdout)
    validate_json_shape(document)
    assert [(row["id"], row["status"]) for row in document["checks"]] == [("command.input", "error")]
    hint = "fix the command line as the finding says (istio-vault-ca verify fleet --help)"
    assert document["checks"][0]["hint"] == hint


@pytest.mark.parametrize("output", ["text", "json", "junit", "prometheus", "html"])
@pytest.mark.parametrize(
    "flags", [("--workload-cert-ttl", "20000000h"), ("--warn-days", "99999999999999999999")], ids=["ttl", "days"]
)
def test_out_of_range_values_are_usage_errors_in_every_format(
    tmp_path: Path, flags: tuple[str, ...], output: str
) -> None:
    """A huge TTL or window used to overflow the date arithmetic: a traceback and 0 bytes, or error rows."""
    result = run_cli("verify", "fleet", "-c", CONFIG, *flags, "--output", output, env=environment(tmp_path))
    assert_no_traceback(result.stderr)
    assert result.returncode == 2, result.stderr
    assert "OverflowError" not in result.stdout + result.stderr
    if output == "text":
        assert result.stdout == ""
    else:
        assert "command.input" in result.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ("verify", "vault", "-c", CONFIG, "--warn-days", "99999999999999999999"),
        ("verify", "cluster", "-c", CONFIG, "--warn-days", "99999999999999999999"),
        ("verify", "chain", ".", "--warn-days", "99999999999999999999"),
        ("plan-rotation", "-c", CONFIG, "--warn-days", "99999999999999999999"),
        ("plan-rotation", "-c", CONFIG, "--root", "--workload-cert-ttl", "20000000h"),
    ],
    ids=["vault", "cluster", "chain", "plan-rotation", "plan-rotation-root"],
)
def test_every_command_of_the_family_refuses_them(tmp_path: Path, argv: tuple[str, ...]) -> None:
    result = run_cli(*argv, env=environment(tmp_path))
    assert_no_traceback(result.stderr)
    assert result.returncode == 2, result.stderr
    assert "must be at most" in result.stderr


def test_trust_domains_default_and_override() -> None:
    config = parse_text(
        "istiod:\n  trust_domain: mesh.example\n  trust_domain_aliases: [old.example]\n"
        "clusters:\n"
        "  - {name: a, intermediate_mount: istioca-a, kv_path: istioca/a, auth_mount: kubernetes-a, policy: p-a}\n"
        "  - {name: b, intermediate_mount: istioca-b, kv_path: istioca/b, auth_mount: kubernetes-b, policy: p-b,\n"
        "     trust_domain: b.example, trust_domain_aliases: [],\n"
        "     kubernetes_auth: {reviewer: client-jwt, kubernetes_host: 'https://api.b.example:6443'}}\n",
        "fleet",
    )
    assert [(p.name, p.trust_domain, p.trust_domain_aliases) for p in plan(config)] == [
        ("a", "mesh.example", ("old.example",)),
        ("b", "b.example", ()),
    ]
