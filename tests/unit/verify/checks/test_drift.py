"""The root and intermediate in Vault against the config: what `vault.root-config`, `vault.intermediate-config`
and plan-rotation's "config changed" report, from certificates made here and served by a fake Vault."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, cast

import pytest

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import ClusterPlan, plan
from istio_vault_ca.verify.checks.result import CheckResult, Status
from istio_vault_ca.verify.checks.vault import VaultState, intermediate_differences, root_differences
from istio_vault_ca.verify.checks.vault.drift import LIFETIME_SLACK_SECONDS, intermediate_config, root_config
from istio_vault_ca.verify.checks.vault.state import ClusterVaultState
from istio_vault_ca.verify.clients.vault import VaultApi
from tests import pki_factory as pki

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
HOUR = dt.timedelta(hours=1)
BACKDATE = dt.timedelta(seconds=30)
CONFIG = """\
root: {common_name: Test Root, key_type: ec, key_bits: 256, ttl: 87600h}
intermediate: {common_name: Test Intermediate, key_type: ec, key_bits: 256, ttl: 8760h, max_path_length: 0}
"""


class FakeVault:
    """`read(path)` as VaultApi answers it: the response body, or None for nothing there."""

    address = "http://vault.test:8200"

    def __init__(self, responses: dict[str, dict[str, Any]]) -> None:
        self.responses = responses

    def read(self, path: str) -> dict[str, Any] | None:
        return self.responses.get(path)


def _plan(tmp_path: Path, text: str = CONFIG) -> ClusterPlan:
    path = tmp_path / "istio-vault-ca.yaml"
    path.write_text(text)
    return plan(load(str(path)).config)[0]


def _root(
    name: str = "Test Root", *, kind: str = "ec", size: int = 256, hours: float = 87600, slot: int = 1
) -> pki.Issued:
    return pki.make_ca(
        name, subject_key=pki.key(kind, size, slot), not_before=NOW - BACKDATE, not_after=NOW + hours * HOUR
    )


def _intermediate(
    root: pki.Issued,
    name: str = "Test Intermediate",
    *,
    kind: str = "ec",
    size: int = 256,
    hours: float = 8760,
    path_length: int | None = 0,
) -> pki.Issued:
    """As Vault signs one: backdated 30 s, valid the TTL asked for."""
    return pki.make_ca(
        name,
        root,
        subject_key=pki.key(kind, size, 2),
        not_before=NOW - BACKDATE,
        not_after=NOW + hours * HOUR,
        path_length=path_length,
    )


def _state(cluster: ClusterPlan, root: pki.Issued | None, inter: pki.Issued | None) -> ClusterVaultState:
    responses: dict[str, dict[str, Any]] = {}
    if root is not None:
        responses[cluster.root_ca_path] = {"data": {"certificate": root.pem.decode()}}
    if inter is not None:
        responses[f"{cluster.cluster.intermediate_mount}/cert/ca"] = {"data": {"certificate": inter.pem.decode()}}
    api = cast(VaultApi, FakeVault(responses))
    return ClusterVaultState(api, cluster.config, 30, NOW, clusters=(cluster,), cluster=cluster)


# ---------------------------------------------------------------- the comparison


def test_a_ca_as_the_config_says_has_no_difference(tmp_path: Path) -> None:
    cluster = _plan(tmp_path)
    root = _root()
    assert root_differences(root.cert, cluster.config.root) == []
    assert intermediate_differences(_intermediate(root).cert, cluster) == []


def test_the_users_four_changes_are_each_named_with_both_values(tmp_path: Path) -> None:
    """The default RSA-4096, 5-year intermediate kept after the config moved to EC P-256, one year, a new CN."""
    cluster = _plan(tmp_path)
    old = _intermediate(_root(), "Old Intermediate", kind="rsa", size=2048, hours=43800)
    found = {d.field: d.describe() for d in intermediate_differences(old.cert, cluster)}
    assert found == {
        "intermediate.common_name": "intermediate.common_name: the config asks for 'Test Intermediate', "
        "Vault holds 'Old Intermediate'",
        "intermediate.key_type": "intermediate.key_type: the config asks for ec, Vault holds rsa",
        "intermediate.ttl": "intermediate.ttl: the config asks for at most 8760h, Vault holds a CA valid 43800h",
    }


def test_key_bits_issuer_and_path_length(tmp_path: Path) -> None:
    cluster = _plan(tmp_path)
    other_root = _root("Another Root", slot=3)
    inter = _intermediate(other_root, size=384, path_length=None)
    found = {d.field: (d.want, d.found) for d in intermediate_differences(inter.cert, cluster, _root().cert)}
    assert found == {
        "intermediate.key_bits": ("256", "384"),
        "issuer": ("the root 'Test Root'", "one issued by 'Another Root'"),
        "intermediate.max_path_length": ("0", "-1"),
    }


def test_the_issuer_is_left_to_the_root_checks_when_the_root_in_vault_is_not_the_configured_one(
    tmp_path: Path,
) -> None:
    """root.common_name changed: the kept root differs (vault.root-config says so, a root rotation fixes it); a
    forced intermediate rotation under that root would not, so the intermediate is not blamed for its issuer."""
    cluster = _plan(tmp_path)
    kept_root = _root("Old Root", slot=3)
    inter = _intermediate(kept_root)
    assert intermediate_differences(inter.cert, cluster, kept_root.cert) == []
    assert intermediate_differences(inter.cert, cluster, None) == []
    state = _state(cluster, kept_root, inter)
    assert intermediate_config(state).status is Status.PASS
    assert root_config(state).status is Status.FAIL


@pytest.mark.parametrize(
    ("extra_seconds", "differs"),
    [(0, False), (LIFETIME_SLACK_SECONDS - 30, False), (LIFETIME_SLACK_SECONDS + 60, True), (-86400, False)],
)
def test_lifetime_beyond_the_ttl_differs_a_shorter_one_does_not(
    tmp_path: Path, extra_seconds: int, differs: bool
) -> None:
    """Vault's 30 s backdate and a little clock slack are allowed; a CA capped shorter is not a config change."""
    cluster = _plan(tmp_path)
    inter = _intermediate(_root(), hours=8760 + extra_seconds / 3600)
    fields = [d.field for d in intermediate_differences(inter.cert, cluster)]
    assert fields == (["intermediate.ttl"] if differs else [])


