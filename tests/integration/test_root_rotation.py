"""`plan-rotation --root` against a real OpenBao set up by the rendered scripts: phase (a) rendered and run (and
re-run: it resumes), the unsafe order (a new intermediate before the trust bundle) refused with the reason, and
phase (b) confirmed only by a root-cert.pem that holds exactly the bundle's roots."""

from __future__ import annotations

from pathlib import Path

import hvac
from cryptography import x509

from tests.conftest import run_setup
from tests.kube_stub import seed
from tests.kube_stub.server import KubeStub
from tests.vault_setup import EC_CONFIG, cli, configure

CONFIG = EC_CONFIG + "vault:\n  audit:\n    enabled: false\n"


def test_root_rotation_phases_a_and_b_and_the_refused_order(tmp_path: Path) -> None:
    configured = configure(tmp_path, CONFIG)
    env, config = configured.env, str(configured.config_path)
    try:
        out = tmp_path / "rotation"
        code, stdout, stderr = cli(env, "plan-rotation", "--root", "-c", config, "-o", str(out))
        assert code == 1 and "next phase: a" in stdout, stdout + stderr
        assert "next phase: a" in stdout and "ISTIO_MULTIROOT_MESH=true" in stdout
        code, stdout, stderr = cli(
            env, "plan-rotation", "--root", "--workload-cert-ttl", "soon", "-c", config, "-o", str(out)
        )
        assert code == 2 and "--workload-cert-ttl 'soon': 'soon' is not a Vault duration" in stderr
        assert "Traceback" not in stderr
        # The unsafe order: phase (c) before the bundle is delivered is refused, with the reason.
        code, stdout, stderr = cli(env, "plan-rotation", "--root", "--phase", "c", "-c", config, "-o", str(out))
        assert code == 1
        assert "refused: phase (c), a new intermediate signed by the new root, before the trust bundle" in stderr
        assert "mTLS outage" in stderr
        for run in ("first", "again"):
            result = run_setup(out, env, "root/a-new-root.sh")
            assert result.returncode == 0, (run, result.stdout + result.stderr)
        assert "already exists" in result.stdout and "keeping it" in result.stdout
        client = hvac.Client(url=configured.server.address, token=configured.server.token)
        bundle = client.read("kv/istio-trust-bundle")["data"]["root-cert.pem"]
        roots = x509.load_pem_x509_certificates(bundle.encode())
        assert len(roots) == 2
        old_root = client.read("pki/cert/ca")["data"]["certificate"]
        assert roots[0] == x509.load_pem_x509_certificate(old_root.encode())  # the default is still the old root
        code, stdout, stderr = cli(env, "plan-rotation", "--root", "-c", config, "-o", str(out))
        assert "next phase: b" in stdout, stdout + stderr
        # A root-cert.pem with the old root only: the bundle has not arrived; nothing is confirmed.
        only_old = tmp_path / "only-old"
        only_old.mkdir()
        (only_old / "root-cert.pem").write_text(old_root + "\n", encoding="utf-8")
        code, stdout, stderr = cli(
            env, "plan-rotation", "--root", "--confirm-bundle", str(only_old), "-c", config, "-o", str(out)
        )
        assert code == 1 and "does not hold exactly the 2 roots" in stderr
        # From the cluster: the istio-ca-root-cert ConfigMap istiod publishes, read through the kubeconfig.
        stub = KubeStub().start()
        try:
            kubeconfig = str(stub.kubeconfig(tmp_path / "kubeconfig"))
            from_cluster = ("--confirm-bundle-from-cluster", "apps", "--kubeconfig", kubeconfig)
            code, stdout, stderr = cli(env, "plan-rotation", "--root", *from_cluster, "-c", config, "-o", str(out))
            assert code == 1 and "ConfigMap apps/istio-ca-root-cert has no root-cert.pem" in stderr, stderr
            stub.add(seed.root_config_map("apps", old_root.encode()))
            code, stdout, stderr = cli(env, "plan-rotation", "--root", *from_cluster, "-c", config, "-o", str(out))
            assert code == 1 and "apps/istio-ca-root-cert does not hold exactly the 2 roots" in stderr, stderr
            assert "(1 certificate(s) there)" in stderr
            code, stdout, stderr = cli(
                env, "plan-rotation", "--root", *from_cluster, "--confirm-bundle", "x", "-c", config, "-o", str(out)
            )
            assert code == 2 and "give one of them" in stderr
            stub.add(seed.root_config_map("apps", bundle.encode()))
            code, stdout, stderr = cli(env, "plan-rotation", "--root", *from_cluster, "-c", config, "-o", str(out))
            assert "ConfigMap apps/istio-ca-root-cert holds the 2 roots of the bundle: delivery confirmed" in stdout
            assert "next phase: c" in stdout, stdout + stderr
        finally:
            stub.stop()
        # Interrupted here and run again: the state is read back from Vault, phase (c) is no longer refused.
        code, stdout, stderr = cli(env, "plan-rotation", "--root", "--phase", "c", "-c", config, "-o", str(out))
        assert "refused" not in stderr and "next phase: c" in stdout, stdout + stderr
    finally:
        configured.server.stop()
