"""Handlers of `verify chain` and `verify vault`: run the checks, emit the report, return its exit code.

Errors are raised (generator/errors.py) and turned into messages and exit codes by the CLI's `main` alone.
Heavy modules (cryptography, hvac, pydantic) are imported inside the handlers so `--help` stays fast.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from ...generator.config.model import Config
    from ...generator.config.plan import ClusterPlan
    from ..checks.chain.versions import IstioVersion
    from ..checks.facts import CertificateFact
    from ..checks.result import CheckResult, Report
    from ..clients.vault import VaultApi
    from ..root_rotation import RotationSeen

from ...generator.errors import UsageError


def load_plans(args: argparse.Namespace) -> tuple[Config, tuple[ClusterPlan, ...]]:
    """The config and the selected clusters' plans; UsageError for anything a person must fix first."""
    config, plans, _ = load_plans_and_source(args)
    return config, plans


def load_plans_and_source(args: argparse.Namespace) -> tuple[Config, tuple[ClusterPlan, ...], str]:
    """As `load_plans`, plus where the config came from (root.certificate_file is relative to it). The source is
    also kept on `args.config_source`, so the error document of a run that stops later (Vault unreachable) still
    names the config the run was judging against."""
    from ...generator.config.loader import load
    from ...generator.config.plan import plan, select

    loaded = load(args.config)
    args.config_source = loaded.source
    try:
        return loaded.config, select(plan(loaded.config), args.cluster), loaded.source
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


def _check_warn_days(args: argparse.Namespace) -> None:
    if args.warn_days < 0:
        raise UsageError(f"--warn-days must be 0 or more, not {args.warn_days}")


def _finish(report: Report, output: str, *, fleet: bool = False) -> int:
    from ..checks.reporters import emit

    emit(report, output, collapse_passing_targets=fleet)
    return report.exit_code()


def given_up_checks(args: argparse.Namespace) -> frozenset[str]:
    """`--skip-check ID`: Vault checks the token is not meant to run (the in-cluster exporter's role)."""
    from ..checks.registry import REGISTRY

    wanted = frozenset(getattr(args, "skip_check", None) or ())
    unknown = sorted(check_id for check_id in wanted if REGISTRY.get(check_id) is None)
    if unknown:
        raise UsageError(f"--skip-check: no such check {', '.join(unknown)} (README lists every check id)")
    return wanted


def chain(args: argparse.Namespace) -> int:
    """verify chain DIR... [--from-vault -c CONFIG [--cluster NAME]]"""
    report, _ = chain_report(args)
    return _finish(report, args.output, fleet=len(args.dirs) > 1)


def chain_report(args: argparse.Namespace) -> tuple[Report, int]:
    """The report of `verify chain` and its exit code (also what `serve chain` runs on each interval)."""
    from ..checks.chain import DEFAULT
    from ..checks.result import Report

    # Imported before the clock starts: the duration is the checks', not the imports'.
    started, clock = time.time(), time.monotonic()
    _check_warn_days(args)
    if not args.dirs and not args.from_vault:
        raise UsageError(
            "name at least one DIR holding the four CA files, or use --from-vault -c CONFIG to read them from Vault"
        )
    directories = [path_text(d) for d in args.dirs]
    not_dirs = [d for d in directories if not os.path.isdir(d)]
    if not_dirs:
        raise UsageError(f"not a directory: {', '.join(not_dirs)} (pass directories holding the four CA files)")
    version = args.istio_version or DEFAULT
    report = Report()
    # Certificate facts feed only the Prometheus output (`serve`, which has no --output, and --output prometheus).
    with_facts = getattr(args, "output", "prometheus") == "prometheus"
    for results, facts in _check_dirs(directories, args.warn_days, version, with_facts=with_facts):
        report.extend(results)
        report.facts.certificates.extend(facts)
    if args.from_vault:
        from ..root_rotation import seen_rotation

        config, plans = load_plans(args)
        report.facts.config = args.config_source
        report.facts.clusters = tuple(p.name for p in plans)
        surveyed, rotation = False, None
        for namespace, members in by_namespace(plans):
            api = open_vault(config, namespace)
            api.health()
            report.facts.reachable["vault"] = True
            if not surveyed:  # the trust bundle and the root mount are the config's, read once
                surveyed, rotation = True, seen_rotation(open_vault(config), config)
            for cluster in members:
                _chain_from_vault(api, cluster, report, args.warn_days, version, rotation)
    report.facts.started, report.facts.duration = started, time.monotonic() - clock
    return report, report.exit_code()


