"""`verify cluster` / `verify all` pieces that need no Kubernetes API server: the files a real `bao agent`
renders checked over testinfra's local backend, the shipped testinfra suite over local://, `verify all` on a
machine with no kubeconfig, and the istiod release read from the image tag.

Every scenario that talks to an API server runs against the real kube-apiserver in the e2e tier
(tests/e2e/test_cluster_scenarios_real.py, tests/e2e/test_cluster_findings_real.py, `make e2e`).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import ClusterPlan, plan
from istio_vault_ca.verify.cli.parser import main
from tests.integration import rotation_agents
from tests.pki_factory import good_bundle
from tests.support import render_into, run_setup

REPO = Path(__file__).resolve().parents[2]
STARTER = REPO / "generator" / "config" / "starter.yaml"


# ---------------------------------------------------------------------- fixtures


CONFIG = "istio-vault-ca.yaml"


def config_text() -> str:
    """The built-in default config with 2048-bit keys: the cluster checks do not care, and setup runs faster."""
    return STARTER.read_text(encoding="utf-8").replace("key_bits: 4096", "key_bits: 2048")


@pytest.fixture(autouse=True)
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """./istio-vault-ca.yaml in a fresh working directory, as a user keeps it."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / CONFIG
    path.write_text(config_text(), encoding="utf-8")
    return path


@pytest.fixture
def cluster_plan(config_file: Path) -> ClusterPlan:
    return plan(load(str(config_file)).config)[0]


