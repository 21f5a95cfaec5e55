"""Checks of a whole fleet (ids `fleet.*`): every cluster's chain from Vault against every other cluster's trust.

Modules by job: `state` (what the run read: `ClusterSeen`, `FleetState`), `judge` (signing roots, the trust matrix,
the effective expiry: pure arithmetic the metrics and the HTML report share) and `checks` (the registered checks).
"""

from __future__ import annotations

from ..registry import run
from ..result import CheckResult
from . import checks
from .checks import expiry, matrix, roots_by_cluster
from .state import ClusterSeen, FleetState, FleetView, KubeSeen


def check_fleet(fleet: FleetState) -> list[CheckResult]:
    """Every fleet check: each cluster's rows in config order, then the fleet-wide rows."""
    results: list[CheckResult] = []
    for cluster in fleet.clusters:
        results.extend(run("fleet", FleetView(fleet, cluster)))
    results.extend(run("fleet", FleetView(fleet)))
    return results


__all__ = [
    "ClusterSeen",
    "FleetState",
    "FleetView",
    "KubeSeen",
    "check_fleet",
    "checks",
    "expiry",
    "matrix",
    "roots_by_cluster",
]
