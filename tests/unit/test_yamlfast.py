"""The fast YAML path writes exactly the bytes ruamel.yaml writes, or declines and lets ruamel write them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator import manifests, yamlfast
from generator.loader import load
from generator.render import render_tree
from tests.support import EXAMPLES

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ruamel_only(monkeypatch: pytest.MonkeyPatch, *documents: Any, header: str = "") -> str:
    with monkeypatch.context() as patch:
        patch.setattr(yamlfast, "emit", lambda *args, **kwargs: None)
        return manifests.dump(*documents, header=header)


# Keys and values like the manifests' (names, paths, URLs, numbers-as-strings) plus anything else.
WORDS = st.sampled_from(
    ["true", "false", "0400", "1337", "null", "~", "1e3", "0x1F", "2024-01-01", ".inf", "yes", "on", "a:b", "x:"]
)
NAMES = st.from_regex(r"[A-Za-z0-9_/][A-Za-z0-9_./:-]{0,30}", fullmatch=True)
ANY = st.text(max_size=20)
LITERALS = st.from_regex(r"[!-~][ -~\n]{0,40}\n?", fullmatch=True) | st.text(max_size=30).map(lambda s: s + "\n")
SCALARS = st.one_of(st.booleans(), st.integers(-(10**6), 10**12), NAMES, WORDS, ANY, LITERALS)
KEYS = st.one_of(NAMES, WORDS, ANY)


def documents() -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
        max_leaves=25,
    ).filter(lambda value: isinstance(value, dict))


# Inside the subset: every document takes the fast path.
SUBSET_WORDS = WORDS.filter(
    lambda word: bool(re.fullmatch(r"[A-Za-z0-9_/][A-Za-z0-9_./:-]*", word)) and word[-1] != ":"
)
SUBSET_LITERALS = (
    st.from_regex(r"[!-~][ -~\n]{0,40}", fullmatch=True)
    .filter(lambda s: "\n" in s)
    .map(lambda s: s.rstrip("\n") + "\n" if s.endswith("\n") else s)
)
SUBSET_NAMES = NAMES.filter(lambda name: not name.endswith(":"))
SUBSET_SCALARS = st.one_of(st.booleans(), st.integers(-(10**6), 10**12), SUBSET_NAMES, SUBSET_WORDS)


def subset_documents() -> st.SearchStrategy[dict[str, Any]]:
    mappings: st.SearchStrategy[dict[str, Any]] = st.deferred(
        lambda: st.dictionaries(
            SUBSET_NAMES | SUBSET_WORDS,
            SUBSET_SCALARS | SUBSET_LITERALS | mappings | st.lists(SUBSET_SCALARS | mappings, min_size=1, max_size=3),
            min_size=1,
            max_size=4,
        )
    )
    return mappings


@FAST
@given(st.lists(subset_documents(), min_size=1, max_size=3))
def test_inside_the_subset_the_fast_path_runs_and_matches_ruamel(docs: list[Any]) -> None:
    sorted_docs = [manifests._sorted(doc) for doc in docs]
    assert yamlfast.emit(sorted_docs, explicit_start=len(docs) != 1) is not None
    with pytest.MonkeyPatch.context() as patch:
        expected = ruamel_only(patch, *docs, header="header")
    assert manifests.dump(*docs, header="header") == expected


@FAST
@given(st.lists(documents(), min_size=1, max_size=3))
def test_fast_path_matches_ruamel_byte_for_byte(docs: list[Any]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        expected = ruamel_only(patch, *docs, header="Rendered by a test\n\nsecond line")
    assert manifests.dump(*docs, header="Rendered by a test\n\nsecond line") == expected


def test_fast_path_covers_the_manifests_of_every_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every YAML file of every example takes the fast path and equals ruamel's rendering."""
    declined = []
    emit = yamlfast.emit

    def counting(*args: Any, **kwargs: Any) -> str | None:
        text = emit(*args, **kwargs)
        if text is None:
            declined.append(args)
        return text

    for config in sorted(EXAMPLES.glob("*.yaml")):
        loaded = load(str(config)).config
        monkeypatch.setattr(yamlfast, "emit", counting)
        fast = render_tree(loaded)
        monkeypatch.setattr(yamlfast, "emit", lambda *args, **kwargs: None)
        slow = render_tree(loaded)
        monkeypatch.undo()
        assert fast == slow, config.name
    assert declined == []


def test_outside_the_subset_it_declines() -> None:
    for document in ({}, {"a": {}}, {"a": []}, {"a": [[1]]}, {"a": None}, {"a": 1.5}, {"a b": 1}, {"k": "x y"}):
        assert yamlfast.emit([document], explicit_start=False) is None, document
    assert yamlfast.emit([{"k" * 123: 1}], explicit_start=False) is None, "ruamel writes long keys as `? key`"
    assert yamlfast.emit([{"k": "w" * 5000}], explicit_start=False) is None, "ruamel moves long values down"


@pytest.mark.parametrize(
    "document",
    [{"k" * 122: 1}, {"k" * 123: 1}, {"k": "w" * 3990}, {"k": "w" * 4094}, {"k": "w" * 4095}, {"k": ["w" * 4093]}],
)
def test_at_the_length_limits_it_matches_ruamel(monkeypatch: pytest.MonkeyPatch, document: dict[str, Any]) -> None:
    assert manifests.dump(document) == ruamel_only(monkeypatch, document)