def write_agent_files(directory: Path, values: dict[str, bytes], key_mode: int = 0o400) -> Path:
    """As the agent writes them: consul-template's default 0644, and agent-inject-perms for the key."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in values.items():
        path = directory / name
        path.write_bytes(data)
        path.chmod(key_mode if name == "ca-key.pem" else 0o644)
    return directory


def _config_with(tmp_path: Path, ca_dir: str, run_as_user: str) -> Path:
    """The starter config with istiod.ca_dir and agent.run_as_user replaced (local:// plays the pod)."""
    text = config_text().replace("ca_dir: /vault/secrets", ca_dir).replace("run_as_user: 1337", run_as_user)
    # istiod "runs" as this machine's uid here: say so, or the config refuses an agent uid other than 1337.
    text = text.replace("  agent:\n", f"  uid: {run_as_user.split(':', 1)[1].strip()}\n  agent:\n", 1)
    path = tmp_path / "local.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _plan_with(tmp_path: Path, ca_dir: str, run_as_user: str) -> ClusterPlan:
    return plan(load(str(_config_with(tmp_path, ca_dir, run_as_user))).config)[0]


def _setup_vault(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, cluster_plan: ClusterPlan
) -> dict[str, bytes]:
    """Run the rendered setup on the OpenBao, point the verifier at it, return the four values from Vault."""
    tree = render_into(tmp_path / CONFIG, tmp_path / "out")
    done = run_setup(tree, env)
    assert done.returncode == 0, done.stderr
    for name in ("VAULT_ADDR", "VAULT_TOKEN"):
        monkeypatch.setenv(name, env[name])
    return _values_from_vault(env, cluster_plan)


def _values_from_vault(env: dict[str, str], cluster_plan: ClusterPlan) -> dict[str, bytes]:
    """The four values as the agent templates read them (istio_vault_ca.verify.checks.vault reads them the same way)."""
    from istio_vault_ca.verify.checks.vault import read_ca_values
    from istio_vault_ca.verify.clients.vault import VaultApi, settings_from_env

    values, _labels = read_ca_values(VaultApi(settings_from_env(env["VAULT_ADDR"], env)), cluster_plan)
    assert all(values.values()), values.keys()
    return {name: value for name, value in values.items() if value is not None}


def run_agent(tree: Path, env: dict[str, str], directory: Path, policy: str) -> Path:
    """The init container's agent, for real, on the rendered overlay of ``tree``'s cluster (rotation_agents.run_agent:
    the pod's ca_dir re-rooted under ``directory``, auto-auth a token holding only ``policy``; the real Kubernetes
    login against a real API server: tests/e2e). Returns where the four files are."""
    from istio_vault_ca.generator.render.layout import layout_for
    from istio_vault_ca.verify.rehearsal.consistency import overlay_files

    cluster = layout_for(plan(load(CONFIG).config)).clusters[0]
    overlay = overlay_files(tree, cluster)[0]
    return rotation_agents.run_agent(env, tree / overlay, directory, policy)


@pytest.mark.integration
def test_real_bao_agent_files_pass_over_local(
    cluster_plan: ClusterPlan,
    script_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real `bao agent` renders the four files; testinfra's local:// backend reads them and the pod checks
    pass. (Its failures, served as vault-agent-init's log by the real API server: tests/e2e.)"""
    from istio_vault_ca.verify.checks.cluster import pod_file_checks
    from istio_vault_ca.verify.clients.podfiles import get_host, read_ca_files

    values = _setup_vault(tmp_path, script_env, monkeypatch, cluster_plan)
    directory = run_agent(tmp_path / "out", script_env, tmp_path / "pod-root", cluster_plan.cluster.policy)
    assert directory == tmp_path / "pod-root" / "vault" / "secrets"
    here = _plan_with(tmp_path, f"ca_dir: {directory}", f"run_as_user: {os.getuid()}")  # this machine is the pod

    files = read_ca_files(get_host("local://"), str(directory))
    results = pod_file_checks(files, here)

    assert [r.id for r in results if r.failed] == []
    assert {r.id for r in results} >= {"pod.ca-files-present", "pod.ca-file-modes", "chain.key-matches-cert"}
    assert files.modes == {"ca-cert.pem": 0o644, "ca-key.pem": 0o400, "cert-chain.pem": 0o644, "root-cert.pem": 0o644}
    assert files.values["root-cert.pem"] == values["root-cert.pem"]


# ---------------------------------------------------------------------- the shipped pytest-testinfra suite


SUITE: tuple[str, ...] = (sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfs")
SUITE += ("-p", "istio_vault_ca.verify.testinfra_suite.plugin", "--pyargs", "istio_vault_ca.verify.testinfra_suite")


def _suite(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SUITE, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_testinfra_suite_fails_on_a_group_readable_key_over_local(tmp_path: Path) -> None:
    directory = write_agent_files(tmp_path / "secrets", good_bundle().files(), key_mode=0o640)
    config = _config_with(tmp_path, f"ca_dir: {directory}", f"run_as_user: {os.getuid()}")
    env = {**os.environ, "PYTHONPATH": str(REPO), "IVC_CONFIG": str(config)}

    done = _suite("--hosts=local://", env=env, cwd=tmp_path)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED" in done.stdout and "test_ca_files[local-pod.ca-file-modes]" in done.stdout
    assert "ca-key.pem is 0640: group or other users in the pod can read the CA key" in done.stdout
    assert stat.S_IMODE((directory / "ca-key.pem").stat().st_mode) == 0o640


# ---------------------------------------------------------------------- verify all reports what it can reach


@pytest.mark.parametrize("output", ["json", "junit", "text"])
def test_verify_all_without_a_kubeconfig_still_reports_vault_and_chain(
    output: str,
    cluster_plan: ClusterPlan,
    script_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The quick start's last step on a machine with no kubeconfig: Vault and chain results, cluster as error."""
    _setup_vault(tmp_path, script_env, monkeypatch, cluster_plan)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    capsys.readouterr()

    code = main(["verify", "all", "-c", CONFIG, "--output", output])
    captured = capsys.readouterr()

    assert code == 3
    assert "Traceback" not in captured.err
    assert "vault.policy" in captured.out and "chain.spiffe-leaf" in captured.out
    assert "cluster.api-reachable" in captured.out
    if output == "json":
        checks = json.loads(captured.out)["checks"]
        (api,) = [c for c in checks if c["id"] == "cluster.api-reachable"]
        assert api["status"] == "error" and "kubeconfig" in api["finding"]
        assert {c["id"].split(".")[0] for c in checks} == {"vault", "chain", "cluster"}
        assert not [c for c in checks if c["status"] in ("fail", "error") and c["id"] != "cluster.api-reachable"]


def test_the_istiod_release_is_read_from_the_image_tag() -> None:
    from istio_vault_ca.verify.checks.chain import IstioVersion
    from istio_vault_ca.verify.checks.cluster import image_release

    def pod(image: str) -> dict[str, object]:
        return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "discovery", "image": image}]}}

    assert image_release(pod("docker.io/istio/pilot:1.24.3-distroless")) == IstioVersion(1, 24, 3)
    assert image_release(pod("gcr.io/istio-release/pilot:1.26.0")) == IstioVersion(1, 26, 0)
    assert image_release(pod("registry.local:5000/pilot@sha256:abc")) is None
    assert image_release(pod("tetrate/pilot:latest")) is None
