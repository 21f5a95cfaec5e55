"""README facts that come from the code stay equal to the code: the checks table (id, tier, why) is the registry."""

from __future__ import annotations

import re

from istio_vault_ca.verify.checks import chain, cluster, vault  # noqa: F401  (register every family)
from istio_vault_ca.verify.checks.registry import REGISTRY
from tests.support import REPO

ROW = re.compile(r"^\| `((?:chain|cluster|pod|vault)\.[a-z0-9-]+)` \| ([a-z ]+) \| (.*) \|$")


def test_the_checks_table_is_the_registry() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = [match.groups() for line in readme.splitlines() if (match := ROW.match(line))]
    families = ("chain", "cluster", "pod", "vault")  # the README's order; registration order within a family
    specs = sorted(REGISTRY.values(), key=lambda spec: families.index(spec.family))
    expected = [(spec.id, spec.tier.value, spec.doc) for spec in specs]
    assert rows == expected, "regenerate README's 'Checks and their tiers' table from the registry"
    assert len(rows) == 72
    assert all(doc for _, _, doc in rows), "every check says why in its docstring"
