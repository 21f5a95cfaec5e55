"""pydantic's error types in our words: what is wrong with the value as the person wrote it, and how to write it.

Why not pydantic's own messages: "Input should be a valid string" is about Python types, while the person wrote
YAML, where an unquoted `0400` is a number, `yes` a string and `1.30` the number 1.3. Each message here names the
value as it stands in the file (the YAML source text when the loader has it) and says what to write instead.
Types not listed keep pydantic's sentence, so nothing is ever reported as less than it is.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel


def message(entry: Any, written: str | None = None) -> str:
    """Our sentence for one pydantic error entry; `written` is the value's text in the YAML file, if known."""
    kind = str(entry.get("type", ""))
    value = entry.get("input")
    loc = tuple(entry.get("loc", ()))
    field = next((str(part) for part in reversed(loc) if isinstance(part, str)), "")
    # The file's own spelling for numbers and booleans (`0400`, not 400); text is shown quoted, as Python would.
    shown = written if written and not isinstance(value, str) else _shown(value)
    ctx = entry.get("ctx") or {}
    if kind == "extra_forbidden":
        guess = nearest_field(loc) if loc else None
        hint = f"did you mean {guess}? " if guess else "check the spelling; "
        return f"unknown field ({hint}`istio-vault-ca schema` lists every field)"
    if kind == "missing":
        return "required field is missing"
    if kind == "list_type":
        example = f"[{value}]" if isinstance(value, str | int) and not isinstance(value, bool) else "[...]"
        return f"must be a list, e.g. {example}"
    if kind == "string_type":
        return _not_a_string(field, value, shown)
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number, not {shown}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, not {shown}"
    if kind == "literal_error":
        return f"must be {ctx.get('expected', 'one of the documented values')}, not {shown}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be a mapping of fields (indented `name: value` lines), not {_kind(value)}"
    if kind == "too_short":
        return f"must list at least {ctx.get('min_length', 1)} entry, not none"
    if kind == "greater_than_equal":
        return f"must be {ctx.get('ge')} or more, not {shown}"
    if kind == "less_than_equal":
        return f"must be {ctx.get('le')} or less, not {shown}"
    text = str(entry.get("msg", "invalid"))
    return text.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _not_a_string(field: str, value: Any, shown: str) -> str:
    """A number or boolean where text belongs is almost always YAML reading an unquoted value: say to quote it."""
    if isinstance(value, bool | int | float):
        what = "a boolean" if isinstance(value, bool) else "a number"
        example = shown if shown and not shown.startswith(("'", '"')) else str(value)
        return (
            f"YAML reads the unquoted {example} as {what}: quote it, e.g. {field}: '{example}'"
            if field
            else f"YAML reads the unquoted {example} as {what}: quote it"
        )
    if value is None:
        return "must be text, not empty (write a value, or leave the field out for its default)"
    return f"must be text, not {_kind(value)}"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict | list):
        return _kind(value)
    return str(value)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if value is None:
        return "empty (null)"
    return f"a {type(value).__name__}"


def nearest_field(loc: tuple[Any, ...]) -> str | None:
    """The field of the model at loc's parent that is spelled most like loc's last part, if one is close."""
    import difflib

    model = _model_at(loc[:-1])
    if model is None:
        return None
    matches = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    from .model import Config

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
