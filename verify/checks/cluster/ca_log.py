"""istiod's own account of its CA: the log line saying which CA it loaded, in every release's wording.

istiod does not fail when the files are missing; it logs a self-signed fallback and carries on, so its log is the
one place that says whether the Vault intermediate is really in use. Likewise when the files change later (a renewed
intermediate, a root rotation's bundle): istiod keeps its old CA if it refuses them, and only its log says so.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..agent_logs import evidence
from ..chain.versions import (
    AUTO_RELOAD_FLAG,
    BYTE_CONTAINMENT,
    CERT_SUBSET_FROM,
    INTERMEDIATE_RELOAD_NEEDS_FLAG,
    MULTIROOT_FROM,
    NO_WATCHER,
    ROOT_NEVER_RELOADED,
)
from ..chain.versions import since as since_release
from ..registry import Tier, check
from ..result import CheckResult, errored, failed, passed, skipped, warned
from .state import DISCOVERY, PodView, norm


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
    # Still in release-1.31 (istio_ca.go createSelfSignedCACertificateOptions), logged when istiod has no
    # Kubernetes client; read from the pinned sources by tests/e2e/test_istiod_log_patterns_real.py.
    _Signal(re.compile(r"Use local self-signed CA certificate"), "1.10+ (without a Kubernetes client)"),
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


# istiod's reload of the CA files: pilot/pkg/bootstrap/istio_ca.go `handleEvent` (run by `handleCACertsFileWatch`
# 100 ms after an fsnotify write/create in the watched directory); which releases watch and what they take is
# verify/checks/chain/versions.py's (WATCHER_FROM, WATCHER_ALWAYS_FROM, MULTIROOT_FROM, CERT_SUBSET_FROM).
_RELOAD_START = re.compile(r"Update Istiod cacerts")
_WATCHING = re.compile(r"Added cacerts files watcher at\s*" + _PATH)
_RELOADED = re.compile(r"Istiod has detected the newly added intermediate CA and updated its key and certs accordingly")
_NEW_ROOT = re.compile(r"Updating new ROOT-CA(?! not supported)")
# MULTIROOT_FROM on: root-cert.pem differs from the loaded bundle and ISTIO_MULTIROOT_MESH is not true.
_MULTIROOT_OFF = re.compile(r"Multi root is disabled, updating new ROOT-CA not supported")
# Before MULTIROOT_FROM (info): a changed root is never reloaded. From it (warn): multi-root on, but neither bundle
# holds the other (byte containment, then from CERT_SUBSET_FROM certificate by certificate).
_ROOT_REFUSED = re.compile(r"Updating new ROOT-CA not supported")
_RELOAD_FAILED = (
    re.compile(r"Failed to update new Plug-in CA certs[^\n]*"),
    re.compile(r"Failed generating plugged-in istiod key cert[^\n]*"),
    re.compile(r"unable to determine signing file format[^\n]*"),
    re.compile(r"failed reading root-cert\.pem[^\n]*"),
)
_RESTART = "kubectl -n {ns} rollout restart deployment/{deployment}"


@check("cluster.istiod-ca-reload", tier=Tier.ISTIOD_REFUSES, needs=("pod",))
def istiod_ca_reload(view: PodView) -> CheckResult:
    """Whether istiod took in CA files that changed after it started (a renewed intermediate, a root bundle),
    as its log says in each release's wording; a refused reload leaves istiod signing with the old CA."""
    pod, plan = view.pod, view.plan
    check_id = "cluster.istiod-ca-reload"
    head, latest = pod.logs.get(DISCOVERY), pod.latest(DISCOVERY)
    if head is None or latest is None:
        return skipped(check_id, pod.target, "discovery has not started, so it has loaded no CA yet")
    if head.text is None or latest.text is None:
        problem = head.problem if head.text is None else latest.problem
        command = f"kubectl -n {pod.namespace} logs {pod.name} -c {DISCOVERY}"
        return errored(check_id, pod.target, f"cannot read discovery's log: {problem}", command)
    restart = _RESTART.format(ns=pod.namespace, deployment=plan.config.istiod.deployment)
    text = latest.text
    starts = list(_RELOAD_START.finditer(text))
    if not starts:
        since = "in the last lines of its log" if DISCOVERY in pod.recent else "since it started"
        return _no_reload(check_id, pod.target, head.text, restart, since)
    event = text[starts[-1].start() :]
    where = starts[-1].start()
    refused = _MULTIROOT_OFF.search(event)
    if refused:
        return failed(
            check_id,
            pod.target,
            "istiod ignored a changed root-cert.pem: ISTIO_MULTIROOT_MESH is not true, so it keeps the root "
            f"bundle it loaded at start (log: {evidence(text, where + refused.start())})",
            "set ISTIO_MULTIROOT_MESH=true on istiod (read at start) and restart it: " + restart,
        )
    refused = _ROOT_REFUSED.search(event)
    if refused:
        return failed(
            check_id,
            pod.target,
            "istiod refused a changed root-cert.pem and keeps its old CA (log: "
            f"{evidence(text, where + refused.start())}): {ROOT_NEVER_RELOADED} never reload a new root; "
            f"{since_release(MULTIROOT_FROM)} do only with ISTIO_MULTIROOT_MESH=true and a new bundle that holds the "
            f"old one (or the old the new: byte for byte on {BYTE_CONTAINMENT}, certificate by certificate on "
            f"{since_release(CERT_SUBSET_FROM)})",
            "deliver a trust bundle holding the old and the new root first (plan-rotation --root, phase b), or "
            "restart istiod to load the new files: " + restart,
        )
    broken = _first_failure(event)
    if broken is not None:
        return failed(
            check_id,
            pod.target,
            "istiod could not reload the changed CA files and keeps its old CA "
            f"(log: {evidence(text, where + broken)})",
            "the four files must belong together (see pod.ca-files-present and the chain.* checks); istiod "
            "retries on the next change, or restart it: " + restart,
        )
    reloaded = _RELOADED.search(event)
    if reloaded:
        root = " and a new root bundle" if _NEW_ROOT.search(event) else ""
        return passed(
            check_id,
            pod.target,
            f"istiod reloaded the changed CA files{root} without a restart "
            f"(log: {evidence(text, where + reloaded.start())})",
        )
    return warned(
        check_id,
        pod.target,
        f"istiod saw the CA files change but logged no outcome yet (log: {evidence(text, where)})",
        f"kubectl -n {pod.namespace} logs {pod.name} -c {DISCOVERY} --tail=50",
    )


