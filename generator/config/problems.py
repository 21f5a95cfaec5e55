"""Every problem of one config at once: field errors in our words, the cross-field rules run on what did validate,
duplicates dropped, all in the order of the YAML's lines.

Why this shape: a person fixing a config reads the list top to bottom and fixes each line once. Stopping after
the field errors (one problem, then ten more after fixing it), repeating a rule's problem once per cluster, or
quoting pydantic's wording ("Input should be a valid string" for an unquoted `key_file_mode: 0400`) each cost
them another round trip.

How the cross-field rules run despite field errors: every value that failed is removed (its field then takes its
default) until the model validates, the rules run on that, and any rule's problem that reads a removed value is
dropped, since it would judge our default instead of the person's value. What a rule reads is declared in
RULE_INPUTS beside the structural and wording tests of `_reads_removed`; a rule left out of it is only kept when
it neither sits on nor names a removed field.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..errors import Problem

Loc = tuple[Any, ...]
# Rounds of "remove what failed, validate again": one normally suffices; a removal that exposes another error
# (a list item replaced) needs a second. Past this the field errors are reported alone.
MAX_ROUNDS = 4

# What each cross-field rule (generator/config/rules.py, monitoring.py) reads besides the field it reports at, as
# dotted patterns (`[*]` any cluster). A removed field equal to, inside or containing an input drops the problem.
RULE_INPUTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("root.key_bits", ("root.key_type",)),
    ("root.certificate_file", ("root.mode",)),
    ("root.mount", ("root.mode", "kv.mount", "clusters[*].intermediate_mount")),
    ("kv.mount", ("root.mount", "root.mode", "clusters[*].intermediate_mount")),
    ("kubernetes_auth.reviewer", ("kubernetes_auth",)),
    ("clusters[*].name", ("clusters[*].name",)),
    ("clusters[*].kv_path", ("clusters[*].kv_path",)),
    ("clusters[*].auth_mount", ("clusters[*].auth_mount",)),
    ("clusters[*].role", ("clusters[*].role", "clusters[*].auth_mount")),
    ("clusters[*].policy", ("clusters[*].policy",)),
    ("clusters[*].intermediate_mount", ("root.mount", "root.mode", "kv.mount", "clusters[*].intermediate_mount")),
    ("clusters[*].outputs", ("istiod.outputs",)),
    ("intermediate", ("root.ttl", "intermediate", "clusters[*].intermediate")),
    ("clusters[*].intermediate", ("root.ttl", "intermediate", "clusters[*].intermediate")),
    ("clusters[*].vault_namespace", ("vault.namespace", "root.mode")),
    ("clusters[*].kubernetes_auth", ("kubernetes_auth", "clusters[*].kubernetes_auth")),
    ("clusters[*].kube_context", ("clusters[*].kube_context",)),
    ("istiod.agent.run_as_user", ("istiod.uid", "istiod.outputs", "clusters[*].outputs")),
    ("vault.helm.dev", ("vault.flavor", "vault.audit", "vault.helm")),
    ("monitoring", ("monitoring",)),
)


def collect(
    plain: dict[str, Any],
    validate: Callable[[dict[str, Any]], Any],
    cross_rules: Callable[[Any], Iterable[tuple[Loc, str]]],
    describe: Callable[[Loc, Any], tuple[int | None, str]],
    dotted: Callable[[Loc], str],
) -> tuple[Any, list[Problem]]:
    """(the validated config or None, every problem sorted by line). `validate` raises pydantic's ValidationError;
    `describe(loc, entry_or_empty)` gives a problem's line and (for a field error entry) our wording."""
    from pydantic import ValidationError

    field_problems: list[Problem] = []
    removed: list[Loc] = []
    partial = plain
    config = None
    for round_number in range(MAX_ROUNDS + 1):
        try:
            config = validate(partial)
            break
        except ValidationError as error:
            entries = error.errors(include_url=False)
        if round_number == MAX_ROUNDS:
            return None, ordered(field_problems)
        if partial is plain:
            partial = copy.deepcopy(plain)
        for entry in entries:
            loc = tuple(entry["loc"])
            if round_number == 0:  # later rounds judge our substitutes, not the person's values
                line, message = describe(loc, entry)
                field_problems.append(Problem(dotted(loc), line, message))
            if any(loc[: len(gone)] == gone for gone in removed):
                continue  # a second error of a value already taken away (or inside one)
            removed_at = _remove(partial, loc)
            if removed_at is None:  # nothing to take away (the document itself): the rules cannot run
                return None, ordered(field_problems)
            removed.append(removed_at)
    problems = list(field_problems)
    for loc, message in cross_rules(config):
        if not _reads_removed(loc, message, removed, dotted):
            problems.append(Problem(dotted(loc), describe(loc, {})[0], message))
    return (config if not field_problems else None), ordered(problems)


def ordered(problems: Sequence[Problem]) -> list[Problem]:
    """Each problem once, in line order (document-level ones first); equal lines keep the rules' order."""
    seen: set[tuple[str, str]] = set()
    unique: list[Problem] = []
    for problem in problems:
        key = (problem.location, problem.message)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return sorted(unique, key=lambda problem: problem.line or 0)


def _remove(plain: dict[str, Any], loc: Loc) -> Loc | None:
    """Take away the value at loc's deepest part present in `plain` so its field falls back to its default, and
    return where that was. A list item goes with its whole list (indices stay the person's), except a cluster,
    which becomes `{}` (a default cluster) so the other clusters keep their indices."""
    trail: list[tuple[Any, Any]] = []
    node: Any = plain
    for part in loc:
        if not isinstance(node, dict | list):
            break
        if not (part in node if isinstance(node, dict) else isinstance(part, int) and 0 <= part < len(node)):
            break
        trail.append((node, part))
        node = node[part]
    while trail:
        container, key = trail[-1]
        if isinstance(container, dict):
            del container[key]
            return tuple(part for _, part in trail)
        if len(trail) == 2 and trail[0] == (plain, "clusters"):
            container[key] = {}
            return tuple(part for _, part in trail)
        trail.pop()
    return None


def _pattern(dotted_loc: str) -> str:
    return re.sub(r"\[\d+\]", "[*]", dotted_loc)


def _overlaps(one: str, other: str) -> bool:
    """Equal, or one inside the other at a field boundary (`a.b` and `a.b.c`, `clusters[1]` and `clusters[1].x`)."""
    return one == other or one.startswith((other + ".", other + "[")) or other.startswith((one + ".", one + "["))


def _reads_removed(loc: Loc, message: str, removed: Sequence[Loc], dotted: Callable[[Loc], str]) -> bool:
    where = dotted(loc)
    inputs = [pattern for target, reads in RULE_INPUTS if _overlaps(_pattern(where), target) for pattern in reads]
    for gone in removed:
        gone_dotted = dotted(gone)
        if _overlaps(where, gone_dotted):
            return True
        if re.search(re.escape(gone_dotted) + r"(?![\w])", message):
            return True
        if any(_overlaps(_pattern(gone_dotted), pattern) for pattern in inputs):
            return True
    return False
