"""In a fleet every hint names the cluster's own step script (`clusters/<name>/vault/NN-...sh`, the layout of
generator/render/layout.py), in a flat tree `vault/NN-...sh`; and a PASS never carries a recommendation (the
flavor mismatch warns). The user's steps: a two-cluster config, `verify vault --cluster west` against a Vault
that lacks west's auth method, policy and intermediate."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest

from istio_vault_ca.generator.config.loader import parse_text
from istio_vault_ca.generator.config.plan import plan
from istio_vault_ca.generator.render.tree import render_tree
from istio_vault_ca.verify.checks.cluster import diagnose_agent_log
from istio_vault_ca.verify.checks.cluster.agent import agent_context
from istio_vault_ca.verify.checks.result import Status
from istio_vault_ca.verify.checks.vault.access import k8s_auth_config, k8s_auth_mount, k8s_role_binding, policy_text
from istio_vault_ca.verify.checks.vault.ca import intermediate_issuer, intermediate_mount, kv_mount, reachable
from istio_vault_ca.verify.checks.vault.state import ClusterVaultState, VaultState
from istio_vault_ca.verify.clients.vault import VaultApi
from istio_vault_ca.verify.rehearsal.agent import Expectation
from tests.kube_stub import seed

FLEET = """\
clusters:
  - name: east
    intermediate_mount: istioca-east
    kv_path: istioca-east
    auth_mount: kubernetes-east
    policy: istioca-east
    kubernetes_auth: {reviewer: client-jwt, kubernetes_host: "https://east.example.com:6443"}
  - name: west
    intermediate_mount: istioca-west
    kv_path: istioca-west
    auth_mount: kubernetes-west
    policy: istioca-west
    kubernetes_auth: {reviewer: client-jwt, kubernetes_host: "https://west.example.com:6443"}
"""


class EmptyVault:
    """A Vault that answers every read with nothing (as before the cluster's steps ran), at `version`."""

    address = "http://127.0.0.1:8200"

    def __init__(self, version: str = "1.21.4") -> None:
        self.version = version

    def health(self) -> dict[str, Any]:
        return {"initialized": True, "sealed": False, "standby": False, "version": self.version}

    def read(self, path: str) -> dict[str, Any] | None:
        del path
        return None


def states(config_text: str, version: str = "1.21.4") -> tuple[VaultState, dict[str, ClusterVaultState]]:
    config = parse_text(config_text, "test.yaml")
    plans = plan(config)
    api = cast(VaultApi, EmptyVault(version))
    now = dt.datetime.now(dt.UTC)
    shared = VaultState(api, config, 30, now, clusters=plans)
    return shared, {p.name: ClusterVaultState(api, config, 30, now, clusters=plans, cluster=p) for p in plans}


def test_fleet_hints_name_the_clusters_own_scripts_and_they_exist() -> None:
    shared, by_name = states(FLEET)
    west = by_name["west"]
    hints = {
        "vault.k8s-auth-mount": k8s_auth_mount(west).hint,
        "vault.k8s-auth-config": k8s_auth_config(west).hint,
        "vault.k8s-role-binding": k8s_role_binding(west).hint,
        "vault.policy-text": policy_text(west).hint,
        "vault.intermediate-mount": intermediate_mount(west).hint,
        "vault.intermediate-issuer": intermediate_issuer(west).hint,
    }
    assert hints == {
        "vault.k8s-auth-mount": "run clusters/west/vault/05-kubernetes-auth.sh",
        "vault.k8s-auth-config": "run clusters/west/vault/05-kubernetes-auth.sh",
        "vault.k8s-role-binding": "run clusters/west/vault/05-kubernetes-auth.sh",
        "vault.policy-text": "run clusters/west/vault/06-policy.sh",
        "vault.intermediate-mount": "run clusters/west/vault/04-intermediate-pki.sh",
        "vault.intermediate-issuer": "run clusters/west/vault/04-intermediate-pki.sh",
    }
    assert kv_mount(shared).hint == "run clusters/east/vault/03-kv.sh (or any cluster's 03-kv.sh)"
    # Every script a hint names is a file the render writes.
    tree = render_tree(shared.config)
    for hint in [*hints.values(), kv_mount(shared).hint]:
        script = hint.split()[1]
        assert script in tree, script


def test_a_flat_tree_names_vault_steps() -> None:
    shared, by_name = states("kv: {version: 1}\n")
    cluster = by_name["default"]
    assert k8s_auth_mount(cluster).hint == "run vault/05-kubernetes-auth.sh"
    assert intermediate_mount(cluster).hint == "run vault/04-intermediate-pki.sh"
    assert kv_mount(shared).hint == "run vault/03-kv.sh"


def test_an_offline_root_names_its_csr_step() -> None:
    text = FLEET + "root:\n  mode: external\n  certificate_file: offline-root.pem\n"
    _, by_name = states(text)
    assert intermediate_mount(by_name["east"]).hint == "run clusters/east/vault/04-intermediate-csr.sh"
    assert "clusters/east/vault/04-intermediate-csr.sh" in render_tree(by_name["east"].config)


@pytest.mark.parametrize(
    ("log", "script"),
    [
        (seed.agent_log_login_refused("permission denied"), "05-kubernetes-auth.sh"),
        (seed.agent_log_login_refused("namespace not authorized"), "05-kubernetes-auth.sh"),
        (seed.agent_log_permission_denied("kv/istioca-west"), "06-policy.sh"),
        ("[ERROR] could not load backend configuration", "05-kubernetes-auth.sh"),
    ],
)
def test_agent_log_hints_in_a_fleet_name_the_clusters_scripts(log: str, script: str) -> None:
    config = parse_text(FLEET, "test.yaml")
    west = next(p for p in plan(config) if p.name == "west")
    diagnosis = diagnose_agent_log(log, agent_context(west))
    assert diagnosis is not None
    assert f"clusters/west/vault/{script}" in diagnosis.hint
    assert " vault/0" not in diagnosis.hint


def test_the_rehearsals_expectation_defaults_to_a_flat_tree() -> None:
    config = parse_text("kv: {version: 1}\n", "test.yaml")
    [only] = plan(config)
    assert Expectation("istio-system", "istiod", "istioca", only.kv).scripts == "vault/"


def test_a_vault_config_against_openbao_warns_with_the_fix() -> None:
    shared, _ = states("kv: {version: 1}\n", version="2.3.1")
    result = reachable(shared)
    assert result.status is Status.WARN
    assert "(OpenBao)" in result.finding and "the config says vault.flavor: vault" in result.finding
    assert result.hint.startswith("set vault.flavor: openbao in the config and render again")
    same, _ = states("vault: {flavor: openbao, audit: {enabled: false}}\n", version="2.3.1")
    assert reachable(same).status is Status.PASS and reachable(same).hint == ""
