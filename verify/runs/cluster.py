"""The run of `verify cluster` (and what `verify all` and the pytest-testinfra suite share with it), with the exit
codes of `verify vault`.

Collect, judge, report: every input is read first (Run), then one API client and one Vault client collect the
whole state (checks/cluster/collect.py: the objects, the logs, each istiod pod's CA files and image release), the
judge runs once on it (checks/cluster/runner.py `run`), and the report takes its rows and the state's facts.

0 no check failed, 1 a check failed, 2 usage or config error (kubeconfig included), 3 the API server or Vault
unreachable, refusing TLS, or answering 401/403. Heavy modules are imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ...generator.config.cafiles import ROOT_CERT
from ...generator.errors import UsageError
from .common import check_warn_days, load_plans_and_source, open_vault

if TYPE_CHECKING:
    from ...generator.config.model import Config
    from ...generator.config.plan import CaFile, ClusterPlan
    from ..checks.chain.versions import IstioVersion
    from ..checks.cluster import ClusterState, VaultRoot
    from ..checks.cluster.state import MergedCr
    from ..checks.result import CheckResult, Report
    from ..checks.rotation_seen import RotationSeen


@dataclass(frozen=True)
class ClusterRequest:
    """`verify cluster` and `verify all`: the config's one cluster this kubeconfig context reaches, and how to
    judge it (`skip_checks`: the Vault checks `verify all` leaves to a token that may not run them)."""

    config: str | None
    cluster: str | None
    warn_days: int
    istio_version: IstioVersion | None = None
    kubeconfig: str | None = None
    context: str | None = None
    merged_cr: str | None = None
    skip_checks: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class PodRequest:
    """The pytest-testinfra suite's kubectl:// host: the one istiod pod it names, in the cluster its kubeconfig and
    context reach, judged as `verify cluster` judges it (the suite has loaded the config's plan already)."""

    plan: ClusterPlan
    pod: str
    warn_days: int
    kubeconfig: str | None = None
    context: str | None = None


class Run:
    """One run's config, its cluster's plan and the report being filled, timed from the start of the run."""

    def __init__(self, request: ClusterRequest) -> None:
        import time

        from ..checks.result import Report

        self.started, self._clock = time.time(), time.monotonic()
        check_warn_days(request.warn_days)
        self.config, plans, self.source = load_plans_and_source(request.config, request.cluster)
        if len(plans) > 1:
            names = ", ".join(p.name for p in plans)
            raise UsageError(
                f"the config names {len(plans)} clusters ({names}): pick the one this kubeconfig context reaches "
                "with --cluster NAME"
            )
        self.plan = plans[0]
        self.report = Report()
        self.report.facts.clusters = (self.plan.name,)
        self.report.facts.config = self.source
        self.report.facts.warn_days = request.warn_days
        # Every input is read before any network work: a bad --merged-cr is refused before Vault is asked.
        self.merged_cr = merged_cr(request.merged_cr, self.plan)

    def done(self, code: int) -> tuple[Report, int]:
        import time

        self.report.facts.started, self.report.facts.duration = self.started, time.monotonic() - self._clock
        return self.report, code


def cluster_report(request: ClusterRequest) -> tuple[Report, int]:
    """The report of `verify cluster` and its exit code (what `serve cluster` runs on each interval): every input
    read (Run), one API client and one Vault client, the whole state collected, judged once, reported."""
    from ..checks.cluster import collect
    from ..clients.kube import connect

    run = Run(request)
    kube = connect(request.kubeconfig, request.context)
    root, rotation = vault_side(run.config, run.plan)
    state = collect(kube, run.plan, merged_cr=run.merged_cr)
    run.report.facts.reachable["kubernetes"] = True
    cluster_part(state, run.plan, root, rotation, run.report, request)
    return run.done(run.report.exit_code())


def pod_results(request: PodRequest) -> tuple[list[CheckResult], bool]:
    """The rows of one pod: the state `verify cluster` collects, narrowed to that pod (its files read as `verify
    cluster` reads them, its image's release), judged by the same `run` with the same Vault root and rotation
    (`vault_side`); and whether the pod was there. When it was not, or the API server could not be asked (an
    error row, and Vault is not asked), the rows hold no pod files: the suite reads them through its own host."""
    from ...generator.errors import KubeAccessError, KubeConfigProblem
    from ..checks.cluster import collect, run
    from ..checks.result import errored
    from ..clients.kube import connect

    plan = request.plan
    try:
        state = collect(connect(request.kubeconfig, request.context), plan, only_pod=request.pod)
    except (KubeAccessError, KubeConfigProblem) as error:
        return [errored("cluster.namespace-exists", "api-server", str(error), error.hint)], False
    root, rotation = vault_side(plan.config, plan)
    return run(state, plan, root, rotation, warn_days=request.warn_days), bool(state.pods)


def merged_cr(source: str | None, plan: ClusterPlan) -> MergedCr | None:
    """`--merged-cr FILE` read as the user's ControlPlane / IstioOperator declarations (None without the flag)."""
    from pathlib import Path

    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from ...generator.errors import FileRefused
    from ..checks.cluster.user_settings import read_merged_cr
    from ..clients.files import read_bounded

    if not source:
        return None
    try:
        text = read_bounded(Path(source), limit=4 * 1024 * 1024).decode("utf-8")
        documents = list(YAML(typ="safe", pure=True).load_all(text))
    except (FileRefused, OSError, UnicodeDecodeError, YAMLError) as error:
        raise UsageError(f"--merged-cr {source}: cannot be read ({error})") from None
    found = [m for d in documents if (m := read_merged_cr(source, d, plan.config.istiod.operator_name))]
    if len(found) != 1:
        raise UsageError(f"--merged-cr {source}: holds {len(found)} ControlPlane / IstioOperator documents, not one")
    return found[0]


def cluster_part(
    state: ClusterState,
    plan: ClusterPlan,
    root: VaultRoot,
    rotation: RotationSeen | None,
    report: Report,
    request: ClusterRequest,
) -> None:
    """The judge's rows on the collected state (checks/cluster/runner.py `run`: cluster.*, then each pod's files
    as pod.* and chain.*), and the facts the state holds: what each istiod log says it loaded, the certificates in
    each pod's files (source `pod`)."""
    from ..checks.cluster import DISCOVERY, run
    from ..checks.cluster.ca_log import ca_source
    from ..checks.facts import IstiodCaFact

    report.extend(run(state, plan, root, rotation, warn_days=request.warn_days, istio_version=request.istio_version))
    for pod in state.pods:
        log = pod.logs.get(DISCOVERY)
        if log is not None and log.text is not None:
            report.facts.istiod_ca.append(IstiodCaFact(pod.target, plan.name, ca_source(log.text)))
        if pod.ca_files is not None and (files := pod.ca_files.files) is not None:
            report.facts.add_certificates(files.values, source="pod", target=files.target, cluster=plan.name)


def root_file(plan: ClusterPlan) -> CaFile:
    return next(f for f in plan.ca_files() if f.name == ROOT_CERT)


def vault_side(config: Config, plan: ClusterPlan) -> tuple[VaultRoot, RotationSeen | None]:
    """What `verify cluster` needs from Vault, over one client: Vault's root for the ConfigMap comparison and,
    when Vault answered with it, the root rotation under way (verify/rotation/root.py). Without Vault the run
    carries on: the root check skips, and the rest judges as outside a rotation."""
    from ...generator.errors import VaultApiError, VaultUnavailable
    from ..checks.cluster import VaultRoot
    from ..checks.vault import template_value
    from ..rotation.root import seen_rotation

    ca_file = root_file(plan)
    try:
        api = open_vault(config)
        source = f"{api.address} {ca_file.secret_path}"
        pem = template_value(api.read(ca_file.secret_path), ca_file.data_keys)
    except (VaultUnavailable, VaultApiError) as error:
        return VaultRoot(None, ca_file.secret_path, str(error)), None
    if not pem:
        return VaultRoot(None, source, f"{source} holds no certificate"), None
    try:
        rotation = seen_rotation(api, config)
    except (VaultUnavailable, VaultApiError):
        rotation = None
    return VaultRoot(pem, source), rotation
