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

import subprocess
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from istio_vault_ca.generator.config.plan import ClusterPlan
from tests import pki_factory as pki
from tests.e2e import istiod_cluster as ic
from tests.e2e import real_istiod as ri
from tests.e2e import vault_injector as injector
from tests.e2e.cluster import Cluster
from tests.e2e.kubelet_logs import KubeletLogs
from tests.e2e.real_istiod_deploy import (
    config_map_root,
    crashed_status,
    deploy_from_vault,
    workload_namespace,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.real_istiod,
    pytest.mark.integration,
    pytest.mark.cluster_config(local_ca_dir=True),
]


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
                written = process.wait_for(
                    partial(config_map_root, kube_cluster, namespace), f"istiod's istio-ca-root-cert in {namespace}"
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
            ic.report_status(kube_cluster, started, crashed_status(started, code))
        else:
            process.wait_for(
                partial(config_map_root, kube_cluster, istiod.namespace),
                f"istiod's istio-ca-root-cert in {istiod.namespace}",
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
            root = process.wait_for(
                partial(config_map_root, kube_cluster, workload), f"istiod's istio-ca-root-cert in {workload}"
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
