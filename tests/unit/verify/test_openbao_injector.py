"""`vault.injector: openbao-k8s`: what the openbao/openbao-k8s injector (main at 833d341, after the v1.4.0 tag it
inherited from vault-k8s) names differently from vault-k8s v1.6.2, end to end through render, the rehearsal's
emulation of the injector and `verify cluster` on a Pod shaped as that injector mutates it.

Each difference is read from the upstream files cited in generator/config/injectors.py: the annotation prefix
(agent-inject/agent/annotations.go), the containers (container_init_sidecar.go, container_sidecar.go), the env
holding the agent config (container_env.go), the token sink and pid file (config.go), the webhook's name
(deploy/injector-mutating-webhook.yaml).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from istio_vault_ca.generator.config.injectors import OPENBAO_K8S, VAULT_K8S, Injector, from_pod
from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import ClusterPlan, plan
from istio_vault_ca.generator.errors import OverlayError, RehearsalStepFailed
from istio_vault_ca.generator.render.layout import ClusterLayout
from istio_vault_ca.verify.checks.cluster import (
    ClusterState,
    ClusterView,
    LogRead,
    PodState,
    PodView,
    VaultRoot,
    agent_init_succeeded,
    agent_sidecar_running,
    annotations_match,
    injector_webhook,
    pod_injected,
    root_ca_dir_matches_volume_path,
)
from istio_vault_ca.verify.checks.cluster.collect import _pod_logs
from istio_vault_ca.verify.checks.result import Status
from istio_vault_ca.verify.rehearsal import agent
from istio_vault_ca.verify.rehearsal.consistency import check_cluster_overlay
from tests.kube_stub import seed
from tests.support import EXAMPLES, render_into

INSTALLERS = {
    "tsb-controlplane": "istiod/tsb-controlplane-overlay.yaml",
    "istio-operator": "istiod/istio-operator-overlay.yaml",
    "helm": "istiod/istiod-helm-values.yaml",
}
NO_ROOT = VaultRoot(None, "cert/ca", "not read")
VAULT_ADDRESS = "http://openbao.openbao:8200"


def _config(tmp: Path, example: str, injector: str) -> Path:
    """The example with `vault.injector` set (the examples with no `vault:` block only)."""
    text = (EXAMPLES / example).read_text(encoding="utf-8")
    assert "\nvault:" not in text and not text.startswith("vault:")
    path = tmp / f"{injector}-{example}"
    path.write_text(f"vault:\n  injector: {injector}\n{text}", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("configs")
    return {name: _config(tmp, "kv-v2.yaml", name) for name in ("vault-k8s", "openbao-k8s")}


@pytest.fixture(scope="module")
def trees(configs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {name: render_into(path, tmp_path_factory.mktemp(name) / "out") for name, path in configs.items()}


@pytest.fixture(scope="module")
def plans(configs: dict[str, Path]) -> dict[str, ClusterPlan]:
    return {name: plan(load(str(path)).config)[0] for name, path in configs.items()}


def _strip(annotations: dict[str, str], prefix: str) -> dict[str, str]:
    assert all(key.startswith(prefix) for key in annotations), sorted(annotations)
    return {key[len(prefix) :]: value for key, value in annotations.items()}


# ---------------------------------------------------------------------- render


def test_the_default_injector_is_vault_k8s() -> None:
    default = plan(load(None).config)[0]
    assert default.config.vault.injector == "vault-k8s"
    assert all(key.startswith("vault.hashicorp.com/") for key in default.annotations())


@pytest.mark.parametrize("installer", sorted(INSTALLERS))
def test_every_installer_carries_the_openbao_org_annotations(
    trees: dict[str, Path], plans: dict[str, ClusterPlan], installer: str
) -> None:
    """The same annotations as for vault-k8s, with openbao-k8s's prefix and no vault.hashicorp.com/ key left."""
    ours = agent.read_overlay(trees["openbao-k8s"] / INSTALLERS[installer], INSTALLERS[installer])
    theirs = agent.read_overlay(trees["vault-k8s"] / INSTALLERS[installer], INSTALLERS[installer])
    assert ours.installer == installer
    assert ours.injector is OPENBAO_K8S and theirs.injector is VAULT_K8S
    assert ours.annotations == plans["openbao-k8s"].annotations()
    assert _strip(ours.annotations, "openbao.org/") == _strip(theirs.annotations, "vault.hashicorp.com/")
    assert len(ours.annotations) == 19
    assert "vault.hashicorp.com" not in (trees["openbao-k8s"] / INSTALLERS[installer]).read_text(encoding="utf-8")
    assert ours.env == theirs.env


