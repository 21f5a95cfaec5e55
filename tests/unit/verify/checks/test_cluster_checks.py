"""The cluster checks as pure functions: istiod's log wording across releases, agent failure signatures,
webhook selectors and file modes, on API-shaped dicts (no server needed)."""

from __future__ import annotations

import pytest

from istio_vault_ca.generator.config.plan import ClusterPlan, plan
from istio_vault_ca.verify.checks.cluster import AgentContext as Context
from istio_vault_ca.verify.checks.cluster import (
    ClusterState,
    ClusterView,
    LogRead,
    PodFilesView,
    PodState,
    PodView,
    VaultRoot,
    annotations_match,
    ca_file_modes,
    injector_webhook,
    istiod_ca_log,
    root_ca_dir_matches_volume_path,
    selector_matches,
)
from istio_vault_ca.verify.checks.cluster import diagnose_agent_log as diagnose
from istio_vault_ca.verify.checks.result import Status
from istio_vault_ca.verify.clients.podfiles import PodFiles, host_url
from tests.kube_stub import seed

NO_ROOT = VaultRoot(None, "cert/ca", "not read")  # Vault's root: only the ConfigMap check reads it


def _on(state: ClusterState, cluster_plan: ClusterPlan) -> ClusterView:
    """What a cluster-level check reads."""
    return ClusterView(state, cluster_plan, NO_ROOT)


def _on_pod(pod: PodState, cluster_plan: ClusterPlan) -> PodView:
    """What a per-pod check reads: the pod; the rest of the state is not looked at by the log checks."""
    return PodView(ClusterState(pod.namespace, None, None, None), cluster_plan, NO_ROOT, pod=pod)


def _pod_with_log(text: str) -> PodState:
    return PodState({"metadata": {"name": "istiod-1", "namespace": "istio-system"}}, {"discovery": LogRead(text)})


# ---------------------------------------------------------------------- istiod's log


@pytest.mark.parametrize("release", ["1.10", "1.13", "1.17", "1.20", "1.21", "1.24"])
def test_plugged_in_ca_passes_in_every_release_wording(release: str, cluster_plan: ClusterPlan) -> None:
    result = istiod_ca_log(_on_pod(_pod_with_log(seed.istiod_log(release, plugged_in=True)), cluster_plan))
    assert result.status is Status.PASS
    assert result.finding.startswith("istiod loaded the plugged-in CA from /vault/secrets")


@pytest.mark.parametrize(
    "line",
    [
        "Use self-signed certificate as the CA certificate",
        "No plugged-in cert at /etc/cacerts/ca-key.pem; self-signed cert is used",
        "Use istio-generated cacerts at /etc/cacerts/ca-key.pem or istio-ca-secret",
        "Use roots from istio-ca-secret",
        "Use local self-signed CA certificate for testing. Will use in-memory root CA, no K8S access and no ca key",
        "IstioGenerated cacerts secret found, use it as the CA certificate",
        "pkica\tLoad signing key and cert from existing secret istio-system/istio-ca-secret",
    ],
)
def test_every_self_signed_wording_fails(line: str, cluster_plan: ClusterPlan) -> None:
    result = istiod_ca_log(_on_pod(_pod_with_log(f"2025-01-10T09:00:02.000000Z\tinfo\t{line}\n"), cluster_plan))
    assert result.status is Status.FAIL
    assert result.finding.startswith("istiod fell back to a self-signed CA")


def test_json_logs_are_read_too(cluster_plan: ClusterPlan) -> None:
    text = '{"level":"info","time":"2025-01-10T09:00:02Z","msg":"Use root cert from /vault/secrets/root-cert.pem"}\n'
    assert istiod_ca_log(_on_pod(_pod_with_log(text), cluster_plan)).status is Status.PASS


def test_plugged_in_from_another_directory_is_the_cacerts_secret_not_vault(cluster_plan: ClusterPlan) -> None:
    text = "x\tinfo\tUse local CA certificate\nx\tinfo\tUse plugged-in cert at /etc/cacerts/ca-key.pem\n"
    result = istiod_ca_log(_on_pod(_pod_with_log(text), cluster_plan))
    assert result.status is Status.FAIL
    assert result.finding.startswith(
        "istiod loaded a plugged-in CA from /etc/cacerts, not from the agent's /vault/secrets"
    )


def test_incomplete_bundle_of_istio_1_27_fails(cluster_plan: ClusterPlan) -> None:
    text = "x\terror\tfailed to create an istiod CA: incomplete signing CA bundle detected\n"
    result = istiod_ca_log(_on_pod(_pod_with_log(text), cluster_plan))
    assert result.status is Status.FAIL
    assert "incomplete signing CA bundle detected" in result.finding


def test_no_selection_line_is_a_warning_with_the_grep_to_run(cluster_plan: ClusterPlan) -> None:
    result = istiod_ca_log(_on_pod(_pod_with_log("x\tinfo\tads\tstarting\n"), cluster_plan))
    assert result.status is Status.WARN
    assert "grep" in result.hint


# ---------------------------------------------------------------------- agent failure signatures

CTX = Context("istiod", "auth/kubernetes", "istiod-service-account", "istio-system", "istioca", "")


