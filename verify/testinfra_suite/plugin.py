"""Options and fixtures of the suite, as a pytest plugin (`-p istio_vault_ca.verify.testinfra_suite.plugin`).

A plugin rather than only a conftest because pytest reads command-line options only from plugins and from the
conftest files next to the paths it was given; `--pyargs` users give a module name, not a path. Without the
plugin flag the same settings come from the environment: IVC_CONFIG, IVC_CLUSTER, IVC_WARN_DAYS.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from ...generator.config.defaults import WARN_DAYS

if TYPE_CHECKING:
    from ...generator.config.plan import ClusterPlan
    from ..checks.result import CheckResult


def pytest_configure(config: pytest.Config) -> None:
    """A DSA key in the pod's files is a finding of ours, not a Python warning in pytest's summary (as on the
    command line: generator/pki/deprecations.py)."""
    from ...generator.pki.deprecations import DSA_DEPRECATION

    config.addinivalue_line("filterwarnings", f"ignore:{DSA_DEPRECATION}:UserWarning")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("istio-vault-ca")
    group.addoption(
        "--ivc-config",
        default=os.environ.get("IVC_CONFIG"),
        help="istio-vault-ca config file (default: $IVC_CONFIG, ./istio-vault-ca.yaml, else the built-in default)",
    )
    group.addoption("--ivc-cluster", default=os.environ.get("IVC_CLUSTER"), help="cluster of the config to check")
    group.addoption(
        "--ivc-warn-days",
        type=int,
        default=int(os.environ.get("IVC_WARN_DAYS", WARN_DAYS)),
        help=f"warn when a certificate expires within N days (default: $IVC_WARN_DAYS or {WARN_DAYS})",
    )


def _option(config: pytest.Config, name: str, env: str) -> Any:
    """The option when the plugin registered it, else the environment variable."""
    return config.getoption(name, default=os.environ.get(env))


@pytest.fixture(scope="session")
def ivc_plan(request: pytest.FixtureRequest) -> ClusterPlan:
    """The plan of the one cluster being checked; a bad config is a usage error, not a failing check."""
    from ...generator.config.loader import load
    from ...generator.config.plan import plan, select
    from ...generator.errors import ConfigError

    try:
        plans = select(
            plan(load(request.config.getoption("--ivc-config")).config), request.config.getoption("--ivc-cluster")
        )
    except (ConfigError, LookupError) as error:
        raise pytest.UsageError(str(error)) from None
    if len(plans) > 1:
        raise pytest.UsageError("the config names several clusters: pick one with --ivc-cluster NAME")
    return plans[0]


@pytest.fixture(scope="module")
def ivc_results(host: Any, ivc_plan: ClusterPlan, request: pytest.FixtureRequest) -> list[CheckResult]:
    """Every result for this host (`host_results`), judged once per test module."""
    warn_days = int(_option(request.config, "--ivc-warn-days", "IVC_WARN_DAYS") or WARN_DAYS)
    return host_results(host, ivc_plan, warn_days=warn_days)


def host_results(host: Any, plan: ClusterPlan, *, warn_days: int) -> list[CheckResult]:
    """The in-pod file checks of a testinfra host, plus the cluster checks for a kubectl:// host.

    A kubectl:// host's pod is judged by `verify cluster`'s own run (verify/runs/cluster.py `pod_results`): the
    state it collects narrowed to this pod (the files read as it reads them, the release of the pod's image),
    with the same Vault root and root rotation, and the same judge, so the two cannot disagree on a pod. Another
    backend, or a pod that run did not find, has no pod object: its files are read through the host and judged
    as the newest modelled release loads them."""
    from ...generator.errors import PodFilesError
    from ..checks.cluster import pod_file_checks
    from ..checks.result import errored
    from ..clients.podfiles import read_ca_files
    from ..runs.cluster import PodRequest, pod_results

    cluster_results: list[CheckResult] = []
    backend = host.backend
    if getattr(backend, "NAME", "") == "kubectl":
        pod = PodRequest(plan, backend.name, warn_days, kubeconfig=backend.kubeconfig, context=backend.context)
        cluster_results, judged = pod_results(pod)
        if judged:
            return cluster_results
    ca_dir = plan.config.istiod.ca_dir
    try:
        results = pod_file_checks(read_ca_files(host, ca_dir), plan, warn_days=warn_days)
    except PodFilesError as error:
        results = [errored("pod.ca-files-present", ca_dir, f"cannot read the files: {error}", error.hint)]
    return results + cluster_results
