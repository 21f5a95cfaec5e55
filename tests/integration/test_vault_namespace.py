"""A namespaced config against a real OpenBao namespace (OpenBao 2.x has namespaces): the rehearsal with the
agent logging in inside it, and the rendered scripts plus `verify vault` on a dev server."""

from __future__ import annotations

from pathlib import Path

import hvac

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import plan
from istio_vault_ca.generator.render.layout import layout_for
from istio_vault_ca.verify.rehearsal.openbao import create_namespaces, start_dev_server
from tests.support import make_self_signed_ca_pem, render_into, require_openbao, run_cli, run_setup
from tests.vault_setup import EC_CONFIG, cli

NAMESPACED = EC_CONFIG + "vault:\n  namespace: team-a\n  audit:\n    enabled: false\n"


def test_rehearsal_of_a_namespaced_config_passes(tmp_path: Path) -> None:
    require_openbao()
    config = tmp_path / "istio-vault-ca.yaml"
    config.write_text(NAMESPACED, encoding="utf-8")
    result = run_cli("rehearse", "-c", config, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "namespaces team-a created" in result.stdout
    assert "logged in as istio-system/" in result.stdout


def test_scripts_and_verify_vault_work_inside_the_namespace(tmp_path: Path) -> None:
    require_openbao()
    config_path = tmp_path / "istio-vault-ca.yaml"
    config_path.write_text(NAMESPACED, encoding="utf-8")
    tree = render_into(config_path, tmp_path / "out")
    config = load(str(config_path)).config
    server = start_dev_server(tmp_path / "openbao")
    try:
        assert create_namespaces(server, layout_for(plan(config)).clusters) == ("team-a",)
        kube_ca = tmp_path / "kubernetes-ca.crt"
        kube_ca.write_bytes(make_self_signed_ca_pem("test kubernetes CA"))
        env = server.env()
        env.update(K8S_CA_CERT_FILE=str(kube_ca), TMPDIR=str(tmp_path), VAULT_NAMESPACE="elsewhere")
        result = run_setup(tree, env)
        assert result.returncode == 0, result.stdout + result.stderr
        outside = hvac.Client(url=server.address, token=server.token)
        inside = hvac.Client(url=server.address, token=server.token, namespace="team-a")
        # Everything landed in team-a (the config wins over the exported VAULT_NAMESPACE), nothing outside it.
        assert {"pki/", "istioca/", "kv/"} <= set(inside.sys.list_mounted_secrets_engines()["data"])
        assert "istioca/" not in outside.sys.list_mounted_secrets_engines()["data"]
        assert "kubernetes/" in inside.sys.list_auth_methods()["data"]
        assert "istioca" in inside.sys.list_acl_policies()["data"]["keys"]
        code, out, err = cli(env, "verify", "vault", "-c", str(config_path))
        assert code == 0, out + err
        code, out, err = cli(env, "verify", "chain", "--from-vault", "-c", str(config_path))
        assert code == 0, out + err
        # The same Vault without the namespace in the config: the checks find nothing where they look.
        plain = tmp_path / "plain.yaml"
        plain.write_text(EC_CONFIG + "vault:\n  audit:\n    enabled: false\n", encoding="utf-8")
        env.pop("VAULT_NAMESPACE")
        code, out, _ = cli(env, "verify", "vault", "-c", str(plain))
        assert code == 1, out
    finally:
        server.stop()
