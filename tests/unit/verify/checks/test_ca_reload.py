"""cluster.istiod-ca-reload as a pure function: istiod's log after its CA files changed, in each release's wording
(tests.kube_stub.seed.istiod_reload_log follows istio_ca.go handleEvent of 1.12.0 ... 1.30.0 and release-1.31).
The same check through the real API server's log proxy: tests/e2e/test_cluster_scenarios_real.py."""

from __future__ import annotations

import pytest

from istio_vault_ca.generator.config.plan import ClusterPlan
from istio_vault_ca.verify.checks.cluster import ClusterState, LogRead, PodState, PodView, VaultRoot
from istio_vault_ca.verify.checks.cluster.ca_log import istiod_ca_reload
from istio_vault_ca.verify.checks.registry import REGISTRY, Tier
from istio_vault_ca.verify.checks.result import CheckResult, Status
from tests.kube_stub import seed

RESTART = "kubectl -n istio-system rollout restart deployment/istiod"


def judge(cluster_plan: ClusterPlan, head: LogRead | None, recent: LogRead | None = None) -> CheckResult:
    logs = {} if head is None else {"discovery": head}
    pod = PodState(
        {"metadata": {"name": "istiod-1", "namespace": "istio-system"}},
        logs,
        {} if recent is None else {"discovery": recent},
    )
    view = PodView(ClusterState("istio-system", None, None, None), cluster_plan, VaultRoot(None, "", ""), pod=pod)
    return istiod_ca_reload(view)


def started(release: str) -> str:
    return seed.istiod_log(release, plugged_in=True)


def test_registered_in_the_istiod_refuses_tier() -> None:
    assert REGISTRY["cluster.istiod-ca-reload"].tier is Tier.ISTIOD_REFUSES


@pytest.mark.parametrize(
    ("release", "outcome", "status", "start", "line"),
    [
        (
            "1.24",
            "reloaded",
            Status.PASS,
            "istiod reloaded the changed CA files without a restart",
            "Istiod has detected the newly added intermediate CA and updated its key and certs accordingly",
        ),
        (
            "1.30",
            "new-root",
            Status.PASS,
            "istiod reloaded the changed CA files and a new root bundle without a restart",
            "Istiod has detected the newly added intermediate CA",
        ),
        (
            "1.24",
            "multiroot-off",
            Status.FAIL,
            "istiod ignored a changed root-cert.pem: ISTIO_MULTIROOT_MESH is not true",
            "warn Multi root is disabled, updating new ROOT-CA not supported",
        ),
        (
            "1.17",
            "root-refused",
            Status.FAIL,
            "istiod refused a changed root-cert.pem and keeps its old CA",
            "info Updating new ROOT-CA not supported",
        ),
        (
            "1.30",
            "root-refused",
            Status.FAIL,
            "istiod refused a changed root-cert.pem and keeps its old CA",
            "warn Updating new ROOT-CA not supported",
        ),
        (
            "1.24",
            "bad-files",
            Status.FAIL,
            "istiod could not reload the changed CA files and keeps its old CA",
            "Failed to update new Plug-in CA certs: the cert does not match the key",
        ),
        ("1.24", "in-progress", Status.WARN, "istiod saw the CA files change but logged no outcome yet", "info Update"),
    ],
)
def test_each_reload_outcome_in_its_release_wording(
    release: str, outcome: str, status: Status, start: str, line: str, cluster_plan: ClusterPlan
) -> None:
    text = started(release) + seed.istiod_reload_log(release, outcome)

    result = judge(cluster_plan, LogRead(text))

    assert result.status is status
    assert result.finding.startswith(start), result.finding
    assert line in result.finding
    if status is Status.FAIL:
        assert result.hint.endswith(RESTART)


def test_the_root_refusal_hint_names_multiroot_and_the_bundle_phase(cluster_plan: ClusterPlan) -> None:
    off = judge(cluster_plan, LogRead(started("1.24") + seed.istiod_reload_log("1.24", "multiroot-off")))
    assert off.hint.startswith("set ISTIO_MULTIROOT_MESH=true on istiod (read at start) and restart it")
    refused = judge(cluster_plan, LogRead(started("1.24") + seed.istiod_reload_log("1.24", "root-refused")))
    assert refused.hint.startswith("deliver a trust bundle holding the old and the new root first")


