"""The run of `verify fleet`: every cluster of the config read from Vault (and from the cluster where a kubeconfig
context reaches it), then judged as one fleet (verify/checks/fleet/).

One Vault client per namespace, shared by every cluster in it, and the reads of all clusters run in a thread pool:
a 100-cluster fleet costs one connection and a few round trips of wall time per cluster, not a new client each
(`make bench` measures it). An unreachable Vault stops the run (VaultUnavailable, exit 3); an unreachable cluster
is a skip with the reason in that cluster's `fleet.cluster-roots` row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...generator.errors import EXIT_UNREACHABLE
from . import common
from .common import by_namespace, check_warn_days, check_workload_ttl, load_plans_and_source
from .fleet_kube import certificates, cluster_contexts, connect_all, kube_seen

if TYPE_CHECKING:
    from cryptography import x509

    from ...generator.config.plan import ClusterPlan
    from ..checks.fleet import ClusterSeen, FleetState
    from ..checks.result import Report
    from ..clients.kube import Kube
    from ..clients.vault import VaultApi

# Concurrent requests against one Vault: enough to hide the round trips, few enough not to look like a flood.
WORKERS = 8


@dataclass(frozen=True)
class FleetRequest:
    """`verify fleet`: the config (all its clusters), the warning window, the workload certificate TTL in seconds,
    and how to reach each cluster (`contexts`: cluster name to kubeconfig context, beside clusters[].kube_context)."""

    config: str | None
    warn_days: int
    workload_ttl: int
    kubeconfig: str | None = None
    contexts: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    workers: int = WORKERS


def fleet_report(request: FleetRequest) -> tuple[Report, int]:
    """The report of `verify fleet` and its exit code; VaultUnavailable (exit 3) propagates."""
    import datetime as dt
    import time
    from concurrent.futures import ThreadPoolExecutor

    from ..checks.fleet import FleetState, check_fleet
    from ..checks.result import Report

    started, clock = time.time(), time.monotonic()
    check_warn_days(request.warn_days)
    check_workload_ttl(request.workload_ttl)
    config, plans, source = load_plans_and_source(request.config, None)
    contexts = cluster_contexts(plans, request.contexts, request.kubeconfig)
    kubes = connect_all(contexts, request.kubeconfig)  # a missing kubeconfig or context: exit 2, nothing read yet
    clients: dict[str | None, VaultApi] = {}
    for namespace, members in by_namespace(plans):
        api = clients[namespace] = common.open_vault(config, namespace)  # through the module: tests count them
        api.health()
        _read_shared(api, members[0])  # once, before the pool: every cluster of the namespace reads them
    report = Report()
    report.facts.warn_days, report.facts.config = request.warn_days, source
    with ThreadPoolExecutor(max_workers=max(1, min(request.workers, len(plans)))) as pool:
        seen = list(pool.map(lambda cluster: read_cluster(clients[cluster.namespace], cluster, kubes, contexts), plans))
    fleet = FleetState(
        tuple(item for item, _ in seen),
        now=dt.datetime.now(dt.timezone.utc),
        warn_days=request.warn_days,
        workload_ttl=request.workload_ttl,
    )
    report.extend(check_fleet(fleet))
    for cluster, (item, values) in zip(plans, seen, strict=True):
        report.facts.add_certificates(values, source="vault", target=item.target, cluster=cluster.name)
    add_fleet_facts(fleet, report)
    report.facts.reachable["vault"] = True
    report.facts.clusters = tuple(cluster.name for cluster in plans)
    report.facts.started, report.facts.duration = started, time.monotonic() - clock
    unreachable = any(seen.kube is not None and seen.kube.unreachable for seen in fleet.clusters)
    return report, EXIT_UNREACHABLE if unreachable else report.exit_code()


def add_fleet_facts(fleet: FleetState, report: Report) -> None:
    """The figures `serve` exports and the HTML report draws: each cluster's effective expiry, the matrix."""
    from ..checks.facts import FleetExpiryFact, TrustCellFact
    from ..checks.fleet import expiry, matrix

    for seen in fleet.clusters:
        found = expiry(fleet, seen)
        if found is not None:
            report.facts.fleet_expiry.append(
                # `bound` is the kind (root|intermediate|issuer): a label of fixed values, not words for people.
                FleetExpiryFact(
                    seen.name, found.effective.timestamp(), found.earliest.ends.timestamp(), found.earliest.kind
                )
            )
    report.facts.trust_cells.extend(
        TrustCellFact(cell.source, cell.peer, cell.accepts, cell.reason) for cell in matrix(fleet)
    )


