"""istiod's CA reload facts, one place for each (verify/checks/chain/versions.py): what a release does with changed
CA files, the wording cluster.istiod-ca-reload takes from it, and the plan-rotation --root report
(generator/render/root_rotation.py ISTIO_FACTS) saying the same releases."""

from __future__ import annotations

import pytest

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import plan
from istio_vault_ca.generator.render.root_rotation import ISTIO_FACTS
from istio_vault_ca.verify.checks.chain.versions import (
    BYTE_CONTAINMENT,
    CERT_SUBSET_FROM,
    INTERMEDIATE_RELOAD_NEEDS_FLAG,
    MULTIROOT_FROM,
    NO_WATCHER,
    ROOT_NEVER_RELOADED,
    WATCHER_ALWAYS_FROM,
    IstioVersion,
    parse_version,
    since,
)
from istio_vault_ca.verify.checks.cluster import ClusterState, LogRead, PodState, PodView, VaultRoot
from istio_vault_ca.verify.checks.cluster.ca_log import istiod_ca_reload
from istio_vault_ca.verify.checks.result import Status
from tests.kube_stub import seed
from tests.support import REPO


def test_the_release_spans_as_findings_say_them() -> None:
    assert (INTERMEDIATE_RELOAD_NEEDS_FLAG, ROOT_NEVER_RELOADED, BYTE_CONTAINMENT, NO_WATCHER) == (
        "1.12-1.18",
        "1.12-1.19",
        "1.20-1.29",
        "1.10-1.11",
    )
    assert (since(WATCHER_ALWAYS_FROM), since(MULTIROOT_FROM), since(CERT_SUBSET_FROM)) == ("1.19+", "1.20+", "1.30+")


@pytest.mark.parametrize(
    ("release", "intermediate", "root"),
    [
        ("1.12.0", "with AUTO_RELOAD_PLUGIN_CERTS=true", None),
        ("1.18", "with AUTO_RELOAD_PLUGIN_CERTS=true", None),
        ("1.19.0", "always", None),
        ("1.20.0", "always", "bytes"),
        ("1.29", "always", "bytes"),
        ("1.30.0", "always", "certificates"),
        ("1.31", "always", "certificates"),
    ],
)
def test_what_each_release_does_with_changed_ca_files(release: str, intermediate: str, root: str | None) -> None:
    """As --istio-version parses them (X.Y is its newest patch)."""
    version = parse_version(release)
    assert (version.intermediate_reload, version.root_reload) == (intermediate, root)


def test_releases_before_the_watcher_never_reload() -> None:
    """1.10-1.11: outside what --istio-version accepts (1.12 on), but their logs are still read."""
    assert IstioVersion(1, 11).intermediate_reload == "never" and IstioVersion(1, 11).root_reload is None
    with pytest.raises(ValueError, match="older than the releases this verifier models"):
        parse_version("1.11")


def test_the_rotation_report_says_the_same_releases() -> None:
    facts = " ".join(" ".join(line.split()) for line in ISTIO_FACTS)
    assert f"{since(WATCHER_ALWAYS_FROM)} always, {INTERMEDIATE_RELOAD_NEEDS_FLAG} only with" in facts
    assert f"{NO_WATCHER} never (restart istiod)" in facts
    assert f"taken only by {since(MULTIROOT_FROM)} with ISTIO_MULTIROOT_MESH=true" in facts
    assert f"{BYTE_CONTAINMENT} byte for byte (bytes.Contains), {since(CERT_SUBSET_FROM)} certificate by" in facts
    assert f"restart it after (b) and (d) on {ROOT_NEVER_RELOADED}." in facts
    assert "reported" not in facts


@pytest.mark.parametrize("release", ["1.18.0", "1.24.0"])
def test_a_refused_root_names_the_releases_from_the_one_place(release: str) -> None:
    cluster_plan = plan(load(str(REPO / "generator" / "config" / "starter.yaml")).config)[0]
    log = seed.istiod_log(release, plugged_in=True) + seed.istiod_reload_log(release, "root-refused")
    pod = PodState({"metadata": {"name": "istiod-1", "namespace": "istio-system"}}, {"discovery": LogRead(log)})
    view = PodView(ClusterState("istio-system", None, None, None), cluster_plan, VaultRoot(None, "", ""), pod=pod)
    result = istiod_ca_reload(view)
    assert result.status is Status.FAIL
    assert (
        "1.12-1.19 never reload a new root; 1.20+ do only with ISTIO_MULTIROOT_MESH=true and a new bundle that "
        "holds the old one (or the old the new: byte for byte on 1.20-1.29, certificate by certificate on 1.30+)"
    ) in result.finding


def test_the_rotation_s_ambient_release_is_the_ztunnel_checks() -> None:
    """The generator does not import the verifier: the ambient rotation's release is restated there."""
    from istio_vault_ca.generator.render.root_rotation_ambient import ZTUNNEL_LAST_ROOT_FROM
    from istio_vault_ca.verify.checks.chain import ztunnel

    assert ZTUNNEL_LAST_ROOT_FROM == ztunnel.MULTI_CERT_ROOT_ELEMENT_FROM == ztunnel.SPLIT_RESPONSE_FROM
