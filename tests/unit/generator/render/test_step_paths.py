"""Every script a rendered script's message tells the person to run is a file of that tree: `vault/NN.sh` in a
flat tree, `clusters/<name>/vault/NN.sh` or `root/vault/setup.sh` in a fleet (generator/render/layout.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.render.tree import render_tree
from tests.support import EXAMPLES

NAMED = re.compile(r"\brun ([A-Za-z0-9_./-]+\.sh)")
CONFIGS = sorted(EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_script_a_message_names_is_in_the_tree(config: Path) -> None:
    tree = render_tree(load(str(config)).config)
    named = {
        name
        for path, file in tree.items()
        if path.endswith(".sh")
        for name in NAMED.findall(file.content.decode("utf-8"))
    }
    assert named, "the scripts name no step to run"
    assert sorted(name for name in named if name not in tree) == []


def test_a_fleet_names_each_clusters_own_steps() -> None:
    tree = render_tree(load(str(EXAMPLES / "three-clusters.yaml")).config)
    step = tree["clusters/west/vault/04-intermediate-pki.sh"].content.decode("utf-8")
    assert "run root/vault/setup.sh (its step 02-root-pki.sh) first" in step
    assert "run clusters/west/vault/03-kv.sh first" in step
    external = render_tree(load(str(EXAMPLES / "external-root.yaml")).config)
    setup = external["clusters/east/vault/setup.sh"].content.decode("utf-8")
    assert "then run clusters/east/vault/07-intermediate-import.sh" in setup
