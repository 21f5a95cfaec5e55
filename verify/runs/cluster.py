"""The run of `verify cluster` (and what `verify all` shares with it), with the exit codes of `verify vault`.

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
    from ..checks.cluster import ClusterState, PodState, VaultRoot
    from ..checks.cluster.state import MergedCr
    from ..checks.result import CheckResult, Report
    from ..checks.rotation_seen import RotationSeen
    from ..clients.kube import KubeTarget


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
    """The report of `verify cluster` and its exit code (what `serve cluster` runs on each interval)."""
    from ..checks.cluster import collect
    from ..clients.kube import connect

    run = Run(request)
    kube = connect(request.kubeconfig, request.context)
    root, rotation = vault_side(run.config, run.plan)
    state = collect(kube, run.plan)
    run.report.facts.reachable["kubernetes"] = True
    cluster_part(state, run.plan, root, rotation, kube.target, run.report, request, run.merged_cr)
    return run.done(run.report.exit_code())


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
    target: KubeTarget,
    report: Report,
    request: ClusterRequest,
    cr: MergedCr | None = None,
) -> None:
    """cluster.* checks, pod.* and chain.* on each pod's files, and what each istiod log says it loaded; during a
    root rotation the checks that compare roots and annotations know its phase. `cr`: the `--merged-cr` the run
    read before it went to the network."""
    from ..checks.cluster import DISCOVERY, run
    from ..checks.cluster.ca_log import ca_source
    from ..checks.facts import IstiodCaFact

    if cr is not None:
        from dataclasses import replace

        state = replace(state, merged_cr=cr)
    report.extend(run(state, plan, root, rotation))
    for pod in state.pods:
        log = pod.logs.get(DISCOVERY)
        if log is not None and log.text is not None:
            report.facts.istiod_ca.append(IstiodCaFact(pod.target, plan.name, ca_source(log.text)))
        report.extend(
            pod_file_results(
                pod, plan, target, warn_days=request.warn_days, version=request.istio_version, report=report
            )
        )


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


def istiod_version(pod: PodState) -> IstioVersion | None:
    """The Istio release of the pod's discovery container, from its image tag (`pilot:1.24.3-distroless`)."""
    from ..checks.chain import parse_version
    from ..checks.cluster import DISCOVERY, dig

    for container in dig(pod.obj, "spec", "containers") or []:
        if container.get("name") == DISCOVERY:
            image = str(container.get("image", ""))
            tag = image.rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]
            try:
                return parse_version(tag)
            except ValueError:
                return None
    return None


def pod_file_results(
    pod: PodState,
    plan: ClusterPlan,
    target: KubeTarget,
    *,
    warn_days: int,
    version: IstioVersion | None = None,
    report: Report | None = None,
) -> list[CheckResult]:
    """The four files as istiod sees them, read with kubectl exec through testinfra, then checked as the istiod
    release of the pod's image loads them (`--istio-version` overrides; an unknown tag means the newest).
    With `report`, their certificates' expiries go into its facts (source `pod`)."""
    from ...generator.config.injectors import from_pod
    from ...generator.errors import PodFilesError
    from ..checks.cluster import DISCOVERY, container_status, dig, pod_file_checks
    from ..checks.result import errored, skipped
    from ..clients.podfiles import get_host, host_url, read_ca_files

    ca_dir = plan.config.istiod.ca_dir
    where = f"{pod.target}:{ca_dir}"
    if dig(container_status(pod.obj, DISCOVERY), "state", "running") is None:
        return [skipped("pod.ca-files-present", where, "discovery is not running, so there is nothing to exec into")]
    containers = [DISCOVERY]
    sidecar = from_pod(pod.obj).sidecar  # vault-agent, or openbao-agent for openbao-k8s
    if dig(container_status(pod.obj, sidecar), "state", "running") is not None:
        containers.append(sidecar)  # same vault-secrets volume; has a shell when istiod's image is distroless
    problem: PodFilesError | None = None
    for container in containers:
        url = host_url(pod.name, pod.namespace, container, kubeconfig=target.kubeconfig, context=target.context)
        try:
            files = read_ca_files(get_host(url), ca_dir, target=where)
        except PodFilesError as error:
            problem = error
            if error.no_shell:
                continue
            break
        if report is not None:
            report.facts.add_certificates(files.values, source="pod", target=files.target, cluster=plan.name)
        return pod_file_checks(files, plan, warn_days=warn_days, version=version or istiod_version(pod))
    assert problem is not None
    return [errored("pod.ca-files-present", where, f"cannot read the files: {problem}", problem.hint)]
