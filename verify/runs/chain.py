"""The run of `verify chain`: the checks on CA directories or on the values read from Vault, as one report.

Errors are raised (generator/errors.py) and turned into messages and exit codes by the CLI's `main` alone.
Heavy modules (cryptography, hvac, pydantic) are imported inside the functions so `--help` stays fast.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ...generator.config.plan import ClusterPlan
    from ..checks.chain.versions import IstioVersion
    from ..checks.facts import CertificateFact
    from ..checks.result import CheckResult, Report
    from ..checks.rotation_seen import RotationSeen
    from ..clients.vault import VaultApi

from ...generator.errors import UsageError
from .common import by_namespace, check_warn_days, load_plans, load_plans_and_source, open_vault


@dataclass(frozen=True)
class ChainRequest:
    """`verify chain`: the directories to read, or (`from_vault`) the config's clusters to read from Vault."""

    dirs: tuple[str, ...]
    warn_days: int
    istio_version: IstioVersion | None = None
    from_vault: bool = False
    config: str | None = None
    cluster: str | None = None
    # Certificate facts feed the Prometheus output and the HTML report's diagram and timeline.
    with_facts: bool = True
    # `--data-plane`: how the DIRs (and the clusters read from Vault) are judged; None: the config's, else sidecar.
    data_plane: str | None = None


def chain_report(request: ChainRequest) -> tuple[Report, int]:
    """The report of `verify chain` and its exit code (also what `serve chain` runs on each interval)."""
    from ..checks.chain import DEFAULT
    from ..checks.result import Report

    # Imported before the clock starts: the duration is the checks', not the imports'.
    started, clock = time.time(), time.monotonic()
    check_warn_days(request.warn_days)
    if not request.dirs and not request.from_vault:
        raise UsageError(
            "name at least one DIR holding the four CA files, or use --from-vault -c CONFIG to read them from Vault"
        )
    directories = [path_text(d) for d in request.dirs]
    not_dirs = [d for d in directories if not os.path.isdir(d)]
    if not_dirs:
        raise UsageError(f"not a directory: {', '.join(not_dirs)} (pass directories holding the four CA files)")
    version = request.istio_version or DEFAULT
    report = Report()
    report.facts.warn_days = request.warn_days
    flag = request.data_plane
    dirs_plane = flag or (_dirs_data_plane(request) if directories else "sidecar")
    answers = _check_dirs(directories, request.warn_days, version, with_facts=request.with_facts, data_plane=dirs_plane)
    for results, facts in answers:
        report.extend(results)
        report.facts.certificates.extend(facts)
    ambient: list[tuple[str, Mapping[str, bytes | None]]] = []
    if dirs_plane == "ambient":
        from ..checks.chain import read_dir

        ambient += [(directory, read_dir(directory)[0]) for directory in directories]
    if request.from_vault:
        from ..rotation.root import seen_rotation

        config, plans, source = load_plans_and_source(request.config, request.cluster)
        report.facts.config = source
        report.facts.clusters = tuple(p.name for p in plans)
        surveyed, rotation = False, None
        for namespace, members in by_namespace(plans):
            api = open_vault(config, namespace)
            api.health()
            report.facts.reachable["vault"] = True
            if not surveyed:  # the trust bundle and the root mount are the config's, read once
                surveyed, rotation = True, seen_rotation(open_vault(config), config)
            for cluster in members:
                plane = flag or cluster.data_plane
                values = _chain_from_vault(api, cluster, report, request.warn_days, version, rotation, plane)
                if plane == "ambient":
                    ambient.append((f"{api.address} (cluster {cluster.name})", values))
    if len(ambient) > 1:
        from ..checks.chain.ztunnel import shared_root

        report.extend([shared_root(ambient, version=version)])
    report.facts.started, report.facts.duration = started, time.monotonic() - clock
    return report, report.exit_code()


def _dirs_data_plane(request: ChainRequest) -> str:
    """The data plane DIRs are judged for without --data-plane: the config's when -c is given (the selected
    clusters', which must agree), else sidecar; without -c no config is read, as before."""
    if request.config is None:
        return "sidecar"
    _, plans = load_plans(request.config, request.cluster)
    planes = sorted({p.data_plane for p in plans})
    if len(planes) > 1:
        names = ", ".join(f"{p.name} ({p.data_plane})" for p in plans)
        raise UsageError(
            f"the config's clusters run different data planes ({names}): name one with --cluster, or pass "
            "--data-plane, to say how the DIRs are judged"
        )
    return planes[0]


def _chain_from_vault(
    api: VaultApi,
    cluster: ClusterPlan,
    report: Report,
    warn_days: int,
    version: IstioVersion,
    rotation: RotationSeen | None = None,
    data_plane: str = "sidecar",
) -> Mapping[str, bytes | None]:
    """`verify chain --from-vault`: one cluster's four values as its agent reads them; during a root rotation as
    the phase-(b) overlay's agent reads them (root-cert.pem from the trust bundle). Returns the values read."""
    from ..checks.chain import check_values
    from ..rotation.root import ca_values

    values, labels = ca_values(api, cluster, rotation)
    target = f"{api.address} (cluster {cluster.name})"
    report.extend(
        check_values(values, target=target, labels=labels, warn_days=warn_days, version=version, data_plane=data_plane)
    )
    report.facts.add_certificates(values, source="vault", target=target, cluster=cluster.name)
    return values


def path_text(path: str) -> str:
    """A directory argument as `pathlib.PurePosixPath` spells it, the target name reports use: repeated slashes, a
    trailing slash and "." parts dropped ("./ca//a/" is "ca/a"), ".." kept. (pathlib itself is not imported: it
    is a noticeable part of `verify chain`'s start-up.)"""
    root = "//" if path.startswith("//") and not path.startswith("///") else "/" if path.startswith("/") else ""
    return root + "/".join(part for part in path.split("/") if part and part != ".") or "."


DirAnswer = tuple[list["CheckResult"], list["CertificateFact"]]


def _check_one_dir(
    directory: str, warn_days: int, version: IstioVersion, *, with_facts: bool = True, data_plane: str = "sidecar"
) -> DirAnswer:
    """One directory's results and (`with_facts`) the facts of its certificates (never the key: only these cross
    processes)."""
    from ..checks.chain import check_values, read_dir
    from ..checks.facts import certificate_facts

    values, key_mode = read_dir(directory)
    results = check_values(
        values, target=directory, key_mode=key_mode, warn_days=warn_days, version=version, data_plane=data_plane
    )
    facts = certificate_facts(values, source="files", target=directory) if results and with_facts else []
    return results, facts


def _check_dirs(
    directories: list[str],
    warn_days: int,
    version: IstioVersion,
    *,
    with_facts: bool = True,
    data_plane: str = "sidecar",
) -> list[DirAnswer]:
    """Each directory's results and certificate facts, in the given order. Several directories are checked on
    every core, this process and a forked child per other core (verify/runs/forked.py): the checks are Python as
    much as signatures, and threads would share one GIL."""
    import functools

    one = functools.partial(
        _check_one_dir, warn_days=warn_days, version=version, with_facts=with_facts, data_plane=data_plane
    )
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
    facts: list[tuple[str, str, str, str, int, str, float, float, str, str, str]]
    results, facts = encoded  # type: ignore[misc]
    return (
        [CheckResult(check_id, Status(status), *rest) for check_id, status, *rest in results],
        [CertificateFact(*fact) for fact in facts],
    )
