"""Handlers of `verify cluster` and `verify all`, with the exit codes of `verify vault`.

0 no check failed, 1 a check failed, 2 usage or config error (kubeconfig included), 3 the API server or Vault
unreachable, refusing TLS, or answering 401/403. Heavy modules are imported inside the handlers.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ...generator.config.cafiles import ROOT_CERT

if TYPE_CHECKING:
    from ...generator.config.model import Config
    from ...generator.config.plan import CaFile, ClusterPlan
    from ..checks.chain.versions import IstioVersion
    from ..checks.cluster import ClusterState, PodState, VaultRoot
    from ..checks.cluster.user_settings import MergedCr
    from ..checks.result import CheckResult, Report
    from ..clients.kube import KubeTarget
    from ..clients.vault import VaultApi
    from ..root_rotation import RotationSeen


def cluster(args: argparse.Namespace) -> int:
    """verify cluster -c CONFIG [--cluster NAME] [--kubeconfig F] [--context C]"""
    return _emit(*cluster_report(args), args.output)


def all_checks(args: argparse.Namespace) -> int:
    """verify all: chain (from the pod and from Vault), vault and cluster checks in one report."""
    return _emit(*all_report(args), args.output)


def _emit(report: Report, code: int, output: str) -> int:
    from ..checks.reporters import emit

    emit(report, output)
    return code


def cluster_report(args: argparse.Namespace) -> tuple[Report, int]:
    """The report of `verify cluster` and its exit code (what `serve cluster` runs on each interval)."""
    return _verify(args, everything=False)


def all_report(args: argparse.Namespace) -> tuple[Report, int]:
    """The report of `verify all` and its exit code (3 when Vault or the API server was unreachable)."""
    return _verify(args, everything=True)


def _verify(args: argparse.Namespace, *, everything: bool) -> tuple[Report, int]:
    import time

    from ...generator.errors import (
        EXIT_UNREACHABLE,
        KubeAccessError,
        KubeConfigProblem,
        UsageError,
        VaultUnavailable,
    )
    from ..checks.cluster import collect
    from ..checks.result import Report, errored
    from ..clients.kube import connect
    from .verify_commands import load_plans, open_vault

    started, clock = time.time(), time.monotonic()
    if args.warn_days < 0:
        raise UsageError(f"--warn-days must be 0 or more, not {args.warn_days}")
    config, plans = load_plans(args)
    if len(plans) > 1:
        names = ", ".join(p.name for p in plans)
        raise UsageError(
            f"the config names {len(plans)} clusters ({names}): pick the one this kubeconfig context reaches "
            "with --cluster NAME"
        )
    plan = plans[0]
    report = Report()
    report.facts.config = args.config_source
    report.facts.clusters = (plan.name,)

    def done(code: int) -> tuple[Report, int]:
        report.facts.started, report.facts.duration = started, time.monotonic() - clock
        return report, code

    if not everything:
        kube = connect(args.kubeconfig, args.context)
        root = vault_root(config, plan)
        rotation = rotation_seen(config) if root.pem is not None else None  # Vault answered: ask it once more
    else:
        # `verify all` reports every part it can reach: a missing Vault or API server is an `error` row in the
        # report (every format), the other parts still run, and the command exits 3.
        unreachable = False
        try:
            api = open_vault(config)
            api.health()
            root, rotation = _vault_part(api, config, plan, report, args)
            report.facts.reachable["vault"] = True
        except VaultUnavailable as error:
            unreachable = True
            report.facts.reachable["vault"] = False
            report.extend([errored("vault.reachable", config.vault.address, str(error), error.hint)])
            root, rotation = vault_root(config, plan), None
        try:
            kube = connect(args.kubeconfig, args.context)
            state = collect(kube, plan)
        except (KubeConfigProblem, KubeAccessError) as error:
            report.facts.reachable["kubernetes"] = False
            hint = error.hint or "pass --kubeconfig/--context for the cluster istiod runs in"
            report.extend([errored("cluster.api-reachable", args.context or "kubeconfig", str(error), hint)])
            return done(EXIT_UNREACHABLE)
        report.facts.reachable["kubernetes"] = True
        _cluster_part(state, plan, root, rotation, kube.target, report, args)
        return done(EXIT_UNREACHABLE if unreachable else report.exit_code())
    state = collect(kube, plan)
    report.facts.reachable["kubernetes"] = True
    _cluster_part(state, plan, root, rotation, kube.target, report, args)
    return done(report.exit_code())


def merged_cr(args: argparse.Namespace, plan: ClusterPlan) -> MergedCr | None:
    """`--merged-cr FILE` read as the user's ControlPlane / IstioOperator declarations (None without the flag)."""
    from pathlib import Path

    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from ...generator.errors import FileRefused, UsageError
    from ..checks.cluster.user_settings import read_merged_cr
    from ..clients.files import read_bounded

    source = getattr(args, "merged_cr", None)
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


