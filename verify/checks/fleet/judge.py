"""The fleet's arithmetic: which root each cluster's chain ends at, the trust matrix, and each cluster's effective
expiry. Pure functions of `ClusterSeen` records, so the checks, the metrics and the HTML report share one answer.

A workload in cluster A accepts a peer of cluster B when B's chain (B's intermediate, its ca_chain) ends at a root
A's workloads trust (A's root-cert.pem, during a root rotation the trust bundle) and B's trust domain is A's own
or one of A's aliases. Go's crypto/x509 (istio-agent) and BoringSSL (Envoy) both build the path by signature
from the peer's chain to the local anchors, so the root is matched by signature here too, never by name alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import NamedTuple

from cryptography import x509

from ..chain.gox509 import issued_by
from ..pkix import Encoding
from .state import ClusterSeen

# A chain longer than this is not a CA chain anyone deploys; it bounds the walk over an adversarial pool.
MAX_PATH = 8


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def name_of(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def fingerprint(cert: x509.Certificate) -> str:
    """The first 8 hex digits of the certificate's SHA-256: what tells two certificates of one name apart."""
    import hashlib

    return hashlib.sha256(der(cert)).hexdigest()[:8]


def label(cert: x509.Certificate, others: Iterable[x509.Certificate] = ()) -> str:
    """The certificate's name quoted for a message, with its fingerprint when another certificate of `others`
    has the same name (two roots called 'Mesh Root' read the same in a message otherwise)."""
    name = name_of(cert)
    if any(name_of(other) == name and der(other) != der(cert) for other in others):
        return f"'{name}' (sha256 {fingerprint(cert)})"
    return f"'{name}'"


def self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and issued_by(cert, cert)


def signing_root(seen: ClusterSeen, known_roots: Iterable[x509.Certificate] = ()) -> x509.Certificate | None:
    """The self-signed root the cluster's intermediate chains to, through its ca_chain and the roots anyone in the
    fleet trusts (a chain may leave its root out); None when no path ends at a root Vault holds."""
    if seen.intermediate is None:
        return None
    pool = [*seen.chain, *seen.roots, *known_roots]
    current = seen.intermediate
    for _ in range(MAX_PATH):
        if self_signed(current):
            return current
        parent = next((cert for cert in pool if cert != current and issued_by(current, cert)), None)
        if parent is None:
            return None
        current = parent
    return None


def trusted_roots(seen: ClusterSeen) -> tuple[x509.Certificate, ...]:
    """The roots the cluster's workloads really trust: its istio-ca-root-cert ConfigMap when it was read (what
    istiod hands them, whatever Vault says), else what its agent renders from Vault."""
    if seen.kube is not None and seen.kube.roots is not None:
        return seen.kube.roots
    return seen.roots


def trusted_source(seen: ClusterSeen) -> str:
    """Where `trusted_roots` came from, for the messages."""
    if seen.kube is not None and seen.kube.roots is not None:
        return seen.kube.source
    return seen.roots_source


def fleet_roots(clusters: Iterable[ClusterSeen]) -> list[x509.Certificate]:
    """Every root some cluster's workloads trust (in Vault or, where read, in the cluster), once each, in config
    order."""
    seen: dict[bytes, x509.Certificate] = {}
    for cluster in clusters:
        live = cluster.kube.roots if cluster.kube is not None and cluster.kube.roots is not None else ()
        for root in (*cluster.roots, *live):
            seen.setdefault(der(root), root)
    return list(seen.values())


def signing_roots(clusters: tuple[ClusterSeen, ...]) -> dict[str, x509.Certificate | None]:
    """Each cluster's signing root by name (the walk may use roots any cluster trusts, and the chain's own)."""
    known = fleet_roots(clusters)
    return {cluster.name: signing_root(cluster, known) for cluster in clusters}


class Cell(NamedTuple):
    """One cell of the trust matrix: does a workload in `source` accept a peer of `peer`, and if not, why."""

    source: str
    peer: str
    accepts: bool
    reason: str = ""


def certificate_pool(clusters: tuple[ClusterSeen, ...]) -> list[x509.Certificate]:
    """Every root, intermediate and chain certificate of the fleet: what a message's name must be unique among."""
    certs: dict[bytes, x509.Certificate] = {}
    for cluster in clusters:
        for cert in (
            *fleet_roots((cluster,)),
            *cluster.chain,
            *((cluster.intermediate,) if cluster.intermediate else ()),
        ):
            certs.setdefault(der(cert), cert)
    for root in signing_roots(clusters).values():
        if root is not None:
            certs.setdefault(der(root), root)
    return list(certs.values())


def trust_cell(
    source: ClusterSeen,
    peer: ClusterSeen,
    peer_root: x509.Certificate | None,
    pool: Iterable[x509.Certificate] = (),
) -> Cell:
    """Whether `source`'s workloads accept `peer`'s workload certificates (the reason names the real cause)."""
    if peer.intermediate is None:
        return Cell(source.name, peer.name, False, f"{peer.name} has no intermediate in Vault")
    if peer_root is None:
        top = peer.chain[-1] if peer.chain else peer.intermediate
        return Cell(
            source.name, peer.name, False, f"{peer.name}'s chain ends at {label(top, pool)} without a root Vault holds"
        )
    if der(peer_root) not in {der(root) for root in trusted_roots(source)}:
        where = f" ({trusted_source(source)})" if trusted_roots(source) is not source.roots else ""
        return Cell(
            source.name,
            peer.name,
            False,
            f"{peer.name}'s chain ends at root {label(peer_root, pool)}, which {source.name}'s workloads do not "
            f"trust{where}",
        )
    if peer.trust_domain != source.trust_domain and peer.trust_domain not in source.aliases:
        return Cell(
            source.name,
            peer.name,
            False,
            f"{peer.name}'s trust domain '{peer.trust_domain}' is neither {source.name}'s '{source.trust_domain}' "
            "nor one of its trust_domain_aliases",
        )
    return Cell(source.name, peer.name, True)


