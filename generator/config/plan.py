"""Values derived from the config, per cluster: the single place where paths, templates and annotations are decided.

Renderers, the rehearsal and the verifier all read these, so the policy, the agent templates and the checks
cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .cafiles import CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT
from .durations import hours, parse_duration
from .injectors import by_name
from .model import Audit, Cluster, Config, Intermediate, KubernetesAuth
from .rules import (
    effective_data_plane,
    effective_intermediate,
    effective_kubernetes_auth,
    effective_outputs,
    effective_trust_domain,
)

KV_KEY_FIELD = "ca-key.pem"
# Name of the intermediate's key inside its PKI mount; lets an interrupted setup resume with the same key.
INTERMEDIATE_KEY_NAME = "istiod-intermediate"
# External root: the offline root is imported into each intermediate mount under this issuer name, so the
# agent reads root-cert.pem from `<intermediate mount>/issuer/root`.
ROOT_ISSUER_NAME = "root"
# Root rotation (`plan-rotation --root`): the trust bundle (old root + new root) phase (a) writes to this path of
# kv.mount, in this field; from phase (b) on, root-cert.pem is rendered from it and istiod runs with multi-root on.
TRUST_BUNDLE_PATH = "istio-trust-bundle"
TRUST_BUNDLE_FIELD = "root-cert.pem"
# istiod reloads a changed root-cert.pem only with this set (istio/istio pilot/pkg/features/pilot.go MultiRootMesh,
# read once at start; pilot/pkg/bootstrap/istio_ca.go handleEvent, release-1.31).
MULTIROOT_ENV = "ISTIO_MULTIROOT_MESH"

# The server's flavor (vault.flavor) decides how the audit device is made and which Helm chart the values are for.
HELM_VALUES_FILE = {"vault": "vault-helm-values.yaml", "openbao": "openbao-helm-values.yaml"}
# OpenBao 2.x refuses audit devices over the API (unless its config sets unsafe_allow_api_audit_creation): the
# device is declared in the server config instead, from this rendered stanza.
OPENBAO_AUDIT_FILE = "openbao/audit.hcl"


def helm_values_file(config: Config) -> str:
    return HELM_VALUES_FILE[config.vault.flavor]


def audit_declared(config: Config) -> bool:
    """True when the audit device is declared in the server config (OpenBao) rather than enabled over the API."""
    return config.vault.flavor == "openbao" and config.vault.audit.enabled


def audit_stanza(audit: Audit, file_path: str | None = None) -> str:
    """The server-config stanza declaring the file audit device (OpenBao loads it at start-up)."""
    return (
        f'audit "file" "{audit.path}/" {{\n'
        "  options {\n"
        f"    file_path = {_hcl_string(file_path or audit.file_path)}\n"
        "  }\n"
        "}\n"
    )


def _hcl_string(value: str) -> str:
    """An HCL quoted string: backslash and quote escaped, `${` and `%{` kept literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "$${").replace("%{", "%%{")
    return f'"{escaped}"'


@dataclass(frozen=True)
class KvEngine:
    """What the KV version decides, in one place (as hvac's kv_v1 / kv_v2): where a secret's API path is, where its
    fields sit in the response, and how an agent template reaches them. Scripts, templates, the rehearsal and
    the checks read this instead of branching on the version."""

    version: int
    mount: str

    def secret_path(self, path: str) -> str:
        """The path the agent and the policy use: KV v2 inserts `data/`."""
        return f"{self.mount}/data/{path}" if self.version == 2 else f"{self.mount}/{path}"

    def data_keys(self, field: str) -> tuple[str, ...]:
        """Where `field` sits in the response's `data`: v2 nests the secret under another `data`."""
        return ("data", field) if self.version == 2 else (field,)

    def template_index(self, field: str) -> str:
        """The consul-template expression that prints `field` of the secret."""
        return f'index .Data.data "{field}"' if self.version == 2 else f'index .Data "{field}"'

    @property
    def template_syntax(self) -> str:
        """How this version's templates read a field, for hints about a `<no value>` render."""
        return self.template_index("<key>")

    @property
    def metadata_path_prefix(self) -> str | None:
        """KV v2 keeps versions and deletion marks under `<mount>/metadata/`; v1 has no such thing."""
        return f"{self.mount}/metadata/" if self.version == 2 else None


