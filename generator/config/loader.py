"""Read a config file into the model, turning every problem into `path.to.field (line N): message`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from istio_vault_ca.generator.config.model import Config, Location, cross_field_problems
from istio_vault_ca.generator.errors import ConfigError, Problem

DEFAULT_CONFIG_NAME = "istio-vault-ca.yaml"
STARTER = Path(__file__).with_name("starter.yaml")


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    source: str


def resolve_config_path(explicit: str | None) -> Path | None:
    """`-c FILE`, else ./istio-vault-ca.yaml when present, else None (the built-in default)."""
    if explicit:
        return Path(explicit)
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.is_file() else None


def load(explicit: str | None = None) -> LoadedConfig:
    path = resolve_config_path(explicit)
    if path is None:
        return LoadedConfig(parse_text(STARTER.read_text(encoding="utf-8"), "built-in default"), "built-in default")
    source = os.fspath(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [Problem("", None, "file not found")]) from None
    except IsADirectoryError:
        raise ConfigError(source, [Problem("", None, "is a directory, not a config file")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(source, [Problem("", None, f"cannot be read: {error}")]) from None
    return LoadedConfig(parse_text(text, source), source)


def parse_text(text: str, source: str) -> Config:
    from pydantic import ValidationError
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")
    try:
        document = yaml.load(text)
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
    try:
        config = Config.model_validate(plain, context={"defer_cross_field_rules": True})
    except ValidationError as error:
        problems = [
            Problem(_dotted(entry["loc"]), _line_of(document, entry["loc"]), _message(entry))
            for entry in error.errors(include_url=False)
        ]
        raise ConfigError(source, problems) from None
    cross = cross_field_problems(config)
    if cross:
        raise ConfigError(source, [Problem(_dotted(loc), _line_of(document, loc), msg) for loc, msg in cross])
    return config


def _message(entry: Any) -> str:
    kind = entry.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; `istio-vault-ca schema` lists every field)"
    if kind == "missing":
        return "required field is missing"
    message = str(entry.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


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