def test_the_tree_readme_names_the_openbao_annotation(trees: dict[str, Path]) -> None:
    readme = (trees["openbao-k8s"] / "README.md").read_text(encoding="utf-8")
    assert "`openbao.org/secret-volume-path` are the same value by construction" in readme
    assert "vault.hashicorp.com" not in readme
    assert "`vault.hashicorp.com/secret-volume-path`" in (trees["vault-k8s"] / "README.md").read_text(encoding="utf-8")


def test_the_monitoring_pods_use_the_configured_prefix(tmp_path: Path) -> None:
    config = tmp_path / "monitoring.yaml"
    text = (EXAMPLES / "monitoring.yaml").read_text(encoding="utf-8")
    assert "\nvault:\n" in text
    config.write_text(text.replace("\nvault:\n", "\nvault:\n  injector: openbao-k8s\n", 1), encoding="utf-8")
    tree = render_into(config, tmp_path / "out")
    texts = {p.name: p.read_text(encoding="utf-8") for p in sorted((tree / "monitoring").glob("*.yaml"))}
    assert any(
        "openbao.org/agent-inject-token: 'true'" in t or 'openbao.org/agent-inject-token: "true"' in t
        for t in texts.values()
    ), sorted(texts)
    assert not [name for name, t in texts.items() if "vault.hashicorp.com" in t]


# ---------------------------------------------------------------------- the injector's emulation


def _injection(tree: Path) -> agent.Injection:
    return agent.parse_injection(agent.read_overlay(tree / INSTALLERS["helm"], "helm"))


def test_the_agent_config_differs_only_in_the_home_directory(trees: dict[str, Path]) -> None:
    """config.go on openbao-k8s main: PidFile /home/openbao/.pid, TokenFile /home/openbao/.openbao-token; the rest
    of `newConfig` (auth, templates, the `vault` stanza's JSON key) is vault-k8s's."""
    ours = agent.pod_config(_injection(trees["openbao-k8s"]), vault_address=VAULT_ADDRESS)
    theirs = agent.pod_config(_injection(trees["vault-k8s"]), vault_address=VAULT_ADDRESS)
    assert ours["auto_auth"]["sink"] == [{"type": "file", "config": {"path": "/home/openbao/.openbao-token"}}]
    assert ours["pid_file"] == "/home/openbao/.pid"
    assert theirs["auto_auth"]["sink"] == [{"type": "file", "config": {"path": "/home/vault/.vault-token"}}]
    assert theirs["pid_file"] == "/home/vault/.pid"
    for config in (ours, theirs):
        del config["auto_auth"]["sink"], config["pid_file"]
    assert ours == theirs
    assert [t["destination"] for t in ours["template"]] == [
        f"/vault/secrets/{name}" for name in ("ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem")
    ]
    assert ours["vault"] == {"address": VAULT_ADDRESS}