@pytest.mark.parametrize(
    ("log", "cause"),
    [
        (seed.agent_log_permission_denied("kv/istioca"), "the Vault policy does not let role istiod read kv/istioca"),
        (seed.agent_log_login_refused('invalid role name \\"istiod\\"'), "Vault has no role istiod"),
        (seed.agent_log_login_refused("service account name not authorized"), "is not bound to role istiod"),
        (seed.agent_log_login_refused("namespace not authorized"), "istiod's namespace is not bound"),
        (seed.agent_log_login_refused("permission denied"), "Vault refused the Kubernetes login"),
        (
            'error authenticating: error="Put \\"https://vault:8200/v1/auth/kubernetes/login\\": dial tcp '
            '10.96.0.5:8200: connect: connection refused"',
            "the agent cannot reach Vault (connection refused)",
        ),
        (
            'error="Put \\"https://vault:8200/v1/auth/kubernetes/login\\": tls: failed to verify certificate: '
            'x509: certificate signed by unknown authority"',
            "TLS to Vault failed",
        ),
        (
            '[ERR] (runner) (dynamic): execute: template: :2:3: executing "" at <.Data.data.foo>: '
            'map has no entry for key "foo"',
            "a template read a key the secret does not have",
        ),
        ("[ERROR] could not load backend configuration", "has no config"),
    ],
)
def test_agent_failure_signatures_name_the_cause(log: str, cause: str) -> None:
    diagnosis = diagnose(log, CTX)
    assert diagnosis is not None
    assert cause in diagnosis.cause


def test_unknown_agent_log_is_not_guessed() -> None:
    assert diagnose("==> Vault Agent started!\nsomething new happened\n", CTX) is None


# ---------------------------------------------------------------------- deployment and webhook shapes


def _state(cluster_plan: ClusterPlan, **changes: object) -> ClusterState:
    deployment = seed.istiod_deployment(cluster_plan)
    fields: dict[str, object] = {
        "namespace": "istio-system",
        "namespace_obj": seed.namespace("istio-system"),
        "service_account": seed.service_account("istiod-service-account", "istio-system"),
        "deployment": deployment,
        "webhooks": (seed.injector_webhook("Fail"),),
    }
    fields.update(changes)
    return ClusterState(**fields)  # type: ignore[arg-type]


def test_missing_root_ca_dir_says_istiod_reads_etc_cacerts(cluster_plan: ClusterPlan) -> None:
    state = _state(cluster_plan)
    container = state.deployment["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    container["env"] = [e for e in container["env"] if e["name"] != "ROOT_CA_DIR"]
    result = root_ca_dir_matches_volume_path(_on(state, cluster_plan))
    assert result.status is Status.FAIL
    assert "istiod reads /etc/cacerts while the agent writes to /vault/secrets" in result.finding


def _helm_plan(release: str) -> ClusterPlan:
    from istio_vault_ca.generator.config.model import Config

    return plan(Config.model_validate({"istiod": {"outputs": ["helm"], "istio_version": release}}))[0]


@pytest.mark.parametrize(
    ("image", "rendered", "names_the_cause"),
    [
        ("docker.io/istio/pilot:1.23.4", "1.31", True),
        ("docker.io/istio/pilot:1.22.0-distroless", "1.24", True),
        ("docker.io/istio/pilot:1.23.4", "1.23", False),  # rendered for it: the hint is not this
        ("docker.io/istio/pilot:1.26.2", "1.31", False),
        ("registry.example/pilot@sha256:" + "0" * 64, "1.31", False),  # no release in the tag
    ],
)
def test_an_old_chart_is_named_as_the_cause_of_missing_values(image: str, rendered: str, names_the_cause: bool) -> None:
    """Issue 27 section 7: values rendered for 1.24+ on a 1.23 chart never reach istiod; the hint says why."""
    helm_plan = _helm_plan(rendered)
    state = _state(helm_plan)
    template = state.deployment["spec"]["template"]  # type: ignore[index]
    container = template["spec"]["containers"][0]
    container["image"] = image
    container["env"] = [e for e in container["env"] if e["name"] != "ROOT_CA_DIR"]
    template["metadata"]["annotations"] = {}
    env_result = root_ca_dir_matches_volume_path(_on(state, helm_plan))
    annotations_result = annotations_match(_on(state, helm_plan))
    for result in (env_result, annotations_result):
        assert result.status is Status.FAIL
        cause = "whose chart reads only pilot.env and pilot.podAnnotations" in result.hint
        assert cause is names_the_cause, result.hint
        if names_the_cause:
            assert "set istiod.istio_version: '1.2" in result.hint


def test_webhook_whose_namespace_selector_misses_istiod_fails(cluster_plan: ClusterPlan) -> None:
    webhook = seed.injector_webhook("Fail")
    webhook["webhooks"][0]["namespaceSelector"] = {"matchLabels": {"vault-injection": "enabled"}}
    result = injector_webhook(_on(_state(cluster_plan, webhooks=(webhook,)), cluster_plan))
    assert result.status is Status.FAIL
    assert "namespaceSelector does not match namespace istio-system" in result.finding


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": "x"}, False),
    ],
)
def test_label_selector_semantics(selector: dict[str, object], labels: dict[str, str], expected: bool) -> None:
    assert selector_matches(selector, labels) is expected


def test_key_owned_by_another_uid_is_unreadable_for_istiod(cluster_plan: ClusterPlan) -> None:
    files = PodFiles(
        "pod/istio-system/istiod-1:/vault/secrets",
        "/vault/secrets",
        {},
        {"ca-key.pem": 0o400, "ca-cert.pem": 0o644},
        {"ca-key.pem": 100, "ca-cert.pem": 100},
    )
    result = ca_file_modes(PodFilesView(files, cluster_plan))
    assert result.status is Status.FAIL
    assert result.finding == "ca-key.pem is owned by uid 100, istiod runs as 1337 and cannot read it"


def test_host_url_is_what_pytest_hosts_takes() -> None:
    url = host_url("istiod-1", "istio-system", "discovery", kubeconfig="/k/config", context="prod")
    assert url == "kubectl://istiod-1?namespace=istio-system&container=discovery&kubeconfig=%2Fk%2Fconfig&context=prod"
