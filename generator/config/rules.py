"""Rules that span fields of the config, each reported at the field a person should change, and the values a
cluster gets from the defaults (its effective intermediate, Kubernetes auth and outputs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .durations import parse_duration
from .fields import CONTROL_CHARS, IN_CLUSTER_HOST, Location, check_key, check_reviewer
from .installers import ISTIOD_UID
from .monitoring import monitoring_problems

if TYPE_CHECKING:
    from .model import Cluster, Config, Intermediate, KubernetesAuth


def cross_field_problems(config: Config) -> list[tuple[Location, str]]:
    """Rules that span fields, each reported at the field a person should change."""
    problems: list[tuple[Location, str]] = [*monitoring_problems(config.monitoring)]
    root = config.root
    try:
        check_key(root.key_type, root.key_bits)
    except ValueError as error:
        problems.append((("root", "key_bits"), str(error)))
    if root.mode == "external" and not root.certificate_file:
        problems.append((("root", "certificate_file"), "root.mode external needs the offline root's certificate"))
    try:
        auth = config.kubernetes_auth
        check_reviewer(auth.reviewer, auth.kubernetes_host, auth.token_reviewer)
    except ValueError as error:
        problems.append((("kubernetes_auth", "reviewer"), str(error)))
    root_seconds = parse_duration(config.root.ttl)
    # An external root has no mount in Vault, so root.mount reserves nothing.
    mounts: dict[str, str] = {config.root.mount: "root.mount"} if root.mode == "vault" else {}
    if config.kv.mount in mounts:
        problems.append((("kv", "mount"), f"{config.kv.mount!r} is already root.mount"))
    mounts.setdefault(config.kv.mount, "kv.mount")
    seen: dict[tuple[str, str], str] = {}
    for index, cluster in enumerate(config.clusters):
        where = f"clusters[{index}]"
        # intermediate_mount collisions are reported against every mount below.
        for attribute in ("name", "kv_path", "auth_mount", "role", "policy"):
            value = getattr(cluster, attribute)
            # Roles live inside an auth mount, so clusters may reuse a role name on different mounts.
            key = (attribute, f"{cluster.auth_mount}/{value}" if attribute == "role" else value)
            if key in seen:
                problems.append((("clusters", index, attribute), f"{value!r} is already used by {seen[key]}"))
            else:
                seen[key] = f"{where}.{attribute}"
        if cluster.intermediate_mount in mounts:
            problems.append(
                (
                    ("clusters", index, "intermediate_mount"),
                    f"{cluster.intermediate_mount!r} collides with {mounts[cluster.intermediate_mount]}",
                )
            )
        else:
            mounts[cluster.intermediate_mount] = f"{where}.intermediate_mount"
        merged = effective_intermediate(config, cluster)
        where_int: Location = ("clusters", index, "intermediate") if cluster.intermediate else ("intermediate",)
        try:
            check_key(merged.key_type, merged.key_bits)
        except ValueError as error:
            problems.append(((*where_int, "key_bits"), str(error)))
        # Equal counts as outliving: the intermediate is signed after the root, so the same TTL ends later.
        if parse_duration(merged.ttl) >= root_seconds and not config.intermediate.allow_beyond_root:
            ttl_loc: Location = (
                ("clusters", index, "intermediate", "ttl")
                if cluster.intermediate and cluster.intermediate.ttl
                else ("intermediate", "ttl")
            )
            problems.append(
                (
                    ttl_loc,
                    f"intermediate ttl {merged.ttl} is not shorter than root.ttl {config.root.ttl}: signed after "
                    "the root, it would outlive it (an equal TTL by the time between the two) and expire with "
                    "the root anyway. Shorten it or set intermediate.allow_beyond_root: true",
                )
            )
        if cluster.vault_namespace not in (None, config.vault.namespace) and root.mode == "vault":
            problems.append(
                (
                    ("clusters", index, "vault_namespace"),
                    f"namespace {cluster.vault_namespace!r} is not vault.namespace "
                    f"({config.vault.namespace or 'the root namespace'}), where root.mount lives: istiod's agent, "
                    "logged in inside its own namespace, cannot read another namespace's root. Use root.mode "
                    "external (the offline root is imported into each intermediate mount) or drop the override",
                )
            )
        if cluster.kubernetes_auth is not None:
            try:
                merged_auth = effective_kubernetes_auth(config, cluster)
                check_reviewer(merged_auth.reviewer, merged_auth.kubernetes_host, merged_auth.token_reviewer)
            except ValueError as error:
                problems.append((("clusters", index, "kubernetes_auth"), str(error)))
    problems += _agent_uid_problems(config)
    problems += _openbao_problems(config)
    problems += fleet_problems(config)
    return problems


def _openbao_problems(config: Config) -> list[tuple[Location, str]]:
    """OpenBao declares the audit device in its server config, which the chart's dev mode never loads."""
    vault = config.vault
    if vault.flavor == "openbao" and vault.audit.enabled and vault.helm.dev and vault.helm.server:
        # The audit step is a root step: under root/ in a fleet (generator/render/layout.py).
        audit_step = "root/vault/01-audit.sh" if len(config.clusters) > 1 else "vault/01-audit.sh"
        return [
            (
                ("vault", "helm", "dev"),
                "the OpenBao chart's dev mode ignores server.standalone.config, where the audit device is declared "
                f"(OpenBao refuses audit devices over the API), so {audit_step} would always stop: set "
                "vault.helm.dev: false, or vault.audit.enabled: false",
            )
        ]
    return []