def test_openbao_k8s_reads_vault_k8s_annotations_too(trees: dict[str, Path]) -> None:
    """agent-inject/handler.go `Handler.Mutate` (openbao-k8s main): every vault.hashicorp.com/<x> becomes
    openbao.org/<x> unless that key exists, so a vault-k8s overlay is injected the same, and openbao.org/* wins."""
    ours = agent.read_overlay(trees["openbao-k8s"] / INSTALLERS["helm"], "helm")
    theirs = agent.read_overlay(trees["vault-k8s"] / INSTALLERS["helm"], "helm")
    read_by_openbao = agent.IstiodOverlay("x", "helm", theirs.annotations, theirs.env, injector_name="openbao-k8s")
    assert read_by_openbao.injector is OPENBAO_K8S
    assert read_by_openbao.effective == ours.annotations
    assert agent.parse_injection(read_by_openbao) == agent.parse_injection(ours)
    both = {**ours.annotations, "vault.hashicorp.com/role": "other"}
    mixed = agent.IstiodOverlay("x", "helm", both, ours.env, injector_name="openbao-k8s")
    assert mixed.annotation("role") == ours.annotation("role") == "istiod"
    # vault-k8s reads its own prefix only: the openbao.org/* keys are nothing to it.
    assert agent.IstiodOverlay("x", "helm", ours.annotations, ours.env, "vault-k8s").annotation("role") is None


def test_a_bad_boolean_is_named_with_the_openbao_prefix(trees: dict[str, Path]) -> None:
    overlay = agent.read_overlay(trees["openbao-k8s"] / INSTALLERS["helm"], "helm")
    broken = agent.IstiodOverlay("x", "helm", {**overlay.annotations, "openbao.org/agent-inject": "yes"}, overlay.env)
    with pytest.raises(OverlayError, match=r"openbao\.org/agent-inject is 'yes', not a boolean"):
        agent.parse_injection(broken)


def test_the_rehearsal_refuses_openbao_annotations_for_vault_k8s_only(
    trees: dict[str, Path], plans: dict[str, ClusterPlan]
) -> None:
    same = check_cluster_overlay(trees["openbao-k8s"], ClusterLayout(plans["openbao-k8s"], ""))
    assert same.injection.injector is OPENBAO_K8S
    with pytest.raises(RehearsalStepFailed) as caught:
        check_cluster_overlay(trees["openbao-k8s"], ClusterLayout(plans["vault-k8s"], ""))
    assert (
        "its annotations are openbao.org/*, for the openbao-k8s injector, but the config says vault.injector: "
        "vault-k8s: that injector would ignore them" in str(caught.value)
    )
    # openbao-k8s moves vault.hashicorp.com/* to its prefix: the same injection, built with its in-Pod paths.
    moved = check_cluster_overlay(trees["vault-k8s"], ClusterLayout(plans["openbao-k8s"], ""))
    assert moved.injection == same.injection
    assert agent.pod_config(moved.injection, vault_address=VAULT_ADDRESS)["pid_file"] == "/home/openbao/.pid"


# ---------------------------------------------------------------------- verify cluster on a mutated Pod


def _status(name: str, state: dict[str, Any], *, ready: bool, restarts: int = 0) -> dict[str, Any]:
    return {"name": name, "ready": ready, "restartCount": restarts, "state": state, "lastState": {}}


def _init_status(name: str, state: dict[str, Any]) -> dict[str, Any]:
    if state is COMPLETED:
        return _status(name, state, ready=True)
    # A crash-looping init container as the kubelet reports it: waiting, restarted, its last run exited 1.
    status = _status(name, state, ready=False, restarts=4)
    status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
    return status


COMPLETED = {"terminated": {"exitCode": 0, "reason": "Completed"}}
RUNNING = {"running": {"startedAt": "2025-01-10T09:00:00Z"}}
CRASHING = {"waiting": {"reason": "CrashLoopBackOff"}}


def mutated_pod(
    cluster_plan: ClusterPlan, tree: Path, injector: Injector, *, init: dict[str, Any] = COMPLETED
) -> dict[str, Any]:
    """istiod's Pod as the injector's `Patch` leaves it (agent.go): the status annotation `injected`, the init
    container first (agent-init-first) carrying the agent config, base64 JSON, in its config env
    (container_env.go), the sidecar beside discovery; the kubelet's statuses as a started Pod reports them."""
    template = seed.istiod_deployment(cluster_plan)["spec"]["template"]
    injection = _injection(tree)
    config = base64.b64encode(json.dumps(agent.pod_config(injection, vault_address=VAULT_ADDRESS)).encode()).decode()
    spec = json.loads(json.dumps(template["spec"]))
    spec["initContainers"] = [
        {"name": injector.init_container, "env": [{"name": injector.config_env, "value": config}]}
    ]
    spec["containers"].append({"name": injector.sidecar, "env": [{"name": injector.config_env, "value": config}]})
    annotations = {**template["metadata"]["annotations"], injector.inject_status: "injected"}
    return {
        "metadata": {"name": "istiod-5d8f-abcde", "namespace": "istio-system", "annotations": annotations},
        "spec": spec,
        "status": {
            "phase": "Running",
            "initContainerStatuses": [_init_status(injector.init_container, init)],
            "containerStatuses": [
                _status("discovery", RUNNING, ready=True),
                _status(injector.sidecar, RUNNING, ready=True),
            ],
        },
    }


