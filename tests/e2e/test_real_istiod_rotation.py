"""Root rotation and intermediate renewal against the real istiod (pilot-discovery from the pinned istio.io/istio,
tests/e2e/real_istiod.py): the rendered rotation scripts run on OpenBao, the agent renders the new files into the
running istiod's CA directory, and `verify cluster` and `plan-rotation` judge what istiod logged and published.
What is real and what stands in: tests/e2e/test_real_istiod.py.
"""

from __future__ import annotations

import os
import subprocess
from functools import partial
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from istio_vault_ca.generator.config.plan import ClusterPlan
from tests.e2e import istiod_cluster as ic
from tests.e2e import real_istiod as ri
from tests.e2e import vault_injector as injector
from tests.e2e.cluster import Cluster
from tests.e2e.kubelet_logs import KubeletLogs
from tests.e2e.real_istiod_deploy import (
    config_map_root,
    deploy_from_vault,
    run_agent,
    workload_namespace,
)

MULTIROOT = "ISTIO_MULTIROOT_MESH"
ROOT_CHECK = "cluster.root-configmap-matches-vault"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.real_istiod,
    pytest.mark.integration,
    pytest.mark.cluster_config(local_ca_dir=True),
]


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

    from istio_vault_ca.generator.config.plan import MULTIROOT_ENV
    from istio_vault_ca.verify.cli.parser import main
    from tests.support import run_setup

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
            process.wait_for(partial(config_map_root, kube_cluster, workload), f"the root ConfigMap in {workload}")
            process.wait_for_log(r"Added cacerts files watcher", "istiod watching its CA directory")
            _atomic_write(deployed.files / "root-cert.pem", bundle.encode())
            if not multiroot:
                process.wait_for_log(r"Multi root is disabled, updating new ROOT-CA not supported", "the refusal")
                outcome = ic.verify(capsys, kube_cluster.kubeconfig)
                assert config_map_root(kube_cluster, workload) == deployed.vault_root.decode()
            else:
                process.wait_for_log(r"Istiod has detected the newly added intermediate CA", "the reload")
                process.wait_for(
                    lambda: config_map_root(kube_cluster, workload) == bundle, f"both roots in {workload}'s ConfigMap"
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
    from istio_vault_ca.verify.cli.parser import main
    from tests.support import run_setup

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
            root = process.wait_for(
                partial(config_map_root, kube_cluster, workload), f"the root ConfigMap in {workload}"
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


def published_roots(kube_cluster: Cluster, namespace: str) -> list[x509.Certificate]:
    """The roots in the namespace's istio-ca-root-cert (none when istiod has not written it)."""
    pem = config_map_root(kube_cluster, namespace)
    return x509.load_pem_x509_certificates(pem.encode()) if pem else []


def _openssl_verifies(work: Path, anchors: str, chain_pem: str) -> subprocess.CompletedProcess[str]:
    """``openssl verify`` of the chain's leaf with its other certificates as intermediates, as a peer checks it."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "anchors.pem").write_text(anchors, encoding="utf-8")
    (work / "chain.pem").write_text(chain_pem, encoding="utf-8")
    return subprocess.run(
        ["openssl", "verify", "-CAfile", str(work / "anchors.pem"), "-untrusted", str(work / "chain.pem"),
         str(work / "chain.pem")],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip


def test_root_rotation_phases_b_to_d_against_the_real_istiod(
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
    """The phases `plan-rotation --root` renders, in order, with istiod running: (a) on Vault; (b) the policy
    script and istiod deployed with the phase-(b) plan (root-cert.pem from the bundle, ISTIO_MULTIROOT_MESH=true),
    confirmed from the ConfigMap istiod wrote; (c) the re-issued intermediate rendered by the agent and
    hot-reloaded; (d) the bundle down to the new root, rendered and taken by istiod. Workload certificates issued
    before and after verify against the bundle; verify cluster judges the reload and the ConfigMaps each time."""
    from istio_vault_ca.generator.render.root_rotation import bundle_plan
    from istio_vault_ca.verify.cli.parser import main
    from tests.support import run_setup

    rotation = tmp_path / "rotation"
    plan_rotation = ["plan-rotation", "--root", "-c", ic.CONFIG, "-o", str(rotation)]

    def rotate(*extra: str) -> str:
        capsys.readouterr()
        main([*plan_rotation, *extra])
        return capsys.readouterr().out

    def phases_a_and_b(vault_env: dict[str, str]) -> ClusterPlan:
        assert "next phase: a" in rotate()
        for script in ("root/a-new-root.sh", "root/b/default/vault/06-policy.sh"):
            if script.startswith("root/b/"):
                assert "next phase: b" in rotate()
            done = run_setup(rotation, vault_env, script)
            assert done.returncode == 0, script + done.stdout + done.stderr
        return bundle_plan(cluster_plan)

    deployed = deploy_from_vault(
        kube_cluster,
        vault_injector,
        cluster_plan,
        script_env,
        tmp_path,
        monkeypatch,
        before_deploy=phases_a_and_b,
    )
    istiod = cluster_plan.config.istiod
    old_root = x509.load_pem_x509_certificate(deployed.vault_root)
    bundle = (deployed.files / "root-cert.pem").read_text(encoding="utf-8")
    roots = x509.load_pem_x509_certificates(bundle.encode())
    assert roots[0] == old_root and len(roots) == 2
    new_root = roots[1]
    new_only = new_root.public_bytes(serialization.Encoding.PEM).decode()
    started = ic.start_pod(kube_cluster, kubelet_logs, deployed.pod, ic.running_status(deployed.pod))
    assert ri.container_env(started)[MULTIROOT] == "true"
    workload = ic.unique("a-rotating")
    workload_namespace(kube_cluster, workload, istiod.namespace)
    token = injector.kubectl(kube_cluster.kubeconfig, "create", "token", "default", "-n", workload,
                             "--audience", "istio-ca")  # fmt: skip
    assert token.returncode == 0, token.stderr

    def issue(process: ri.RealIstiod, name: str, anchors: str) -> list[x509.Certificate]:
        chain_pem = ri.workload_certificate(agent_binary, process, namespace=workload, service_account="default",
                                            token=token.stdout.strip(), root_pem=anchors,
                                            workdir=tmp_path / name)  # fmt: skip
        checked = _openssl_verifies(tmp_path / f"{name}-check", anchors, chain_pem)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        return x509.load_pem_x509_certificates(chain_pem.encode())

    reloaded = r"Istiod has detected the newly added intermediate CA and updated its key and certs accordingly"
    try:
        with ri.running_istiod(discovery_binary, kube_cluster, started, tmp_path / "istiod") as process:
            kubelet_logs.serve_file(istiod.namespace, started["metadata"]["name"], ri.CONTAINER, process.log)
            # (b): istiod started with the bundle and publishes both roots.
            process.wait_for(lambda: config_map_root(kube_cluster, workload) == bundle, "both roots published")
            before = issue(process, "cert-before", bundle)
            before_pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in before)
            confirmed = rotate("--confirm-bundle-from-cluster", workload, "--kubeconfig", str(kube_cluster.kubeconfig))
            assert "delivery confirmed" in confirmed and "next phase: c" in confirmed, confirmed
            in_b = ic.verify(capsys, kube_cluster.kubeconfig)

            # (c): the intermediate re-issued under the new root, rendered by the agent, hot-reloaded.
            done = run_setup(rotation, deployed.vault_env, "root/c/default/reissue-intermediate.sh")
            assert done.returncode == 0, done.stdout + done.stderr
            agent_token = ic.service_account_token(kube_cluster, istiod.namespace, istiod.service_account)
            run_agent(deployed.pod, deployed.vault_env, agent_token, tmp_path / "agent-c")
            process.wait_for_count(reloaded, 1, "the re-issued intermediate's reload")
            after = issue(process, "cert-after", bundle)
            in_c = ic.verify(capsys, kube_cluster.kubeconfig)

            # (d): the bundle down to the new root, rendered, and taken by istiod (the old bundle holds the new).
            assert "next phase: d" in rotate("--skip-ttl-wait")
            done = run_setup(rotation, deployed.vault_env, "root/d-new-root-only.sh")
            assert done.returncode == 0, done.stdout + done.stderr
            run_agent(deployed.pod, deployed.vault_env, agent_token, tmp_path / "agent-d")
            process.wait_for(
                lambda: published_roots(kube_cluster, workload) == [new_root], "the new root alone published"
            )
            last = issue(process, "cert-last", new_only)
            in_d = ic.verify(capsys, kube_cluster.kubeconfig)
            assert process.exit_code() is None, ri.tail(process.text())
    finally:
        ic.unlabel_workload_namespace(kube_cluster, workload)

    for phase, outcome in (("b", in_b), ("c", in_c), ("d", in_d)):
        assert outcome.code == 0, f"phase {phase}: {outcome.stdout}"
        assert outcome.failing() == set(), f"phase {phase}: {outcome.failing()}"
    assert in_b.one("cluster.istiod-ca-reload")["finding"].startswith("istiod watches ")
    assert in_c.one("cluster.istiod-ca-reload")["finding"].startswith(
        "istiod reloaded the changed CA files without a restart"
    )
    assert in_d.one("cluster.istiod-ca-reload")["finding"].startswith(
        "istiod reloaded the changed CA files and a new root bundle without a restart"
    )
    mine = f"configmap/{workload}/istio-ca-root-cert"
    assert in_b.one(ROOT_CHECK, mine)["finding"].startswith("holds exactly the 2 root(s) of the trust bundle")
    assert in_c.one(ROOT_CHECK, mine)["finding"].startswith("holds exactly the 2 root(s) of the trust bundle")
    assert in_d.one(ROOT_CHECK, mine)["finding"] == (
        "holds exactly the 1 root(s) of the trust bundle at kv/istio-trust-bundle "
        "(root rotation done: the trust bundle holds the new root only)"
    )
    # Before (c) the leaf's issuer is the old intermediate, under the old root; after it, the re-issued one under
    # the new root; each chain ends with the roots istiod held then (server.go ``CreateCertificate``).
    assert before[1].issuer == old_root.subject and before[-2:] == [old_root, new_root]
    assert after[1].issuer == new_root.subject and after[-2:] == [old_root, new_root]
    assert last[1] == after[1] and last[-1] == new_root and old_root not in last
    # Why (d) waits for the longest workload TTL: a certificate from before (c) no longer verifies once a peer
    # trusts the new root alone.
    stale = _openssl_verifies(tmp_path / "stale-check", new_only, before_pem)
    assert stale.returncode != 0, stale.stdout
