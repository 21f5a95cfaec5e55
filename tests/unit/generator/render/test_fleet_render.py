"""Many clusters under one root, and the offline root: what the render gives each cluster (no Vault needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from istio_vault_ca.generator.config.loader import parse_text
from istio_vault_ca.generator.config.plan import plan
from istio_vault_ca.generator.errors import ConfigError
from istio_vault_ca.generator.render.tree import render_tree
from tests.support import EXAMPLES


def tree_of(config_path: Path) -> dict[str, str]:
    config = parse_text(config_path.read_text(encoding="utf-8"), str(config_path))
    return {name: file.content.decode() for name, file in render_tree(config).items()}


@pytest.fixture(scope="module")
def fleet() -> dict[str, str]:
    return tree_of(EXAMPLES / "three-clusters.yaml")


@pytest.fixture(scope="module")
def offline() -> dict[str, str]:
    return tree_of(EXAMPLES / "external-root.yaml")


def test_root_steps_once_and_a_self_contained_tree_per_cluster(fleet: dict[str, str]) -> None:
    assert [n for n in fleet if n.startswith("root/")] == [
        "root/vault/01-audit.sh",
        "root/vault/02-root-pki.sh",
        "root/vault/lib.sh",
        "root/vault/setup.sh",
    ]
    for name in ("east", "west", "central"):
        prefix = f"clusters/{name}/"
        for step in ("03-kv.sh", "04-intermediate-pki.sh", "05-kubernetes-auth.sh", "06-policy.sh", "setup.sh"):
            assert f"{prefix}vault/{step}" in fleet
        assert "02-root-pki" not in fleet[f"{prefix}vault/setup.sh"]
        assert f"{prefix}policy.hcl" in fleet


def test_root_mount_allows_the_longest_intermediate(fleet: dict[str, str]) -> None:
    assert "SIGNING_MAX_TTL='87600h'" in fleet["root/vault/02-root-pki.sh"]


def test_per_cluster_intermediate_overrides(fleet: dict[str, str]) -> None:
    west = fleet["clusters/west/vault/04-intermediate-pki.sh"]
    assert "INT_CN='example.com Mesh Intermediate west'" in west
    assert "INT_TTL='17520h'" in west and "INT_KEY_TYPE='ec'" in west and "INT_KEY_BITS='384'" in west
    central = fleet["clusters/central/vault/04-intermediate-pki.sh"]
    assert "INT_TTL='8760h'" in central and "INT_KEY_TYPE='rsa'" in central
    east = fleet["clusters/east/vault/04-intermediate-pki.sh"]
    assert "INT_CN='example.com Mesh Intermediate east'" in east and "INT_TTL='43800h'" in east
    for name in ("east", "west", "central"):
        script = fleet[f"clusters/{name}/vault/04-intermediate-pki.sh"]
        assert f"INT_MOUNT='istioca-{name}'" in script and f"KV_PATH='istioca/{name}'" in script
        assert "ROOT_MOUNT='pki'" in script


def test_per_cluster_kubernetes_auth_and_reviewer(fleet: dict[str, str]) -> None:
    hosts = {
        "east": "https://kubernetes.default.svc",
        "west": "https://api.west.example.com:6443",
        "central": "https://api.central.example.com:6443",
    }
    for name, host in hosts.items():
        script = fleet[f"clusters/{name}/vault/05-kubernetes-auth.sh"]
        assert f"CONFIGURED_K8S_HOST='{host}'" in script
        assert f"AUTH_MOUNT='kubernetes-{name}'" in script and f"POLICY='istioca-{name}'" in script
    assert 'reviewer mode "client-jwt"' in fleet["clusters/west/vault/05-kubernetes-auth.sh"]
    assert "clusters/west/kubernetes/istiod-auth-delegator.yaml" in fleet
    assert "clusters/central/kubernetes/token-reviewer.yaml" in fleet
    assert not any(n.startswith("clusters/east/kubernetes/") for n in fleet)


def test_per_cluster_outputs_and_auth_path_annotations(fleet: dict[str, str]) -> None:
    outputs = {n.split("/")[1]: n.rsplit("/", 1)[1] for n in fleet if "/istiod/" in n}
    assert sorted(n for n in fleet if n.startswith("clusters/central/istiod/")) == [
        "clusters/central/istiod/istiod-helm-values.yaml",
        "clusters/central/istiod/tsb-controlplane-overlay.yaml",
    ]
    assert outputs["west"] == "istio-operator-overlay.yaml"
    assert [n for n in fleet if n.startswith("clusters/east/istiod/")] == [
        "clusters/east/istiod/istiod-helm-values.yaml"
    ]
    yaml = YAML(typ="safe")
    for name in ("east", "central"):
        values = yaml.load(fleet[f"clusters/{name}/istiod/istiod-helm-values.yaml"])
        annotations = values["podAnnotations"]
        assert annotations["vault.hashicorp.com/auth-path"] == f"auth/kubernetes-{name}"
        assert annotations["vault.hashicorp.com/role"] == "istiod"
        assert annotations["vault.hashicorp.com/agent-inject-secret-ca-key.pem"] == f"kv/data/istioca/{name}"
        assert annotations["vault.hashicorp.com/agent-inject-secret-ca-cert.pem"] == f"istioca-{name}/cert/ca"
        assert annotations["vault.hashicorp.com/agent-inject-secret-root-cert.pem"] == "pki/cert/ca"


def test_vault_server_only_in_the_cluster_it_runs_in(fleet: dict[str, str]) -> None:
    yaml = YAML(typ="safe")
    east = yaml.load(fleet["clusters/east/vault-helm-values.yaml"])
    assert east["server"]["enabled"] is True
    for name in ("west", "central"):
        values = yaml.load(fleet[f"clusters/{name}/vault-helm-values.yaml"])
        assert values["server"] == {"enabled": False}
        assert values["injector"]["externalVaultAddr"] == "https://vault.example.com:8200"


def test_policies_are_per_cluster_and_least_privilege(fleet: dict[str, str]) -> None:
    config = parse_text((EXAMPLES / "three-clusters.yaml").read_text(), "three-clusters")
    paths = {p.name: p.policy_paths() for p in plan(config)}
    assert paths["west"] == (
        "istioca-west/cert/ca",
        "istioca-west/cert/ca_chain",
        "kv/data/istioca/west",
        "pki/cert/ca",
    )
    assert len({p for ps in paths.values() for p in ps}) == 10  # only the root's path is shared


def test_external_root_is_never_created_in_vault(offline: dict[str, str]) -> None:
    scripts = {n: t for n, t in offline.items() if n.endswith(".sh")}
    assert "root/vault/02-root-pki.sh" not in offline
    assert not any("root/generate" in t or 'sign-intermediate" \\' in t for t in scripts.values())
    assert not any("ROOT_MOUNT=" in t for t in scripts.values())
    setup = offline["clusters/east/vault/setup.sh"]
    assert "04-intermediate-csr.sh" in setup and "07-intermediate-import.sh" not in setup.split("printf")[0]
    assert "clusters/east/vault/07-intermediate-import.sh" in offline
    assert (
        "CONFIGURED_ROOT_CERT_FILE='offline-root/root-ca.pem'"
        in offline["clusters/east/vault/07-intermediate-import.sh"]
    )


def test_external_root_cert_file_is_read_from_the_imported_issuer(offline: dict[str, str]) -> None:
    config = parse_text((EXAMPLES / "external-root.yaml").read_text(), "external-root")
    east = plan(config)[0]
    root_file = next(f for f in east.ca_files() if f.name == "root-cert.pem")
    assert root_file.secret_path == "istioca-east/issuer/root"
    assert 'path "istioca-east/issuer/root"' in offline["clusters/east/policy.hcl"]
    yaml = YAML(typ="safe")
    annotations = yaml.load(offline["clusters/east/istiod/istiod-helm-values.yaml"])["podAnnotations"]
    assert annotations["vault.hashicorp.com/agent-inject-secret-root-cert.pem"] == "istioca-east/issuer/root"


def test_rendering_does_not_need_the_root_certificate_file(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("root: {mode: external, certificate_file: does/not/exist.pem}\nkv: {mount: pki}\n")
    tree = tree_of(config)  # kv.mount may be 'pki': an external root has no mount in Vault
    assert "vault/04-intermediate-csr.sh" in tree and "vault/07-intermediate-import.sh" in tree
    assert "vault/02-root-pki.sh" not in tree


def test_a_fleet_error_names_every_colliding_field(tmp_path: Path) -> None:
    text = (
        "clusters:\n"
        "  - {name: a, intermediate_mount: int, kv_path: a, auth_mount: k8s, policy: a}\n"
        "  - {name: a, intermediate_mount: int/b, kv_path: a, auth_mount: k8s/b, policy: default}\n"
    )
    with pytest.raises(ConfigError) as error:
        parse_text(text, "fleet.yaml")
    found = {problem.location for problem in error.value.problems}
    assert {
        "clusters[1].name",
        "clusters[1].kv_path",
        "clusters[1].intermediate_mount",
        "clusters[1].auth_mount",
        "clusters[1].policy",
        "clusters[1].kubernetes_auth.kubernetes_host",
    } <= found
    assert all(problem.line == 3 for problem in error.value.problems if problem.location.startswith("clusters[1]"))
