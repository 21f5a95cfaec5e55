"""The config model: the single source of truth every artifact and check derives from.

Field names are a public contract (users' config files): extend, never rename.
"""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .cafiles import ISTIOD_DEFAULT_CA_DIR
from .durations import parse_duration
from .fields import CONTROL_CHARS, IN_CLUSTER_HOST
from .installers import INSTALLER_MODULES
from .monitoring import Monitoring

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Vault mount paths and KV paths: segments of safe characters, no leading/trailing slash, no "..".
PATH_SEGMENTS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")
VAULT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
OCTAL_MODE = re.compile(r"^0?[0-7]{3}$")


def _duration(value: str) -> str:
    parse_duration(value)
    return value


def _dns1123_label(value: str) -> str:
    if len(value) > 63 or not DNS1123_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label (lower-case letters, digits and '-', at most 63, "
            "starting and ending with a letter or digit)"
        )
    return value


def _dns1123_subdomain(value: str) -> str:
    if len(value) > 253 or not DNS1123_SUBDOMAIN.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253)"
        )
    return value


def _vault_path(value: str) -> str:
    if not PATH_SEGMENTS.match(value) or any(part in (".", "..") for part in value.split("/")):
        raise ValueError(
            f"{value!r} is not a usable Vault path (letters, digits, '_', '.', '-' in '/'-separated "
            "segments, no leading or trailing '/')"
        )
    return value


def _vault_name(value: str) -> str:
    if len(value) > 128 or not VAULT_NAME.match(value):
        raise ValueError(f"{value!r} is not a usable name (lower-case letters, digits, '_', '.', '-')")
    return value


def _free_text(value: str) -> str:
    """Free text (CNs): anything printable. Quoting protects it; these few forms the vault CLI would misread."""
    if not value.strip():
        raise ValueError("must not be empty")
    if CONTROL_CHARS.search(value):
        raise ValueError("must not contain control characters or newlines")
    if value.startswith("@") or value == "-":
        raise ValueError("must not start with '@' or be '-' (the vault CLI would read a file or stdin)")
    if len(value) > 64:
        raise ValueError(f"is {len(value)} characters; X.509 allows at most 64 in a common name")
    return value


KUBE_CONTEXT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@/+=-]*$")


def _kube_context(value: str) -> str:
    """A kubeconfig context name the scripts pass as `kubectl --context`: no flag look-alike, nothing to quote."""
    if len(value) > 253 or not KUBE_CONTEXT_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a usable kubectl context name (letters, digits and '_.:@/+=-', not starting "
            "with '-' or '.', at most 253)"
        )
    return value


