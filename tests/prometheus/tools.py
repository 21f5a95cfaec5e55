"""Prometheus's own binaries for the tests (Debian's `prometheus` package: promtool and prometheus).

The tests install nothing: `make test` installs the package when missing and running as root (as the bench does
for openssl). Absent locally the tests skip saying so; with CI set they fail, since CI must run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

# Waits on the exporter and Prometheus (tests.support.wait_until): a hang guard for a loaded machine, not a timing.
WAIT = 90.0
POLL = 0.2


def require(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"needs `{name}` from Prometheus 2.x (apt-get install -y prometheus; `make test` does it as root)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must have {name}: {message}")
        pytest.skip(message)
    return path


def promtool(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require("promtool"), *args], input=stdin, capture_output=True, text=True, timeout=60, check=False, cwd=cwd
    )


def get(url: str) -> str | None:
    """The body at ``url``, or None while nothing answers there (yet)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode("utf-8"))
    except OSError:
        return None
