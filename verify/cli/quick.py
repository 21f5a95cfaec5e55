"""`verify chain`'s plain command lines read without argparse: the command people run most (in CI, per directory,
in loops), where importing argparse, its help strings' translation look-ups on disk and the terminal probing of
its help formatter cost more than the chain checks themselves.

Only these forms are read here: `verify chain` followed by DIRs (none starting with "-", in one group as argparse
takes them) and at most `--output F`, `--warn-days N` (digits), `--istio-version X.Y` (a release the checks
model) and `--data-plane sidecar|ambient`, each as `--opt value` or `--opt=value`. Everything else (help,
`--from-vault`, abbreviations, `--`, a bad value) returns None and goes to argparse, which parses it or explains
the mistake.
tests/unit/verify/cli/test_parser_narrowed.py proves that for every form accepted here the namespace equals the one
argparse builds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from ...generator.config.defaults import WARN_DAYS
from ..checks.reporters import REPORTER_BY_NAME

# The default of `verify`'s --output: argparse's (verify/cli/parser.py) and the quick reading's (--warn-days':
# generator/config/defaults.py WARN_DAYS).
DEFAULT_OUTPUT = "text"


def _istio_version(text: str) -> object | None:
    from ..checks.chain.versions import parse_version

    try:
        return parse_version(text)
    except ValueError:
        return None  # argparse says what is wrong with it


# `--data-plane`'s choices, for argparse (parser.py) and the quick reading alike.
DATA_PLANES = ("sidecar", "ambient")


def add_data_plane(parser: Any) -> None:
    """`--data-plane` on an argparse parser (`verify chain`); here beside its quick reading so both take one list."""
    parser.add_argument(
        "--data-plane",
        choices=DATA_PLANES,
        help="judge the CA files for this data plane: ambient adds the checks of how ztunnel takes istiod's "
        "certificate response (default: istiod.data_plane / clusters[].data_plane of -c, else sidecar)",
    )


# option -> how its value is read (None: not read here, argparse explains it)
_READERS: dict[str, Callable[[str], object | None]] = {
    "--output": lambda text: text if text in REPORTER_BY_NAME else None,
    "--warn-days": lambda text: int(text) if text.isascii() and text.isdigit() else None,
    "--istio-version": _istio_version,
    "--data-plane": lambda text: text if text in DATA_PLANES else None,
}


def quick_verify_chain(argv: Sequence[str], handler: Callable[..., int]) -> SimpleNamespace | None:
    """The namespace argparse would build for `argv` when it is a plain `verify chain` command line, else None."""
    if len(argv) < 2 or argv[0] != "verify" or argv[1] != "chain":
        return None
    values: dict[str, object] = {
        "output": DEFAULT_OUTPUT,
        "warn_days": WARN_DAYS,
        "istio_version": None,
        "data_plane": None,
    }
    dirs: list[str] = []
    closed = False  # an option came after the DIRs
    rest = list(argv[2:])
    while rest:
        token = rest.pop(0)
        if not token.startswith("-"):
            if dirs and closed:
                return None  # DIRs in two groups: argparse refuses the second ("unrecognized arguments")
            dirs.append(token)
            continue
        closed = bool(dirs)
        option, equals, text = token.partition("=")
        reader = _READERS.get(option)
        if reader is None:
            return None
        if not equals:
            if not rest or rest[0].startswith("-"):
                return None
            text = rest.pop(0)
        value = reader(text)
        if value is None:
            return None
        values[option[2:].replace("-", "_")] = value
    return SimpleNamespace(
        command="verify",
        verify_command="chain",
        dirs=dirs,
        from_vault=False,
        config=None,
        cluster=None,
        **values,
        handler=handler,
        build="chain",
    )
