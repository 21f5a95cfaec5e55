"""Every property of the JSON Schema `istio-vault-ca schema` prints carries a description.

An editor shows a property's description on hover and the config reference (docs/reference/config.md) prints it:
a property with only a title tells the user nothing. The walk covers the top level, every `$defs` model, and any
schema nested inside them (list items, `anyOf` branches, map values), so a field added anywhere without a
description fails here, named by its path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tests.support import run_cli


def properties(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, schema) of every property under `node`, depth first, whatever keyword nests it."""
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            yield f"{path}.{name}", prop
            yield from properties(prop, f"{path}.{name}")
        for name, model in (node.get("$defs") or {}).items():
            yield from properties(model, f"$defs.{name}")
        for key, value in node.items():
            if key not in ("properties", "$defs"):
                yield from properties(value, path)
    elif isinstance(node, list):
        for item in node:
            yield from properties(item, path)


def undescribed(schema: dict[str, Any]) -> list[str]:
    return [path for path, prop in properties(schema, "") if not str(prop.get("description", "")).strip()]


def printed_schema() -> dict[str, Any]:
    result = run_cli("schema")
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_every_property_of_the_schema_has_a_description() -> None:
    schema = printed_schema()
    walked = [path for path, _ in properties(schema, "")]
    # The walk reaches the nested models, not only the top level: a model reached only through $defs counts.
    assert ".vault" in walked and "$defs.Cluster.kube_context" in walked and "$defs.Alerts.failing_for" in walked
    assert len(walked) >= 90
    assert undescribed(schema) == [], "give each of these fields a Field(description=...) in generator/config/"


def test_a_property_without_a_description_is_named_wherever_it_nests() -> None:
    """The walk itself: a missing or blank description is found at the top, in $defs, and inside anyOf/items."""
    schema = {
        "properties": {"a": {"type": "string", "description": "fine"}, "b": {"type": "string"}},
        "$defs": {
            "M": {"properties": {"c": {"description": " "}, "d": {"description": "ok"}}},
            "N": {"anyOf": [{"items": {"properties": {"e": {"type": "integer"}}}}, {"type": "null"}]},
        },
    }
    assert undescribed(schema) == [".b", "$defs.M.c", "$defs.N.e"]
