"""`vault.namespace`: a config naming a namespace against a server without namespaces fails before anything is
read in the wrong place. Vault's community edition drops X-Vault-Namespace (http/handler_stubs_oss.go
`adjustRequest` in Vault 1.21.4 returns the request unchanged), so its paths would silently be the root's."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest

from istio_vault_ca.generator.config.loader import parse_text
from istio_vault_ca.generator.config.plan import plan
from istio_vault_ca.verify.checks.result import Status
from istio_vault_ca.verify.checks.vault.ca import namespace_support
from istio_vault_ca.verify.checks.vault.state import VaultState
from istio_vault_ca.verify.clients.vault import VaultApi


class Health:
    """Answers sys/health with a version, as the server would; nothing else is asked for."""

    address = "http://127.0.0.1:8200"

    def __init__(self, version: str) -> None:
        self.version = version

    def health(self) -> dict[str, Any]:
        return {"initialized": True, "sealed": False, "version": self.version}


def state(version: str, config_text: str) -> VaultState:
    config = parse_text(config_text, "test.yaml")
    api = cast(VaultApi, Health(version))
    return VaultState(api, config, 30, dt.datetime.now(dt.UTC), clusters=plan(config))


NAMESPACED = "vault:\n  namespace: team-a\n"


def test_vault_community_edition_with_a_namespace_fails_saying_why() -> None:
    result = namespace_support(state("1.21.4", NAMESPACED))
    assert result.status is Status.FAIL
    assert "namespace team-a" in result.finding and "community edition" in result.finding
    assert "Vault Enterprise" in result.hint and "OpenBao 2.3+" in result.hint


@pytest.mark.parametrize("version", ["1.21.4+ent", "2.7.2"])
def test_vault_enterprise_and_openbao_have_namespaces(version: str) -> None:
    assert namespace_support(state(version, NAMESPACED)).status is Status.PASS


def test_a_config_without_namespaces_passes_and_an_unreadable_version_is_not_a_pass() -> None:
    plain = namespace_support(state("1.21.4", "kv: {version: 2}\n"))
    assert plain.status is Status.PASS and "root namespace" in plain.finding
    unknown = namespace_support(state("", NAMESPACED))
    assert unknown.status is Status.SKIP and "cannot tell" in unknown.finding