@dataclass(frozen=True)
class CaFile:
    """One file the agent writes into ca_dir: which secret it reads and how (a consul-template body)."""

    name: str
    secret_path: str
    template: str
    # Dotted path into the secret's response `data` the template prints, e.g. ("data", "ca-key.pem") for KV v2.
    data_keys: tuple[str, ...]


@dataclass(frozen=True)
class ClusterPlan:
    config: Config
    cluster: Cluster
    intermediate: Intermediate
    kubernetes_auth: KubernetesAuth
    outputs: tuple[str, ...]
    # True from root rotation phase (b) on: root-cert.pem comes from the trust bundle in KV, istiod is multi-root.
    trust_bundle: bool = False
    # sidecar or ambient (ztunnel): the cluster's own data_plane, else istiod.data_plane.
    data_plane: str = "sidecar"
    # The trust domain workloads of this cluster carry, and the other ones they accept (meshConfig's aliases).
    trust_domain: str = "cluster.local"
    trust_domain_aliases: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.cluster.name

    @property
    def kv(self) -> KvEngine:
        return KvEngine(self.config.kv.version, self.config.kv.mount)

    @property
    def kv_secret_path(self) -> str:
        """The path the agent and the policy use for the stored key."""
        return self.kv.secret_path(self.cluster.kv_path)

    @property
    def root_ca_path(self) -> str:
        return f"{self.config.root.mount}/cert/ca"

    def intermediate_field(self, name: str) -> str:
        """The config field this cluster's intermediate `name` (common_name, ttl...) comes from: the cluster's own
        override when it sets one, else `intermediate.NAME` (step 04 and `vault.intermediate-config` name it)."""
        if name in self.intermediate_overrides:
            return f"clusters[{self.name}].intermediate.{name}"
        return f"intermediate.{name}"

    @property
    def intermediate_overrides(self) -> tuple[str, ...]:
        """The intermediate fields this cluster's entry sets itself."""
        override = self.cluster.intermediate
        return tuple(sorted(override.model_fields_set)) if override is not None else ()

    @property
    def intermediate_ttl_seconds(self) -> int:
        return parse_duration(self.intermediate.ttl)

    @property
    def signing_mount_max_ttl(self) -> str:
        """The root mount must allow at least the intermediate's TTL, or Vault silently grants less."""
        root_seconds = parse_duration(self.config.root.ttl)
        return hours(max(root_seconds, self.intermediate_ttl_seconds))

    @property
    def namespace(self) -> str | None:
        """The Vault namespace of this cluster's mounts, auth method and policy (None: the root namespace)."""
        return self.cluster.vault_namespace or self.config.vault.namespace

    @property
    def auth_path(self) -> str:
        return f"auth/{self.cluster.auth_mount}"

    def ca_files(self) -> tuple[CaFile, ...]:
        mount = self.cluster.intermediate_mount
        kv_data, key_expr = self.kv.data_keys(KV_KEY_FIELD), self.kv.template_index(KV_KEY_FIELD)
        root_expr = ".Data.certificate"
        if self.trust_bundle:
            root_path, root_keys = self.trust_bundle_path, self.kv.data_keys(TRUST_BUNDLE_FIELD)
            root_expr = self.kv.template_index(TRUST_BUNDLE_FIELD)
        elif self.config.root.mode == "external":
            # The offline root is imported into the intermediate mount with the signed bundle.
            root_path, root_keys = f"{mount}/issuer/{ROOT_ISSUER_NAME}", ("certificate",)
        else:
            root_path, root_keys = self.root_ca_path, ("certificate",)
        return (
            CaFile(
                CA_CERT,
                f"{mount}/cert/ca",
                _template(f"{mount}/cert/ca", ".Data.certificate"),
                ("certificate",),
            ),
            CaFile(CA_KEY, self.kv_secret_path, _template(self.kv_secret_path, key_expr), kv_data),
            CaFile(
                CERT_CHAIN,
                f"{mount}/cert/ca_chain",
                _template(f"{mount}/cert/ca_chain", ".Data.certificate"),
                ("certificate",),
            ),
            CaFile(ROOT_CERT, root_path, _template(root_path, root_expr), root_keys),
        )

    @property
    def trust_bundle_path(self) -> str:
        """The root rotation's trust bundle, as the agent and the policy name it."""
        return self.kv.secret_path(TRUST_BUNDLE_PATH)

    def policy_paths(self) -> tuple[str, ...]:
        """Least privilege: read on exactly the paths the templates read, nothing else. With the trust bundle, the
        paths of the templates before it too: the running istiod pod's agent sidecar keeps reading root-cert.pem
        from the root mount until istiod is restarted with the bundle's template (vault-k8s renders the templates
        of the pod's annotations; new ones arrive with a new pod), and a policy written first must not break it."""
        paths = {ca_file.secret_path for ca_file in self.ca_files()}
        if self.trust_bundle:
            paths |= {ca_file.secret_path for ca_file in replace(self, trust_bundle=False).ca_files()}
        return tuple(sorted(paths))

    def annotations(self) -> dict[str, str]:
        """The istiod pod annotations for the Vault agent injector (vault-k8s), keys sorted."""
        agent = self.config.istiod.agent
        values: dict[str, str] = {
            "agent-inject": "true",
            "agent-init-first": _bool(agent.init_first),
            "agent-run-as-user": str(agent.run_as_user),
            "auth-path": self.auth_path,
            "role": self.cluster.role,
            "secret-volume-path": self.config.istiod.ca_dir,
            f"agent-inject-perms-{CA_KEY}": agent.key_file_mode,
        }
        if agent.pre_populate_only:
            values["agent-pre-populate-only"] = "true"
        if self.namespace:
            values["namespace"] = self.namespace
        if self.config.vault.agent_address:
            values["service"] = self.config.vault.agent_address
        for ca_file in self.ca_files():
            values[f"agent-inject-secret-{ca_file.name}"] = ca_file.secret_path
            values[f"agent-inject-template-{ca_file.name}"] = ca_file.template
            values[f"error-on-missing-key-{ca_file.name}"] = "true"
        prefix = by_name(self.config.vault.injector).prefix
        return {f"{prefix}{key}": values[key] for key in sorted(values)}

    @property
    def env(self) -> dict[str, str]:
        """istiod's environment: ROOT_CA_DIR is the same value as secret-volume-path, by construction; with the
        trust bundle, ISTIO_MULTIROOT_MESH=true so that istiod takes the bundle's roots (see MULTIROOT_ENV)."""
        if self.trust_bundle:
            return {MULTIROOT_ENV: "true", "ROOT_CA_DIR": self.config.istiod.ca_dir}
        return {"ROOT_CA_DIR": self.config.istiod.ca_dir}


