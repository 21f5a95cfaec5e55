"""Every problem of a config at once (generator/config/problems.py, wording.py): field errors do not hide the
cross-field rules, a rule that would judge a default standing in for a bad value stays quiet, each problem is
reported once, in line order, in our words."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from istio_vault_ca.generator.config.loader import parse_text
from istio_vault_ca.generator.errors import ConfigError, Problem
from tests.support import REPO


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_text(text, "test.yaml")
    return [str(problem) for problem in caught.value.problems]


def test_a_field_error_does_not_hide_the_cross_field_errors() -> None:
    text = (
        "root:\n  ttl: 8760h\n  key_bits: 1024\nintermediate:\n  ttl: 87600h\n"
        "istiod:\n  agent:\n    key_file_mode: 0400\n"
    )
    assert [p.split(":")[0] for p in problems(text)] == [
        "root.key_bits (line 3)",
        "intermediate.ttl (line 5)",
        "istiod.agent.key_file_mode (line 8)",
    ]


def test_a_problem_shared_by_every_cluster_is_reported_once() -> None:
    clusters = "".join(
        f"  - {{name: c{i}, intermediate_mount: i{i}, kv_path: k{i}, auth_mount: a{i}, policy: p{i}, "
        f'kubernetes_auth: {{reviewer: client-jwt, kubernetes_host: "https://c{i}.example.com"}}}}\n'
        for i in range(4)
    )
    found = problems("root:\n  ttl: 8760h\nintermediate:\n  key_bits: 256\nclusters:\n" + clusters)
    # Each rule runs once per cluster (four times); each problem is shown once.
    assert [p.split(":")[0] for p in found] == ["intermediate.ttl (line 3)", "intermediate.key_bits (line 4)"]


def test_problems_come_in_line_order_whatever_rule_found_them() -> None:
    # The cross-field rule's field (line 2) comes before the field error (line 4) in the file.
    found = problems("root:\n  key_bits: 1024\nkv:\n  version: 7\n")
    assert [p.split(":")[0] for p in found] == ["root.key_bits (line 2)", "kv.version (line 4)"]


def test_a_rule_reading_a_bad_value_does_not_judge_the_default_in_its_place() -> None:
    # intermediate.ttl is unreadable: the default (43800h) would "outlive" root.ttl 8760h, but that is ours.
    assert problems("root:\n  ttl: 8760h\nintermediate:\n  ttl: 10 years\n") == [
        "intermediate.ttl (line 4): '10 years' is not a Vault duration (examples: 8760h, 30d, 1h30m, 600s)"
    ]
    # root.key_type is unknown: key_bits 256 judged against the default rsa would be ours too.
    assert [p.split(":")[0] for p in problems("root:\n  key_type: dsa\n  key_bits: 256\n")] == [
        "root.key_type (line 2)"
    ]


def test_a_bad_cluster_value_does_not_make_another_cluster_collide_with_its_default() -> None:
    # clusters[0].kv_path falls back to `istioca`, which clusters[1] uses: that collision is not the person's.
    text = (
        "clusters:\n  - name: east\n    kv_path: /bad/\n    kubernetes_auth: {reviewer: client-jwt, "
        'kubernetes_host: "https://east.example.com"}\n  - name: west\n    kv_path: istioca\n    intermediate_mount: '
        "int-west\n    auth_mount: auth-west\n    policy: west\n    kubernetes_auth: {reviewer: client-jwt, "
        'kubernetes_host: "https://west.example.com"}\n'
    )
    found = problems(text)
    assert len(found) == 1 and found[0].startswith("clusters[0].kv_path (line 3): '/bad/' is not a usable Vault path")


def test_a_cluster_that_is_not_a_mapping_keeps_the_others_checked() -> None:
    found = problems("clusters:\n  - just-a-name\n  - name: b\n    role: Not/A/Name\n")
    assert found == [
        "clusters[0] (line 2): must be a mapping of fields (indented `name: value` lines), not the text 'just-a-name'",
        "clusters[1].role (line 4): 'Not/A/Name' is not a usable name (lower-case letters, digits, '_', '.', '-')",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "istiod:\n  agent:\n    key_file_mode: 0600  # owner read-write\n",
            "istiod.agent.key_file_mode (line 3): YAML reads the unquoted 0600 as a number: quote it, "
            "e.g. key_file_mode: '0600'",
        ),
        ("vault:\n  namespace: 2024\n", "vault.namespace (line 2): YAML reads the unquoted 2024 as a number"),
        (
            "istiod: {agent: {key_file_mode: 0400, run_as_user: 1337}}\n",
            "istiod.agent.key_file_mode (line 1): YAML reads the unquoted 0400 as a number: quote it, "
            "e.g. key_file_mode: '0400'",
        ),
        ("root:\n  common_name: false\n", "root.common_name (line 2): YAML reads the unquoted false as a boolean"),
        ("root:\n  common_name:\n", "root.common_name (line 2): must be text, not empty"),
        ("root:\n  key_bits: big\n", "root.key_bits (line 2): must be a whole number, not 'big'"),
        ("root:\n  key_bits: 2048.5\n", "root.key_bits (line 2): must be a whole number, not 2048.5"),
        ("root:\n  key_type: dsa\n", "root.key_type (line 2): must be 'rsa' or 'ec', not 'dsa'"),
        ("kv:\n  version: 3\n", "kv.version (line 2): must be 1 or 2, not 3"),
        ("vault:\n  audit:\n    enabled: maybe\n", "vault.audit.enabled (line 3): must be true or false, not 'maybe'"),
        ("kv: v2\n", "kv (line 1): must be a mapping of fields (indented `name: value` lines), not the text 'v2'"),
        ("clusters: []\n", "clusters (line 1): must list at least 1 entry, not none"),
        ("intermediate:\n  max_path_length: 9\n", "intermediate.max_path_length (line 2): must be 8 or less, not 9"),
        ("istiod:\n  uid: -1\n", "istiod.uid (line 2): must be 0 or more, not -1"),
    ],
)
def test_pydantic_errors_are_reported_in_our_words(text: str, expected: str) -> None:
    [found] = problems(text)
    assert found.startswith(expected)
    assert "Input should" not in found and "Value error" not in found


def test_problem_text_is_field_line_message() -> None:
    assert str(Problem("kv.version", 3, "must be 1 or 2, not 7")) == "kv.version (line 3): must be 1 or 2, not 7"


def _leaves(node: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in _leaves(value, (*path, key))]
    if isinstance(node, list):
        return [leaf for index, value in enumerate(node) for leaf in _leaves(value, (*path, index))]
    return [path]


def _dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_one_bad_value_in_a_good_config_is_one_problem_at_its_field(example: Path) -> None:
    """Every value of every example, replaced in turn by a mapping: exactly one problem, at that field. A rule
    judging the default that stands in for the bad value (a collision with another cluster, a TTL against the
    root's) would show up here as a second problem."""
    yaml = YAML(typ="rt")
    document = yaml.load(example.read_text(encoding="utf-8"))
    paths = _leaves(document)
    assert len(paths) >= 3
    for path in paths:
        changed = copy.deepcopy(document)
        node = changed
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = {"not": "a value"}
        stream = io.StringIO()
        yaml.dump(changed, stream)
        with pytest.raises(ConfigError) as caught:
            parse_text(stream.getvalue(), example.name)
        assert [p.location for p in caught.value.problems] == [_dotted(path)], caught.value.render()
