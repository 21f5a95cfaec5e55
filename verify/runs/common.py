"""What every run shares: the config's plans, a Vault client per namespace, and the checks' common refusals.

Heavy modules (pydantic, hvac) are imported inside the functions, so a run module costs nothing to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...generator.errors import UsageError

if TYPE_CHECKING:
    from ...generator.config.model import Config
    from ...generator.config.plan import ClusterPlan
    from ..checks.result import Report
    from ..clients.vault import VaultApi


def load_plans(config_path: str | None, cluster: str | None) -> tuple[Config, tuple[ClusterPlan, ...]]:
    """The config and the selected clusters' plans; UsageError for anything a person must fix first."""
    config, plans, _ = load_plans_and_source(config_path, cluster)
    return config, plans


def load_plans_and_source(config_path: str | None, cluster: str | None) -> tuple[Config, tuple[ClusterPlan, ...], str]:
    """As `load_plans`, plus where the config came from (root.certificate_file is relative to it)."""
    from ...generator.config.loader import load
    from ...generator.config.plan import plan, select

    loaded = load(config_path)
    try:
        return loaded.config, select(plan(loaded.config), cluster), loaded.source
    except LookupError as error:
        raise UsageError(str(error.args[0]) if error.args else str(error)) from None


def open_vault(config: Config, namespace: str | None = None) -> VaultApi:
    """A Vault client from the environment, defaulting VAULT_ADDR to the config's vault.address. The namespace is
    the one given (a cluster's), else vault.namespace; the config wins over VAULT_NAMESPACE, as in the scripts."""
    from dataclasses import replace

    from ..clients.vault import VaultApi, settings_from_env

    settings = settings_from_env(config.vault.address)
    if namespace or config.vault.namespace:
        settings = replace(settings, namespace=namespace or config.vault.namespace)
    return VaultApi(settings)


def by_namespace(plans: tuple[ClusterPlan, ...]) -> list[tuple[str | None, tuple[ClusterPlan, ...]]]:
    """The clusters grouped by their Vault namespace, in config order: one client per namespace."""
    groups: dict[str | None, list[ClusterPlan]] = {}
    for cluster in plans:
        groups.setdefault(cluster.namespace, []).append(cluster)
    return [(namespace, tuple(members)) for namespace, members in groups.items()]


# The longest window or TTL a date can be moved by: 100 years. A CA lives years, not millennia, and the checks
# add these to real dates, which past year 9999 (or before year 1) raise OverflowError instead of judging.
MAX_DAYS = 36500


def check_warn_days(warn_days: int) -> None:
    """`--warn-days N` of every verify target and plan-rotation: 0 to MAX_DAYS, refused (exit 2) before any
    date arithmetic, so an absurd N is a usage error with a document, not a traceback or an error row."""
    if warn_days < 0:
        raise UsageError(f"--warn-days must be 0 or more, not {warn_days}")
    if warn_days > MAX_DAYS:
        raise UsageError(f"--warn-days must be at most {MAX_DAYS} (100 years), not {warn_days}")


def check_workload_ttl(seconds: int, given: str | None = None) -> None:
    """`--workload-cert-ttl` (verify fleet, plan-rotation): more than 0 and at most MAX_DAYS, for the same reason
    as check_warn_days: the effective expiry subtracts it from a notAfter."""
    text = given if given is not None else f"{seconds}s"
    if seconds <= 0:
        raise UsageError(f"--workload-cert-ttl must be more than 0s, not {text}")
    if seconds > MAX_DAYS * 86400:
        raise UsageError(f"--workload-cert-ttl must be at most {MAX_DAYS * 24}h (100 years), not {text}")


def given_up_checks(skip_checks: frozenset[str]) -> frozenset[str]:
    """`--skip-check ID`: Vault checks the token is not meant to run (the in-cluster exporter's role)."""
    from ..checks.registry import REGISTRY

    unknown = sorted(check_id for check_id in skip_checks if REGISTRY.get(check_id) is None)
    if unknown:
        raise UsageError(
            f"--skip-check: no such check {', '.join(unknown)} (docs/reference/checks.md lists every check id)"
        )
    return skip_checks


def add_vault_certificates(api: VaultApi, plans: tuple[ClusterPlan, ...], report: Report) -> None:
    """The intermediate, chain and root as Vault holds them, for the expiry metrics. Only the certificate paths
    are read (the checks read them already, so the cache answers): never the KV path holding the key."""
    from ...generator.config.cafiles import CA_KEY
    from ...generator.errors import VaultApiError
    from ..checks.vault import template_value

    for cluster in plans:
        values: dict[str, bytes | None] = {}
        for ca_file in cluster.ca_files():
            if ca_file.name == CA_KEY:
                continue
            try:
                values[ca_file.name] = template_value(api.read(ca_file.secret_path), ca_file.data_keys)
            except VaultApiError:
                values[ca_file.name] = None  # that check already reports the failed read
        target = f"{api.address} (cluster {cluster.name})"
        report.facts.add_certificates(values, source="vault", target=target, cluster=cluster.name)
