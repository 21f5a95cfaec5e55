"""Days left on the intermediate and the root, the one time-dependent Vault check (`warn_days` is on the state)."""

from __future__ import annotations

from ....generator.config.cafiles import CA_CERT, ROOT_CERT
from ..registry import Tier, check
from ..result import CheckResult, failed, passed, skipped, warned
from .state import ClusterVaultState, ca_file


@check("vault.expiry", tier=Tier.ISTIOD_REFUSES, needs=("cluster",))
def expiry(state: ClusterVaultState) -> CheckResult:
    """Days left on the intermediate and the root against --warn-days."""
    cluster = state.cluster
    int_path, _ = ca_file(cluster, CA_CERT)
    root_path, _ = ca_file(cluster, ROOT_CERT)
    check_id = "vault.expiry"
    certs = [(p, c) for p in (int_path, root_path) if (c := state.certificate(p)) is not None]
    if not certs:
        return skipped(check_id, int_path, "no certificate to look at")
    path, soonest = min(certs, key=lambda item: item[1].not_valid_after_utc)
    days = (soonest.not_valid_after_utc - state.now).days
    finding = f"{path} expires first, on {soonest.not_valid_after_utc:%Y-%m-%d} ({days} days)"
    if days < 0:
        return failed(check_id, path, f"{path} expired on {soonest.not_valid_after_utc:%Y-%m-%d}", _ROTATE)
    if days < state.warn_days:
        return warned(check_id, path, f"{finding}, within --warn-days {state.warn_days}", _ROTATE)
    return passed(check_id, path, finding)


_ROTATE = "plan the rotation: istio-vault-ca plan-rotation"
