"""Issue 13 item 5: a policy on istiod's role that grants more than the rendered policy fails `verify vault`.

As a user meets it: the rendered scripts ran against a real OpenBao, someone adds a policy to the role (or edits
Vault's `default` policy, which every token of the role gets), and `verify vault -c istio-vault-ca.yaml` is run
from the config's directory. Each case undoes its change, so one configured server serves them all.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from istio_vault_ca.verify.checks.vault.policy_hcl import STOCK_DEFAULT, beyond, policy_grants
from tests.vault_setup import EC_CONFIG, Configured, cli, configure

ROLE = "auth/kubernetes/role/istiod"
EVERYTHING = 'path "*" {\n  capabilities = ["read", "list"]\n}\n'
NARROW = '# the agent reads this one anyway\npath "kv/istioca" {\n  capabilities = ["read"]\n}\n'


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Configured]:
    configured = configure(tmp_path_factory.mktemp("extra-policies"), EC_CONFIG)
    yield configured
    configured.server.stop()


def verify_vault(vault: Configured) -> tuple[int, str]:
    """`istio-vault-ca verify vault -c istio-vault-ca.yaml` from the config's directory, 200 columns wide."""
    env = {**vault.env, "COLUMNS": "200"}
    code, out, err = cli(env, "verify", "vault", "-c", "istio-vault-ca.yaml", cwd=vault.config_path.parent)
    return code, out + err


def role_line(output: str) -> str:
    return next(line for line in output.splitlines() if "vault.k8s-role-policy" in line)


def with_role_policies(vault: Configured, *policies: str) -> None:
    vault.client().write(ROLE, token_policies=list(policies))


@pytest.fixture
def restore(vault: Configured) -> Iterator[None]:
    client = vault.client()
    role = client.read(ROLE)["data"]
    default = client.sys.read_policy("default")["data"]["rules"]
    yield
    client.write(ROLE, token_policies=role["token_policies"], token_no_default_policy=False)
    client.sys.create_or_update_policy("default", default)
    for name in ("everything", "narrow"):
        client.sys.delete_policy(name)
    code, output = verify_vault(vault)
    assert code == 0 and "PASS" in role_line(output), output


@pytest.mark.integration
def test_a_role_also_carrying_a_read_everything_policy_fails(vault: Configured, restore: None) -> None:
    vault.client().sys.create_or_update_policy("everything", EVERYTHING)
    with_role_policies(vault, "istioca", "everything")
    code, output = verify_vault(vault)
    assert code == 1, output
    assert "FAIL" in role_line(output)
    assert "policy 'everything' grants list, read on '*'" in output
    assert "re-run vault/05-kubernetes-auth.sh" in output


@pytest.mark.integration
def test_an_extra_policy_granting_nothing_beyond_ours_only_warns(vault: Configured, restore: None) -> None:
    vault.client().sys.create_or_update_policy("narrow", NARROW)
    with_role_policies(vault, "istioca", "narrow")
    code, output = verify_vault(vault)
    assert code == 0, output
    assert "WARN" in role_line(output)
    assert "'narrow' (nothing beyond 'istioca')" in output


@pytest.mark.integration
def test_a_policy_vault_does_not_have_warns(vault: Configured, restore: None) -> None:
    with_role_policies(vault, "istioca", "not-yet-written")
    code, output = verify_vault(vault)
    assert code == 0, output
    assert "WARN" in role_line(output) and "'not-yet-written' (not in Vault" in output


@pytest.mark.integration
def test_a_default_policy_edited_to_grant_more_fails_unless_the_role_drops_it(vault: Configured, restore: None) -> None:
    client = vault.client()
    stock = client.sys.read_policy("default")["data"]["rules"]
    client.sys.create_or_update_policy("default", stock + '\npath "kv/*" {\n  capabilities = ["read"]\n}\n')
    # The role does not name `default`: Vault attaches it to every token anyway.
    code, output = verify_vault(vault)
    assert code == 1, output
    assert "policy 'default' grants read on 'kv/*'" in output
    assert "token_no_default_policy=true" in output
    client.write(ROLE, token_no_default_policy=True)
    code, output = verify_vault(vault)
    assert code == 0 and "PASS" in role_line(output), output


@pytest.mark.integration
def test_the_stock_default_policy_grants_nothing_beyond_the_known_one(vault: Configured) -> None:
    grants = policy_grants(vault.client().sys.read_policy("default")["data"]["rules"])
    assert grants is not None and grants, "the server's default policy must parse"
    assert beyond(grants, STOCK_DEFAULT) == {}


def test_policy_grants_reads_hcl_json_and_the_old_shorthand() -> None:
    hcl = """
    # comment
    path "a/*" { capabilities = ["read",] }
    path "a/*" {
      capabilities = ["update"]
      allowed_parameters = { "x" = [] }
    }
    path "b" { policy = "write" }
    path "c" { capabilities = ["deny"] }
    """
    assert policy_grants(hcl) == {
        "a/*": frozenset({"read", "update"}),
        "b": frozenset({"create", "read", "update", "delete", "list"}),
        "c": frozenset({"deny"}),
    }
    assert policy_grants('{"path": {"*": {"capabilities": ["sudo"]}}}') == {"*": frozenset({"sudo"})}
    assert beyond({"c": frozenset({"deny"}), "b": frozenset({"read"})}, {"b": frozenset({"read"})}) == {}


@pytest.mark.parametrize(
    "text",
    ['path "*" { capabilities = read }', 'name = "x"', 'path "x" {', '{"path": []}', 'path "x" { policy = "all" }'],
)
def test_rules_that_cannot_be_read_are_never_taken_for_granting_nothing(text: str) -> None:
    assert policy_grants(text) is None
