"""Read a config file into the model, turning every problem into `path.to.field (line N): message`."""

from __future__ import annotations

import functools
import os
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, Problem, UsageError
from .fields import Location
from .model import Config
from .problems import collect
from .rules import cross_field_problems
from .wording import message

DEFAULT_CONFIG_NAME = "istio-vault-ca.yaml"
# The names looked for in the working directory without -c, in this order. `.yml` is the other spelling YAML
# tools accept; a directory holding both is refused (which one a person edits is theirs to say, not ours).
LOCAL_CONFIG_NAMES = (DEFAULT_CONFIG_NAME, "istio-vault-ca.yml")
BUILT_IN = "built-in default"
STARTER = Path(__file__).with_name("starter.yaml")
NO_SUCH_FILE = "no such config file"

# Limits on what one config may cost to read (docs/explanation/limits.md). A real config is a few KiB with a handful of
# aliases; these bound a hostile or broken one (an alias "billion laughs", a huge or endless file) to seconds
# and a few tens of MiB, refused with exit 2 like any other config problem.
# ruamel's round-trip parser reads about 0.1-0.5 MB/s of dense YAML, so the size limit also bounds the time.
MAX_CONFIG_BYTES = 256 * 1024
# Nodes reached through aliases (each use of `*x` counts every node under &x again), so `<<: *defaults` in
# every cluster of a large fleet stays far below it while nine levels of nine aliases (9**9 nodes) do not.
MAX_ALIAS_NODES = 50_000
# Levels of mappings and sequences, counted through aliases (the config itself is at most five deep).
MAX_DEPTH = 24
# Characters in one scalar (key or value); the longest real values are paths and names.
MAX_STRING_CHARS = 16 * 1024
# Entries under `clusters:` (each renders its own tree and is compared with every other).
MAX_CLUSTERS = 256


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    source: str


def resolve_config_path(explicit: str | None) -> Path | None:
    """`-c FILE`, else ./istio-vault-ca.yaml or ./istio-vault-ca.yml when present, else None (the built-in
    default). Both present is a UsageError (exit 2): silently preferring one would render from the file the
    person did not edit, the very mistake the `.yml` look-up exists to prevent."""
    if explicit:
        return Path(explicit)
    present = [Path(name) for name in LOCAL_CONFIG_NAMES if Path(name).exists()]
    if len(present) > 1:
        raise UsageError(
            f"both ./{present[0]} and ./{present[1]} are here: which config is meant?",
            f"pass one with -c (e.g. `-c {present[0]}`), or remove or rename the other",
        )
    return present[0] if present else None


def config_source(explicit: str | None) -> str:
    """Where `load(explicit)` takes the config from, as its `source` names it, without reading the file."""
    path = resolve_config_path(explicit)
    return BUILT_IN if path is None else os.fspath(path)