def _cluster_part(
    state: ClusterState,
    plan: ClusterPlan,
    root: VaultRoot,
    rotation: RotationSeen | None,
    target: KubeTarget,
    report: Report,
    args: argparse.Namespace,
) -> None:
    """cluster.* checks, pod.* and chain.* on each pod's files, and what each istiod log says it loaded; during a
    root rotation the checks that compare roots and annotations know its phase."""
    from ..checks.cluster import DISCOVERY, run
    from ..checks.cluster.ca_log import ca_source
    from ..checks.facts import IstiodCaFact

    cr = merged_cr(args, plan)
    if cr is not None:
        from dataclasses import replace

        state = replace(state, merged_cr=cr)
    report.extend(run(state, plan, root, rotation))
    for pod in state.pods:
        log = pod.logs.get(DISCOVERY)
        if log is not None and log.text is not None:
            report.facts.istiod_ca.append(IstiodCaFact(pod.target, plan.name, ca_source(log.text)))
        report.extend(
            pod_file_results(pod, plan, target, warn_days=args.warn_days, version=args.istio_version, report=report)
        )


def _vault_part(
    api: VaultApi, config: Config, plan: ClusterPlan, report: Report, args: argparse.Namespace
) -> tuple[VaultRoot, RotationSeen | None]:
    """vault.* checks and chain.* on the values read from Vault as the agent templates read them (during a root
    rotation as the phase-(b) overlay's agent reads them: root-cert.pem from the trust bundle), and the rotation.

    With `--skip-check vault.kv-key-matches` (a token that must not read the key, as the in-cluster exporter's)
    the key is not read at all, so the chain checks on Vault's values are left out: the pod's files, which
    istiod really reads, are still judged by the same checks."""
    from ..checks.chain import DEFAULT, check_values
    from ..checks.cluster import VaultRoot
    from ..checks.vault import check_vault, template_value
    from ..root_rotation import ca_values, seen_rotation
    from .verify_commands import add_vault_certificates, given_up_checks

    given_up = given_up_checks(args)
    warn_days, version = args.warn_days, args.istio_version
    report.extend(check_vault(api, config, (plan,), warn_days=warn_days, given_up=given_up))
    add_vault_certificates(api, (plan,), report)
    rotation = seen_rotation(api, config)
    root_file = _root_file(plan)
    source = f"{api.address} {root_file.secret_path}"
    root_pem = template_value(api.read(root_file.secret_path), root_file.data_keys)
    root = VaultRoot(root_pem, source) if root_pem else VaultRoot(None, source, f"{source} holds no certificate")
    if "vault.kv-key-matches" in given_up:
        return root, rotation
    values, labels = ca_values(api, plan, rotation)
    target = f"{api.address} (cluster {plan.name})"
    report.extend(check_values(values, target=target, labels=labels, warn_days=warn_days, version=version or DEFAULT))
    return root, rotation


def _root_file(plan: ClusterPlan) -> CaFile:
    return next(f for f in plan.ca_files() if f.name == ROOT_CERT)


def vault_root(config: Config, plan: ClusterPlan) -> VaultRoot:
    """Vault's root for the ConfigMap comparison; `verify cluster` carries on (that check skips) without it."""
    from ...generator.errors import VaultApiError, VaultUnavailable
    from ..checks.cluster import VaultRoot
    from ..checks.vault import template_value
    from .verify_commands import open_vault

    ca_file = _root_file(plan)
    try:
        api = open_vault(config)
        source = f"{api.address} {ca_file.secret_path}"
        pem = template_value(api.read(ca_file.secret_path), ca_file.data_keys)
    except (VaultUnavailable, VaultApiError) as error:
        return VaultRoot(None, ca_file.secret_path, str(error))
    if not pem:
        return VaultRoot(None, source, f"{source} holds no certificate")
    return VaultRoot(pem, source)


def rotation_seen(config: Config) -> RotationSeen | None:
    """The root rotation under way (verify/root_rotation.py), None without one or without Vault (`verify cluster`
    then judges as outside a rotation; the root ConfigMap check skips without Vault's root anyway)."""
    from ...generator.errors import VaultApiError, VaultUnavailable
    from ..root_rotation import seen_rotation
    from .verify_commands import open_vault

    try:
        return seen_rotation(open_vault(config), config)
    except (VaultUnavailable, VaultApiError):
        return None


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
