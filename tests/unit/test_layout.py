"""The code's shape rules that no linter checks: one module, one job, and no shipped module over 600 lines."""

from __future__ import annotations

from tests.support import REPO

MAX_LINES = 600


def test_no_shipped_module_is_over_600_lines() -> None:
    modules = sorted(path for top in ("generator", "verify") for path in (REPO / top).rglob("*.py"))
    assert len(modules) > 100, "the shipped packages are where this test looks"
    long = {
        str(path.relative_to(REPO)): count
        for path in modules
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
