"""Issue 27 §4: the right exit code, no traceback, and a complete document on every `--output`.

Each test runs the CLI as a user does (a new process through run_cli) and asserts the exit code, the message on
stderr and that the document on stdout parses (json.loads, xml.etree) and holds the error as an `error` entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests import pki_factory
from tests.http_answers import answering
from tests.support import run_cli, validate_json_shape

# A port nothing listens on: connecting is refused at once.
REFUSED_VAULT = "http://127.0.0.1:9"


def environment(tmp_path: Path) -> dict[str, str]:
    """A clean environment: Vault refused at once, no token from the user's home, no kubeconfig of theirs."""
    import os

    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(HOME=str(tmp_path), VAULT_ADDR=REFUSED_VAULT, VAULT_TOKEN="t", KUBECONFIG=str(tmp_path / "none"))
    return env


def junit_cases(text: str) -> list[ET.Element]:
    root = ET.fromstring(text)  # noqa: S314 - our own output
    assert root.tag == "testsuites"
    return root.findall("./testsuite/testcase")


def assert_no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr


# ------------------------------------------------------------------ a CA file that is a symlink loop


@pytest.mark.parametrize("name", ["ca-cert.pem", "root-cert.pem"])
def test_a_symlink_loop_is_a_failed_check_naming_the_file(tmp_path: Path, name: str) -> None:
    directory = pki_factory.good_bundle().write(tmp_path / "ca")
    (directory / name).unlink()
    (directory / name).symlink_to(name)  # points at itself: ELOOP on open
    result = run_cli("verify", "chain", directory, "--output", "json", env=environment(tmp_path))
    assert_no_traceback(result.stderr)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    validate_json_shape(document)
    present = next(c for c in document["checks"] if c["id"] == "chain.file-present")
    assert present["status"] == "fail"
    assert name in present["finding"] and "symbolic link" in present["finding"]

    text = run_cli("verify", "chain", directory, env=environment(tmp_path))
    assert_no_traceback(text.stderr)
    assert text.returncode == 1 and "symbolic link" in text.stdout


def test_an_unreadable_ca_file_names_the_file_and_the_reason(tmp_path: Path) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads a file whatever its mode")
    directory = pki_factory.good_bundle().write(tmp_path / "ca")
    (directory / "cert-chain.pem").chmod(0)
    result = run_cli("verify", "chain", directory, "--output", "junit", env=environment(tmp_path))
    assert_no_traceback(result.stderr)
    assert result.returncode == 1
    failure = next(c for c in junit_cases(result.stdout) if c.get("name") == "chain.file-present").find("failure")
    assert failure is not None and "cert-chain.pem cannot be read" in failure.get("message", "")


# ------------------------------------------------------------------ an API server address that is not one


@pytest.fixture(params=[(502, "text/html"), (503, "text/plain"), (404, "text/plain"), (500, "text/html")])
def not_an_api_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """A local server answering every GET with the given status and a non-JSON body, as a load balancer does."""
    status, content_type = request.param
    with answering(status, content_type, f"<h1>{status} oops</h1>".encode()) as server:
        yield server, status


def kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: lb\n"
        f"clusters:\n- name: lb\n  cluster:\n    server: {server}\n"
        "users:\n- name: me\n  user:\n    token: abc\n"
        "contexts:\n- name: lb\n  context:\n    cluster: lb\n    user: me\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("output", ["junit", "json", "text"])
def test_an_error_page_from_the_api_server_address_exits_3(
    tmp_path: Path, not_an_api_server: tuple[str, int], output: str
) -> None:
    server, status = not_an_api_server
    config = kubeconfig(tmp_path, server)
    result = run_cli("verify", "cluster", "--kubeconfig", config, "--output", output, env=environment(tmp_path))
    assert_no_traceback(result.stderr)
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"the server at {server} answered {status}" in result.stderr
    assert "what to do:" in result.stderr
    if output == "junit":
        [case] = junit_cases(result.stdout)
        error = case.find("error")
        assert case.get("name") == "cluster.api-reachable" and error is not None
        assert str(status) in error.get("message", "")
    elif output == "json":
        document = json.loads(result.stdout)
        validate_json_shape(document)
        assert [(c["id"], c["status"]) for c in document["checks"]] == [("cluster.api-reachable", "error")]
        assert document["checks"][0]["hint"]


