"""Root rotation for ambient clusters (`data_plane: ambient`): the restarts ztunnel needs, in order, and where the
downtime is, added to the phase README of `plan-rotation --root`. Sidecar clusters get none of it.

Why ztunnel cannot follow the sidecar phases without restarts and downtime (read from istio/ztunnel's source; the
verifier's verify/checks/chain/ztunnel.py cites the files, functions and tags, and tests/unit/verify/checks/
test_release_facts.py holds the releases here equal to its own): ztunnel trusts exactly ONE root, the last
certificate of istiod's root-cert.pem from 1.26 (src/tls/certificate.rs WorkloadCertificate::new) and the first
before, and it takes it only when it fetches a workload certificate (src/identity/caclient.rs fetch_certificate),
which it does again at refresh or restart. The trust bundle of phase (b) lists the old root first, then the new:

- 1.26+: a ztunnel that fetches after (b) trusts only the NEW root while every workload certificate is still under
  the old intermediate until (c): (b) and (c) must run back to back, then every ztunnel restarted.
- before 1.26: ztunnel trusts the OLD root until (d), while (c) has made certificates chain to the new one: (c) and
  (d) must run back to back, then every ztunnel restarted.

Either way there is a window no order avoids: while the ztunnel DaemonSet rolls, restarted ztunnels (new root,
new certificates) and not yet restarted ones reject each other's connections, and each ztunnel's restart drops the
connections of its node's pods.
"""

from __future__ import annotations

from ..config.plan import ClusterPlan

# The Istio release from which ztunnel trusts the last certificate of root-cert.pem (verify's ztunnel.py
# MULTI_CERT_ROOT_ELEMENT_FROM and SPLIT_RESPONSE_FROM).
ZTUNNEL_LAST_ROOT_FROM = (1, 26)
ZTUNNEL_DAEMONSET = "ztunnel"


def _kubectl(plan: ClusterPlan) -> str:
    context = f" --context {plan.cluster.kube_context}" if plan.cluster.kube_context else ""
    return f"kubectl{context}"


def ambient_steps(plans: tuple[ClusterPlan, ...], phase: str) -> tuple[str, ...]:
    """The README lines of `phase` for the ambient clusters of `plans`; () when none is ambient."""
    ambient = [p for p in plans if p.data_plane == "ambient"]
    if not ambient or phase not in ("b", "c", "d"):
        return ()
    release = f"{ZTUNNEL_LAST_ROOT_FROM[0]}.{ZTUNNEL_LAST_ROOT_FROM[1]}"
    names = ", ".join(p.name for p in ambient)
    lines = [
        "",
        f"Ambient clusters ({names}): ztunnel trusts ONE root, the last of root-cert.pem on Istio {release}+ (the",
        "first before), taken when it fetches a workload certificate. No order of phases avoids downtime there:",
        f"  - Istio {release}+: from (b) on, a ztunnel that fetches trusts only the new root while certificates",
        "    are still under the old one: run (c) right after (b), in one maintenance window.",
        f"  - before {release}: ztunnel trusts the old root until (d), while (c) issues under the new one:",
        "    run (d) right after (c), in one maintenance window.",
        "  After the phase of your release, restart in this order, each rollout finished before the next:",
    ]
    for plan in ambient:
        kubectl, namespace = _kubectl(plan), plan.config.istiod.namespace
        deployment = plan.config.istiod.deployment
        lines += [
            f"  cluster {plan.name}:",
            f"    1. istiod:    {kubectl} -n {namespace} rollout restart deployment/{deployment}",
            f"                  {kubectl} -n {namespace} rollout status deployment/{deployment}",
            f"    2. ztunnel:   {kubectl} -n {namespace} rollout restart daemonset/{ZTUNNEL_DAEMONSET}",
            f"                  {kubectl} -n {namespace} rollout status daemonset/{ZTUNNEL_DAEMONSET}",
            f"    3. workloads: {kubectl} -n <each namespace> rollout restart deployment (waypoints and sidecar",
            "                  workloads, which then fetch certificates and istio-ca-root-cert under the new root)",
        ]
    lines += [
        "  Downtime that cannot be avoided: while the ztunnel DaemonSet rolls, restarted and not yet restarted",
        "  ztunnels reject each other's connections (one trusts only the new root, the other presents old",
        "  certificates or trusts only the old root), and each ztunnel restart drops its node's connections.",
        "  Then verify: istio-vault-ca verify cluster (cluster.ztunnel-trust) and verify chain --from-vault.",
    ]
    return tuple(lines)
