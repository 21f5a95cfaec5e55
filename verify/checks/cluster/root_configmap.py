"""The root istiod hands every workload (the `istio-ca-root-cert` ConfigMap) must be Vault's root.

Anything else means istiod signs with another CA (a self-signed fallback or a stale `cacerts`), whatever its log
says; the ConfigMap is read in istiod's namespace and in one sampled workload namespace.
"""

from __future__ import annotations

from typing import Any

from istio_vault_ca.verify.checks.cluster.state import ROOT_CONFIG_MAP, ROOT_CONFIG_MAP_KEY, ConfigMapView, dig
from istio_vault_ca.verify.checks.registry import Tier, check
from istio_vault_ca.verify.checks.result import CheckResult, errored, failed, passed, skipped


def _certificates(pem: bytes) -> list[Any]:
    from cryptography import x509

    try:
        return list(x509.load_pem_x509_certificates(pem))
    except ValueError:
        return []


def _describe(cert: Any) -> str:
    from cryptography.hazmat.primitives import hashes

    subject = cert.subject.rfc4514_string() or "(empty subject)"
    return f"{subject} (sha256 {cert.fingerprint(hashes.SHA256()).hex()[:16]}…)"


@check("cluster.root-configmap-matches-vault", tier=Tier.ISTIOD_REFUSES, needs=("namespace_obj", "config_map"))
def root_configmap_matches_vault(view: ConfigMapView) -> CheckResult:
    """The root istiod hands every workload must be Vault's root; anything else means istiod signs elsewhere."""
    check_id, target = "cluster.root-configmap-matches-vault", view.target
    config_map, vault_root = view.config_map, view.vault_root
    if vault_root.pem is None:
        return skipped(check_id, target, f"Vault's root is not available: {vault_root.problem}", _VAULT_ACCESS_HINT)
    if config_map.obj is None:
        return failed(
            check_id,
            target,
            f"no {ROOT_CONFIG_MAP} ConfigMap in {config_map.namespace} ({config_map.why_sampled})",
            "istiod writes it into every namespace once it runs; check cluster.discovery-ready",
        )
    data = str(dig(config_map.obj, "data", ROOT_CONFIG_MAP_KEY) or "")
    in_map = _certificates(data.encode())
    expected = _certificates(vault_root.pem)
    if not expected:
        return errored(check_id, target, f"Vault's {vault_root.source} is not a PEM certificate")
    if not in_map:
        return failed(
            check_id, target, f"{ROOT_CONFIG_MAP}/{ROOT_CONFIG_MAP_KEY} holds no PEM certificate", _RESTART_HINT
        )
    if expected[0] in in_map:
        return passed(check_id, target, f"holds Vault's root {_describe(expected[0])} from {vault_root.source}")
    return failed(
        check_id,
        target,
        f"holds {_describe(in_map[0])}, not Vault's root {_describe(expected[0])} from {vault_root.source}: "
        "workloads trust a root istiod did not get from Vault (self-signed fallback or a stale cacerts)",
        _RESTART_HINT,
    )


_VAULT_ACCESS_HINT = "set VAULT_ADDR (and VAULT_CACERT for TLS) to compare with Vault; cert/ca needs no token"
_RESTART_HINT = "fix cluster.istiod-ca-log first, then restart istiod so it re-publishes the root"