def _absolute_dir(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must be an absolute path")
    if CONTROL_CHARS.search(value) or " " in value:
        raise ValueError(f"{value!r} must not contain spaces or control characters")
    normal = posixpath.normpath(value)
    if normal != value or value == "/":
        raise ValueError(f"{value!r} must be a normalised directory path other than '/' (try {normal!r})")
    return value


# Paths the istio-discovery chart mounts in istiod's `discovery` container. vault-k8s mounts its secret volume at
# `secret-volume-path` (our ca_dir) in every container, so ca_dir must neither be one of these (the API server
# rejects the Pod: duplicate mountPath), nor lie inside one (a mount point inside a read-only volume), nor contain
# one (the emptyDir would hide the image's files and the chart's mount below it).
# Source: istio/istio manifests/charts/istio-control/istio-discovery/templates/deployment.yaml, release 1.28
# (volumeMounts of the discovery container); /etc/istio/config and /var/lib/istio/data come from earlier
# releases' charts, and Kubernetes itself mounts the service-account token directory.
ISTIOD_CHART_MOUNTS: dict[str, str] = {
    ISTIOD_DEFAULT_CA_DIR: "the `cacerts` Secret (Istio's own ROOT_CA_DIR for a plugged-in CA)",
    "/cacerts": "the `extracacerts` ConfigMap (pilot.jwksResolverExtraRootCA)",
    "/var/run/secrets/tokens": "the `istio-token` projected service-account token",
    "/var/run/secrets/istio-dns": "the `local-certs` emptyDir",
    "/var/run/secrets/remote": "the `istio-kubeconfig` Secret (multicluster)",
    "/var/run/secrets/istiod/tls": "the `istio-csr-dns-cert` Secret (istiod-tls)",
    "/var/run/secrets/istiod/ca": "the `istio-csr-ca-configmap` ConfigMap",
    "/etc/istio/config": "the `config-volume` mesh ConfigMap (earlier releases)",
    "/var/lib/istio/data": "istiod's data directory (earlier releases)",
    "/var/run/secrets/kubernetes.io/serviceaccount": "Kubernetes' service-account token volume",
}


def _ca_dir(value: str) -> str:
    """ca_dir becomes the injector's mount path in istiod's Pod: refuse one that collides with a chart mount."""
    for mount, what in ISTIOD_CHART_MOUNTS.items():
        if value == mount:
            clash = f"is where istiod's chart already mounts {what}"
        elif value.startswith(mount + "/"):
            clash = f"is inside {mount}, where istiod's chart mounts {what}"
        elif mount.startswith(value + "/"):
            clash = f"contains {mount}, where istiod's chart mounts {what}"
        else:
            continue
        raise ValueError(
            f"{value!r} {clash}: the Vault injector mounts its own volume at ca_dir, so the Pod would be "
            "rejected (duplicate or overlapping mountPath) or hide files istiod needs; use a directory of its "
            "own such as /vault/secrets"
        )
    return value


def _vault_address(value: str) -> str:
    if not re.match(r"^https?://[^\s/'\"]+(/[^\s'\"]*)?$", value):
        raise ValueError(f"{value!r} must be an http:// or https:// URL without spaces or quotes")
    if "[::]" in value or "//0.0.0.0" in value:
        raise ValueError(f"{value!r} is a listen-all address, not one a client can connect to")
    return value


def _https_url(value: str) -> str:
    if not re.match(r"^https://[^\s/'\"]+(/[^\s'\"]*)?$", value):
        raise ValueError(f"{value!r} must be an https:// URL of the Kubernetes API server")
    return value


HttpsUrl = Annotated[str, AfterValidator(_https_url)]
Duration = Annotated[str, AfterValidator(_duration), Field(description="Vault duration, e.g. 8760h, 30d, 600s")]
Label = Annotated[str, AfterValidator(_dns1123_label)]
Subdomain = Annotated[str, AfterValidator(_dns1123_subdomain)]
VaultPath = Annotated[str, AfterValidator(_vault_path)]
VaultName = Annotated[str, AfterValidator(_vault_name)]
FreeText = Annotated[str, AfterValidator(_free_text)]
KubeContext = Annotated[str, AfterValidator(_kube_context)]
AbsoluteDir = Annotated[str, AfterValidator(_absolute_dir)]
CaDir = Annotated[str, AfterValidator(_absolute_dir), AfterValidator(_ca_dir)]
KeyType = Literal["rsa", "ec"]


def _known_output(value: str) -> str:
    if value not in INSTALLER_MODULES:
        raise ValueError(f"unknown output {value!r}: one of {', '.join(INSTALLER_MODULES)}")
    return value


# An installer's name (generator/config/installers.py: one registry for config, render and rehearsal).
Output = Annotated[
    str, AfterValidator(_known_output), WithJsonSchema({"type": "string", "enum": list(INSTALLER_MODULES)})
]
Reviewer = Literal["local", "client-jwt", "secret"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Audit(Strict):
    enabled: bool = Field(True, description="01-audit.sh sets up (or, for OpenBao, checks) a file audit device")
    path: VaultPath = Field("file", description="audit device path (vault audit enable -path)")
    file_path: AbsoluteDir = Field("/vault/vault-audit.log", description="log file on the Vault server")


class VaultHelm(Strict):
    """Values for the Vault Helm chart (OpenBao's with vault.flavor openbao); the injector is always enabled."""

    dev: bool = Field(False, description="run the Vault server in dev mode (never for production)")
    server: bool = Field(True, description="install the Vault server in the cluster (false: external Vault)")


class Vault(Strict):
    address: Annotated[str, AfterValidator(_vault_address)] = Field(
        "http://127.0.0.1:8200",
        description="default VAULT_ADDR baked into scripts; the environment overrides it",
    )
    cli: Literal["vault", "bao"] = Field("vault", description="the CLI binary the scripts call")
    flavor: Literal["vault", "openbao"] = Field(
        "vault",
        description=(
            "the server: vault (HashiCorp; 01-audit.sh enables the audit device over the API) or openbao "
            "(OpenBao 2.x: the device is declared in the server config, openbao/audit.hcl, and 01-audit.sh checks "
            "it; Helm values for the OpenBao chart)"
        ),
    )
    injector: Literal["vault-k8s", "openbao-k8s"] = Field(
        "vault-k8s",
        description=(
            "the agent injector in the cluster: vault-k8s (vault.hashicorp.com/* annotations, vault-agent-init, "
            "VAULT_CONFIG; also OpenBao's chart up to injector tag v1.4.0) or openbao-k8s (openbao/openbao-k8s "
            "after v1.4.0: openbao.org/* annotations, openbao-agent-init, BAO_CONFIG). Independent of flavor: an "
            "OpenBao server is often served by the vault-k8s injector"
        ),
    )
    agent_address: Annotated[str, AfterValidator(_vault_address)] | None = Field(
        None, description="address the injected agent uses (<prefix>/service); default: injector's"
    )
    namespace: VaultPath | None = Field(
        None,
        description="Vault Enterprise / OpenBao namespace of every mount, auth method and policy (VAULT_NAMESPACE)",
    )
    audit: Audit = Field(Audit(), description="the file audit device that records every read of the CA key")
    helm: VaultHelm = Field(VaultHelm(), description="what vault-helm-values.yaml (openbao-helm-values.yaml) sets")


class Root(Strict):
    mode: Literal["vault", "external"] = Field(
        "vault",
        description="vault: generated inside Vault; external: an offline root signs each intermediate",
    )
    mount: VaultPath = Field("pki", description="PKI mount of the root CA generated in Vault (root.mode: vault)")
    common_name: FreeText = Field(
        "example.com Root CA", description="the root certificate's subject CN (at most 64 chars)"
    )
    ttl: Duration = Field("87600h", description="the root's lifetime (Vault duration: 87600h is ten years)")
    key_type: KeyType = Field("rsa", description="the root's key algorithm: rsa or ec")
    key_bits: int = Field(4096, description="key size: rsa 2048, 3072 or 4096 bits; ec 256 (P-256) or 384 (P-384)")
    certificate_file: str | None = Field(
        None, description="external mode: PEM file of the offline root certificate (never its key)"
    )


class Intermediate(Strict):
    common_name: FreeText = Field(
        "example.com Intermediate Authority", description="subject CN of each cluster's intermediate (istiod's CA)"
    )
    ttl: Duration = Field(
        "43800h", description="the intermediate's lifetime (43800h: five years); ends before the root's unless allowed"
    )
    key_type: KeyType = Field("rsa", description="the intermediate's key algorithm: rsa or ec")
    key_bits: int = Field(4096, description="key size: rsa 2048, 3072 or 4096 bits; ec 256 (P-256) or 384 (P-384)")
    max_path_length: int = Field(
        0, ge=-1, le=8, description="CAs allowed below the intermediate: 0 (istiod signs leaves only); -1 unlimited"
    )
    allow_beyond_root: bool = Field(
        False, description="allow an intermediate TTL longer than the root's (Vault then truncates it)"
    )


class IntermediateOverride(Strict):
    """Per-cluster changes to the intermediate defaults; unset fields inherit."""

    common_name: FreeText | None = Field(None, description="this cluster's intermediate CN; default intermediate.*")
    ttl: Duration | None = Field(None, description="this cluster's intermediate lifetime; default intermediate.ttl")
    key_type: KeyType | None = Field(None, description="this cluster's key algorithm; default intermediate.key_type")
    key_bits: int | None = Field(None, description="this cluster's key size; default intermediate.key_bits")
    max_path_length: int | None = Field(
        None, ge=-1, le=8, description="this cluster's path length; default intermediate.max_path_length"
    )


class KV(Strict):
    mount: VaultPath = Field("kv", description="KV mount holding each intermediate's key (and the trust bundle)")
    version: Literal[1, 2] = Field(
        1, description="KV engine version of that mount: decides the policy path and the agent templates"
    )


class Agent(Strict):
    pre_populate_only: bool = Field(False, description="init container only, no sidecar (no re-render on rotation)")
    init_first: bool = Field(True, description="agent-init-first: the agent's init container runs before any other")
    key_file_mode: str = Field("0400", description="octal mode of ca-key.pem in the pod (owner-only)")
    run_as_user: int = Field(
        1337, ge=0, description="uid the agent writes files as: must be istiod's (1337 under every installer)"
    )

    @field_validator("key_file_mode")
    @classmethod
    def _owner_only(cls, value: str) -> str:
        if not OCTAL_MODE.match(value):
            raise ValueError(f"{value!r} is not an octal file mode like '0400'")
        if int(value, 8) & 0o077:
            raise ValueError(f"{value!r} lets group or others read the CA key; use 0400 or 0600")
        if not int(value, 8) & 0o400:
            raise ValueError(f"{value!r} does not let istiod read the CA key; use 0400 or 0600")
        return value.rjust(4, "0")


# The newest Istio release modelled (verify/checks/chain/versions.py NEWEST; a test holds the two equal) and the
# oldest one rendered for.
ISTIO_VERSION_DEFAULT = "1.31"
ISTIO_OLDEST = (1, 12)
ISTIO_RELEASE = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


def istio_release(text: str) -> tuple[int, int]:
    """'1.23.4' -> (1, 23): the chart layout changes only between minor releases."""
    match = ISTIO_RELEASE.fullmatch(text)
    assert match is not None  # validated by Istiod
    return int(match.group(1)), int(match.group(2))


# The data plane the mesh runs: Envoy sidecars (istio-agent) or ambient mode's ztunnel, which takes its trust roots
# and chain from istiod's CSR response differently (verify/checks/chain/ztunnel.py says how, from ztunnel's source).
DataPlane = Literal["sidecar", "ambient"]
DATA_PLANE_DEFAULT: DataPlane = "sidecar"


def _default_outputs() -> list[Output]:
    return ["tsb-controlplane"]


class Istiod(Strict):
    namespace: Label = Field("istio-system", description="istiod's namespace (the Vault role binds it)")
    service_account: Subdomain = Field(
        "istiod-service-account", description="TSB's name; upstream Istio Helm charts use 'istiod'"
    )
    deployment: Subdomain = Field("istiod", description="the istiod Deployment (verifier)")
    ca_dir: CaDir = Field(
        "/vault/secrets", description="drives BOTH ROOT_CA_DIR and vault.hashicorp.com/secret-volume-path"
    )
    outputs: list[Output] = Field(
        default_factory=_default_outputs, min_length=1, description="the installers to render istiod's overlay for"
    )
    operator_name: Subdomain = Field(
        "tsb-istiocontrolplane", description="IstioOperator name the TSB ControlPlane overlay patches"
    )
    hold_application_until_proxy_starts: bool = Field(
        False,
        description="mesh-wide proxy option from the source guide, emitted only when set; istiod ignores it",
    )
    uid: int | None = Field(
        None,
        ge=0,
        description="uid istiod's container runs as, when your install changes it (OpenShift assigns one); "
        "default: the installer's (1337 under every installer). agent.run_as_user must equal it",
    )
    istio_version: str = Field(
        ISTIO_VERSION_DEFAULT,
        description="Istio release istiod is installed from, X.Y (quoted): the istiod Helm values follow its "
        "chart's layout (1.23 and older read pilot.env and pilot.podAnnotations). verify reads the release from "
        "istiod's image",
    )
    data_plane: DataPlane = Field(
        DATA_PLANE_DEFAULT,
        description="the mesh's data plane: sidecar (Envoy with istio-agent) or ambient (ztunnel on each node). "
        "ambient makes verify judge the chain as ztunnel parses istiod's certificate response (stricter than "
        "Envoy: one trusted root, the chain's order and completeness matter) and plan-rotation --root plan the "
        "restarts ztunnel needs; a cluster may override it (clusters[].data_plane)",
    )
    trust_domain: Subdomain = Field(
        "cluster.local",
        description="the mesh's trust domain (meshConfig.trustDomain): verify fleet accepts a peer's certificate "
        "only from this trust domain or one of trust_domain_aliases; a cluster may override it",
    )
    trust_domain_aliases: list[Subdomain] = Field(
        default_factory=list,
        description="other trust domains workloads accept as their own (meshConfig.trustDomainAliases)",
    )
    agent: Agent = Field(Agent(), description="how the injected Vault agent writes the CA files in istiod's pod")

    @field_validator("istio_version", mode="before")
    @classmethod
    def _release_text(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(
                f"got the number {value}: quote the release, e.g. istio_version: '1.24' (YAML reads an unquoted "
                "1.30 as the number 1.3)"
            )
        return value

    @field_validator("istio_version")
    @classmethod
    def _release(cls, value: str) -> str:
        match = ISTIO_RELEASE.fullmatch(value.strip())
        if not match:
            raise ValueError(f"{value!r} is not an Istio release like '1.24' or '1.24.3'")
        if (int(match.group(1)), int(match.group(2))) < ISTIO_OLDEST:
            raise ValueError(f"Istio {value} is older than 1.12, the oldest release this tool renders for")
        return value.strip()

    @field_validator("outputs")
    @classmethod
    def _unique_outputs(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("lists an output twice")
        return value


class TokenReviewer(Strict):
    """The long-lived token Secret used as Vault's token reviewer (reviewer: secret)."""

    service_account: Subdomain = Field("vault-token-reviewer", description="the reviewer's service account")
    namespace: Label = Field("vault", description="namespace of that service account and its token Secret")
    secret_name: Subdomain = Field("vault-token-reviewer-token", description="the long-lived token Secret")


class KubernetesAuth(Strict):
    reviewer: Reviewer = Field(
        "local",
        description=(
            "local: Vault runs in the cluster and reviews with its own token; client-jwt: each client's JWT "
            "reviews itself (istiod's SA needs system:auth-delegator); secret: a long-lived token Secret"
        ),
    )
    kubernetes_host: HttpsUrl = Field(
        IN_CLUSTER_HOST, description="the API server URL Vault reviews tokens at (K8S_HOST overrides it)"
    )
    kubernetes_ca_cert_file: str | None = Field(
        None,
        description="PEM of the API server's CA for client-jwt/secret; default: read from the kubectl context",
    )
    token_period: Duration = Field("600s", description="period of istiod's Vault token: the agent renews it")
    token_reviewer: TokenReviewer | None = Field(None, description="required for reviewer: secret")


class KubernetesAuthOverride(Strict):
    reviewer: Reviewer | None = Field(None, description="this cluster's reviewer; default kubernetes_auth.reviewer")
    kubernetes_host: HttpsUrl | None = Field(None, description="this cluster's API server URL")
    kubernetes_ca_cert_file: str | None = Field(None, description="this cluster's API server CA (PEM file)")
    token_reviewer: TokenReviewer | None = Field(None, description="this cluster's token Secret (reviewer: secret)")


class Cluster(Strict):
    name: Label = Field("default", description="the cluster's name: its directory clusters/<name>/, --cluster NAME")
    intermediate_mount: VaultPath = Field("istioca", description="PKI mount of this cluster's intermediate")
    kv_path: VaultPath = Field("istioca", description="KV path (in kv.mount) where the intermediate's key is stored")
    auth_mount: VaultPath = Field("kubernetes", description="Kubernetes auth mount for this cluster's API server")
    role: VaultName = Field("istiod", description="the auth role istiod's agent logs in with")
    policy: VaultName = Field("istioca", description="the policy (policy.hcl) granting read on the four CA values")
    vault_namespace: VaultPath | None = Field(
        None, description="this cluster's namespace (intermediate mount, KV, auth, policy); default vault.namespace"
    )
    kube_context: KubeContext | None = Field(
        None,
        description=(
            "kubectl context the scripts read this cluster's API-server CA and reviewer token from (passed as "
            "--context; KUBE_CONTEXT overrides it); default: the current context. Either way the script "
            "refuses when that context's server is not kubernetes_auth.kubernetes_host"
        ),
    )
    intermediate: IntermediateOverride | None = Field(None, description="changes to intermediate for this cluster")
    kubernetes_auth: KubernetesAuthOverride | None = Field(None, description="this cluster's kubernetes_auth")
    outputs: list[Output] | None = Field(None, description="this cluster's installers; default istiod.outputs")
    data_plane: DataPlane | None = Field(
        None, description="this cluster's data plane, sidecar or ambient; default: istiod.data_plane"
    )
    trust_domain: Subdomain | None = Field(
        None, description="this cluster's trust domain; default: istiod.trust_domain"
    )
    trust_domain_aliases: list[Subdomain] | None = Field(
        None, description="this cluster's trust domain aliases; default: istiod.trust_domain_aliases"
    )


class Config(Strict):
    """istio-vault-ca.yaml"""

    model_config = ConfigDict(extra="forbid", frozen=True, title="istio-vault-ca configuration")

    vault: Vault = Field(Vault(), description="the Vault (or OpenBao) server and how the scripts reach it")
    root: Root = Field(Root(), description="the root CA: generated in Vault, or an offline root")
    intermediate: Intermediate = Field(Intermediate(), description="defaults for every cluster's intermediate CA")
    kv: KV = Field(KV(), description="the KV mount that keeps each intermediate's private key for istiod")
    istiod: Istiod = Field(Istiod(), description="istiod: where it runs, where it reads its CA, its installers")
    kubernetes_auth: KubernetesAuth = Field(
        KubernetesAuth(), description="how Vault checks istiod's service-account token (TokenReview)"
    )
    clusters: list[Cluster] = Field(
        default_factory=lambda: [Cluster()], min_length=1, description="one entry per cluster: its Vault names"
    )
    monitoring: Monitoring = Field(Monitoring(), description="opt-in: the exporter in the cluster, and its alerts")

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Config:
        # The loader runs these rules itself to report each at its own field path and line.
        if not (info.context or {}).get("defer_cross_field_rules"):
            from .rules import cross_field_problems

            problems = cross_field_problems(self)
            if problems:
                raise ValueError("; ".join(f"{'.'.join(map(str, loc))}: {message}" for loc, message in problems))
        return self
