"""The Apache-2.0 text that pyproject.toml declares ships in the sdist and in the wheel's metadata: a licence named
in metadata but absent from the archives is what a downstream packager's audit flags."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.slow


def _run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, check=False)


def test_license_is_the_apache_text_the_metadata_declares() -> None:
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert 'license = "Apache-2.0"' in (REPO / "pyproject.toml").read_text()


def test_sdist_and_wheel_carry_the_license(tmp_path: Path) -> None:
    expected = (REPO / "LICENSE").read_bytes()
    # pip builds no sdist (and a uv-made venv has no pip): the declared backend, hatchling, in a throw-away venv
    # builds both archives from the checkout.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    installed = _run(python, "-m", "pip", "install", "--quiet", "hatchling>=1.18")
    assert installed.returncode == 0, installed.stderr[-2000:]
    dist = tmp_path / "dist"
    built = _run(python, "-c", f"from hatchling.build import build_sdist; build_sdist({str(dist)!r})", cwd=REPO)
    assert built.returncode == 0, built.stderr[-2000:]
    (sdist,) = dist.glob("istio_vault_ca-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = {member.name.split("/", 1)[1]: member for member in archive.getmembers() if "/" in member.name}
        assert "LICENSE" in members, sorted(members)
        handle = archive.extractfile(members["LICENSE"])
        assert handle is not None and handle.read() == expected

    wheels = tmp_path / "wheels"
    wheel_built = _run(python, "-c", f"from hatchling.build import build_wheel; build_wheel({str(wheels)!r})", cwd=REPO)
    assert wheel_built.returncode == 0, wheel_built.stderr[-2000:]
    (wheel,) = wheels.glob("istio_vault_ca-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        licences = [name for name in archive.namelist() if ".dist-info/licenses/" in name]
        assert [name.rsplit("/", 1)[1] for name in licences] == ["LICENSE"], licences
        assert archive.read(licences[0]) == expected
        metadata = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        assert "License-File: LICENSE" in archive.read(metadata).decode()
