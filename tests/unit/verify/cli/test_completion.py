"""Shell completion: generated from the parser, and driven through each shell's own completion machinery.

bash is driven for real: the script is sourced into an interactive bash, the function `complete -p` names is called
with COMP_WORDS/COMP_CWORD as readline would set them. fish answers `complete -C` itself. zsh's completion system
needs a terminal, so its script is loaded by compinit (it must register) and its logic is run with `_describe`,
`compadd` and `_files` replaced by functions that print what they were given. zsh and fish come from Debian
(`make test` installs them as root); absent, their tests skip saying so (and fail when CI is set).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from istio_vault_ca.verify.cli.completion_command import command_specs, script, walk
from istio_vault_ca.verify.cli.parser import build_parser
from tests.support import EXAMPLES, REPO


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with a fleet config, another YAML file, a text file and a subdirectory, and `istio-vault-ca`
    first on PATH (a wrapper running this checkout's CLI, as the completion scripts call it by name)."""
    root = tmp_path_factory.mktemp("completion") / "work"
    (root.parent / "bin").mkdir()
    root.mkdir()
    wrapper = root.parent / "bin" / "istio-vault-ca"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m istio_vault_ca.verify.cli.parser "$@"\n')
    wrapper.chmod(0o755)
    shutil.copy(EXAMPLES / "three-clusters.yaml", root / "fleet.yaml")
    (root / "other.yml").write_text("clusters: []\n")
    (root / "notes.txt").write_text("x\n")
    (root / "rendered").mkdir()
    return root


def shell_env(workdir: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{workdir.parent / 'bin'}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(REPO)}


def need(shell: str) -> str:
    found = shutil.which(shell)
    if found is None:
        message = f"needs {shell} (apt-get install -y {shell}; `make test` does it as root)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must have {shell}: {message}")
        pytest.skip(message)
    return found


def test_the_specs_are_the_parser() -> None:
    """Every subcommand and option of the real parser is in the completion data, the hidden one is not."""
    specs = {spec.name: spec for spec in command_specs(build_parser())}
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    listed = [name for name, _ in specs[""].subcommands]
    assert listed == [name for name in commands.choices if name != "__complete"]
    for name, sub in commands.choices.items():
        if name == "__complete":
            continue
        flags = {flag for action in sub._actions for flag in action.option_strings}
        assert flags == {flag for option in specs[name].options for flag in option.flags}, name
    assert specs["verify chain"].positional == "dir"
    assert specs["completion"].positional == "choice:bash zsh fish"
    kinds = {flag: option.value for option in specs["verify all"].options for flag in option.flags}
    assert kinds["--config"] == "config" and kinds["--cluster"] == "cluster" and kinds["--kubeconfig"] == "file"
    assert kinds["--output"] == "choice:text json junit prometheus html" and kinds["--warn-days"] == "any"
    assert {flag: o.value for o in specs["plan-rotation"].options for flag in o.flags}["--force"] == "cluster"


def test_a_new_option_appears_without_touching_the_completion_code() -> None:
    parser = argparse.ArgumentParser(prog="x")
    sub = parser.add_subparsers().add_parser("thing", help="does a thing")
    sub.add_argument("--target", metavar="CLUSTER")
    specs = {spec.name: spec for spec in walk(parser)}
    assert specs[""].subcommands == (("thing", "does a thing"),)
    assert [(o.flags, o.value) for o in specs["thing"].options] == [
        (("-h", "--help"), None),
        (("--target",), "cluster"),
    ]


def test_help_does_not_list_the_hidden_command() -> None:
    assert "__complete" not in build_parser().format_help()


BASH_DRIVER = r"""
source <(istio-vault-ca completion bash)
function_name="$(complete -p istio-vault-ca | sed -E 's/.*-F ([^ ]+) .*/\1/')"
ask() {
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
    "$function_name" istio-vault-ca "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf '%s\n' "${COMPREPLY[*]}"
}
"""


