"""The `fleet.*` checks: every cluster's chain against every other cluster's trust, the fleet's roots, and when
each cluster's issuing really ends. Per-cluster checks run with `when="cluster"`, fleet-wide ones with `when="whole"`
(verify/checks/fleet/state.py FleetView), so one registry family covers both.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from cryptography import x509

from ..registry import Tier, check
from ..result import CheckResult, errored, failed, passed, skipped, warned
from .judge import (
    Cap,
    Cell,
    Expiry,
    certificate_pool,
    der,
    duplicate_roots,
    expiry_of,
    fleet_roots,
    label,
    reissue_caps,
    signing_roots,
    trust_matrix,
)
from .state import ClusterSeen, FleetState, FleetView


def plan_rotation(fleet: FleetState, rest: str = "") -> str:
    """The plan-rotation command a hint suggests, with the run's --warn-days when it is not the default: the
    plan must judge "due" with the window this run warned with, or it may report nothing due."""
    from ....generator.config.defaults import WARN_DAYS

    window = f" --warn-days {fleet.warn_days}" if fleet.warn_days != WARN_DAYS else ""
    return f"istio-vault-ca plan-rotation -c CONFIG{window}{' ' + rest if rest else ''}"


def moment(when: dt.datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M} UTC"


def duration(seconds: int) -> str:
    """Seconds as people write TTLs: whole days or hours when they are, else seconds."""
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds}s"


def roots_by_cluster(fleet: FleetState) -> dict[str, x509.Certificate | None]:
    """Each cluster's signing root, computed once for the fleet (every row and check reads it)."""
    if "roots" not in fleet.memo:
        fleet.memo["roots"] = signing_roots(fleet.clusters)
    return cast("dict[str, x509.Certificate | None]", fleet.memo["roots"])


def pool(fleet: FleetState) -> list[x509.Certificate]:
    """Every certificate the fleet's messages may name, computed once (`named` tells same-name ones apart)."""
    if "pool" not in fleet.memo:
        fleet.memo["pool"] = certificate_pool(fleet.clusters)
    return cast("list[x509.Certificate]", fleet.memo["pool"])


def named(fleet: FleetState, cert: x509.Certificate) -> str:
    """The certificate's quoted name, with a short SHA-256 fingerprint when another of the fleet shares it."""
    return label(cert, pool(fleet))


def matrix(fleet: FleetState) -> list[Cell]:
    """The trust matrix, computed once for the fleet."""
    if "matrix" not in fleet.memo:
        fleet.memo["matrix"] = trust_matrix(fleet.clusters, pool(fleet))
    return cast("list[Cell]", fleet.memo["matrix"])


def expiry(fleet: FleetState, seen: ClusterSeen) -> Expiry | None:
    return expiry_of(seen, roots_by_cluster(fleet)[seen.name], fleet.workload_ttl, pool(fleet))


@check("fleet.intermediate-chains", tier=Tier.PEERS_REJECT, when="cluster")
def intermediate_chains(view: FleetView) -> CheckResult:
    """The cluster's intermediate, read from Vault, must chain to a root its own workloads trust (root-cert.pem as
    its agent renders it): otherwise even its own workloads reject each other's certificates."""
    seen, check_id = view.seen(), "fleet.intermediate-chains"
    if seen.intermediate is None:
        why = seen.problem or f"no certificate at {seen.mount}/cert/ca"
        return failed(check_id, seen.target, why, _setup_hint(seen))
    if not seen.roots and not seen.bundle_refused:
        return failed(
            check_id,
            seen.target,
            f"the root is missing: nothing at {seen.roots_source}, so {named(view.fleet, seen.intermediate)} chains "
            "to no root Vault holds",
            f"set up the root first: run {seen.root_step}, then re-run {seen.step}",
        )
    root = roots_by_cluster(view.fleet)[seen.name]
    if root is None:
        top = seen.chain[-1] if seen.chain else seen.intermediate
        return failed(
            check_id,
            seen.target,
            f"the chain of {named(view.fleet, seen.intermediate)} ends at {named(view.fleet, top)}, not at a root "
            "Vault holds",
            f"{seen.mount}/cert/ca_chain must end with the root that signed it: re-run {seen.step}",
        )
    if der(root) not in {der(trusted) for trusted in seen.roots}:
        trusted = ", ".join(named(view.fleet, cert) for cert in seen.roots) or "nothing"
        return failed(
            check_id,
            seen.target,
            f"{named(view.fleet, seen.intermediate)} chains to root {named(view.fleet, root)} (a foreign root), but "
            f"the cluster's workloads trust {trusted} ({seen.roots_source})",
            f"re-issue {seen.name}'s intermediate under the fleet's root: "
            f"{plan_rotation(view.fleet, '--force ' + seen.name)} writes rotation/{seen.name}/rotate-intermediate.sh",
        )
    finding = f"{named(view.fleet, seen.intermediate)} chains to root {named(view.fleet, root)}"
    if seen.bundle_refused:
        return warned(
            check_id,
            seen.target,
            f"{finding}; the token may not read the rotation's trust bundle at {seen.bundle_refused}, so during a "
            f"root rotation the roots judged ({seen.roots_source}) may not be what the workloads trust",
            f'let the token read it: path "{seen.bundle_refused}" {{ capabilities = ["read"] }} in its policy',
        )
    return passed(check_id, seen.target, finding)


