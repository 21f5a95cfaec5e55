"""`verify vault` and `verify chain --from-vault` against a real OpenBao dev server configured by the rendered
scripts: a healthy Vault passes every check, each drift is caught by its check id, and an unusable Vault
(down, sealed, wrong token, TLS mismatch) exits 3 quickly with a message saying what to do.

To keep the suite fast, one configured server serves the read-only tests and every drift that can be undone
(each undoes itself and the test proves it did); the re-signed intermediate gets a fresh server.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import hvac
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from istio_vault_ca.generator.config.loader import STARTER, load
from istio_vault_ca.generator.config.plan import plan
from istio_vault_ca.generator.errors import VaultTlsRefused, VaultUnreachable
from istio_vault_ca.verify.checks.result import Status
from istio_vault_ca.verify.checks.vault import check_vault
from istio_vault_ca.verify.cli.parser import main
from istio_vault_ca.verify.clients.vault import READ_TIMEOUT, Settings, VaultApi, settings_from_env
from istio_vault_ca.verify.rehearsal.openbao import START_TIMEOUT, STARTED_BANNER, DevServer, find_bao, free_port
from tests.support import render_into, require_openbao, run_setup, server_under_test, validate_json_shape, wait_until
from tests.vault_setup import EC_CONFIG, Configured, cli, configure

# The built-in default says vault.flavor: vault; the OpenBao dev server standing in for Vault (with
# unsafe_allow_api_audit_creation) is told apart by its version, and vault.reachable warns of the mismatch.
FLAVOR_WARNING = {"vault.reachable": "warn"} if server_under_test()[1] == "openbao" else {}


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Configured]:
    """The built-in default config, configured once. Drift tests change it and undo their change."""
    configured = configure(tmp_path_factory.mktemp("healthy"), STARTER.read_text(encoding="utf-8"))
    yield configured
    configured.server.stop()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Configured]:
    configured = configure(tmp_path / "fresh", EC_CONFIG)
    yield configured
    configured.server.stop()


def stored_key_lines(configured: Configured) -> list[str]:
    key = configured.client().read("kv/istioca")["data"]["ca-key.pem"]
    return [line for line in key.splitlines() if "-----" not in line]


# ---------------------------------------------------------------- a healthy Vault


@pytest.mark.integration
def test_healthy_vault_passes_every_check(healthy: Configured) -> None:
    code, out, err = cli(healthy.env, "verify", "vault", "-c", str(healthy.config_path), "--output", "json")
    assert code == 0, out + err
    document = json.loads(out)
    validate_json_shape(document)
    assert {c["id"]: c["status"] for c in document["checks"] if c["status"] != "pass"} == FLAVOR_WARNING
    warned = len(FLAVOR_WARNING)
    assert document["summary"] == {
        "pass": len(document["checks"]) - warned,
        "warn": warned,
        "fail": 0,
        "error": 0,
        "skip": 0,
    }
    ids = [c["id"] for c in document["checks"]]
    assert len(ids) == len(set(ids)) == 21
    assert all(line not in out + err for line in stored_key_lines(healthy))


@pytest.mark.integration
def test_each_check_names_the_api_path_it_reads(healthy: Configured) -> None:
    by_id = healthy.check()
    assert by_id["vault.audit-device"].target == "sys/audit"
    assert by_id["vault.intermediate-mount"].target == "sys/mounts (istioca/)"
    assert by_id["vault.kv-key-matches"].target == "kv/istioca"
    assert by_id["vault.intermediate-chain"].target == "istioca/cert/ca_chain"
    assert by_id["vault.k8s-role-binding"].target == "auth/kubernetes/role/istiod"
    assert by_id["vault.policy-text"].target == "sys/policies/acl/istioca"
    assert by_id["vault.policy-grants-read"].target == "sys/capabilities (istioca)"


@pytest.mark.integration
def test_one_cluster_costs_few_requests(healthy: Configured) -> None:
    config = load(str(healthy.config_path)).config
    api = VaultApi(Settings(healthy.server.address, healthy.server.token, True, None))
    check_vault(api, config, plan(config))
    assert api.requests <= 16, f"{api.requests} requests for one cluster (goal: at most 30)"


@pytest.mark.integration
def test_the_capabilities_probe_token_is_revoked(healthy: Configured) -> None:
    vault = healthy.client()
    before = set(vault.list("auth/token/accessors")["data"]["keys"])
    healthy.check()
    assert set(vault.list("auth/token/accessors")["data"]["keys"]) == before


@pytest.mark.integration
def test_junit_output_parses(healthy: Configured) -> None:
    code, out, _ = cli(healthy.env, "verify", "vault", "-c", str(healthy.config_path), "--output", "junit")
    assert code == 0
    suite = ET.fromstring(out).find("testsuite")  # noqa: S314 - our own output
    assert suite is not None and suite.get("failures") == "0"
    assert len(suite.findall("testcase")) == 21


@pytest.mark.integration
def test_chain_from_vault_reads_what_the_agent_would_and_passes(healthy: Configured) -> None:
    code, out, err = cli(
        healthy.env, "verify", "chain", "--from-vault", "-c", str(healthy.config_path), "--output", "json"
    )
    assert code == 0, out + err
    checks = json.loads(out)["checks"]
    assert {c["id"]: c["finding"] for c in checks if c["status"] != "pass"} == {}
    assert "chain.spiffe-leaf" in {c["id"] for c in checks}
    pem = next(c for c in checks if c["id"] == "chain.pem")
    assert "ca-key.pem from kv/istioca" in pem["finding"]
    assert all(line not in out + err for line in stored_key_lines(healthy))


@pytest.mark.integration
def test_text_output_is_a_table_with_a_summary(healthy: Configured) -> None:
    code, out, _ = cli(healthy.env, "verify", "vault", "-c", str(healthy.config_path))
    assert code == 0
    assert "vault.k8s-role-binding" in out
    warned = len(FLAVOR_WARNING)
    assert (
        out.rstrip().splitlines()[-1] == f"OK: {21 - warned} passed, {warned} warned, 0 failed, 0 errored (21 checks)"
    )


# ---------------------------------------------------------------- drifts that undo themselves


Undo = Callable[[], None]


def _tune(mount: str, ttl: str) -> Callable[[Any], Undo]:
    def apply(vault: Any) -> Undo:
        before = vault.read(f"sys/mounts/{mount}/tune")["data"]["max_lease_ttl"]
        vault.write_data(f"sys/mounts/{mount}/tune", data={"max_lease_ttl": ttl})
        return lambda: vault.write_data(f"sys/mounts/{mount}/tune", data={"max_lease_ttl": before})

    return apply


def _role(**changes: object) -> Callable[[Any], Undo]:
    def apply(vault: Any) -> Undo:
        path = "auth/kubernetes/role/istiod"
        before = vault.read(path)["data"]
        vault.write_data(path, data={**before, **changes})
        return lambda: vault.write_data(path, data=before)

    return apply


def _policy(text: str) -> Callable[[Any], Undo]:
    def apply(vault: Any) -> Undo:
        before = vault.read("sys/policies/acl/istioca")["data"]["policy"]
        vault.write_data("sys/policies/acl/istioca", data={"policy": text})
        return lambda: vault.write_data("sys/policies/acl/istioca", data={"policy": before})

    return apply


def _remove_audit(vault: Any) -> Undo:
    options = vault.read("sys/audit")["data"]["file/"]["options"]
    vault.sys.disable_audit_device("file")
    return lambda: vault.sys.enable_audit_device("file", path="file", options=options)


def _replace_kv_key(vault: Any) -> Undo:
    before = vault.read("kv/istioca")["data"]
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    vault.write_data("kv/istioca", data={"ca-key.pem": other.decode()})
    return lambda: vault.write_data("kv/istioca", data=before)


def _move_mount(vault: Any) -> Undo:
    vault.sys.move_backend("istioca", "istioca-moved")
    return lambda: vault.sys.move_backend("istioca-moved", "istioca")


def _upgrade_kv(vault: Any) -> Undo:
    """Upgrade kv/ to version 2 in place; undo: a new version-1 mount holding the same key."""
    before = vault.read("kv/istioca")["data"]
    vault.write_data("sys/mounts/kv/tune", data={"options": {"version": "2"}})

    def undo() -> None:
        vault.sys.disable_secrets_engine("kv")
        vault.sys.enable_secrets_engine("kv", path="kv", options={"version": "1"})
        vault.write_data("kv/istioca", data=before)

    return undo


def _remove_k8s_auth(vault: Any) -> Undo:
    config = vault.read("auth/kubernetes/config")["data"]
    role = vault.read("auth/kubernetes/role/istiod")["data"]
    vault.sys.disable_auth_method("kubernetes")

    def undo() -> None:
        vault.sys.enable_auth_method("kubernetes", path="kubernetes")
        vault.write_data(
            "auth/kubernetes/config",
            data={k: config[k] for k in ("kubernetes_host", "kubernetes_ca_cert", "disable_local_ca_jwt")},
        )
        vault.write_data("auth/kubernetes/role/istiod", data=role)

    return undo


POLICY_PLUS_WILDCARD = """
path "istioca/cert/ca" { capabilities = ["read"] }
path "istioca/cert/ca_chain" { capabilities = ["read"] }
path "kv/istioca" { capabilities = ["read"] }
path "pki/cert/ca" { capabilities = ["read"] }
path "kv/*" { capabilities = ["read", "list"] }
"""
POLICY_WITHOUT_KV = """
path "istioca/cert/ca" { capabilities = ["read"] }
path "istioca/cert/ca_chain" { capabilities = ["read"] }
path "pki/cert/ca" { capabilities = ["read"] }
"""

UNDOABLE: dict[str, tuple[Callable[[Any], Undo], str, str]] = {
    # drift -> (apply, check id that must fail, words its finding must contain)
    "audit device removed": (_remove_audit, "vault.audit-device", "no audit device at file/"),
    "wrong intermediate max TTL": (_tune("istioca", "8760h"), "vault.intermediate-mount", "8760h"),
    "root max TTL below the intermediate's": (_tune("pki", "8760h"), "vault.root-mount", "signed shorter"),
    "role bound to another service account": (
        _role(bound_service_account_names=["default"]),
        "vault.k8s-role-binding",
        "['default']",
    ),
    "role bound to another namespace": (
        _role(bound_service_account_namespaces=["default"]),
        "vault.k8s-role-binding",
        "in namespaces ['default']",
    ),
    "role without the policy": (_role(token_policies=["default"]), "vault.k8s-role-policy", "not 'istioca'"),
    "role with another token period": (_role(token_period=3600), "vault.k8s-role-period", "3600s"),
    "policy edited": (_policy(POLICY_PLUS_WILDCARD), "vault.policy-text", "extra path 'kv/*'"),
    "policy no longer grants the key": (_policy(POLICY_WITHOUT_KV), "vault.policy-grants-read", "kv/istioca"),
    "KV key replaced by another key": (_replace_kv_key, "vault.kv-key-matches", "does not belong"),
    "intermediate mount missing": (_move_mount, "vault.intermediate-mount", "no secrets engine at istioca/"),
    "KV mount of the other version": (_upgrade_kv, "vault.kv-mount", "KV version 2, the config says 1"),
    "Kubernetes auth method removed": (_remove_k8s_auth, "vault.k8s-auth-mount", "no auth method at auth/kubernetes/"),
}


@pytest.mark.integration
@pytest.mark.parametrize("drift", sorted(UNDOABLE))
def test_drift_is_caught_by_its_check(drift: str, healthy: Configured) -> None:
    apply, check_id, words = UNDOABLE[drift]
    undo = apply(healthy.client())
    try:
        results = healthy.check()
    finally:
        undo()
    result = results[check_id]
    assert result.status is Status.FAIL, f"{drift}: {check_id} is {result.status.value}: {result.finding}"
    assert words in result.finding
    assert result.hint
    assert [r.id for r in results.values() if r.status is Status.ERROR] == []
    restored = {r.id: r.status.value for r in healthy.check().values() if r.status is not Status.PASS}
    assert restored == FLAVOR_WARNING, "undo restored it"


@pytest.mark.integration
def test_drift_exits_1_on_the_command_line(healthy: Configured) -> None:
    undo = _role(bound_service_account_namespaces=["default"])(healthy.client())
    try:
        code, out, err = cli(healthy.env, "verify", "vault", "-c", str(healthy.config_path))
    finally:
        undo()
    assert code == 1, out + err
    assert "vault.k8s-role-binding" in out
    warned = len(FLAVOR_WARNING)
    assert f"FAILED: {20 - warned} passed, {warned} warned, 1 failed" in out


@pytest.mark.integration
def test_replaced_kv_key_is_never_printed(healthy: Configured) -> None:
    vault = healthy.client()
    undo = _replace_kv_key(vault)
    try:
        lines = stored_key_lines(healthy)
        code, out, err = cli(healthy.env, "verify", "chain", "--from-vault", "-c", str(healthy.config_path))
    finally:
        undo()
    assert code == 1
    assert "chain.key-matches-cert" in out
    assert all(line not in out + err for line in lines)


# ---------------------------------------------------------------- drifts that need a fresh server


def _resign_without_root(vault: Any) -> None:
    """Re-sign the intermediate with format=pem (no root) and make it the mount's default issuer, alone."""
    csr = vault.write_data(
        "istioca/intermediate/generate/existing",
        data={"key_ref": "istiod-intermediate", "common_name": "example.com Intermediate Authority"},
    )["data"]["csr"]
    signed = vault.write_data(
        "pki/root/sign-intermediate",
        data={"csr": csr, "format": "pem", "ttl": "43800h", "use_csr_values": False, "max_path_length": 0},
    )["data"]["certificate"]
    imported = vault.write_data("istioca/intermediate/set-signed", data={"certificate": signed})
    vault.write_data("istioca/config/issuers", data={"default": imported["data"]["imported_issuers"][0]})
    issuers = vault.list("istioca/issuers")["data"]["key_info"]
    for issuer_id, info in issuers.items():
        if not info.get("key_id"):  # the root copy that pem_bundle brought in
            vault.adapter.delete(f"/v1/istioca/issuer/{issuer_id}")