def bash_complete(workdir: Path, *lines: list[str]) -> list[list[str]]:
    """One answer per command line; each line's last word is the one being completed."""
    asks = "".join("ask " + " ".join(f"'{word}'" for word in line) + "\n" for line in lines)
    done = subprocess.run(
        [need("bash"), "--norc", "--noprofile", "-i"],
        input=BASH_DRIVER + asks,
        capture_output=True,
        text=True,
        cwd=workdir,
        env=shell_env(workdir),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers = done.stdout.splitlines()
    assert len(answers) == len(lines), done.stdout + done.stderr
    return [answer.split() for answer in answers]


def test_bash_completes_a_subcommand_and_a_flag(workdir: Path) -> None:
    subcommand, nested, flag = bash_complete(
        workdir,
        ["istio-vault-ca", "ver"],
        ["istio-vault-ca", "verify", ""],
        ["istio-vault-ca", "render", "--ch"],
    )
    assert subcommand == ["verify"]
    assert nested == ["chain", "vault", "cluster", "all", "fleet"]
    assert flag == ["--check"]


def test_bash_completes_option_values(workdir: Path) -> None:
    output, config, clusters, forced, directory, shells = bash_complete(
        workdir,
        ["istio-vault-ca", "verify", "all", "--output", "j"],
        ["istio-vault-ca", "validate", "-c", ""],
        ["istio-vault-ca", "verify", "vault", "-c", "fleet.yaml", "--cluster", ""],
        ["istio-vault-ca", "plan-rotation", "--config", "fleet.yaml", "--force", "w"],
        ["istio-vault-ca", "verify", "chain", "--output", "json", "r"],
        ["istio-vault-ca", "completion", ""],
    )
    assert output == ["json", "junit"]
    assert sorted(config) == ["fleet.yaml", "other.yml", "rendered"]  # YAML files and directories, not notes.txt
    assert clusters == ["east", "west", "central"]  # from the -c file, through `__complete clusters`
    assert forced == ["west"]
    assert directory == ["rendered"]
    assert shells == ["bash", "zsh", "fish"]


def test_the_bash_script_is_shellcheck_clean(tmp_path: Path) -> None:
    found = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    target = tmp_path / "istio-vault-ca.bash"
    target.write_text(script("bash", build_parser()))
    done = subprocess.run([found, "-s", "bash", str(target)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


def test_cluster_names_come_from_the_config(workdir: Path) -> None:
    run = [sys.executable, "-m", "istio_vault_ca.verify.cli.parser", "__complete", "clusters"]
    env = shell_env(workdir)
    fleet = subprocess.run([*run, "-c", "fleet.yaml"], capture_output=True, text=True, cwd=workdir, env=env)
    assert fleet.stdout.split() == ["east", "west", "central"]
    default = subprocess.run(run, capture_output=True, text=True, cwd=workdir / "rendered", env=env)
    assert default.stdout.split() == ["default"]  # no ./istio-vault-ca.yaml: the built-in default
    broken = subprocess.run([*run, "-c", "notes.txt"], capture_output=True, text=True, cwd=workdir, env=env)
    assert (broken.returncode, broken.stdout, broken.stderr) == (0, "", "")  # nothing printed into a command line


def test_fish_completes_through_its_own_machinery(workdir: Path, tmp_path: Path) -> None:
    fish = need("fish")
    source = tmp_path / "istio-vault-ca.fish"
    source.write_text(script("fish", build_parser()))
    assert subprocess.run([fish, "--no-execute", str(source)], capture_output=True, check=False).returncode == 0

    def ask(line: str) -> list[str]:
        command = f"source {source}; complete -C '{line}'"
        done = subprocess.run(
            [fish, "--no-config", "-c", command], capture_output=True, text=True, cwd=workdir, env=shell_env(workdir)
        )
        assert done.returncode == 0, done.stderr
        return [entry.split("\t")[0] for entry in done.stdout.splitlines()]

    assert ask("istio-vault-ca verify ") == ["all", "chain", "cluster", "fleet", "vault"]
    assert "--check" in ask("istio-vault-ca render --ch")
    assert ask("istio-vault-ca render -c ") == ["fleet.yaml", "other.yml", "rendered/"]
    assert ask("istio-vault-ca verify vault -c fleet.yaml --cluster ") == ["central", "east", "west"]


def test_zsh_script_loads_and_its_logic_answers(workdir: Path, tmp_path: Path) -> None:
    zsh = need("zsh")
    source = tmp_path / "_istio-vault-ca"
    source.write_text(script("zsh", build_parser()))
    assert subprocess.run([zsh, "-n", str(source)], capture_output=True, check=False).returncode == 0
    registered = subprocess.run(
        [
            zsh,
            "-f",
            "-c",
            f"autoload -U compinit; compinit -u -D; source {source}; print -r -- $_comps[istio-vault-ca]",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert registered.stdout.strip() == "_istio_vault_ca", registered.stderr
    stubs = (
        "compdef() { : }; "
        f"source {source}; "
        "_describe() { print -rl -- ${(P)4} }; compadd() { print -rl -- ${(P)2} }; _files() { print -r -- _files $* }; "
        "ask() { words=($@); CURRENT=$#; print -r -- @@; _istio_vault_ca }; "
        "ask istio-vault-ca verify ''; ask istio-vault-ca render --ch; ask istio-vault-ca render -c ''; "
        "ask istio-vault-ca verify vault -c fleet.yaml --cluster ''"
    )
    done = subprocess.run(
        [zsh, "-f", "-c", stubs], capture_output=True, text=True, cwd=workdir, env=shell_env(workdir), check=False
    )
    assert done.returncode == 0, done.stderr
    answers = [block.strip().splitlines() for block in done.stdout.split("@@")[1:]]
    subcommands, flags, config, clusters = answers
    assert [entry.split(":")[0] for entry in subcommands] == ["chain", "vault", "cluster", "all", "fleet"]
    assert "--check:write nothing" in flags
    assert config == ["_files -g *.(yaml|yml)"]
    assert clusters == ["east", "west", "central"]
