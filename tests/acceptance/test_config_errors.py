"""Bad configs: each exits 2 naming the field path and YAML line, with no traceback and nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BAD = sorted((Path(__file__).resolve().parent.parent / "configs" / "bad").glob("*.yaml"))
CLI = [sys.executable, "-m", "istio_vault_ca.verify.cli.parser"]


def expectation(config: Path) -> str:
    first = config.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{config.name} must start with '# expect: <field> (line N)'"
    return first.removeprefix("# expect: ")


def test_corpus_is_large_enough() -> None:
    assert len(BAD) >= 15


@pytest.mark.parametrize("config", BAD, ids=[c.stem for c in BAD])
def test_bad_config_exits_2_with_field_and_line(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [*CLI, "render", "-c", str(config), "-o", str(out)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2, result.stderr
    expected = expectation(config)
    assert f"  {expected}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not out.exists()


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = tmp_path / "many.yaml"
    config.write_text("root:\n  ttl: forever\n  key_bits: 1024\nkv:\n  version: 7\nistiod:\n  ca_dir: x\n")
    result = subprocess.run([*CLI, "validate", "-c", str(config)], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "root.ttl (line 2)" in result.stderr
    assert "kv.version (line 5)" in result.stderr
    assert "istiod.ca_dir (line 7)" in result.stderr
    assert "3 problem(s)" in result.stderr


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "file not found"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00bad"), "cannot be read"),
    ],
    ids=["missing", "directory", "not-utf8"],
)
def test_unreadable_config_exits_2(tmp_path: Path, setup: object, message: str) -> None:
    path = tmp_path / "config.yaml"
    setup(path)  # type: ignore[operator]
    result = subprocess.run([*CLI, "render", "-c", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