def _chain_from_vault(
    api: VaultApi,
    cluster: ClusterPlan,
    report: Report,
    warn_days: int,
    version: IstioVersion,
    rotation: RotationSeen | None = None,
) -> None:
    """`verify chain --from-vault`: one cluster's four values as its agent reads them; during a root rotation as
    the phase-(b) overlay's agent reads them (root-cert.pem from the trust bundle)."""
    from ..checks.chain import check_values
    from ..root_rotation import ca_values

    values, labels = ca_values(api, cluster, rotation)
    target = f"{api.address} (cluster {cluster.name})"
    report.extend(check_values(values, target=target, labels=labels, warn_days=warn_days, version=version))
    report.facts.add_certificates(values, source="vault", target=target, cluster=cluster.name)


def path_text(path: str) -> str:
    """A directory argument as `pathlib.PurePosixPath` spells it, the target name reports use: repeated slashes, a
    trailing slash and "." parts dropped ("./ca//a/" is "ca/a"), ".." kept. (pathlib itself is not imported: it
    is a noticeable part of `verify chain`'s start-up.)"""
    root = "//" if path.startswith("//") and not path.startswith("///") else "/" if path.startswith("/") else ""
    return root + "/".join(part for part in path.split("/") if part and part != ".") or "."


DirAnswer = tuple[list["CheckResult"], list["CertificateFact"]]


def _check_one_dir(directory: str, warn_days: int, version: IstioVersion, *, with_facts: bool = True) -> DirAnswer:
    """One directory's results and (`with_facts`) the facts of its certificates (never the key: only these cross
    processes)."""
    from ..checks.chain import check_values, read_dir
    from ..checks.facts import certificate_facts

    values, key_mode = read_dir(directory)
    results = check_values(values, target=directory, key_mode=key_mode, warn_days=warn_days, version=version)
    facts = certificate_facts(values, source="files", target=directory) if results and with_facts else []
    return results, facts


def _check_dirs(
    directories: list[str], warn_days: int, version: IstioVersion, *, with_facts: bool = True
) -> list[DirAnswer]:
    """Each directory's results and certificate facts, in the given order. Several directories are checked on
    every core, this process and a forked child per other core (verify/cli/forked.py): the checks are Python as
    much as signatures, and threads would share one GIL."""
    import functools

    one = functools.partial(_check_one_dir, warn_days=warn_days, version=version, with_facts=with_facts)
    cores = os.cpu_count() or 1
    if len(directories) < 2 or cores < 2:
        return [one(directory) for directory in directories]
    import threading

    if threading.active_count() > 1:  # `serve` runs this beside its HTTP threads: forking it is not safe
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(directories), cores)) as pool:
            return list(pool.map(one, directories))
    from .forked import forked_map

    return forked_map(one, directories, cores, encode=_encode, decode=_decode)


def _encode(answer: DirAnswer) -> object:
    results, facts = answer
    # Plain str, not the Status enum (a str subclass, which marshal refuses).
    return [(r.id, r.status.value, r.target, r.finding, r.hint) for r in results], [tuple(fact) for fact in facts]


def _decode(encoded: object) -> DirAnswer:
    from ..checks.facts import CertificateFact
    from ..checks.result import CheckResult, Status

    results: list[tuple[str, str, str, str, str]]
    facts: list[tuple[str, str, str, str, int, str, float]]
    results, facts = encoded  # type: ignore[misc]
    return (
        [CheckResult(check_id, Status(status), *rest) for check_id, status, *rest in results],
        [CertificateFact(*fact) for fact in facts],
    )


def vault(args: argparse.Namespace) -> int:
    """verify vault -c CONFIG [--cluster NAME]"""
    report, _ = vault_report(args)
    return _finish(report, args.output)


def vault_report(args: argparse.Namespace) -> tuple[Report, int]:
    """The report of `verify vault` and its exit code; VaultUnavailable (exit 3) propagates."""
    from ..checks.result import Report
    from ..checks.vault import check_vault

    started, clock = time.time(), time.monotonic()
    _check_warn_days(args)
    given_up = given_up_checks(args)
    config, plans, source = load_plans_and_source(args)
    report = Report()
    report.facts.config = source
    for namespace, members in by_namespace(plans):
        api = open_vault(config, namespace)
        report.extend(
            check_vault(api, config, members, warn_days=args.warn_days, config_source=source, given_up=given_up)
        )
        add_vault_certificates(api, members, report)
    report.facts.reachable["vault"] = True
    report.facts.clusters = tuple(p.name for p in plans)
    report.facts.started, report.facts.duration = started, time.monotonic() - clock
    return report, report.exit_code()


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
