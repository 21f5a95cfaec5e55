"""`verify cluster` / `verify all` scenarios on the real API server, container logs included.

The real parts: kube-apiserver, kube-controller-manager (Deployment -> ReplicaSet -> Pods), the vault-k8s
injector mutating each Pod, the API server's ``pods/log`` proxy and its RBAC, OpenBao configured by the rendered
scripts with its Kubernetes auth pointed at this API server (TokenReview and TokenRequest are real), and
``bao agent`` running the ``VAULT_CONFIG`` the injector put in the Pod (paths moved to a temp dir,
``rehearsal.agent.localize``). What is stood in, since there is no kubelet (tests/e2e/istiod_cluster.py): Pod
status is patched through ``pods/status``; the kubelet's log endpoint serves the text a scenario sets (istiod's
start-up lines in a release's wording, or a real agent's output); files in the Pod are read through the kubectl
stand-in.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from istio_vault_ca.generator.config.plan import ClusterPlan
from istio_vault_ca.verify.clients.kube import LOG_HEAD_BYTES, LOG_TAIL_LINES
from tests.e2e import istiod_cluster as ic
from tests.e2e import vault_injector as injector
from tests.e2e.cluster import KUBELET_CLIENT_USER, LIMITED_USER, Cluster
from tests.e2e.kubelet_logs import KubeletLogs
from tests.kube_stub import seed
from tests.support import make_self_signed_ca_pem

pytestmark = pytest.mark.e2e


# ---------------------------------------------------------------------- istiod's log, through the real log proxy


@pytest.mark.usefixtures("no_vault", "standin", "webhook_cleanup")
def test_healthy_istiod_log_is_read_through_the_api_servers_log_proxy(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    cluster_plan: ClusterPlan,
    values: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    pod = ic.healthy_istiod(kube_cluster, vault_injector, kubelet_logs, cluster_plan, values["root-cert.pem"])
    workload = ic.unique("a-bookinfo")
    ic.workload_namespace(kube_cluster, workload, values["root-cert.pem"])
    try:
        outcome = ic.verify(capsys, kube_cluster.kubeconfig)
    finally:
        ic.unlabel_workload_namespace(kube_cluster, workload)

    assert outcome.code == 0, outcome.stdout
    assert outcome.failing() == set()
    assert {
        "cluster.namespace-exists",
        "cluster.service-account-exists",
        "cluster.deployment-service-account",
        "cluster.annotations-match",
        "cluster.root-ca-dir-matches-volume-path",
        "cluster.injector-webhook",
        "cluster.pod-injected",
        "cluster.agent-init-succeeded",
        "cluster.agent-sidecar-running",
        "cluster.discovery-ready",
        "cluster.istiod-ca-log",
        "pod.ca-files-present",
        "pod.ca-file-modes",
        "chain.key-matches-cert",
        "chain.path-valid",
    } <= {c["id"] for c in outcome.checks}
    assert outcome.one("pod.ca-file-modes")["finding"] == (
        "modes as rendered (ca-cert.pem 0644, ca-key.pem 0400, cert-chain.pem 0644, root-cert.pem 0644)"
    )
    # Without Vault the root comparison is skipped, with the reason, never failed: istiod's namespace and the
    # sampled workload namespace.
    roots = outcome.with_id("cluster.root-configmap-matches-vault")
    assert [(r["target"], r["status"]) for r in roots] == [
        (f"configmap/{cluster_plan.config.istiod.namespace}/istio-ca-root-cert", "skip"),
        (f"configmap/{workload}/istio-ca-root-cert", "skip"),
    ]
    assert "cannot reach Vault" in roots[0]["finding"]
    assert [c["target"] for c in outcome.with_id("chain.path-valid")] == [f"{ic.pod_target(pod)}:/vault/secrets"]
    log_check = outcome.one("cluster.istiod-ca-log")
    assert log_check["status"] == "pass"
    assert "Use root cert from /vault/secrets/root-cert.pem" in log_check["finding"]
    reload = outcome.one("cluster.istiod-ca-reload")
    assert reload["status"] == "pass"
    assert reload["finding"].startswith("istiod watches /vault/secrets and has logged no CA file change since it")
    for check_id in ("cluster.agent-init-succeeded", "cluster.agent-sidecar-running", "cluster.discovery-ready"):
        assert outcome.one(check_id)["status"] == "pass", outcome.one(check_id)
    # The API server proxied exactly one read, discovery's head, presenting its kubelet client certificate;
    # the agent's log is read only when it failed.
    requested = kubelet_logs.requested(pod["metadata"]["namespace"], pod["metadata"]["name"])
    assert [(r.container, r.query, r.client) for r in requested] == [
        ("discovery", {"limitBytes": [str(LOG_HEAD_BYTES)]}, KUBELET_CLIENT_USER)
    ]


@pytest.mark.usefixtures("no_vault", "standin", "webhook_cleanup")
@pytest.mark.parametrize(
    ("release", "plugged_in", "line"),
    [
        ("1.10", True, "Use plugged-in cert at /vault/secrets/ca-key.pem"),
        ("1.20", True, "Use plugged-in cert at /vault/secrets/ca-key.pem"),
        ("1.21", True, "DNS certs use plugged-in cert at /vault/secrets/ca-key.pem"),
        ("1.24", True, "Use root cert from /vault/secrets/root-cert.pem"),
        ("1.10", False, "Use self-signed certificate as the CA certificate"),
        ("1.17", False, "Use self-signed certificate as the CA certificate"),
        ("1.20", False, "Use self-signed certificate as the CA certificate"),
        ("1.24", False, "Use self-signed certificate as the CA certificate"),
    ],
)
def test_istiod_ca_log_in_each_release_wording(
    release: str,
    plugged_in: bool,
    line: str,
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    cluster_plan: ClusterPlan,
    values: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The plugged-in CA passes and the self-signed fallback fails, whatever the release's wording
    (seed.istiod_log: 1.10's "No plugged-in cert at ...; self-signed cert is used", 1.20's "Use istio-generated
    cacerts at ... or istio-ca-secret", 1.23+'s "Use roots from istio-ca-secret")."""
    ic.healthy_istiod(
        kube_cluster,
        vault_injector,
        kubelet_logs,
        cluster_plan,
        values["root-cert.pem"],
        release=release,
        plugged_in=plugged_in,
    )

    outcome = ic.verify(capsys, kube_cluster.kubeconfig)

    log_check = outcome.one("cluster.istiod-ca-log")
    assert line in log_check["finding"]
    if plugged_in:
        assert outcome.code == 0, outcome.stdout
        assert log_check["status"] == "pass"
        assert log_check["finding"].startswith("istiod loaded the plugged-in CA from /vault/secrets")
        # 1.10 has no watcher on the CA files: a renewed intermediate needs a restart (a warning).
        assert outcome.one("cluster.istiod-ca-reload")["status"] == ("warn" if release == "1.10" else "pass")
    else:
        assert outcome.code == 1
        assert outcome.failing() == {"cluster.istiod-ca-log"}
        assert log_check["finding"].startswith("istiod fell back to a self-signed CA, not the Vault intermediate")


