"""`verify cluster` on the real API server for `vault.injector: openbao-k8s`: istiod's Pod shaped as
openbao/openbao-k8s (main at 833d341) mutates it, built by our emulation of that injector (the openbao.org/*
annotations turned into the agent config, base64 JSON in `BAO_CONFIG` of `openbao-agent-init`; the `openbao-agent`
sidecar; status annotation `openbao.org/agent-inject-status: injected`), created through the real API server, and
its webhook registered as the OpenBao chart registers it (`vault.hashicorp.com` in `openbao-agent-injector-cfg`:
openbao-k8s's own example manifest names it `openbao.org`, which this API server refuses).

Stood in: the injector itself. openbao-k8s's Go module is not served by the module proxy, so it cannot be built
here (the Pod is created before its webhook configuration is registered, so the vault-k8s handler behind that
configuration never sees it); the kubelet's statuses and logs and `kubectl exec`, as in tests/e2e/istiod_cluster.py.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from istio_vault_ca.generator.config.injectors import OPENBAO_K8S
from istio_vault_ca.generator.config.plan import ClusterPlan
from istio_vault_ca.verify.rehearsal import agent
from tests.e2e import istiod_cluster as ic
from tests.e2e import vault_injector as injector
from tests.e2e.cluster import Cluster
from tests.e2e.kubelet_logs import KubeletLogs
from tests.kube_stub import seed

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.cluster_config(injector="openbao-k8s"),
    pytest.mark.usefixtures("no_vault"),
]

# openbao/openbao-helm charts/openbao/templates/injector-mutating-webhook.yaml (d52f690), release "openbao"


def emulated_pod(cluster_plan: ClusterPlan) -> dict[str, Any]:
    """istiod's Pod as openbao-k8s's `Patch` (agent-inject/agent/agent.go) leaves it, the agent config from our
    emulation (`verify/rehearsal/agent.py`) of what it builds from the rendered annotations."""
    template = seed.istiod_deployment(cluster_plan)["spec"]["template"]
    overlay = agent.IstiodOverlay("plan", "helm", cluster_plan.annotations(), cluster_plan.env)
    assert overlay.injector is OPENBAO_K8S
    config = agent.pod_config(agent.parse_injection(overlay), vault_address="http://openbao.openbao:8200")
    env = [{"name": "BAO_CONFIG", "value": base64.b64encode(json.dumps(config).encode()).decode()}]
    spec = json.loads(json.dumps(template["spec"]))
    spec["initContainers"] = [{"name": "openbao-agent-init", "image": seed.AGENT_IMAGE, "env": env}]
    spec["containers"].append({"name": "openbao-agent", "image": seed.AGENT_IMAGE, "env": env})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": ic.unique("istiod"),
            "namespace": cluster_plan.config.istiod.namespace,
            "labels": template["metadata"]["labels"],
            "annotations": {**template["metadata"]["annotations"], "openbao.org/agent-inject-status": "injected"},
        },
        "spec": spec,
    }


@pytest.fixture
def istiod(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    cluster_plan: ClusterPlan,
    webhook_cleanup: None,
) -> dict[str, Any]:
    kubeconfig = kube_cluster.kubeconfig
    istiod = cluster_plan.config.istiod
    values = ic.bundle_values()
    deployment = seed.istiod_deployment(cluster_plan)
    deployment["spec"]["replicas"] = 0  # the Pod below is the one the checks read
    injector.apply(
        kubeconfig,
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": istiod.namespace, "labels": {injector.NAMESPACE_LABEL: "enabled"}},
        },
        seed.service_account(istiod.service_account, istiod.namespace),
        seed.root_config_map(istiod.namespace, values["root-cert.pem"]),
        deployment,
    )
    pod = emulated_pod(cluster_plan)
    injector.apply(kubeconfig, pod)
    created = ic.kubectl_json(kubeconfig, "get", "pod", pod["metadata"]["name"], "-n", istiod.namespace)
    started = ic.start_pod(kube_cluster, kubelet_logs, created, ic.running_status(created))
    ic.istiod_logs(kubelet_logs, started, cluster_plan)
    injector.apply(kubeconfig, vault_injector.configuration("Fail", release="openbao"))
    return {"pod": started, "values": values}


def test_the_api_server_keeps_the_pod_as_openbao_k8s_shapes_it(istiod: dict[str, Any]) -> None:
    pod = istiod["pod"]
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["openbao-agent-init"]
    assert [c["name"] for c in pod["spec"]["containers"]] == ["discovery", "openbao-agent"]
    assert pod["metadata"]["annotations"]["openbao.org/agent-inject-status"] == "injected"
    config = injector.injected_config(pod, container="openbao-agent-init", env="BAO_CONFIG")
    assert config["auto_auth"]["sink"][0]["config"]["path"] == "/home/openbao/.openbao-token"
    assert config["pid_file"] == "/home/openbao/.pid"


def test_verify_cluster_recognises_the_openbao_k8s_pod(
    kube_cluster: Cluster,
    istiod: dict[str, Any],
    cluster_plan: ClusterPlan,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = ic.write_agent_files(tmp_path / "pod-ca-dir", istiod["values"])
    standin = ic.install_kubectl_standin(tmp_path, monkeypatch, cluster_plan, files)
    monkeypatch.setenv("KUBECTL_STANDIN_NO_SHELL", "discovery")  # a distroless istiod: read through the sidecar

    outcome = ic.verify(capsys, kube_cluster.kubeconfig)

    assert outcome.code == 0, outcome.stdout
    target = ic.pod_target(istiod["pod"])
    assert outcome.one("cluster.pod-injected", target)["finding"] == (
        "injected by the openbao-k8s agent injector (openbao-agent-init present)"
    )
    assert outcome.one("cluster.agent-init-succeeded", target)["finding"] == (
        "openbao-agent-init rendered the files and exited 0"
    )
    assert outcome.one("cluster.agent-sidecar-running", target)["finding"] == "openbao-agent sidecar is running"
    assert outcome.one("cluster.injector-webhook")["status"] == "pass"
    assert outcome.one("cluster.annotations-match")["status"] == "pass"
    containers = [call[call.index("-c") + 1] for call in standin.calls()]
    assert containers == ["discovery", *["openbao-agent"] * 5]
    assert outcome.one("pod.ca-files-present")["status"] == "pass"


@pytest.mark.usefixtures("webhook_cleanup")
def test_the_api_server_refuses_openbao_k8s_example_webhook_name(
    kube_cluster: Cluster, vault_injector: injector.Webhook
) -> None:
    """openbao-k8s deploy/injector-mutating-webhook.yaml on main names its webhook `openbao.org`: refused, so the
    chart's `vault.hashicorp.com` is the name a cluster holds (generator/config/injectors.py)."""
    webhook = vault_injector.configuration("Fail", release="openbao")
    webhook["webhooks"][0]["name"] = "openbao.org"
    reply = injector.kubectl(kube_cluster.kubeconfig, "create", "-f", "-", stdin=json.dumps(webhook))
    assert reply.returncode != 0
    assert 'webhooks[0].name: Invalid value: "openbao.org": should be a domain with at least three segments' in (
        reply.stderr
    )


def test_without_the_charts_webhook_the_finding_names_it(
    kube_cluster: Cluster, istiod: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    injector.delete_configuration(kube_cluster.kubeconfig, "openbao")

    outcome = ic.verify(capsys, kube_cluster.kubeconfig)

    found = outcome.one("cluster.injector-webhook")
    assert found["status"] == "fail"
    assert "(no MutatingWebhookConfiguration with webhook vault.hashicorp.com)" in found["finding"]
