"""The command line: the one layer that parses arguments, calls a handler and turns errors into exit codes.

The commands are data (commands.py): `build_parser` turns that table into argparse, and each command's handler
module is imported only when it runs (`_Run`), so `--help` and completion import none. Every deliberate error is
an `IvcError` carrying its exit code (generator/errors.py); `main` is the only place that prints it and returns
that code.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from ...generator import __version__
from ...generator.errors import EXIT_INTERRUPTED, IvcError
from ...generator.pki.deprecations import ignore_dsa_deprecation
from .commands import COMMAND_TABLE, COMMANDS, EXAMPLES, REPORT_FLAGS, TARGET_TABLE, TARGETS, Arg, Command, Handler
from .options import add_output, add_warn_days
from .process import exit_without_teardown
from .quick import quick_verify_chain

if TYPE_CHECKING:  # argparse is imported where a parser is built: `verify chain DIR` runs without it (quick.py)
    import argparse

__all__ = ["COMMANDS", "EXAMPLES", "TARGETS", "build_parser", "main"]


class _Run:
    """A command's handler as argparse stores it: imports `module:function` of this package when called (the one
    lazy boundary), then runs it. One per handler (`_run`), so namespaces compare equal."""

    __slots__ = ("handler",)

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    def __call__(self, args: argparse.Namespace) -> int:
        import importlib

        module, function = self.handler.target.split(":")
        run = getattr(importlib.import_module(f".{module}", __package__), function)
        return int(run(args, build_parser()) if self.handler.with_parser else run(args))

    def __repr__(self) -> str:
        return f"_Run({self.handler.target})"


_RUNS: dict[str, _Run] = {}


def _run(handler: Handler) -> _Run:
    return _RUNS.setdefault(handler.target, _Run(handler))


SERVE = next(command for command in COMMAND_TABLE if command.name == "serve")
# The handler a plain `verify chain` line runs (quick.py builds its namespace with it).
_verify_chain = _run(cast(Handler, TARGET_TABLE[0].handler))


def _examples(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """End the command's `--help` with its examples (kept as written: no re-wrapping)."""
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[command])
    return parser


def _add_arguments(parser: argparse.ArgumentParser, command: Command, *, serve: bool = False) -> None:
    """The table's arguments of `command`, in its order; under `serve`, the report flags lack `--output`."""
    for argument in command.arguments:
        if isinstance(argument, Arg):
            parser.add_argument(*argument.flags, **argument.options)
        elif argument == REPORT_FLAGS:
            if not serve:
                add_output(parser)
            add_warn_days(parser)
        elif callable(argument):
            argument(parser)


def _add_targets(parent: argparse.ArgumentParser, *, serve: bool, only: str | None = None) -> None:
    """The TARGETs of `verify` (chain, vault, cluster, all, fleet), which `serve` takes too: same flags, same checks.

    Under `serve` each target's handler is the exporter and `build` the report it re-runs; `--output` is left out
    (the exporter speaks the Prometheus format only). With `only`, the other targets are left out (build_parser)."""
    checks = parent.add_subparsers(dest="verify_command", metavar="TARGET", required=True)
    for target in TARGET_TABLE:
        if only not in (None, target.name):
            continue
        sub = checks.add_parser(target.name, help=target.help)
        handler = cast(Handler, SERVE.handler if serve else target.handler)
        sub.set_defaults(handler=_run(handler), build=target.name)
        if not serve:
            _examples(sub, f"verify {target.name}")
        _add_arguments(sub, target, serve=serve)


def _named(argv: Sequence[str] | None) -> tuple[str | None, str | None]:
    """The command and the `verify` target `argv` starts with, None for what is not plainly one (build it all)."""
    if not argv or argv[0] not in COMMANDS:
        return None, None
    target = argv[1] if argv[0] == "verify" and len(argv) > 1 and argv[1] in TARGETS else None
    return argv[0], target


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line, from the command table. Without `argv`, every command with all its options (for completion
    and the tests); with the arguments about to be parsed, only the command they name gets its options, and under
    `verify` only the target named, which `verify chain` notices in its start-up time (argparse looks up each help
    string's translation on disk). Parsing `argv` gives the same result and the same messages either way: a name
    that is not a command or target, an option in its place, or nothing there, builds the whole level as before."""
    import argparse

    command_named, target = _named(argv)
    parser = argparse.ArgumentParser(
        prog="istio-vault-ca",
        description=(
            "Render the Vault scripts, policy and istiod overlays for a Vault-backed istiod intermediate CA "
            "from one config file, rehearse them on a local OpenBao, and verify a live deployment."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMAND_TABLE:
        if command_named not in (None, command.name):
            continue
        # A hidden command is added without help, so it is neither listed nor completed.
        if command.help is None:
            sub = commands.add_parser(command.name)
        else:
            sub = commands.add_parser(command.name, help=command.help)
        if command.examples:
            _examples(sub, command.name)
        _add_arguments(sub, command)
        if command.targets:
            serve = command is SERVE
            _add_targets(sub, serve=serve, only=None if serve else target)
        elif command.handler is not None:
            sub.set_defaults(handler=_run(command.handler))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run the handler, and map every deliberate error to its message and exit code
    (docs/reference/exit-codes.md).

    `verify chain` and `render` end the process without the interpreter's teardown (process.py). A caller passing
    `argv` (a test, running on in the same process) is never ended here."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    ignore_dsa_deprecation()  # a DSA key is input we judge, never cause for a Python warning (deprecations.py)
    quick = None
    args: argparse.Namespace | None = None
    try:
        # A plain `verify chain` line is read without argparse (quick.py; the same namespace, as its tests prove).
        quick = quick_verify_chain(arguments, _verify_chain)
        args = cast("argparse.Namespace", quick) if quick is not None else build_parser(arguments).parse_args(arguments)
        handler: _Run = args.handler
        code = handler(args)
    except IvcError as error:
        print(error.render(), file=sys.stderr)
        code = error.exit_code
        if args is not None:  # --output json|junit|prometheus: a document holding the error, never 0 bytes
            from .failure import write_error_document

            write_error_document(error, args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    if argv is None and (quick is not None or arguments[:1] == ["render"]):
        exit_without_teardown(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