def load(explicit: str | None = None) -> LoadedConfig:
    path = resolve_config_path(explicit)
    if path is None:
        return LoadedConfig(parse_text(STARTER.read_text(encoding="utf-8"), BUILT_IN), BUILT_IN)
    source = os.fspath(path)
    try:
        text = _read_bounded(path, source)
    except FileNotFoundError:
        raise UsageError(
            f"{NO_SUCH_FILE}: {source} (write one with `istio-vault-ca init {source}`, or leave out -c to use "
            f"./{DEFAULT_CONFIG_NAME} or the built-in default)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(source, [Problem("", None, "is a directory, not a config file")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(source, [Problem("", None, f"cannot be read: {error}")]) from None
    return LoadedConfig(parse_text(text, source), source)


def parse_text(text: str, source: str) -> Config:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(source, [_too_big(len(text), "characters")])
    yaml = _bounded_yaml()
    try:
        document = yaml.load(text)
    except _Refused as refused:
        raise ConfigError(source, [refused.problem]) from None
    except RecursionError:  # a safety net: _Composer stops at MAX_DEPTH long before Python's limit
        raise ConfigError(source, [Problem("", None, f"nested deeper than {MAX_DEPTH} levels")]) from None
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = error.problem or error.context or "invalid YAML"
        raise ConfigError(source, [Problem("", line, f"YAML syntax error: {reason}")]) from None
    except YAMLError as error:
        raise ConfigError(source, [Problem("", None, f"YAML error: {error}")]) from None
    if document is None:
        raise ConfigError(source, [Problem("", None, "the file is empty; run `istio-vault-ca init` for a start")])
    if not isinstance(document, dict):
        raise ConfigError(
            source,
            [Problem("", _line_of(document, ()), f"must be a mapping of sections, not {_kind(document)}")],
        )
    plain = _to_plain(document)
    lines = text.splitlines()

    def validate(values: dict[str, Any]) -> Config:
        return Config.model_validate(values, context={"defer_cross_field_rules": True})

    def describe(loc: tuple[Any, ...], entry: Any) -> tuple[int | None, str]:
        line = _line_of(document, loc)
        return line, (message(entry, _written(document, loc, lines)) if entry else "")

    config, problems = collect(plain, validate, cross_field_problems, describe, _dotted)
    if problems or config is None:
        raise ConfigError(source, problems or [Problem("", None, "does not validate")])
    return typing.cast(Config, config)


def _dotted(loc: Location | tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif str(part).startswith(("function-after[", "literal[")):
            continue
        else:
            text += f".{part}" if text else str(part)
    return text


def _line_of(document: Any, loc: Location | tuple[Any, ...]) -> int | None:
    """1-based line of the deepest node on `loc` that exists in the YAML (the parent for a missing key)."""
    node = document
    line = _node_line(node)
    for part in loc:
        if isinstance(node, dict) and part in node:
            key_line = _key_line(node, part)
            line = key_line if key_line is not None else line
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            item_line = _item_line(node, part)
            line = item_line if item_line is not None else line
            node = node[part]
        else:
            break
    return line


def _written(document: Any, loc: tuple[Any, ...], lines: list[str]) -> str | None:
    """The value at `loc` as the file spells it (`0400`, where the parsed number is 400), when it is a plain
    scalar on one line; None for anything else (the message then shows the parsed value)."""
    node, parent, key = document, None, None
    for part in loc:
        if isinstance(node, dict | list) and _has(node, part):
            parent, key, node = node, part, node[part]
        else:
            return None
    lc = getattr(parent, "lc", None)
    if lc is None or isinstance(node, dict | list):
        return None
    try:
        row, column = lc.value(key) if isinstance(parent, dict) else lc.item(key)
    except (KeyError, TypeError, AttributeError, IndexError):
        return None
    if not 0 <= row < len(lines):
        return None
    # A plain scalar ends at a comment, or in flow style (`{mode: 0400, ...}`) at the next `,`, `}` or `]`.
    text = re.split(r"\s#|[,}\]]", lines[row][column:], maxsplit=1)[0].strip()
    return text or None


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(part, int) and 0 <= part < len(node)


def _node_line(node: Any) -> int | None:
    lc = getattr(node, "lc", None)
    return lc.line + 1 if lc is not None and lc.line is not None else None


def _key_line(mapping: Any, key: Any) -> int | None:
    lc = getattr(mapping, "lc", None)
    try:
        return int(lc.key(key)[0]) + 1 if lc is not None else None
    except (KeyError, TypeError, AttributeError):
        return None


def _item_line(sequence: Any, index: int) -> int | None:
    lc = getattr(sequence, "lc", None)
    try:
        return int(lc.item(index)[0]) + 1 if lc is not None else None
    except (KeyError, TypeError, AttributeError, IndexError):
        return None


def _to_plain(node: Any) -> Any:
    """ruamel's round-trip types become plain Python so pydantic sees ordinary values."""
    if isinstance(node, dict):
        return {str(key) if not isinstance(key, str | int) else key: _to_plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_to_plain(item) for item in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _kind(node: Any) -> str:
    if isinstance(node, list):
        return "a list"
    if isinstance(node, str):
        return "a string"
    return f"a {type(node).__name__}"


# ---------------------------------------------------------------- limits on reading (docs/explanation/limits.md)


class _Refused(UsageError):
    """A limit was hit while reading the YAML; carries the located problem (caught here, becomes a ConfigError)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _too_big(size: int, unit: str) -> Problem:
    return Problem(
        "",
        None,
        f"is {size:,} {unit}, more than the {MAX_CONFIG_BYTES:,} a config may have (real configs are a few KiB): "
        "is this the right file?",
    )


def _read_bounded(path: Path, source: str) -> str:
    """The file's text, read no further than MAX_CONFIG_BYTES + 1 (a FIFO or /dev/zero cannot make us wait
    for, or hold, more)."""
    with path.open("rb") as stream:
        data = stream.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            try:
                size = os.fstat(stream.fileno()).st_size
            except OSError:
                size = 0
            raise ConfigError(source, [_too_big(max(size, len(data)), "bytes")])
    return data.decode("utf-8")


def _bounded_yaml() -> Any:
    """A round-trip YAML loader (keeps line numbers) that stops at MAX_DEPTH while composing, then checks the
    composed node graph against MAX_ALIAS_NODES, MAX_STRING_CHARS and MAX_CLUSTERS before building any Python
    object from it: a graph of a few hundred nodes can stand for billions once aliases are expanded."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.Composer = _composer_class()
    yaml.Constructor = _constructor_class()
    return yaml


@functools.cache
def _composer_class() -> Any:
    from ruamel.yaml.composer import Composer

    class BoundedComposer(Composer):
        _nesting = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            self._nesting += 1
            try:
                if self._nesting > MAX_DEPTH:
                    mark = self.parser.peek_event().start_mark
                    line = mark.line + 1 if mark is not None else None
                    raise _Refused(Problem("", line, f"nested deeper than {MAX_DEPTH} levels"))
                return super().compose_node(parent, index)
            finally:
                self._nesting -= 1

    return BoundedComposer


@functools.cache
def _constructor_class() -> Any:
    from ruamel.yaml.constructor import RoundTripConstructor

    class BoundedConstructor(RoundTripConstructor):
        def construct_document(self, node: Any) -> Any:
            _check_graph(node)
            return super().construct_document(node)

    return BoundedConstructor


def _check_graph(root: Any) -> None:
    """Walk the composed graph as the expanded document would be (an alias visits its anchor's nodes again),
    counting the nodes reached through aliases; stops at the first limit, so the walk itself is bounded."""
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    Loc = tuple[str | int, ...]
    seen: set[int] = set()
    on_path: set[int] = set()
    expanded = 0

    def line_of(node: Any) -> int | None:
        mark = getattr(node, "start_mark", None)
        return mark.line + 1 if mark is not None else None

    def child_line(child: Any, parent_line: int | None, aliased: bool) -> int | None:
        """Inside an expansion (or at an alias) the anchor's own lines mislead: keep the line of the use."""
        return parent_line if aliased or id(child) in seen else (line_of(child) or parent_line)

    def visit(node: Any, path: Loc, line: int | None, depth: int, entry: tuple[Loc, str] | None) -> None:
        """`entry`: where the expansion being walked began (the path of the alias and its anchor's name)."""
        nonlocal expanded
        key = id(node)
        if key in on_path:
            raise _Refused(Problem(_dotted(path), line, f"alias *{node.anchor} refers to itself (a recursive alias)"))
        if entry is None and key in seen:
            entry = (path, str(node.anchor or "?"))
        aliased = entry is not None
        seen.add(key)
        where = _dotted(entry[0]) if entry else _dotted(path)
        through = f" (through *{entry[1]} here)" if entry else ""
        if aliased:
            expanded += 1
            if expanded > MAX_ALIAS_NODES:
                raise _Refused(
                    Problem(
                        where,
                        line,
                        f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} nodes{through}: an alias bomb? "
                        "Repeat the values, or alias smaller pieces",
                    )
                )
        if depth > MAX_DEPTH:
            raise _Refused(Problem(where, line, f"nested deeper than {MAX_DEPTH} levels{through}"))
        if isinstance(node, ScalarNode):
            if len(node.value) > MAX_STRING_CHARS:
                raise _Refused(
                    Problem(
                        where,
                        line,
                        f"a value of {len(node.value):,} characters; at most {MAX_STRING_CHARS:,} are allowed",
                    )
                )
            return
        on_path.add(key)
        if isinstance(node, SequenceNode):
            if path == ("clusters",) and len(node.value) > MAX_CLUSTERS:
                raise _Refused(
                    Problem("clusters", line, f"{len(node.value):,} clusters; at most {MAX_CLUSTERS} are supported")
                )
            for index, item in enumerate(node.value):
                visit(item, (*path, index), child_line(item, line, aliased), depth + 1, entry)
        elif isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                key_line = child_line(key_node, line, aliased)
                if not isinstance(key_node, ScalarNode):  # `? {a: [b]}`: no field is named so, and it cannot be
                    kind = "list" if isinstance(key_node, SequenceNode) else "mapping"  # hashed into a mapping
                    raise _Refused(Problem(where, key_line, f"a key must be a plain name, not a {kind}"))
                visit(key_node, path, key_line, depth + 1, entry)
                name: str | int = key_node.value if isinstance(key_node, ScalarNode) else "?"
                visit(value_node, (*path, name), key_line, depth + 1, entry)
        on_path.discard(key)

    visit(root, (), line_of(root), 0, None)