@pytest.mark.usefixtures("no_vault", "standin", "webhook_cleanup")
@pytest.mark.parametrize(
    ("release", "outcome", "status", "start"),
    [
        ("1.24", "reloaded", "pass", "istiod reloaded the changed CA files without a restart"),
        ("1.30", "new-root", "pass", "istiod reloaded the changed CA files and a new root bundle without a restart"),
        ("1.24", "multiroot-off", "fail", "istiod ignored a changed root-cert.pem: ISTIO_MULTIROOT_MESH is not true"),
        ("1.17", "root-refused", "fail", "istiod refused a changed root-cert.pem and keeps its old CA"),
    ],
)
def test_istiod_ca_reload_read_through_the_log_proxy(
    release: str,
    outcome: str,
    status: str,
    start: str,
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    cluster_plan: ClusterPlan,
    values: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What istiod logged after its CA files changed (seed.istiod_reload_log: istio_ca.go handleEvent's lines in
    that release's wording), appended to its start-up log."""
    pod = ic.healthy_istiod(kube_cluster, vault_injector, kubelet_logs, cluster_plan, values["root-cert.pem"])
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    start_up = seed.istiod_log(release, plugged_in=True, ca_dir=cluster_plan.config.istiod.ca_dir)
    kubelet_logs.set_log(ns, name, "discovery", start_up + seed.istiod_reload_log(release, outcome))

    result = ic.verify(capsys, kube_cluster.kubeconfig)

    reload = result.one("cluster.istiod-ca-reload")
    assert reload["status"] == status
    assert reload["finding"].startswith(start), reload
    assert result.failing() == ({"cluster.istiod-ca-reload"} if status == "fail" else set())
    assert result.code == (1 if status == "fail" else 0)


@pytest.mark.usefixtures("no_vault", "standin", "webhook_cleanup")
def test_a_reload_long_after_start_is_read_from_the_tail_of_a_big_log(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    cluster_plan: ClusterPlan,
    values: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """istiod's log is larger than the head the checks read: the start-up lines come from the head, the reload
    (refused: multi-root off) from a second read of the last lines, both through the API server."""
    pod = ic.healthy_istiod(kube_cluster, vault_injector, kubelet_logs, cluster_plan, values["root-cert.pem"])
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    filler_line = "2025-01-20T09:00:00.000000Z\tinfo\tads\tPush debounce stable[1] 1 for config ServiceEntry\n"
    filler = filler_line * (LOG_HEAD_BYTES // len(filler_line) + 1)
    start_up = seed.istiod_log("1.24", plugged_in=True, ca_dir=cluster_plan.config.istiod.ca_dir)
    kubelet_logs.set_log(ns, name, "discovery", start_up + filler + seed.istiod_reload_log("1.24", "multiroot-off"))

    result = ic.verify(capsys, kube_cluster.kubeconfig)

    assert result.failing() == {"cluster.istiod-ca-reload"}
    assert result.one("cluster.istiod-ca-log")["status"] == "pass"
    assert (
        "Multi root is disabled, updating new ROOT-CA not supported"
        in result.one("cluster.istiod-ca-reload")["finding"]
    )
    assert [r.query for r in kubelet_logs.requested(ns, name)] == [
        {"limitBytes": [str(LOG_HEAD_BYTES)]},
        {"limitBytes": [str(LOG_HEAD_BYTES)], "tailLines": [str(LOG_TAIL_LINES)]},
    ]


@pytest.mark.usefixtures("no_vault", "standin", "webhook_cleanup")
def test_limited_user_without_pods_log_gets_the_api_servers_403(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    cluster_plan: ClusterPlan,
    values: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A user granted everything the checks read except ``pods/log`` (a real Role without the subresource):
    the API server refuses the log read before it ever reaches the kubelet."""
    pod = ic.healthy_istiod(kube_cluster, vault_injector, kubelet_logs, cluster_plan, values["root-cert.pem"])
    ns = cluster_plan.config.istiod.namespace
    user = f"{LIMITED_USER}-{ns}"
    reader = f"reader-{ns}"
    resources = "namespaces,serviceaccounts,pods,configmaps,deployments.apps"
    resources += ",mutatingwebhookconfigurations.admissionregistration.k8s.io"
    with ic.reader_kubeconfig(kube_cluster, user, reader, resources) as kubeconfig:
        before = len(kubelet_logs.requests)
        outcome = ic.verify(capsys, kubeconfig)

    assert outcome.code == 3
    # The --output document is written even so: the error as its one entry (exit 3 all the same).
    assert [(c["id"], c["status"]) for c in outcome.checks] == [("cluster.api-reachable", "error")]
    name = pod["metadata"]["name"]
    assert (
        f"refused read the log of {ns}/{name} container discovery (403): "
        f'pods "{name}" is forbidden: User "{user}" cannot get resource "pods/log" in API group "" '
        f'in the namespace "{ns}"'
    ) in outcome.stderr
    assert "grant get/list on namespaces, serviceaccounts, deployments, pods, pods/log" in outcome.stderr
    assert len(kubelet_logs.requests) == before


@pytest.mark.usefixtures("no_vault", "standin", "webhook_cleanup")
def test_two_replicas_are_judged_pod_by_pod(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    cluster_plan: ClusterPlan,
    values: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two Pods of the Deployment, both made by the ReplicaSet and injected: one started on the Vault CA, the
    other fell back to a self-signed CA. Each per-Pod check names its Pod."""
    first, second = ic.deploy_istiod(kube_cluster, vault_injector, cluster_plan, values["root-cert.pem"], replicas=2)
    for pod, plugged_in in ((first, True), (second, False)):
        started = ic.start_pod(kube_cluster, kubelet_logs, pod, ic.running_status(pod))
        ic.istiod_logs(kubelet_logs, started, cluster_plan, plugged_in=plugged_in)

    outcome = ic.verify(capsys, kube_cluster.kubeconfig)

    assert outcome.code == 1
    logs = {c["target"]: c["status"] for c in outcome.with_id("cluster.istiod-ca-log")}
    assert logs == {ic.pod_target(first): "pass", ic.pod_target(second): "fail"}
    injected = {c["target"]: c["status"] for c in outcome.with_id("cluster.pod-injected")}
    assert injected == {ic.pod_target(first): "pass", ic.pod_target(second): "pass"}
    assert outcome.failing() == {"cluster.istiod-ca-log"}


# ---------------------------------------------------------------------- a real OpenBao, a real agent


def _bao(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    done = subprocess.run(["bao", *args], env=env, input=stdin, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def _run_agent(
    pod: dict[str, Any], work: Path, env: dict[str, str], *, token: str | None, vault_address: str | None = None
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``bao agent`` with the VAULT_CONFIG the injector put in this Pod, moved here (the token file is the
    Pod's projected token, from the real TokenRequest API); returns the run and the Pod's ca_dir, re-rooted."""
    from istio_vault_ca.verify.rehearsal import agent
    from istio_vault_ca.verify.rehearsal.openbao import find_bao

    work.mkdir(parents=True)
    # The agent's environment's VAULT_ADDR wins over the config's vault.address: both name the same address.
    env = {**env, "VAULT_ADDR": vault_address or env["VAULT_ADDR"]}
    config = agent.localize(
        injector.injected_config(pod),
        vault_address=env["VAULT_ADDR"],
        token_path=work / "token",
        root=work / "fs",
        sink_path=work / "sink",
        pid_file=work / "pid",
    )
    if token is not None:
        (work / "token").write_text(token, encoding="utf-8")
    (work / "agent.json").write_text(json.dumps(config), encoding="utf-8")
    done = subprocess.run(
        [find_bao(), "agent", f"-config={work / 'agent.json'}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    destination = Path(config["template"][0]["destination"]).parent
    return done, destination


@pytest.mark.integration
@pytest.mark.usefixtures("webhook_cleanup")
def test_real_agent_files_pass_verify_all_then_a_workload_root_differing_from_vault_fails(
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    cluster_plan: ClusterPlan,
    script_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The whole path real but the kubelet: the rendered setup, the injected agent config, the real Kubernetes
    login (TokenRequest + TokenReview against this API server), the four files rendered, `verify all` passing;
    then a workload namespace's istio-ca-root-cert holding another root is the one failure."""
    from istio_vault_ca.verify.checks.vault import read_ca_values
    from istio_vault_ca.verify.clients.vault import VaultApi, settings_from_env

    env = ic.configured_vault(tmp_path, script_env, kube_cluster, monkeypatch)
    istiod = cluster_plan.config.istiod
    from_vault, _ = read_ca_values(VaultApi(settings_from_env(env["VAULT_ADDR"], env)), cluster_plan)
    root_pem = from_vault["root-cert.pem"]
    assert root_pem is not None
    (pod,) = ic.deploy_istiod(kube_cluster, vault_injector, cluster_plan, root_pem)
    ic.may_review_tokens(kube_cluster, istiod.namespace, istiod.service_account)
    token = ic.service_account_token(kube_cluster, istiod.namespace, istiod.service_account)
    agent_run, files = _run_agent(pod, tmp_path / "agent", env, token=token)
    assert agent_run.returncode == 0, agent_run.stdout + agent_run.stderr
    assert sorted(p.name for p in files.iterdir()) == sorted(ic.FILES)
    ic.install_kubectl_standin(tmp_path, monkeypatch, cluster_plan, files)
    started = ic.start_pod(kube_cluster, kubelet_logs, pod, ic.running_status(pod))
    ic.istiod_logs(kubelet_logs, started, cluster_plan)
    workload = ic.unique("a-bookinfo")
    ic.workload_namespace(kube_cluster, workload, root_pem)
    try:
        outcome = ic.verify(capsys, kube_cluster.kubeconfig, command="all")

        assert outcome.code == 0, outcome.stdout
        assert {c["id"].split(".")[0] for c in outcome.checks} == {"vault", "chain", "cluster", "pod"}
        roots = outcome.with_id("cluster.root-configmap-matches-vault")
        assert [(r["target"], r["status"]) for r in roots] == [
            (f"configmap/{istiod.namespace}/istio-ca-root-cert", "pass"),
            (f"configmap/{workload}/istio-ca-root-cert", "pass"),
        ]
        assert f"from {env['VAULT_ADDR']} pki/cert/ca" in roots[0]["finding"]

        # The workload namespace now holds some other root (istiod signing elsewhere, as its controller writes).
        injector.apply(kube_cluster.kubeconfig, seed.root_config_map(workload, make_self_signed_ca_pem("other")))

        outcome = ic.verify(capsys, kube_cluster.kubeconfig)
    finally:
        ic.unlabel_workload_namespace(kube_cluster, workload)

    assert outcome.code == 1
    assert outcome.failing() == {"cluster.root-configmap-matches-vault"}
    own = outcome.one("cluster.root-configmap-matches-vault", f"configmap/{istiod.namespace}/istio-ca-root-cert")
    assert own["status"] == "pass"
    other = outcome.one("cluster.root-configmap-matches-vault", f"configmap/{workload}/istio-ca-root-cert")
    assert other["status"] == "fail"
    assert other["finding"].startswith("holds CN=other")
    assert "not Vault's root CN=example.com Root CA" in other["finding"]


# Each known cause of a failing vault-agent-init, made for real: (Vault change, Deployment change, token, what
# verify says). "other-namespace" sets Vault up for istiod in another namespace than the one it runs in.
CAUSES: dict[str, tuple[str, str, str, str]] = {
    "read-denied": (
        "empty-policy",
        "",
        "own",
        "the Vault policy does not let role istiod read ",
    ),
    "role-missing": ("delete-role", "", "own", "Vault has no role istiod at auth/kubernetes"),
    "sa-not-bound": (
        "",
        "run-as-istiod",
        "own",
        "the service account istiod runs as is not bound to role istiod (service account name not authorized)",
    ),
    "ns-not-bound": (
        "other-namespace",
        "",
        "own",
        "istiod's namespace is not bound to role istiod (namespace not authorized)",
    ),
    "login-denied": (
        "",
        "",
        "no-review",
        "Vault refused the Kubernetes login at auth/kubernetes/login: permission denied",
    ),
    "no-token": ("", "", "none", "the agent found no service-account token to log in with"),
    "unreachable": ("", "", "own", "the agent cannot reach Vault"),
    "auth-unconfigured": (
        "auth-without-config",
        "",
        "own",
        "the Kubernetes auth method at auth/kubernetes has no config",
    ),
    "tls": ("", "", "own", "TLS to Vault failed (server gave HTTP response to HTTPS client)"),
    "parse-error": ("", "broken-template", "own", "a template does not parse"),
}
BROKEN_TEMPLATE = '{{- with secret "kv/istioca" -}}\n{{ index .Data "ca-key.pem" }}\n'  # no {{ end }}


@pytest.mark.integration
@pytest.mark.usefixtures("webhook_cleanup")
@pytest.mark.parametrize("cause", sorted(CAUSES))
def test_agent_init_failure_from_a_real_agent_names_the_cause(
    cause: str,
    kube_cluster: Cluster,
    vault_injector: injector.Webhook,
    kubelet_logs: KubeletLogs,
    cluster_plan: ClusterPlan,
    script_env: dict[str, str],
    values: dict[str, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The real agent fails for ``cause``; its output (stdout and stderr, as ``kubectl logs`` shows both) is what
    the kubelet serves for vault-agent-init, whose status is a kubelet's CrashLoopBackOff."""
    from istio_vault_ca.verify.rehearsal.openbao import free_port

    vault_change, deployment_change, token_kind, cause_text = CAUSES[cause]
    istiod = cluster_plan.config.istiod
    config = ic.CONFIG
    if vault_change == "other-namespace":
        config = "vault-side.yaml"
        (tmp_path / config).write_text(ic.config_text(ic.unique("istio-elsewhere")), encoding="utf-8")
    env = ic.configured_vault(tmp_path, script_env, kube_cluster, monkeypatch, config=config)
    if vault_change == "empty-policy":
        _bao(
            env,
            "policy",
            "write",
            cluster_plan.cluster.policy,
            "-",
            stdin='path "sys/nothing" { capabilities = ["read"] }\n',
        )
    if vault_change == "delete-role":
        _bao(env, "delete", f"auth/kubernetes/role/{cluster_plan.cluster.role}")
    if vault_change == "auth-without-config":  # the mount re-enabled and its role written, its config never
        _bao(env, "auth", "disable", "kubernetes")
        _bao(env, "auth", "enable", "kubernetes")
        _bao(
            env,
            "write",
            f"auth/kubernetes/role/{cluster_plan.cluster.role}",
            f"bound_service_account_names={istiod.service_account}",
            f"bound_service_account_namespaces={istiod.namespace}",
            f"token_policies={cluster_plan.cluster.policy}",
        )
    runs_as = "istiod" if deployment_change == "run-as-istiod" else istiod.service_account
    (pod,) = ic.deploy_istiod(
        kube_cluster,
        vault_injector,
        cluster_plan,
        values["root-cert.pem"],
        service_account=runs_as if runs_as != istiod.service_account else None,
        annotations=(
            {"vault.hashicorp.com/agent-inject-template-ca-key.pem": BROKEN_TEMPLATE}
            if deployment_change == "broken-template"
            else None
        ),
    )
    if token_kind != "no-review":
        ic.may_review_tokens(kube_cluster, istiod.namespace, runs_as)
    token = None if token_kind == "none" else ic.service_account_token(kube_cluster, istiod.namespace, runs_as)
    address = {
        "unreachable": f"http://127.0.0.1:{free_port()}",
        "tls": env["VAULT_ADDR"].replace("http://", "https://"),  # OpenBao's dev server speaks plain HTTP
    }.get(cause)
    agent_run, _ = _run_agent(pod, tmp_path / "agent", env, token=token, vault_address=address)
    assert agent_run.returncode != 0, agent_run.stdout + agent_run.stderr
    ic.install_kubectl_standin(tmp_path, monkeypatch, cluster_plan, tmp_path / "no-files")
    started = ic.start_pod(kube_cluster, kubelet_logs, pod, ic.init_failed_status(pod))
    ns, name = istiod.namespace, started["metadata"]["name"]
    kubelet_logs.set_log(ns, name, "vault-agent-init", agent_run.stdout + agent_run.stderr)

    outcome = ic.verify(capsys, kube_cluster.kubeconfig)

    assert outcome.code == 1
    init = outcome.one("cluster.agent-init-succeeded")
    assert init["status"] == "fail"
    assert init["finding"].startswith("vault-agent-init is CrashLoopBackOff, last exit 1, restarted 4x: "), init
    assert cause_text in init["finding"], init
    assert outcome.one("cluster.discovery-ready")["finding"].startswith("discovery is PodInitializing")
    assert outcome.one("cluster.istiod-ca-log")["status"] == "skip"
    assert outcome.one("pod.ca-files-present")["status"] == "skip"
    # Only the agent's log was read (discovery never started), through the API server's proxy.
    assert [r.container for r in kubelet_logs.requested(ns, name)] == ["vault-agent-init"]
    if cause == "sa-not-bound":
        account = outcome.one("cluster.deployment-service-account")
        assert account["finding"].startswith(
            "istiod runs as service account istiod, but Vault role istiod binds istiod-service-account"
        )
        assert init["hint"].startswith("the role binds istiod-service-account")
    if cause == "read-denied":
        assert "agent: (view) vault.read(" in init["finding"]
        assert f"policy {cluster_plan.cluster.policy} must grant read on " in init["hint"]
