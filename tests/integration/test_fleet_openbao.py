"""Fleet, offline root and rotation, run for real: the rendered scripts against an OpenBao dev server, the CA
files read with hvac exactly as the agent templates read them, and checked as a chain with cryptography."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from istio_vault_ca.generator.config.cafiles import CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT
from istio_vault_ca.generator.config.plan import ClusterPlan
from istio_vault_ca.verify.checks.chain import check_values
from istio_vault_ca.verify.checks.vault import read_ca_values
from istio_vault_ca.verify.clients.vault import VaultApi, settings_from_env
from tests.integration.fleet import cli, client, make_root, offline_setup, plans_of, run, sign_csr
from tests.support import EXAMPLES, render_into

pytestmark = pytest.mark.integration


def agent_values(env: dict[str, str], cluster: ClusterPlan) -> dict[str, bytes | None]:
    """The four files as the rendered agent templates would write them (same paths, same fields)."""
    values, _ = read_ca_values(VaultApi(settings_from_env(env["VAULT_ADDR"], env)), cluster)
    return values


def assert_valid_chain_to(values: dict[str, bytes | None], root: x509.Certificate, target: str) -> x509.Certificate:
    """ca-cert signed by the one root, cert-chain = intermediate then root, ca-key the intermediate's key."""
    problems = [r for r in check_values(values, target=target) if r.failed]
    assert not problems, [f"{r.id}: {r.finding}" for r in problems]
    assert all(values[name] for name in (CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT))
    ca = x509.load_pem_x509_certificate(values[CA_CERT] or b"")
    chain = x509.load_pem_x509_certificates(values[CERT_CHAIN] or b"")
    assert x509.load_pem_x509_certificate(values[ROOT_CERT] or b"") == root
    assert chain[0] == ca and chain[-1] == root and len(chain) == 2
    ca.verify_directly_issued_by(root)
    key = serialization.load_pem_private_key(values[CA_KEY] or b"", password=None)
    assert key.public_key() == ca.public_key()
    return ca


def snapshot(env: dict[str, str], plans: tuple[ClusterPlan, ...]) -> dict[str, str]:
    """What a re-run must never change: every CA serial, default issuer and a digest of each stored key."""
    state: dict[str, str] = {}
    for cluster in plans:
        values = agent_values(env, cluster)
        for name in (CA_CERT, ROOT_CERT):
            cert = x509.load_pem_x509_certificate(values[name] or b"")
            state[f"{cluster.name}/{name}"] = format(cert.serial_number, "x")
        state[f"{cluster.name}/key"] = hashlib.sha256(values[CA_KEY] or b"").hexdigest()
        mount = cluster.cluster.intermediate_mount
        state[f"{cluster.name}/issuer"] = client(env).read(f"{mount}/config/issuers")["data"]["default"]
    return state


# ---------------------------------------------------------------- many clusters, one root in Vault


def test_three_clusters_under_one_root(tmp_path: Path, script_env: dict[str, str]) -> None:
    tree = render_into(EXAMPLES / "three-clusters.yaml", tmp_path / "out")
    plans = plans_of(EXAMPLES / "three-clusters.yaml")
    jwt = tmp_path / "reviewer.jwt"
    jwt.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl")
    env = dict(script_env, TOKEN_REVIEWER_JWT_FILE=str(jwt))
    scripts = ["root/vault/setup.sh", *(f"clusters/{p.name}/vault/setup.sh" for p in plans)]
    for script in scripts:
        result = run(tree, env, script)
        assert result.returncode == 0, f"{script}: {result.stderr}"
        assert "PRIVATE KEY" not in result.stdout + result.stderr
    before = snapshot(env, plans)

    for script in scripts:
        again = run(tree, env, script)
        assert again.returncode == 0, f"{script}: {again.stderr}"
        assert "generated" not in again.stdout, again.stdout
    assert snapshot(env, plans) == before

    vault = client(env)
    root = x509.load_pem_x509_certificate(vault.read("pki/cert/ca")["data"]["certificate"].encode())
    intermediates = {p.name: assert_valid_chain_to(agent_values(env, p), root, f"cluster {p.name}") for p in plans}
    assert len({c.serial_number for c in intermediates.values()}) == 3
    # Per-cluster overrides really reached Vault.
    west = intermediates["west"]
    west_key = west.public_key()
    assert isinstance(west_key, ec.EllipticCurvePublicKey) and west_key.curve.key_size == 384
    assert west.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "example.com Mesh Intermediate west"
    central = intermediates["central"]
    assert 364 <= (central.not_valid_after_utc - central.not_valid_before_utc).days <= 366
    hosts = {
        "east": "https://kubernetes.default.svc",
        "west": "https://api.west.example.com:6443",
        "central": "https://api.central.example.com:6443",
    }
    for name, host in hosts.items():
        assert vault.read(f"auth/kubernetes-{name}/config")["data"]["kubernetes_host"] == host
        role = vault.read(f"auth/kubernetes-{name}/role/istiod")["data"]
        assert role["token_policies"] == [f"istioca-{name}"]
        assert f'path "kv/data/istioca/{name}"' in vault.sys.read_policy(f"istioca-{name}")["data"]["rules"]


