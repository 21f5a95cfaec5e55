"""istiod runs on the Vault intermediate CA: one test per check id, against each `--hosts` host.

The checks are the same functions `istio-vault-ca verify cluster` runs. A `local://` host checks the files in
the config's `istiod.ca_dir` on this machine; a `kubectl://POD?namespace=NS&container=discovery` host reads them
inside the pod and also runs the cluster checks for that pod (API access from the same kubeconfig/context).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import pytest

from istio_vault_ca.verify.checks.chain import CHECK_IDS
from istio_vault_ca.verify.checks.cluster import CLUSTER_CHECK_IDS, POD_FILE_CHECK_IDS

if TYPE_CHECKING:
    from istio_vault_ca.verify.checks.result import CheckResult

CHAIN_CHECK_IDS = CHECK_IDS


def _judge(check_id: str, results: list[CheckResult]) -> None:
    """Fail on fail/error, warn on warn, skip when the check did not apply, pass otherwise."""
    mine = [r for r in results if r.id == check_id]
    bad = [r for r in mine if r.failed]
    if bad:
        pytest.fail("\n".join(f"{r.target}: {r.finding}" + (f"\n  -> {r.hint}" if r.hint else "") for r in bad))
    for result in mine:
        if result.status.value == "warn":
            warnings.warn(f"{check_id} {result.target}: {result.finding} ({result.hint})", stacklevel=1)
    if not mine or all(r.status.value == "skip" for r in mine):
        pytest.skip("; ".join(r.finding for r in mine) or "not applicable to this host")


@pytest.mark.parametrize("check_id", POD_FILE_CHECK_IDS + CHAIN_CHECK_IDS)
def test_ca_files(check_id: str, ivc_results: list[CheckResult]) -> None:
    _judge(check_id, ivc_results)


@pytest.mark.parametrize("check_id", CLUSTER_CHECK_IDS)
def test_cluster(check_id: str, ivc_results: list[CheckResult]) -> None:
    _judge(check_id, ivc_results)
