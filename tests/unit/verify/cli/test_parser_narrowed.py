"""`main` builds only the command (and `verify` target) its arguments name; parsing must not notice: the same
namespace for every example, the same help, and the same error message and exit code for each mistake."""

from __future__ import annotations

import argparse
import shlex

import pytest

from istio_vault_ca.verify.cli.parser import COMMANDS, EXAMPLES, TARGETS, _verify_chain, build_parser
from istio_vault_ca.verify.cli.quick import quick_verify_chain


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
    ["verify", "chain", "--data-plane", "ztunnel", "d"],
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


# Every form verify/cli/quick.py reads without argparse.
QUICK = [
    ["verify", "chain"],
    ["verify", "chain", "d"],
    ["verify", "chain", "d", "e", "f"],
    ["verify", "chain", "", "d"],
    ["verify", "chain", "d", "--output", "json"],
    ["verify", "chain", "--output=junit", "d", "e"],
    ["verify", "chain", "--warn-days", "0", "d"],
    ["verify", "chain", "d", "--warn-days=007"],
    ["verify", "chain", "d", "--istio-version", "1.24"],
    ["verify", "chain", "--istio-version=v1.20.3-distroless", "d"],
    ["verify", "chain", "--istio-version", " 1.27 ", "d"],
    ["verify", "chain", "--output", "json", "--output", "prometheus", "d"],
    ["verify", "chain", "d", "--output", "text", "--warn-days", "5", "--istio-version", "1.12"],
    ["verify", "chain", "d", "--data-plane", "ambient"],
    ["verify", "chain", "--data-plane=sidecar", "d", "--istio-version", "1.25"],
]
# Forms left to argparse: help, options it reads alone, abbreviations, bad values, DIRs in two groups, `--`.
NOT_QUICK = [
    ["verify", "chain", "--help"],
    ["verify", "chain", "-h", "d"],
    ["verify", "chain", "d", "--from-vault"],
    ["verify", "chain", "d", "-c", "x.yaml"],
    ["verify", "chain", "d", "--cluster", "a"],
    ["verify", "chain", "d", "--out", "json"],
    ["verify", "chain", "d", "--output", "yaml"],
    ["verify", "chain", "d", "--output"],
    ["verify", "chain", "d", "--output="],
    ["verify", "chain", "d", "--warn-days", "-1"],
    ["verify", "chain", "d", "--warn-days", "x"],
    ["verify", "chain", "d", "--warn-days", "\u0661"],
    ["verify", "chain", "d", "--istio-version", "1.2"],
    ["verify", "chain", "d", "--istio-version", "0.99"],
    ["verify", "chain", "d", "--data-plane", "ztunnel"],
    ["verify", "chain", "d", "--data-plane"],
    ["verify", "chain", "d", "--data", "ambient"],
    ["verify", "chain", "d", "--output", "json", "e"],
    ["verify", "chain", "--", "d"],
    ["verify", "chain", "-"],
    ["verify", "chain", "-d"],
    ["verify", "vault"],
    ["verify"],
    ["chain", "verify", "d"],
    ["serve", "chain", "d"],
]


@pytest.mark.parametrize("argv", QUICK, ids=" ".join)
def test_the_quick_reading_equals_argparse(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    quick = quick_verify_chain(argv, _verify_chain)
    assert quick is not None, "a plain verify chain line is read without argparse"
    read = {key: getattr(value, "__name__", value) for key, value in vars(quick).items()}
    assert read == _outcome(build_parser(), argv, capsys)


@pytest.mark.parametrize("argv", NOT_QUICK, ids=" ".join)
def test_the_quick_reading_leaves_everything_else_to_argparse(argv: list[str]) -> None:
    assert quick_verify_chain(argv, _verify_chain) is None


@pytest.mark.parametrize("argv", EXAMPLE_LINES + MISTAKES + NOT_QUICK, ids=lambda argv: " ".join(argv) or "(none)")
def test_the_quick_reading_never_differs_from_argparse(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Over the examples and the mistakes too: what the quick reading accepts, argparse reads the same way."""
    quick = quick_verify_chain(argv, _verify_chain)
    if quick is not None:
        read = {key: getattr(value, "__name__", value) for key, value in vars(quick).items()}
        assert read == _outcome(build_parser(), argv, capsys)
