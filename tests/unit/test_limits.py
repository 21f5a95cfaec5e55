"""Every input we read is bounded: the config (size, aliases, depth, strings, clusters), the CA files (size, kind),
Vault's and the API server's answers, pod exec output and TokenReview bodies. Each limit is refused with a message
naming it; nothing here asserts how fast the normal path is (subprocess timeouts are only a safety net)."""

from __future__ import annotations

import http.client
import json
import os
import resource
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from istio_vault_ca.generator.config import loader
from istio_vault_ca.generator.errors import (
    ConfigError,
    FileRefused,
    KubeAccessError,
    KubeResponseTooLarge,
    VaultResponseTooLarge,
)
from istio_vault_ca.verify.checks import chain
from istio_vault_ca.verify.clients import files
from tests import pki_factory as pki

REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
CLI = "import sys; from istio_vault_ca.verify.cli.parser import main; sys.exit(main(sys.argv[1:]))"


def alias_bomb() -> str:
    """Nine levels of nine references (9**9 strings once expanded), ending in root.common_name: *i."""
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\nroot:\n  common_name: *i\n"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (200 * MiB, 200 * MiB))


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a child limited to 200 MB of address space; the timeout is a safety net, not an assertion."""
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
        check=False,
    )


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        loader.parse_text(text, "test.yaml")
    return [str(problem) for problem in caught.value.problems]


# ---------------------------------------------------------------- config


def test_alias_bomb_exits_2_in_bounded_memory(tmp_path: Path) -> None:
    config = tmp_path / "bomb.yaml"
    config.write_text(alias_bomb(), encoding="utf-8")
    assert len(alias_bomb()) < 2048
    result = run_cli("validate", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "aliases expand to more than 50,000 nodes" in result.stderr
    assert "(line 5)" in result.stderr  # where the budget ran out: e's list of *d
    assert "Traceback" not in result.stderr


def test_merge_keys_across_the_largest_fleet_stay_within_the_alias_budget() -> None:
    defaults = "defaults: &defaults {role: istiod, intermediate: {common_name: Mesh Intermediate, ttl: 8760h}}\n"
    clusters = "".join(
        f"  - {{<<: *defaults, name: c{i}, intermediate_mount: ica-{i}, kv_path: ica/{i}, auth_mount: k8s-{i}, "
        f"policy: ica-{i}, kubernetes_auth: {{reviewer: client-jwt, kubernetes_host: 'https://api{i}.example:6443'}}}}\n"
        for i in range(loader.MAX_CLUSTERS)
    )
    text = "x-defaults:\n  " + defaults.replace("defaults: ", "d: ") + "clusters:\n" + clusters
    text = text.replace("  d: &defaults", "  d: &defaults")
    # x-defaults is not a field: the only problem is that unknown key, so every alias was expanded and checked.
    assert problems(text) == [
        "x-defaults (line 1): unknown field (check the spelling; `istio-vault-ca schema` lists every field)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: " + "[" * 200 + "]" * 200 + "\n", "(document) (line 1): nested deeper than 24 levels"),
        (
            "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 40)),
            "nested deeper than 24 levels (through *a22 here)",
        ),
        ("a: &a [1, *a]\n", "a[1] (line 1): alias *a refers to itself (a recursive alias)"),
        ("root:\n  common_name: " + "x" * 20_000 + "\n", "root.common_name (line 2): a value of 20,000 characters"),
        ("clusters:\n" + "  - {name: c}\n" * 257, "clusters (line 1): 257 clusters; at most 256 are supported"),
    ],
    ids=["flow-nesting", "alias-nesting", "recursive-alias", "long-string", "clusters"],
)
def test_each_config_limit_is_a_located_problem(text: str, expected: str) -> None:
    found = problems(text)
    assert len(found) == 1
    assert expected in found[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the shape make fuzz found: ruamel hashed the key while building the mapping and raised TypeError
        ("istiod:\n  ? outputs: [helm]\n", "istiod (line 2): a key must be a plain name, not a mapping"),
        ("? [a, b]\n: c\n", "(document) (line 1): a key must be a plain name, not a list"),
        ("vault: {? {a: 1}: b}\n", "vault (line 1): a key must be a plain name, not a mapping"),
    ],
    ids=["mapping-holding-a-list", "list", "flow-mapping"],
)
def test_a_key_that_is_not_a_plain_name_is_a_located_problem(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_oversized_config_is_refused_before_parsing(tmp_path: Path) -> None:
    config = tmp_path / "big.yaml"
    config.write_bytes(b"# " + b"x" * (loader.MAX_CONFIG_BYTES + 10) + b"\n")
    with pytest.raises(ConfigError) as caught:
        loader.load(str(config))
    assert "more than the 262,144 a config may have" in str(caught.value)


def test_endless_config_stream_is_read_no_further_than_the_limit(tmp_path: Path) -> None:
    result = run_cli("validate", "-c", "/dev/zero", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "a config may have" in result.stderr


# ---------------------------------------------------------------- CA files


def write_good(directory: Path) -> Path:
    return pki.good_bundle().write(directory)


def test_oversized_ca_key_is_refused_naming_file_and_size(tmp_path: Path) -> None:
    directory = write_good(tmp_path / "ca")
    with (directory / "ca-key.pem").open("wb") as key:
        key.truncate(files.MAX_CA_FILE_BYTES + 1)
    values, _mode = chain.read_dir(directory)
    assert values["ca-key.pem"] is None
    assert isinstance(values, files.DirValues)
    assert values.refused == {
        "ca-key.pem": "ca-key.pem is 1,048,577 bytes, more than the 1,048,576 a CA file may have "
        "(the real ones are a few KiB): not read"
    }
    present = chain.check_dir(directory)[0]
    assert (present.id, present.status.value) == ("chain.file-present", "fail")
    assert present.finding == values.refused["ca-key.pem"], "the finding names the file, its size and the limit"


def test_fifo_ca_key_is_refused_without_blocking(tmp_path: Path) -> None:
    directory = write_good(tmp_path / "ca")
    (directory / "ca-key.pem").unlink()
    os.mkfifo(directory / "ca-key.pem")
    result = run_cli("verify", "chain", str(directory), cwd=tmp_path)  # a blocking open would hang here
    assert result.returncode == 1, result.stderr
    assert "chain.file-present" in result.stdout
    values, _mode = chain.read_dir(directory)
    assert isinstance(values, files.DirValues)
    assert values.refused == {"ca-key.pem": "ca-key.pem is a FIFO (named pipe), not a regular file: not read"}


def test_character_device_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileRefused, match="zero is a character device"):
        files.read_bounded(Path("/dev/zero"))


def test_symlinked_files_as_in_a_secret_volume_are_read(tmp_path: Path) -> None:
    data = write_good(tmp_path / "..2026_01_01")
    directory = tmp_path / "mounted"
    directory.mkdir()
    (tmp_path / "..data").symlink_to(data.name)
    for name in ("ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"):
        (directory / name).symlink_to(Path("..") / "..data" / name)
    values, _mode = chain.read_dir(directory)
    assert [name for name in chain.CA_FILES if values[name] is None] == []  # names only: never print key bytes
    assert isinstance(values, files.DirValues)
    assert values.refused == {}


def test_a_chain_of_10000_certificates_is_refused_by_size(tmp_path: Path) -> None:
    inter, top = pki.good_pair()
    directory = write_good(tmp_path / "ca")
    (directory / "cert-chain.pem").write_bytes(inter.pem + top.pem * 9_999)
    result = run_cli("verify", "chain", str(directory), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "chain.file-present" in result.stdout
    values, _mode = chain.read_dir(directory)
    assert isinstance(values, files.DirValues)
    assert "cert-chain.pem is 11," in values.refused["cert-chain.pem"]


def test_a_chain_of_more_certificates_than_any_deployment_warns(tmp_path: Path) -> None:
    inter, top = pki.good_pair()
    directory = write_good(tmp_path / "ca")
    (directory / "cert-chain.pem").write_bytes(inter.pem + top.pem * files.MAX_CHAIN_CERTS)
    results = {r.id: r for r in chain.check_dir(directory)}
    assert results["chain.cert-count"].status.value == "warn"
    assert "cert-chain.pem holds 17 certificates, more than the 16" in results["chain.cert-count"].finding
    assert not any(r.failed for r in results.values()), "istiod loads it: a warning, not a failure"


# ---------------------------------------------------------------- network


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def huge_body_handler(*, announce: bool, encoding: str | None = None) -> type[BaseHTTPRequestHandler]:
    """Answers every GET with 40 MiB of JSON-ish bytes, announced (Content-Length) or chunked."""
    total = 40 * MiB

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if encoding:
                self.send_header("Content-Encoding", encoding)
            if announce:
                self.send_header("Content-Length", str(total))
            else:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            block = b"[" + b"0," * (MiB // 2 - 1) + b"0"
            try:
                for _ in range(total // len(block)):
                    if announce:
                        self.wfile.write(block)
                    else:
                        self.wfile.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
                if not announce:
                    self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def serve() -> Iterator[Callable[[type[BaseHTTPRequestHandler]], str]]:
    servers: list[_Server] = []

    def start(handler: type[BaseHTTPRequestHandler]) -> str:
        servers.append(_Server(handler))
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("announce", [True, False], ids=["content-length", "chunked"])
def test_oversized_vault_answer_is_refused_naming_the_limit(
    serve: Callable[[type[BaseHTTPRequestHandler]], str], announce: bool
) -> None:
    from istio_vault_ca.verify.clients.vault import VaultApi, settings_from_env

    url = serve(huge_body_handler(announce=announce))
    api = VaultApi(settings_from_env(url, {"VAULT_ADDR": url, "VAULT_TOKEN": "t", "HOME": "/nonexistent"}))
    with pytest.raises(VaultResponseTooLarge) as caught:
        api.health()
    assert caught.value.exit_code == 3
    assert "we read at most 8,388,608 bytes (8 MiB)" in str(caught.value)
    assert "GET /v1/sys/health" in str(caught.value)
    with pytest.raises(VaultResponseTooLarge):
        api.read("pki/cert/ca")


def test_oversized_vault_answer_exits_3_from_the_cli(
    serve: Callable[[type[BaseHTTPRequestHandler]], str], tmp_path: Path
) -> None:
    url = serve(huge_body_handler(announce=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update(VAULT_ADDR=url, VAULT_TOKEN="t", HOME=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", CLI, "verify", "vault"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
        check=False,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "we read at most 8,388,608 bytes (8 MiB)" in result.stderr


@pytest.mark.parametrize("announce", [True, False], ids=["content-length", "chunked"])
def test_oversized_api_server_answer_is_refused_naming_the_limit(
    serve: Callable[[type[BaseHTTPRequestHandler]], str], announce: bool
) -> None:
    import httpx2

    from istio_vault_ca.verify.clients.kube import bound_responses

    url = serve(huge_body_handler(announce=announce))
    with httpx2.Client(timeout=10) as client:
        bound_responses(client, url, limit=8 * MiB)
        with pytest.raises(KubeResponseTooLarge, match=r"we read at most 8,388,608 bytes \(8 MiB\)") as caught:
            client.get(f"{url}/api/v1/namespaces")
    assert caught.value.exit_code == 3


def test_compressed_api_server_answer_is_refused(serve: Callable[[type[BaseHTTPRequestHandler]], str]) -> None:
    import httpx2

    from istio_vault_ca.verify.clients.kube import bound_responses

    url = serve(huge_body_handler(announce=True, encoding="gzip"))
    with httpx2.Client(timeout=10) as client:
        bound_responses(client, url)
        assert client.headers["Accept-Encoding"] == "identity"
        with pytest.raises(KubeAccessError, match="gzip-compressed"):
            client.get(f"{url}/api/v1/namespaces")


def test_pod_command_output_is_bounded() -> None:
    from istio_vault_ca.generator.errors import PodFilesError
    from istio_vault_ca.verify.clients import podfiles

    host = podfiles.get_host("local://", timeout=60)
    with pytest.raises(PodFilesError, match=r"more than 1,114,112 bytes of output"):
        host.run("cat /dev/zero")
    assert host.run("printf ok").stdout == "ok"


def test_tokenreview_refuses_a_huge_body_without_reading_it() -> None:
    from istio_vault_ca.verify.rehearsal import tokenreview

    endpoint = tokenreview.start()
    try:
        context = ssl.create_default_context(cadata=endpoint.ca_pem.decode())
        host, port = endpoint.url.removeprefix("https://").split(":")
        connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=30)
        connection.putrequest("POST", tokenreview.REVIEW_PATH)
        connection.putheader("Authorization", f"Bearer {endpoint.signer.mint('default', 'reviewer')}")
        connection.putheader("Content-Length", str(10**12))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["code"] == 413
        connection.close()
    finally:
        endpoint.stop()
