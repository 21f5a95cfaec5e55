"""`verify chain`: the four CA files judged exactly as istiod and its peers judge them.

Pipeline: `read_dir` (bytes and the key's mode) -> `bundle.collect` (parsed once, as istiod parses; istiod's own
verification replayed) -> the registered checks (pure functions of the bundle) -> results. Every check is in one
tier (`registry.Tier`): "istiod refuses" (`istiod`), "peers reject" (`peers`), "good practice" or "policy"
(`practice`); docs/explanation/verifier.md lists them, and tests/fidelity compares the verdicts with Istio's own
code built from its Go module.

Private key bytes never reach a finding: key problems are described in fixed words, never by echoing input.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ....generator.config.cafiles import CA_CERT, CA_FILES, CA_KEY, CERT_CHAIN, ROOT_CERT
from ....generator.config.defaults import WARN_DAYS
from .. import registry
from ..pkix import describe_key
from ..result import CheckResult, failed
from . import istiod, peers, pem, practice, roots, ztunnel  # noqa: F401  (registers the checks)
from .bundle import EXTRA_FILES, TLS_CERT, TLS_KEY, Bundle, collect
from .gox509 import issued_by
from .peers import SPIFFE_ID, make_leaf
from .pem import NO_VALUE
from .versions import DEFAULT, IstioVersion, parse_version

if TYPE_CHECKING:  # pathlib is not imported at run time: `verify chain` works on the strings it is given
    from pathlib import Path

    from ...clients.files import DirValues

__all__ = [
    "CA_CERT",
    "CA_FILES",
    "CA_KEY",
    "CERT_CHAIN",
    "CHECK_IDS",
    "DEFAULT",
    "NO_VALUE",
    "ROOT_CERT",
    "SPIFFE_ID",
    "Bundle",
    "IstioVersion",
    "check_dir",
    "check_values",
    "describe_key",
    "issued_by",
    "make_leaf",
    "parse_version",
    "read_dir",
]

CHECK_IDS: tuple[str, ...] = tuple(spec.id for spec in registry.checks_in("chain"))


def read_dir(directory: str | Path) -> tuple[DirValues, int | None]:
    """The CA files' bytes (None when absent; tls.* and ca-crl.pem too) and the key file's permission bits.

    Read bounded (clients/files.py): a FIFO, a device or an oversized file is not read; its reason is in
    `values.refused` and chain.file-present reports it."""
    from ...clients.files import read_ca_dir

    values = read_ca_dir(directory, (*CA_FILES, *EXTRA_FILES))
    key_name = TLS_KEY if values.get(TLS_CERT) is not None else CA_KEY
    try:
        key_mode: int | None = stat.S_IMODE(os.stat(os.path.join(directory, key_name)).st_mode)
    except OSError:
        key_mode = None
    return values, key_mode


def check_dir(
    directory: str | Path,
    *,
    warn_days: int = WARN_DAYS,
    now: dt.datetime | None = None,
    version: IstioVersion = DEFAULT,
    data_plane: str = "sidecar",
) -> list[CheckResult]:
    """Every chain check for one directory; the directory is the target of every result."""
    target = os.fspath(directory)
    if not os.path.isdir(directory):
        return [
            failed(
                "chain.file-present",
                target,
                f"{target} is not a directory",
                "pass the directory that holds ca-cert.pem, ca-key.pem, cert-chain.pem and root-cert.pem",
            )
        ]
    values, key_mode = read_dir(directory)
    return check_values(
        values, target=target, key_mode=key_mode, warn_days=warn_days, now=now, version=version, data_plane=data_plane
    )


def check_values(
    values: Mapping[str, bytes | None],
    *,
    target: str,
    labels: Mapping[str, str] | None = None,
    key_mode: int | None = None,
    warn_days: int = WARN_DAYS,
    now: dt.datetime | None = None,
    version: IstioVersion = DEFAULT,
    data_plane: str = "sidecar",
) -> list[CheckResult]:
    """Every chain check over the values (from files, from Vault or from a pod); `data_plane` "ambient" adds the
    checks that judge them as ztunnel does (ztunnel.py)."""
    refused: Mapping[str, str] = getattr(values, "refused", {})
    bundle = collect(
        values,
        target=target,
        labels=labels,
        warn_days=warn_days,
        now=now,
        version=version,
        key_mode=key_mode,
        refused=refused,
        data_plane=data_plane,
    )
    try:
        return registry.run("chain", bundle, bundle.describe)
    finally:
        # The PEM cache holds file bytes (ca-key.pem's too): it lives for one bundle's checks, never longer.
        pem.blocks.cache_clear()