def test_the_last_change_decides(cluster_plan: ClusterPlan) -> None:
    """A refused root, then the bundle fixed and reloaded: pass; a reload, then a refused root: fail."""
    first = seed.istiod_reload_log("1.24", "multiroot-off", stamp="2025-02-10T09:00:00")
    then = seed.istiod_reload_log("1.24", "new-root", stamp="2025-02-11T09:00:00")

    fixed = judge(cluster_plan, LogRead(started("1.24") + first + then))
    broken = judge(cluster_plan, LogRead(started("1.24") + then + first))

    assert fixed.status is Status.PASS and "2025-02-11T09:00:00.000002Z" in fixed.finding
    assert broken.status is Status.FAIL and "2025-02-10T09:00:00.000001Z" in broken.finding


@pytest.mark.parametrize(
    ("release", "status", "finding"),
    [
        (
            "1.24",
            Status.PASS,
            "istiod watches /vault/secrets and has logged no CA file change since it started "
            "(log: 2025-01-10T09:00:02.000005Z info Added cacerts files watcher at /vault/secrets)",
        ),
        (
            "1.17",
            Status.WARN,
            "istiod does not watch its CA files (no 'Added cacerts files watcher' line at start-up): 1.12-1.18 do "
            "only with AUTO_RELOAD_PLUGIN_CERTS=true, 1.10-1.11 never; a renewed intermediate is taken in only "
            "when istiod restarts",
        ),
    ],
)
def test_no_change_says_whether_istiod_would_reload(
    release: str, status: Status, finding: str, cluster_plan: ClusterPlan
) -> None:
    result = judge(cluster_plan, LogRead(started(release)))
    assert result.status is status
    assert result.finding == finding


def test_self_signed_istiod_has_nothing_to_reload(cluster_plan: ClusterPlan) -> None:
    result = judge(cluster_plan, LogRead(seed.istiod_log("1.24", plugged_in=False)))
    assert result.status is Status.SKIP
    assert result.finding == "istiod did not load a plugged-in CA (see cluster.istiod-ca-log)"


# The end of a real istiod's start-up (pilot-discovery of release-1.31, tests/e2e/test_real_istiod.py) when
# ca-key.pem does not match ca-cert.pem: `Use local CA certificate`, then the verified bundle fails and it exits.
KEY_MISMATCH_START = (
    "2026-12-07T11:27:48.358Z\tinfo\tcreating CA and initializing public key\n"
    "2026-12-07T11:27:48.358Z\tinfo\tUse local CA certificate\n"
    "Error: failed to create discovery service: failed to create CA: failed to create an istiod CA: failed to create "
    "CA KeyCertBundle (the cert does not match the key: tls: private key does not match public key)\n"
)


def test_a_start_that_failed_to_load_the_ca_has_nothing_to_reload(cluster_plan: ClusterPlan) -> None:
    """Not the "does not watch its CA files" warning: the watcher is missing because the CA never loaded."""
    result = judge(cluster_plan, LogRead(KEY_MISMATCH_START))
    assert result.status is Status.SKIP
    assert result.finding == (
        "istiod could not load the plugged-in CA at start, so it has none to reload (see cluster.istiod-ca-log)"
    )


def test_a_cut_head_is_judged_by_the_logs_tail(cluster_plan: ClusterPlan) -> None:
    """The head (start-up lines) was cut at the read limit; the reload is in the tail read separately."""
    head = LogRead(started("1.24"))
    tail = LogRead("x\tinfo\tads\tpush\n" + seed.istiod_reload_log("1.24", "bad-files"))
    assert judge(cluster_plan, head, tail).status is Status.FAIL

    quiet = judge(cluster_plan, head, LogRead("x\tinfo\tads\tpush\n"))
    assert quiet.status is Status.PASS
    assert "has logged no CA file change in the last lines of its log" in quiet.finding


def test_not_started_or_unreadable(cluster_plan: ClusterPlan) -> None:
    assert judge(cluster_plan, None).status is Status.SKIP
    unreadable = judge(cluster_plan, LogRead(None, "container is waiting to start"))
    assert unreadable.status is Status.ERROR
    assert unreadable.finding == "cannot read discovery's log: container is waiting to start"
    tail_unreadable = judge(cluster_plan, LogRead(started("1.24")), LogRead(None, "gone"))
    assert tail_unreadable.status is Status.ERROR
