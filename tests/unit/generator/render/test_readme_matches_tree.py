"""Issue 27 sections 3 and 9: what the rendered README names is what the tree holds, for every installer, and no
rendered values file or overlay replaces something the user owns.

README against tree: every path the README names in backquotes exists in the tree (relative names resolve
against a cluster's or the root's directory, as the README uses them there), and every file of the tree is named.
Named but not rendered, by design: the CSRs and signed certificates the scripts write at run time (`csr/`) and
the config's own offline root certificate (`root.certificate_file`).

Values and overlays: Helm replaces a list or a string of an earlier `-f` file wholesale (helm.sh/helm pkg/chart/
loader MergeMaps), as istioctl does (operator/pkg/values/map.go Map.MergeFrom). So no list anywhere (the TSB
fragment's one `overlays` entry excepted: it is for `render --merge-into`, see installers/tsb.py), and strings only
where the key is ours: env names and vault-k8s annotations we render, and the chart keys this config decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from ruamel.yaml import YAML

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.model import Config
from istio_vault_ca.generator.render.tree import render_tree
from tests.support import EXAMPLES

OPENBAO = {"cli": "bao", "flavor": "openbao", "audit": {"file_path": "/openbao/audit/audit.log"}}
FLEET = [
    {"name": "east", "intermediate_mount": "istioca-east", "kv_path": "istioca/east", "auth_mount": "k8s-east"},
    {
        "name": "west",
        "intermediate_mount": "istioca-west",
        "kv_path": "istioca/west",
        "auth_mount": "k8s-west",
        "policy": "istioca-west",
        "kubernetes_auth": {"reviewer": "client-jwt", "kubernetes_host": "https://west.example:6443"},
    },
]
VARIANTS: dict[str, Config] = {
    "default": Config.model_validate({}),
    "openbao": Config.model_validate({"vault": OPENBAO}),
    "openbao external server": Config.model_validate({"vault": {**OPENBAO, "helm": {"server": False}}}),
    "openbao fleet": Config.model_validate({"vault": OPENBAO, "clusters": FLEET}),
    "openbao fleet, external server": Config.model_validate(
        {"vault": {**OPENBAO, "helm": {"server": False}}, "clusters": FLEET}
    ),
    "openbao fleet without audit": Config.model_validate(
        {"vault": {**OPENBAO, "audit": {"enabled": False}}, "clusters": FLEET}
    ),
    "vault fleet": Config.model_validate({"clusters": FLEET}),
    **{f"examples/{p.name}": load(str(p)).config for p in sorted(EXAMPLES.glob("*.yaml"))},
}
NAMED = re.compile(r"`([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*\.(?:sh|hcl|yaml|json|pem|csr))`")


def _tree(config: Config) -> dict[str, str]:
    return {path: file.content.decode() for path, file in render_tree(config).items()}


def _resolves(name: str, tree: dict[str, str]) -> bool:
    directories = {""} | {path.split("/", 1)[0] + "/" for path in tree if path.startswith("root/")}
    directories |= {"/".join(path.split("/")[:2]) + "/" for path in tree if path.startswith("clusters/")}
    return any(f"{d}{name}" in tree for d in directories) or any(f"/{p}".endswith(f"/vault/{name}") for p in tree)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_file_the_readme_names_is_in_the_tree_and_every_file_is_named(variant: str) -> None:
    config = VARIANTS[variant]
    tree = _tree(config)
    readme = tree.pop("README.md")
    named = set(NAMED.findall(readme))
    runtime = {config.root.certificate_file} | {n for n in named if n.startswith("csr/")}
    missing = sorted(n for n in named - runtime if not _resolves(n, tree))
    assert not missing, f"the README names files the tree does not hold: {missing}"
    unnamed = sorted(path for path in tree if path not in named)
    assert not unnamed, f"files of the tree the README never names: {unnamed}"


def test_the_check_would_catch_a_wrong_values_file_name() -> None:
    tree = _tree(VARIANTS["openbao fleet"])
    assert not _resolves("vault-helm-values.yaml", tree) and _resolves("openbao-helm-values.yaml", tree)


def _run_order(readme: str) -> str:
    return readme.split("## Run order", 1)[1].split("## ", 1)[0]


def test_fleet_openbao_run_order_declares_the_audit_device_before_the_root_setup() -> None:
    """Issue 27 section 9: two OpenBao clusters; the stanza first, then root/vault/setup.sh, then each cluster."""
    order = _run_order(_tree(VARIANTS["openbao fleet"])["README.md"])
    assert 0 <= order.index("`root/openbao/audit.hcl`") < order.index("`root/vault/setup.sh` once")
    assert "--merge-into <your-openbao-values.yaml> --cluster east" in order
    for name in ("east", "west"):
        assert f"clusters/{name}/openbao-helm-values.yaml" in order
        assert order.index(f"`clusters/{name}/vault/setup.sh`") > order.index("`root/vault/setup.sh`")
    assert "vault-helm-values" not in _tree(VARIANTS["openbao fleet"])["README.md"]
    external = _run_order(_tree(VARIANTS["openbao fleet, external server"])["README.md"])
    assert "a server you run yourself takes it in its configuration file" in external
    assert "root/openbao/audit.hcl" not in _tree(VARIANTS["openbao fleet without audit"])["README.md"]


def test_flat_openbao_run_order_merges_into_the_users_values() -> None:
    order = _run_order(_tree(VARIANTS["openbao"])["README.md"])
    assert "istio-vault-ca render -c <config> --merge-into <your-openbao-values.yaml>`" in order
    assert order.index("`openbao/audit.hcl`") < order.index("vault/setup.sh")
    assert "-f openbao-helm-values.yaml`" not in order, "layering the values would not declare the audit device"


def _leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _leaves(child, (*path, str(key)))
    else:
        yield path, value


# Chart keys whose string value this config decides (not the user's): the address the injector dials, the audit
# volume's mount path.
OURS = {("injector", "externalVaultAddr"), ("injector", "externalBaoAddr"), ("server", "auditStorage", "mountPath")}


def _user_owned(path: tuple[str, ...], value: Any) -> str:
    """Why this leaf would replace something of the user's, or "" when it cannot."""
    if isinstance(value, list):
        return "a list (replaced whole)"
    if not isinstance(value, str) or path in OURS:
        return ""
    if len(path) >= 2 and path[-2] == "env" and path[-1].isupper():
        return ""  # one env name of ours in a name->value map
    if len(path) >= 2 and path[-2] == "podAnnotations" and path[-1].startswith("vault.hashicorp.com/"):
        return ""
    if len(path) >= 2 and path[-2] == "podAnnotations" and path[-1].startswith("openbao.org/"):
        return ""
    if path[:2] in (("apiVersion",), ("kind",)) or path[0] in ("apiVersion", "kind", "metadata"):
        return ""  # the IstioOperator object's own identity
    return "a string the user may own (replaced whole)"


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_rendered_values_file_or_overlay_replaces_what_the_user_owns(variant: str) -> None:
    tree = _tree(VARIANTS[variant])
    checked = 0
    for path, text in tree.items():
        if not path.endswith(("helm-values.yaml", "istio-operator-overlay.yaml")):
            continue
        checked += 1
        document = YAML(typ="safe", pure=True).load(text)
        bad = [(".".join(p), why) for p, v in _leaves(document) if (why := _user_owned(p, v))]
        assert not bad, f"{path}: {bad}"
    assert checked


def test_the_ownership_check_would_catch_a_config_string_or_a_list() -> None:
    assert _user_owned(("server", "standalone", "config"), 'listener "tcp" {}')
    assert _user_owned(("server", "extraVolumes"), [{"name": "x"}])
    assert not _user_owned(("env", "ROOT_CA_DIR"), "/vault/secrets")
