"""The e2e tier: a real control plane built from Go modules (tests/e2e/cluster.py), one per pytest session.

Every test here carries the ``e2e`` marker (pyproject.toml); ``make test`` deselects it and ``make e2e`` runs it.
Without Go the tier is skipped on a workstation and fails under CI, which must have it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e import cluster as e2e_cluster
from tests.support import go_built

if TYPE_CHECKING:
    from istio_vault_ca.generator.config.plan import ClusterPlan
    from tests.e2e.istiod_cluster import Standin

E2E_DIR = Path(__file__).resolve().parent

# Peak resident memory of each component of the session's cluster, sampled at teardown (KiB; None: unknown).
PEAK_RSS_KIB: dict[str, int | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cluster_config(injector=None, local_ca_dir=False): what the cluster_plan fixture changes in the starter "
        "config: vault.injector set to `injector`; with local_ca_dir, istiod's ca_dir a directory of this machine",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is the e2e tier, marked or not."""
    for item in items:
        if E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def kube_binaries() -> dict[str, Path]:
    """etcd, kube-apiserver and kube-controller-manager, built once (cached across sessions by tests/gobuild.py)."""
    return go_built(e2e_cluster.build_all, "the e2e control plane", missing=e2e_cluster.GO_MISSING)


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

    return go_built(injector.build_webhook, "the vault-k8s webhook", missing=e2e_cluster.GO_MISSING)


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

    return go_built(real_istiod.build_discovery, "pilot-discovery", missing=e2e_cluster.GO_MISSING)


@pytest.fixture(scope="session")
def agent_binary() -> Path:
    """pilot-agent of tests/e2e/istiod, built once (cached across sessions by tests/gobuild.py)."""
    from tests.e2e import real_istiod

    return go_built(real_istiod.build_agent, "pilot-agent", missing=e2e_cluster.GO_MISSING)


# ---------------------------------------------------------------------- per test: a config, Vault, the webhook


@pytest.fixture
def cluster_plan(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ClusterPlan:
    """The starter config with istiod in a namespace of its own (the cluster is shared by the session) and 2048-bit
    keys, written as ``istio-vault-ca.yaml`` in ``tmp_path``, the working directory; its first cluster's plan.

    A ``cluster_config`` marker changes the config: ``injector="openbao-k8s"`` sets vault.injector;
    ``local_ca_dir=True`` makes ca_dir a directory of this machine (a real istiod and agent run here with no mount
    namespace: the Pod's path and the one they use are one)."""
    from istio_vault_ca.generator.config.loader import load
    from istio_vault_ca.generator.config.plan import plan
    from tests.e2e import istiod_cluster as ic

    marker = request.node.get_closest_marker("cluster_config")
    options = dict(marker.kwargs) if marker is not None else {}
    injector, local_ca_dir = options.pop("injector", None), options.pop("local_ca_dir", False)
    assert not options, f"cluster_config takes injector and local_ca_dir, not {sorted(options)}"
    monkeypatch.chdir(tmp_path)
    text = ic.config_text(ic.unique("istio"))
    if injector is not None:
        assert text.startswith("#") and "\nvault:\n" in text
        text = text.replace("\nvault:\n", f"\nvault:\n  injector: {injector}\n", 1)
    if local_ca_dir:
        ca_dir = tmp_path / "pod" / "cacerts"
        text = text.replace("ca_dir: /vault/secrets", f"ca_dir: {ca_dir}")
        assert f"ca_dir: {ca_dir}" in text
    (tmp_path / ic.CONFIG).write_text(text, encoding="utf-8")
    return plan(load(ic.CONFIG).config)[0]


@pytest.fixture
def no_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Vault address nobody listens on, and no token: the checks that compare with Vault are skipped, with the
    reason."""
    from istio_vault_ca.verify.rehearsal.openbao import free_port

    monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("VAULT_TOKEN", raising=False)


@pytest.fixture
def webhook_cleanup(kube_cluster: e2e_cluster.Cluster) -> Iterator[None]:
    """After the test no injector webhook is registered with the session's API server (Vault's or OpenBao's)."""
    from tests.e2e import vault_injector as injector

    yield
    injector.delete_configuration(kube_cluster.kubeconfig)


@pytest.fixture
def values() -> dict[str, bytes]:
    """The four CA files, made now (not from Vault)."""
    from tests.e2e import istiod_cluster as ic

    return ic.bundle_values()


@pytest.fixture
def standin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster_plan: ClusterPlan, values: dict[str, bytes]
) -> Standin:
    """kubectl = the stand-in, first on PATH; the Pod's ca_dir holds ``values`` as the agent writes them."""
    from tests.e2e import istiod_cluster as ic

    files = ic.write_agent_files(tmp_path / "pod-ca-dir", values)
    return ic.install_kubectl_standin(tmp_path, monkeypatch, cluster_plan, files)