def _template(secret_path: str, expression: str) -> str:
    # Trim markers keep the file exactly the PEM, with one trailing newline.
    return f'{{{{- with secret "{secret_path}" -}}}}\n{{{{ {expression} }}}}\n{{{{- end }}}}\n'


def _bool(value: bool) -> str:
    return "true" if value else "false"


def plan(config: Config) -> tuple[ClusterPlan, ...]:
    return tuple(
        ClusterPlan(
            config=config,
            cluster=cluster,
            intermediate=effective_intermediate(config, cluster),
            kubernetes_auth=effective_kubernetes_auth(config, cluster),
            outputs=tuple(effective_outputs(config, cluster)),
            data_plane=effective_data_plane(config, cluster),
            trust_domain=effective_trust_domain(config, cluster)[0],
            trust_domain_aliases=effective_trust_domain(config, cluster)[1],
        )
        for cluster in config.clusters
    )


def select(plans: tuple[ClusterPlan, ...], name: str | None) -> tuple[ClusterPlan, ...]:
    """Plans for `--cluster NAME` (all when None); raises LookupError naming the known clusters."""
    if name is None:
        return plans
    chosen = tuple(p for p in plans if p.name == name)
    if not chosen:
        known = ", ".join(p.name for p in plans)
        raise LookupError(f"no cluster named {name!r} in the config (known: {known})")
    return chosen
