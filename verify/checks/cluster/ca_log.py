"""istiod's own account of its CA: the log line saying which CA it loaded, in every release's wording.

istiod does not fail when the files are missing; it logs a self-signed fallback and carries on, so its log is the
one place that says whether the Vault intermediate is really in use.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

from istio_vault_ca.verify.checks.agent_logs import evidence
from istio_vault_ca.verify.checks.cluster.state import DISCOVERY, PodView, norm
from istio_vault_ca.verify.checks.registry import Tier, check
from istio_vault_ca.verify.checks.result import CheckResult, errored, failed, passed, skipped, warned


@dataclass(frozen=True)
class _Signal:
    pattern: re.Pattern[str]
    releases: str


_PATH = r"(?P<path>[^\s\"',;]+)"
PLUGGED_IN: tuple[_Signal, ...] = (
    _Signal(re.compile(r"DNS certs use plugged-in cert at " + _PATH), "1.21-1.22"),
    _Signal(re.compile(r"Use plugged-in cert at " + _PATH), "1.10-1.20"),
    _Signal(re.compile(r"Use root cert from " + _PATH), "1.23+"),
    _Signal(re.compile(r"Use local CA certificate"), "1.10+"),
)
SELF_SIGNED: tuple[_Signal, ...] = (
    _Signal(re.compile(r"Use self-signed certificate as the CA certificate"), "1.10+"),
    _Signal(re.compile(r"No plugged-in cert at \S+; self-signed cert is used"), "1.10-1.19"),
    _Signal(re.compile(r"Use istio-generated cacerts at \S+ or istio-ca-secret"), "1.20-1.22"),
    _Signal(re.compile(r"Use roots from istio-ca-secret"), "1.23+"),
    _Signal(re.compile(r"Use roots from \S+ and watch"), "1.23+ (istio-generated cacerts)"),
    _Signal(re.compile(r"Use local self-signed CA certificate"), "1.10-1.14"),
    _Signal(re.compile(r"IstioGenerated \S+ secret found, use it as the CA certificate"), "1.21+"),
    _Signal(re.compile(r"CASecret \S+ not found, will create one"), "1.10+"),
    _Signal(re.compile(r"Load signing key and cert from existing secret"), "1.10+"),
)
CA_FAILURES: tuple[_Signal, ...] = (
    _Signal(re.compile(r"incomplete signing CA bundle detected"), "1.27+"),
    _Signal(re.compile(r"failed to create an istiod CA[^\n]*"), "1.10+"),
    _Signal(re.compile(r"unable to determine signing file format[^\n]*"), "1.15+"),
    _Signal(re.compile(r"Failed to update new Plug-in CA certs[^\n]*"), "1.13+"),
)


def _first(signals: Iterable[_Signal], text: str) -> re.Match[str] | None:
    matches = [m for m in (s.pattern.search(text) for s in signals) if m]
    return min(matches, key=lambda m: m.start()) if matches else None


@check("cluster.istiod-ca-log", tier=Tier.ISTIOD_REFUSES, needs=("pod",))
def istiod_ca_log(view: PodView) -> CheckResult:
    """What istiod says it loaded, in the wording of any release from 1.10 to today."""
    pod, plan = view.pod, view.plan
    check_id = "cluster.istiod-ca-log"
    log = pod.logs.get(DISCOVERY)
    if log is None:
        return skipped(check_id, pod.target, "discovery has not started, so it has not chosen a CA yet")
    if log.text is None:
        return errored(
            check_id,
            pod.target,
            f"cannot read discovery's log: {log.problem}",
            f"kubectl -n {pod.namespace} logs {pod.name} -c {DISCOVERY}",
        )
    text = log.text
    ca_dir = norm(plan.config.istiod.ca_dir)
    problem = _first(CA_FAILURES, text)
    if problem:
        return failed(
            check_id,
            pod.target,
            f"istiod could not load the plugged-in CA: {evidence(text, problem.start())}",
            "all four files must be present and valid: see pod.ca-files-present and the chain.* checks",
        )
    fallback = _first(SELF_SIGNED, text)
    if fallback:
        return failed(
            check_id,
            pod.target,
            "istiod fell back to a self-signed CA, not the Vault intermediate "
            f"(log: {evidence(text, fallback.start())})",
            f"istiod found no {plan.config.istiod.ca_dir}/ca-key.pem when it started: check "
            "cluster.root-ca-dir-matches-volume-path and cluster.agent-init-succeeded, then restart istiod",
        )
    plugged = [m for m in (s.pattern.search(text) for s in PLUGGED_IN) if m]
    paths = [m.group("path") for m in plugged if "path" in m.groupdict()]
    elsewhere = [p for p in paths if norm(posixpath.dirname(p)) != ca_dir]
    if elsewhere:
        return failed(
            check_id,
            pod.target,
            f"istiod loaded a plugged-in CA from {posixpath.dirname(elsewhere[0])}, not from the agent's "
            f"{ca_dir} (log: {evidence(text, text.find(elsewhere[0]))})",
            f"set ROOT_CA_DIR={ca_dir} (see cluster.root-ca-dir-matches-volume-path); a `cacerts` Secret "
            "is being used instead of Vault",
        )
    if plugged:
        first = min(plugged, key=lambda m: ("path" not in m.groupdict(), m.start()))
        where = f" from {ca_dir}" if paths else ""
        return passed(
            check_id, pod.target, f"istiod loaded the plugged-in CA{where} (log: {evidence(text, first.start())})"
        )
    return warned(
        check_id,
        pod.target,
        "no CA selection line in the head of discovery's log (rotated, or an unknown Istio release)",
        f"kubectl -n {pod.namespace} logs {pod.name} -c {DISCOVERY} | grep -iE 'plugged-in|self-signed|root cert'",
    )


def ca_source(text: str) -> str:
    """What the log says istiod loaded, as one word of facts.CA_SOURCES, in the order the check judges it:
    a load failure, then the self-signed fallback, then a plugged-in CA; `unknown` when the head of the log
    says none of these (rotated, or a release whose wording we do not know)."""
    if _first(CA_FAILURES, text):
        return "load_failed"
    if _first(SELF_SIGNED, text):
        return "self_signed"
    if _first(PLUGGED_IN, text):
        return "plugged"
    return "unknown"
