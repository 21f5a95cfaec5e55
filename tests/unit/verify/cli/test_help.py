"""Every command's --help ends with examples, and every example is a command our parser accepts as written."""

from __future__ import annotations

import shlex

import pytest

from istio_vault_ca.verify.cli.parser import EXAMPLES, build_parser, main


def _argv(line: str) -> list[str]:
    """The istio-vault-ca words of an example: environment assignments, redirections and comments dropped."""
    command = line.split("  #", 1)[0].split(" > ", 1)[0].split(" && ", 1)[0]
    words = shlex.split(command)
    while words and "=" in words[0] and not words[0].startswith("-"):
        words.pop(0)  # VAULT_ADDR=... before the command
    assert words[0] == "istio-vault-ca", line
    return words[1:]


@pytest.mark.parametrize("command", sorted(EXAMPLES))
def test_help_ends_with_examples_that_parse(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command.split(), "--help"])
    assert done.value.code == 0
    help_text = capsys.readouterr().out
    assert "\nexamples:\n" in help_text
    for line in EXAMPLES[command]:
        assert f"  {line}" in help_text
        if line.startswith("eval "):
            continue
        args = build_parser().parse_args(_argv(line))
        assert args.command == command.split()[0]


def test_every_command_has_examples() -> None:
    parser = build_parser()
    commands = {name for name in parser._subparsers._group_actions[0].choices if not name.startswith("__")}  # type: ignore[union-attr]
    verify_targets = {"verify chain", "verify vault", "verify cluster", "verify all", "verify fleet"}
    assert set(EXAMPLES) == (commands - {"verify"}) | verify_targets


def test_plan_rotation_and_sign_intermediate_document_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("plan-rotation", "sign-intermediate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        lines = [line.strip() for line in text.split("options:", 1)[1].split("examples:", 1)[0].splitlines()]
        # An option alone on its line (argparse wraps a long one) must be followed by its help, not another option.
        undocumented = [
            option
            for option, following in zip(lines, [*lines[1:], ""], strict=True)
            if option.startswith("--")
            and len(option.split()) <= 2
            and option.split()[-1].isupper()
            and (not following or following.startswith("-"))
        ]
        assert undocumented == [], f"{command}: options without help: {undocumented}"
    with pytest.raises(SystemExit):
        main(["plan-rotation", "--help"])
    assert "(default: rotation)" in capsys.readouterr().out
