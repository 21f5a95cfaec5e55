"""Root rotation phase (b) against the real API server: the `istio-ca-root-cert` ConfigMap istiod writes into every
namespace is where `plan-rotation --root --confirm-bundle-from-cluster NS` looks for the trust bundle, and what
`verify cluster` compares with the bundle's roots, naming the phase.

The real parts: kube-apiserver (the ConfigMaps and Namespaces, read with the user's kubeconfig), OpenBao configured
by the rendered setup and phase (a)'s rendered script (the new root and the trust bundle in KV). istiod's namespace
controller is stood in by writing the ConfigMap as it does (tests/kube_stub/seed.root_config_map).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
from cryptography import x509

from istio_vault_ca.generator.config.plan import ClusterPlan
from istio_vault_ca.verify.cli.parser import main
from tests.e2e import istiod_cluster as ic
from tests.e2e import vault_injector as injector
from tests.e2e.cluster import Cluster
from tests.kube_stub import seed
from tests.support import render_into, run_setup

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CHECK = "cluster.root-configmap-matches-vault"
PHASE_B = "root rotation in phase (b): the trust bundle with both roots is being delivered (not confirmed yet)"
PHASE_C = "root rotation in phase (c): the bundle is delivered, intermediates are being re-issued under the new root"


@pytest.fixture
def workload(kube_cluster: Cluster) -> Iterator[str]:
    """A workload namespace of its own, sampled first by verify (labelled istio-injection=enabled, a name sorting
    early); unlabelled afterwards so other tests sample theirs."""
    name = ic.unique("a-rotating")
    yield name
    ic.unlabel_workload_namespace(kube_cluster, name)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The CLI as a user runs it, in-process."""
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "PRIVATE KEY" not in captured.out + captured.err
    return code, captured.out, captured.err


def configmap_results(capsys: pytest.CaptureFixture[str], kubeconfig: Path) -> dict[str, dict[str, str]]:
    """`verify cluster --output json`: the root ConfigMap check's result per ConfigMap."""
    _, stdout, stderr = run(capsys, "verify", "cluster", "-c", ic.CONFIG, "--kubeconfig", str(kubeconfig),
                            "--output", "json")  # fmt: skip
    assert stdout, stderr
    return {c["target"]: c for c in json.loads(stdout)["checks"] if c["id"] == CHECK}


