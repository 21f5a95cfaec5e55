"""The run of `verify vault`: the vault.* checks on every selected cluster, one Vault client per namespace."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .common import (
    add_vault_certificates,
    by_namespace,
    check_warn_days,
    given_up_checks,
    load_plans_and_source,
    open_vault,
)

if TYPE_CHECKING:
    from ..checks.result import Report


@dataclass(frozen=True)
class VaultRequest:
    """`verify vault`: the config and cluster to check, and the checks the token is not meant to run."""

    config: str | None
    cluster: str | None
    warn_days: int
    skip_checks: frozenset[str] = field(default_factory=frozenset)


def vault_report(request: VaultRequest) -> tuple[Report, int]:
    """The report of `verify vault` and its exit code; VaultUnavailable (exit 3) propagates."""
    from ..checks.result import Report
    from ..checks.vault import check_vault

    started, clock = time.time(), time.monotonic()
    check_warn_days(request.warn_days)
    given_up = given_up_checks(request.skip_checks)
    config, plans, source = load_plans_and_source(request.config, request.cluster)
    report = Report()
    report.facts.warn_days = request.warn_days
    report.facts.config = source
    for namespace, members in by_namespace(plans):
        api = open_vault(config, namespace)
        report.extend(
            check_vault(api, config, members, warn_days=request.warn_days, config_source=source, given_up=given_up)
        )
        add_vault_certificates(api, members, report)
    report.facts.reachable["vault"] = True
    report.facts.clusters = tuple(p.name for p in plans)
    report.facts.started, report.facts.duration = started, time.monotonic() - clock
    return report, report.exit_code()
