"""A plain install has neither pytest-testinfra nor pytest (they are the `testinfra` extra): every command still
runs without a traceback, and the pod checks, which read istiod's files through testinfra, report an error that
says how to install it.

Each case runs in a new interpreter where importing `testinfra`, `pytest` or `_pytest` fails as it does when they
are not installed (a finder first on sys.meta_path raises ModuleNotFoundError), so nothing this test process has
imported can hide a missing import.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import refusing_port

BLOCK = """\
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {"testinfra", "pytest", "_pytest"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
"""
CLI = BLOCK + "from istio_vault_ca.verify.cli.parser import main\nsys.exit(main())\n"
# What `verify cluster` does with a running istiod pod: collect reads its files (checks/cluster/collect.py
# read_pod_ca_files), the judge reports them (pod_files.pod_file_results).
POD_FILES = (
    BLOCK
    + """\
import json
from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import plan
from istio_vault_ca.verify.checks.cluster import PodState, pod_file_results, read_pod_ca_files
from istio_vault_ca.verify.clients.kube import KubeTarget

obj = {
    "metadata": {"name": "istiod-7d4b9c", "namespace": "istio-system"},
    "spec": {"containers": [{"name": "discovery", "image": "docker.io/istio/pilot:1.24.3"}]},
    "status": {"containerStatuses": [{"name": "discovery", "state": {"running": {}}}]},
}
one = plan(load(None).config)[0]
pod = PodState(obj, ca_files=read_pod_ca_files(obj, one, KubeTarget(None, None, "https://127.0.0.1:6443")))
results = pod_file_results(pod, one, warn_days=30)
print(json.dumps([result._asdict() for result in results]))
"""
)


def run(program: str, *args: str, cwd: Path, no_vault: int | None = None) -> subprocess.CompletedProcess[str]:
    """`program` in a new interpreter under -W error; with `no_vault`, VAULT_ADDR is that refusing port."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    if no_vault is not None:
        env["VAULT_ADDR"] = f"http://127.0.0.1:{no_vault}"
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", program, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_blocker_makes_testinfra_unimportable(tmp_path: Path) -> None:
    """The premise: in these processes `import testinfra` fails as on a plain install (it is installed here)."""
    blocked = run(BLOCK + "import testinfra\n", cwd=tmp_path)
    assert blocked.returncode == 1 and "ModuleNotFoundError: No module named 'testinfra'" in blocked.stderr
    assert run("import testinfra\n", cwd=tmp_path).returncode == 0


def test_the_pod_checks_error_naming_the_extra(tmp_path: Path) -> None:
    result = run(POD_FILES, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    (check,) = json.loads(result.stdout)
    assert check["id"] == "pod.ca-files-present" and check["status"] == "error"
    assert check["target"] == "pod/istio-system/istiod-7d4b9c:/vault/secrets"
    assert "pytest-testinfra" in check["finding"] and "is not installed here" in check["finding"]
    assert "pip install 'istio-vault-ca[testinfra]'" in check["hint"]


def test_every_command_runs_without_testinfra_or_pytest(tmp_path: Path) -> None:
    """The commands an operator runs first: none imports testinfra or pytest on its way (each exits with its own
    code, README "Exit codes", and prints no traceback)."""
    with refusing_port() as no_vault, refusing_port() as no_api_server:
        _run_commands(tmp_path, no_vault, no_api_server)


def _run_commands(tmp_path: Path, no_vault: int, no_api_server: int) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
        f"clusters:\n- name: test\n  cluster:\n    server: https://127.0.0.1:{no_api_server}\n"
        "contexts:\n- name: test\n  context: {cluster: test, user: test}\n"
        "users:\n- name: test\n  user: {token: not-a-token}\n",
        encoding="utf-8",
    )
    cases = [
        (("--help",), 0),
        (("verify", "cluster", "--help"), 0),
        (("render", "-o", "out"), 0),
        (("verify", "chain", "out"), 1),  # a rendered tree is not a CA directory
        (("verify", "cluster", "--kubeconfig", str(kubeconfig)), 3),  # the API server is unreachable
        (("verify", "all", "--kubeconfig", str(kubeconfig)), 3),
        (("completion", "bash"), 0),
    ]
    for args, code in cases:
        result = run(CLI, *args, cwd=tmp_path, no_vault=no_vault)
        assert "Traceback" not in result.stderr and "testinfra" not in result.stderr, (args, result.stderr)
        assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
