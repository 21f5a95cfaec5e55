"""`verify cluster` judging the real istiod: pilot-discovery from the pinned istio.io/istio, on the e2e API server.

Real here: OpenBao set up by the rendered scripts, its Kubernetes auth against this API server; the vault-k8s
injector mutating istiod's Pod; ``bao agent`` running the ``VAULT_CONFIG`` the injector put in the Pod and writing
the four files; ``pilot-discovery`` started as the Pod's ``discovery`` container with ``ROOT_CA_DIR`` from the Pod
(tests/e2e/real_istiod.py); the log ``verify cluster`` reads through ``pods/log`` is that process's output; the
``istio-ca-root-cert`` ConfigMaps it judges are the ones istiod's namespace controller wrote. Stood in: the Pod's
status (no kubelet: patched through ``pods/status`` from what the process did) and ``kubectl exec`` (the kubectl
stand-in reads the CA directory, the same directory istiod read).

Each outcome is produced by changing only what a user could get wrong (the files in the CA directory, ROOT_CA_DIR)
and letting istiod react as this release does: the path it takes is pilot/pkg/bootstrap/istio_ca.go
``createIstioCA`` (a complete bundle: ``Use local CA certificate``; none of the four files: the self-signed
fallback ``Use self-signed certificate as the CA certificate``; some: ``incomplete signing CA bundle detected`` and
exit), with the plugged-in bundle verified by security/pkg/pki/util/keycertbundle.go
``NewVerifiedKeyCertBundleFromFile`` (key/cert match and chain validity, so a mismatched key or an expired
intermediate stops istiod).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import ClusterPlan, plan
from tests import gobuild
from tests import pki_factory as pki
from tests.e2e import cluster as e2e_cluster
from tests.e2e import istiod_cluster as ic
from tests.e2e import real_istiod as ri
from tests.e2e import vault_injector as injector
from tests.e2e.cluster import Cluster
from tests.e2e.kubelet_logs import KubeletLogs
from tests.e2e.test_cluster_scenarios_real import _may_review_tokens, _vault

pytestmark = [pytest.mark.e2e, pytest.mark.real_istiod, pytest.mark.integration]

JSON = dict[str, Any]


@pytest.fixture(scope="session")
def discovery_binary() -> Path:
    """pilot-discovery of tests/e2e/istiod, built once (cached across sessions by tests/gobuild.py)."""
    try:
        return ri.build_discovery()
    except gobuild.GoNotInstalledError:
        if os.environ.get("CI"):
            pytest.fail(e2e_cluster.GO_MISSING, pytrace=False)
        pytest.skip(e2e_cluster.GO_MISSING)
    except gobuild.GoBuildError as error:
        pytest.fail(f"building pilot-discovery failed:\n{error}")


@pytest.fixture
def cluster_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ClusterPlan:
    """The starter config, istiod in its own namespace, ca_dir a directory of this machine (no mount namespace:
    the Pod's path and the path istiod and the agent use are one)."""
    monkeypatch.chdir(tmp_path)
    ca_dir = tmp_path / "pod" / "cacerts"
    text = ic.config_text(ic.unique("istio")).replace("ca_dir: /vault/secrets", f"ca_dir: {ca_dir}")
    assert f"ca_dir: {ca_dir}" in text
    (tmp_path / ic.CONFIG).write_text(text, encoding="utf-8")
    return plan(load(ic.CONFIG).config)[0]


@pytest.fixture
def webhook_cleanup(kube_cluster: Cluster) -> Iterator[None]:
    yield
    injector.kubectl(kube_cluster.kubeconfig, "delete", "mutatingwebhookconfiguration", "vault-agent-injector-cfg")


@dataclass
class Deployed:
    """istiod's Pod injected and its CA directory written by the real agent from Vault."""

    pod: JSON
    files: Path  # the CA directory (the config's ca_dir)
    vault_root: bytes
    vault_address: str
    vault_env: dict[str, str]  # the environment the rendered scripts and the agent ran with


def run_agent(pod: JSON, vault_env: dict[str, str], token: str, work: Path) -> None:
    """``bao agent`` with the config the injector put in ``pod`` (the init container's: render once, exit), its
    template destinations left as the Pod's paths (ca_dir is a directory of this machine)."""
    from istio_vault_ca.verify.rehearsal import agent
    from istio_vault_ca.verify.rehearsal.openbao import find_bao

    work.mkdir()
    (work / "token").write_text(token, encoding="utf-8")
    config = agent.localize(
        injector.injected_config(pod),
        vault_address=vault_env["VAULT_ADDR"],
        token_path=work / "token",
        root=Path("/"),
        sink_path=work / "sink",
        pid_file=work / "pid",
    )
    (work / "agent.json").write_text(json.dumps(config), encoding="utf-8")
    done = subprocess.run(
        [find_bao(), "agent", f"-config={work / 'agent.json'}"],
        env=vault_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def deploy_from_vault(
    kube_cluster: Cluster,
    webhook: injector.Webhook,
    cluster_plan: ClusterPlan,
    script_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    env: dict[str, str] | None = None,
) -> Deployed:
    """The rendered Vault setup, istiod's Deployment (no root ConfigMap: istiod writes it), the real agent run with
    the injected config and a TokenRequest token, writing the four files into ca_dir."""
    from istio_vault_ca.verify.checks.vault import read_ca_values
    from istio_vault_ca.verify.clients.vault import VaultApi, settings_from_env

    vault_env = _vault(tmp_path, script_env, kube_cluster, monkeypatch)
    istiod = cluster_plan.config.istiod
    from_vault, _ = read_ca_values(VaultApi(settings_from_env(vault_env["VAULT_ADDR"], vault_env)), cluster_plan)
    root_pem = from_vault["root-cert.pem"]
    assert root_pem is not None
    (pod,) = ic.deploy_istiod(kube_cluster, webhook, cluster_plan, None, env=env)
    injector.kubectl(
        kube_cluster.kubeconfig, "label", "namespace", istiod.namespace, f"{ri.SELECTOR_LABEL}={istiod.namespace}"
    )
    _may_review_tokens(kube_cluster, istiod.namespace, istiod.service_account)
    token = ic.service_account_token(kube_cluster, istiod.namespace, istiod.service_account)
    run_agent(pod, vault_env, token, tmp_path / "agent")
    files = Path(istiod.ca_dir)
    assert sorted(p.name for p in files.iterdir()) == sorted(ic.FILES)
    ic.install_kubectl_standin(tmp_path, monkeypatch, cluster_plan, files)
    return Deployed(pod, files, root_pem, vault_env["VAULT_ADDR"], vault_env)


def config_map_root(kube_cluster: Cluster, namespace: str) -> str | None:
    reply = injector.kubectl(
        kube_cluster.kubeconfig, "get", "configmap", "istio-ca-root-cert", "-n", namespace, "-o", "json"
    )
    if reply.returncode != 0:
        return None
    data = json.loads(reply.stdout).get("data") or {}
    value = data.get("root-cert.pem")
    return str(value) if value else None


def crashed_status(pod: JSON, exit_code: int) -> JSON:
    """What a kubelet reports once discovery has exited with ``exit_code`` (and been restarted a few times)."""
    status = ic.running_status(pod)
    status["phase"] = "Running"
    for condition in status["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady"):
            condition.update(status="False", reason="ContainersNotReady")
    for container in status["containerStatuses"]:
        if container["name"] == ri.CONTAINER:
            container.update(
                ready=False,
                started=False,
                restartCount=3,
                state={
                    "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}
                },
                lastState={"terminated": {"exitCode": exit_code, "reason": "Error"}},
            )
    return status


def report_status(kube_cluster: Cluster, pod: JSON, status: JSON) -> None:
    """A kubelet's new report on a Pod already bound (``pods/status``)."""
    reply = injector.kubectl(
        kube_cluster.kubeconfig,
        "patch",
        "pod",
        pod["metadata"]["name"],
        "-n",
        pod["metadata"]["namespace"],
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    assert reply.returncode == 0, reply.stderr


def workload_namespace(kube_cluster: Cluster, name: str, istiod_namespace: str) -> None:
    """A namespace istiod selects (and sidecar injection is on for); istiod writes its root ConfigMap."""
    injector.apply(
        kube_cluster.kubeconfig,
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {"istio-injection": "enabled", ri.SELECTOR_LABEL: istiod_namespace},
            },
        },
    )


def test_healthy_real_istiod_loads_the_vault_intermediate_and_writes_vaults_root(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    discovery_binary: Path,
    cluster_plan: ClusterPlan,
    script_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    webhook_cleanup: None,
) -> None:
    deployed = deploy_from_vault(kube_cluster, vault_injector, cluster_plan, script_env, tmp_path, monkeypatch)
    istiod = cluster_plan.config.istiod
    started = ic.start_pod(kube_cluster, kubelet_logs, deployed.pod, ic.running_status(deployed.pod))
    workload = ic.unique("a-bookinfo")
    workload_namespace(kube_cluster, workload, istiod.namespace)
    try:
        with ri.running_istiod(discovery_binary, kube_cluster, started, tmp_path / "istiod") as process:
            kubelet_logs.serve_file(istiod.namespace, started["metadata"]["name"], ri.CONTAINER, process.log)
            process.wait_for_log(r"Use local CA certificate", "istiod's CA selection")
            for namespace in (istiod.namespace, workload):
                written = ri.wait_until(
                    partial(config_map_root, kube_cluster, namespace),
                    f"istiod's istio-ca-root-cert in {namespace}",
                    process,
                )
                assert written == deployed.vault_root.decode()
            outcome = ic.verify(capsys, kube_cluster.kubeconfig)
            assert process.exit_code() is None, ri.tail(process.text())
    finally:
        ic.unlabel_workload_namespace(kube_cluster, workload)

    assert outcome.code == 0, outcome.stdout
    assert outcome.failing() == set()
    log_check = outcome.one("cluster.istiod-ca-log")
    assert log_check["status"] == "pass"
    assert f"Use root cert from {istiod.ca_dir}/root-cert.pem" in log_check["finding"], log_check
    reload = outcome.one("cluster.istiod-ca-reload")
    assert reload["status"] == "pass", reload
    roots = outcome.with_id("cluster.root-configmap-matches-vault")
    assert [(r["target"], r["status"]) for r in roots] == [
        (f"configmap/{istiod.namespace}/istio-ca-root-cert", "pass"),
        (f"configmap/{workload}/istio-ca-root-cert", "pass"),
    ]
    assert f"from {deployed.vault_address} pki/cert/ca" in roots[0]["finding"]
    assert outcome.one("pod.ca-files-present")["status"] == "pass"


def _other_key_pem() -> bytes:
    """A private key unrelated to Vault's intermediate (a stale or hand-copied ca-key.pem)."""
    other = pki.key("rsa", 2048, 13)
    return other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_bundle(files: Path, bundle: pki.Bundle) -> None:
    for name in ic.FILES:
        (files / name).unlink()
    ic.write_agent_files(
        files,
        {
            name: value
            for name, value in zip(
                ic.FILES, (bundle.ca_cert, bundle.ca_key, bundle.cert_chain, bundle.root_cert), strict=True
            )
            if value is not None
        },
    )


def _fault(name: str, files: Path) -> None:
    """What goes wrong in the CA directory before istiod starts (the agent wrote Vault's four files)."""
    if name == "incomplete":
        (files / "ca-key.pem").unlink()
    elif name == "missing":
        for file in ic.FILES:
            (files / file).unlink()
    elif name == "key-mismatch":
        (files / "ca-key.pem").chmod(0o600)
        (files / "ca-key.pem").write_bytes(_other_key_pem())
        (files / "ca-key.pem").chmod(0o400)
    elif name == "other-ca":
        _write_bundle(files, pki.good_bundle())
    elif name == "expired-intermediate":
        _write_bundle(files, pki.BAD_BUNDLES["expired intermediate"][0]())


@dataclass(frozen=True)
class Expected:
    """What istiod does with the fault and what `verify cluster` must say: istiod exits (its CA did not load) or
    keeps running; the exact set of failing checks; a piece of each named check's finding."""

    exits: bool
    failing: frozenset[str]
    findings: tuple[tuple[str, str], ...]


DID_NOT_START = frozenset({"cluster.discovery-ready", "cluster.istiod-ca-log", "cluster.root-configmap-matches-vault"})
NO_CONFIG_MAP = ("cluster.root-configmap-matches-vault", "no istio-ca-root-cert ConfigMap in ")
SELF_SIGNED = ("cluster.istiod-ca-log", "istiod fell back to a self-signed CA, not the Vault intermediate (log: ")
SELF_SIGNED_ROOT = ("cluster.root-configmap-matches-vault", "holds O=cluster.local (sha256 ")
OUTCOMES: dict[str, Expected] = {
    # Three of the four files: createIstioCA refuses a partial bundle and istiod exits.
    "incomplete": Expected(
        True,
        DID_NOT_START,
        (
            ("cluster.istiod-ca-log", "failed to create an istiod CA: incomplete signing CA bundle detected"),
            NO_CONFIG_MAP,
        ),
    ),
    # None of the four: this release's fallback, a self-signed root (istio-ca-secret), which istiod publishes.
    "missing": Expected(
        False,
        frozenset(
            {
                "cluster.istiod-ca-log",
                "cluster.root-configmap-matches-vault",
                "pod.ca-files-present",
                "chain.file-present",
            }
        ),
        (SELF_SIGNED, SELF_SIGNED_ROOT, ("pod.ca-files-present", "missing ca-cert.pem, ca-key.pem, cert-chain.pem")),
    ),
    # The agent writes to secret-volume-path, istiod reads another ROOT_CA_DIR: the same fallback.
    "wrong-root-ca-dir": Expected(
        False,
        frozenset(
            {
                "cluster.root-ca-dir-matches-volume-path",
                "cluster.istiod-ca-log",
                "cluster.root-configmap-matches-vault",
            }
        ),
        (
            ("cluster.root-ca-dir-matches-volume-path", "istiod reads ROOT_CA_DIR="),
            SELF_SIGNED,
            SELF_SIGNED_ROOT,
        ),
    ),
    # A complete bundle of another CA: istiod loads it (its log passes) and publishes a root that is not Vault's.
    "other-ca": Expected(
        False,
        frozenset({"cluster.root-configmap-matches-vault"}),
        (("cluster.root-configmap-matches-vault", "holds CN=Test Root CA (sha256 "),),
    ),
    "key-mismatch": Expected(
        True,
        DID_NOT_START,
        (("cluster.istiod-ca-log", "the cert does not match the key: tls: private key does not match public key"),),
    ),
    "expired-intermediate": Expected(
        True,
        DID_NOT_START,
        (("cluster.istiod-ca-log", "error: x509: certificate has expired"), NO_CONFIG_MAP),
    ),
}


@pytest.mark.parametrize("fault", sorted(OUTCOMES))
def test_real_istiod_outcome_is_judged_by_verify_cluster(
    fault: str,
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    discovery_binary: Path,
    cluster_plan: ClusterPlan,
    script_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    webhook_cleanup: None,
) -> None:
    expected = OUTCOMES[fault]
    env = {"ROOT_CA_DIR": str(tmp_path / "pod" / "elsewhere")} if fault == "wrong-root-ca-dir" else None
    deployed = deploy_from_vault(kube_cluster, vault_injector, cluster_plan, script_env, tmp_path, monkeypatch, env=env)
    _fault(fault, deployed.files)
    istiod = cluster_plan.config.istiod
    started = ic.start_pod(kube_cluster, kubelet_logs, deployed.pod, ic.running_status(deployed.pod))
    with ri.running_istiod(discovery_binary, kube_cluster, started, tmp_path / "istiod") as process:
        kubelet_logs.serve_file(istiod.namespace, started["metadata"]["name"], ri.CONTAINER, process.log)
        if expected.exits:
            code = process.wait_for_exit("istiod to give up on its CA")
            assert code != 0, ri.tail(process.text())
            report_status(kube_cluster, started, crashed_status(started, code))
        else:
            ri.wait_until(
                partial(config_map_root, kube_cluster, istiod.namespace),
                f"istiod's istio-ca-root-cert in {istiod.namespace}",
                process,
            )
        outcome = ic.verify(capsys, kube_cluster.kubeconfig)
        assert (process.exit_code() is not None) is expected.exits, ri.tail(process.text())

    assert outcome.code == 1, outcome.stdout
    assert outcome.failing() == expected.failing, outcome.stdout
    for check_id, piece in expected.findings:
        found = [c for c in outcome.with_id(check_id) if c["status"] == "fail"]
        assert found, check_id
        assert piece in found[0]["finding"], found[0]
        assert found[0].get("hint"), found[0]
    if expected.exits:
        # The watcher was never added: nothing to reload, said so, not warned about.
        reload = outcome.one("cluster.istiod-ca-reload")
        assert reload["status"] == "skip", reload
    log_check = outcome.one("cluster.istiod-ca-log")
    if fault == "other-ca":
        assert log_check["status"] == "pass"
        assert f"Use root cert from {istiod.ca_dir}/root-cert.pem" in log_check["finding"]


@pytest.fixture(scope="session")
def agent_binary() -> Path:
    """pilot-agent of tests/e2e/istiod, built once (cached across sessions by tests/gobuild.py)."""
    try:
        return ri.build_agent()
    except gobuild.GoNotInstalledError:
        if os.environ.get("CI"):
            pytest.fail(e2e_cluster.GO_MISSING, pytrace=False)
        pytest.skip(e2e_cluster.GO_MISSING)
    except gobuild.GoBuildError as error:
        pytest.fail(f"building pilot-agent failed:\n{error}")


def test_a_real_sidecar_agent_gets_a_workload_certificate_chaining_to_vaults_root(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    discovery_binary: Path,
    agent_binary: Path,
    cluster_plan: ClusterPlan,
    script_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    webhook_cleanup: None,
) -> None:
    """The proof behind "istiod signs with the Vault CA": a workload's CSR, authenticated by its service-account
    token (TokenReview by istiod against this API server), answered with a chain whose issuer is Vault's
    intermediate and whose root is Vault's root."""
    from cryptography import x509

    deployed = deploy_from_vault(kube_cluster, vault_injector, cluster_plan, script_env, tmp_path, monkeypatch)
    istiod = cluster_plan.config.istiod
    started = ic.start_pod(kube_cluster, kubelet_logs, deployed.pod, ic.running_status(deployed.pod))
    workload = ic.unique("a-bookinfo")
    workload_namespace(kube_cluster, workload, istiod.namespace)
    injector.apply(
        kube_cluster.kubeconfig,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reviews", "namespace": workload}},
    )
    reply = injector.kubectl(
        kube_cluster.kubeconfig, "create", "token", "reviews", "-n", workload, "--audience", "istio-ca"
    )
    assert reply.returncode == 0, reply.stderr
    try:
        with ri.running_istiod(discovery_binary, kube_cluster, started, tmp_path / "istiod") as process:
            root = ri.wait_until(
                partial(config_map_root, kube_cluster, workload), f"istiod's istio-ca-root-cert in {workload}", process
            )
            chain_pem = ri.workload_certificate(
                agent_binary,
                process,
                namespace=workload,
                service_account="reviews",
                token=reply.stdout.strip(),
                root_pem=root,
                workdir=tmp_path / "workload",
            )
    finally:
        ic.unlabel_workload_namespace(kube_cluster, workload)

    chain = x509.load_pem_x509_certificates(chain_pem.encode())
    vault_root = x509.load_pem_x509_certificate(deployed.vault_root)
    vault_intermediate = x509.load_pem_x509_certificate((deployed.files / "ca-cert.pem").read_bytes())
    leaf = chain[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"spiffe://cluster.local/ns/{workload}/sa/reviews"
    ]
    assert leaf.issuer == vault_intermediate.subject
    leaf.verify_directly_issued_by(vault_intermediate)
    vault_intermediate.verify_directly_issued_by(vault_root)
    # After the leaf: the chain istiod loaded from cert-chain.pem (Vault's intermediate, then its root), then the
    # root once more (security/pkg/server/ca/server.go ``CreateCertificate`` appends the bundle's root).
    assert chain[1:] == [vault_intermediate, vault_root, vault_root]
    # And openssl, as a peer would check it.
    (tmp_path / "root.pem").write_bytes(deployed.vault_root)
    (tmp_path / "chain.pem").write_text(chain_pem, encoding="utf-8")
    done = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(tmp_path / "root.pem"),
            "-untrusted",
            str(tmp_path / "chain.pem"),
            str(tmp_path / "chain.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _atomic_write(path: Path, data: bytes) -> None:
    """As consul-template renders a changed template: a temp file in the directory renamed over the old one."""
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_bytes(data)
    temporary.chmod(path.stat().st_mode & 0o777)
    temporary.replace(path)


@pytest.mark.parametrize("multiroot", [False, True], ids=["without-multiroot", "with-multiroot"])
def test_root_rotation_bundle_reaches_the_real_istiod_only_with_multiroot(
    multiroot: bool,
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    discovery_binary: Path,
    agent_binary: Path,
    cluster_plan: ClusterPlan,
    script_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    webhook_cleanup: None,
) -> None:
    """Phase (a) for real (`plan-rotation --root`, its rendered a-new-root.sh: the trust bundle old + new root in
    KV), then root-cert.pem becomes that bundle in the running istiod's CA directory, as the phase-(b) agent
    template renders it. istiod (pilot/pkg/bootstrap/istio_ca.go ``handleEvent``) refuses a changed root without
    ISTIO_MULTIROOT_MESH=true, and with it takes the bundle (one holds the other) and publishes both roots, which
    `plan-rotation --confirm-bundle-from-cluster` then confirms from the ConfigMap istiod wrote."""
    import hvac
    from cryptography import x509

    from istio_vault_ca.generator.config.plan import MULTIROOT_ENV
    from istio_vault_ca.verify.cli.parser import main
    from tests.conftest import run_setup

    env = {MULTIROOT_ENV: "true"} if multiroot else None
    deployed = deploy_from_vault(kube_cluster, vault_injector, cluster_plan, script_env, tmp_path, monkeypatch, env=env)
    istiod = cluster_plan.config.istiod
    vault_env = {**script_env, "VAULT_ADDR": os.environ["VAULT_ADDR"], "VAULT_TOKEN": os.environ["VAULT_TOKEN"]}
    client = hvac.Client(url=vault_env["VAULT_ADDR"], token=vault_env["VAULT_TOKEN"])
    rotation = tmp_path / "rotation"
    plan_rotation = ["plan-rotation", "--root", "-c", ic.CONFIG, "-o", str(rotation)]
    capsys.readouterr()
    assert main(plan_rotation) == 1
    assert "next phase: a" in capsys.readouterr().out
    phase_a = run_setup(rotation, vault_env, "root/a-new-root.sh")
    assert phase_a.returncode == 0, phase_a.stdout + phase_a.stderr
    bundle = str(client.read("kv/istio-trust-bundle")["data"]["root-cert.pem"])
    new_root = x509.load_pem_x509_certificates(bundle.encode())[1]

    started = ic.start_pod(kube_cluster, kubelet_logs, deployed.pod, ic.running_status(deployed.pod))
    workload = ic.unique("a-rotating")
    workload_namespace(kube_cluster, workload, istiod.namespace)
    try:
        with ri.running_istiod(discovery_binary, kube_cluster, started, tmp_path / "istiod") as process:
            kubelet_logs.serve_file(istiod.namespace, started["metadata"]["name"], ri.CONTAINER, process.log)
            ri.wait_until(
                partial(config_map_root, kube_cluster, workload), f"the root ConfigMap in {workload}", process
            )
            process.wait_for_log(r"Added cacerts files watcher", "istiod watching its CA directory")
            _atomic_write(deployed.files / "root-cert.pem", bundle.encode())
            if not multiroot:
                process.wait_for_log(r"Multi root is disabled, updating new ROOT-CA not supported", "the refusal")
                outcome = ic.verify(capsys, kube_cluster.kubeconfig)
                assert config_map_root(kube_cluster, workload) == deployed.vault_root.decode()
            else:
                process.wait_for_log(r"Istiod has detected the newly added intermediate CA", "the reload")
                ri.wait_until(
                    lambda: config_map_root(kube_cluster, workload) == bundle,
                    f"both roots in {workload}'s ConfigMap",
                    process,
                )
                outcome = ic.verify(capsys, kube_cluster.kubeconfig)
                token = injector.kubectl(kube_cluster.kubeconfig, "create", "token", "default", "-n", workload,
                                         "--audience", "istio-ca")  # fmt: skip
                assert token.returncode == 0, token.stderr
                chain_pem = ri.workload_certificate(
                    agent_binary,
                    process,
                    namespace=workload,
                    service_account="default",
                    token=token.stdout.strip(),
                    root_pem=bundle,
                    workdir=tmp_path / "workload",
                )
                capsys.readouterr()
                confirmed = main(
                    [
                        *plan_rotation,
                        "--confirm-bundle-from-cluster",
                        workload,
                        "--kubeconfig",
                        str(kube_cluster.kubeconfig),
                    ]
                )
                confirm_out = capsys.readouterr().out
    finally:
        ic.unlabel_workload_namespace(kube_cluster, workload)

    reload = outcome.one("cluster.istiod-ca-reload")
    roots = outcome.one("cluster.root-configmap-matches-vault", f"configmap/{workload}/istio-ca-root-cert")
    if not multiroot:
        assert outcome.code == 1, outcome.stdout
        assert reload["status"] == "fail", reload
        assert reload["finding"].startswith("istiod ignored a changed root-cert.pem: ISTIO_MULTIROOT_MESH is not true")
        assert reload["hint"].startswith("set ISTIO_MULTIROOT_MESH=true on istiod")
        # The ConfigMap still holds the old root alone: the bundle is on its way (phase b), a warning.
        assert roots["status"] == "warn", roots
        return
    assert reload["status"] == "pass", reload
    assert reload["finding"].startswith("istiod reloaded the changed CA files and a new root bundle without a restart")
    assert roots["status"] == "pass", roots
    assert roots["finding"].startswith("holds exactly the 2 root(s) of the trust bundle at kv/istio-trust-bundle")
    # A workload certificate issued now is still signed by the old intermediate (under the old root); istiod sends
    # its cert-chain.pem after the leaf, then the root bundle it now holds (server.go ``CreateCertificate``); it
    # verifies against the bundle a workload trusts.
    chain = x509.load_pem_x509_certificates(chain_pem.encode())
    old_root = x509.load_pem_x509_certificate(deployed.vault_root)
    intermediate = x509.load_pem_x509_certificate((deployed.files / "ca-cert.pem").read_bytes())
    assert chain[1:] == [intermediate, old_root, old_root, new_root]
    chain[0].verify_directly_issued_by(intermediate)
    (tmp_path / "bundle.pem").write_text(bundle, encoding="utf-8")
    (tmp_path / "chain.pem").write_text(chain_pem, encoding="utf-8")
    done = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "bundle.pem"), "-untrusted", str(tmp_path / "chain.pem"),
         str(tmp_path / "chain.pem")],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert confirmed == 1
    assert f"ConfigMap {workload}/istio-ca-root-cert holds the 2 roots of the bundle: delivery confirmed" in confirm_out
    assert "next phase: c" in confirm_out


