"""The pre-commit hooks of `.pre-commit-hooks.yaml`, run by the real pre-commit as a user's repository runs them.

`pre-commit try-repo` clones a git repository, installs it into the hook's own virtualenv with pip (our
dependencies come from the package index, as for any Python hook) and runs the hook. The repository handed to it is
a temporary git copy of this checkout as it is on disk (tracked and new files, uncommitted edits included), so the
test exercises the hook definitions and code under review, not the last commit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import EXAMPLES, REPO

pytestmark = pytest.mark.slow

# What pip needs to install the project (pyproject.toml's wheel and sdist targets) and the hook definitions.
PACKAGED = (
    ".pre-commit-hooks.yaml",
    "pyproject.toml",
    "hatch_build.py",
    "LICENSE",
    "README.md",
    "generator/",
    "verify/",
    "templates/",
)
GIT_IDENTITY = ["-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"]


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *GIT_IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding this checkout's packaged files, committed."""
    target = tmp_path_factory.mktemp("hooks-repo")
    listed = git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=REPO).split("\0")
    for name in listed:
        source = REPO / name
        if name and name.startswith(PACKAGED) and source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    git("init", "-q", cwd=target)
    git("add", "-A", cwd=target)
    git("commit", "-q", "-m", "hooks under test", cwd=target)
    return target


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    """A user's repository: the config and `out/` freshly rendered from it, both added to git."""
    repo = tmp_path / "gitops"
    repo.mkdir()
    shutil.copy(EXAMPLES / "reviewer-secret.yaml", repo / "istio-vault-ca.yaml")
    render = [sys.executable, "-m", "istio_vault_ca.verify.cli.parser", "render", "-c", "istio-vault-ca.yaml"]
    assert subprocess.run([*render, "-o", "out"], cwd=repo, capture_output=True, check=False).returncode == 0
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    return repo


def try_repo(hooks: Path, repo: Path, *hook: str) -> subprocess.CompletedProcess[str]:
    """`pre-commit try-repo HOOKS [HOOK] --all-files` in `repo` (no HOOK: every hook of HOOKS). try-repo installs
    the hook environment afresh on every call (a throw-away store), so each test makes one call."""
    env = {**os.environ, "PRE_COMMIT_COLOR": "never"}
    env.pop("PYTHONPATH", None)  # the hook must run from its own install, not this checkout
    command = [sys.executable, "-m", "pre_commit", "try-repo", str(hooks), *hook, "--all-files", "--verbose"]
    return subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=900, check=False)


def test_both_hooks_pass_on_a_valid_config_and_its_fresh_render(hooks_repo: Path, user_repo: Path) -> None:
    fresh = try_repo(hooks_repo, user_repo)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "istio-vault-ca validate" in fresh.stdout and "istio-vault-ca render --check" in fresh.stdout
    assert "istio-vault-ca.yaml: valid" in fresh.stdout
    assert "out is up to date with istio-vault-ca.yaml" in fresh.stdout


def test_render_check_fails_after_a_hand_edit_and_a_config_change_without_a_re_render(
    hooks_repo: Path, user_repo: Path
) -> None:
    policy = user_repo / "out" / "policy.hcl"
    policy.write_text(policy.read_text() + "# widened by hand\n")
    config = user_repo / "istio-vault-ca.yaml"
    config.write_text(config.read_text().replace("reviewer: secret\n", "reviewer: secret\n  token_period: 900s\n"))
    assert "900s" in config.read_text()
    stale = try_repo(hooks_repo, user_repo, "istio-vault-ca-render-check")
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "out is stale against istio-vault-ca.yaml" in stale.stdout
    assert "policy.hcl (differs)" in stale.stdout  # the hand edit
    assert "-# widened by hand" in stale.stdout  # its short diff, from the render to the file
    assert "vault/05-kubernetes-auth.sh (differs)" in stale.stdout  # the config change
    assert "refresh it with: istio-vault-ca render -c istio-vault-ca.yaml -o out" in stale.stdout


def test_validate_names_the_field_and_line_of_every_bad_config(hooks_repo: Path, user_repo: Path) -> None:
    (user_repo / "istio-vault-ca.yaml").write_text((REPO / "tests/configs/bad/unknown-field.yaml").read_text())
    nested = user_repo / "staging" / "istio-vault-ca.yaml"  # every matching file is passed, wherever it is
    nested.parent.mkdir()
    nested.write_text((REPO / "tests/configs/bad/relative-ca-dir.yaml").read_text())
    git("add", "-A", cwd=user_repo)
    bad = try_repo(hooks_repo, user_repo, "istio-vault-ca-validate")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "istio-vault-ca.yaml: 1 problem(s) in the config" in bad.stdout
    assert "vault.adress (line 3): unknown field" in bad.stdout
    assert "staging/istio-vault-ca.yaml: 1 problem(s) in the config" in bad.stdout
    assert "istiod.ca_dir (line 3): 'vault/secrets' must be an absolute path" in bad.stdout