def _pod_view(pod: dict[str, Any], cluster_plan: ClusterPlan, logs: dict[str, LogRead] | None = None) -> PodView:
    state = ClusterState("istio-system", None, None, None, webhooks=(seed.injector_webhook("Fail"),))
    return PodView(state, cluster_plan, NO_ROOT, pod=PodState(pod, logs or {}))


def test_the_emulated_pod_carries_bao_config_that_decodes_to_our_agent_config(
    trees: dict[str, Path], plans: dict[str, ClusterPlan]
) -> None:
    pod = mutated_pod(plans["openbao-k8s"], trees["openbao-k8s"], OPENBAO_K8S)
    init = pod["spec"]["initContainers"][0]
    assert init["name"] == "openbao-agent-init"
    [env] = init["env"]
    assert env["name"] == "BAO_CONFIG"
    decoded = json.loads(base64.b64decode(env["value"]))
    assert decoded["auto_auth"]["sink"][0]["config"]["path"] == "/home/openbao/.openbao-token"
    assert from_pod(pod) is OPENBAO_K8S


def test_an_openbao_k8s_pod_is_recognised_as_injected(trees: dict[str, Path], plans: dict[str, ClusterPlan]) -> None:
    pod = mutated_pod(plans["openbao-k8s"], trees["openbao-k8s"], OPENBAO_K8S)
    view = _pod_view(pod, plans["openbao-k8s"])
    injected = pod_injected(view)
    assert injected.status is Status.PASS, injected.finding
    assert injected.finding == "injected by the openbao-k8s agent injector (openbao-agent-init present)"
    init = agent_init_succeeded(view)
    assert (init.status, init.finding) == (Status.PASS, "openbao-agent-init rendered the files and exited 0")
    sidecar = agent_sidecar_running(view)
    assert (sidecar.status, sidecar.finding) == (Status.PASS, "openbao-agent sidecar is running")


def test_the_vault_k8s_pod_still_reads_as_before(trees: dict[str, Path], plans: dict[str, ClusterPlan]) -> None:
    pod = mutated_pod(plans["vault-k8s"], trees["vault-k8s"], VAULT_K8S)
    view = _pod_view(pod, plans["vault-k8s"])
    assert pod_injected(view).finding == "injected by the vault-k8s agent injector (vault-agent-init present)"
    assert agent_init_succeeded(view).finding == "vault-agent-init rendered the files and exited 0"


def test_a_failing_openbao_agent_init_is_diagnosed_from_its_own_log(
    trees: dict[str, Path], plans: dict[str, ClusterPlan]
) -> None:
    pod = mutated_pod(plans["openbao-k8s"], trees["openbao-k8s"], OPENBAO_K8S, init=CRASHING)
    log = seed.agent_log_permission_denied("kv/data/istio-ca")

    class Kube:
        def __init__(self) -> None:
            self.asked: list[str] = []

        def log(self, namespace: str, name: str, container: str, **_: object) -> str:
            self.asked.append(container)
            return log

    kube = Kube()
    logs = _pod_logs(kube, pod)  # type: ignore[arg-type]
    assert kube.asked == ["discovery", "openbao-agent-init"]
    result = agent_init_succeeded(_pod_view(pod, plans["openbao-k8s"], logs))
    assert result.status is Status.FAIL
    assert result.finding.startswith("openbao-agent-init is CrashLoopBackOff"), result.finding
    assert "permission denied" in result.finding