def test_a_cluster_override_is_named_by_its_field_path(tmp_path: Path) -> None:
    text = CONFIG + (
        "clusters:\n"
        "- {name: east, intermediate_mount: east, kv_path: east, auth_mount: east, policy: east,\n"
        "   intermediate: {common_name: East Intermediate}}\n"
        "- {name: west, intermediate_mount: west, kv_path: west, auth_mount: west, policy: west,\n"
        "   kubernetes_auth: {reviewer: client-jwt, kubernetes_host: 'https://west.example:6443'}}\n"
    )
    path = tmp_path / "istio-vault-ca.yaml"
    path.write_text(text)
    east, west = plan(load(str(path)).config)
    inter = _intermediate(_root()).cert
    assert [d.field for d in intermediate_differences(inter, east)] == ["clusters[east].intermediate.common_name"]
    assert intermediate_differences(inter, west) == []
    # A field the cluster does not override is named where it comes from: the defaults.
    longer = _intermediate(_root(), "East Intermediate", hours=43800).cert
    assert [d.field for d in intermediate_differences(longer, east)] == ["intermediate.ttl"]


def test_root_differences(tmp_path: Path) -> None:
    cluster = _plan(tmp_path)
    old = _root("example.com Root CA", kind="rsa", size=2048, hours=175200)
    assert {d.field: d.found for d in root_differences(old.cert, cluster.config.root)} == {
        "root.common_name": "'example.com Root CA'",
        "root.key_type": "rsa",
        "root.ttl": "a CA valid 175200h",
    }


# ---------------------------------------------------------------- the checks


def _check(result: CheckResult) -> tuple[Status, str, str]:
    return result.status, result.finding, result.hint


def test_intermediate_config_fails_with_the_forced_rotation_as_its_hint(tmp_path: Path) -> None:
    cluster = _plan(tmp_path)
    root = _root()
    status, finding, hint = _check(intermediate_config(_state(cluster, root, _intermediate(root, hours=43800))))
    assert status is Status.FAIL
    assert "intermediate.ttl: the config asks for at most 8760h, Vault holds a CA valid 43800h" in finding
    assert "istio-vault-ca plan-rotation --force default" in hint
    assert "rotation/default/rotate-intermediate.sh" in hint


def test_intermediate_config_passes_and_skips(tmp_path: Path) -> None:
    cluster = _plan(tmp_path)
    root = _root()
    assert intermediate_config(_state(cluster, root, _intermediate(root))).status is Status.PASS
    skipped = intermediate_config(_state(cluster, root, None))
    assert skipped.status is Status.SKIP and "no intermediate CA at istioca/cert/ca" in skipped.finding


def test_root_config_fails_with_the_root_rotation_as_its_hint(tmp_path: Path) -> None:
    cluster = _plan(tmp_path)
    status, finding, hint = _check(root_config(_state(cluster, _root("Old Root"), None)))
    assert status is Status.FAIL
    assert "root.common_name: the config asks for 'Test Root', Vault holds 'Old Root'" in finding
    assert "istio-vault-ca plan-rotation --root" in hint
    assert root_config(_state(cluster, _root(), None)).status is Status.PASS
    assert root_config(_state(cluster, None, None)).status is Status.SKIP


def test_root_config_skips_an_offline_root(tmp_path: Path) -> None:
    cluster = _plan(tmp_path, "root: {mode: external, certificate_file: root.pem}\n")
    result = root_config(_state(cluster, _root("Anything"), None))
    assert result.status is Status.SKIP and "vault.root-cn" in result.finding


def test_every_failing_vault_check_has_a_hint(tmp_path: Path) -> None:
    """A Vault whose root and intermediate are the wrong ones: each FAIL the two CA checks give says what to do."""
    cluster = _plan(tmp_path)
    root = _root("Old Root")
    state = _state(cluster, root, _intermediate(root, "Old Intermediate"))
    results = [root_config(state), intermediate_config(state)]
    assert [r.status for r in results] == [Status.FAIL, Status.FAIL]
    assert all(r.hint for r in results)
    assert isinstance(state, VaultState)
