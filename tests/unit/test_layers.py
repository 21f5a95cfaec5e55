"""The layering rules of docs/maintainers/architecture.md, read from the shipped code's own imports.

A rule that only a document states drifts at the next change; this test parses every module of `generator/` and
`verify/` (imports inside functions and under TYPE_CHECKING included: a lazy import is still a dependency),
resolves relative imports to modules, and fails on:

- an import of `verify/cli/` from outside it (the console entry point, `verify/cli/parser.py`, is named in
  pyproject.toml and is not imported by any module): front ends call `verify/runs/`, the CLI is a leaf;
- `generator/` importing `verify/`: the generator is usable without the verifier;
- a circle between modules (imports that run; a type-only import may point back), and a circle between packages
  (each directory with an `__init__.py` is one package, its modules taken together; every import counted): a
  circle means neither side can be read, tested or moved without the other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO

TOP = ("generator", "verify")
PREFIX = "istio_vault_ca"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def shipped_modules() -> dict[str, Path]:
    """Every shipped module by dotted name as the checkout lays it out (`verify.cli.parser`)."""
    return {_module_name(p): p for top in TOP for p in sorted((REPO / top).rglob("*.py"))}


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _resolve(importer: str, node: ast.ImportFrom | ast.Import, modules: dict[str, Path]) -> Iterator[str]:
    """The shipped modules one import statement loads (a name that is a submodule counts as that submodule)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            name = alias.name.removeprefix(PREFIX + ".")
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                yield name
        return
    if node.level:
        base = importer.split(".") if _is_package(importer, modules) else importer.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
    else:
        target = (node.module or "").removeprefix(PREFIX + ".")
        if target.split(".")[0] not in TOP:
            return
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if sub in modules:
            yield sub
        elif target in modules:
            yield target


def _imports(tree: ast.AST, *, runtime_only: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement; with `runtime_only`, not those under `if TYPE_CHECKING:` (never executed)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif runtime_only and isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for other in node.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]), runtime_only=runtime_only)
        else:
            yield from _imports(node, runtime_only=runtime_only)


def import_graph(*, runtime_only: bool = False) -> dict[str, set[str]]:
    """Module -> the shipped modules it imports (self-imports dropped)."""
    modules = shipped_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8")), runtime_only=runtime_only):
            edges.update(_resolve(name, node, modules))
        edges.discard(name)
        graph[name] = edges
    return graph


def package_of(module: str, modules: dict[str, Path]) -> str:
    return module if _is_package(module, modules) else module.rpartition(".")[0]


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted, the list sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _edges(graph: dict[str, set[str]]) -> Iterator[tuple[str, str]]:
    for importer, imported in sorted(graph.items()):
        for target in sorted(imported):
            yield importer, target


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_nothing_outside_the_cli_imports_from_it() -> None:
    wrong = [f"{a} -> {b}" for a, b in _edges(import_graph()) if _in(b, "verify.cli") and not _in(a, "verify.cli")]
    assert wrong == [], "import the orchestration from verify/runs/, not the CLI layer"


def test_the_generator_never_imports_the_verifier() -> None:
    wrong = [f"{a} -> {b}" for a, b in _edges(import_graph()) if _in(a, "generator") and _in(b, "verify")]
    assert wrong == []


def test_no_circle_between_modules() -> None:
    """Imports that run (at import or in a function): a type-only import under TYPE_CHECKING may point back (the
    cross-field rules name the model's classes in their signatures while the model runs the rules)."""
    assert circles(import_graph(runtime_only=True)) == []


def test_no_circle_between_packages() -> None:
    """Every import, type-only ones included: a package and another never need each other, even for types."""
    modules = shipped_modules()
    graph: dict[str, set[str]] = {}
    for a, b in _edges(import_graph()):
        pa, pb = package_of(a, modules), package_of(b, modules)
        graph.setdefault(pa, set())
        # A package's own modules, and a package importing its parent's __init__ (relative `from .. import`),
        # are inside one room: only imports between sibling or unrelated packages can form a circle.
        if pa != pb and not _in(pa, pb):
            graph[pa].add(pb)
    assert circles(graph) == []


# The rules' own reader must see what it claims to see: a test that parses nothing passes on anything.


def test_the_reader_resolves_relative_and_absolute_imports() -> None:
    graph = import_graph()
    assert len(graph) == len(shipped_modules()) > 100
    assert "generator.errors" in graph["verify.cli.parser"]  # `from ...generator.errors import ...`
    assert any(_in(b, "generator.config") for b in graph["generator.render.tree"])


def test_type_only_imports_are_left_out_of_the_runtime_graph() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\nelse:\n    import b\nimport c\n"
    )
    runtime = [n.names[0].name for n in _imports(tree, runtime_only=True) if isinstance(n, ast.Import)]
    every = [n.names[0].name for n in _imports(tree, runtime_only=False) if isinstance(n, ast.Import)]
    assert (runtime, every) == (["b", "c"], ["a", "b", "c"])


def test_circles_finds_a_circle_and_only_the_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("source", ["from .x import y", "from . import x"])
def test_a_relative_import_of_a_sibling_resolves_to_it(source: str) -> None:
    modules = {"p": Path("p/__init__.py"), "p.m": Path("p/m.py"), "p.x": Path("p/x.py")}
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.ImportFrom)
    assert list(_resolve("p.m", node, modules)) == ["p.x"]
