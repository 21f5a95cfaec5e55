"""Shell completion, generated from the argument parser itself so that it never drifts from the CLI.

`istio-vault-ca completion bash|zsh|fish` walks the parser `build_parser` returns (every subcommand, option and
positional) into `CommandSpec`s and prints a script for that shell (verify/cli/completion_scripts.py). What an
option's value completes to comes from the option itself: its choices, else its metavar or destination (CONFIG:
*.yaml files, FILE: files, DIR/OUT: directories, CLUSTER or --cluster: the config's cluster names).

Cluster names are read by the hidden `istio-vault-ca __complete clusters [-c CONFIG]`, which loads the config only
when a cluster name is being completed. This module is imported only by those two commands: `--help` stays fast.
"""

from __future__ import annotations

import argparse

from ...generator.errors import EXIT_OK, IvcError
from .completion_scripts import CommandSpec, OptionSpec

# What a value completes to, by metavar (then by destination). Anything else that takes a value completes to
# nothing (`any`): a duration, a number, an address.
_KIND_BY_METAVAR = {"CONFIG": "config", "FILE": "file", "DIR": "dir", "OUT": "dir", "CLUSTER": "cluster"}
_KIND_BY_DEST = {"config": "config", "cluster": "cluster", "path": "config"}


def value_kind(action: argparse.Action) -> str:
    """`choice:A B C`, `config`, `file`, `dir`, `cluster` or `any`."""
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        return "choice:" + " ".join(str(choice) for choice in action.choices)
    metavar = action.metavar if isinstance(action.metavar, str) else None
    if metavar in _KIND_BY_METAVAR:
        return _KIND_BY_METAVAR[metavar]
    return _KIND_BY_DEST.get(action.dest, "any")


def short_help(text: str | None) -> str:
    """The first clause of a help text, on one line, for the shells that show descriptions."""
    if not text or text == argparse.SUPPRESS:
        return ""
    line = " ".join(text.split())
    for stop in (" (", "; ", ": "):
        head = line.split(stop, 1)[0]
        if len(head) >= 8:  # not "chain (from the pod...)"
            line = head
    return line if len(line) <= 70 else line[:67].rstrip() + "..."


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[CommandSpec]:
    """Every command under `parser`, parents first, in the parser's order."""
    options: list[OptionSpec] = []
    positional: str | None = None
    children: list[tuple[str, str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            children += [(name, helps[name], sub) for name, sub in action.choices.items() if name in helps]
        elif action.option_strings:
            if action.help == argparse.SUPPRESS:
                continue
            value = None if action.nargs == 0 else value_kind(action)
            options.append(OptionSpec(tuple(action.option_strings), short_help(action.help), value))
        elif positional is None:
            positional = value_kind(action)
    specs = [
        CommandSpec(path, tuple(options), tuple((name, short_help(text)) for name, text, _ in children), positional)
    ]
    for name, _, sub in children:
        specs += walk(sub, (*path, name))
    return specs


def command_specs(parser: argparse.ArgumentParser) -> list[CommandSpec]:
    """The whole command tree of `parser` (the CLI passes the one `build_parser` makes: this module does not import
    the parser, which imports it)."""
    return walk(parser)


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    from . import completion_scripts

    generate = {"bash": completion_scripts.bash, "zsh": completion_scripts.zsh, "fish": completion_scripts.fish}
    return generate[shell](command_specs(parser))


def completion(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """completion bash|zsh|fish: the completion script of `parser` on stdout."""
    print(script(args.shell, parser), end="")
    return EXIT_OK


def complete_values(args: argparse.Namespace) -> int:
    """__complete clusters [-c CONFIG]: the config's cluster names, one a line; nothing when it cannot be loaded
    (a completion must never print an error into the user's command line)."""
    from ...generator.config.loader import load

    try:
        config = load(args.config).config
    except IvcError:
        return EXIT_OK
    for cluster in config.clusters:
        print(cluster.name)
    return EXIT_OK