def _agent_uid_problems(config: Config) -> list[tuple[Location, str]]:
    """key_file_mode is owner-only, so the file's owner (the agent's uid) must be the uid istiod runs as."""
    agent = config.istiod.agent
    mode = f"with mode {agent.key_file_mode}, which istiod cannot read"
    if config.istiod.uid is not None:
        if agent.run_as_user == config.istiod.uid:
            return []
        return [
            (
                ("istiod", "agent", "run_as_user"),
                f"{agent.run_as_user} is not istiod.uid {config.istiod.uid}: the agent would write ca-key.pem owned "
                f"by uid {agent.run_as_user} {mode}. Use {config.istiod.uid}",
            )
        ]
    installers = sorted({output for cluster in config.clusters for output in effective_outputs(config, cluster)})
    wrong = [f for f in installers if agent.run_as_user != ISTIOD_UID[f]]
    if not wrong:
        return []
    uids = sorted({ISTIOD_UID[f] for f in wrong})
    expected = " or ".join(str(uid) for uid in uids)
    return [
        (
            ("istiod", "agent", "run_as_user"),
            f"{agent.run_as_user} is not the uid istiod runs as ({expected} with {', '.join(wrong)}: Istio's "
            f"istiod chart sets runAsUser {expected}): the agent would write ca-key.pem owned by uid "
            f"{agent.run_as_user} {mode}. Use {expected}, or set istiod.uid if your install runs istiod as "
            f"another uid",
        )
    ]


def effective_intermediate(config: Config, cluster: Cluster) -> Intermediate:
    """The cluster's intermediate: the defaults with its overrides applied."""
    if cluster.intermediate is None:
        return config.intermediate
    changes = cluster.intermediate.model_dump(exclude_none=True)
    return config.intermediate.model_copy(update=changes)


def effective_kubernetes_auth(config: Config, cluster: Cluster) -> KubernetesAuth:
    if cluster.kubernetes_auth is None:
        return config.kubernetes_auth
    changes = cluster.kubernetes_auth.model_dump(exclude_none=True)
    if "token_reviewer" in changes:
        changes["token_reviewer"] = cluster.kubernetes_auth.token_reviewer
    return config.kubernetes_auth.model_copy(update=changes)


def effective_outputs(config: Config, cluster: Cluster) -> list[str]:
    return list(cluster.outputs if cluster.outputs is not None else config.istiod.outputs)


def effective_data_plane(config: Config, cluster: Cluster) -> str:
    """The cluster's data plane: its own `data_plane` when set, else `istiod.data_plane`."""
    return cluster.data_plane if cluster.data_plane is not None else config.istiod.data_plane


def effective_trust_domain(config: Config, cluster: Cluster) -> tuple[str, tuple[str, ...]]:
    """The cluster's trust domain and its aliases: its own when set, else istiod's (verify fleet's trust matrix)."""
    domain = cluster.trust_domain if cluster.trust_domain is not None else config.istiod.trust_domain
    aliases = cluster.trust_domain_aliases
    return domain, tuple(aliases if aliases is not None else config.istiod.trust_domain_aliases)


# Paths Vault keeps for itself: a secrets engine cannot be mounted there.
RESERVED_MOUNTS = ("sys", "auth", "identity", "cubbyhole")
# Built-in policies: `root` cannot be written, and rewriting `default` would change every token's rights.
RESERVED_POLICIES = ("root", "default")
# Rotation keeps the new key at `<kv_path><suffix>` until the switch (istiod's policy never grants it).
ROTATION_STAGING_SUFFIX = "-rotating"