# ---------------------------------------------------------------- the offline root


def test_offline_root_signs_every_cluster(tmp_path: Path, script_env: dict[str, str]) -> None:
    work, tree, root_key, root, plans = offline_setup(tmp_path, script_env)
    vault = client(script_env)
    assert "pki/" not in vault.sys.list_mounted_secrets_engines()["data"], "no root may be created in Vault"
    for cluster in plans:
        assert (work / "csr" / f"{cluster.name}-intermediate.csr").is_file()

    # A key that is not the root's is refused, and nothing is written.
    _, wrong_key, _ = make_root(tmp_path / "wrong", "test offline root")
    refused = sign_csr(script_env, work, wrong_key, "east")
    assert refused.returncode == 2 and "--root-key is not the key of --root-cert" in refused.stderr
    assert not (work / "csr" / "east-intermediate.pem").exists()

    # A certificate from another root is not imported: the mount is left as it was.
    other = sign_csr(script_env, work, wrong_key, "west", root_cert=str(tmp_path / "wrong" / "root-ca.pem"))
    assert other.returncode == 0, other.stderr
    rejected = run(tree, script_env, "clusters/west/vault/07-intermediate-import.sh", cwd=work)
    assert rejected.returncode == 1 and "was not issued by the root" in rejected.stderr
    assert "removed the issuers this import added" in rejected.stderr
    assert vault.list("istioca-west/issuers") is None, "no issuer may be left behind"

    for cluster in plans:
        signed = sign_csr(script_env, work, root_key, cluster.name)
        assert signed.returncode == 0, signed.stderr
        assert "PRIVATE KEY" not in signed.stdout + signed.stderr
        imported = run(tree, script_env, f"clusters/{cluster.name}/vault/07-intermediate-import.sh", cwd=work)
        assert imported.returncode == 0, imported.stderr
        assert "named the imported root issuer 'root'" in imported.stdout

    for cluster in plans:
        mount = cluster.cluster.intermediate_mount
        chain = x509.load_pem_x509_certificates(vault.read(f"{mount}/cert/ca_chain")["data"]["certificate"].encode())
        assert chain[-1] == root, "cert/ca_chain must end with the offline root"
        issuer_root = vault.read(f"{mount}/issuer/root")["data"]["certificate"]
        assert x509.load_pem_x509_certificate(issuer_root.encode()) == root
        assert_valid_chain_to(agent_values(script_env, cluster), root, f"cluster {cluster.name}")

    before = snapshot(script_env, plans)
    for cluster in plans:
        again = run(tree, script_env, f"clusters/{cluster.name}/vault/setup.sh", cwd=work)
        assert again.returncode == 0 and "keeping both" in again.stdout, again.stderr
        imported = run(tree, script_env, f"clusters/{cluster.name}/vault/07-intermediate-import.sh", cwd=work)
        assert imported.returncode == 0 and "keeping them" in imported.stdout, imported.stderr
    assert snapshot(script_env, plans) == before


