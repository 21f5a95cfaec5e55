"""A fast path for `manifests.dump`: block YAML byte-identical to what ruamel.yaml writes with dump's settings
(`indent(mapping=2, sequence=4, offset=2)`, width 4096, no unicode), for the narrow subset our manifests use.

ruamel's pure-Python emitter spends about 10 ms on each small overlay, which made a 100-cluster render take
seconds. This writes the same bytes directly. Anything outside the subset (empty containers, lists in lists,
strings that are not plain-safe ASCII, literal blocks that need an indentation or keep indicator, ...) returns
None, and `dump` falls back to ruamel, so the output never depends on which path ran. Tests compare both paths.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from ruamel.yaml.scalarstring import LiteralScalarString

# Strings ruamel writes plain when they resolve to str, and single-quoted otherwise: no spaces, quotes, comment or
# flow indicators, no leading indicator ('-', '.', ':', ...), no trailing ':'.
_PLAIN_SAFE = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./:-]*\Z")
# Literal blocks: printable ASCII lines, not starting with a space or a line break (no indentation indicator).
_LITERAL_SAFE = re.compile(r"[!-~][ -~\n]*\Z")
_STR_TAG = "tag:yaml.org,2002:str"
# ruamel writes a key as a complex key (`? key`) unless its tag (`!!str`) and text are under 128 characters.
_MAX_SIMPLE_KEY = 128 - len("!!str")
# ruamel starts a plain scalar on a new line when it would run past the width (4096); stay well inside it.
_MAX_LINE = 4000


class _Unsupported(Exception):
    """The value is outside the subset: let ruamel dump the whole document."""


def emit(documents: Sequence[Any], *, explicit_start: bool) -> str | None:
    """The YAML ruamel would write for `documents`, or None when any of them is outside the subset."""
    out: list[str] = []
    try:
        for document in documents:
            if explicit_start:
                out.append("---\n")
            if type(document) is not dict or not document:
                raise _Unsupported
            _mapping(document, 0, out, inline_first=False)
    except _Unsupported:
        return None
    return "".join(out)


def _mapping(mapping: dict[Any, Any], indent: int, out: list[str], *, inline_first: bool) -> None:
    pad = " " * indent
    for position, (key, value) in enumerate(mapping.items()):
        if type(key) is not str or len(key) >= _MAX_SIMPLE_KEY or indent + len(key) > _MAX_LINE:
            raise _Unsupported
        lead = "" if inline_first and position == 0 else pad
        kind = type(value)
        if kind is dict:
            if not value:
                raise _Unsupported
            out.append(f"{lead}{_plain_or_quoted(key)}:\n")
            _mapping(value, indent + 2, out, inline_first=False)
        elif kind is list:
            if not value:
                raise _Unsupported
            out.append(f"{lead}{_plain_or_quoted(key)}:\n")
            _sequence(value, indent + 2, out)
        elif kind is str or kind is bool or kind is int:
            out.append(_line(f"{lead}{_plain_or_quoted(key)}: {_scalar(value)}", indent))
        elif kind is LiteralScalarString:
            out.append(f"{lead}{_plain_or_quoted(key)}: {_literal(str(value), indent + 2)}")
        else:
            raise _Unsupported


def _sequence(items: list[Any], indent: int, out: list[str]) -> None:
    dash = " " * indent + "- "
    for item in items:
        kind = type(item)
        if kind is dict:
            if not item:
                raise _Unsupported
            out.append(dash)
            _mapping(item, indent + 2, out, inline_first=True)
        elif kind is str or kind is bool or kind is int:
            out.append(_line(f"{dash}{_scalar(item)}", indent))
        else:
            raise _Unsupported


def _line(text: str, indent: int) -> str:
    if indent + len(text) > _MAX_LINE:
        raise _Unsupported
    return text + "\n"


def _scalar(value: str | bool | int) -> str:
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    return _plain_or_quoted(str(value))


@lru_cache(maxsize=4096)
def _plain_or_quoted(text: str) -> str:
    if not _PLAIN_SAFE.match(text) or text.endswith(":"):
        raise _Unsupported
    return text if _resolves_to_str(text) else f"'{text}'"


def _literal(text: str, indent: int) -> str:
    """`|` (one trailing newline) or `|-` (none) and the lines; empty lines carry no indentation."""
    if not _LITERAL_SAFE.match(text) or text.endswith("\n\n"):
        raise _Unsupported
    header = "|\n" if text.endswith("\n") else "|-\n"
    pad = " " * indent
    lines = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
    return header + "".join(f"{pad}{line}\n" if line else "\n" for line in lines)


@lru_cache(maxsize=1)
def _resolver() -> Any:
    from ruamel.yaml.resolver import VersionedResolver

    return VersionedResolver()


def _resolves_to_str(text: str) -> bool:
    """Whether a reader takes the plain scalar as a string (YAML 1.2 rules, as ruamel's dumper checks)."""
    from ruamel.yaml.nodes import ScalarNode

    return bool(_resolver().resolve(ScalarNode, text, (True, False)).value == _STR_TAG)
