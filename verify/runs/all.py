"""The run of `verify all`: chain (from the pod and from Vault), vault and cluster checks in one report.

It reports every part it can reach: a missing Vault or API server is an `error` row in the report (every format),
the other parts still run, and the run exits 3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .cluster import ClusterRequest, Run, cluster_part, root_file
from .common import add_vault_certificates, given_up_checks, open_vault

if TYPE_CHECKING:
    from ...generator.config.model import Config
    from ...generator.config.plan import ClusterPlan
    from ..checks.cluster import VaultRoot
    from ..checks.result import Report
    from ..checks.rotation_seen import RotationSeen
    from ..clients.vault import VaultApi


def all_report(request: ClusterRequest) -> tuple[Report, int]:
    """The report of `verify all` and its exit code (3 when Vault or the API server was unreachable)."""
    from ...generator.errors import EXIT_UNREACHABLE, KubeAccessError, KubeConfigProblem, VaultUnavailable
    from ..checks.cluster import VaultRoot, collect
    from ..checks.result import errored
    from ..clients.kube import connect

    run = Run(request)
    config, plan, report = run.config, run.plan, run.report
    unreachable = False
    address = config.vault.address  # the address the client really uses (VAULT_ADDR wins) once it is made
    try:
        api = open_vault(config)
        address = api.address
        api.health()
        root, rotation = _vault_part(api, config, plan, report, request)
        report.facts.reachable["vault"] = True
    except VaultUnavailable as error:
        unreachable = True
        report.facts.reachable["vault"] = False
        report.extend([errored("vault.reachable", address, str(error), error.hint)])
        # Vault did not answer: its root is not asked for again (the root check skips, saying why).
        root, rotation = VaultRoot(None, root_file(plan).secret_path, str(error)), None
    try:
        kube = connect(request.kubeconfig, request.context)
        state = collect(kube, plan, merged_cr=run.merged_cr)
    except (KubeConfigProblem, KubeAccessError) as error:
        report.facts.reachable["kubernetes"] = False
        hint = error.hint or "pass --kubeconfig/--context for the cluster istiod runs in"
        report.extend([errored("cluster.api-reachable", request.context or "kubeconfig", str(error), hint)])
        return run.done(EXIT_UNREACHABLE)
    report.facts.reachable["kubernetes"] = True
    cluster_part(state, plan, root, rotation, report, request)
    return run.done(EXIT_UNREACHABLE if unreachable else report.exit_code())


def _vault_part(
    api: VaultApi, config: Config, plan: ClusterPlan, report: Report, request: ClusterRequest
) -> tuple[VaultRoot, RotationSeen | None]:
    """vault.* checks and chain.* on the values read from Vault as the agent templates read them (during a root
    rotation as the phase-(b) overlay's agent reads them: root-cert.pem from the trust bundle), and the rotation.

    With `--skip-check vault.kv-key-matches` (a token that must not read the key, as the in-cluster exporter's)
    the key is not read at all, so the chain checks on Vault's values are left out: the pod's files, which
    istiod really reads, are still judged by the same checks."""
    from ..checks.chain import DEFAULT, check_values
    from ..checks.cluster import VaultRoot
    from ..checks.vault import check_vault, template_value
    from ..rotation.root import ca_values, seen_rotation

    given_up = given_up_checks(request.skip_checks)
    warn_days, version = request.warn_days, request.istio_version
    report.extend(check_vault(api, config, (plan,), warn_days=warn_days, given_up=given_up))
    add_vault_certificates(api, (plan,), report)
    rotation = seen_rotation(api, config)
    ca_file = root_file(plan)
    source = f"{api.address} {ca_file.secret_path}"
    root_pem = template_value(api.read(ca_file.secret_path), ca_file.data_keys)
    root = VaultRoot(root_pem, source) if root_pem else VaultRoot(None, source, f"{source} holds no certificate")
    if "vault.kv-key-matches" in given_up:
        return root, rotation
    values, labels = ca_values(api, plan, rotation)
    target = f"{api.address} (cluster {plan.name})"
    report.extend(
        check_values(
            values,
            target=target,
            labels=labels,
            warn_days=warn_days,
            version=version or DEFAULT,
            data_plane=plan.data_plane,
        )
    )
    return root, rotation