def test_offline_root_rotation_waits_for_the_signature(tmp_path: Path, script_env: dict[str, str]) -> None:
    work, tree, root_key, root, (east,) = offline_setup(tmp_path, script_env, only="east")
    assert sign_csr(script_env, work, root_key, "east").returncode == 0
    assert run(tree, script_env, "clusters/east/vault/07-intermediate-import.sh", cwd=work).returncode == 0
    before = snapshot(script_env, (east,))

    planned = cli(script_env, "plan-rotation", "--cluster", "east", "--warn-days", "400", "-o", "rotation", cwd=work)
    assert planned.returncode == 1 and "DUE" in planned.stdout, planned.stdout + planned.stderr
    script = work / "rotation" / "east" / "rotate-intermediate.sh"
    first = subprocess.run(["bash", str(script)], env=script_env, cwd=work, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    assert "nothing has been replaced yet" in first.stdout
    assert snapshot(script_env, (east,)) == before
    (csr,) = (work / "csr").glob("east-intermediate-replaces-*.csr")
    signed = cli(
        script_env,
        "sign-intermediate",
        "--root-cert",
        "offline-root/root-ca.pem",
        "--root-key",
        str(root_key),
        "--csr",
        str(csr),
        "--ttl",
        "8760h",
        "-o",
        str(csr.with_suffix(".pem")),
        cwd=work,
    )
    assert signed.returncode == 0, signed.stderr
    second = subprocess.run(
        ["bash", str(script)], env=script_env, cwd=work, capture_output=True, text=True, check=False
    )
    assert second.returncode == 0, second.stderr
    after = snapshot(script_env, (east,))
    assert after["east/issuer"] != before["east/issuer"] and after["east/key"] != before["east/key"]
    assert after["east/root-cert.pem"] == before["east/root-cert.pem"]
    assert_valid_chain_to(agent_values(script_env, east), root, "cluster east after rotation")


# ---------------------------------------------------------------- rotation under a root in Vault


ROTATION_CONFIG = """\
vault: {{audit: {{enabled: false}}}}
root: {{key_type: ec, key_bits: 256}}
intermediate: {{ttl: 240h, key_type: ec, key_bits: 256}}
kv: {{mount: kv, version: {kv_version}}}
"""


@pytest.mark.parametrize("kv_version", [1, 2])
def test_rotation_replaces_an_intermediate_under_the_same_root(
    tmp_path: Path, script_env: dict[str, str], kv_version: int
) -> None:
    config = tmp_path / "istio-vault-ca.yaml"
    config.write_text(ROTATION_CONFIG.format(kv_version=kv_version))
    tree = render_into(config, tmp_path / "out")
    assert run(tree, script_env, "vault/setup.sh").returncode == 0
    (cluster,) = plans_of(config)
    vault = client(script_env)
    old_cert = x509.load_pem_x509_certificate(vault.read("istioca/cert/ca")["data"]["certificate"].encode())
    before = snapshot(script_env, (cluster,))

    quiet = cli(script_env, "plan-rotation", "-c", str(config), "--warn-days", "5", "-o", str(tmp_path / "none"))
    assert quiet.returncode == 0 and "nothing to rotate" in quiet.stdout, quiet.stdout + quiet.stderr
    assert not (tmp_path / "none").exists()

    planned = cli(script_env, "plan-rotation", "-c", str(config), "--warn-days", "30", "-o", str(tmp_path / "rot"))
    assert planned.returncode == 1, planned.stdout + planned.stderr
    assert "cluster default: DUE" in planned.stdout and "days left -> default/rotate-intermediate.sh" in planned.stdout
    assert "root: OK" in planned.stdout
    script = tmp_path / "rot" / "default" / "rotate-intermediate.sh"
    assert (tmp_path / "rot" / "README.md").is_file()

    rotated = subprocess.run(["bash", str(script)], env=script_env, capture_output=True, text=True, check=False)
    assert rotated.returncode == 0, rotated.stderr
    assert "PRIVATE KEY" not in rotated.stdout + rotated.stderr
    after = snapshot(script_env, (cluster,))
    assert after["default/issuer"] != before["default/issuer"]
    assert after["default/ca-cert.pem"] != before["default/ca-cert.pem"]
    assert after["default/root-cert.pem"] == before["default/root-cert.pem"], "same root"
    root = x509.load_pem_x509_certificate(vault.read("pki/cert/ca")["data"]["certificate"].encode())
    new_cert = assert_valid_chain_to(agent_values(script_env, cluster), root, "after rotation")
    # The stored key is the new certificate's; the old intermediate's key is gone from KV.
    stored = serialization.load_pem_private_key(agent_values(script_env, cluster)[CA_KEY] or b"", password=None)
    assert stored.public_key() == new_cert.public_key() != old_cert.public_key()
    if kv_version == 2:
        versions = vault.secrets.kv.v2.read_secret_metadata(path="istioca", mount_point="kv")["data"]["versions"]
        assert [v for n, v in versions.items() if int(n) < max(map(int, versions)) and not v["destroyed"]] == []
    kv_list = vault.list("kv/metadata" if kv_version == 2 else "kv")["data"]["keys"]
    assert kv_list == ["istioca"], "the staged copy of the new key is removed"

    again = subprocess.run(["bash", str(script)], env=script_env, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert "already signs with the new intermediate" in again.stdout
    assert snapshot(script_env, (cluster,)) == after
    assert run(tree, script_env, "vault/setup.sh").returncode == 0
    assert snapshot(script_env, (cluster,)) == after, "setup.sh keeps the rotated intermediate"


def test_plan_rotation_exit_codes(tmp_path: Path, script_env: dict[str, str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(ROTATION_CONFIG.format(kv_version=1))
    down = cli(dict(script_env, VAULT_ADDR="http://127.0.0.1:9"), "plan-rotation", "-c", str(config))
    assert down.returncode == 3 and "cannot reach Vault" in down.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("clusters:\n  - {name: a, policy: root}\n")
    assert cli(script_env, "plan-rotation", "-c", str(bad)).returncode == 2
    missing = cli(script_env, "plan-rotation", "-c", str(config), "-o", str(tmp_path / "rot"))
    assert missing.returncode == 1 and "MISSING" in missing.stdout, missing.stdout + missing.stderr
