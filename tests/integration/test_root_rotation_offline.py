"""Root rotation with an offline root (root.mode external), run for real on OpenBao: the external-root example
set up and signed offline, a new root made beside it (its key never near Vault), then `plan-rotation --root
--new-root-file` and each phase's rendered script run twice, plan-rotation naming the right next phase after each,
the unsafe orders and a different new root file refused with the reason, each new intermediate signed offline with
`sign-intermediate` as the phase-(c) script says, and at the end a real `bao agent` rendering the four CA files from
the phase-(b) overlay and from the render's own, judged by `verify chain`."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
from cryptography import x509

from tests.integration.fleet import cli, client, make_root, offline_setup, run, sign_csr
from tests.integration.rotation_agents import pems, run_agent

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OVERLAY = "istiod/istiod-helm-values.yaml"


def plan_rotation(env: dict[str, str], work: Path, *extra: str) -> tuple[int, str, str]:
    done = cli(env, "plan-rotation", "--root", "-c", "istio-vault-ca.yaml", "-o", "rotation", *extra, cwd=work)
    assert "Traceback" not in done.stderr and "PRIVATE KEY" not in done.stdout + done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


def run_twice(work: Path, env: dict[str, str], script: str) -> str:
    outputs = []
    for attempt in ("first", "again"):
        result = run(work / "rotation", env, script, cwd=work)
        assert result.returncode == 0, (script, attempt, result.stdout + result.stderr)
        outputs.append(result.stdout + result.stderr)
    assert "PRIVATE KEY" not in "".join(outputs)
    return outputs[1]


def root_cn_check(env: dict[str, str], work: Path) -> dict[str, str]:
    done = cli(env, "verify", "vault", "-c", "istio-vault-ca.yaml", "--output", "json", cwd=work)
    assert done.stdout, done.stderr
    return next(c for c in json.loads(done.stdout)["checks"] if c["id"] == "vault.root-cn")


def test_offline_root_rotation_in_four_phases(tmp_path: Path, script_env: dict[str, str]) -> None:
    env = script_env
    work, tree, old_key, old_root, plans = offline_setup(tmp_path, env)
    vault = client(env)
    for cluster in plans:
        assert sign_csr(env, work, old_key, cluster.name).returncode == 0
        imported = run(tree, env, f"clusters/{cluster.name}/vault/07-intermediate-import.sh", cwd=work)
        assert imported.returncode == 0, imported.stderr
    # The new offline root, made where the old one's key is kept (here: with cryptography, at test time).
    new_cert, new_key_beside, new_root = make_root(tmp_path / "new-root", "test offline root 2026")
    new_key = Path(shutil.move(new_key_beside, tmp_path / "new-root.key"))
    other_cert, _, _ = make_root(tmp_path / "other-root", "test offline root other")
    new_flag = ("--new-root-file", str(new_cert))

    # Phase (a): the report names it; without the new root's certificate nothing is rendered (exit 2, the reason).
    code, stdout, stderr = plan_rotation(env, work)
    assert code == 2 and "next phase: a" in stdout and "--new-root-file NEW-ROOT.pem" in stderr, stdout + stderr
    assert not (work / "rotation").exists()
    code, stdout, stderr = plan_rotation(env, work, "--new-root-file", "offline-root/root-ca.pem")
    assert code == 2 and "is the root being replaced" in stderr
    code, stdout, stderr = plan_rotation(env, work, "--new-root-file", str(tmp_path / "missing.pem"))
    assert code == 2 and "--new-root-file" in stderr and "cannot be read" in stderr
    code, stdout, stderr = plan_rotation(env, work, "--phase", "c", *new_flag)
    assert code == 1 and "refused: phase (c), a new intermediate signed by the new root" in stderr
    code, stdout, stderr = plan_rotation(env, work, *new_flag)
    assert code == 1 and "next phase: a" in stdout, stdout + stderr
    script_a = (work / "rotation" / "root" / "a-new-root.sh").read_text(encoding="utf-8")
    assert "PRIVATE KEY" not in script_a and "root/generate" not in script_a
    again = run_twice(work, env, "root/a-new-root.sh")
    assert "already in kv/istio-trust-bundle; keeping it" in again
    stored = vault.read("kv/data/istio-trust-bundle")["data"]["data"]
    assert x509.load_pem_x509_certificates(stored["root-cert.pem"].encode()) == [old_root, new_root]
    assert "pki/" not in vault.sys.list_mounted_secrets_engines()["data"], "no root may be created in Vault"

    # A different new root file later: refused, naming both roots.
    code, stdout, stderr = plan_rotation(env, work, "--new-root-file", str(other_cert))
    assert code == 1 and "recorded in the trust bundle by phase (a)" in stderr and "test offline root 2026" in stderr
    assert "test offline root other" in stderr

    # Phase (b), as for a root kept in Vault: policy, overlay, confirmed from what a real agent renders.
    code, stdout, stderr = plan_rotation(env, work)
    assert code == 1 and "next phase: b" in stdout, stdout + stderr
    code, stdout, stderr = plan_rotation(env, work, "--phase", "d")
    assert code == 1 and "refused: phase (d), removing the old root" in stderr
    for cluster in plans:
        run_twice(work, env, f"root/b/{cluster.name}/vault/06-policy.sh")
    pods = tmp_path / "pods"
    pods.mkdir(mode=0o700)
    east = run_agent(env, work / "rotation/root/b/east" / OVERLAY, pods / "b-east", "istioca-east")
    assert pems(east / "root-cert.pem") == [old_root, new_root]
    code, stdout, stderr = plan_rotation(env, work, "--confirm-bundle", str(east))
    assert "delivery confirmed" in stdout and "next phase: c" in stdout, stdout + stderr

    # Phase (c): the new root's file is needed for the command each script prints.
    code, stdout, stderr = plan_rotation(env, work)
    assert code == 2 and "pass --new-root-file" in stderr
    code, stdout, stderr = plan_rotation(env, work, *new_flag)
    assert code == 1 and "next phase: c" in stdout, stdout + stderr
    for cluster in plans:
        script = f"root/c/{cluster.name}/reissue-intermediate.sh"
        first = run(work / "rotation", env, script, cwd=work)
        assert first.returncode == 0 and "nothing has been replaced yet" in first.stdout, first.stderr
        line = next(ln for ln in first.stdout.splitlines() if "istio-vault-ca sign-intermediate" in ln)
        command = line[line.index("istio-vault-ca sign-intermediate") :]
        assert "--root-key <the NEW root's key>" in command
        words = shlex.split(command.replace("<the NEW root's key>", "KEY"))
        assert words[words.index("--root-cert") + 1] == str(new_cert)
        words[words.index("--root-key") + 1] = str(new_key)
        if cluster.name == "west":
            # The old root's key with the new root's certificate: sign-intermediate refuses it.
            words[words.index("--root-key") + 1] = str(old_key)
            refused = cli(env, *words[1:], cwd=work)
            assert refused.returncode == 2 and "--root-key is not the key of --root-cert" in refused.stderr
            # Signed by the old root by mistake: the import is rolled back, the intermediate stays on the old root.
            words[words.index("--root-cert") + 1] = "offline-root/root-ca.pem"
        signed = cli(env, *words[1:], cwd=work)
        assert signed.returncode == 0, signed.stderr
        if cluster.name == "west":
            wrong = run(work / "rotation", env, script, cwd=work)
            assert wrong.returncode == 1 and "was not issued by the root" in wrong.stderr, wrong.stdout + wrong.stderr
            code, stdout, stderr = plan_rotation(env, work, "--phase", "d", "--skip-ttl-wait")
            assert code == 1 and "still on the old root: west" in stderr
            words[words.index("--root-key") + 1] = str(new_key)
            words[words.index("--root-cert") + 1] = str(new_cert)
            assert cli(env, *words[1:], cwd=work).returncode == 0
        again = run_twice(work, env, script)
        assert "already signs with the new intermediate" in again
        mount = cluster.cluster.intermediate_mount
        chain = x509.load_pem_x509_certificates(vault.read(f"{mount}/cert/ca_chain")["data"]["certificate"].encode())
        assert chain[-1] == new_root
    code, stdout, stderr = plan_rotation(env, work)
    assert code == 1 and "refused: phase (d) before the longest workload certificate TTL" in stderr
    # verify knows the rotation: the new intermediates are signed by the bundle's new root, the policy reads it.
    for verify_command in (("verify", "vault"), ("verify", "chain", "--from-vault")):
        done = cli(env, *verify_command, "-c", "istio-vault-ca.yaml", "--output", "json", cwd=work)
        checks = json.loads(done.stdout)["checks"]
        failing = [(c["id"], c["finding"]) for c in checks if c["status"] == "fail"]
        assert done.returncode == 0 and not failing, (verify_command, failing)
        if verify_command[1] == "vault":
            issuer = next(c for c in checks if c["id"] == "vault.intermediate-issuer")["finding"]
            assert "signed by the new root test offline root 2026 of the trust bundle" in issuer
            assert "holds it and the offline root" in issuer

    # Phase (d): the bundle holds the new root only; each mount's root issuer is the new root.
    code, stdout, stderr = plan_rotation(env, work, "--skip-ttl-wait")
    assert code == 1 and "next phase: d" in stdout, stdout + stderr
    assert "intermediates on the new root: east, west" in stdout and "intermediates on the old root: none" in stdout
    again = run_twice(work, env, "root/d-new-root-only.sh")
    assert "already holds the new root only" in again and "already the new root" in again
    for cluster in plans:
        issuer = vault.read(f"{cluster.cluster.intermediate_mount}/issuer/root")["data"]["certificate"]
        assert x509.load_pem_x509_certificate(issuer.encode()) == new_root

    # Done, but root.certificate_file still names the old root: refused, and verify's vault.root-cn fails.
    code, stdout, stderr = plan_rotation(env, work)
    assert code == 1 and "next phase: done" in stdout, stdout + stderr
    assert "root.certificate_file (offline-root/root-ca.pem) still holds" in stderr
    root_cn = root_cn_check(env, work)
    assert root_cn["status"] == "fail" and "'test offline root 2026', not the offline root in" in root_cn["finding"]
    assert "point root.certificate_file at the new root" in json.dumps(root_cn)
    shutil.copy(new_cert, work / "offline-root" / "root-ca.pem")
    code, stdout, stderr = plan_rotation(env, work)
    assert code == 0 and "next phase: done" in stdout, stdout + stderr
    assert root_cn_check(env, work)["status"] == "pass"

    # The agents: the phase-(b) overlay and the render's own both render a chain ending at the new root only.
    for name, overlay in (("b", work / "rotation/root/b/east" / OVERLAY), ("render", tree / "clusters/east" / OVERLAY)):
        directory = run_agent(env, overlay, pods / f"d-{name}", "istioca-east")
        assert pems(directory / "root-cert.pem") == [new_root]
        assert pems(directory / "cert-chain.pem")[-1] == new_root
        done = cli(env, "verify", "chain", str(directory), "--output", "json")
        failing = [c["id"] for c in json.loads(done.stdout)["checks"] if c["status"] == "fail"]
        assert done.returncode == 0 and not failing, failing
    shutil.rmtree(pods)
