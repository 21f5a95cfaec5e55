"""istiod from Istio's own istio-discovery chart, with the rendered overlay, admitted by the real API server and
mutated by the real vault-k8s injector (issue 11, item 3).

The chart is rendered by ``tests/oracles/istio_overlay`` (Istio's operator/pkg/helm ``Render``, Helm v4's values
merge; istioctl's ``GenerateManifest`` for the IstioOperator overlay) at the istio.io/istio revision its go.mod
pins, then applied (``tests/e2e/istiod_chart.py``; the webhook configurations and CRDs are skipped, each test
prints which). kube-controller-manager makes the ReplicaSet and the Pod; the API server sends the Pod through
vault-k8s v1.6.2 (``tests/e2e/injector``). No kubelet: the Pod is admitted and stored, never started.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from istio_vault_ca.generator.config.model import ISTIOD_CHART_MOUNTS
from istio_vault_ca.verify.rehearsal import agent
from tests.e2e import istiod_chart as chart
from tests.e2e import vault_injector as injector
from tests.e2e.cluster import Cluster
from tests.support import EXAMPLES, run_cli

pytestmark = pytest.mark.e2e

HELM_EXAMPLE = EXAMPLES / "istio-helm.yaml"
OPERATOR_EXAMPLE = EXAMPLES / "istio-operator.yaml"
VALUES = "istiod/istiod-helm-values.yaml"
IOP = "istiod/istio-operator-overlay.yaml"
P = "vault.hashicorp.com/"
# The API server's own words for a second volume mounted at one path (k8s.io/kubernetes pkg/apis/core/validation
# validation.go, validateVolumeMounts: field.Invalid(..., "must be unique")), v1.34.
DUPLICATE_MOUNT = 'mountPath: Invalid value: "/etc/cacerts": must be unique'


@pytest.fixture
def istio_system(kube_cluster: Cluster, vault_injector: injector.Webhook) -> Iterator[Cluster]:
    """istio-system selected by the registered injector webhook (Fail), without an earlier istiod; afterwards
    istiod's objects and the webhook configuration go (``istiod_chart.clean_up``)."""
    chart.prepare(kube_cluster, vault_injector)
    yield kube_cluster
    chart.clean_up(kube_cluster)


def render(example: Path, out: Path) -> Path:
    result = run_cli("render", "-c", example, "-o", out)
    assert result.returncode == 0, result.stderr
    return out


