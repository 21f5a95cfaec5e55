"""The wheel carries the templates: built, installed into a clean venv outside the repo, it renders."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.slow


def test_wheel_installs_into_a_clean_venv_and_renders(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("istio_vault_ca-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "generator/_templates/vault/04-intermediate-pki.sh.j2" in names
    assert "generator/starter.yaml" in names
    assert not any(name.startswith(("tests/", "templates/")) for name in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], capture_output=True, text=True, check=False
    )
    assert install.returncode == 0, install.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [str(venv / "bin" / "istio-vault-ca"), "render", "-o", "out"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (elsewhere / "out" / "vault" / "04-intermediate-pki.sh").read_bytes() == (
        REPO / "out" / "vault" / "04-intermediate-pki.sh"
    ).read_bytes()