@pytest.mark.integration
def test_intermediate_resigned_without_the_root_is_caught(fresh: Configured) -> None:
    _resign_without_root(fresh.client())
    results = fresh.check()
    result = results["vault.intermediate-chain"]
    assert result.status is Status.FAIL, result.finding
    assert "istioca/cert/ca_chain ends with example.com Intermediate Authority" in result.finding
    assert "not the root at pki/cert/ca (1 cert(s))" in result.finding
    assert "format=pem_bundle" in result.hint
    assert [r.id for r in results.values() if r.status is Status.ERROR] == []
    # istiod loads a chain without the root and peers hold the root already: the chain check warns only, while
    # vault.intermediate-chain above fails because the setup the config renders (pem_bundle) drifted.
    code, out, _ = cli(fresh.env, "verify", "chain", "--from-vault", "-c", str(fresh.config_path), "--output", "json")
    assert code == 0
    (includes_root,) = [c for c in json.loads(out)["checks"] if c["id"] == "chain.includes-root"]
    assert includes_root["status"] == "warn"


# ---------------------------------------------------------------- Vault unusable: exit 3, quickly


ExpectExit3 = Callable[..., str]


@pytest.fixture
def expect_exit_3(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> ExpectExit3:
    """Run `verify <command>` in this process with only VAULT_ADDR (and VAULT_TOKEN) set; assert exit 3 and the
    words in the message (the client's connect and read timeouts end a hung Vault; no clock is asserted)."""

    def run(address: str, token: str | None, *words: str, command: str = "vault", **extra_env: str) -> str:
        for name in list(os.environ):
            if name.startswith(("VAULT_", "BAO_")):
                monkeypatch.delenv(name)
        monkeypatch.setenv("VAULT_ADDR", address)
        monkeypatch.setenv("HOME", str(tmp_path))
        if token is not None:
            monkeypatch.setenv("VAULT_TOKEN", token)
        for name, value in extra_env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)  # the built-in default config, whatever the caller's directory holds
        code = main(["verify", command, *(["--from-vault"] if command == "chain" else [])])
        out, err = capsys.readouterr()
        assert code == 3, out + err
        assert out == ""
        assert "Traceback" not in err
        for word in words:
            assert word in err
        return err

    return run


