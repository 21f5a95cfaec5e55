"""Running the `vault.*` checks of the registry: Vault-wide ones once, the per-cluster ones for each cluster.

A check with `needs=("cluster",)` reads one cluster's paths and runs once per cluster on a `ClusterVaultState`;
the others describe Vault itself and run once, first. Within each group the registry's order is the report order.
Each runs through `registry.run_one`, the exception policy every runner shares, in Vault's words (`VAULT_WORDING`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from ....generator.config.defaults import WARN_DAYS
from ....generator.config.model import Config
from ....generator.config.plan import ClusterPlan
from ...clients.vault import VaultApi
from ..registry import Check, Wording, checks_in, run_one
from ..result import CheckResult
from .policy_hcl import rendered_policies
from .state import ClusterVaultState, VaultState


def check_vault(
    api: VaultApi,
    config: Config,
    clusters: tuple[ClusterPlan, ...],
    *,
    warn_days: int = WARN_DAYS,
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
    results = [_run(spec, state, given_up) for spec in specs if "cluster" not in spec.needs]
    fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
    for cluster in clusters:
        per_cluster = ClusterVaultState(**fields, cluster=cluster)
        results += [_run(spec, per_cluster, given_up) for spec in specs if "cluster" in spec.needs]
    return results


# A failed request (a 400 or 500, VaultApiError) is explained in the server's log; an answer of another shape than
# the check expects is named by its exception type only, since its message could quote what Vault sent.
VAULT_WORDING = Wording(
    read_failed_hint="see the Vault server log for this request", unexpected="unexpected answer from Vault"
)


def _run(spec: Check, state: VaultState, given_up: frozenset[str]) -> CheckResult:
    return run_one(spec, state, given_up=given_up, wording=VAULT_WORDING)
