"""Issue 13 item 7: a deleted KV key has a way out, and every command on the way names it.

As a user meets it, from the config's directory with relative paths, against a real OpenBao on which the rendered
scripts ran: the stored key is deleted (KV v1), soft-deleted or destroyed (KV v2). `verify vault`, step 04 and
`plan-rotation` must each point to the command that repairs it (`vault kv undelete` for a soft delete,
`plan-rotation --force CLUSTER` and the script it writes otherwise), and following them must end with a Vault
that `verify vault` passes and a step 04 that keeps what it finds.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vault_setup import EC_CONFIG, Configured, cli, configure

KV_V2 = EC_CONFIG + "kv: {mount: kv, version: 2}\n"
CONFIG = "istio-vault-ca.yaml"


@pytest.fixture
def kv_v1(tmp_path: Path) -> Iterator[Configured]:
    configured = configure(tmp_path / "kv-v1", EC_CONFIG)
    yield configured
    configured.server.stop()


@pytest.fixture
def kv_v2(tmp_path: Path) -> Iterator[Configured]:
    configured = configure(tmp_path / "kv-v2", KV_V2)
    yield configured
    configured.server.stop()


def workdir(vault: Configured) -> Path:
    return vault.config_path.parent


def shell(vault: Configured, command: str) -> subprocess.CompletedProcess[str]:
    """A command line as the user types it, in the config's directory (`vault` is bao on PATH)."""
    return subprocess.run(
        ["bash", "-c", command],
        env=vault.env,
        cwd=workdir(vault),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def tool(vault: Configured, *args: str) -> tuple[int, str]:
    code, out, err = cli({**vault.env, "COLUMNS": "100"}, *args, cwd=workdir(vault))
    return code, out + err


def key_check(vault: Configured) -> tuple[int, dict[str, str]]:
    code, out, _ = cli(vault.env, "verify", "vault", "-c", CONFIG, "--output", "json", cwd=workdir(vault))
    document = json.loads(out)
    return code, next(c for c in document["checks"] if c["id"] == "vault.kv-key-matches")


def step_04(vault: Configured) -> subprocess.CompletedProcess[str]:
    return shell(vault, "bash out/vault/04-intermediate-pki.sh")


def repair_by_rotation(vault: Configured) -> None:
    code, output = tool(vault, "plan-rotation", "-c", CONFIG, "--force", "default")
    assert code == 1, output
    assert "-> default/rotate-intermediate.sh (--force)" in output
    assert (workdir(vault) / "rotation/default/rotate-intermediate.sh").is_file()
    rotated = shell(vault, "bash rotation/default/rotate-intermediate.sh")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    code, check = key_check(vault)
    assert (code, check["status"]) == (0, "pass"), check
    again = step_04(vault)
    assert again.returncode == 0 and "keeping both" in again.stdout + again.stderr, again.stdout + again.stderr
    code, output = tool(vault, "plan-rotation", "-c", CONFIG)
    assert code == 0 and "nothing to rotate inside the window" in output, output


@pytest.mark.integration
def test_kv_v1_deleted_key_every_command_points_to_plan_rotation_force(kv_v1: Configured) -> None:
    assert shell(kv_v1, "vault kv delete -mount=kv istioca").returncode == 0

    code, check = key_check(kv_v1)
    assert code == 1 and check["status"] == "fail"
    assert check["finding"] == "no secret at kv/istioca (a KV v1 delete cannot be undone)"
    assert (
        "istio-vault-ca plan-rotation --force default, then run rotation/default/rotate-intermediate.sh"
        in (check["hint"])
    )
    assert "04-intermediate-pki" not in check["hint"]

    step = step_04(kv_v1)
    assert step.returncode != 0
    assert "a KV v1 delete cannot be undone" in step.stderr
    assert "istio-vault-ca plan-rotation --force default" in step.stderr
    assert "rotation/default/rotate-intermediate.sh" in step.stderr
    assert "rotate the intermediate (istio-vault-ca plan-rotation)" not in step.stderr

    code, output = tool(kv_v1, "plan-rotation", "-c", CONFIG)
    assert code == 1, output
    assert "plan-rotation --force default" in output
    assert "no rotation script written" in output and "nothing to rotate" not in output
    assert not (workdir(kv_v1) / "rotation").exists()

    repair_by_rotation(kv_v1)


@pytest.mark.integration
def test_kv_v2_soft_deleted_key_is_restored_with_the_undelete_command_printed(kv_v2: Configured) -> None:
    assert shell(kv_v2, "vault kv delete -mount=kv istioca").returncode == 0
    undelete = "vault kv undelete -mount=kv -versions=1 istioca"

    code, check = key_check(kv_v2)
    assert code == 1 and check["status"] == "fail"
    assert "version 1 was deleted (a KV v2 soft delete, which can be undone)" in check["finding"]
    assert check["hint"] == f"restore it: {undelete}"

    step = step_04(kv_v2)
    assert step.returncode != 0
    assert f"restore it with '{undelete}', then re-run" in step.stderr

    code, output = tool(kv_v2, "plan-rotation", "-c", CONFIG)
    assert code == 1 and undelete in output, output

    restored = shell(kv_v2, check["hint"].removeprefix("restore it: "))
    assert restored.returncode == 0, restored.stderr
    code, check = key_check(kv_v2)
    assert (code, check["status"]) == (0, "pass"), check
    assert step_04(kv_v2).returncode == 0


@pytest.mark.integration
def test_kv_v2_destroyed_key_is_told_apart_and_replaced_by_a_forced_rotation(kv_v2: Configured) -> None:
    assert shell(kv_v2, "vault kv destroy -mount=kv -versions=1 istioca").returncode == 0

    code, check = key_check(kv_v2)
    assert code == 1
    assert "version 1 was destroyed (kv destroy)" in check["finding"]
    assert "undelete" not in check["hint"] and "plan-rotation --force default" in check["hint"]

    step = step_04(kv_v2)
    assert step.returncode != 0
    assert "version 1 of kv/istioca was destroyed" in step.stderr
    assert "plan-rotation --force default" in step.stderr and "undelete" not in step.stderr

    repair_by_rotation(kv_v2)


@pytest.mark.integration
def test_kv_v2_metadata_deleted_says_there_is_nothing_to_undelete(kv_v2: Configured) -> None:
    assert shell(kv_v2, "vault kv metadata delete -mount=kv istioca").returncode == 0
    code, check = key_check(kv_v2)
    assert code == 1 and "no version to undelete" in check["finding"]
    step = step_04(kv_v2)
    assert "no version to undelete" in step.stderr and "plan-rotation --force default" in step.stderr


def test_force_names_an_unknown_cluster_exits_2(tmp_path: Path) -> None:
    (tmp_path / CONFIG).write_text(EC_CONFIG, encoding="utf-8")
    code, out, err = cli({"PATH": "/usr/bin:/bin"}, "plan-rotation", "--force", "nosuch", cwd=tmp_path)
    assert code == 2, out + err
    assert "--force nosuch: no such cluster (clusters: default)" in err


def test_the_help_documents_force() -> None:
    code, out, _ = cli({"PATH": "/usr/bin:/bin"}, "plan-rotation", "--help")
    assert code == 0 and "--force CLUSTER" in " ".join(out.split())


def test_the_hint_quotes_a_config_path_as_the_user_gave_it() -> None:
    from istio_vault_ca.verify.checks.vault.ca import _config_flag

    assert _config_flag(CONFIG) == "" and _config_flag("built-in default") == ""
    assert _config_flag("my configs/fleet.yaml") == f" -c {shlex.quote('my configs/fleet.yaml')}"
