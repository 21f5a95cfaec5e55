"""The compiled-template cache: private, keyed by the template source, never a reason for a render to fail."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from istio_vault_ca.generator.render.templating import NO_CACHE_ENV, build_environment, bytecode_cache_dir


@pytest.fixture(autouse=True)
def writes_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache follows PYTHONDONTWRITEBYTECODE (read only); these tests are about writing it."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)


def test_lives_in_the_user_cache_dir_and_is_private(tmp_path: Path) -> None:
    directory = bytecode_cache_dir({"XDG_CACHE_HOME": str(tmp_path)})
    assert directory is not None
    assert directory.parent == tmp_path / "istio-vault-ca"
    assert oct(directory.stat().st_mode & 0o777) == oct(0o700)


def test_can_be_turned_off_and_refuses_a_directory_others_can_write(tmp_path: Path) -> None:
    assert bytecode_cache_dir({"XDG_CACHE_HOME": str(tmp_path), NO_CACHE_ENV: "1"}) is None
    directory = bytecode_cache_dir({"XDG_CACHE_HOME": str(tmp_path)})
    assert directory is not None
    os.chmod(directory, 0o777)  # noqa: S103 - the unsafe case under test
    assert bytecode_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) is None


def test_a_relative_xdg_cache_home_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    directory = bytecode_cache_dir({"XDG_CACHE_HOME": "relative/cache"})
    assert directory is not None and directory.is_relative_to(tmp_path / ".cache")


def test_a_changed_template_is_recompiled(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    template = templates / "t.sh.j2"
    cache = bytecode_cache_dir({"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert cache is not None
    template.write_text("echo {{ name | sh_quote }}\n")
    assert build_environment(templates, cache).get_template("t.sh.j2").render(name="a") == "echo 'a'\n"
    assert list(cache.iterdir()), "the compiled template was stored"
    template.write_text("printf %s {{ name | sh_quote }}\n")
    # A new process: a fresh environment reading the same cache.
    assert build_environment(templates, cache).get_template("t.sh.j2").render(name="a") == "printf %s 'a'\n"


def test_an_unusable_cache_does_not_fail_a_render(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "t.j2").write_text("{{ 1 + 1 }}\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    # Neither readable nor writable (not a directory), whoever runs the test.
    assert build_environment(templates, blocker / "cache").get_template("t.j2").render() == "2\n"


def test_a_corrupt_entry_is_ignored(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "t.j2").write_text("{{ 40 + 2 }}\n")
    cache = bytecode_cache_dir({"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert cache is not None
    build_environment(templates, cache).get_template("t.j2")
    for entry in cache.iterdir():
        entry.write_bytes(entry.read_bytes()[:20])
    assert build_environment(templates, cache).get_template("t.j2").render() == "42\n"