def trust_matrix(clusters: tuple[ClusterSeen, ...], pool: Iterable[x509.Certificate] = ()) -> list[Cell]:
    """Every (source, peer) cell, the diagonal included (a cluster must accept its own chain), in config order."""
    roots, names = signing_roots(clusters), list(pool)
    return [trust_cell(source, peer, roots[peer.name], names) for source in clusters for peer in clusters]


class Bound(NamedTuple):
    """One certificate limit on how long the cluster's CA can issue: `kind` root|intermediate|issuer (a fixed
    value: it is the `bound` label of the effective-expiry metric), `what` the words for people."""

    kind: str
    what: str
    ends: dt.datetime


class Expiry(NamedTuple):
    """The earliest bound and the effective expiry: from then on a workload certificate of the full TTL would
    outlive the CA, so istiod can no longer issue one."""

    bounds: tuple[Bound, ...]
    earliest: Bound
    effective: dt.datetime


def bounds_of(seen: ClusterSeen, root: x509.Certificate | None, pool: Iterable[x509.Certificate] = ()) -> list[Bound]:
    """The notAfter of the cluster's signing root, its intermediate and the mount's default issuer. Nothing of
    Vault's caps: istiod signs workload certificates itself with the intermediate from KV, so a role's max_ttl or
    a mount's max_lease_ttl never stops that; they cap the next re-issue of the intermediate (`reissue_caps`).
    Counting them from now would give a deadline that moves with every run."""
    bounds: list[Bound] = []
    names = list(pool)
    if root is not None:
        bounds.append(Bound("root", f"root {label(root, names)} notAfter", root.not_valid_after_utc))
    if seen.intermediate is not None:
        intermediate = seen.intermediate
        bounds.append(
            Bound(
                "intermediate", f"intermediate {label(intermediate, names)} notAfter", intermediate.not_valid_after_utc
            )
        )
    if seen.issuer is not None:
        bounds.append(Bound("issuer", f"{seen.mount}'s default issuer notAfter", seen.issuer.not_valid_after_utc))
    return bounds


def expiry_of(
    seen: ClusterSeen, root: x509.Certificate | None, workload_ttl: int, pool: Iterable[x509.Certificate] = ()
) -> Expiry | None:
    """The cluster's effective expiry: the earliest bound minus the workload certificate TTL; None without bounds.
    Ties go to the bound listed first (root, intermediate, issuer), so the answer is deterministic."""
    bounds = bounds_of(seen, root, pool)
    if not bounds:
        return None
    earliest = min(bounds, key=lambda bound: bound.ends)
    return Expiry(tuple(bounds), earliest, earliest.ends - dt.timedelta(seconds=workload_ttl))


class Cap(NamedTuple):
    """A Vault limit below the intermediate TTL the config asks: the next re-issue gets at most `seconds`."""

    kind: str  # root-mount|mount|role
    what: str
    seconds: int


def reissue_caps(seen: ClusterSeen) -> list[Cap]:
    """The limits that would cut the next re-issue of the cluster's intermediate short of the config's TTL: the
    root mount's max_lease_ttl (it signs the intermediate), the cluster's mount's max_lease_ttl and each of its
    PKI roles' max_ttl (0: the mount's applies)."""
    if seen.reissue_ttl <= 0:
        return []
    caps: list[Cap] = []
    if seen.root_mount and seen.root_mount_max_ttl and seen.root_mount_max_ttl < seen.reissue_ttl:
        caps.append(Cap("root-mount", f"root mount {seen.root_mount}'s max_lease_ttl", seen.root_mount_max_ttl))
    if seen.mount_max_ttl and seen.mount_max_ttl < seen.reissue_ttl:
        caps.append(Cap("mount", f"mount {seen.mount}'s max_lease_ttl", seen.mount_max_ttl))
    for role, seconds in seen.role_caps:
        if 0 < seconds < seen.reissue_ttl:
            caps.append(Cap("role", f"PKI role {seen.mount}/roles/{role}'s max_ttl", seconds))
    return caps


def duplicate_roots(clusters: tuple[ClusterSeen, ...]) -> list[str]:
    """Problems with the fleet's roots a peer's path building trips on: two different roots under one subject name
    (Go and BoringSSL pick candidates by name, so the wrong one may be tried and the chain read as broken), and one
    root listed twice in a cluster's bundle."""
    problems: list[str] = []
    by_subject: dict[str, dict[bytes, x509.Certificate]] = {}
    ends = [root for root in signing_roots(clusters).values() if root is not None]  # a foreign root counts too
    for root in [*fleet_roots(clusters), *ends]:
        by_subject.setdefault(root.subject.rfc4514_string(), {})[der(root)] = root
    for subject, roots in by_subject.items():
        if len(roots) > 1:
            problems.append(f"{len(roots)} different roots share the subject '{subject}'")
    for cluster in clusters:
        ders = [der(root) for root in trusted_roots(cluster)]
        if len(set(ders)) < len(ders):
            problems.append(f"{cluster.name}'s {trusted_source(cluster)} lists a root twice")
    return problems
