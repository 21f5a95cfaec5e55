"""The collected cluster state and the small readers every cluster check shares.

`collect()` reads the cluster once into a `ClusterState` of API-shaped dicts, each istiod pod with its CA files as
read inside it and its image's Istio release; the checks are pure functions of a view over that state
(`ClusterView`, `PodView`, `ConfigMapView`, and `pod_files.PodFilesView` for the files), so the CLI, the
pytest-testinfra suite and the tests share them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ....generator.config.injectors import INJECTORS, VAULT_K8S

if TYPE_CHECKING:
    from ....generator.config.plan import ClusterPlan
    from ...clients.podfiles import PodFiles
    from ..chain.versions import IstioVersion
    from ..rotation_seen import RotationSeen

JSON = dict[str, Any]

# vault-k8s's names (the default injector); a Pod's own injector is `injectors.from_pod` (openbao-k8s names
# differ: generator/config/injectors.py).
DEFAULT_SECRET_VOLUME_PATH = VAULT_K8S.default_volume_path  # when the annotation is absent
INIT_CONTAINER = VAULT_K8S.init_container
SIDECAR = VAULT_K8S.sidecar
DISCOVERY = "discovery"
ROOT_CONFIG_MAP = "istio-ca-root-cert"
ROOT_CONFIG_MAP_KEY = "root-cert.pem"
INJECTOR_WEBHOOKS = frozenset(i.webhook for i in INJECTORS.values())
INJECTOR_CONFIG_SUFFIX = "-agent-injector-cfg"
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})


# ---------------------------------------------------------------------- state


@dataclass(frozen=True)
class LogRead:
    """One container's log head, or why it could not be read."""

    text: str | None
    problem: str = ""


@dataclass(frozen=True)
class CaFilesRead:
    """istiod's four CA files as collect read them inside its pod (kubectl exec), or why not: `files` when read,
    else `problem` (with `hint`) when the read failed, else neither: discovery was not running, so there was
    nothing to exec into. The judge turns each case into the `pod.*` and `chain.*` rows."""

    where: str  # pod/NS/NAME:CA_DIR, the target of the rows
    files: PodFiles | None = None
    problem: str = ""
    hint: str = ""


@dataclass(frozen=True)
class PodState:
    obj: JSON
    logs: Mapping[str, LogRead] = field(default_factory=dict)
    # The tail of a container's log when its head (`logs`) was cut at the read limit; absent when the head is
    # the whole log. What istiod logged since it started (a CA reload) is at the end.
    recent: Mapping[str, LogRead] = field(default_factory=dict)
    # The CA files read inside the pod; None when they were not read (a state built without them), and then the
    # judge has no pod-file rows for this pod.
    ca_files: CaFilesRead | None = None
    # The Istio release of the discovery container's image tag, which the files are judged as; None when the tag
    # names none (a digest, `latest`): then the newest modelled release.
    release: IstioVersion | None = None

    def latest(self, container: str) -> LogRead | None:
        """The end of the container's log: its tail when the head was cut, else the (whole) head."""
        return self.recent.get(container) or self.logs.get(container)

    @property
    def name(self) -> str:
        return str(dig(self.obj, "metadata", "name") or "?")

    @property
    def namespace(self) -> str:
        return str(dig(self.obj, "metadata", "namespace") or "?")

    @property
    def target(self) -> str:
        return f"pod/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class RootConfigMap:
    namespace: str
    obj: JSON | None
    why_sampled: str


@dataclass(frozen=True)
class VaultRoot:
    """Vault's root certificate as the agent template reads it, or why we could not read it."""

    pem: bytes | None
    source: str
    problem: str = ""


@dataclass(frozen=True)
class MergedCr:
    """What the user's CR declares for istiod (`--merged-cr`, read by user_settings.read_merged_cr): env names,
    pod annotations, and the patches that drop others."""

    source: str
    kind: str
    env: frozenset[str] = frozenset()
    annotations: frozenset[str] = frozenset()
    clobbers: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class ClusterState:
    namespace: str
    namespace_obj: JSON | None
    service_account: JSON | None
    deployment: JSON | None
    pods: tuple[PodState, ...] = ()
    webhooks: tuple[JSON, ...] = ()
    root_config_maps: tuple[RootConfigMap, ...] = ()
    workload_namespace_problem: str = ""
    # `verify cluster --merged-cr FILE`: what the user's CR declares for istiod (user_settings).
    merged_cr: MergedCr | None = None
    # Ambient clusters only (plan.data_plane): the ztunnel DaemonSet as read (None: absent or not readable).
    ztunnel: ZtunnelRead | None = None


