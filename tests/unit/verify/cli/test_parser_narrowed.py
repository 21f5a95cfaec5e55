"""`main` builds only the command (and `verify` target) its arguments name; parsing must not notice: the same
namespace for every example, the same help, and the same error message and exit code for each mistake."""

from __future__ import annotations

import argparse
import shlex

import pytest

from istio_vault_ca.verify.cli.parser import COMMANDS, EXAMPLES, TARGETS, build_parser


def _choices(parser: argparse.ArgumentParser) -> list[str]:
    actions = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    assert len(actions) == 1
    return list(actions[0].choices)


def test_the_lists_used_to_narrow_are_the_parser_s_commands_and_targets() -> None:
    full = build_parser()
    assert _choices(full) == list(COMMANDS)
    verify = dict(_choices_with_parsers(full))["verify"]
    assert _choices(verify) == list(TARGETS)


def _choices_with_parsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    (action,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return list(action.choices.items())


def test_a_verify_chain_command_line_builds_one_target() -> None:
    narrowed = build_parser(["verify", "chain", "dir"])
    assert _choices(narrowed) == ["verify"]
    assert _choices(dict(_choices_with_parsers(narrowed))["verify"]) == ["chain"]


def _outcome(parser: argparse.ArgumentParser, argv: list[str], capsys: pytest.CaptureFixture[str]) -> object:
    try:
        namespace = parser.parse_args(argv)
    except SystemExit as done:
        captured = capsys.readouterr()
        return ("exit", done.code, captured.out, captured.err)
    # Handlers are module functions: compare them by name, every other value as it is.
    return {key: getattr(value, "__name__", value) for key, value in vars(namespace).items()}


EXAMPLE_LINES = [
    shlex.split(line.split("  #", 1)[0].split(" > ", 1)[0])[1:]
    for lines in EXAMPLES.values()
    for line in lines
    if line.startswith("istio-vault-ca ")
]
MISTAKES = [
    [],
    ["verify"],
    ["verify", "chain", "--warn-days", "x"],
    ["verify", "chain", "--output", "yaml", "d"],
    ["verify", "chain", "d", "--bogus"],
    ["verify", "chain", "d", "--version"],
    ["verify", "chain", "--istio-version", "1.2", "d"],
    ["verify", "chan", "d"],
    ["verify", "--help"],
    ["verify", "chain", "--help"],
    ["verify", "vault", "--help"],
    ["verify", "cluster", "--context"],
    ["render", "--bogus"],
    ["render", "--help"],
    ["serve", "chain", "d"],
    ["plan-rotation", "--phase", "e"],
    ["completion", "tcsh"],
    ["renderr"],
    ["--version"],
    ["--help"],
    ["-c", "x", "render"],
]


@pytest.mark.parametrize("argv", EXAMPLE_LINES + MISTAKES, ids=lambda argv: " ".join(argv) or "(nothing)")
def test_narrowed_parser_parses_like_the_whole_one(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    whole = _outcome(build_parser(), argv, capsys)
    narrowed = _outcome(build_parser(argv), argv, capsys)
    assert narrowed == whole