def _first_failure(event: str) -> int | None:
    found = [m.start() for m in (pattern.search(event) for pattern in _RELOAD_FAILED) if m]
    return min(found) if found else None


def _no_reload(check_id: str, target: str, head: str, restart: str, since: str) -> CheckResult:
    """No reload in the log: say whether istiod would reload at all."""
    # istiod logs `Use local CA certificate` before it verifies the bundle (pilot/pkg/bootstrap/istio_ca.go
    # `createIstioCA`): a start that then failed never added the watcher, and nothing is there to reload.
    if _first(CA_FAILURES, head):
        return skipped(
            check_id,
            target,
            "istiod could not load the plugged-in CA at start, so it has none to reload (see cluster.istiod-ca-log)",
        )
    if not any(s.pattern.search(head) for s in PLUGGED_IN):
        return skipped(check_id, target, "istiod did not load a plugged-in CA (see cluster.istiod-ca-log)")
    watching = _WATCHING.search(head)
    if watching is None:
        return warned(
            check_id,
            target,
            "istiod does not watch its CA files (no 'Added cacerts files watcher' line at start-up): "
            f"{INTERMEDIATE_RELOAD_NEEDS_FLAG} do only with {AUTO_RELOAD_FLAG}, {NO_WATCHER} never; a renewed "
            "intermediate is taken in only "
            "when istiod restarts",
            f"set {AUTO_RELOAD_FLAG} on istiod ({INTERMEDIATE_RELOAD_NEEDS_FLAG}) or upgrade, else restart it after "
            "each renewal: " + restart,
        )
    return passed(
        check_id,
        target,
        f"istiod watches {watching.group('path')} and has logged no CA file change {since} "
        f"(log: {evidence(head, watching.start())})",
    )
