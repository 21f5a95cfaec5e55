"""`verify fleet` against a real OpenBao holding three clusters during a root rotation: east re-issued under the
new root, west still under the old one on a mount whose max_lease_ttl caps its next re-issue, central under a
foreign root with a PKI role capping its TTL. Certificates are made here; the assertions are what users see (exit
codes, rows, hints, the documents of every format)."""

from __future__ import annotations

import datetime as dt
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import plan
from istio_vault_ca.generator.pki import factory
from istio_vault_ca.verify.rehearsal.openbao import DevServer, start_dev_server
from tests.support import EXAMPLES, refusing_port, require_openbao, server_under_test, validate_json_shape
from tests.vault_setup import cli

pytestmark = pytest.mark.integration

CONFIG = EXAMPLES / "three-clusters.yaml"
NOW = dt.datetime.now(dt.timezone.utc)
FORMATS = ("text", "json", "junit", "prometheus", "html")


def _write(client: Any, path: str, **data: object) -> Any:
    return client.write_data(path, data=data)


def _import_ca(client: Any, mount: str, issued: factory.Issued, parent: factory.Issued, max_ttl: str) -> None:
    """A PKI mount holding `issued` (with its key) and its parent, `issued` made the default issuer."""
    client.sys.enable_secrets_engine("pki", path=mount, config={"max_lease_ttl": max_ttl})
    bundle = issued.private_pem() + issued.pem + (b"" if parent is issued else parent.pem)
    _write(client, f"{mount}/config/ca", pem_bundle=bundle.decode())
    for issuer_id in client.list(f"{mount}/issuers")["data"]["keys"]:
        certificate = client.read(f"{mount}/issuer/{issuer_id}")["data"]["certificate"]
        if certificate.strip() == issued.pem.decode().strip():
            _write(client, f"{mount}/config/issuers", default=issuer_id)


def seed(server: DevServer) -> None:
    """Vault as a root rotation in phase (c) leaves it, plus the two odd clusters."""
    config = load(str(CONFIG)).config
    plans = {cluster.name: cluster for cluster in plan(config)}
    client = hvac.Client(url=server.address, token=server.token)
    old = factory.self_signed_ca("Mesh Root 2026", lifetime=dt.timedelta(days=400), now=NOW)
    new = factory.self_signed_ca("Mesh Root 2027", lifetime=dt.timedelta(days=800), now=NOW)
    foreign = factory.self_signed_ca("Someone Else's Root", now=NOW)
    _import_ca(client, config.root.mount, new, new, "87600h")
    client.sys.enable_secrets_engine("kv", path=config.kv.mount, options={"version": str(config.kv.version)})
    bundle_path = plans["east"].trust_bundle_path
    client.write_data(bundle_path, data={"data": {"root-cert.pem": (old.pem + new.pem).decode()}})
    lifetime = dt.timedelta(days=180)
    east = factory.issued_ca("east Intermediate", new, lifetime=lifetime, now=NOW)
    west = factory.issued_ca("west Intermediate", old, lifetime=lifetime, now=NOW)
    central = factory.issued_ca("central Intermediate", foreign, lifetime=lifetime, now=NOW)
    _import_ca(client, "istioca-east", east, new, "43800h")  # the config's intermediate ttl: no cap
    _import_ca(client, "istioca-west", west, old, "240h")  # the mount caps at 10 days, the intermediate has 180
    _import_ca(client, "istioca-central", central, foreign, "8760h")
    _write(client, "istioca-east/roles/web", max_ttl="43800h", allow_any_name=True)  # as the config asks: no cap
    _write(client, "istioca-central/roles/istiod", max_ttl="1h", allow_any_name=True)


@pytest.fixture(scope="module")
def fleet_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    require_openbao()
    binary, kind = server_under_test()
    workdir = tmp_path_factory.mktemp("fleet")
    server = start_dev_server(workdir / "openbao", binary=binary, kind=kind)
    try:
        seed(server)
        yield {**server.env(), "HOME": str(workdir), "KUBECONFIG": str(workdir / "no-kubeconfig")}
    finally:
        server.stop()


def rows(stdout: str) -> dict[tuple[str, str], dict[str, str]]:
    document = json.loads(stdout)
    validate_json_shape(document)
    return {(row["id"], row["target"].rsplit("(cluster ", 1)[-1].rstrip(")")): row for row in document["checks"]}


