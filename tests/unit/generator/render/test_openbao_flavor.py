"""vault.flavor: openbao renders the audit device as a server-config stanza and values for the OpenBao chart.

The chart-keys test compares the rendered values with `tests/openbao_chart/values-keys.txt`, the dotted key
paths of openbao/openbao-helm's `charts/openbao/values.yaml` at chart 0.29.2 (the commit is in the file's header).
The chart cannot be fetched while the tests run, and is not copied here: only its key paths are committed, made by
`python -m tests.openbao_chart.derive_keys CHECKOUT --ref openbao-0.29.2` from a local clone.
"""

from __future__ import annotations

from typing import Any

import hcl2
import pytest
from ruamel.yaml import YAML

from istio_vault_ca.generator.config.model import Config
from istio_vault_ca.generator.config.plan import audit_stanza
from istio_vault_ca.generator.render.tree import render_tree
from istio_vault_ca.verify.checks.vault.state import server_flavor
from tests.openbao_chart.derive_keys import key_paths
from tests.support import REPO

CHART_KEYS_FILE = REPO / "tests" / "openbao_chart" / "values-keys.txt"
CHART_KEYS = {
    line for line in CHART_KEYS_FILE.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")
}

OPENBAO = {"vault": {"cli": "bao", "flavor": "openbao", "audit": {"file_path": "/openbao/audit/audit.log"}}}
FLEET = {
    "vault": OPENBAO["vault"],
    "clusters": [
        {"name": "east", "intermediate_mount": "istioca-east", "kv_path": "istioca/east", "auth_mount": "k8s-east"},
        {
            "name": "west",
            "intermediate_mount": "istioca-west",
            "kv_path": "istioca/west",
            "auth_mount": "k8s-west",
            "policy": "istioca-west",
            "kubernetes_auth": {"reviewer": "client-jwt", "kubernetes_host": "https://west.example:6443"},
        },
    ],
}


def _tree(data: dict[str, Any]) -> dict[str, bytes]:
    return {path: file.content for path, file in render_tree(Config.model_validate(data)).items()}


def _audit_file_path(hcl: str) -> str:
    """The declared file audit device's file_path, as python-hcl2 reads it (quotes and escapes kept)."""
    (device,) = hcl2.loads(hcl)["audit"]
    (options,) = device['"file"']['"file/"']["options"]
    return str(options["file_path"])


def _values(content: bytes) -> Any:
    return YAML(typ="safe", pure=True).load(content)


VARIANTS: dict[str, dict[str, Any]] = {
    "server in the cluster": OPENBAO,
    "external server": {"vault": {**OPENBAO["vault"], "helm": {"server": False}}},
    "audit disabled": {"vault": {"cli": "bao", "flavor": "openbao", "audit": {"enabled": False}}},
    "dev mode without audit": {"vault": {"flavor": "openbao", "audit": {"enabled": False}, "helm": {"dev": True}}},
    "fleet": FLEET,
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_rendered_openbao_values_only_use_keys_the_chart_defines(variant: str) -> None:
    tree = _tree(VARIANTS[variant])
    files = [path for path in tree if path.endswith("openbao-helm-values.yaml")]
    assert files and not any(path.endswith("vault-helm-values.yaml") for path in tree)
    for path in files:
        unknown = sorted(set(key_paths(_values(tree[path]))) - CHART_KEYS)
        assert not unknown, f"{path} sets keys the OpenBao chart does not define: {unknown}"


def test_the_chart_keys_check_would_catch_an_unknown_key() -> None:
    values = _values(_tree(OPENBAO)["openbao-helm-values.yaml"])
    values["server"]["auditStorage"]["volumeName"] = "audit"
    assert set(key_paths(values)) - CHART_KEYS == {"server.auditStorage.volumeName"}
    assert "injector.externalVaultAddr" in CHART_KEYS and len(CHART_KEYS) > 300


def test_openbao_values_mount_the_audit_volume_and_leave_the_server_config_to_the_user() -> None:
    """Issue 27 section 3: a config string here would replace the user's (listener, storage, seal) whole."""
    tree = _tree(OPENBAO)
    values = _values(tree["openbao-helm-values.yaml"])
    server = values["server"]
    assert server["auditStorage"] == {"enabled": True, "mountPath": "/openbao/audit"}
    assert "standalone" not in server and "ha" not in server
    assert "render --merge-into <your-openbao-values.yaml>" in tree["openbao/audit.hcl"].decode()
    external = _values(_tree(VARIANTS["external server"])["openbao-helm-values.yaml"])
    assert external == {
        "injector": {"enabled": True, "externalBaoAddr": "http://127.0.0.1:8200"},
        "server": {"enabled": False},
    }


def test_openbao_tree_has_the_stanza_and_a_checking_audit_step() -> None:
    tree = _tree(OPENBAO)
    stanza = tree["openbao/audit.hcl"].decode()
    assert audit_stanza(Config.model_validate(OPENBAO).vault.audit).strip() in stanza
    assert hcl2.loads(stanza)["audit"]
    step = tree["vault/01-audit.sh"].decode()
    assert "audit enable" not in step, "OpenBao refuses audit devices over the API: the step only checks"
    assert "OpenBao loads audit devices only from its server config" in step
    fleet = _tree(FLEET)
    assert "root/openbao/audit.hcl" in fleet and not any(
        p.endswith("openbao/audit.hcl") for p in fleet if p.startswith("clusters/")
    )
    assert "openbao/audit.hcl" not in _tree(VARIANTS["audit disabled"])


def test_vault_flavor_keeps_audit_enable_and_the_vault_chart() -> None:
    tree = _tree({})
    assert "vault-helm-values.yaml" in tree and not any(p.startswith("openbao/") for p in tree)
    assert "audit enable -path=" in tree["vault/01-audit.sh"].decode()


def test_stanza_quotes_a_path_hcl_would_otherwise_interpolate() -> None:
    audit = Config.model_validate({"vault": {"audit": {"file_path": '/var/log/${x}/a"b.log'}}}).vault.audit
    assert _audit_file_path(audit_stanza(audit)) == '"/var/log/$${x}/a\\"b.log"'


@pytest.mark.parametrize(
    ("version", "flavor"),
    [("2.7.2", "openbao"), ("v2.0.0", "openbao"), ("1.15.2", "vault"), ("1.15.2+ent", "vault"), ("unknown", None)],
)
def test_server_flavor_from_the_version_string(version: str, flavor: str | None) -> None:
    assert server_flavor(version) == flavor
