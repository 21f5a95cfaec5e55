"""`verify fleet`'s judging on certificates made here with exact dates: which root each chain ends at, the trust
matrix (root by signature, trust domain and aliases), the effective expiry arithmetic and the rows users read."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

from istio_vault_ca.generator.pki import factory
from istio_vault_ca.verify.checks.fleet import ClusterSeen, FleetState, KubeSeen, check_fleet
from istio_vault_ca.verify.checks.fleet.judge import expiry_of, signing_root, trust_matrix
from istio_vault_ca.verify.checks.result import CheckResult, Status

NOW = dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
TTL = 86400  # the 24h workload certificate TTL


@cache
def root(name: str = "Fleet Root", days: int = 365) -> factory.Issued:
    return factory.self_signed_ca(name, lifetime=days * DAY, now=NOW)


@cache
def intermediate(name: str, parent: factory.Issued, days: int = 180) -> factory.Issued:
    return factory.issued_ca(name, parent, lifetime=days * DAY, now=NOW)


def seen(
    name: str,
    parent: factory.Issued,
    *,
    trusted: tuple[factory.Issued, ...] | None = None,
    days: int = 180,
    **changes: Any,
) -> ClusterSeen:
    """A cluster whose intermediate `parent` signed; its workloads trust `trusted` (default: `parent`)."""
    inter = intermediate(f"{name} Intermediate", parent, days)
    base = ClusterSeen(
        name=name,
        target=f"vault (cluster {name})",
        mount=f"istioca-{name}",
        trust_domain="cluster.local",
        aliases=(),
        data_plane="sidecar",
        intermediate=inter.cert,
        chain=(inter.cert, parent.cert),
        roots=tuple(cert.cert for cert in (trusted or (parent,))),
        roots_source="pki/cert/ca",
        issuer=inter.cert,
        step=f"clusters/{name}/vault/04-intermediate-pki.sh",
        setup=f"clusters/{name}/vault/setup.sh",
        reissue_ttl=days * 86400,
    )
    return base._replace(**changes)


def fleet(*clusters: ClusterSeen, warn_days: int = 30) -> FleetState:
    return FleetState(clusters, now=NOW, warn_days=warn_days, workload_ttl=TTL)


def rows(state: FleetState) -> dict[tuple[str, str], CheckResult]:
    return {(result.id, result.target): result for result in check_fleet(state)}


def test_signing_root_follows_signatures_not_names() -> None:
    impostor = factory.self_signed_ca("Fleet Root", now=NOW)  # same name, another key
    cluster = seen("a", root(), trusted=(root(),))
    assert signing_root(cluster) == root().cert
    assert signing_root(cluster._replace(chain=(cluster.chain[0], impostor.cert), roots=(impostor.cert,))) is None


def test_trust_matrix_root_and_trust_domain() -> None:
    foreign = root("Foreign Root")
    a = seen("a", root())
    b = seen("b", root(), trust_domain="other.example")
    c = seen("c", foreign, trusted=(root(),))  # its chain ends at a root its own workloads do not trust
    cells = {(cell.source, cell.peer): cell for cell in trust_matrix((a, b, c))}
    assert cells["a", "a"].accepts and cells["c", "a"].accepts and cells["b", "a"].accepts is False
    assert "trust domain 'other.example' is neither a's 'cluster.local'" in cells["a", "b"].reason
    assert cells["a", "c"].reason == "c's chain ends at root 'Foreign Root', which a's workloads do not trust"
    assert cells["c", "c"].accepts is False
    with_alias = a._replace(aliases=("other.example",))
    assert {(cell.source, cell.peer): cell for cell in trust_matrix((with_alias, b))}["a", "b"].accepts


def test_rotation_bundle_trusts_both_roots() -> None:
    new = root("New Root")
    bundle = (root(), new)
    cells = trust_matrix((seen("a", new, trusted=bundle), seen("b", root(), trusted=bundle)))
    assert all(cell.accepts for cell in cells)


def test_effective_expiry_is_the_intermediate_minus_the_ttl() -> None:
    found = expiry_of(seen("a", root()), root().cert, TTL)
    assert found is not None
    assert found.earliest.kind == "intermediate"
    assert found.earliest.ends == dt.datetime(2027, 6, 30, tzinfo=dt.timezone.utc)
    assert found.effective == dt.datetime(2027, 6, 29, tzinfo=dt.timezone.utc)


def test_a_mount_cap_does_not_move_the_expiry_but_warns_about_the_next_reissue() -> None:
    """istiod signs with the intermediate from KV: a 100h mount cap ends nothing today (the expiry stays the
    intermediate's notAfter minus the TTL, the same on every run); it caps the next re-issue of the intermediate."""
    capped = seen("a", root(), mount_max_ttl=100 * 3600, reissue_ttl=8760 * 3600)
    found = expiry_of(capped, root().cert, TTL)
    assert found is not None and found.earliest.kind == "intermediate"
    assert found.effective == dt.datetime(2027, 6, 29, tzinfo=dt.timezone.utc)
    row = rows(fleet(capped))["fleet.effective-expiry", capped.target]
    assert row.status is Status.WARN
    assert row.finding.endswith(
        "; the next re-issue of a's intermediate gets at most 100h, the config asks 365d "
        "(mount istioca-a's max_lease_ttl 100h)"
    )
    assert row.hint == (
        "`vault secrets tune -max-lease-ttl=365d istioca-a`, or re-run clusters/a/vault/04-intermediate-pki.sh "
        "(it tunes the mount)"
    )


def test_a_root_mount_cap_names_step_02() -> None:
    capped = seen(
        "a",
        root(),
        root_mount="pki",
        root_mount_max_ttl=720 * 3600,
        reissue_ttl=8760 * 3600,
        root_step="root/vault/setup.sh (its step 02-root-pki.sh)",
    )
    row = rows(fleet(capped))["fleet.effective-expiry", capped.target]
    assert row.status is Status.WARN and "(root mount pki's max_lease_ttl 30d)" in row.finding
    assert (
        row.hint
        == "`vault secrets tune -max-lease-ttl=365d pki`, or re-run root/vault/setup.sh (its step 02-root-pki.sh), "
        "which tunes the root mount"
    )


def test_caps_at_or_above_the_configs_ttl_pass() -> None:
    wide = seen("a", root(), mount_max_ttl=8760 * 3600, role_caps=(("web", 8760 * 3600),), reissue_ttl=8760 * 3600)
    assert rows(fleet(wide))["fleet.effective-expiry", wide.target].status is Status.PASS


def test_a_root_ending_with_the_intermediate_is_named_first() -> None:
    short_root = root("Short Root", 30)
    cluster = seen("a", short_root)  # issued_ca clamps the intermediate to the root: both end 2027-01-31
    found = expiry_of(cluster, short_root.cert, TTL)
    assert found is not None and found.earliest.kind == "root"
    assert found.effective == dt.datetime(2027, 1, 30, tzinfo=dt.timezone.utc)


def test_rows_users_read() -> None:
    state = fleet(
        seen("a", root()),
        seen("b", root(), mount_max_ttl=10 * 86400),
        seen("c", root(), role_caps=(("istiod", 12 * 3600), ("unbounded", 0))),
    )
    by = rows(state)
    assert by["fleet.effective-expiry", "vault (cluster a)"].status is Status.PASS
    assert "effective expiry 2027-06-29 00:00 UTC" in by["fleet.effective-expiry", "vault (cluster a)"].finding
    capped = by["fleet.effective-expiry", "vault (cluster b)"]
    assert capped.status is Status.WARN
    assert capped.finding.startswith("effective expiry 2027-06-29 00:00 UTC")  # the cap does not move it
    assert "the next re-issue of b's intermediate gets at most 10d, the config asks 180d" in capped.finding
    assert (
        "`vault secrets tune -max-lease-ttl=180d istioca-b`, or re-run clusters/b/vault/04-intermediate-pki.sh"
        in capped.hint
    )
    role = by["fleet.effective-expiry", "vault (cluster c)"]
    assert role.status is Status.WARN
    assert "(PKI role istioca-c/roles/istiod's max_ttl 12h)" in role.finding
    assert role.hint == "vault write istioca-c/roles/istiod max_ttl=180d"
    first = by["fleet.expires-first", "fleet"]
    assert first.finding.startswith("a stops issuing first, at 2027-06-29 00:00 UTC")
    assert by["fleet.cluster-roots", "vault (cluster a)"].status is Status.SKIP


def test_foreign_root_fails_with_the_rotation_hint() -> None:
    by = rows(fleet(seen("a", root()), seen("c", root("Foreign Root"), trusted=(root(),))))
    chains = by["fleet.intermediate-chains", "vault (cluster c)"]
    assert chains.status is Status.FAIL
    assert "chains to root 'Foreign Root' (a foreign root)" in chains.finding
    assert "plan-rotation -c CONFIG --force c" in chains.hint
    row = by["fleet.trust-matrix", "vault (cluster a)"]
    assert row.status is Status.FAIL and "workloads in a reject c" in row.finding
    assert row.hint.startswith("a must trust the root each peer's chain ends at: re-issue c's intermediate")
    assert "plan-rotation -c CONFIG --force c" in row.hint
    assert by["fleet.trust-matrix", "vault (cluster c)"].status is Status.PASS


def test_ambient_with_per_cluster_roots_is_refused() -> None:
    ambient = seen("amb", root("Own Root"), data_plane="ambient")
    by = rows(fleet(seen("a", root()), ambient))
    refused = by["fleet.ambient-shared-root", "vault (cluster amb)"]
    assert refused.status is Status.FAIL and "per-cluster roots are refused for ambient" in refused.finding
    assert ("fleet.ambient-shared-root", "vault (cluster a)") not in by  # sidecar clusters are not judged by it
    shared = rows(fleet(seen("a", root()), seen("amb", root(), data_plane="ambient")))
    assert shared["fleet.ambient-shared-root", "vault (cluster amb)"].status is Status.PASS


def test_duplicate_root_names_warn() -> None:
    twin = factory.self_signed_ca("Fleet Root", now=NOW)
    by = rows(fleet(seen("a", root()), seen("b", twin)))
    assert by["fleet.duplicate-roots", "fleet"].status is Status.WARN
    assert "2 different roots share the subject 'CN=Fleet Root'" in by["fleet.duplicate-roots", "fleet"].finding
    assert rows(fleet(seen("a", root())))["fleet.duplicate-roots", "fleet"].status is Status.PASS


def test_cluster_roots_compared_when_read() -> None:
    reached = KubeSeen((root().cert,), "configmap/istio-system/istio-ca-root-cert (context a)")
    stale = KubeSeen((root("Old Root").cert,), "configmap/istio-system/istio-ca-root-cert (context b)")
    down = KubeSeen(None, "", "context c: connection refused")
    by = rows(fleet(seen("a", root(), kube=reached), seen("b", root(), kube=stale), seen("c", root(), kube=down)))
    assert by["fleet.cluster-roots", "vault (cluster a)"].status is Status.PASS
    assert by["fleet.cluster-roots", "vault (cluster b)"].status is Status.FAIL
    skipped = by["fleet.cluster-roots", "vault (cluster c)"]
    assert skipped.status is Status.SKIP and skipped.finding == "cluster not read: context c: connection refused"
    assert "--context c=CONTEXT" in skipped.hint


def test_missing_intermediate_fails_and_expiry_skips() -> None:
    by = rows(fleet(seen("a", root(), intermediate=None, chain=(), issuer=None)))
    assert by["fleet.intermediate-chains", "vault (cluster a)"].status is Status.FAIL
    assert (
        "run clusters/a/vault/setup.sh (its step 04-intermediate-pki.sh issues the intermediate)"
        in by["fleet.intermediate-chains", "vault (cluster a)"].hint
    )
    assert by["fleet.effective-expiry", "vault (cluster a)"].status is Status.SKIP


def test_html_and_metrics_draw_the_same_matrix() -> None:
    """The fleet's figures as the run records them (verify/runs/fleet.py add_fleet_facts), drawn by the HTML
    report and exported by the Prometheus output: the same cells, the same dates."""
    from istio_vault_ca.verify.checks.reporters import html_report, prometheus
    from istio_vault_ca.verify.checks.result import Report
    from istio_vault_ca.verify.runs.fleet import add_fleet_facts

    state = fleet(seen("a", root()), seen("c", root("Foreign Root"), trusted=(root(),)))
    report = Report(check_fleet(state))
    report.facts.started = NOW.timestamp()
    add_fleet_facts(state, report)
    page = html_report.render(report)
    assert page.count('class="trust-no"') == 2  # a rejects c, c rejects its own chain
    assert "c&#x27;s chain ends at root &#x27;Foreign Root&#x27;" in page
    assert '<tr><td class="mono">a</td><td>2027-06-29</td>' in page  # the effective expiry, by cluster
    text = prometheus.render(report)
    assert 'istio_vault_ca_fleet_trust{peer="c",source="a"} 0.0' in text
    assert 'istio_vault_ca_fleet_trust{peer="a",source="c"} 1.0' in text
    from prometheus_client.parser import text_string_to_metric_families

    left = {
        sample.labels["cluster"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "istio_vault_ca_fleet_effective_expiry_seconds"
    }
    assert left == {"a": 179 * 86400, "c": 179 * 86400}  # 180 days of intermediate minus the 24h workload TTL
    assert html_report.render(Report()).count('id="fleet"') == 0  # other reports keep their page


def test_limits_not_read_warn_instead_of_passing() -> None:
    by = rows(fleet(seen("a", root(), unread=("each PKI role's max_ttl",))))
    row = by["fleet.effective-expiry", "vault (cluster a)"]
    assert row.status is Status.WARN and row.finding.endswith("not read, so not ruled out: each PKI role's max_ttl")


def test_a_foreign_root_under_the_fleet_roots_name_is_a_duplicate() -> None:
    """Nobody trusts the impostor, but its chain names the fleet root's subject: peers try the wrong anchor."""
    impostor = factory.self_signed_ca("Fleet Root", now=NOW)
    by = rows(fleet(seen("a", root()), seen("b", impostor, trusted=(root(),))))
    assert "2 different roots share the subject 'CN=Fleet Root'" in by["fleet.duplicate-roots", "fleet"].finding


def test_a_foreign_trust_domain_hints_at_the_alias() -> None:
    by = rows(fleet(seen("a", root()), seen("b", root(), trust_domain="b.example")))
    row = by["fleet.trust-matrix", "vault (cluster a)"]
    assert row.status is Status.FAIL
    assert row.hint.startswith("add b.example to clusters[a].trust_domain_aliases")
    aliased = rows(fleet(seen("a", root(), aliases=("b.example",)), seen("b", root(), trust_domain="b.example")))
    assert aliased["fleet.trust-matrix", "vault (cluster a)"].status is Status.PASS


def test_the_matrix_judges_a_reached_cluster_by_its_config_map() -> None:
    """b's istio-ca-root-cert holds only a foreign root: its workloads reject a (and their own chain) whatever
    Vault says they trust, and the foreign root is counted among the fleet's roots."""
    foreign = root("Someone Else's Root")
    live = KubeSeen((foreign.cert,), "configmap/istio-system/istio-ca-root-cert (context b)")
    a, b = seen("a", root()), seen("b", root(), kube=live)
    cells = {(cell.source, cell.peer): cell for cell in trust_matrix((a, b))}
    assert cells["a", "b"].accepts and not cells["b", "a"].accepts and not cells["b", "b"].accepts
    assert cells["b", "a"].reason == (
        "a's chain ends at root 'Fleet Root', which b's workloads do not trust "
        "(configmap/istio-system/istio-ca-root-cert (context b))"
    )
    by = rows(fleet(a, b))
    assert by["fleet.trust-matrix", b.target].status is Status.FAIL
    assert by["fleet.duplicate-roots", "fleet"].finding == "2 distinct root(s), each under its own name"


def test_plan_rotation_hints_carry_the_runs_warn_days() -> None:
    """A run with --warn-days 90 warns about an intermediate 80 days out; a plan-rotation with the default 30 would
    call it not due, so the hint passes the same window on."""
    short = seen("a", root(), days=80)
    foreign = seen("c", root("Foreign Root"), trusted=(root(),))
    by = rows(fleet(short, foreign, warn_days=90))
    expiry = by["fleet.effective-expiry", short.target]
    assert expiry.status is Status.WARN
    assert (
        "istio-vault-ca plan-rotation -c CONFIG --warn-days 90 writes rotation/a/rotate-intermediate.sh" in expiry.hint
    )
    chains = by["fleet.intermediate-chains", foreign.target]
    assert "istio-vault-ca plan-rotation -c CONFIG --warn-days 90 --force c writes" in chains.hint
    assert "plan-rotation -c CONFIG --warn-days 90 --force c)" in by["fleet.trust-matrix", short.target].hint
    soon = seen("b", root(), days=20)
    default = rows(fleet(soon, warn_days=30))["fleet.effective-expiry", soon.target]
    assert "istio-vault-ca plan-rotation -c CONFIG writes" in default.hint


def test_same_name_roots_carry_a_fingerprint() -> None:
    """Two roots both called 'Fleet Root': the messages tell them apart by the first 8 hex of their SHA-256."""
    import hashlib

    from istio_vault_ca.verify.checks.pkix import Encoding

    impostor = factory.self_signed_ca("Fleet Root", now=NOW)
    a, c = seen("a", root()), seen("c", impostor, trusted=(root(),))
    by = rows(fleet(a, c))
    short = hashlib.sha256(impostor.cert.public_bytes(Encoding.DER)).hexdigest()[:8]
    chains = by["fleet.intermediate-chains", c.target]
    assert f"chains to root 'Fleet Root' (sha256 {short}) (a foreign root)" in chains.finding
    own = hashlib.sha256(root().cert.public_bytes(Encoding.DER)).hexdigest()[:8]
    assert f"trust 'Fleet Root' (sha256 {own})" in chains.finding
    assert "'c Intermediate' chains" in chains.finding  # a unique name stays bare
