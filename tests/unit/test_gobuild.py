"""tests/gobuild.py: which module a name means, what the binary is called, what its cache key covers.

No go build here (that is the fidelity and e2e tiers' job); ``go version`` is replaced so Go need not be installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import gobuild


@pytest.fixture(autouse=True)
def fixed_go_version(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_run_go(args: list[str], cwd: Path) -> str:
        assert args == ["version"], args
        return "go version go1.26.0 linux/amd64\n"

    monkeypatch.setattr(gobuild, "_run_go", fake_run_go)


def _module(root: Path, name: str, files: dict[str, str]) -> Path:
    src = root / name
    for rel, text in {"go.mod": f"module example.test/{name}\n\ngo 1.26.0\n", **files}.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    return src


def test_names_resolve_under_tests_oracles_and_e2e() -> None:
    assert gobuild.program_dir("istio_ca") == gobuild.TESTS_DIR / "oracles" / "istio_ca"
    assert gobuild.program_dir("e2e/kube") == gobuild.TESTS_DIR / "e2e" / "kube"
    assert gobuild.program_dir("kube") == gobuild.TESTS_DIR / "e2e" / "kube"
    with pytest.raises(FileNotFoundError, match="no Go program named 'nope'"):
        gobuild.program_dir("nope")


def test_an_explicit_root(tmp_path: Path) -> None:
    src = _module(tmp_path, "prog", {"main.go": "package main\n"})
    assert gobuild.program_dir("prog", root=tmp_path) == src
    with pytest.raises(FileNotFoundError):
        gobuild.program_dir("istio_ca", root=tmp_path)


def test_binary_is_named_after_the_package(tmp_path: Path) -> None:
    src = _module(tmp_path, "kube", {"cmd/etcd/main.go": "package main\n"})
    assert gobuild.binary_name(src) == "kube"
    assert gobuild.binary_name(src, ".") == "kube"
    assert gobuild.binary_name(src, "./cmd/etcd") == "etcd"
    assert gobuild.binary_name(src, "./cmd/etcd/") == "etcd"


def test_cache_key_covers_sources_package_and_ldflags(tmp_path: Path) -> None:
    src = _module(tmp_path, "kube", {"cmd/a/main.go": "package main\n", "cmd/b/main.go": "package main\n"})
    base = gobuild.cache_key(src)
    assert gobuild.cache_key(src, ".", "") == base  # the defaults leave single-package keys as they were
    assert gobuild.cache_key(src, "./cmd/a") != gobuild.cache_key(src, "./cmd/b")
    assert gobuild.cache_key(src, "./cmd/a", "-X a.b=1") != gobuild.cache_key(src, "./cmd/a", "-X a.b=2")
    (src / "cmd/b/main.go").write_text("package main\n\nfunc main() {}\n")
    assert gobuild.cache_key(src) != base


def test_build_refuses_an_absolute_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gobuild, "go_executable", lambda: "go")
    _module(tmp_path, "prog", {"main.go": "package main\n"})
    with pytest.raises(ValueError, match=r"like \./cmd/NAME"):
        gobuild.build("prog", "cmd/x", root=tmp_path)


def test_a_cached_binary_is_reused_without_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gobuild, "go_executable", lambda: "go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    src = _module(tmp_path, "kube", {"cmd/etcd/main.go": "package main\n"})
    cached = gobuild.cache_dir() / f"etcd-{gobuild.cache_key(src, './cmd/etcd')}"
    cached.parent.mkdir(parents=True)
    cached.write_text("#!/bin/sh\n")
    cached.chmod(0o755)
    assert gobuild.build("kube", "./cmd/etcd", root=tmp_path) == cached


def test_cli_usage() -> None:
    assert gobuild.main([]) == 2
    assert gobuild.main(["a", "b", "c"]) == 2
    assert gobuild.main(["a", "--ldflags"]) == 2


def test_go_flags_keep_only_parallelism(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOFLAGS", "-mod=mod -p=1 -tags=foo")
    assert gobuild.go_env()["GOFLAGS"] == "-mod=readonly -buildvcs=false -p=1"