@check("fleet.trust-matrix", tier=Tier.PEERS_REJECT, when="cluster")
def trust_row(view: FleetView) -> CheckResult:
    """One row of the trust matrix: would a workload in this cluster accept every other cluster's chain (same root
    by signature, trust domain its own or one of its aliases)? A rejected peer means failed cross-cluster mTLS."""
    seen, check_id = view.seen(), "fleet.trust-matrix"
    row = [cell for cell in matrix(view.fleet) if cell.source == seen.name and cell.peer != seen.name]
    if not row:
        return passed(check_id, seen.target, "the only cluster of the fleet: no peer to accept")
    unset = {cluster.name for cluster in view.fleet.clusters if cluster.intermediate is None}
    # A peer never set up fails once, in its own fleet.intermediate-chains row, not once more per peer here.
    missing = [cell.peer for cell in row if cell.peer in unset]
    rejected = [cell for cell in row if not cell.accepts and cell.peer not in unset]
    accepted = ", ".join(cell.peer for cell in row if cell.accepts) or "no peer"
    not_judged = f" ({', '.join(missing)} not judged: no intermediate in Vault yet)" if missing else ""
    if not rejected:
        return passed(check_id, seen.target, f"workloads in {seen.name} accept the chains of {accepted}{not_judged}")
    reasons = "; ".join(cell.reason for cell in rejected)
    return failed(
        check_id,
        seen.target,
        f"workloads in {seen.name} reject {', '.join(cell.peer for cell in rejected)}: {reasons} "
        f"(they accept {accepted}){not_judged}",
        _trust_hint(seen, rejected, view.fleet),
    )


def _setup_hint(seen: ClusterSeen) -> str:
    """What issues a cluster's missing intermediate: its setup.sh (step 04), or, when the mount is no PKI engine,
    the config's intermediate_mount first."""
    step = seen.step.rsplit("/", 1)[-1]
    if "not a PKI engine" in seen.problem:
        return (
            f"point clusters[{seen.name}].intermediate_mount at a PKI mount of its own (this one holds other "
            f"data), then run {seen.setup} (its step {step})"
        )
    return f"set up {seen.name}: run {seen.setup} (its step {step} issues the intermediate)"


def _trust_hint(seen: ClusterSeen, rejected: list[Cell], fleet: FleetState) -> str:
    """What to change, naming the peers: an alias for a foreign trust domain, else the peer's intermediate."""
    domains = {cluster.name: cluster.trust_domain for cluster in fleet.clusters}
    by_domain = [cell.peer for cell in rejected if "trust domain" in cell.reason]
    by_root = [cell.peer for cell in rejected if cell.peer not in by_domain]
    hints = []
    if not seen.roots and not seen.bundle_refused:
        hints.append(f"{seen.name}'s workloads trust no root: set up the root first, run {seen.root_step}")
        by_root = []
    if by_root:
        hints.append(
            f"{seen.name} must trust the root each peer's chain ends at: re-issue {', '.join(by_root)}'s "
            f"intermediate under the fleet's root ({plan_rotation(fleet, '--force ' + by_root[0])}), or "
            f"during a root rotation deliver the trust bundle with both roots to {seen.name} first "
            f"({plan_rotation(fleet, '--root')})"
        )
    if by_domain:
        aliases = ", ".join(sorted({domains[peer] for peer in by_domain}))
        hints.append(
            f"add {aliases} to clusters[{seen.name}].trust_domain_aliases (meshConfig.trustDomainAliases), or give "
            "the clusters one trust_domain"
        )
    return "; ".join(hints)


def _expiry_hint(seen: ClusterSeen, kind: str, fleet: FleetState) -> str:
    if kind == "root":
        return f"plan and run the root rotation: {plan_rotation(fleet, '--root')}"
    if kind == "intermediate":
        return (
            f"rotate {seen.name}'s intermediate before then: {plan_rotation(fleet)} writes "
            f"rotation/{seen.name}/rotate-intermediate.sh"
        )
    if kind == "issuer":
        return (
            f"{seen.mount}'s default issuer ends before the intermediate istiod loads: make that intermediate the "
            f"default issuer again (vault write {seen.mount}/config/issuers default=ISSUER_ID), or re-run {seen.step}"
        )
    return ""


