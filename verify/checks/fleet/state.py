"""What `verify fleet` read for every cluster of the config, as the fleet checks judge it.

The run (verify/runs/fleet.py) reads Vault and, where a kubeconfig context reaches it, each cluster; the checks are
pure functions of these records, so the judging is tested with certificates made in memory and exact dates. No
record holds key material: only certificates, TTLs and names.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from cryptography import x509


class KubeSeen(NamedTuple):
    """The roots istiod hands this cluster's workloads (its `istio-ca-root-cert` ConfigMap), or why they could not
    be read: no context for the cluster (a skip), an API server that did not answer (`unreachable`: an error, exit
    3), or an API server that answered without the ConfigMap (`missing`: istiod never wrote it, a failure)."""

    roots: tuple[x509.Certificate, ...] | None
    source: str
    reason: str = ""
    unreachable: bool = False
    missing: bool = False


class ClusterSeen(NamedTuple):
    """One cluster as Vault holds it: its intermediate and chain, the roots its workloads trust (root-cert.pem as
    its agent renders it; during a root rotation the trust bundle's), the mount's default issuer, the caps Vault
    puts on what the mount issues (each PKI role's max_ttl, the mount's max_lease_ttl), and the cluster's side."""

    name: str
    target: str
    mount: str
    trust_domain: str
    aliases: tuple[str, ...]
    data_plane: str
    intermediate: x509.Certificate | None
    chain: tuple[x509.Certificate, ...]
    roots: tuple[x509.Certificate, ...]
    roots_source: str
    issuer: x509.Certificate | None = None
    role_caps: tuple[tuple[str, int], ...] = ()
    mount_max_ttl: int | None = None
    problem: str = ""
    kube: KubeSeen | None = None
    # The rendered script that issues this cluster's intermediate and tunes its mount (the hints name it).
    step: str = "vault/04-intermediate-pki.sh"
    # Vault limits the token may not read (a role list, the mount's tuning): the effective expiry cannot rule
    # them out, so it warns instead of passing.
    unread: tuple[str, ...] = ()
    # The intermediate TTL the config asks (seconds) and the root mount that signs it, with its max_lease_ttl:
    # what the next re-issue of the intermediate would get (verify/checks/fleet/judge.py reissue_caps).
    reissue_ttl: int = 0
    # The rotation's trust bundle path when the token was refused it (not read: judged without it).
    bundle_refused: str = ""
    # The cluster's setup.sh, whose step 04 issues its intermediate (a cluster never set up runs it).
    setup: str = "vault/setup.sh"
    root_mount: str = ""
    root_mount_max_ttl: int | None = None
    # The script that makes and tunes the root mount ("root/vault/setup.sh (its step 02-root-pki.sh)" in a fleet).
    root_step: str = "vault/setup.sh (its step 02-root-pki.sh)"


class FleetState:
    """Every cluster seen, and what the judging depends on: the moment it judges at, the warning window and the
    TTL of the workload certificates istiod issues (a CA that ends sooner than that cannot issue a full one)."""

    __slots__ = ("clusters", "memo", "now", "target", "warn_days", "workload_ttl")

    def __init__(
        self,
        clusters: tuple[ClusterSeen, ...],
        *,
        now: dt.datetime,
        warn_days: int,
        workload_ttl: int,
        target: str = "fleet",
    ) -> None:
        self.clusters = clusters
        self.now = now
        self.warn_days = warn_days
        self.workload_ttl = workload_ttl
        self.target = target
        # What the checks derive once for the whole fleet (each cluster's signing root, the matrix): a 100-cluster
        # fleet would otherwise verify the same signatures once per row (verify/checks/fleet/checks.py).
        self.memo: dict[str, object] = {}


class FleetView:
    """What one registry run looks at: the fleet as a whole (`cluster` None, `whole` set) or one of its clusters.

    The registry's `when` keeps each check to its kind: per-cluster checks name `cluster`, fleet-wide ones `whole`,
    the ambient rule `ambient` (set for an ambient cluster only)."""

    __slots__ = ("ambient", "cluster", "fleet", "intermediate", "kube_roots", "whole")

    def __init__(self, fleet: FleetState, cluster: ClusterSeen | None = None) -> None:
        self.fleet = fleet
        self.cluster = cluster
        self.whole = fleet if cluster is None else None
        self.ambient = cluster if cluster is not None and cluster.data_plane == "ambient" else None
        self.intermediate = cluster.intermediate if cluster is not None else None
        kube = cluster.kube if cluster is not None else None
        self.kube_roots = kube.roots if kube is not None else None

    @property
    def target(self) -> str:
        return self.cluster.target if self.cluster is not None else self.fleet.target

    def seen(self) -> ClusterSeen:
        assert self.cluster is not None  # the registry runs per-cluster checks only with a cluster (`when`)
        return self.cluster
