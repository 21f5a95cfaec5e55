"""The checks reference page (docs/reference/checks.md) is the registry: one row per check, with its id, tier and
why (its docstring), in the families' order; the README points to it instead of holding the table.

tests/unit/test_docs_reference.py proves the page is what docs/gen_reference.py writes today; this test proves
what it writes is the registry, read row by row as a user reads the page.
"""

from __future__ import annotations

import re

from istio_vault_ca.verify.checks import chain, cluster, fleet, vault  # noqa: F401  (register every family)
from istio_vault_ca.verify.checks.registry import REGISTRY
from tests.support import REPO

ROW = re.compile(r"^\| `((?:chain|cluster|fleet|pod|vault)\.[a-z0-9-]+)` \| ([a-z ]+) \| (.*) \|$")
PAGE = REPO / "docs" / "reference" / "checks.md"


def test_the_checks_reference_is_the_registry() -> None:
    rows = [match.groups() for line in PAGE.read_text(encoding="utf-8").splitlines() if (match := ROW.match(line))]
    expected = {
        spec.id: (spec.tier.value, " ".join(spec.doc.split()).replace("|", "\\|")) for spec in REGISTRY.values()
    }
    assert {check: (tier, doc) for check, tier, doc in rows} == expected, "run `make docs`: the page is the registry"
    for family in {spec.family for spec in REGISTRY.values()}:  # within a family, in registration order
        on_page = [check for check, _, _ in rows if check.split(".")[0] == family]
        assert on_page == [spec.id for spec in REGISTRY.values() if spec.family == family]
    assert len(rows) == 79
    assert all(doc for _, _, doc in rows), "every check says why in its docstring"


def test_the_readme_points_to_the_checks_reference() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/reference/checks.md" in readme
    assert not any(ROW.match(line) for line in readme.splitlines()), "the table lives in the generated page only"
