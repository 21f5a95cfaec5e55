"""No real company's domain as a CA name, trust domain or host: the built-in default, `init`'s starter, the
model's defaults, the examples, the docs, the rendered trees and the tests use example.com-style names
(RFC 2606 reserves them). The one tetrate.io left is TSB's API group in `apiVersion`, which is the product's and
not ours to choose."""

from __future__ import annotations

import re
from pathlib import Path

from istio_vault_ca.generator.config.model import Config
from tests.support import REPO, run_cli

# Every spelling of the domain, with whatever host or path is around it.
DOMAIN = re.compile(r"[A-Za-z0-9_.-]*tetrate\.io[A-Za-z0-9_./-]*")
# Identifiers of TSB's API that contain the domain and must stay as TSB spells them.
API_IDENTIFIERS = {"install.tetrate.io/v1alpha1"}


def shipped_and_test_files() -> list[Path]:
    """The files of the checkout as git sees them: tracked ones and new ones it does not ignore (never a venv,
    a build or a cache, whatever they are called)."""
    import subprocess

    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [REPO / name for name in listed.split("\0") if name and (REPO / name).is_file()]


def test_init_writes_no_real_domain(tmp_path: Path) -> None:
    result = run_cli("init", "istio-vault-ca.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "istio-vault-ca.yaml").read_text(encoding="utf-8")
    assert DOMAIN.findall(text) == []
    assert "common_name: example.com Root CA" in text


def test_the_built_in_default_renders_no_real_domain(tmp_path: Path) -> None:
    result = run_cli("render", "-o", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    found = {
        name
        for path in (tmp_path / "out").rglob("*")
        if path.is_file()
        for name in DOMAIN.findall(path.read_text(encoding="utf-8"))
    }
    assert found <= API_IDENTIFIERS
    assert "example.com Root CA" in (tmp_path / "out" / "vault" / "02-root-pki.sh").read_text(encoding="utf-8")


def test_model_defaults_name_example_com() -> None:
    config = Config()
    assert config.root.common_name == "example.com Root CA"
    assert config.intermediate.common_name == "example.com Intermediate Authority"
    assert DOMAIN.findall(config.model_dump_json()) == []


def test_no_file_of_the_repository_names_the_domain_but_tsb_api_identifiers() -> None:
    offenders = {}
    for path in shipped_and_test_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        names = set(DOMAIN.findall(text)) - API_IDENTIFIERS
        if path == Path(__file__):
            names -= {"tetrate.io", "mesh.tetrate.io"}  # this file's own prose and samples
        if names:
            offenders[str(path.relative_to(REPO))] = sorted(names)
    assert offenders == {}


def test_the_scan_would_see_a_host_name() -> None:
    """The pattern catches a host or CN under the domain, not only the bare name (a scan that cannot fail is none)."""
    sample = "trust_domain: mesh.tetrate.io\ncommon_name: tetrate.io\napiVersion: install.tetrate.io/v1alpha1\n"
    assert set(DOMAIN.findall(sample)) - API_IDENTIFIERS == {"mesh.tetrate.io", "tetrate.io"}
