"""Handlers of `verify chain|vault|cluster|all`: build the run's request from the command line, run it (verify/
runs/), emit the report, return its exit code. `serve` builds the same requests from its own arguments.

Errors are raised (generator/errors.py) and turned into messages and exit codes by the CLI's `main` alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from ..checks.result import Report
    from ..runs.chain import ChainRequest
    from ..runs.cluster import ClusterRequest
    from ..runs.fleet import FleetRequest
    from ..runs.vault import VaultRequest


def _skip_checks(args: argparse.Namespace) -> frozenset[str]:
    return frozenset(getattr(args, "skip_check", None) or ())


def chain_request(args: argparse.Namespace) -> ChainRequest:
    """`verify chain`'s arguments (an argparse namespace, or quick.py's equal one) as a run request."""
    from ..runs.chain import ChainRequest

    return ChainRequest(
        dirs=tuple(args.dirs),
        warn_days=args.warn_days,
        istio_version=args.istio_version,
        from_vault=bool(args.from_vault),
        config=getattr(args, "config", None),
        cluster=getattr(args, "cluster", None),
        # Certificate facts feed the Prometheus output (`serve`, which has no --output, and --output prometheus)
        # and the HTML report's diagram and timeline.
        with_facts=getattr(args, "output", "prometheus") in ("prometheus", "html"),
        data_plane=getattr(args, "data_plane", None),
    )


def vault_request(args: argparse.Namespace) -> VaultRequest:
    from ..runs.vault import VaultRequest

    return VaultRequest(
        config=args.config, cluster=args.cluster, warn_days=args.warn_days, skip_checks=_skip_checks(args)
    )


def cluster_request(args: argparse.Namespace) -> ClusterRequest:
    """`verify cluster`'s and `verify all`'s arguments as a run request (the flags one of them lacks are None)."""
    from ..runs.cluster import ClusterRequest

    return ClusterRequest(
        config=args.config,
        cluster=args.cluster,
        warn_days=args.warn_days,
        istio_version=getattr(args, "istio_version", None),
        kubeconfig=getattr(args, "kubeconfig", None),
        context=getattr(args, "context", None),
        merged_cr=getattr(args, "merged_cr", None),
        skip_checks=_skip_checks(args),
    )


def fleet_request(args: argparse.Namespace) -> FleetRequest:
    """`verify fleet`'s arguments as a run request: `--context NAME=CONTEXT` pairs, the workload TTL in seconds."""
    from ...generator.config.durations import parse_duration
    from ...generator.errors import UsageError
    from ..runs.common import check_workload_ttl
    from ..runs.fleet import FleetRequest

    text = getattr(args, "workload_cert_ttl", None) or DEFAULT_WORKLOAD_CERT_TTL
    try:
        ttl = parse_duration(text)
    except ValueError as error:
        raise UsageError(f"--workload-cert-ttl {text!r}: {error}") from None
    check_workload_ttl(ttl, text)  # here, where the text the user typed is known (the run checks seconds again)
    pairs: list[tuple[str, str]] = []
    for given in getattr(args, "context", None) or ():
        name, sep, context = str(given).partition("=")
        if not sep or not name or not context:
            raise UsageError(f"--context {given!r}: give CLUSTER=CONTEXT (the config's cluster name, a kube context)")
        pairs.append((name, context))
    return FleetRequest(
        config=args.config,
        warn_days=args.warn_days,
        workload_ttl=ttl,
        kubeconfig=getattr(args, "kubeconfig", None),
        contexts=tuple(pairs),
    )


# Istio's default workload certificate TTL (DEFAULT_WORKLOAD_CERT_TTL in istio-agent): 24 hours.
DEFAULT_WORKLOAD_CERT_TTL = "24h"


def _note_config(args: argparse.Namespace) -> None:
    """Keep on `args` the config the run is about to judge against, so the error document of a run that stops
    later (Vault unreachable) still names it (cli/failure.py). A config that cannot be resolved is left to the run,
    which raises its error."""
    from ...generator.config.loader import config_source
    from ...generator.errors import IvcError

    try:
        args.config_source = config_source(getattr(args, "config", None))
    except IvcError:
        args.config_source = None


def chain_report(args: argparse.Namespace) -> tuple[Report, int]:
    from ..runs.chain import chain_report as run

    if getattr(args, "from_vault", False):  # `verify chain DIR` reads no config
        _note_config(args)
    return run(chain_request(args))


def vault_report(args: argparse.Namespace) -> tuple[Report, int]:
    from ..runs.vault import vault_report as run

    _note_config(args)
    return run(vault_request(args))


def cluster_report(args: argparse.Namespace) -> tuple[Report, int]:
    from ..runs.cluster import cluster_report as run

    _note_config(args)
    return run(cluster_request(args))


def all_report(args: argparse.Namespace) -> tuple[Report, int]:
    from ..runs.all import all_report as run

    _note_config(args)
    return run(cluster_request(args))


def fleet_report(args: argparse.Namespace) -> tuple[Report, int]:
    from ..runs.fleet import fleet_report as run

    _note_config(args)
    return run(fleet_request(args))


def _emit(report: Report, code: int, output: str, *, fleet: bool = False) -> int:
    from ..checks.reporters import emit

    emit(report, output, collapse_passing_targets=fleet)
    return code


def chain(args: argparse.Namespace) -> int:
    """verify chain DIR... [--from-vault -c CONFIG [--cluster NAME]]"""
    return _emit(*chain_report(args), args.output, fleet=len(args.dirs) > 1)


def vault(args: argparse.Namespace) -> int:
    """verify vault -c CONFIG [--cluster NAME]"""
    return _emit(*vault_report(args), args.output)


def cluster(args: argparse.Namespace) -> int:
    """verify cluster -c CONFIG [--cluster NAME] [--kubeconfig F] [--context C]"""
    return _emit(*cluster_report(args), args.output)


def all_checks(args: argparse.Namespace) -> int:
    """verify all: chain (from the pod and from Vault), vault and cluster checks in one report."""
    return _emit(*all_report(args), args.output)


def fleet(args: argparse.Namespace) -> int:
    """verify fleet -c CONFIG [--context CLUSTER=CONTEXT]... [--workload-cert-ttl 24h]: the fleet as a whole."""
    # Every row listed, passing ones too: fleet.expires-first is the fleet's one date and always passes (info).
    return _emit(*fleet_report(args), args.output)