def _read_shared(api: VaultApi, cluster: ClusterPlan) -> None:
    """The paths every cluster of one namespace reads alike (the root, the trust bundle), read into the cache."""
    from dataclasses import replace

    from ...generator.config.cafiles import ROOT_CERT
    from ...generator.errors import VaultForbidden

    for plan in (cluster, replace(cluster, trust_bundle=True)):
        try:
            api.read(next(ca_file for ca_file in plan.ca_files() if ca_file.name == ROOT_CERT).secret_path)
        except VaultForbidden:
            if plan is cluster:
                raise
            # A token that may not read the rotation's bundle: each cluster's row says so (_ca_values).


def read_cluster(
    api: VaultApi, cluster: ClusterPlan, kubes: dict[str, Kube], contexts: dict[str, str]
) -> tuple[ClusterSeen, dict[str, bytes | None]]:
    """One cluster as Vault holds it (never its key: only certificate paths, its mount's roles and tuning), its
    side where reachable, and the values read (for the report's certificate facts)."""
    from ...generator.errors import VaultApiError
    from ...generator.render.layout import intermediate_step, step_script
    from ..checks.fleet import ClusterSeen

    mount = cluster.cluster.intermediate_mount
    target = f"{api.address} (cluster {cluster.name})"
    problem, roots_source, bundle_refused = "", "", ""
    values: dict[str, bytes | None] = {}
    intermediate: x509.Certificate | None = None
    issuer: x509.Certificate | None = None
    chain: tuple[x509.Certificate, ...] = ()
    roots: tuple[x509.Certificate, ...] = ()
    role_caps: tuple[tuple[str, int], ...] = ()
    mount_max: int | None = None
    unread: tuple[str, ...] = ()
    root_max: int | None = None
    # The root mount signs the next intermediate (root.mode vault); an offline root is no mount of ours.
    root_mount = cluster.config.root.mount if cluster.config.root.mode == "vault" else ""
    try:
        values, roots_source, bundle_refused = _ca_values(api, cluster)
        intermediate = next(iter(certificates(values.get("ca-cert.pem"))), None)
        chain = certificates(values.get("cert-chain.pem"))
        roots = certificates(values.get("root-cert.pem"))
        if intermediate is not None:  # no intermediate, no limit to read (a mount never set up has no tuning)
            issuer = next(iter(certificates(_field(api.read(f"{mount}/issuer/default"), "certificate"))), None)
            role_caps, mount_max, unread = _limits(api, mount)
            if root_mount:
                root_max, root_unread = _mount_max(api, root_mount)
                unread = (*unread, *root_unread)
    except VaultApiError as error:
        problem = str(error)
    if intermediate is None and not problem:
        problem = _not_pki(api, mount)
    seen = ClusterSeen(
        name=cluster.name,
        target=target,
        mount=mount,
        trust_domain=cluster.trust_domain,
        aliases=cluster.trust_domain_aliases,
        data_plane=cluster.data_plane,
        intermediate=intermediate,
        chain=chain,
        roots=roots,
        roots_source=roots_source,
        issuer=issuer,
        role_caps=role_caps,
        mount_max_ttl=mount_max,
        problem=problem,
        kube=kube_seen(cluster, kubes.get(cluster.name), contexts.get(cluster.name)),
        step=step_script(cluster, intermediate_step(cluster)),
        unread=unread,
        bundle_refused=bundle_refused,
        reissue_ttl=cluster.intermediate_ttl_seconds,
        root_mount=root_mount,
        root_mount_max_ttl=root_max,
        root_step=root_step(cluster),
        setup=step_script(cluster, "setup.sh"),
    )
    return seen, values