def test_an_uninjected_pod_names_the_openbao_annotation(trees: dict[str, Path], plans: dict[str, ClusterPlan]) -> None:
    pod = mutated_pod(plans["openbao-k8s"], trees["openbao-k8s"], OPENBAO_K8S)
    pod["spec"].pop("initContainers")
    pod["spec"]["containers"] = pod["spec"]["containers"][:1]
    annotations = pod["metadata"]["annotations"]
    del annotations["openbao.org/agent-inject-status"], annotations["openbao.org/agent-inject"]
    result = pod_injected(_pod_view(pod, plans["openbao-k8s"]))
    assert result.status is Status.FAIL
    assert "no openbao-agent-init, no openbao.org/agent-inject-status" in result.finding
    assert "the pod lacks openbao.org/agent-inject: 'true'" in result.finding


# ---------------------------------------------------------------------- the webhook and the Deployment


def _state(cluster_plan: ClusterPlan, **changes: object) -> ClusterState:
    fields: dict[str, object] = {
        "namespace": "istio-system",
        "namespace_obj": seed.namespace("istio-system"),
        "service_account": seed.service_account("istiod-service-account", "istio-system"),
        "deployment": seed.istiod_deployment(cluster_plan),
        "webhooks": (),
    }
    fields.update(changes)
    return ClusterState(**fields)  # type: ignore[arg-type]


def test_the_openbao_charts_webhook_is_found(plans: dict[str, ClusterPlan]) -> None:
    """openbao/openbao-helm charts/openbao/templates/injector-mutating-webhook.yaml (d52f690): webhook
    `vault.hashicorp.com` in `<fullname>-agent-injector-cfg`, whichever injector image runs behind it."""
    webhook = seed.injector_webhook("Fail", release="openbao")
    cluster_plan = plans["openbao-k8s"]
    found = injector_webhook(ClusterView(_state(cluster_plan, webhooks=(webhook,)), cluster_plan, NO_ROOT))
    assert found.status is Status.PASS, found.finding
    # Found by its name alone too, in a configuration named otherwise.
    webhook["metadata"]["name"] = "bao-injector"
    renamed = injector_webhook(ClusterView(_state(cluster_plan, webhooks=(webhook,)), cluster_plan, NO_ROOT))
    assert renamed.status is Status.PASS, renamed.finding
    missing = injector_webhook(ClusterView(_state(cluster_plan), cluster_plan, NO_ROOT))
    assert missing.status is Status.FAIL
    assert "(no MutatingWebhookConfiguration with webhook vault.hashicorp.com)" in missing.finding


def test_vault_k8s_annotations_drift_from_an_openbao_k8s_config(plans: dict[str, ClusterPlan]) -> None:
    cluster_plan = plans["openbao-k8s"]
    same = annotations_match(ClusterView(_state(cluster_plan), cluster_plan, NO_ROOT))
    assert same.status is Status.PASS, same.finding
    other = _state(cluster_plan, deployment=seed.istiod_deployment(plans["vault-k8s"]))
    drift = annotations_match(ClusterView(other, cluster_plan, NO_ROOT))
    assert drift.status is Status.FAIL
    assert "openbao.org/role" in drift.finding and "vault.hashicorp.com/role" in drift.finding


def test_the_openbao_secret_volume_path_is_what_root_ca_dir_is_compared_with(plans: dict[str, ClusterPlan]) -> None:
    cluster_plan = plans["openbao-k8s"]
    state = _state(cluster_plan)
    assert root_ca_dir_matches_volume_path(ClusterView(state, cluster_plan, NO_ROOT)).status is Status.PASS
    state.deployment["spec"]["template"]["metadata"]["annotations"]["openbao.org/secret-volume-path"] = "/etc/x"  # type: ignore[index]
    moved = root_ca_dir_matches_volume_path(ClusterView(state, cluster_plan, NO_ROOT))
    assert moved.status is Status.FAIL
    assert "the agent writes the files to secret-volume-path /etc/x" in moved.finding
