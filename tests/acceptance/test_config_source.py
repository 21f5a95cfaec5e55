"""Which config a command used: ./istio-vault-ca.yml is found like ./istio-vault-ca.yaml, both at once is refused
(exit 2, nothing written), and every report names its config, "built-in default" included.

The user's steps: `istio-vault-ca init istio-vault-ca.yml`, edit the root's CN, run commands without -c."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.support import run_cli, validate_json_shape

STARTER_CN = "  common_name: example.com Root CA\n"
MY_CN = "  common_name: yml-root.mesh.example.com\n"
# Nothing listens on port 9 (discard) here: every Vault-reading command stops with exit 3.
DOWN = {"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": "not-used", "PATH": "/usr/bin:/bin"}

# Every command that takes -c, as typed without it.
COMMANDS = [
    ["render", "-o", "out"],
    ["render", "--check", "-o", "out"],
    ["validate"],
    ["verify", "vault"],
    ["verify", "chain", "--from-vault"],
    ["verify", "cluster"],
    ["verify", "all"],
    ["rehearse"],
    ["plan-rotation"],
    ["plan-rotation", "--root"],
]


def write_yml(directory: Path) -> Path:
    """`istio-vault-ca init istio-vault-ca.yml`, then the root's CN edited."""
    result = run_cli("init", "istio-vault-ca.yml", cwd=directory)
    assert result.returncode == 0, result.stderr
    path = directory / "istio-vault-ca.yml"
    text = path.read_text(encoding="utf-8")
    assert STARTER_CN in text
    path.write_text(text.replace(STARTER_CN, MY_CN), encoding="utf-8")
    return path


def test_render_finds_istio_vault_ca_yml(tmp_path: Path) -> None:
    write_yml(tmp_path)
    result = run_cli("render", "-o", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "from istio-vault-ca.yml into out" in result.stdout
    assert "built-in default" not in result.stdout + result.stderr
    assert "yml-root.mesh.example.com" in (tmp_path / "out" / "vault" / "02-root-pki.sh").read_text(encoding="utf-8")
    validated = run_cli("validate", cwd=tmp_path)
    assert validated.returncode == 0 and validated.stdout.startswith("istio-vault-ca.yml: valid\n")


def test_render_of_the_built_in_default_says_so(tmp_path: Path) -> None:
    result = run_cli("render", "-o", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        "files from the built-in default (no -c, no ./istio-vault-ca.yaml or ./istio-vault-ca.yml here) into out"
        in result.stdout
    )
    assert result.stderr == ""


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_both_spellings_present_is_refused_by_every_command(tmp_path: Path, command: list[str]) -> None:
    yml = write_yml(tmp_path)
    (tmp_path / "istio-vault-ca.yaml").write_text(yml.read_text(encoding="utf-8"), encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli(*command, cwd=tmp_path, env=DOWN)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "both ./istio-vault-ca.yaml and ./istio-vault-ca.yml are here: which config is meant?" in result.stderr
    assert "pass one with -c" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing rendered, nothing written
    # -c settles it.
    chosen = run_cli("validate", "-c", "istio-vault-ca.yml", cwd=tmp_path)
    assert chosen.returncode == 0 and chosen.stdout.startswith("istio-vault-ca.yml: valid")


@pytest.mark.parametrize("command", [["verify", "vault"], ["verify", "chain", "--from-vault"], ["verify", "all"]])
@pytest.mark.parametrize("config", ["istio-vault-ca.yml", "built-in default"])
def test_every_document_names_the_config_even_when_vault_is_down(
    tmp_path: Path, command: list[str], config: str
) -> None:
    if config != "built-in default":
        write_yml(tmp_path)
    documents = {}
    for output in ("json", "junit", "prometheus"):
        result = run_cli(*command, "--output", output, cwd=tmp_path, env=DOWN)
        assert result.returncode == 3, result.stderr
        documents[output] = result.stdout
    report = json.loads(documents["json"])
    validate_json_shape(report)
    assert report["config"] == config
    suite = ET.fromstring(documents["junit"]).find("testsuite")  # noqa: S314 - our own output
    assert suite is not None
    assert [(p.get("name"), p.get("value")) for p in suite.iter("property")] == [("config", config)]
    assert f'istio_vault_ca_config_info{{config="{config}"}} 1.0' in documents["prometheus"].splitlines()


def test_a_report_of_no_config_names_none(tmp_path: Path) -> None:
    """`verify chain DIR` reads no config: its report claims none."""
    (tmp_path / "ca").mkdir()
    result = run_cli("verify", "chain", "ca", "--output", "json", cwd=tmp_path)
    assert result.returncode == 1
    assert "config" not in json.loads(result.stdout)
    text = run_cli("verify", "chain", "ca", cwd=tmp_path)
    assert "config:" not in text.stdout


def test_init_will_not_write_the_other_spelling_beside_a_config(tmp_path: Path) -> None:
    write_yml(tmp_path)
    result = run_cli("init", cwd=tmp_path)
    assert result.returncode == 2
    assert "./istio-vault-ca.yml is already here" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "istio-vault-ca.yaml").exists()
    assert run_cli("init", "other.yaml", cwd=tmp_path).returncode == 0
