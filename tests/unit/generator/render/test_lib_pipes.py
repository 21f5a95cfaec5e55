"""The rendered lib.sh runs under `set -o pipefail`: a helper whose pipeline's reader stops early (awk `exit`,
`grep -q`) makes the writer die of SIGPIPE when its input is longer than one pipe write, and pipefail turns that
into a failed step (exit 141). A re-run of setup.sh on a Vault with many mounts failed so in step 04. These tests
source the rendered lib.sh in bash and feed its readers inputs far longer than a pipe's buffer."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from istio_vault_ca.generator.config.model import Config
from istio_vault_ca.generator.render.tree import render_tree

BIG = 400  # mounts: a listing of ~100 KB, longer than a pipe's 64 KB buffer


def _lib(tmp_path: Path) -> Path:
    tree = render_tree(Config.model_validate({}))
    lib = tmp_path / "lib.sh"
    lib.write_bytes(tree["vault/lib.sh"].content)
    return lib


def _listing(first: str) -> str:
    """What `vault read -format=json sys/mounts` prints: the CLI's 2-space indent, each mount's key at 4."""
    mounts = {f"{first}/": {"type": "kv", "options": {"version": "1"}, "config": {"max_lease_ttl": 0}}}
    for i in range(BIG):
        mounts[f"other-{i:03d}/"] = {"type": "pki", "description": "x" * 200, "config": {"max_lease_ttl": 3600}}
    return json.dumps({"data": mounts}, indent=2)


def _bash(lib: Path, script: str, listing: str) -> subprocess.CompletedProcess[str]:
    """`script` after sourcing lib.sh, with MOUNTS_JSON holding `listing` (read from a file: it is longer than
    one environment entry may be)."""
    mounts = lib.parent / "mounts.json"
    mounts.write_text(listing, encoding="utf-8")
    return subprocess.run(
        ["bash", "-c", f'STEP=test; . "{lib}"; MOUNTS_JSON=$(cat "{mounts}"); {script}'],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_read_mount_finds_the_first_mount_of_a_long_listing(tmp_path: Path) -> None:
    lib = _lib(tmp_path)
    # The mount asked for comes first, so a reader that stops at its end would close the pipe early.
    done = _bash(lib, 'read_mount kv; printf "%s|%s\\n" "$MOUNT_TYPE" "$MOUNT_VERSION"', _listing("kv"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "kv|1"


def test_read_mount_of_an_absent_mount_is_empty(tmp_path: Path) -> None:
    lib = _lib(tmp_path)
    done = _bash(lib, 'read_mount nothing-here; printf "[%s]\\n" "$MOUNT_TYPE"', _listing("kv"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_no_reader_in_the_rendered_helpers_stops_before_its_input_ends() -> None:
    """Every tree's helpers: no `grep -q` or awk `exit` fed by a pipe (a file argument is safe)."""
    from tests.support import REPO

    offenders = []
    for lib in sorted([*REPO.glob("out/**/lib.sh"), *REPO.glob("tests/golden/**/lib.sh")]):
        for number, line in enumerate(lib.read_text(encoding="utf-8").splitlines(), 1):
            piped = "|" in line.split("#", 1)[0]
            if piped and ("grep -q" in line or "{ exit }" in line):
                offenders.append(f"{lib.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