def fleet_problems(config: Config) -> list[tuple[Location, str]]:
    """Rules for many clusters under one root: what Vault would refuse at deploy time, or what would silently
    make two clusters share (or one cluster lose) a CA, an auth method or an API server."""
    problems: list[tuple[Location, str]] = []
    root = config.root
    if root.mode == "vault" and root.certificate_file is not None:
        problems.append(
            (("root", "certificate_file"), "is only used with root.mode external (the root is in Vault here)")
        )
    elif root.certificate_file is not None and (
        not root.certificate_file.strip() or CONTROL_CHARS.search(root.certificate_file)
    ):
        problems.append((("root", "certificate_file"), "must be a file path without control characters"))
    secret_mounts: list[tuple[str, Location]] = [(config.kv.mount, ("kv", "mount"))]
    if root.mode == "vault":
        secret_mounts.insert(0, (root.mount, ("root", "mount")))
    secret_mounts += [
        (c.intermediate_mount, ("clusters", i, "intermediate_mount")) for i, c in enumerate(config.clusters)
    ]
    for path, location in secret_mounts:
        top = path.split("/", 1)[0]
        if top in RESERVED_MOUNTS:
            problems.append((location, f"{path!r} is under Vault's reserved {top}/ path: choose another mount"))
    problems += _nested_mounts(secret_mounts, "secrets engines")
    auth_mounts: list[tuple[str, Location]] = [
        (c.auth_mount, ("clusters", i, "auth_mount")) for i, c in enumerate(config.clusters)
    ]
    problems += _nested_mounts(auth_mounts, "auth methods")
    kv_paths = {c.kv_path: i for i, c in enumerate(config.clusters)}
    hosts: dict[str, int] = {}
    contexts: dict[str, int] = {}
    for index, cluster in enumerate(config.clusters):
        if cluster.policy in RESERVED_POLICIES:
            problems.append(
                (("clusters", index, "policy"), f"{cluster.policy!r} is a built-in Vault policy: choose another name")
            )
        staging_owner = kv_paths.get(cluster.kv_path.removesuffix(ROTATION_STAGING_SUFFIX))
        if cluster.kv_path.endswith(ROTATION_STAGING_SUFFIX) and staging_owner is not None:
            problems.append(
                (
                    ("clusters", index, "kv_path"),
                    f"{cluster.kv_path!r} is where rotation stages the new key of clusters[{staging_owner}]: "
                    "choose another path",
                )
            )
        if cluster.outputs is not None:
            if not cluster.outputs:
                problems.append((("clusters", index, "outputs"), "lists no output; omit it to use istiod.outputs"))
            elif len(set(cluster.outputs)) != len(cluster.outputs):
                problems.append((("clusters", index, "outputs"), "lists an output twice"))
        host = effective_kubernetes_auth(config, cluster).kubernetes_host
        if host in hosts:
            other = hosts[host]
            hint = (
                "; Vault runs inside one cluster only, so the others need reviewer client-jwt or secret"
                if host == IN_CLUSTER_HOST
                else ""
            )
            problems.append(
                (
                    ("clusters", index, "kubernetes_auth", "kubernetes_host"),
                    f"{host} is already the API server of clusters[{other}] ({config.clusters[other].name}): "
                    f"each cluster has its own, set this cluster's kubernetes_auth.kubernetes_host{hint}",
                )
            )
        else:
            hosts[host] = index
        if cluster.kube_context is not None:
            if cluster.kube_context in contexts:
                other = contexts[cluster.kube_context]
                problems.append(
                    (
                        ("clusters", index, "kube_context"),
                        f"{cluster.kube_context!r} is already the kubectl context of clusters[{other}] "
                        f"({config.clusters[other].name}): each cluster's scripts read their own API server",
                    )
                )
            else:
                contexts[cluster.kube_context] = index
    return problems


def _nested_mounts(mounts: list[tuple[str, Location]], kind: str) -> list[tuple[Location, str]]:
    """Vault refuses a mount inside another (`a` and `a/b`), whichever comes first; exact repeats are reported
    by the collision rules."""
    problems: list[tuple[Location, str]] = []
    for position, (path, location) in enumerate(mounts):
        for other, other_location in mounts[:position]:
            if path.startswith(other + "/") or other.startswith(path + "/"):
                problems.append(
                    (
                        location,
                        f"{path!r} and {other!r} ({_dotted_location(other_location)}) nest: Vault refuses "
                        f"{kind} mounted inside one another",
                    )
                )
                break
    return problems


def _dotted_location(location: Location) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location).lstrip(".")