def load(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def dump(path: Path, document: Any) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        YAML(typ="safe", pure=True).dump(document, handle)
    return path


def by_destination(config: dict[str, Any]) -> dict[str, Any]:
    ordered = dict(config)
    ordered["template"] = sorted(config.get("template") or [], key=lambda stanza: str(stanza["destination"]))
    return ordered


def assert_injected(pod: dict[str, Any], overlay: agent.IstiodOverlay) -> None:
    """The Pod carries every rendered annotation and env entry, vault-agent-init with the agent config our
    emulation predicts, and the secret volume where ROOT_CA_DIR looks, beside the chart's own cacerts mount."""
    assert [c["name"] for c in pod["spec"]["initContainers"]] == [injector.INIT_CONTAINER]
    assert {c["name"] for c in pod["spec"]["containers"]} == {"discovery", "vault-agent"}
    annotations = pod["metadata"]["annotations"]
    assert annotations.items() >= overlay.annotations.items()
    assert annotations[P + "agent-inject-status"] == "injected"
    discovery = chart.container(pod, "discovery")
    env = {e["name"]: e.get("value") for e in discovery["env"]}
    assert env.items() >= overlay.env.items()
    mounts = {m["mountPath"]: m["name"] for m in discovery["volumeMounts"]}
    assert mounts[env["ROOT_CA_DIR"]] == "vault-secrets"
    assert mounts["/etc/cacerts"] == "cacerts"
    real = injector.injected_config(pod)
    ours = agent.pod_config(agent.parse_injection(overlay), vault_address=injector.INJECTOR_VAULT_ADDRESS)
    assert by_destination(real) == by_destination(ours)


def test_helm_chart_istiod_pod_is_admitted_with_the_agent_and_our_annotations(
    harness: Path, istio_system: Cluster, tmp_path: Path
) -> None:
    tree = render(HELM_EXAMPLE, tmp_path / "out")
    objects = chart.render_manifests(harness, "helm-manifests", tree / VALUES)
    applied, skipped = chart.split(objects)
    print("rendered:", len(objects), "applied:", len(applied), "skipped:", skipped)
    assert skipped == [
        "MutatingWebhookConfiguration/istio-sidecar-injector",
        "ValidatingWebhookConfiguration/istio-validator-istio-system",
    ]
    # Every path the real chart mounts in discovery is one the config refuses as ca_dir.
    chart_mounts = chart.mount_paths(chart.container(chart.deployment(objects)["spec"]["template"], "discovery"))
    assert set(chart_mounts) <= set(ISTIOD_CHART_MOUNTS), set(chart_mounts) - set(ISTIOD_CHART_MOUNTS)

    chart.install(istio_system, objects)
    pod = chart.istiod_pod(istio_system)

    assert_injected(pod, agent.read_overlay(tree / VALUES, VALUES))
    stored = {
        f"{kind}/{name}"
        for kind, name in (
            ("serviceaccount", "istiod"),
            ("configmap", "istio"),
            ("configmap", "istio-sidecar-injector"),
        )
        if injector.kubectl(istio_system.kubeconfig, "get", kind, name, "-n", chart.NAMESPACE).returncode == 0
    }
    assert stored == {"serviceaccount/istiod", "configmap/istio", "configmap/istio-sidecar-injector"}


def _on_cacerts_helm(tree: Path, tmp_path: Path) -> tuple[str, Path]:
    values = load(tree / VALUES)
    values["podAnnotations"][P + "secret-volume-path"] = "/etc/cacerts"
    values["env"]["ROOT_CA_DIR"] = "/etc/cacerts"
    return "helm-manifests", dump(tmp_path / "edited-values.yaml", values)


def _on_cacerts_istioctl(tree: Path, tmp_path: Path) -> tuple[str, Path]:
    iop = load(tree / IOP)
    iop["spec"]["components"]["pilot"]["k8s"]["podAnnotations"][P + "secret-volume-path"] = "/etc/cacerts"
    iop["spec"]["values"]["pilot"]["env"]["ROOT_CA_DIR"] = "/etc/cacerts"
    return "istioctl-manifests", dump(tmp_path / "edited-iop.yaml", iop)


HAND_EDITS = {
    "helm": (HELM_EXAMPLE, "  outputs: [helm]", _on_cacerts_helm),
    "istioctl": (OPERATOR_EXAMPLE, "  outputs: [istio-operator]", _on_cacerts_istioctl),
}


@pytest.mark.parametrize("installer", sorted(HAND_EDITS))
def test_ca_dir_on_the_charts_cacerts_is_refused_by_the_config_and_by_the_api_server(
    installer: str, harness: Path, istio_system: Cluster, tmp_path: Path
) -> None:
    """``istiod.ca_dir: /etc/cacerts`` is refused by the config loader (generator/config/model.py ``_ca_dir``,
    ``ISTIOD_CHART_MOUNTS``). Made by hand in the rendered values or IstioOperator instead, the real chart's
    Deployment is stored, but the API server refuses every Pod kube-controller-manager tries to create for it."""
    example, outputs_line, hand_edit = HAND_EDITS[installer]
    config = tmp_path / "istio-vault-ca.yaml"
    text = example.read_text(encoding="utf-8")
    assert outputs_line in text
    config.write_text(text.replace(outputs_line, f"{outputs_line}\n  ca_dir: /etc/cacerts"), encoding="utf-8")
    refused = run_cli("render", "-c", config, "-o", tmp_path / "refused")
    assert refused.returncode == 2
    assert "istiod.ca_dir" in refused.stderr
    assert "'/etc/cacerts' is where istiod's chart already mounts the `cacerts` Secret" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "refused").exists()

    mode, edited = hand_edit(render(example, tmp_path / "out"), tmp_path)
    objects = chart.render_manifests(harness, mode, edited)

    chart.install(istio_system, objects)
    message = chart.replica_failure(istio_system)

    print("ReplicaSet ReplicaFailure:", message)
    assert DUPLICATE_MOUNT in message
    assert chart.pods(istio_system) == []
    # The same refusal for the Pod template created directly: the API server's error, verbatim.
    template = chart.deployment(objects)["spec"]["template"]
    metadata = {**template["metadata"], "name": "istiod-by-hand", "namespace": chart.NAMESPACE}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}
    reply = injector.dry_run_create(istio_system.kubeconfig, pod)
    print("kubectl create --dry-run=server:", reply.stderr.strip())
    assert reply.returncode != 0
    assert DUPLICATE_MOUNT in reply.stderr


def test_istioctl_operator_overlay_istiod_pod_is_admitted_with_the_agent(
    harness: Path, istio_system: Cluster, tmp_path: Path
) -> None:
    """``istioctl install -f istio-operator-overlay.yaml``, as istioctl renders it (GenerateManifest: profile
    default, base + pilot + ingress gateway), applied without CRDs and webhooks."""
    tree = render(OPERATOR_EXAMPLE, tmp_path / "out")
    objects = chart.render_manifests(harness, "istioctl-manifests", tree / IOP)
    applied, skipped = chart.split(objects)
    print("rendered:", len(objects), "applied:", len(applied), "skipped:", skipped)
    assert collections.Counter(s.split("/")[0] for s in skipped) == {
        "CustomResourceDefinition": 15,
        "MutatingWebhookConfiguration": 1,
        "ValidatingWebhookConfiguration": 1,
    }

    chart.install(istio_system, objects)
    pod = chart.istiod_pod(istio_system)

    assert_injected(pod, agent.read_overlay(tree / IOP, IOP))
