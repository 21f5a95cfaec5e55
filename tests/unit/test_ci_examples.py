"""examples/ci/: the GitHub Actions workflow and the GitLab CI jobs load as YAML, every `istio-vault-ca` command they
run parses with the real argument parser, and each publishes the JUnit file `verify all` writes. No network."""

from __future__ import annotations

import re
import shlex
from importlib.metadata import metadata
from typing import Any

import pytest
from ruamel.yaml import YAML

from istio_vault_ca.verify.cli.parser import build_parser
from tests.support import EXAMPLES

CI = EXAMPLES / "ci"
DIRECT_REFERENCE = re.compile(r"istio-vault-ca(?:\[(?P<extras>[\w,]+)\])? @ git\+(?P<url>\S+)@(?P<commit>\S+)")
SHELL_OPERATORS = {">", ">>", "|", "&&", "||", ";", "2>&1"}


def load(name: str) -> Any:
    return YAML(typ="safe").load((CI / name).read_text(encoding="utf-8"))


def shell_lines(script: str) -> list[str]:
    """The lines of a shell script, `\\` continuations joined."""
    return script.replace("\\\n", " ").splitlines()


def our_commands(lines: list[str]) -> list[tuple[list[str], str | None]]:
    """(arguments after `istio-vault-ca`, the file stdout is redirected to) for each of our commands."""
    found = []
    for line in lines:
        words = shlex.split(line, comments=True)
        if not words or words[0] != "istio-vault-ca":
            continue
        cut = next((i for i, word in enumerate(words) if word in SHELL_OPERATORS), len(words))
        redirect = words[cut + 1] if cut < len(words) and words[cut] == ">" else None
        found.append((words[1:cut], redirect))
    return found


def parses(arguments: list[str]) -> Any:
    try:
        return build_parser().parse_args(arguments)
    except SystemExit:
        pytest.fail(f"istio-vault-ca {' '.join(arguments)}: our CLI refuses these arguments")


def github_jobs() -> dict[str, tuple[dict[str, Any], list[str]]]:
    workflow = load("github-actions.yml")
    return {
        name: (job, [line for step in job["steps"] for line in shell_lines(step.get("run", ""))])
        for name, job in workflow["jobs"].items()
    }


def gitlab_jobs() -> dict[str, tuple[dict[str, Any], list[str]]]:
    document = load("gitlab-ci.yml")
    jobs = {}
    for name, job in document.items():
        if name.startswith(".") or not isinstance(job, dict):
            continue
        base = document.get(job.get("extends", ""), {})
        lines = [
            line
            for key in ("before_script", "script", "after_script")
            for entry in job.get(key, base.get(key, []))
            for line in shell_lines(entry)
        ]
        jobs[name] = (job, lines)
    return jobs


@pytest.mark.parametrize("jobs", [github_jobs, gitlab_jobs], ids=["github", "gitlab"])
def test_every_command_parses_and_the_install_is_one_that_works_today(jobs: Any) -> None:
    """We publish no release: each job installs istio-vault-ca from git at a commit the user names, with extras
    the package really has (never `istio-vault-ca==VERSION`, which no index serves)."""
    found = [arguments for _, lines in jobs().values() for arguments, _ in our_commands(lines)]
    assert len(found) >= 3
    for arguments in found:
        parses(arguments)
    installs = [line for _, lines in jobs().values() for line in lines if line.startswith("pip install")]
    assert installs
    extras = set(metadata("istio-vault-ca").get_all("Provides-Extra") or [])
    # GitHub's `${{ vars.NAME }}` as the shell's `$NAME` (GitLab's CI/CD variables already are)
    github_source = re.sub(
        r"\$\{\{\s*vars\.(\w+)\s*\}\}", r"$\1", load("github-actions.yml")["env"]["ISTIO_VAULT_CA_SOURCE"]
    )
    for line in installs:
        (requirement,) = shlex.split(line.split("#", 1)[0])[2:]
        requirement = requirement.replace("$ISTIO_VAULT_CA_SOURCE", github_source)
        found_req = DIRECT_REFERENCE.fullmatch(requirement)
        assert found_req, f"{line}: not a git install at a commit ({DIRECT_REFERENCE.pattern})"
        assert set(filter(None, (found_req["extras"] or "").split(","))) <= extras, line
        assert "COMMIT" in found_req["commit"], f"{line}: pin a commit, not a tag or a version"


def test_github_checks_the_render_on_pull_requests_and_publishes_the_verify_report() -> None:
    workflow = load("github-actions.yml")
    assert "pull_request" in workflow["on"] and "push" in workflow["on"]
    jobs = github_jobs()
    check, check_lines = jobs["render-check"]
    assert check["if"] == "github.event_name == 'pull_request'"
    (render, _), *_ = our_commands(check_lines)
    args = parses(render)
    assert (args.command, args.check, args.config, args.out) == ("render", True, "istio-vault-ca.yaml", "out")

    verify, verify_lines = jobs["verify"]
    assert verify["if"] == "github.event_name != 'pull_request'"
    reports = [(parses(a), target) for a, target in our_commands(verify_lines) if a[0] == "verify"]
    assert [(r.verify_command, r.output) for r, _ in reports] == [("all", "junit")]
    report_file = reports[0][1]
    assert report_file == "verify-report.xml"
    publish = [s for s in verify["steps"] if s.get("uses", "").startswith("mikepenz/action-junit-report@")]
    assert len(publish) == 1 and publish[0]["if"] == "always()"
    assert publish[0]["with"]["report_paths"] == report_file
    assert workflow["permissions"]["checks"] == "write"


def test_gitlab_checks_the_render_on_merge_requests_and_publishes_the_verify_report() -> None:
    jobs = gitlab_jobs()
    check, check_lines = jobs["istio-vault-ca-render-check"]
    assert check["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    (render, _), *_ = our_commands(check_lines)
    assert parses(render).check is True

    verify, verify_lines = jobs["istio-vault-ca-verify"]
    assert verify["stage"] == ".post"  # after every other stage, the deploy included
    reports = [(parses(a), target) for a, target in our_commands(verify_lines) if a[0] == "verify"]
    assert [(r.verify_command, r.output) for r, _ in reports] == [("all", "junit")]
    assert verify["artifacts"]["when"] == "always"  # a failing check is when the report matters
    assert verify["artifacts"]["reports"]["junit"] == reports[0][1] == "verify-report.xml"


def test_the_examples_are_not_configs() -> None:
    """examples/*.yaml are configs (rendered, golden trees, determinism); the CI files live one level down."""
    assert sorted(p.name for p in CI.iterdir()) == ["github-actions.yml", "gitlab-ci.yml"]
    assert not list(EXAMPLES.glob("*.yml"))
