"""Checks that istiod in a live cluster really runs on the Vault CA, each with a stable id (`cluster.*`, `pod.*`).

The source document's troubleshooting is "read three logs by hand"; its worst failure is silent (istiod starts
on a self-signed CA when the files are not where it looks). Every check here names a cause and a fix.

`collect()` reads the cluster once into a `ClusterState`, each istiod pod's CA files and image release included;
the checks are pure functions of a view over it, registered in `checks.registry`, and `run()`, the judge, runs them
all on it. Modules by job: `state` (the state and small readers),
`collect`, `workload` (namespace, service account, Deployment), `webhook` (the injector), `agent` (agent-log
diagnosis), `pods`, `user_settings` (the user's CR kept, with --merged-cr), `ca_log` (istiod's log),
`root_configmap`, `ztunnel` (ambient clusters), `pod_files` (files inside the pod), `runner`.
"""

from __future__ import annotations

# Import order is report order: the registry lists a family's checks in the order they were registered.
# isort: off
from . import workload
from . import webhook
from . import pods
from . import user_settings
from . import ca_log
from . import root_configmap
from . import ztunnel
from . import pod_files

# isort: on
from .agent import AgentContext, AgentDiagnosis, diagnose_agent_log
from .ca_log import CA_FAILURES, PLUGGED_IN, SELF_SIGNED, istiod_ca_log
from .collect import collect, image_release, read_pod_ca_files
from .pod_files import (
    PodFilesView,
    ca_file_modes,
    ca_files_present,
    pod_file_checks,
    pod_file_results,
)
from .pods import (
    agent_init_succeeded,
    agent_sidecar_running,
    discovery_ready,
    pod_injected,
    pods_found,
)
from .root_configmap import root_configmap_matches_vault
from .runner import cluster_check_ids, pod_file_check_ids, run
from .state import (
    DISCOVERY,
    INIT_CONTAINER,
    ROOT_CONFIG_MAP,
    SIDECAR,
    CaFilesRead,
    ClusterState,
    ClusterView,
    ConfigMapView,
    LogRead,
    PodState,
    PodView,
    RootConfigMap,
    VaultRoot,
    ZtunnelRead,
    container_status,
    dig,
    discovery_container,
)
from .webhook import InjectorWebhook, injector_webhook, selector_matches
from .workload import (
    annotations_match,
    deployment_exists,
    deployment_service_account,
    namespace_exists,
    root_ca_dir_matches_volume_path,
    service_account_exists,
)

# Every id `run` can report for the cluster and for a pod's files (besides chain.*), for the pytest-testinfra suite
# (one test per id) and the docs.
CLUSTER_CHECK_IDS = cluster_check_ids()
POD_FILE_CHECK_IDS = pod_file_check_ids()

__all__ = [
    "CA_FAILURES",
    "CLUSTER_CHECK_IDS",
    "DISCOVERY",
    "INIT_CONTAINER",
    "PLUGGED_IN",
    "POD_FILE_CHECK_IDS",
    "ROOT_CONFIG_MAP",
    "SELF_SIGNED",
    "SIDECAR",
    "AgentContext",
    "AgentDiagnosis",
    "CaFilesRead",
    "ClusterState",
    "ClusterView",
    "ConfigMapView",
    "InjectorWebhook",
    "LogRead",
    "PodFilesView",
    "PodState",
    "PodView",
    "RootConfigMap",
    "VaultRoot",
    "ZtunnelRead",
    "agent_init_succeeded",
    "agent_sidecar_running",
    "annotations_match",
    "ca_file_modes",
    "ca_files_present",
    "ca_log",
    "collect",
    "container_status",
    "deployment_exists",
    "deployment_service_account",
    "diagnose_agent_log",
    "dig",
    "discovery_container",
    "discovery_ready",
    "image_release",
    "injector_webhook",
    "istiod_ca_log",
    "namespace_exists",
    "pod_file_checks",
    "pod_file_results",
    "pod_files",
    "pod_injected",
    "pods",
    "pods_found",
    "read_pod_ca_files",
    "root_ca_dir_matches_volume_path",
    "root_configmap",
    "root_configmap_matches_vault",
    "run",
    "selector_matches",
    "service_account_exists",
    "user_settings",
    "webhook",
    "workload",
    "ztunnel",
]
