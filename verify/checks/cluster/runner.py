"""The judge of a collected cluster state: the `cluster.*` checks of the registry, in the order reports list them,
then each istiod pod's CA files as collect read them (`pod.*` and `chain.*`, pod_files.pod_file_results).

A check's `needs` say what it reads, and so how often and whether it runs:
- `pod`: once per istiod pod, as a block at the place of the family's first per-pod check;
- `config_map`: once per sampled `istio-ca-root-cert` ConfigMap;
- `namespace_obj` / `deployment`: skipped, naming the missing object, when istiod's namespace or Deployment is
  absent;
- `pod_listing`: left out when the pods were never listed (`cluster.deployment-exists` already says why);
- `when`: left out when that state field is None (`merged_cr`: only with `verify cluster --merged-cr FILE`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry import Check, applies, checks_in, run_one
from ..result import CheckResult, skipped
from .pod_files import pod_file_results
from .state import (
    ROOT_CONFIG_MAP,
    ClusterState,
    ClusterView,
    ConfigMapView,
    PodView,
    VaultRoot,
    deployment_target,
)

if TYPE_CHECKING:
    from ....generator.config.plan import ClusterPlan
    from ..chain.versions import IstioVersion
    from ..rotation_seen import RotationSeen


def run(
    state: ClusterState,
    plan: ClusterPlan,
    vault_root: VaultRoot,
    rotation: RotationSeen | None = None,
    *,
    warn_days: int,
    istio_version: IstioVersion | None = None,
) -> list[CheckResult]:
    """Every row of `verify cluster` from one collected state: the cluster checks (when a prerequisite is missing
    its dependents are skipped with the reason), then per istiod pod its CA files as the release of its image loads
    them (`istio_version` overrides). `rotation`: the root rotation under way (verify/rotation/root.py
    `seen_rotation`), which some checks accept. Pure: every front end that judges a pod calls this one function on
    the state collect returned, so none can judge it differently."""
    results = _cluster_checks(state, plan, vault_root, rotation)
    for pod in state.pods:
        results.extend(pod_file_results(pod, plan, warn_days=warn_days, istio_version=istio_version))
    return results


def _cluster_checks(
    state: ClusterState, plan: ClusterPlan, vault_root: VaultRoot, rotation: RotationSeen | None
) -> list[CheckResult]:
    view = ClusterView(state, plan, vault_root, rotation=rotation)
    specs = [spec for spec in checks_in("cluster") if applies(spec, view)]
    if state.namespace_obj is None:
        # Nothing in the namespace could be read: what needs nothing runs, the rest is skipped after it.
        ran = [run_one(spec, view) for spec in specs if not spec.needs]
        reason, target = f"namespace {state.namespace} does not exist", f"namespace/{state.namespace}"
        return ran + [skipped(spec.id, target, reason) for spec in specs if "namespace_obj" in spec.needs]
    results: list[CheckResult] = []
    per_pod = [spec for spec in specs if "pod" in spec.needs]
    for spec in specs:
        if spec in per_pod:
            if spec is per_pod[0]:
                for pod in state.pods:
                    pod_view = PodView(state, plan, vault_root, rotation=rotation, pod=pod)
                    results.extend(run_one(pod_spec, pod_view) for pod_spec in per_pod)
        elif "config_map" in spec.needs:
            results.extend(_per_config_map(spec, view))
        elif "deployment" in spec.needs and state.deployment is None:
            results.append(skipped(spec.id, deployment_target(plan), "no istiod Deployment"))
        elif "pod_listing" in spec.needs and view.pod_listing is None:
            continue
        else:
            results.append(run_one(spec, view))
    return results


def _per_config_map(spec: Check, view: ClusterView) -> list[CheckResult]:
    """One result per sampled ConfigMap, and a skip naming why no workload namespace was sampled."""
    state = view.state
    results = [
        run_one(spec, ConfigMapView(state, view.plan, view.vault_root, rotation=view.rotation, config_map=config_map))
        for config_map in state.root_config_maps
    ]
    if state.workload_namespace_problem:
        results.append(skipped(spec.id, f"configmap/*/{ROOT_CONFIG_MAP}", state.workload_namespace_problem))
    return results


def cluster_check_ids() -> tuple[str, ...]:
    """Every `cluster.*` id `run` can report, in report order."""
    return tuple(spec.id for spec in checks_in("cluster"))


def pod_file_check_ids() -> tuple[str, ...]:
    """Every `pod.*` id `run` can report for a pod's files (the `chain.*` ones are the chain family's)."""
    return tuple(spec.id for spec in checks_in("pod"))
