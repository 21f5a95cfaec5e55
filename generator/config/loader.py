"""Read a config file into the model, turning every problem into `path.to.field (line N): message`."""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from istio_vault_ca.generator.config.model import Config, Location, cross_field_problems
from istio_vault_ca.generator.errors import ConfigError, Problem

DEFAULT_CONFIG_NAME = "istio-vault-ca.yaml"
STARTER = Path(__file__).with_name("starter.yaml")
NO_SUCH_FILE = "no such config file"


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
        raise ConfigError(source, [Problem("", None, NO_SUCH_FILE)]) from None
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
        loc = tuple(entry.get("loc", ()))
        guess = _nearest_field(loc) if loc else None
        hint = f"did you mean {guess}? " if guess else "check the spelling; "
        return f"unknown field ({hint}`istio-vault-ca schema` lists every field)"
    if kind == "missing":
        return "required field is missing"
    if kind == "list_type":
        value = entry.get("input")
        example = f"[{value}]" if isinstance(value, str | int) and not isinstance(value, bool) else "[...]"
        return f"must be a list, e.g. {example}"
    message = str(entry.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


def _nearest_field(loc: tuple[Any, ...]) -> str | None:
    """The field of the model at loc's parent that is spelled most like loc's last part, if one is close."""
    import difflib

    model = _model_at(loc[:-1])
    if model is None:
        return None
    matches = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Config
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        model = _model_in(field.annotation) if field is not None else None
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class inside an annotation such as `Cluster`, `list[Cluster]` or `Override | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


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
