"""Kubernetes and Helm YAML, built as data and dumped once (never text templates); istiod's overlays are built by
the installer modules (generator/render/installers/)."""

from __future__ import annotations

import io
import posixpath
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..config.plan import ClusterPlan, audit_declared

if TYPE_CHECKING:
    from ruamel.yaml import YAML


def _sorted(value: Any) -> Any:
    """Sorted keys at every level (lists keep their order); multi-line strings become literal blocks."""
    from ruamel.yaml.scalarstring import LiteralScalarString

    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    if isinstance(value, str) and "\n" in value and _literal_safe(value):
        return LiteralScalarString(value)
    return value


def _literal_safe(text: str) -> bool:
    """A literal block only holds printable text; anything else is left to YAML's escaped quoting."""
    return all(char.isprintable() or char == "\n" for char in text) and not text.startswith((" ", "\n"))


@lru_cache(maxsize=2)
def _yaml(explicit_start: bool) -> YAML:
    """One configured dumper per document style, reused: building one costs more than a small dump."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    # Escape non-ASCII: ruamel writes NEL and line separators raw, which YAML readers fold into spaces.
    yaml.allow_unicode = False
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.explicit_start = explicit_start
    return yaml


def dump(*documents: Any, header: str = "") -> str:
    stream = io.StringIO()
    if header:
        stream.write("".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()))
    if len(documents) == 1:
        _yaml(False).dump(_sorted(documents[0]), stream)
    else:
        _yaml(True).dump_all([_sorted(document) for document in documents], stream)
    return stream.getvalue()


# The OpenBao chart's own `server.standalone.config` (openbao/openbao-helm, charts/openbao/values.yaml, chart
# 0.29.2): what `render --merge-into` starts from when the user's values file sets none (openbao_values.py). The
# rendered values never carry a config string: Helm would replace the user's whole config with it.
OPENBAO_STANDALONE_CONFIG = """ui = true
listener "tcp" {
  tls_disable = 1
  address = "[::]:8200"
  cluster_address = "[::]:8201"
}
storage "file" {
  path = "/openbao/data"
}
"""


def helm_values(plan: ClusterPlan) -> dict[str, Any]:
    """Values for the chart of the configured server flavor (vault.flavor)."""
    if plan.config.vault.flavor == "openbao":
        return openbao_helm_values(plan)
    return vault_helm_values(plan)


def audit_dir(file_path: str) -> str:
    """The directory holding the audit log: where the chart mounts its audit volume."""
    return posixpath.dirname(file_path)


def hosts_server(plan: ClusterPlan) -> bool:
    # In a fleet one Vault serves every cluster: only the cluster it runs in (reviewer local) gets the server.
    vault = plan.config.vault
    return vault.helm.server and (len(plan.config.clusters) == 1 or plan.kubernetes_auth.reviewer == "local")


def openbao_helm_values(plan: ClusterPlan) -> dict[str, Any]:
    """openbao/openbao chart values (keys checked against the chart by tests/unit/test_openbao_chart_keys.py).

    Like the Vault chart's: the injector always (the chart's default injector image is vault-k8s, so the pod
    annotations stay vault.hashicorp.com/*; with vault.injector openbao-k8s the chart's injector.image must be an
    openbao/openbao-k8s build after v1.4.0, which has no release to pin here, so it is left to the operator), the
    server unless it is external, with the chart's audit volume mounted where the log is written. Maps and flags
    only: the audit stanza goes into the user's own server config string (`render --merge-into VALUES`,
    openbao_values.py), since a config string here would replace theirs whole (listener, storage, seal).
    """
    config = plan.config
    vault = config.vault
    values: dict[str, Any] = {"injector": {"enabled": True}}
    if not hosts_server(plan):
        values["server"] = {"enabled": False}
        values["injector"]["externalBaoAddr"] = vault.agent_address or vault.address
        return values
    server: dict[str, Any] = {"enabled": True, "dev": {"enabled": vault.helm.dev}}
    if plan.kubernetes_auth.reviewer == "local":
        server["authDelegator"] = {"enabled": True}
    if audit_declared(config):
        server["auditStorage"] = {"enabled": True, "mountPath": audit_dir(vault.audit.file_path)}
    values["server"] = server
    return values


def vault_helm_values(plan: ClusterPlan) -> dict[str, Any]:
    """hashicorp/vault chart values: the injector always; the server in the cluster unless Vault is external.

    In a fleet one Vault serves every cluster, so only the cluster it runs in (reviewer local) gets the server;
    the others get the injector pointed at it.
    """
    vault = plan.config.vault
    values: dict[str, Any] = {"injector": {"enabled": True}}
    hosts_vault = len(plan.config.clusters) == 1 or plan.kubernetes_auth.reviewer == "local"
    if vault.helm.server and hosts_vault:
        server: dict[str, Any] = {"enabled": True, "dev": {"enabled": vault.helm.dev}}
        if plan.kubernetes_auth.reviewer == "local":
            # Vault reviews tokens with its own service account: it needs system:auth-delegator.
            server["authDelegator"] = {"enabled": True}
        values["server"] = server
    else:
        values["server"] = {"enabled": False}
        values["injector"]["externalVaultAddr"] = vault.agent_address or vault.address
    return values


def token_reviewer_manifests(plan: ClusterPlan) -> list[dict[str, Any]]:
    """reviewer: secret. A service account, its long-lived token Secret and the TokenReview permission."""
    reviewer = plan.kubernetes_auth.token_reviewer
    assert reviewer is not None  # guaranteed by the model for reviewer: secret
    account = {"name": reviewer.service_account, "namespace": reviewer.namespace}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(account)},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": reviewer.secret_name,
                "namespace": reviewer.namespace,
                "annotations": {"kubernetes.io/service-account.name": reviewer.service_account},
            },
            "type": "kubernetes.io/service-account-token",
        },
        _auth_delegator_binding(f"{reviewer.service_account}-tokenreview", account),
    ]


def istiod_auth_delegator(plan: ClusterPlan) -> dict[str, Any]:
    """reviewer: client-jwt. istiod's own token reviews itself, so its service account may call TokenReview."""
    istiod = plan.config.istiod
    return _auth_delegator_binding(
        f"{istiod.service_account}-vault-tokenreview",
        {"name": istiod.service_account, "namespace": istiod.namespace},
    )


def _auth_delegator_binding(name: str, account: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "system:auth-delegator",
        },
        "subjects": [{"kind": "ServiceAccount", **account}],
    }
