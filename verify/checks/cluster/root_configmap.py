"""The root istiod hands every workload (the `istio-ca-root-cert` ConfigMap) must be Vault's root.

Anything else means istiod signs with another CA (a self-signed fallback or a stale `cacerts`), whatever its log
says; the ConfigMap is read in istiod's namespace and in one sampled workload namespace. During a root rotation
(the trust bundle in KV, verify/rotation/root.py) the expected roots are the bundle's, judged by its phase.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..rotation_seen import RotationSeen

from ..registry import Tier, check
from ..result import CheckResult, errored, failed, passed, skipped, warned
from .state import ROOT_CONFIG_MAP, ROOT_CONFIG_MAP_KEY, ConfigMapView, dig


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
    """The root istiod hands every workload must be Vault's root (during a root rotation, the trust bundle's roots,
    judged by the phase); anything else means istiod signs elsewhere."""
    check_id, target = "cluster.root-configmap-matches-vault", view.target
    config_map, vault_root = view.config_map, view.vault_root
    if vault_root.pem is None and view.rotation is None:
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
    if view.rotation is not None:
        return _during_rotation(check_id, target, in_map, view.rotation)
    assert vault_root.pem is not None
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


def _during_rotation(check_id: str, target: str, in_map: list[Any], rotation: RotationSeen) -> CheckResult:
    """The ConfigMap against the trust bundle's roots. Short of them before (c) (the bundle on its way: phase (b)
    waits for it) or still holding the old root after (d) (istiod not restarted or reloaded yet) is a warning;
    without a root that signs intermediates from (c) on, or with a root the bundle does not hold, a failure."""
    from cryptography.hazmat.primitives.serialization import Encoding

    roots = rotation.roots
    want = {cert.public_bytes(Encoding.DER) for cert in roots}
    found = {cert.public_bytes(Encoding.DER) for cert in in_map}
    where = f"the {len(roots)} root(s) of the trust bundle at {rotation.source}"
    if not in_map:
        return failed(
            check_id, target, f"{ROOT_CONFIG_MAP}/{ROOT_CONFIG_MAP_KEY} holds no PEM certificate", _RESTART_HINT
        )
    if found == want:
        return passed(check_id, target, f"holds exactly {where} ({rotation.words})")
    stray = [cert for cert in in_map if cert.public_bytes(Encoding.DER) not in want]
    lacking = [cert for cert in roots if cert.public_bytes(Encoding.DER) not in found]
    held = f"holds {len(in_map)} certificate(s), {len(in_map) - len(stray)} of {where}"
    if stray and (lacking or rotation.phase != "done"):
        return failed(
            check_id,
            target,
            f"{held}, and {_describe(stray[0])}, which the bundle does not hold ({rotation.words}): workloads "
            "trust a root istiod did not get from Vault",
            _RESTART_HINT,
        )
    if stray:
        return warned(
            check_id,
            target,
            f"{held}, and {_describe(stray[0])}, which the bundle no longer holds ({rotation.words}): istiod "
            "has not published the new root only yet",
            "istiod 1.20+ with ISTIO_MULTIROOT_MESH=true takes the changed root-cert.pem itself; restart istiod on "
            "1.12-1.19",
        )
    if rotation.phase in ("c", "d"):
        return failed(
            check_id,
            target,
            f"{held}; it lacks {_describe(lacking[0])} ({rotation.words}): workloads that trust only these "
            "roots reject every certificate istiod issues under a re-issued intermediate (mTLS outage)",
            "deliver the bundle (plan-rotation --root phase (b): the overlay, then restart istiod) before going on",
        )
    return warned(
        check_id,
        target,
        f"{held}; it lacks {_describe(lacking[0])} ({rotation.words}): the bundle has not reached it yet",
        "apply the phase-(b) overlay and restart istiod, then confirm: istio-vault-ca plan-rotation --root "
        f"--confirm-bundle-from-cluster {target.split('/')[1]}",
    )


_VAULT_ACCESS_HINT = "set VAULT_ADDR (and VAULT_CACERT for TLS) to compare with Vault; cert/ca needs no token"
_RESTART_HINT = "fix cluster.istiod-ca-log first, then restart istiod so it re-publishes the root"
