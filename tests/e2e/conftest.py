"""The e2e tier: a real control plane built from Go modules (tests/e2e/cluster.py), one per pytest session.

Every test here carries the ``e2e`` marker (pyproject.toml); ``make test`` deselects it and ``make e2e`` runs it.
Without Go the tier is skipped on a workstation and fails under CI, which must have it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import gobuild
from tests.e2e import cluster as e2e_cluster

E2E_DIR = Path(__file__).resolve().parent

# Peak resident memory of each component of the session's cluster, sampled at teardown (KiB; None: unknown).
PEAK_RSS_KIB: dict[str, int | None] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is the e2e tier, marked or not."""
    for item in items:
        if E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def kube_binaries() -> dict[str, Path]:
    """etcd, kube-apiserver and kube-controller-manager, built once (cached across sessions by tests/gobuild.py)."""
    try:
        return e2e_cluster.build_all()
    except gobuild.GoNotInstalledError:
        if os.environ.get("CI"):
            pytest.fail(e2e_cluster.GO_MISSING, pytrace=False)
        pytest.skip(e2e_cluster.GO_MISSING)
    except gobuild.GoBuildError as error:
        pytest.fail(f"building the e2e control plane failed:\n{error}")


@pytest.fixture(scope="session")
def kube_cluster(kube_binaries: dict[str, Path]) -> Iterator[e2e_cluster.Cluster]:
    """A running etcd + kube-apiserver + kube-controller-manager on 127.0.0.1; torn down (every process stopped,
    the temp dir removed) after the last test of the session."""
    with e2e_cluster.running_cluster(kube_binaries) as running:
        try:
            yield running
        finally:
            PEAK_RSS_KIB.update(running.peak_rss_kib())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not PEAK_RSS_KIB:
        return
    terminalreporter.section("e2e control plane: peak resident memory (VmHWM)")
    for name, kib in PEAK_RSS_KIB.items():
        terminalreporter.write_line(f"{name}: {'unknown' if kib is None else f'{kib / 1024:.0f} MiB'}")


@pytest.fixture(scope="session")
def vault_injector_binary() -> Path:
    """cmd/vault-k8s-webhook of tests/e2e/injector (the real vault-k8s handler), built once and cached."""
    from tests.e2e import vault_injector as injector

    try:
        return injector.build_webhook()
    except gobuild.GoNotInstalledError:
        if os.environ.get("CI"):
            pytest.fail(e2e_cluster.GO_MISSING, pytrace=False)
        pytest.skip(e2e_cluster.GO_MISSING)
    except gobuild.GoBuildError as error:
        pytest.fail(f"building the vault-k8s webhook failed:\n{error}")


@pytest.fixture(scope="session")
def vault_injector(kube_cluster: e2e_cluster.Cluster, vault_injector_binary: Path) -> Iterator[Any]:
    """The vault-k8s admission handler serving on 127.0.0.1 (not yet registered with the API server: tests
    register it, with the failurePolicy they need, through ``Webhook.configuration``)."""
    from tests.e2e import vault_injector as injector

    with injector.running_webhook(vault_injector_binary, kube_cluster) as webhook:
        yield webhook


@pytest.fixture(scope="session")
def kubelet_logs(kube_cluster: e2e_cluster.Cluster) -> Iterator[Any]:
    """A Node whose kubelet endpoint is a log-only stand-in (tests/e2e/kubelet_logs.py): Pods bound to it have
    their logs served through the real API server's pods/log proxy."""
    from tests.e2e import kubelet_logs as kubelet

    with kubelet.running_kubelet_logs(kube_cluster) as running:
        yield running


@pytest.fixture(scope="session")
def discovery_binary() -> Path:
    """pilot-discovery of tests/e2e/istiod, built once (cached across sessions by tests/gobuild.py)."""
    from tests.e2e import real_istiod

    try:
        return real_istiod.build_discovery()
    except gobuild.GoNotInstalledError:
        if os.environ.get("CI"):
            pytest.fail(e2e_cluster.GO_MISSING, pytrace=False)
        pytest.skip(e2e_cluster.GO_MISSING)
    except gobuild.GoBuildError as error:
        pytest.fail(f"building pilot-discovery failed:\n{error}")


@pytest.fixture(scope="session")
def agent_binary() -> Path:
    """pilot-agent of tests/e2e/istiod, built once (cached across sessions by tests/gobuild.py)."""
    from tests.e2e import real_istiod

    try:
        return real_istiod.build_agent()
    except gobuild.GoNotInstalledError:
        if os.environ.get("CI"):
            pytest.fail(e2e_cluster.GO_MISSING, pytrace=False)
        pytest.skip(e2e_cluster.GO_MISSING)
    except gobuild.GoBuildError as error:
        pytest.fail(f"building pilot-agent failed:\n{error}")