def test_three_clusters_during_a_rotation(fleet_vault: dict[str, str]) -> None:
    code, out, err = cli(fleet_vault, "verify", "fleet", "-c", str(CONFIG), "--output", "json")
    assert code == 1, err
    by = rows(out)
    assert by["fleet.intermediate-chains", "east"]["finding"] == "'east Intermediate' chains to root 'Mesh Root 2027'"
    assert by["fleet.intermediate-chains", "west"]["finding"] == "'west Intermediate' chains to root 'Mesh Root 2026'"
    central = by["fleet.intermediate-chains", "central"]
    assert central["status"] == "fail"
    assert "chains to root 'Someone Else's Root' (a foreign root)" in central["finding"]
    assert "the trust bundle at kv/data/istio-trust-bundle" in central["finding"]
    assert "plan-rotation -c CONFIG --force central" in central["hint"]
    # Both roots are in the bundle, so east and west accept each other in the middle of the rotation.
    east_row = by["fleet.trust-matrix", "east"]
    assert east_row["status"] == "fail"
    assert east_row["finding"].startswith("workloads in east reject central: central's chain ends at root")
    assert east_row["finding"].endswith("(they accept west)")
    assert "re-issue central's intermediate under the fleet's root" in east_row["hint"]
    assert by["fleet.trust-matrix", "central"]["status"] == "pass"
    # The mount caps TTL: istiod signs with the intermediate from KV, so west's 240h mount cap does not end its
    # issuing (the expiry is the intermediate's, the same on every run); it caps the next re-issue, which warns.
    west = by["fleet.effective-expiry", "west"]
    assert west["status"] == "warn"
    assert west["finding"].startswith("effective expiry ")
    assert ": the intermediate 'west Intermediate' notAfter" in west["finding"]
    assert west["finding"].endswith(
        "; the next re-issue of west's intermediate gets at most 10d, the config asks 730d "
        "(mount istioca-west's max_lease_ttl 10d)"
    )
    assert west["hint"] == (
        "`vault secrets tune -max-lease-ttl=730d istioca-west`, or re-run clusters/west/vault/04-intermediate-pki.sh "
        "(it tunes the mount)"
    )
    east = by["fleet.effective-expiry", "east"]
    assert east["status"] == "pass" and "the intermediate 'east Intermediate' notAfter" in east["finding"]
    role = by["fleet.effective-expiry", "central"]
    assert role["status"] == "warn"
    assert "the next re-issue of central's intermediate gets at most 1h, the config asks 365d" in role["finding"]
    assert role["hint"] == "vault write istioca-central/roles/istiod max_ttl=365d"
    skipped = by["fleet.cluster-roots", "east"]
    assert skipped["status"] == "skip"
    assert skipped["finding"] == "cluster not read: no kubeconfig context for this cluster"
    assert by["fleet.duplicate-roots", "fleet"]["status"] == "pass"
    assert by["fleet.expires-first", "fleet"]["finding"].startswith("central stops issuing first")  # ties: by name
    assert "PRIVATE KEY" not in out


def test_an_unreachable_cluster_is_an_error_and_exit_3(fleet_vault: dict[str, str], tmp_path: Path) -> None:
    """A context the user named whose API server refuses connections: an error row naming it, exit 3 (it used to
    be a skip and exit 0/1, so a dead API server passed unnoticed). The clusters not asked about stay skips."""
    with refusing_port() as port:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: east\n"
            f"clusters: [{{name: east, cluster: {{server: 'https://127.0.0.1:{port}'}}}}]\n"
            "users: [{name: east, user: {token: not-a-secret}}]\n"
            "contexts: [{name: east, context: {cluster: east, user: east}}]\n",
            encoding="utf-8",
        )
        args = ("verify", "fleet", "-c", str(CONFIG), "--kubeconfig", str(kubeconfig), "--context", "east=east")
        code, out, err = cli(fleet_vault, *args, "--output", "json")
    assert code == 3, err
    by = rows(out)
    row = by["fleet.cluster-roots", "east"]
    assert row["status"] == "error"
    assert row["finding"].startswith("configmap/istio-system/istio-ca-root-cert (context east) not read: context east:")
    assert "the API server of context east must answer" in row["hint"]
    assert "not-a-secret" not in out
    west = by["fleet.cluster-roots", "west"]
    assert (west["status"], west["finding"]) == ("skip", "cluster not read: no kubeconfig context for this cluster")
    assert west["hint"].startswith("not asked to read it: to compare its ConfigMap with Vault, set clusters[west]")