def test_a_renewed_intermediate_is_hot_reloaded_by_the_real_istiod(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    discovery_binary: Path,
    agent_binary: Path,
    cluster_plan: ClusterPlan,
    script_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    webhook_cleanup: None,
) -> None:
    """`plan-rotation --force default` and its rendered rotate-intermediate.sh for real (a new key and
    intermediate under the same root in Vault), the agent rendering the new files into the running istiod's CA
    directory: istiod reloads them without a restart (``handleEvent``: root unchanged, bundle verified), `verify
    cluster` passes the reload from its log, and the next workload certificate is issued by the new intermediate."""
    from cryptography import x509

    from istio_vault_ca.verify.cli.parser import main
    from tests.conftest import run_setup

    deployed = deploy_from_vault(kube_cluster, vault_injector, cluster_plan, script_env, tmp_path, monkeypatch)
    istiod = cluster_plan.config.istiod
    old_intermediate = x509.load_pem_x509_certificate((deployed.files / "ca-cert.pem").read_bytes())
    started = ic.start_pod(kube_cluster, kubelet_logs, deployed.pod, ic.running_status(deployed.pod))
    workload = ic.unique("a-renewing")
    workload_namespace(kube_cluster, workload, istiod.namespace)
    capsys.readouterr()
    assert main(["plan-rotation", "-c", ic.CONFIG, "--force", "default", "-o", str(tmp_path / "rotation")]) == 1
    capsys.readouterr()
    try:
        with ri.running_istiod(discovery_binary, kube_cluster, started, tmp_path / "istiod") as process:
            kubelet_logs.serve_file(istiod.namespace, started["metadata"]["name"], ri.CONTAINER, process.log)
            root = ri.wait_until(
                partial(config_map_root, kube_cluster, workload), f"the root ConfigMap in {workload}", process
            )
            process.wait_for_log(r"Added cacerts files watcher", "istiod watching its CA directory")
            renewed = run_setup(tmp_path / "rotation", deployed.vault_env, "default/rotate-intermediate.sh")
            assert renewed.returncode == 0, renewed.stdout + renewed.stderr
            token = ic.service_account_token(kube_cluster, istiod.namespace, istiod.service_account)
            run_agent(deployed.pod, deployed.vault_env, token, tmp_path / "agent-again")
            new_intermediate = x509.load_pem_x509_certificate((deployed.files / "ca-cert.pem").read_bytes())
            assert new_intermediate != old_intermediate
            process.wait_for_log(
                r"Istiod has detected the newly added intermediate CA and updated its key and certs accordingly",
                "the intermediate's hot reload",
            )
            outcome = ic.verify(capsys, kube_cluster.kubeconfig)
            workload_token = injector.kubectl(kube_cluster.kubeconfig, "create", "token", "default", "-n", workload,
                                              "--audience", "istio-ca")  # fmt: skip
            assert workload_token.returncode == 0, workload_token.stderr
            chain_pem = ri.workload_certificate(
                agent_binary,
                process,
                namespace=workload,
                service_account="default",
                token=workload_token.stdout.strip(),
                root_pem=root,
                workdir=tmp_path / "workload",
            )
            assert process.exit_code() is None, ri.tail(process.text())
    finally:
        ic.unlabel_workload_namespace(kube_cluster, workload)

    assert outcome.code == 0, outcome.stdout
    reload = outcome.one("cluster.istiod-ca-reload")
    assert reload["status"] == "pass", reload
    assert reload["finding"].startswith("istiod reloaded the changed CA files without a restart (log: ")
    leaf = x509.load_pem_x509_certificates(chain_pem.encode())[0]
    assert leaf.issuer == new_intermediate.subject
    leaf.verify_directly_issued_by(new_intermediate)
    new_intermediate.verify_directly_issued_by(x509.load_pem_x509_certificate(deployed.vault_root))
