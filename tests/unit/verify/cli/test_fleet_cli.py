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
