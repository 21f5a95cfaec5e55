"""Running the `vault.*` checks of the registry: Vault-wide ones once, the per-cluster ones for each cluster.

A check with `needs=("cluster",)` reads one cluster's paths and runs once per cluster on a `ClusterVaultState`;
the others describe Vault itself and run once, first. Within each group the registry's order is the report order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from ....generator.config.model import Config
from ....generator.config.plan import ClusterPlan
from ....generator.errors import VaultApiError
from ...clients.vault import VaultApi
from ..registry import Check, checks_in
from ..result import CheckResult, errored, skipped
from .policy_hcl import rendered_policies
from .state import ClusterVaultState, VaultState


def check_vault(
    api: VaultApi,
    config: Config,
    clusters: tuple[ClusterPlan, ...],
    *,
    warn_days: int = 30,
    now: dt.datetime | None = None,
    config_source: str | None = None,
    given_up: frozenset[str] = frozenset(),
) -> list[CheckResult]:
    """Every Vault check: Vault-wide ones once, the rest per cluster. Raises VaultUnavailable (exit 3).

    `config_source` is the config file's path: root.certificate_file is relative to it. `given_up` names checks
    the token is not meant to be able to run (the in-cluster exporter's role reads no key): each is reported
    `skip` without a request, since its 403 would otherwise end the whole run."""
    moment = now or dt.datetime.now(dt.timezone.utc)
    state = VaultState(api, config, warn_days, moment, rendered_policies(config), clusters, config_source)
    specs = list(checks_in("vault"))
    results = [_guarded(spec, state, given_up) for spec in specs if "cluster" not in spec.needs]
    fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
    for cluster in clusters:
        per_cluster = ClusterVaultState(**fields, cluster=cluster)
        results += [_guarded(spec, per_cluster, given_up) for spec in specs if "cluster" in spec.needs]
    return results


def _guarded(spec: Check, state: VaultState, given_up: frozenset[str] = frozenset()) -> CheckResult:
    """One failing request or odd answer is that check's error, not the end of the run.

    Not `registry.run_one`: a `VaultUnavailable` (sealed, 403, unreachable) raised mid-run must reach the CLI
    as exit 3, and `run_one` would report it as this check's error."""
    if spec.id in given_up:
        return skipped(spec.id, state.target, "given up: the token is not meant to read what this check reads")
    try:
        return spec.function(state)
    except VaultApiError as error:
        return errored(spec.id, state.target, str(error), "see the Vault server log for this request")
    except (ValueError, KeyError, TypeError) as error:
        return errored(spec.id, state.target, f"unexpected answer from Vault: {type(error).__name__}")