def _two_contexts(path: Path, server: str = "https://127.0.0.1:1") -> Path:
    return _kubeconfig(path, {"east": server, "west": server})


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ("--context", "east=east", "--context", "west=east"),
            "context 'east' is given for both east and west: each cluster has its own API server",
        ),
        (
            ("--context", "east=east", "--context", "east=west"),
            "--context east=east and --context east=west: give each cluster one context",
        ),
        (("--context", "east=nowhere"), "Context 'nowhere' not found"),
        ((), "no cluster has a context to read from it"),
    ],
    ids=["one-context-two-clusters", "one-cluster-twice", "unknown-context", "kubeconfig-without-context"],
)
def test_contexts_that_cannot_mean_what_was_asked_exit_2(
    fleet_vault: dict[str, str], tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    kubeconfig = _two_contexts(tmp_path / "kubeconfig")
    args = ("verify", "fleet", "-c", str(CONFIG), "--kubeconfig", str(kubeconfig), *flags, "--output", "json")
    code, out, err = cli(fleet_vault, *args)
    assert code == 2, err
    assert message in err
    document = json.loads(out)
    validate_json_shape(document)
    assert [row["status"] for row in document["checks"]] == ["error"]


def test_a_missing_kubeconfig_with_a_context_exits_2(fleet_vault: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    args = ("verify", "fleet", "-c", str(CONFIG), "--kubeconfig", str(missing), "--context", "east=east")
    code, out, err = cli(fleet_vault, *args, "--output", "json")
    assert code == 2, err
    assert f"file {missing} not found" in err
    assert json.loads(out)["checks"][0]["id"] == "cluster.api-reachable"


def test_a_config_context_missing_from_the_kubeconfig_exits_2(fleet_vault: dict[str, str], tmp_path: Path) -> None:
    """clusters[].kube_context is a context the user named as much as --context is."""
    text = CONFIG.read_text(encoding="utf-8")
    marker = "  - name: central\n"
    config = tmp_path / "contexts.yaml"
    config.write_text(text.replace(marker, marker + "    kube_context: prod-central\n"), encoding="utf-8")
    kubeconfig = _two_contexts(tmp_path / "kubeconfig")
    code, _, err = cli(fleet_vault, "verify", "fleet", "-c", str(config), "--kubeconfig", str(kubeconfig))
    assert code == 2, err
    assert "prod-central" in err


def test_an_api_server_without_the_config_map_fails_pointing_at_istiod(
    fleet_vault: dict[str, str], tmp_path: Path
) -> None:
    from tests.http_answers import answering

    missing = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404}).encode()
    with answering(404, "application/json", missing) as east:
        kubeconfig = _kubeconfig(tmp_path / "kubeconfig", {"east": east})
        args = ("--kubeconfig", str(kubeconfig), "--context", "east=east")
        code, out, err = cli(fleet_vault, "verify", "fleet", "-c", str(CONFIG), *args, "--output", "json")
    assert code == 1, err
    row = rows(out)["fleet.cluster-roots", "east"]
    assert row["status"] == "fail"
    assert row["finding"] == (
        "configmap/istio-system/istio-ca-root-cert (context east): no istio-ca-root-cert ConfigMap in namespace "
        "istio-system, so the cluster's workloads are handed no root"
    )
    assert "check that istiod runs in east and that istiod.namespace in the config is its namespace" in row["hint"]
    assert "kube_context" not in row["hint"]


