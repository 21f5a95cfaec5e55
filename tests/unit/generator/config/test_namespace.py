"""`vault.namespace` and `clusters[].vault_namespace` in what is rendered: every script but the audit step works
inside the configured namespace, the agent annotation names it, and the default config renders no namespace."""

from __future__ import annotations

from pathlib import Path

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import plan
from istio_vault_ca.verify.rehearsal.agent import build_config, parse_injection, read_overlay
from tests.support import render_into

NAMESPACED = "vault:\n  namespace: team-a\n"
EXTERNAL_PER_CLUSTER = """\
vault:
  namespace: platform
root:
  mode: external
  certificate_file: root.pem
clusters:
  - name: east
  - name: west
    vault_namespace: platform/west
    intermediate_mount: istioca-west
    kv_path: istioca-west
    auth_mount: kubernetes-west
    policy: istioca-west
    kubernetes_auth:
      reviewer: client-jwt
      kubernetes_host: https://west.example:6443
"""


def _render(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "istio-vault-ca.yaml"
    config.write_text(text, encoding="utf-8")
    return render_into(config, tmp_path / "out")


def test_every_script_but_audit_exports_the_configured_namespace(tmp_path: Path) -> None:
    tree = _render(tmp_path, NAMESPACED)
    # lib.sh, which every step sources first, exports the namespace; only the audit step leaves it.
    lib = (tree / "vault" / "lib.sh").read_text(encoding="utf-8")
    assert "export VAULT_NAMESPACE='team-a'" in lib
    steps = sorted(path for path in (tree / "vault").glob("*.sh") if path.name not in {"lib.sh", "setup.sh"})
    assert [path.name[:2] for path in steps] == ["01", "02", "03", "04", "05", "06"]
    for script in steps:
        text = script.read_text(encoding="utf-8")
        sourced = text.index('/lib.sh"')
        assert "export VAULT_NAMESPACE" not in text, script.name
        if script.name == "01-audit.sh":
            # sys/audit exists in the root namespace only: unset after the helpers set it.
            assert text.index("unset VAULT_NAMESPACE") > sourced
        else:
            assert "VAULT_NAMESPACE" not in text, script.name
    from ruamel.yaml import YAML

    from istio_vault_ca.generator.render.installers import get_installer

    tsb = get_installer("tsb-controlplane")
    document = YAML(typ="safe").load((tree / tsb.FILE).read_text(encoding="utf-8"))
    found = tsb.read(document)
    assert found is not None
    annotations, _ = found
    assert annotations["vault.hashicorp.com/namespace"] == "team-a"


def test_the_default_config_renders_no_namespace(tmp_path: Path) -> None:
    tree = _render(tmp_path, "kv:\n  version: 1\n")
    for path in tree.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert "VAULT_NAMESPACE=" not in text and "vault.hashicorp.com/namespace" not in text, path


def test_a_cluster_namespace_overrides_vault_namespace_in_its_scripts_and_annotations(tmp_path: Path) -> None:
    (tmp_path / "root.pem").write_text("", encoding="utf-8")
    tree = _render(tmp_path, EXTERNAL_PER_CLUSTER)
    west = (tree / "clusters" / "west" / "vault" / "lib.sh").read_text(encoding="utf-8")
    east = (tree / "clusters" / "east" / "vault" / "lib.sh").read_text(encoding="utf-8")
    assert "export VAULT_NAMESPACE='platform/west'" in west
    assert "export VAULT_NAMESPACE='platform'" in east
    plans = {p.name: p for p in plan(load(str(tmp_path / "istio-vault-ca.yaml")).config)}
    assert plans["west"].annotations()["vault.hashicorp.com/namespace"] == "platform/west"
    assert plans["east"].annotations()["vault.hashicorp.com/namespace"] == "platform"


def test_the_rehearsal_agent_logs_in_inside_the_namespace(tmp_path: Path) -> None:
    tree = _render(tmp_path, NAMESPACED)
    overlay = read_overlay(tree / "istiod" / "tsb-controlplane-overlay.yaml", "overlay")
    injection = parse_injection(overlay)
    assert injection.namespace == "team-a"
    config = build_config(
        injection,
        vault_address="http://127.0.0.1:1",
        token_path=tmp_path / "jwt",
        root=tmp_path / "fs",
        sink_path=tmp_path / "sink",
        pid_file=tmp_path / "pid",
    )
    assert config["auto_auth"]["method"]["namespace"] == "team-a"