def test_phase_b_is_confirmed_from_the_configmap_only_once_it_holds_the_bundle(
    kube_cluster: Cluster,
    cluster_plan: ClusterPlan,
    script_env: dict[str, str],
    workload: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = {**script_env, "K8S_HOST": kube_cluster.server, "K8S_CA_CERT_FILE": str(kube_cluster.ca_file)}
    done = run_setup(render_into(tmp_path / ic.CONFIG, tmp_path / "out"), env)
    assert done.returncode == 0, done.stderr
    for name in ("VAULT_ADDR", "VAULT_TOKEN"):
        monkeypatch.setenv(name, env[name])
    client = hvac.Client(url=env["VAULT_ADDR"], token=env["VAULT_TOKEN"])
    old_root = client.read("pki/cert/ca")["data"]["certificate"].encode()
    kubeconfig = str(kube_cluster.kubeconfig)
    rotation = tmp_path / "rotation"
    plan_rotation = ("plan-rotation", "--root", "-c", ic.CONFIG, "-o", str(rotation))

    # Phase (a) for real: the new root beside the old one, the trust bundle (old + new) in KV.
    code, stdout, _ = run(capsys, *plan_rotation)
    assert code == 1 and "next phase: a" in stdout
    result = run_setup(rotation, env, "root/a-new-root.sh")
    assert result.returncode == 0, result.stdout + result.stderr
    bundle = client.read("kv/istio-trust-bundle")["data"]["root-cert.pem"].encode()
    roots = x509.load_pem_x509_certificates(bundle)
    assert len(roots) == 2 and roots[0] == x509.load_pem_x509_certificate(old_root)

    # istiod's namespace and the workload's ConfigMaps still hold the old root only (as istiod wrote them).
    istiod_ns = cluster_plan.config.istiod.namespace
    injector.apply(
        kube_cluster.kubeconfig,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": istiod_ns}},
        seed.root_config_map(istiod_ns, old_root),
    )
    ic.workload_namespace(kube_cluster, workload, old_root)
    marker = client.read("kv/istio-trust-bundle")["data"]["delivered"]
    confirm = (*plan_rotation, "--confirm-bundle-from-cluster", workload, "--kubeconfig", kubeconfig)
    code, stdout, stderr = run(capsys, *confirm)
    assert code == 1
    assert f"ConfigMap {workload}/istio-ca-root-cert does not hold exactly the 2 roots of the trust bundle" in stderr
    assert "(1 certificate(s) there)" in stderr and "nothing confirmed" in stderr
    assert client.read("kv/istio-trust-bundle")["data"]["delivered"] == marker
    code, stdout, _ = run(capsys, *plan_rotation)
    assert code == 1 and "next phase: b" in stdout
    # verify cluster knows the rotation: the old root alone is the bundle on its way (phase (b)), a warning.
    found = configmap_results(capsys, kube_cluster.kubeconfig)
    mine = found[f"configmap/{workload}/istio-ca-root-cert"]
    assert mine["status"] == "warn" and PHASE_B in mine["finding"] and "lacks CN=example.com Root CA" in mine["finding"]
    assert f"--confirm-bundle-from-cluster {workload}" in mine["hint"]

    # istiod (restarted with the phase-(b) overlay) publishes the bundle: the ConfigMap holds both roots.
    injector.apply(kube_cluster.kubeconfig, seed.root_config_map(workload, bundle))
    found = configmap_results(capsys, kube_cluster.kubeconfig)
    mine = found[f"configmap/{workload}/istio-ca-root-cert"]
    assert mine["status"] == "pass"
    assert mine["finding"] == f"holds exactly the 2 root(s) of the trust bundle at kv/istio-trust-bundle ({PHASE_B})"
    assert found[f"configmap/{istiod_ns}/istio-ca-root-cert"]["status"] == "warn"
    code, stdout, stderr = run(capsys, *confirm)
    assert code == 1, stderr
    assert f"ConfigMap {workload}/istio-ca-root-cert holds the 2 roots of the bundle: delivery confirmed" in stdout
    assert "next phase: c" in stdout and "refused" not in stderr
    assert client.read("kv/istio-trust-bundle")["data"]["delivered"] != marker
    assert (rotation / "root" / "c" / "default" / "reissue-intermediate.sh").is_file()
    # Now in phase (c): the bundle in the ConfigMap passes, and the old root alone is a failure.
    found = configmap_results(capsys, kube_cluster.kubeconfig)
    assert found[f"configmap/{workload}/istio-ca-root-cert"]["finding"].endswith(f"({PHASE_C})")
    own = found[f"configmap/{istiod_ns}/istio-ca-root-cert"]
    assert own["status"] == "fail" and "mTLS outage" in own["finding"] and PHASE_C in own["finding"]
    # verify all judges Vault's values as the phase-(b) overlay's agent renders them (root-cert.pem: the bundle).
    _, stdout, stderr = run(capsys, "verify", "all", "-c", ic.CONFIG, "--kubeconfig", kubeconfig, "--output", "json")
    checks = json.loads(stdout)["checks"]
    on_vault = [c for c in checks if c["id"].startswith("chain.") and c["target"].startswith(env["VAULT_ADDR"])]
    assert on_vault and not [c for c in on_vault if c["status"] == "fail"], stderr
    bundle_check = next(c for c in on_vault if c["id"] == "chain.trust-bundle")
    assert bundle_check["finding"].startswith(f"root-cert.pem from kv/istio-trust-bundle ({PHASE_C}) holds 2 roots")
    assert not [c for c in checks if c["id"].startswith("vault.") and c["status"] == "fail"]