def test_prometheus_has_the_fleet_figures(fleet_vault: dict[str, str]) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    code, out, _ = cli(fleet_vault, "verify", "fleet", "-c", str(CONFIG), "--output", "prometheus")
    assert code == 1
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(out)
        for sample in family.samples
    }
    assert samples["istio_vault_ca_fleet_trust", (("peer", "central"), ("source", "east"))] == 0
    statuses = {
        dict(labels)["cluster"]
        for (name, labels) in samples
        if name == "istio_vault_ca_check_status" and dict(labels)["check"] == "fleet.trust-matrix"
    }
    assert statuses == {"east", "west", "central"}  # each fleet row carries its cluster, not cluster=""
    assert samples["istio_vault_ca_fleet_trust", (("peer", "west"), ("source", "east"))] == 1
    left = {
        dict(labels)["cluster"]: value
        for (name, labels), value in samples.items()
        if name == "istio_vault_ca_fleet_effective_expiry_seconds"
    }
    assert set(left) == {"east", "west", "central"}
    # Each intermediate's 180 days minus the 1-day workload TTL; the mount and role caps do not count.
    assert all(178 * 86400 < value <= 179 * 86400 for value in left.values()), left
    bounds = {
        dict(labels)["bound"] for (name, labels) in samples if name == "istio_vault_ca_fleet_effective_expiry_seconds"
    }
    assert bounds == {"intermediate"}


def test_one_vault_client_for_the_fleet(fleet_vault: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from istio_vault_ca.verify.runs import common
    from istio_vault_ca.verify.runs import fleet as run

    opened: list[object] = []
    real = common.open_vault

    def counting(*args: Any, **kwargs: Any) -> Any:
        opened.append(args)
        return real(*args, **kwargs)

    for name, value in fleet_vault.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(common, "open_vault", counting)
    report, code = run.fleet_report(run.FleetRequest(config=str(CONFIG), warn_days=30, workload_ttl=86400))
    assert code == 1 and len(opened) == 1
    assert {cell.accepts for cell in report.facts.trust_cells if cell.source == cell.peer == "east"} == {True}


@pytest.mark.parametrize("output", FORMATS)
def test_unreachable_vault_exits_3_with_a_document(output: str) -> None:
    with refusing_port() as port:
        env = {**os.environ, "VAULT_ADDR": f"http://127.0.0.1:{port}", "VAULT_TOKEN": "not-a-secret"}
        code, out, err = cli(env, "verify", "fleet", "-c", str(CONFIG), "--output", output)
    assert code == 3
    assert f"127.0.0.1:{port}" in err
    if output == "json":
        document = json.loads(out)
        validate_json_shape(document)
        assert [row["id"] for row in document["checks"]] == ["vault.reachable"]
    elif output == "junit":
        assert ET.fromstring(out).find(".//testcase[@name='vault.reachable']") is not None  # noqa: S314 - our own
    elif output == "prometheus":
        assert 'istio_vault_ca_reachable{service="vault"} 0.0' in out
    elif output == "html":
        assert out.lstrip().startswith("<!DOCTYPE html>") and "vault.reachable" in out
    else:
        assert out == ""


def test_the_bench_fleet_verifies_clean(tmp_path: Path) -> None:
    """The fleet `make bench` times is a healthy one (so the figure measures a full run, not an early refusal)."""
    from bench.fleet import fleet_config
    from bench.fleet_vault import fleet_openbao

    require_openbao()
    config = tmp_path / "fleet.yaml"
    config.write_text(fleet_config(3), encoding="utf-8")
    with fleet_openbao(tmp_path, 3, {**os.environ, "HOME": str(tmp_path)}) as env:
        code, out, err = cli(env, "verify", "fleet", "-c", str(config), "--output", "json")
    assert code == 0, err
    by = rows(out)
    assert [by["fleet.trust-matrix", name]["status"] for name in ("c000", "c001", "c002")] == ["pass"] * 3
    assert by["fleet.effective-expiry", "c002"]["status"] == "pass"


def test_serve_exports_the_fleet_figures(fleet_vault: dict[str, str], tmp_path: Path) -> None:
    """`serve fleet` runs the same report on its interval: /metrics carries the matrix and the expiry figures."""
    import subprocess
    import sys
    import urllib.request

    from istio_vault_ca.verify.rehearsal.openbao import free_port
    from tests.support import REPO, wait_until

    port = free_port()
    env = {**fleet_vault, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "istio_vault_ca.verify.cli.parser", "serve", "--listen", f"127.0.0.1:{port}"]
    with (tmp_path / "serve.log").open("w") as log:
        serve = subprocess.Popen(
            [*argv, "--interval", "600", "fleet", "-c", str(CONFIG)], env=env, stdout=log, stderr=log, cwd=REPO
        )
        try:

            def scrape() -> str | None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                        text = str(response.read().decode("utf-8"))
                except OSError:
                    return None
                return text if "istio_vault_ca_fleet_trust" in text else None

            text = wait_until(scrape, 120, "a first fleet run")  # a hang guard, not a timing
        finally:
            serve.terminate()
            serve.wait(timeout=30)
    assert text is not None
    assert 'istio_vault_ca_fleet_trust{peer="central",source="west"} 0.0' in text
    assert 'istio_vault_ca_fleet_trust{peer="east",source="west"} 1.0' in text
    assert 'istio_vault_ca_fleet_effective_expiry_seconds{bound="intermediate",cluster="west"}' in text


def _kubeconfig(path: Path, servers: dict[str, str]) -> Path:
    """One context per cluster name, each at its own server (no credentials: the answering server asks none)."""
    clusters = ", ".join(f"{{name: {n}, cluster: {{server: '{url}'}}}}" for n, url in servers.items())
    contexts = ", ".join(f"{{name: {n}, context: {{cluster: {n}, user: u}}}}" for n in servers)
    path.write_text(
        f"apiVersion: v1\nkind: Config\nclusters: [{clusters}]\nusers: [{{name: u, user: {{}}}}]\n"
        f"contexts: [{contexts}]\ncurrent-context: {next(iter(servers))}\n",
        encoding="utf-8",
    )
    return path


def _root_config_map(pem: str) -> bytes:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "istio-ca-root-cert", "namespace": "istio-system"},
        "data": {"root-cert.pem": pem},
    }
    return json.dumps(body).encode()


