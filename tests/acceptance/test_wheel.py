"""The wheel: it carries the templates, adds exactly one top-level import package, and lives beside the unrelated
PyPI distributions named `verify` and `generator` without overwriting them or being shadowed by them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.slow


def _run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, check=False)


def _foreign_generator(tmp_path: Path) -> Path:
    """A distribution with a top-level `generator` package (PyPI's `generator` 0.1-alpha no longer installs)."""
    source = tmp_path / "foreign-generator"
    (source / "generator").mkdir(parents=True)
    (source / "generator" / "__init__.py").write_text("FOREIGN = 'generator'\n")
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "generator"\nversion = "9.9"\n[tool.setuptools]\npackages = ["generator"]\n'
    )
    return source


def test_wheel_adds_one_package_and_survives_foreign_verify_and_generator(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, REPO)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = dist.glob("istio_vault_ca-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "istio_vault_ca/generator/_templates/vault/04-intermediate-pki.sh.j2" in names
    assert "istio_vault_ca/generator/config/starter.yaml" in names
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"istio_vault_ca"}

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = venv / "bin" / "pip"
    # The unrelated packages first, ours last: ours must not overwrite theirs, theirs must not shadow ours.
    foreign = _run(pip, "install", "--quiet", "verify==1.1.1", _foreign_generator(tmp_path))
    assert foreign.returncode == 0, foreign.stderr[-2000:]
    install = _run(pip, "install", "--quiet", wheel)
    assert install.returncode == 0, install.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = "from verify import expect; import generator; print(generator.FOREIGN)"
    theirs = _run(venv / "bin" / "python", "-c", probe, cwd=elsewhere)
    assert theirs.returncode == 0 and theirs.stdout.strip() == "generator", theirs.stderr

    tool = venv / "bin" / "istio-vault-ca"
    rendered = _run(tool, "render", "-o", "out", cwd=elsewhere)
    assert rendered.returncode == 0, rendered.stderr
    assert (elsewhere / "out" / "vault" / "04-intermediate-pki.sh").read_bytes() == (
        REPO / "out" / "vault" / "04-intermediate-pki.sh"
    ).read_bytes()
    assert _run(tool, "validate", cwd=elsewhere).returncode == 0
    assert '"$schema"' in _run(tool, "schema", cwd=elsewhere).stdout
    assert _run(tool, "init", "starter.yaml", cwd=elsewhere).returncode == 0
    # Every command at least parses and imports its handler's modules.
    for command in ("render", "validate", "init", "rehearse", "sign-intermediate", "plan-rotation"):
        assert _run(tool, command, "--help").returncode == 0, command
    for target in ("chain", "vault", "cluster", "all", "fleet"):
        assert _run(tool, "verify", target, "--help").returncode == 0, target
    empty = elsewhere / "empty"
    empty.mkdir()
    chain = _run(tool, "verify", "chain", empty, "--output", "json", cwd=elsewhere)
    assert chain.returncode == 1 and '"chain.file-present"' in chain.stdout, chain.stderr
