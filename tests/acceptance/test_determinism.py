"""Same config, same bytes, in any process: every example rendered by two processes with different hash seeds
(set and dict iteration orders differ between them) gives identical trees, file modes included."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import REPO, run_cli

EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def render(config: Path, out: Path, seed: str) -> dict[str, tuple[bytes, int]]:
    env = {**os.environ, "PYTHONHASHSEED": seed, "ISTIO_VAULT_CA_NO_CACHE": "1"}
    done = run_cli("render", "-c", config, "-o", out, env=env)
    assert done.returncode == 0, done.stderr
    return {
        str(path.relative_to(out)): (path.read_bytes(), path.stat().st_mode & 0o777)
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }


def test_there_are_examples_to_render() -> None:
    assert len(EXAMPLES) == 10


@pytest.mark.parametrize("config", EXAMPLES, ids=[c.stem for c in EXAMPLES])
def test_two_processes_with_different_hash_seeds_render_the_same_bytes(config: Path, tmp_path: Path) -> None:
    first = render(config, tmp_path / "a", "0")
    second = render(config, tmp_path / "b", "4242")
    assert first.keys() == second.keys()
    differing = [name for name in first if first[name] != second[name]]
    assert differing == []