def test_reached_clusters_are_compared_with_vault(fleet_vault: dict[str, str], tmp_path: Path) -> None:
    """east's API server answers the trust bundle's two roots (as Vault says), west's only the old root: a pass and
    a failure naming the cluster's own `verify cluster` run."""
    from tests.http_answers import answering

    client = hvac.Client(url=fleet_vault["VAULT_ADDR"], token=fleet_vault["VAULT_TOKEN"])
    bundle = client.read("kv/data/istio-trust-bundle")["data"]["data"]["root-cert.pem"]
    old_root = bundle[: bundle.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")] + "\n"
    kind = "application/json"
    with (
        answering(200, kind, _root_config_map(bundle)) as east,
        answering(200, kind, _root_config_map(old_root)) as west,
    ):
        kubeconfig = _kubeconfig(tmp_path / "kubeconfig", {"east": east, "west": west})
        args = ("--kubeconfig", str(kubeconfig), "--context", "east=east", "--context", "west=west")
        code, out, err = cli(fleet_vault, "verify", "fleet", "-c", str(CONFIG), *args, "--output", "json")
    assert code == 1, err
    by = rows(out)
    reached = by["fleet.cluster-roots", "east"]
    assert reached["status"] == "pass", reached
    assert reached["finding"] == (
        "configmap/istio-system/istio-ca-root-cert (context east) holds the roots of the trust bundle at "
        "kv/data/istio-trust-bundle"
    )
    stale = by["fleet.cluster-roots", "west"]
    assert stale["status"] == "fail"
    assert "holds 'Mesh Root 2026', not the roots of the trust bundle" in stale["finding"]
    assert "istio-vault-ca verify cluster -c CONFIG --cluster west says why" in stale["hint"]
    assert by["fleet.cluster-roots", "central"]["status"] == "skip"


def test_a_token_that_may_not_read_the_limits_warns(fleet_vault: dict[str, str]) -> None:
    """A token reading the certificates but not the roles or the tuning: the run goes on (not exit 3), and the
    effective expiry says which limits it could not rule out instead of passing."""
    client = hvac.Client(url=fleet_vault["VAULT_ADDR"], token=fleet_vault["VAULT_TOKEN"])
    policy = 'path "istioca-*" { capabilities = ["read"] }\npath "pki/*" { capabilities = ["read"] }\n'
    policy += 'path "kv/data/*" { capabilities = ["read"] }\n'
    client.sys.create_or_update_policy("fleet-reader", policy)
    token = client.auth.token.create(policies=["fleet-reader"], ttl="1h")["auth"]["client_token"]
    code, out, err = cli(
        {**fleet_vault, "VAULT_TOKEN": token}, "verify", "fleet", "-c", str(CONFIG), "--output", "json"
    )
    assert code == 1, err
    east = rows(out)["fleet.effective-expiry", "east"]
    assert east["status"] == "warn"
    assert east["finding"].endswith(
        "not read, so not ruled out: each PKI role's max_ttl, istioca-east's max_lease_ttl, pki's max_lease_ttl"
    )
    assert east["hint"] == (
        "let the token list istioca-east/roles, read each role and sys/mounts/istioca-east/tune and sys/mounts/pki/tune"
    )


def test_text_lists_the_fleet_rows(fleet_vault: dict[str, str]) -> None:
    """The text report lists every row, passing ones too: the date the fleet stops issuing is a passing row."""
    code, out, _ = cli({**fleet_vault, "COLUMNS": "400"}, "verify", "fleet", "-c", str(CONFIG))
    assert code == 1
    assert "central stops issuing first" in out
    assert "'east Intermediate' chains to root 'Mesh Root 2027'" in out


def test_an_ambient_cluster_on_its_own_root_is_refused(fleet_vault: dict[str, str], tmp_path: Path) -> None:
    """central made ambient: its chain ends at another root than its peers', which ztunnel cannot work with."""
    text = CONFIG.read_text(encoding="utf-8")
    marker = "  - name: central\n"
    assert marker in text
    config = tmp_path / "ambient.yaml"
    config.write_text(text.replace(marker, marker + "    data_plane: ambient\n"), encoding="utf-8")
    code, out, err = cli(fleet_vault, "verify", "fleet", "-c", str(config), "--output", "json")
    assert code == 1, err
    by = rows(out)
    refused = by["fleet.ambient-shared-root", "central"]
    assert refused["status"] == "fail"
    assert refused["finding"] == (
        "ambient cluster central chains to root 'Someone Else's Root', but east, west chain(s) to another root: "
        "per-cluster roots are refused for ambient"
    )
    assert "istio-vault-ca plan-rotation -c CONFIG --force CLUSTER" in refused["hint"]
    assert ("fleet.ambient-shared-root", "east") not in by


@pytest.mark.parametrize("output", ["junit", "html"])
def test_every_document_format_of_a_real_run(fleet_vault: dict[str, str], output: str) -> None:
    code, out, err = cli(fleet_vault, "verify", "fleet", "-c", str(CONFIG), "--output", output)
    assert code == 1, err
    assert "PRIVATE KEY" not in out
    if output == "junit":
        cases = ET.fromstring(out).findall("./testsuite/testcase")  # noqa: S314 - our own output
        failed = {case.get("name") for case in cases if case.find("failure") is not None}
        assert {"fleet.intermediate-chains", "fleet.trust-matrix"} <= failed
    else:
        assert out.lstrip().startswith("<!DOCTYPE html>")
        assert '<table class="trust-matrix">' in out and '<table class="fleet-expiry">' in out
        assert out.count('class="trust-no"') == 3  # east and west reject central, central its own chain


def test_a_cluster_never_set_up_fails_naming_its_script(fleet_vault: dict[str, str], tmp_path: Path) -> None:
    """A fourth cluster in the config whose mount Vault does not have: its own row fails with the script that
    issues it, its peers reject it, and the run still exits 1 (Vault answered), not 3."""
    config = tmp_path / "four.yaml"
    config.write_text(
        CONFIG.read_text(encoding="utf-8")
        + "  - name: north\n    intermediate_mount: istioca-north\n    kv_path: istioca/north\n"
        "    auth_mount: kubernetes-north\n    role: istiod\n    policy: istioca-north\n"
        "    kubernetes_auth: {reviewer: client-jwt, kubernetes_host: 'https://api.north.example.com:6443'}\n",
        encoding="utf-8",
    )
    code, out, err = cli(fleet_vault, "verify", "fleet", "-c", str(config), "--output", "json")
    assert code == 1, err
    by = rows(out)
    north = by["fleet.intermediate-chains", "north"]
    assert (north["status"], north["finding"]) == ("fail", "no certificate at istioca-north/cert/ca")
    assert north["hint"] == (
        "set up north: run clusters/north/vault/setup.sh (its step 04-intermediate-pki.sh issues the intermediate)"
    )
    # Counted once, in its own row: west's row fails for central only, and names north as not judged.
    west = by["fleet.trust-matrix", "west"]
    assert west["finding"].startswith("workloads in west reject central:")
    assert west["finding"].endswith("(north not judged: no intermediate in Vault yet)")
    assert "north" not in west["hint"] and "--force central" in west["hint"]
    assert by["fleet.effective-expiry", "north"]["status"] == "skip"


def test_a_kv_mount_as_intermediate_mount_is_named_not_pki(fleet_vault: dict[str, str], tmp_path: Path) -> None:
    client = hvac.Client(url=fleet_vault["VAULT_ADDR"], token=fleet_vault["VAULT_TOKEN"])
    if "notpki/" not in client.sys.list_mounted_secrets_engines()["data"]:
        client.sys.enable_secrets_engine("kv", path="notpki", options={"version": "1"})
    text = CONFIG.read_text(encoding="utf-8").replace(
        "intermediate_mount: istioca-central", "intermediate_mount: notpki"
    )
    config = tmp_path / "kv.yaml"
    config.write_text(text, encoding="utf-8")
    code, out, err = cli(fleet_vault, "verify", "fleet", "-c", str(config), "--output", "json")
    assert code == 1, err
    row = rows(out)["fleet.intermediate-chains", "central"]
    assert row["finding"] == "notpki is a kv secrets engine, not a PKI engine: intermediate_mount must name a PKI mount"
    assert row["hint"].startswith("point clusters[central].intermediate_mount at a PKI mount of its own")


def test_a_root_never_set_up_says_so(fleet_vault: dict[str, str], tmp_path: Path) -> None:
    """root.mount names a mount Vault lacks: each cluster fails saying the root is missing (step 02), not that it
    is foreign; no root is counted or named first."""
    text = CONFIG.read_text(encoding="utf-8").replace("root:\n", "root:\n  mount: pki-never\n", 1)
    config = tmp_path / "noroot.yaml"
    config.write_text(text, encoding="utf-8")
    client = hvac.Client(url=fleet_vault["VAULT_ADDR"], token=fleet_vault["VAULT_TOKEN"])
    saved = client.read("kv/data/istio-trust-bundle")["data"]["data"]
    client.delete("kv/metadata/istio-trust-bundle")  # no rotation going on: the root is root.mount's alone
    try:
        code, out, err = cli(fleet_vault, "verify", "fleet", "-c", str(config), "--output", "json")
    finally:
        client.write_data("kv/data/istio-trust-bundle", data={"data": saved})
    assert code == 1, err
    by = rows(out)
    for name in ("east", "west", "central"):
        row = by["fleet.intermediate-chains", name]
        assert row["status"] == "fail"
        assert row["finding"].startswith("the root is missing: nothing at pki-never/cert/ca"), row
        assert row["hint"].startswith("set up the root first: run root/vault/setup.sh (its step 02-root-pki.sh)")
        assert "plan-rotation" not in row["hint"] and "foreign" not in row["finding"]
    assert "plan-rotation" not in by["fleet.trust-matrix", "east"]["hint"]
    assert by["fleet.duplicate-roots", "fleet"]["status"] == "skip"
    assert "Mesh Root" not in by["fleet.expires-first", "fleet"]["finding"].split("; ", 1)[-1]


def test_a_token_refused_the_trust_bundle_warns_and_goes_on(fleet_vault: dict[str, str]) -> None:
    """A monitoring token without read on the rotation's bundle used to stop the run with exit 3, though most
    days no rotation is going on: each cluster's chain row warns naming the path and the policy line."""
    client = hvac.Client(url=fleet_vault["VAULT_ADDR"], token=fleet_vault["VAULT_TOKEN"])
    policy = 'path "istioca-*" { capabilities = ["read", "list"] }\npath "pki/*" { capabilities = ["read"] }\n'
    policy += 'path "kv/data/istioca*" { capabilities = ["read"] }\npath "sys/mounts/*" { capabilities = ["read"] }\n'
    client.sys.create_or_update_policy("fleet-no-bundle", policy)
    token = client.auth.token.create(policies=["fleet-no-bundle"], ttl="1h")["auth"]["client_token"]
    code, out, err = cli(
        {**fleet_vault, "VAULT_TOKEN": token}, "verify", "fleet", "-c", str(CONFIG), "--output", "json"
    )
    assert code == 1, err
    east = rows(out)["fleet.intermediate-chains", "east"]
    assert east["status"] == "warn", east
    assert "the token may not read the rotation's trust bundle at kv/data/istio-trust-bundle" in east["finding"]
    assert east["hint"] == (
        'let the token read it: path "kv/data/istio-trust-bundle" { capabilities = ["read"] } in its policy'
    )