@dataclass(frozen=True)
class ZtunnelRead:
    """The ztunnel DaemonSet of an ambient cluster, or why it could not be read (`problem`: RBAC, transport)."""

    namespace: str
    name: str
    obj: JSON | None
    problem: str = ""


def dig(obj: Any, *keys: str | int) -> Any:
    """obj[k1][k2]... or None when any step is missing: API objects omit empty fields."""
    for key in keys:
        if isinstance(obj, Mapping) and isinstance(key, str):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and -len(obj) <= key < len(obj):
            obj = obj[key]
        else:
            return None
    return obj


# ---------------------------------------------------------------------- small readers


def container_status(pod: JSON, name: str, *, init: bool = False) -> JSON | None:
    key = "initContainerStatuses" if init else "containerStatuses"
    for status in dig(pod, "status", key) or []:
        if status.get("name") == name:
            return dict(status)
    return None


def started(status: JSON | None) -> bool:
    """The container ran at least once, so it has a log."""
    if status is None:
        return False
    state = status.get("state") or {}
    return bool("running" in state or "terminated" in state or "terminated" in (status.get("lastState") or {}))


def succeeded(status: JSON) -> bool:
    return bool(dig(status, "state", "terminated", "exitCode") == 0)


def containers_of(spec: JSON | None, key: str = "containers") -> list[JSON]:
    return [dict(c) for c in (dig(spec, key) or []) if isinstance(c, Mapping)]


def discovery_container(pod_spec: JSON | None) -> JSON | None:
    """istiod's container is named `discovery` in every chart; fall back to the first container."""
    containers = containers_of(pod_spec)
    named = [c for c in containers if c.get("name") == DISCOVERY]
    return named[0] if named else (containers[0] if containers else None)


def env_value(container: JSON | None, name: str) -> tuple[bool, str | None]:
    """(present, literal value); a valueFrom reference is present with no literal value."""
    for item in dig(container, "env") or []:
        if item.get("name") == name:
            return True, item.get("value") if "valueFrom" not in item else None
    return False, None


def norm(path: str) -> str:
    return posixpath.normpath(path) if path else path


def short(value: str, limit: int = 60) -> str:
    one_line = value.replace("\n", "\\n")
    return repr(one_line if len(one_line) <= limit else one_line[: limit - 1] + "…")


def deployment_target(plan: ClusterPlan) -> str:
    return f"deployment/{plan.config.istiod.namespace}/{plan.config.istiod.deployment}"


def pod_template(state: ClusterState) -> JSON:
    return dig(state.deployment, "spec", "template") or {}


# ---------------------------------------------------------------------- what the checks read


@dataclass(frozen=True)
class ClusterView:
    """The input of every cluster-level check: the collected state, the cluster's plan and Vault's root; during a
    root rotation (the trust bundle in KV), what verify/rotation/root.py reads of it."""

    state: ClusterState
    plan: ClusterPlan
    vault_root: VaultRoot
    rotation: RotationSeen | None = field(default=None, kw_only=True)

    def accepted_plans(self) -> tuple[ClusterPlan, ...]:
        """The plans whose rendered overlay istiod may carry: the render's, and during a root rotation the
        phase-(b) overlay's (root-cert.pem from the trust bundle, ISTIO_MULTIROOT_MESH=true)."""
        if self.rotation is None:
            return (self.plan,)
        from ....generator.render.root_rotation import bundle_plan

        return (self.plan, bundle_plan(self.plan))

    @property
    def namespace_obj(self) -> JSON | None:
        return self.state.namespace_obj

    @property
    def deployment(self) -> JSON | None:
        return self.state.deployment

    @property
    def merged_cr(self) -> MergedCr | None:
        return self.state.merged_cr

    @property
    def pod_listing(self) -> tuple[PodState, ...] | None:
        """The pods, or None when they were never listed (no Deployment to take a selector from)."""
        return self.state.pods if self.state.deployment is not None else None

    @property
    def target(self) -> str:
        return f"namespace/{self.state.namespace}"

    @property
    def ztunnel(self) -> ZtunnelRead | None:
        """Registry `when`: the ztunnel checks report for ambient clusters only (collect reads it for them)."""
        return self.state.ztunnel


@dataclass(frozen=True)
class PodView(ClusterView):
    """The input of a per-pod check (`needs=("pod",)`): one istiod pod of the state."""

    pod: PodState = field(kw_only=True)

    @property
    def target(self) -> str:
        return self.pod.target


@dataclass(frozen=True)
class ConfigMapView(ClusterView):
    """The input of a per-ConfigMap check (`needs=("config_map",)`): one sampled root ConfigMap."""

    config_map: RootConfigMap = field(kw_only=True)

    @property
    def target(self) -> str:
        return f"configmap/{self.config_map.namespace}/{ROOT_CONFIG_MAP}"