# ------------------------------------------------------------------ Vault unreachable, a config refused


@pytest.mark.parametrize("target", ["vault", "cluster"])
@pytest.mark.parametrize("output", ["json", "junit", "prometheus"])
def test_every_output_is_a_document_when_the_command_stops(tmp_path: Path, target: str, output: str) -> None:
    # verify vault stops at the refused Vault; verify cluster at the kubeconfig that does not exist.
    result = run_cli("verify", target, "--output", output, env=environment(tmp_path))
    assert_no_traceback(result.stderr)
    expected = {"vault": (3, "vault.reachable"), "cluster": (2, "cluster.api-reachable")}[target]
    assert result.returncode == expected[0], result.stderr
    assert result.stdout, "no document written"
    if output == "json":
        document = json.loads(result.stdout)
        validate_json_shape(document)
        assert [(c["id"], c["status"]) for c in document["checks"]] == [(expected[1], "error")]
        assert document["summary"]["error"] == 1
    elif output == "junit":
        [case] = junit_cases(result.stdout)
        assert case.get("name") == expected[1] and case.find("error") is not None
    else:
        from prometheus_client.parser import text_string_to_metric_families

        families = {family.name: family for family in text_string_to_metric_families(result.stdout)}
        samples = families["istio_vault_ca_reachable"].samples
        service = {"vault": "vault", "cluster": "kubernetes"}[target]
        assert [(sample.labels["service"], sample.value) for sample in samples] == [(service, 0.0)]


def test_a_refused_config_is_a_document_too(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("vault:\n  address: 12\n", encoding="utf-8")
    for command in (["verify", "vault"], ["verify", "chain", "--from-vault"], ["verify", "all"], ["rehearse"]):
        result = run_cli(*command, "-c", bad, "--output", "json", env=environment(tmp_path))
        assert_no_traceback(result.stderr)
        assert result.returncode == 2, (command, result.stderr)
        document = json.loads(result.stdout)
        validate_json_shape(document)
        [entry] = document["checks"]
        assert (entry["id"], entry["status"], entry["target"]) == ("config.valid", "error", str(bad))
        assert "vault.address" in entry["finding"]


def test_the_hint_for_a_truncated_pem_survives_redaction(tmp_path: Path) -> None:
    directory = pki_factory.good_bundle().write(tmp_path / "ca")
    key = (directory / "ca-key.pem").read_text(encoding="ascii")
    (directory / "ca-cert.pem").write_text((directory / "ca-cert.pem").read_text()[:300], encoding="ascii")
    (directory / "ca-key.pem").write_text(key[:200], encoding="ascii")  # a truncated key: its bytes stay hidden
    result = run_cli("verify", "chain", directory, "--output", "json", env=environment(tmp_path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    document = json.loads(result.stdout)
    validate_json_shape(document)
    words = " ".join(c["finding"] + " " + c["hint"] for c in document["checks"])
    assert "(a -----BEGIN line without its -----END?)" in words
    assert all(line not in result.stdout for line in key.splitlines()[1:3])


# ------------------------------------------------------------------ a YAML file that is not a kubeconfig


@pytest.mark.parametrize(
    ("text", "says"),
    [("a: 1\n", "it has no 'clusters' section"), ("- just\n- a list\n", "is not a kubeconfig")],
)
def test_a_file_that_is_not_a_kubeconfig_says_so_in_our_words(tmp_path: Path, text: str, says: str) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(text, encoding="utf-8")
    result = run_cli("verify", "cluster", "--kubeconfig", config, "--output", "json", env=environment(tmp_path))
    assert_no_traceback(result.stderr)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{config} is not a kubeconfig" in result.stderr and says in result.stderr
    validate_json_shape(json.loads(result.stdout))
