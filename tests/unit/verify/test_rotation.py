"""plan-rotation's survey of Vault and its due logic, against a fake Vault serving certificates made here.

The survey reads what the agent templates read; these tests pin what it concludes: the edge of the warning
window, expired CAs, the stored key under KV v1 and v2, and the offline root (in Vault and in its file).
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any, cast

import pytest

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import ROOT_ISSUER_NAME, ClusterPlan, plan
from istio_vault_ca.generator.errors import VaultApiError
from istio_vault_ca.verify.clients.vault import VaultApi
from istio_vault_ca.verify.rotation import due as rotation
from tests import pki_factory as pki

# Certificates carry whole seconds: a `now` without microseconds puts not_after exactly on a day boundary.
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
ISSUER = "0c5e7a52-9f0e-4b7e-8a1d-3f2b6c9d1e44"
IN_VAULT = """\
root: {common_name: Test Root, key_type: ec, key_bits: 256, ttl: 87600h}
intermediate: {common_name: Test Intermediate, key_type: ec, key_bits: 256, ttl: 8760h}
kv: {mount: kv, version: %(kv)d}
"""
OFFLINE = """\
root: {mode: external, certificate_file: root-ca.pem}
intermediate: {common_name: Test Intermediate, key_type: ec, key_bits: 256, ttl: 8760h}
kv: {mount: kv, version: 2}
"""


class FakeVault:
    """`read(path)` as VaultApi answers it: the response body, or None for nothing there."""

    def __init__(self) -> None:
        self.responses: dict[str, dict[str, Any]] = {}
        self.failing: set[str] = set()

    def read(self, path: str) -> dict[str, Any] | None:
        if path in self.failing:
            raise VaultApiError(f"{path}: 500 internal error")
        response = self.responses.get(path)
        return copy.deepcopy(response) if response is not None else None

    def serve_certificate(self, path: str, issued: pki.Issued) -> None:
        self.responses[path] = {"data": {"certificate": issued.pem.decode()}}


def _plans(tmp_path: Path, text: str) -> tuple[ClusterPlan, ...]:
    path = tmp_path / "istio-vault-ca.yaml"
    path.write_text(text)
    return plan(load(str(path)).config)


def _ca(name: str, issuer: pki.Issued | None, slot: int, not_after: dt.datetime) -> pki.Issued:
    return pki.make_ca(
        name,
        issuer,
        subject_key=pki.key("ec", 256, slot),
        not_before=NOW - 30 * DAY,
        not_after=not_after,
        path_length=0 if issuer else None,
    )


def _vault_with(
    cluster: ClusterPlan,
    *,
    intermediate_days: float,
    root_days: float = 3650,
    stored_key: pki.Issued | None = None,
    root_path: str | None = None,
) -> tuple[FakeVault, pki.Issued, pki.Issued]:
    """Vault as setup.sh leaves it: root, intermediate, default issuer id and the key in KV (v1 or v2 shape)."""
    root = _ca("Test Root", None, 1, NOW + root_days * DAY)
    inter = _ca("Test Intermediate", root, 2, NOW + dt.timedelta(days=intermediate_days))
    vault = FakeVault()
    mount = cluster.cluster.intermediate_mount
    vault.serve_certificate(root_path or cluster.root_ca_path, root)
    vault.serve_certificate(f"{mount}/cert/ca", inter)
    vault.responses[f"{mount}/config/issuers"] = {"data": {"default": ISSUER}}
    key_pem = (stored_key or inter).key_pem.decode()
    field = {"ca-key.pem": key_pem}
    version = cluster.config.kv.version
    vault.responses[cluster.kv_secret_path] = {"data": {"data": field} if version == 2 else field}
    return vault, root, inter


def _survey(
    vault: FakeVault, plans: tuple[ClusterPlan, ...], warn_days: int = 30, root_file: Path | None = None
) -> rotation.RotationPlan:
    config = plans[0].config
    root, notes, findings = rotation.survey(cast(VaultApi, vault), config, plans, root_file, NOW)
    return rotation.RotationPlan(root, notes, findings, warn_days)


# ---------------------------------------------------------------- the warning window


@pytest.mark.parametrize(
    ("days_left", "expected"),
    [
        (31, "ok"),
        (30 + 1 / 1440, "ok"),  # one minute outside the window
        (30, "due"),  # on the edge: due (days_left <= warn_days)
        (29, "due"),
        (1 / 1440, "due"),  # one minute left
        (0, "expired"),
        (-5, "expired"),
    ],
)
def test_status_around_the_warning_window(tmp_path: Path, days_left: float, expected: str) -> None:
    (cluster,) = _plans(tmp_path, IN_VAULT % {"kv": 2})
    vault, _, inter = _vault_with(cluster, intermediate_days=days_left)
    result = _survey(vault, (cluster,), warn_days=30)
    (finding,) = result.clusters
    assert finding.intermediate is not None
    assert finding.intermediate.status(30) == expected
    assert finding.intermediate.serial == f"{inter.cert.serial_number:x}"
    assert finding.intermediate.issuer_id == ISSUER
    assert finding.notes == ()
    assert result.due() == (() if expected == "ok" else (finding,))
    assert result.attention is (expected != "ok")


def test_expired_intermediate_is_due_and_reported_as_expired(tmp_path: Path) -> None:
    (cluster,) = _plans(tmp_path, IN_VAULT % {"kv": 1})
    vault, _, _ = _vault_with(cluster, intermediate_days=-2)
    result = _survey(vault, (cluster,))
    assert [f.name for f in result.due()] == [cluster.name]
    (line,) = [line for line in rotation.report_lines(result) if line.startswith("cluster ")]
    assert line.startswith(f"cluster {cluster.name}: EXPIRED CN=Test Intermediate")
    assert line.endswith(f"-> {cluster.name}/rotate-intermediate.sh")


def test_root_inside_the_window_needs_attention_but_no_script(tmp_path: Path) -> None:
    (cluster,) = _plans(tmp_path, IN_VAULT % {"kv": 2})
    vault, _, _ = _vault_with(cluster, intermediate_days=20, root_days=25)
    result = _survey(vault, (cluster,), warn_days=30)
    assert result.root is not None and result.root.status(30) == "due"
    assert result.root_due and result.attention
    # A new intermediate of 8760h would end after this root: said, and still rotatable.
    (finding,) = result.clusters
    assert any("would end after the root" in note for note in finding.notes)
    assert result.due() == (finding,)


def test_nothing_due_needs_no_attention(tmp_path: Path) -> None:
    (cluster,) = _plans(tmp_path, IN_VAULT % {"kv": 2})
    vault, _, _ = _vault_with(cluster, intermediate_days=300)
    result = _survey(vault, (cluster,))
    assert result.due() == () and not result.root_due and not result.attention


# ---------------------------------------------------------------- the stored key, KV v1 and v2


@pytest.mark.parametrize("kv_version", [1, 2])
def test_stored_key_of_the_intermediate_gives_no_note(tmp_path: Path, kv_version: int) -> None:
    (cluster,) = _plans(tmp_path, IN_VAULT % {"kv": kv_version})
    vault, _, _ = _vault_with(cluster, intermediate_days=10)
    assert cluster.kv_secret_path == ("kv/data/istioca" if kv_version == 2 else "kv/istioca")
    (finding,) = _survey(vault, (cluster,)).clusters
    assert finding.notes == ()


@pytest.mark.parametrize("kv_version", [1, 2])
def test_stored_key_of_another_certificate_is_noted(tmp_path: Path, kv_version: int) -> None:
    (cluster,) = _plans(tmp_path, IN_VAULT % {"kv": kv_version})
    stranger = _ca("Other", None, 3, NOW + 100 * DAY)
    vault, _, _ = _vault_with(cluster, intermediate_days=10, stored_key=stranger)
    (finding,) = _survey(vault, (cluster,)).clusters
    (note,) = finding.notes
    assert "does not belong to the intermediate" in note and "if a rotation was interrupted" in note
    assert "plan-rotation --force default" in note
    assert "PRIVATE KEY" not in note


def test_kv_v1_data_read_as_v2_is_noted(tmp_path: Path) -> None:
    """A v2 config against a secret written in the v1 shape: the key field is not where the agent looks."""
    (cluster,) = _plans(tmp_path, IN_VAULT % {"kv": 2})
    vault, _, inter = _vault_with(cluster, intermediate_days=10)
    vault.responses[cluster.kv_secret_path] = {"data": {"ca-key.pem": inter.key_pem.decode()}}
    (finding,) = _survey(vault, (cluster,)).clusters
    (note,) = finding.notes
    assert "has no field data.ca-key.pem" in note


def test_unreadable_key_is_noted_not_raised(tmp_path: Path) -> None:
    (cluster,) = _plans(tmp_path, IN_VAULT % {"kv": 2})
    vault, _, _ = _vault_with(cluster, intermediate_days=10)
    vault.failing.add(cluster.kv_secret_path)
    (finding,) = _survey(vault, (cluster,)).clusters
    assert any("the stored key could not be compared" in note for note in finding.notes)


# ---------------------------------------------------------------- what cannot be rotated


def test_missing_intermediate_is_reported_not_due(tmp_path: Path) -> None:
    (cluster,) = _plans(tmp_path, IN_VAULT % {"kv": 2})
    vault, _, _ = _vault_with(cluster, intermediate_days=10)
    del vault.responses[f"{cluster.cluster.intermediate_mount}/cert/ca"]
    result = _survey(vault, (cluster,))
    (finding,) = result.clusters
    assert finding.intermediate is None
    assert "run the cluster's vault/setup.sh" in finding.notes[0]
    assert result.due() == () and result.attention
    assert f"cluster {cluster.name}: MISSING" in rotation.report_lines(result)


def test_issuer_id_that_is_not_a_uuid_gets_no_script(tmp_path: Path) -> None:
    (cluster,) = _plans(tmp_path, IN_VAULT % {"kv": 2})
    vault, _, _ = _vault_with(cluster, intermediate_days=10)
    vault.responses[f"{cluster.cluster.intermediate_mount}/config/issuers"] = {"data": {"default": "$(rm -rf /)"}}
    result = _survey(vault, (cluster,))
    (finding,) = result.clusters
    assert any("no usable default issuer id" in note for note in finding.notes)
    assert result.due() == () and result.attention


# ---------------------------------------------------------------- offline root


def _offline(tmp_path: Path) -> tuple[ClusterPlan, str]:
    (cluster,) = _plans(tmp_path, OFFLINE)
    return cluster, f"{cluster.cluster.intermediate_mount}/issuer/{ROOT_ISSUER_NAME}"


def test_offline_root_is_read_where_it_was_imported(tmp_path: Path) -> None:
    cluster, root_path = _offline(tmp_path)
    vault, root, _ = _vault_with(cluster, intermediate_days=10, root_days=20, root_path=root_path)
    root_file = tmp_path / "root-ca.pem"
    root_file.write_bytes(root.pem)
    result = _survey(vault, (cluster,), root_file=root_file)
    assert result.root is not None and result.root.source == root_path
    assert result.root_notes == ()
    assert result.root_due


def test_offline_root_in_vault_that_is_not_the_file_is_noted(tmp_path: Path) -> None:
    cluster, root_path = _offline(tmp_path)
    vault, _, _ = _vault_with(cluster, intermediate_days=100, root_path=root_path)
    root_file = tmp_path / "root-ca.pem"
    root_file.write_bytes(_ca("Another Root", None, 4, NOW + 3650 * DAY).pem)
    result = _survey(vault, (cluster,), root_file=root_file)
    assert result.root is not None and result.root.source == root_path  # Vault's copy is what istiod gets
    assert any("is not the one in" in note for note in result.root_notes)


def test_offline_root_not_yet_imported_comes_from_the_file(tmp_path: Path) -> None:
    cluster, root_path = _offline(tmp_path)
    vault, root, _ = _vault_with(cluster, intermediate_days=100, root_path=root_path)
    del vault.responses[root_path]
    root_file = tmp_path / "root-ca.pem"
    root_file.write_bytes(root.pem)
    result = _survey(vault, (cluster,), root_file=root_file)
    assert result.root is not None and result.root.source == str(root_file)
    assert result.root.subject == "CN=Test Root"


def test_offline_root_nowhere_is_missing(tmp_path: Path) -> None:
    cluster, root_path = _offline(tmp_path)
    vault, _, _ = _vault_with(cluster, intermediate_days=100, root_path=root_path)
    del vault.responses[root_path]
    root_file = tmp_path / "root-ca.pem"
    root_file.write_text("not a certificate")
    result = _survey(vault, (cluster,), root_file=root_file)
    assert result.root is None and result.attention
    assert any("cannot be read as a PEM certificate" in note for note in result.root_notes)
    assert f"no root at {root_path}" in result.root_notes
    assert rotation.report_lines(result)[1] == "root: MISSING"


def test_an_intermediate_the_config_no_longer_describes_is_due_with_config_changed(tmp_path: Path) -> None:
    """setup.sh keeps the old intermediate after a config change: plan-rotation lists it due, and says why."""
    text = (IN_VAULT % {"kv": 2}).replace("common_name: Test Intermediate", "common_name: New Intermediate")
    (cluster,) = _plans(tmp_path, text)
    vault, _, _ = _vault_with(cluster, intermediate_days=200)
    result = _survey(vault, (cluster,), warn_days=30)
    (finding,) = result.clusters
    assert finding.config_changed and result.attention
    assert [f.name for f in result.due()] == ["default"]
    lines = rotation.report_lines(result)
    assert any(line.startswith("cluster default: DUE (CONFIG CHANGED) ") for line in lines), lines
    assert (
        "  note: config changed: intermediate.common_name: the config asks for 'New Intermediate', "
        "Vault holds 'Test Intermediate'" in lines
    )


def test_a_root_the_config_no_longer_describes_is_a_note_not_a_forced_rotation(tmp_path: Path) -> None:
    text = (IN_VAULT % {"kv": 2}).replace("common_name: Test Root", "common_name: New Root")
    (cluster,) = _plans(tmp_path, text)
    vault, _, _ = _vault_with(cluster, intermediate_days=200)
    result = _survey(vault, (cluster,), warn_days=30)
    assert result.due() == () and not result.root_due
    (note,) = result.root_notes
    assert note.startswith("config changed: root.common_name: the config asks for 'New Root', Vault holds 'Test Root'")
    assert note.endswith(" (setup.sh keeps the root: rotate it with plan-rotation --root, or set root.* back)")
    assert result.clusters[0].notes == ()
