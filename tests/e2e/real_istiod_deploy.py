"""Setting up the real istiod's Pod for tests/e2e/test_real_istiod*.py: Vault by the rendered scripts, the Pod
injected by vault-k8s, the CA directory written by the real ``bao agent``, and what a kubelet would report.

Everything here is real but the kubelet: the Pod's status is patched through ``pods/status`` from what the process
did (``crashed_status``), as in tests/e2e/istiod_cluster.py.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from istio_vault_ca.generator.config.plan import ClusterPlan
from tests.e2e import istiod_cluster as ic
from tests.e2e import real_istiod as ri
from tests.e2e import vault_injector as injector
from tests.e2e.cluster import Cluster

JSON = dict[str, Any]


@dataclass
class Deployed:
    """istiod's Pod injected and its CA directory written by the real agent from Vault."""

    pod: JSON
    files: Path  # the CA directory (the config's ca_dir)
    vault_root: bytes
    vault_address: str
    vault_env: dict[str, str]  # the environment the rendered scripts and the agent ran with


def run_agent(pod: JSON, vault_env: dict[str, str], token: str, work: Path) -> None:
    """``bao agent`` with the config the injector put in ``pod`` (the init container's: render once, exit), its
    template destinations left as the Pod's paths (ca_dir is a directory of this machine)."""
    from istio_vault_ca.verify.rehearsal import agent
    from istio_vault_ca.verify.rehearsal.openbao import find_bao

    work.mkdir()
    (work / "token").write_text(token, encoding="utf-8")
    config = agent.localize(
        injector.injected_config(pod),
        vault_address=vault_env["VAULT_ADDR"],
        token_path=work / "token",
        root=Path("/"),
        sink_path=work / "sink",
        pid_file=work / "pid",
    )
    (work / "agent.json").write_text(json.dumps(config), encoding="utf-8")
    done = subprocess.run(
        [find_bao(), "agent", f"-config={work / 'agent.json'}"],
        env=vault_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def deploy_from_vault(
    kube_cluster: Cluster,
    webhook: injector.Webhook,
    cluster_plan: ClusterPlan,
    script_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    env: dict[str, str] | None = None,
    before_deploy: Callable[[dict[str, str]], ClusterPlan] | None = None,
) -> Deployed:
    """The rendered Vault setup, istiod's Deployment (no root ConfigMap: istiod writes it), the real agent run with
    the injected config and a TokenRequest token, writing the four files into ca_dir. ``before_deploy`` runs on
    Vault after the setup and returns the plan istiod's Deployment is made from (a rotation phase's)."""
    from istio_vault_ca.verify.checks.vault import read_ca_values
    from istio_vault_ca.verify.clients.vault import VaultApi, settings_from_env

    vault_env = ic.configured_vault(tmp_path, script_env, kube_cluster, monkeypatch)
    istiod = cluster_plan.config.istiod
    from_vault, _ = read_ca_values(VaultApi(settings_from_env(vault_env["VAULT_ADDR"], vault_env)), cluster_plan)
    root_pem = from_vault["root-cert.pem"]
    assert root_pem is not None
    deploy_plan = cluster_plan if before_deploy is None else before_deploy(vault_env)
    (pod,) = ic.deploy_istiod(kube_cluster, webhook, deploy_plan, None, env=env)
    injector.kubectl(
        kube_cluster.kubeconfig, "label", "namespace", istiod.namespace, f"{ri.SELECTOR_LABEL}={istiod.namespace}"
    )
    ic.may_review_tokens(kube_cluster, istiod.namespace, istiod.service_account)
    token = ic.service_account_token(kube_cluster, istiod.namespace, istiod.service_account)
    run_agent(pod, vault_env, token, tmp_path / "agent")
    files = Path(istiod.ca_dir)
    assert sorted(p.name for p in files.iterdir()) == sorted(ic.FILES)
    ic.install_kubectl_standin(tmp_path, monkeypatch, cluster_plan, files)
    return Deployed(pod, files, root_pem, vault_env["VAULT_ADDR"], vault_env)


def config_map_root(kube_cluster: Cluster, namespace: str) -> str | None:
    reply = injector.kubectl(
        kube_cluster.kubeconfig, "get", "configmap", "istio-ca-root-cert", "-n", namespace, "-o", "json"
    )
    if reply.returncode != 0:
        return None
    data = json.loads(reply.stdout).get("data") or {}
    value = data.get("root-cert.pem")
    return str(value) if value else None


def crashed_status(pod: JSON, exit_code: int) -> JSON:
    """What a kubelet reports once discovery has exited with ``exit_code`` (and been restarted a few times)."""
    status = ic.running_status(pod)
    status["phase"] = "Running"
    for condition in status["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady"):
            condition.update(status="False", reason="ContainersNotReady")
    for container in status["containerStatuses"]:
        if container["name"] == ri.CONTAINER:
            container.update(
                ready=False,
                started=False,
                restartCount=3,
                state={
                    "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}
                },
                lastState={"terminated": {"exitCode": exit_code, "reason": "Error"}},
            )
    return status


def workload_namespace(kube_cluster: Cluster, name: str, istiod_namespace: str) -> None:
    """A namespace istiod selects (and sidecar injection is on for); istiod writes its root ConfigMap."""
    injector.apply(
        kube_cluster.kubeconfig,
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {"istio-injection": "enabled", ri.SELECTOR_LABEL: istiod_namespace},
            },
        },
    )
