"""The generated reference pages of the docs site (docs/reference/) are what the code says today."""

from __future__ import annotations

import subprocess
import sys

from tests.support import REPO


def test_the_reference_pages_are_the_code() -> None:
    """Fails when a field, option, check or exit code changed without `make docs` (which regenerates them)."""
    done = subprocess.run(
        [sys.executable, str(REPO / "docs" / "gen_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for page in ("config.md", "cli.md", "checks.md", "exit-codes.md"):
        assert (REPO / "docs" / "reference" / page).read_text(encoding="utf-8").startswith("# ")
