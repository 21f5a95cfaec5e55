"""Options and fixtures of the suite, as a pytest plugin (`-p istio_vault_ca.verify.testinfra_suite.plugin`).

A plugin rather than only a conftest because pytest reads command-line options only from plugins and from the
conftest files next to the paths it was given; `--pyargs` users give a module name, not a path. Without the
plugin flag the same settings come from the environment: IVC_CONFIG, IVC_CLUSTER, IVC_WARN_DAYS.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ...generator.config.plan import ClusterPlan
    from ..checks.chain.versions import IstioVersion
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
        default=int(os.environ.get("IVC_WARN_DAYS", "30")),
        help="warn when a certificate expires within N days (default: $IVC_WARN_DAYS or 30)",
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
    """Every result for this host: the in-pod file checks, plus the cluster checks for a kubectl:// host.

    A kubectl:// host is judged as `verify cluster` judges its pod: the files as the istiod release of the pod's
    image loads them, and the cluster checks knowing the root rotation under way. Another backend has no pod
    object to read the release from, so its files are judged as the newest modelled release loads them."""
    from ...generator.errors import PodFilesError
    from ..checks.cluster import pod_file_checks
    from ..checks.result import errored
    from ..clients.podfiles import read_ca_files

    warn_days = int(_option(request.config, "--ivc-warn-days", "IVC_WARN_DAYS") or 30)
    ca_dir = ivc_plan.config.istiod.ca_dir
    cluster_results: list[CheckResult] = []
    version: IstioVersion | None = None
    if getattr(host.backend, "NAME", "") == "kubectl":
        cluster_results, version = _cluster_results(host.backend, ivc_plan)
    try:
        files = read_ca_files(host, ca_dir)
        results = pod_file_checks(files, ivc_plan, warn_days=warn_days, version=version)
    except PodFilesError as error:
        results = [errored("pod.ca-files-present", ca_dir, f"cannot read the files: {error}", error.hint)]
    return results + cluster_results


def _cluster_results(backend: Any, plan: ClusterPlan) -> tuple[list[CheckResult], IstioVersion | None]:
    """The cluster checks on this pod's cluster, with what `verify cluster` gives them (verify/runs/cluster.py:
    Vault's root, the rotation seen when Vault answered), and the Istio release of the pod's image."""
    from ...generator.errors import KubeAccessError, KubeConfigProblem
    from ..checks.cluster import collect, run
    from ..checks.result import errored
    from ..clients.kube import connect
    from ..runs.cluster import istiod_version, vault_side

    try:
        state = collect(connect(backend.kubeconfig, backend.context), plan)
    except (KubeAccessError, KubeConfigProblem) as error:
        return [errored("cluster.namespace-exists", "api-server", str(error), getattr(error, "hint", ""))], None
    state = replace(state, pods=tuple(pod for pod in state.pods if pod.name == backend.name))
    root, rotation = vault_side(plan.config, plan)  # as cluster_report asks
    version = next((found for pod in state.pods if (found := istiod_version(pod)) is not None), None)
    return run(state, plan, root, rotation), version