def bare_env(address: str, token: str | None, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(VAULT_ADDR=address, HOME=str(home))
    if token is not None:
        env["VAULT_TOKEN"] = token
    return env


@pytest.mark.integration
def test_vault_down_exits_3_from_the_command_line(tmp_path: Path) -> None:
    env = bare_env(f"http://127.0.0.1:{free_port()}", "root", tmp_path)
    code, out, err = cli(env, "verify", "vault", cwd=tmp_path)
    assert (code, out) == (3, "")
    assert "istio-vault-ca: error: cannot reach Vault at http://127.0.0.1:" in err
    assert "check VAULT_ADDR" in err and "Traceback" not in err


@pytest.mark.integration
@pytest.mark.parametrize("command", ["vault", "chain"])
def test_vault_down_exits_3(command: str, expect_exit_3: ExpectExit3) -> None:
    expect_exit_3(f"http://127.0.0.1:{free_port()}", "root", "cannot reach Vault", "(refused)", command=command)


@pytest.mark.integration
@pytest.mark.parametrize("command", ["vault", "chain"])
def test_wrong_token_exits_3(command: str, healthy: Configured, expect_exit_3: ExpectExit3) -> None:
    err = expect_exit_3(healthy.server.address, "not-a-token", "refused the token", "VAULT_TOKEN", command=command)
    assert "not-a-token" not in err


@pytest.mark.integration
def test_missing_token_exits_3(healthy: Configured, expect_exit_3: ExpectExit3) -> None:
    expect_exit_3(healthy.server.address, None, "no Vault token", "vault login")


@pytest.mark.integration
def test_token_file_is_used_like_the_vault_cli(healthy: Configured, tmp_path: Path) -> None:
    (tmp_path / ".vault-token").write_text(f"{healthy.server.token}\n", encoding="utf-8")
    env = bare_env(healthy.server.address, None, tmp_path)
    code, out, err = cli(env, "verify", "vault", "-c", str(healthy.config_path))
    assert code == 0, out + err


@pytest.mark.integration
def test_https_to_a_plain_http_server_exits_3(healthy: Configured, expect_exit_3: ExpectExit3) -> None:
    address = healthy.server.address.replace("http://", "https://")
    expect_exit_3(address, "root", "TLS handshake", "does not speak TLS")


@pytest.mark.integration
def test_sealed_vault_exits_3(openbao: DevServer, expect_exit_3: ExpectExit3) -> None:
    hvac.Client(url=openbao.address, token=openbao.token).sys.seal()
    expect_exit_3(openbao.address, openbao.token, "is sealed", "unseal")


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A dev server with its own TLS CA (-dev-tls): (address, CA file)."""
    require_openbao()
    port, certs = free_port(), tmp_path / "tls"
    certs.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(tmp_path)
    command = [find_bao(), "server", "-dev", "-dev-tls", f"-dev-tls-cert-dir={certs}", "-dev-root-token-id=root"]
    log = tmp_path / "tls-server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, f"-dev-listen-address=127.0.0.1:{port}", "-dev-no-store-token"],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        # Its own banner (openbao.STARTED_BANNER), not whatever else might answer on the port.
        wait_until(
            lambda: process.poll() is not None or STARTED_BANNER in log.read_bytes(),
            START_TIMEOUT,
            "the -dev-tls server to start",
        )
        assert process.poll() is None, f"the -dev-tls server exited:\n{log.read_text(errors='replace')[-2000:]}"
        yield f"https://127.0.0.1:{port}", certs / "vault-ca.pem"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.integration
def test_tls_server_with_an_unknown_ca_exits_3(tls_server: tuple[str, Path], expect_exit_3: ExpectExit3) -> None:
    address, _ = tls_server
    expect_exit_3(address, "root", "TLS verification", "unable to get local issuer certificate", "VAULT_CACERT")


@pytest.mark.integration
def test_tls_server_with_its_ca_is_reached(tls_server: tuple[str, Path], tmp_path: Path) -> None:
    address, ca_file = tls_server
    env = bare_env(address, "root", tmp_path)
    env["VAULT_CACERT"] = str(ca_file)
    code, out, err = cli(env, "verify", "vault", "--output", "json", cwd=tmp_path)
    assert code == 1, err  # reached and authorised; nothing is configured on this server
    statuses = {c["id"]: c["status"] for c in json.loads(out)["checks"]}
    # Reached (an OpenBao dev server, so the built-in default's vault.flavor: vault warns) and authorised.
    assert statuses["vault.reachable"] == "warn" and statuses["vault.token"] == "pass"
    assert statuses["vault.intermediate-mount"] == "fail"


# ---------------------------------------------------------------- connection settings (no server needed)


def test_settings_follow_the_vault_cli_variables(tmp_path: Path) -> None:
    env = {
        "VAULT_ADDR": "https://vault.example:8200/",
        "VAULT_TOKEN": "t0k",
        "VAULT_CACERT": "/etc/ca.pem",
        "VAULT_NAMESPACE": "team",
        "HOME": str(tmp_path),
    }
    settings = settings_from_env("http://127.0.0.1:8200", env)
    assert (settings.address, settings.token, settings.verify, settings.namespace) == (
        "https://vault.example:8200",
        "t0k",
        "/etc/ca.pem",
        "team",
    )
    assert settings_from_env("http://x:1", {**env, "VAULT_SKIP_VERIFY": "true"}).verify is False


def test_settings_default_to_the_config_address_and_the_token_file(tmp_path: Path) -> None:
    (tmp_path / ".vault-token").write_text("from-file\n", encoding="utf-8")
    settings = settings_from_env("http://127.0.0.1:8200", {"HOME": str(tmp_path)})
    assert settings.address == "http://127.0.0.1:8200"
    assert settings.token == "from-file"
    assert settings.verify is True


def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepts connections in the kernel, never answers
        address = f"http://127.0.0.1:{listener.getsockname()[1]}"
        api = VaultApi(Settings(address, "root", True, None, timeout=(0.5, 0.5)))
        with pytest.raises(VaultUnreachable) as caught:
            api.health()
    # Ended by the 0.5 s read timeout given, not by the default one: the HTTP client's own error, which the one
    # shown was raised from, names the read timeout that ran out.
    causes = []
    error: BaseException | None = caught.value
    while error is not None:
        causes.append(str(error))
        error = error.__cause__ or error.__context__
    assert any("read timeout=0.5)" in cause for cause in causes), causes
    assert READ_TIMEOUT != 0.5
    assert "timed out" in str(caught.value)


def test_missing_ca_file_is_a_tls_error(tmp_path: Path) -> None:
    with pytest.raises(VaultTlsRefused) as caught:
        VaultApi(Settings("https://127.0.0.1:1", "t", str(tmp_path / "nope.pem"), None))
    assert "VAULT_CACERT" in str(caught.value)


# ---------------------------------------------------------------- several clusters on one Vault

TWO_CLUSTERS = (
    EC_CONFIG
    + """kv: {version: 2}
clusters:
  - {name: east, intermediate_mount: istioca-east, kv_path: istioca-east, auth_mount: k8s-east, policy: istioca-east}
  - name: west
    intermediate_mount: istioca-west
    kv_path: istioca-west
    auth_mount: k8s-west
    policy: istioca-west
    kubernetes_auth: {reviewer: client-jwt, kubernetes_host: "https://west.example:6443"}
"""
)


@pytest.mark.integration
def test_two_clusters_vault_wide_checks_once_cluster_checks_each(tmp_path: Path, script_env: dict[str, str]) -> None:
    config_path = tmp_path / "istio-vault-ca.yaml"
    config_path.write_text(TWO_CLUSTERS, encoding="utf-8")
    tree = render_into(config_path, tmp_path / "out")
    for script in ("root/vault/setup.sh", "clusters/east/vault/setup.sh", "clusters/west/vault/setup.sh"):
        result = run_setup(tree, script_env, script)
        assert result.returncode == 0, result.stderr
    config = load(str(config_path)).config
    api = VaultApi(Settings(script_env["VAULT_ADDR"], script_env["VAULT_TOKEN"], True, None))
    results = check_vault(api, config, plan(config))
    assert {r.id: r.status.value for r in results if r.status is not Status.PASS} == FLAVOR_WARNING
    ids = [r.id for r in results]
    assert ids.count("vault.audit-device") == ids.count("vault.kv-mount") == 1
    assert ids.count("vault.kv-key-matches") == ids.count("vault.policy-text") == 2
    assert {r.target for r in results if r.id == "vault.kv-key-matches"} == {
        "kv/data/istioca-east",
        "kv/data/istioca-west",
    }
    assert api.requests <= 30


# ---------------------------------------------------------------- pure helpers (no server)


def test_template_value_prints_what_consul_template_would() -> None:
    from istio_vault_ca.verify.checks.vault import template_value

    v2 = {"data": {"data": {"ca-key.pem": "KEY"}, "metadata": {}}}
    assert template_value(v2, ("data", "ca-key.pem")) == b"KEY\n"
    assert template_value(v2, ("ca-key.pem",)) == b"<no value>\n", "a KV v1 template on a v2 secret"
    assert template_value(None, ("certificate",)) is None


def test_policy_comparison_ignores_comments_whitespace_and_trailing_commas() -> None:
    from istio_vault_ca.verify.checks.vault import describe_policy_drift, normalise_hcl

    rendered = '# comment\npath "kv/istioca" {\n  capabilities = ["read"]\n}\n'
    same = 'path "kv/istioca" { capabilities = ["read",] } // trailing\n/* block */'
    assert normalise_hcl(rendered) == normalise_hcl(same)
    edited = 'path "kv/istioca" { capabilities = ["read", "update"] }\npath "sys/*" { capabilities = ["read"] }'
    assert normalise_hcl(rendered) != normalise_hcl(edited)
    drift = describe_policy_drift(edited, rendered)
    assert "extra path 'sys/*'" in drift
    assert "'kv/istioca' has ['read', 'update'] instead of ['read']" in drift


def test_rendered_policies_follow_the_render_layout() -> None:
    from istio_vault_ca.generator.config.loader import parse_text
    from istio_vault_ca.verify.checks.vault import rendered_policies

    policies = rendered_policies(parse_text(TWO_CLUSTERS, "test"))
    assert set(policies) == {"east", "west"}
    assert 'path "kv/data/istioca-west"' in policies["west"]
    flat = rendered_policies(parse_text(STARTER.read_text(encoding="utf-8"), "starter"))
    assert set(flat) == {"default"}


# ---------------------------------------------------------------- an offline root

EXTERNAL_ROOT = """root: {mode: external, certificate_file: offline-root/root-ca.pem}
intermediate: {key_type: ec, key_bits: 256, ttl: 8760h}
"""


def signing_args(root_key: Path) -> list[str]:
    return [
        "sign-intermediate",
        "--root-cert",
        "offline-root/root-ca.pem",
        "--root-key",
        str(root_key),
        "--csr",
        "csr/default-intermediate.csr",
        "--ttl",
        "8760h",
        "-o",
        "csr/default-intermediate.pem",
    ]


def run_in(tree: Path, script: str, env: dict[str, str], cwd: Path) -> None:
    """A rendered script run beside the config, where the CSR and the signed certificate live."""
    done = subprocess.run(
        ["bash", str(tree / "vault" / script)], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.integration
def test_offline_root_is_compared_with_root_certificate_file(tmp_path: Path, script_env: dict[str, str]) -> None:
    from tests import pki_factory as pki

    work = tmp_path / "work"
    (work / "offline-root").mkdir(parents=True)
    config_path = work / "istio-vault-ca.yaml"
    config_path.write_text(EXTERNAL_ROOT, encoding="utf-8")
    root = pki.root(not_after=pki.NOW + 3650 * pki.DAY)
    (work / "offline-root" / "root-ca.pem").write_bytes(root.pem)
    root_key = tmp_path / "offline-root.key"  # apart from the config, as an offline key would be
    root_key.write_bytes(root.key_pem)
    root_key.chmod(0o600)
    tree = render_into(config_path, work / "out")
    run_in(tree, "setup.sh", script_env, work)
    code, _, err = cli(script_env, *signing_args(root_key), cwd=work)
    assert code == 0, err
    run_in(tree, "07-intermediate-import.sh", script_env, work)

    code, out, err = cli(script_env, "verify", "vault", "-c", str(config_path), "--output", "json", cwd=tmp_path)
    assert code == 0, out + err
    statuses = {c["id"]: (c["status"], c["finding"]) for c in json.loads(out)["checks"]}
    assert statuses["vault.root-mount"][0] == "skip"
    assert statuses["vault.root-cn"] == ("pass", "every intermediate mount holds the offline root 'Test Root CA'")
    assert {i: status for i, (status, _) in statuses.items() if status not in ("pass", "skip")} == FLAVOR_WARNING

    other = pki.make_ca("Another Root", subject_key=pki.key("ec", 256, 3))
    (work / "offline-root" / "root-ca.pem").write_bytes(other.pem)
    code, out, _ = cli(script_env, "verify", "vault", "-c", str(config_path), "--output", "json", cwd=tmp_path)
    assert code == 1
    root_cn = next(c for c in json.loads(out)["checks"] if c["id"] == "vault.root-cn")
    assert root_cn["status"] == "fail"
    assert "istioca/issuer/root holds 'Test Root CA', not the offline root in" in root_cn["finding"]


@pytest.mark.integration
def test_every_report_names_the_config_found_as_yml(healthy: Configured, tmp_path: Path) -> None:
    """No -c, the config saved as ./istio-vault-ca.yml: the run judges against it, and every format says so."""
    (tmp_path / "istio-vault-ca.yml").write_text(healthy.config_path.read_text(encoding="utf-8"), encoding="utf-8")
    outputs = {}
    for output in ("text", "json", "junit", "prometheus"):
        code, out, err = cli(healthy.env, "verify", "vault", "--output", output, cwd=tmp_path)
        assert code == 0, out + err
        outputs[output] = out
    assert outputs["text"].splitlines()[-2] == "config: istio-vault-ca.yml"
    document = json.loads(outputs["json"])
    validate_json_shape(document)
    assert document["config"] == "istio-vault-ca.yml" and document["summary"]["fail"] == 0
    properties = ET.fromstring(outputs["junit"]).iter("property")  # noqa: S314 - our own output
    assert [(p.get("name"), p.get("value")) for p in properties] == [("config", "istio-vault-ca.yml")]
    assert 'istio_vault_ca_config_info{config="istio-vault-ca.yml"} 1.0' in outputs["prometheus"].splitlines()
    code, out, err = cli(healthy.env, "verify", "chain", "--from-vault", "--output", "json", cwd=tmp_path)
    assert code == 0 and json.loads(out)["config"] == "istio-vault-ca.yml", out + err