def _cap_hint(seen: ClusterSeen, cap: Cap) -> str:
    """How to lift one cap on the next re-issue to the config's intermediate TTL."""
    asked = duration(seen.reissue_ttl)
    if cap.kind == "root-mount":
        return (
            f"`vault secrets tune -max-lease-ttl={asked} {seen.root_mount}`, or re-run {seen.root_step}, which "
            "tunes the root mount"
        )
    if cap.kind == "mount":
        return f"`vault secrets tune -max-lease-ttl={asked} {seen.mount}`, or re-run {seen.step} (it tunes the mount)"
    role = cap.what.split("/roles/", 1)[1].split("'", 1)[0]
    return f"vault write {seen.mount}/roles/{role} max_ttl={asked}"


def _caps_row(seen: ClusterSeen, caps: list[Cap], finding: str) -> tuple[str, str]:
    """The warning about the caps on the next re-issue: what it would get, what the config asks, the fixes."""
    smallest = min(cap.seconds for cap in caps)
    limits = ", ".join(f"{cap.what} {duration(cap.seconds)}" for cap in caps)
    text = (
        f"{finding}; the next re-issue of {seen.name}'s intermediate gets at most {duration(smallest)}, the config "
        f"asks {duration(seen.reissue_ttl)} ({limits})"
    )
    return text, "; ".join(_cap_hint(seen, cap) for cap in caps)


@check("fleet.effective-expiry", tier=Tier.ISTIOD_REFUSES, needs=("intermediate",), when="cluster")
def effective_expiry(view: FleetView) -> CheckResult:
    """When issuing really ends: the earliest of the root's, the intermediate's and the mount's default issuer's
    notAfter, minus the workload certificate TTL. From then on a full workload certificate cannot be issued.
    istiod signs workload certificates itself with the intermediate from KV, so Vault's caps (the root mount's and
    the cluster mount's max_lease_ttl, each PKI role's max_ttl) do not end issuing: they cap the TTL of the next
    re-issue of the intermediate, which warns when it is below the config's intermediate ttl."""
    seen, fleet, check_id = view.seen(), view.fleet, "fleet.effective-expiry"
    found = expiry(fleet, seen)
    if found is None:
        return skipped(check_id, seen.target, "no certificate or Vault limit to judge")
    earliest, effective = found.earliest, found.effective
    ttl = duration(fleet.workload_ttl)
    finding = (
        f"effective expiry {moment(effective)}: the {earliest.what} ({moment(earliest.ends)}) minus the {ttl} "
        "workload certificate TTL; issuance starts failing then"
    )
    hint = _expiry_hint(seen, earliest.kind, fleet)
    if effective <= fleet.now:
        return failed(
            check_id,
            seen.target,
            f"issuance of a {ttl} workload certificate fails since {moment(effective)}: the {earliest.what} is "
            f"{moment(earliest.ends)}",
            hint,
        )
    if effective - fleet.now < dt.timedelta(days=fleet.warn_days):
        return warned(check_id, seen.target, f"{finding}, within --warn-days {fleet.warn_days}", hint)
    caps = reissue_caps(seen)
    if caps:
        return warned(check_id, seen.target, *_caps_row(seen, caps, finding))
    if seen.unread:
        return warned(
            check_id,
            seen.target,
            f"{finding}; not read, so not ruled out: {', '.join(seen.unread)}",
            f"let the token list {seen.mount}/roles, read each role and sys/mounts/{seen.mount}/tune"
            + (f" and sys/mounts/{seen.root_mount}/tune" if seen.root_mount else ""),
        )
    return passed(check_id, seen.target, finding)


@check("fleet.ambient-shared-root", tier=Tier.PEERS_REJECT, when="ambient")
def ambient_shared_root(view: FleetView) -> CheckResult:
    """Ambient multi-cluster needs one shared root (istio/istio#61719): ztunnel takes its trust roots from the end
    of istiod's CSR response only, so an ambient cluster whose chain ends at another root than its peers' is
    refused."""
    seen, check_id = view.seen(), "fleet.ambient-shared-root"
    roots = roots_by_cluster(view.fleet)
    own = roots[seen.name]
    if own is None:
        return skipped(check_id, seen.target, "its chain ends at no root (fleet.intermediate-chains says why)")
    others = sorted(name for name, root in roots.items() if name != seen.name and root is not None and root != own)
    if others:
        return failed(
            check_id,
            seen.target,
            f"ambient cluster {seen.name} chains to root {named(view.fleet, own)}, but {', '.join(others)} chain(s) to "
            "another root: per-cluster roots are refused for ambient",
            f"give every cluster one root (re-issue the odd intermediates under it: "
            f"{plan_rotation(view.fleet, '--force CLUSTER')}); "
            "ztunnel cannot follow a root change without restarts (docs/how-to/ambient.md)",
        )
    return passed(
        check_id, seen.target, f"ambient cluster {seen.name} shares root {named(view.fleet, own)} with the fleet"
    )


