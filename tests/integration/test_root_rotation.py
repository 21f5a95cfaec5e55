"""`plan-rotation --root` against a real OpenBao set up by the rendered scripts: phase (a) rendered and run (and
re-run: it resumes), the unsafe order (a new intermediate before the trust bundle) refused with the reason, and
phase (b) confirmed only by a root-cert.pem that holds exactly the bundle's roots."""

from __future__ import annotations

from pathlib import Path

import hvac
from cryptography import x509

from istio_vault_ca.verify.rehearsal.openbao import free_port
from tests.support import run_setup
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
        code, stdout, stderr = cli(
            env, "plan-rotation", "--root", "--new-root-file", config, "-c", config, "-o", str(out)
        )
        assert code == 2 and "--new-root-file is for an offline root (root.mode external)" in stderr, stderr
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
        # From the cluster (the istio-ca-root-cert ConfigMap istiod publishes): a kubeconfig that cannot be used is
        # exit 2, an API server that does not answer exit 3, both with the reason and nothing confirmed. Reading a
        # real ConfigMap needs the e2e tier's API server; the value's judgement is the same as for a directory.
        from_cluster = ("--confirm-bundle-from-cluster", "apps", "--kubeconfig")
        missing = tmp_path / "no-such-kubeconfig"
        code, stdout, stderr = cli(
            env, "plan-rotation", "--root", *from_cluster, str(missing), "-c", config, "-o", str(out)
        )
        assert code == 2 and "cannot use the kubeconfig" in stderr and "Traceback" not in stderr, stderr
        dead = tmp_path / "dead-kubeconfig"
        dead.write_text(_kubeconfig(f"https://127.0.0.1:{free_port()}"), encoding="utf-8")
        code, stdout, stderr = cli(
            env, "plan-rotation", "--root", *from_cluster, str(dead), "-c", config, "-o", str(out)
        )
        assert code == 3 and "is unreachable" in stderr and "Traceback" not in stderr, stderr
        code, stdout, stderr = cli(
            env,
            "plan-rotation",
            "--root",
            *from_cluster,
            str(dead),
            "--confirm-bundle",
            "x",
            "-c",
            config,
            "-o",
            str(out),
        )
        assert code == 2 and "give one of them" in stderr
        both = tmp_path / "both"
        both.mkdir()
        (both / "root-cert.pem").write_text(bundle, encoding="utf-8")
        code, stdout, stderr = cli(
            env, "plan-rotation", "--root", "--confirm-bundle", str(both), "-c", config, "-o", str(out)
        )
        assert "holds the 2 roots of the bundle: delivery confirmed" in stdout, stdout + stderr
        assert "next phase: c" in stdout
        # Interrupted here and run again: the state is read back from Vault, phase (c) is no longer refused.
        code, stdout, stderr = cli(env, "plan-rotation", "--root", "--phase", "c", "-c", config, "-o", str(out))
        assert "refused" not in stderr and "next phase: c" in stdout, stdout + stderr
    finally:
        configured.server.stop()


def _kubeconfig(server: str) -> str:
    """A kubeconfig whose one context points at `server` with a bearer token."""
    return (
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters:\n- name: k\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\n"
        "users:\n- name: u\n  user:\n    token: t\n"
        "contexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n"
    )
