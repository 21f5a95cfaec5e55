"""How the tests wait, read from their source: one poll (tests.support.wait_until), no sleep elsewhere, no loop
of their own against a clock. A test that sleeps waits for a duration, not for what it could observe."""

from __future__ import annotations

import ast
import functools

from tests.support import REPO

TESTS = REPO / "tests"


@functools.cache
def sources() -> dict[str, ast.Module]:
    """Every Python file of tests/ (the Go programs' trees hold none), parsed."""
    found = {
        path.relative_to(REPO).as_posix(): ast.parse(path.read_text(encoding="utf-8")) for path in TESTS.rglob("*.py")
    }
    assert "tests/support.py" in found and len(found) > 100, sorted(found)[:5]
    return found


def called_name(node: ast.Call) -> str:
    function = node.func
    return function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")


def calls_in(tree: ast.AST, name: str) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and called_name(node) == name]


def functions_named(tree: ast.AST, name: str) -> list[ast.FunctionDef]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == name]


def test_sleep_is_called_only_by_wait_until() -> None:
    sleeping = {f"{path}:{call.lineno}" for path, tree in sources().items() for call in calls_in(tree, "sleep")}
    (wait_until,) = functions_named(sources()["tests/support.py"], "wait_until")
    inside = {f"tests/support.py:{call.lineno}" for call in calls_in(wait_until, "sleep")}
    assert len(inside) == 1
    assert sleeping == inside


def test_there_is_one_wait_until() -> None:
    defined = [path for path, tree in sources().items() if functions_named(tree, "wait_until")]
    assert defined == ["tests/support.py"]


def test_no_loop_runs_against_a_deadline_of_its_own() -> None:
    """A `while` whose condition reads the clock is a hand-written poll: wait_until holds the one there is."""
    loops = [
        f"{path}:{node.lineno}"
        for path, tree in sources().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.While) and calls_in(node.test, "monotonic") + calls_in(node.test, "time")
    ]
    assert loops == []
