"""The two agent injectors the config can name (`vault.injector`), as the names each puts on a Pod.

vault-k8s: hashicorp/vault-k8s v1.6.2 (the module the e2e tier builds): annotation prefix `vault.hashicorp.com/`
(agent-inject/agent/annotations.go, the Annotation* constants), init container `vault-agent-init`
(container_init_sidecar.go `ContainerInitSidecar`), sidecar `vault-agent` (container_sidecar.go
`ContainerSidecar`), the agent config in the env `VAULT_CONFIG` (container_env.go `ContainerEnvVars`), token sink
and pid file under `/home/vault` (config.go `TokenFile`, `PidFile`), the secrets volume at `/vault/secrets`
(container_volume.go `secretVolumePath`), the webhook `vault.hashicorp.com` (deploy/injector-mutating-webhook.yaml).

openbao-k8s: openbao/openbao-k8s on main at 833d341 (August 2026). It has no release of its own: its tags up to
v1.4.0 are vault-k8s's, inherited from the fork (their go.mod still says github.com/hashicorp/vault-k8s), and
inject exactly as vault-k8s does, so a cluster running such a build is configured as `vault-k8s`. After those tags
(commits 8516f00, 0cba1dd and 65c23c1) the same files name: prefix `openbao.org/` (annotations.go), init container
`openbao-agent-init` (container_init_sidecar.go), sidecar `openbao-agent` (container_sidecar.go), env `BAO_CONFIG`
(container_env.go; the container runs `echo ${BAO_CONFIG?} | base64 -d > /home/openbao/config.json && bao agent`,
container_sidecar.go `DefaultContainerArg`), token sink `/home/openbao/.openbao-token` and pid file
`/home/openbao/.pid` (config.go). The secrets volume default stays `/vault/secrets` (container_volume.go
`secretVolumePath`); the JSON key of the server stanza stays `vault` (config.go `Config.Openbao` is tagged
`json:"vault"`). It also injects vault-k8s annotations: agent-inject/handler.go `Handler.Mutate` moves every
`vault.hashicorp.com/<x>` to `openbao.org/<x>` unless that key exists (and, with -rewrite-vault-annotations, its
default, rewrites them so on the Pod). Its webhook keeps the name `vault.hashicorp.com`: the OpenBao chart
(openbao/openbao-helm charts/openbao/templates/injector-mutating-webhook.yaml at d52f690) names it so in
`<release>-agent-injector-cfg`; openbao-k8s's own deploy/injector-mutating-webhook.yaml says `openbao.org`, which
the API server refuses ("should be a domain with at least three segments separated by dots", checked by
tests/e2e/test_openbao_k8s_pod_real.py), so no cluster can hold a webhook of that name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

InjectorName = Literal["vault-k8s", "openbao-k8s"]


@dataclass(frozen=True)
class Injector:
    name: InjectorName
    prefix: str  # every annotation key the injector reads starts with it
    init_container: str
    sidecar: str
    config_env: str  # the init container's env holding the agent config, base64 JSON
    webhook: str  # the webhook's name in its MutatingWebhookConfiguration
    sink_file: str
    pid_file: str
    default_volume_path: str

    @property
    def inject_status(self) -> str:
        """The annotation the injector sets to `injected` on a Pod it mutated (annotations.go AnnotationAgentStatus)."""
        return self.prefix + "agent-inject-status"

    @property
    def secret_volume_path(self) -> str:
        return self.prefix + "secret-volume-path"


VAULT_K8S = Injector(
    name="vault-k8s",
    prefix="vault.hashicorp.com/",
    init_container="vault-agent-init",
    sidecar="vault-agent",
    config_env="VAULT_CONFIG",
    webhook="vault.hashicorp.com",
    sink_file="/home/vault/.vault-token",
    pid_file="/home/vault/.pid",
    default_volume_path="/vault/secrets",
)

OPENBAO_K8S = Injector(
    name="openbao-k8s",
    prefix="openbao.org/",
    init_container="openbao-agent-init",
    sidecar="openbao-agent",
    config_env="BAO_CONFIG",
    webhook="vault.hashicorp.com",
    sink_file="/home/openbao/.openbao-token",
    pid_file="/home/openbao/.pid",
    default_volume_path="/vault/secrets",
)

INJECTORS: dict[str, Injector] = {i.name: i for i in (VAULT_K8S, OPENBAO_K8S)}
ANNOTATION_PREFIXES: tuple[str, ...] = tuple(i.prefix for i in INJECTORS.values())


def by_name(name: str) -> Injector:
    return INJECTORS[name]


def from_annotations(annotations: Mapping[Any, Any]) -> Injector:
    """The injector whose prefix the keys use: openbao-k8s when any key has `openbao.org/` and none has
    `vault.hashicorp.com/`; vault-k8s otherwise (also when there are none, its names being the defaults)."""
    keys = [str(k) for k in annotations]
    if any(k.startswith(OPENBAO_K8S.prefix) for k in keys) and not any(k.startswith(VAULT_K8S.prefix) for k in keys):
        return OPENBAO_K8S
    return VAULT_K8S


def from_pod(pod: Mapping[str, Any]) -> Injector:
    """The injector that mutated (or would mutate) a Pod object: the one whose init or sidecar container is in
    it, else the one its annotations name."""
    spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
    names: set[str] = set()
    for key in ("initContainers", "containers"):
        for container in (spec or {}).get(key) or []:
            if isinstance(container, dict):
                names.add(str(container.get("name")))
    for injector in (OPENBAO_K8S, VAULT_K8S):
        if injector.init_container in names or injector.sidecar in names:
            return injector
    metadata = pod.get("metadata") if isinstance(pod.get("metadata"), dict) else {}
    return from_annotations((metadata or {}).get("annotations") or {})