def _ca_values(api: VaultApi, cluster: ClusterPlan) -> tuple[dict[str, bytes | None], str, str]:
    """The intermediate, chain and root-cert.pem as the cluster's agent renders them (during a root rotation the
    trust bundle in KV is root-cert.pem, as the phase-(b) overlay's agent reads it); the key is never read. A
    token refused the trust bundle is no outage (most days no rotation is going on): the bundle's path comes back
    third, and the run judges the cluster's own root-cert.pem."""
    from dataclasses import replace

    from ...generator.config.cafiles import CA_KEY, ROOT_CERT
    from ...generator.errors import VaultForbidden
    from ..checks.vault import template_value

    rotating = replace(cluster, trust_bundle=True)
    bundle = next(ca_file for ca_file in rotating.ca_files() if ca_file.name == ROOT_CERT)
    refused = ""
    try:
        bundle_value = template_value(api.read(bundle.secret_path), bundle.data_keys)
    except VaultForbidden:
        bundle_value, refused = None, bundle.secret_path
    use_bundle = bundle_value is not None and b"-----BEGIN CERTIFICATE-----" in bundle_value
    plan = rotating if use_bundle else cluster
    values: dict[str, bytes | None] = {}
    source = ""
    for ca_file in plan.ca_files():
        if ca_file.name == CA_KEY:
            continue
        values[ca_file.name] = template_value(api.read(ca_file.secret_path), ca_file.data_keys)
        if ca_file.name == ROOT_CERT:
            source = f"the trust bundle at {ca_file.secret_path}" if use_bundle else ca_file.secret_path
    return values, source, refused


def _field(response: dict[str, Any] | None, name: str) -> Any:
    """A field of a Vault response's `data` (or of the response itself, as sys/mounts/<m>/tune answers)."""
    if not isinstance(response, dict):
        return None
    data = response.get("data")
    if isinstance(data, dict) and name in data:
        return data[name]
    return response.get(name)


def _int(value: Any) -> int | None:
    """A TTL as Vault answers it: seconds as a number, or a duration text ("720h")."""
    from ...generator.config.durations import parse_duration

    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value)) if str(value).isdigit() else parse_duration(str(value))
    except ValueError:
        return None


def _limits(api: VaultApi, mount: str) -> tuple[tuple[tuple[str, int], ...], int | None, tuple[str, ...]]:
    """The mount's role caps and max_lease_ttl, and what a token without the rights could not read: a token may
    read certificates (no token needed for them) but not list roles or read the tuning, which is a gap in the
    answer, not an outage."""
    from ...generator.errors import VaultForbidden

    unread: list[str] = []
    caps: tuple[tuple[str, int], ...] = ()
    mount_max: int | None = None
    try:
        caps = _role_caps(api, mount)
    except VaultForbidden:
        unread.append("each PKI role's max_ttl")
    mount_max, mount_unread = _mount_max(api, mount)
    return caps, mount_max, (*unread, *mount_unread)


def _mount_max(api: VaultApi, mount: str) -> tuple[int | None, tuple[str, ...]]:
    """The mount's max_lease_ttl in seconds, or what could not be read (a token without sys/mounts/<m>/tune)."""
    from ...generator.errors import VaultForbidden

    try:
        return _int(_field(api.read(f"sys/mounts/{mount}/tune"), "max_lease_ttl")), ()
    except VaultForbidden:
        return None, (f"{mount}'s max_lease_ttl",)


def root_step(cluster: ClusterPlan) -> str:
    """The script that makes and tunes the root mount, as the hints name it: the fleet tree's root/vault/setup.sh
    (or the flat tree's vault/setup.sh) with its step 02; for an offline root, the step that imports it."""
    from ...generator.render.layout import IMPORT_STEP, ROOT_PREFIX, SETUP_SCRIPT, step_script

    if cluster.config.root.mode != "vault":
        return step_script(cluster, IMPORT_STEP)
    setup = f"{ROOT_PREFIX}{SETUP_SCRIPT}" if len(cluster.config.clusters) > 1 else SETUP_SCRIPT
    return f"{setup} (its step 02-root-pki.sh)"


def _not_pki(api: VaultApi, mount: str) -> str:
    """Why a mount without an intermediate has none when it is no PKI engine at all (a KV mount named by mistake):
    re-running step 04 would not help. "" when it is PKI, absent, or the token may not read sys/mounts."""
    from ...generator.errors import IvcError

    try:
        answer = api.read(f"sys/mounts/{mount}")
    except IvcError:
        return ""
    kind = _field(answer, "type")
    if isinstance(kind, str) and kind and kind != "pki":
        return f"{mount} is a {kind} secrets engine, not a PKI engine: intermediate_mount must name a PKI mount"
    return ""


def _role_caps(api: VaultApi, mount: str) -> tuple[tuple[str, int], ...]:
    """Each PKI role of the mount with its max_ttl in seconds (0: the mount's cap applies), sorted by name."""
    caps = []
    for role in sorted(api.list(f"{mount}/roles")):
        caps.append((role, _int(_field(api.read(f"{mount}/roles/{role}"), "max_ttl")) or 0))
    return tuple(caps)
