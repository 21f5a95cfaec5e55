"""The options several commands share (config, cluster, report format, warn window, Istio release, kubeconfig,
merged CR, skipped checks): one definition each, so every command spells, defaults and documents them alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...generator.config.defaults import WARN_DAYS
from ..checks.reporters import REPORTER_BY_NAME
from .quick import DEFAULT_OUTPUT

if TYPE_CHECKING:  # argparse is imported where a parser is built: `verify chain DIR` runs without it (quick.py)
    import argparse


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        metavar="CONFIG",
        help=(
            "config file (default: ./istio-vault-ca.yaml or ./istio-vault-ca.yml if present, else the built-in "
            "default; both present is refused)"
        ),
    )


def add_cluster(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", metavar="NAME", help="only this cluster of the config (default: all)")


def add_warn_days(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--warn-days",
        type=int,
        default=WARN_DAYS,
        metavar="N",
        help=f"warn when a certificate expires within N days (default: {WARN_DAYS})",
    )


def add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", choices=list(REPORTER_BY_NAME), default=DEFAULT_OUTPUT, help="report format")


def istio_version(text: str) -> object:
    """`--istio-version X.Y`, checked against the releases the chain checks model."""
    import argparse

    from ..checks.chain.versions import parse_version

    try:
        return parse_version(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_istio_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--istio-version",
        type=istio_version,
        metavar="X.Y",
        help="judge the CA files as this istiod release does (default: the newest modelled; "
        "verify cluster reads it from the istiod image)",
    )


def add_kube_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig file (default: KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context (default: the current context)")


def add_merged_cr(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--merged-cr",
        metavar="FILE",
        help="your TSB ControlPlane or IstioOperator as applied (after render --merge-into): istiod's pods must "
        "still carry every env entry and annotation it declares (cluster.istiod-keeps-user-settings)",
    )


def add_skip_check(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-check",
        action="append",
        metavar="ID",
        help="report this Vault check as skipped without its request (repeatable): for a token that must not "
        "read what it reads, e.g. the in-cluster exporter's (vault.kv-key-matches, vault.policy-grants-read)",
    )


def add_fleet_flags(parser: argparse.ArgumentParser) -> None:
    """`verify fleet`: how to reach each cluster (optional: a cluster not reached is a skip saying why) and the
    workload certificate TTL its effective expiry subtracts."""
    parser.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig file (default: KUBECONFIG or ~/.kube/config)")
    parser.add_argument(
        "--context",
        action="append",
        metavar="CLUSTER=CONTEXT",
        help="read cluster CLUSTER through this kubeconfig context (repeatable; default: clusters[].kube_context)",
    )
    parser.add_argument(
        "--workload-cert-ttl",
        metavar="DURATION",
        default="24h",
        help="the TTL of the workload certificates istiod issues (default: 24h, Istio's)",
    )