@check("fleet.cluster-roots", tier=Tier.SETUP, when="cluster")
def cluster_roots(view: FleetView) -> CheckResult:
    """The roots istiod hands the cluster's workloads (its istio-ca-root-cert ConfigMap) must be the ones Vault
    says they trust; a cluster that was not reached is a skip with the reason, never a pass."""
    seen, check_id = view.seen(), "fleet.cluster-roots"
    kube = seen.kube
    if kube is not None and kube.unreachable:
        return errored(
            check_id,
            seen.target,
            f"{kube.source} not read: {kube.reason}",
            f"the API server of context {kube.source.rsplit('(context ', 1)[-1].rstrip(')')} must answer: "
            "check the server address, the network and the credentials (kubectl --context CONTEXT get ns)",
        )
    if kube is not None and kube.missing:
        return failed(
            check_id,
            seen.target,
            f"{kube.source}: {kube.reason}, so the cluster's workloads are handed no root",
            f"istiod writes that ConfigMap into every namespace when it runs: check that istiod runs in "
            f"{seen.name} and that istiod.namespace in the config is its namespace (istio-vault-ca verify cluster "
            f"-c CONFIG --cluster {seen.name})",
        )
    if kube is None or kube.roots is None:
        reason = kube.reason if kube is not None else "not read"
        return skipped(check_id, seen.target, f"cluster not read: {reason}", _reach_hint(seen))
    if {der(root) for root in kube.roots} == {der(root) for root in seen.roots}:
        return passed(check_id, seen.target, f"{kube.source} holds the roots of {seen.roots_source}")
    found = ", ".join(named(view.fleet, root) for root in kube.roots) or "no certificate"
    return failed(
        check_id,
        seen.target,
        f"{kube.source} holds {found}, not the roots of {seen.roots_source}",
        f"istiod in {seen.name} hands out another root: istio-vault-ca verify cluster -c CONFIG --cluster "
        f"{seen.name} says why",
    )


def _reach_hint(seen: ClusterSeen) -> str:
    return (
        f"not asked to read it: to compare its ConfigMap with Vault, set clusters[{seen.name}].kube_context in the "
        f"config, or pass --context {seen.name}=CONTEXT (and --kubeconfig FILE)"
    )


@check("fleet.duplicate-roots", tier=Tier.PRACTICE, when="whole")
def fleet_duplicate_roots(view: FleetView) -> CheckResult:
    """Different roots under one subject name, or one root listed twice: path building picks anchors by name,
    so a duplicate makes a peer try the wrong root and read a good chain as broken."""
    fleet, check_id = view.fleet, "fleet.duplicate-roots"
    problems = duplicate_roots(fleet.clusters)
    if problems:
        return warned(
            check_id,
            fleet.target,
            "; ".join(problems),
            "give each root its own subject (root.common_name) and list every root once in the trust bundle",
        )
    distinct = {der(root) for root in fleet_roots(fleet.clusters)}
    if not distinct:
        return skipped(
            check_id, fleet.target, "no root read from Vault or any cluster (fleet.intermediate-chains says why)"
        )
    return passed(check_id, fleet.target, f"{len(distinct)} distinct root(s), each under its own name")


@check("fleet.expires-first", tier=Tier.INFO, when="whole")
def expires_first(view: FleetView) -> CheckResult:
    """Which cluster stops issuing first, and which root and intermediate end first: the one date a fleet's
    rotation calendar starts from."""
    fleet, check_id = view.fleet, "fleet.expires-first"
    expiries = [(found.effective, seen.name, found) for seen in fleet.clusters if (found := expiry(fleet, seen))]
    if not expiries:
        return skipped(check_id, fleet.target, "no cluster's intermediate was read")
    effective, name, found = min(expiries, key=lambda item: (item[0], item[1]))
    parts = [f"{name} stops issuing first, at {moment(effective)} ({found.earliest.what})"]
    held = {der(root) for root in fleet_roots(fleet.clusters)}  # a root only a chain names may not exist in Vault
    roots = [root for root in roots_by_cluster(fleet).values() if root is not None and der(root) in held]
    if roots:
        root = min(roots, key=lambda cert: (cert.not_valid_after_utc, der(cert)))
        parts.append(f"root {named(fleet, root)} ends first of the roots, at {moment(root.not_valid_after_utc)}")
    intermediates = [(seen.intermediate.not_valid_after_utc, seen.name) for seen in fleet.clusters if seen.intermediate]
    if intermediates:
        ends, first = min(intermediates)
        parts.append(f"{first}'s intermediate ends first, at {moment(ends)}")
    return passed(check_id, fleet.target, "; ".join(parts))
