"""The tree in generator/errors.py's docstring is the real class tree: every class, its parent and its exit code.

The docstring is where a reader looks up which error exits how; a class added, moved or given another exit code
without the tree following would make it lie, so the tree is parsed and compared with the classes defined there.
"""

from __future__ import annotations

import inspect
import re

from istio_vault_ca.generator import errors

# "    │   ├── VaultSealed           3  sealed or not initialised": the glyphs before the name give its depth.
LINE = re.compile(r"^    (?P<indent>(?:│   |    )*)(?:[├└]── )?(?P<name>[A-Za-z]+)\s+(?P<code>\d)\s+\S")


def documented() -> set[tuple[str, str | None, int]]:
    """(class, parent, exit code) for each line of the docstring's tree."""
    rows: set[tuple[str, str | None, int]] = set()
    parents: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        found = LINE.match(line)
        if not found:
            continue
        depth = len(found["indent"]) // 4 + (0 if found["name"] == "IvcError" else 1)
        del parents[depth:]
        rows.add((found["name"], parents[-1] if parents else None, int(found["code"])))
        parents.append(found["name"])
    return rows


def defined() -> set[tuple[str, str | None, int]]:
    """(class, parent, exit code) for each IvcError class generator/errors.py defines."""
    rows: set[tuple[str, str | None, int]] = set()
    for name, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, errors.IvcError) and cls.__module__ == errors.__name__:
            parent = cls.__bases__[0].__name__ if cls is not errors.IvcError else None
            rows.add((name, parent, cls.exit_code))
    return rows


def test_the_docstring_tree_is_the_class_tree() -> None:
    tree = documented()
    assert len(tree) > 20, "the tree was not found in the docstring"
    assert tree == defined()


def test_each_way_vault_is_unavailable_has_its_own_reason() -> None:
    """serve labels a run that ended on Vault `vault_<reason>`: one word per subclass, none inherited."""
    ways = [cls for cls in vars(errors).values() if inspect.isclass(cls) and issubclass(cls, errors.VaultUnavailable)]
    reasons = [cls.reason for cls in ways if cls is not errors.VaultUnavailable]
    assert len(reasons) == len(ways) - 1 == len(set(reasons))
    assert all("reason" in vars(cls) for cls in ways)
