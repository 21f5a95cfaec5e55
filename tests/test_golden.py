"""Every example renders exactly its golden tree (reviewed output, byte for byte)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import EXAMPLES, GOLDEN, assert_directories_match, render_into

EXAMPLE_CONFIGS = sorted(EXAMPLES.glob("*.yaml"))


def test_every_example_has_a_golden_tree() -> None:
    assert {c.stem for c in EXAMPLE_CONFIGS} == {p.name for p in GOLDEN.iterdir() if p.is_dir()}


@pytest.mark.parametrize("config", EXAMPLE_CONFIGS, ids=[c.stem for c in EXAMPLE_CONFIGS])
def test_example_matches_golden(config: Path, tmp_path: Path) -> None:
    rendered = render_into(config, tmp_path / "out")
    assert_directories_match(GOLDEN / config.stem, rendered, refresh="make golden")


def test_golden_mismatch_prints_diff_and_refresh_command(tmp_path: Path) -> None:
    config = EXAMPLES / "tsb-single-cluster.yaml"  # a flat tree with policy.hcl at its top
    rendered = render_into(config, tmp_path / "out")
    policy = rendered / "policy.hcl"
    policy.write_text(policy.read_text() + "# hand edit\n")
    with pytest.raises(AssertionError) as failure:
        assert_directories_match(GOLDEN / config.stem, rendered, refresh="make golden")
    assert "+# hand edit" in str(failure.value)
    assert "refresh with: make golden" in str(failure.value)
