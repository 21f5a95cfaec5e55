"""`monitoring/`: the in-cluster exporter (serve or a CronJob), its least RBAC, its own Vault role and policy, and
the Prometheus Operator objects with the alerts. Built as data like the other manifests, only when
`monitoring.enabled`.

Why a Vault role of its own: istiod's policy reads the CA key; a monitor must not. The exporter's policy reads
exactly what `verify vault` reads except the KV path holding the key, so two checks are given up (passed to the
exporter as `--skip-check`): `vault.kv-key-matches` (it compares that key) and `vault.policy-grants-read` (it mints
a token carrying istiod's policy, which would be a way to the key). The pod's own files are still judged by every
chain check, key pairing included, through `pods/exec`.
"""

from __future__ import annotations

from typing import Any

from ..config.durations import parse_duration
from ..config.injectors import by_name
from ..config.plan import ClusterPlan
from .templating import hcl_quote

GIVEN_UP_CHECKS = ("vault.kv-key-matches", "vault.policy-grants-read")
CONFIG_DIR = "/etc/istio-vault-ca"
TOKEN_FILE = "/vault/secrets/token"
UID = 65532  # a non-root uid with no entry in most images ("nonroot" in distroless)
MONITORING_API = "monitoring.coreos.com/v1"
DAY = 86400


def monitor_role(plan: ClusterPlan) -> str:
    return f"{plan.cluster.role}-monitor"


def monitor_policy(plan: ClusterPlan) -> str:
    return f"{plan.cluster.policy}-monitor"


def policy_paths(plan: ClusterPlan) -> list[tuple[str, tuple[str, ...]]]:
    """(path, capabilities) for everything `verify vault` reads, without the KV key and without token creation.

    sys/audit is the one endpoint that wants `sudo` to be listed; with `read` only, sudo adds nothing else."""
    from ..config.cafiles import CA_KEY

    auth = plan.auth_path
    paths: list[tuple[str, tuple[str, ...]]] = [
        ("sys/audit", ("read", "sudo")),
        ("sys/mounts", ("read",)),
        ("sys/auth", ("read",)),
        (f"{auth}/config", ("read",)),
        (f"{auth}/role/{plan.cluster.role}", ("read",)),
        # vault.k8s-role-policy reads every policy the role carries (default included) to judge what it grants;
        # their names are not known in advance, and a policy's text holds no secret.
        ("sys/policies/acl/*", ("read",)),
    ]
    paths += [(f.secret_path, ("read",)) for f in plan.ca_files() if f.name != CA_KEY]
    return sorted(set(paths))


def policy_hcl(plan: ClusterPlan) -> str:
    lines = [
        f"# Policy {monitor_policy(plan)!s} for the istio-vault-ca exporter (role {monitor_role(plan)}, cluster "
        f"{plan.name}).",
        "# What `verify vault` reads, except the KV path holding the CA key and token creation: the exporter",
        f"# gives up {' and '.join(GIVEN_UP_CHECKS)}.",
    ]
    for path, capabilities in policy_paths(plan):
        caps = ", ".join(f'"{c}"' for c in capabilities)
        lines += ["", f"path {hcl_quote(path)} {{", f"  capabilities = [{caps}]", "}"]
    return "\n".join(lines) + "\n"


def _labels(plan: ClusterPlan) -> dict[str, str]:
    return {"app.kubernetes.io/name": plan.config.monitoring.name, "app.kubernetes.io/part-of": "istio-vault-ca"}


def _meta(plan: ClusterPlan, name: str | None = None, **extra: Any) -> dict[str, Any]:
    monitoring = plan.config.monitoring
    return {
        "name": name or monitoring.name,
        "namespace": plan.config.istiod.namespace,
        "labels": _labels(plan),
        **extra,
    }


def rbac(plan: ClusterPlan) -> list[dict[str, Any]]:
    """The ServiceAccount and the least RBAC of the cluster checks: get/list what they read, the istiod
    Deployment, service account and root ConfigMap by name, pods/log, and pods/exec only with `pod_files`."""
    monitoring, istiod = plan.config.monitoring, plan.config.istiod
    name = monitoring.name
    rules: list[dict[str, Any]] = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {
            "apiGroups": [""],
            "resources": ["serviceaccounts"],
            "resourceNames": [istiod.service_account],
            "verbs": ["get"],
        },
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["istio-ca-root-cert"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": [istiod.deployment], "verbs": ["get"]},
    ]
    if monitoring.pod_files:
        rules.append({"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]})
    cluster_rules = [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]},
        {
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["mutatingwebhookconfigurations"],
            "verbs": ["get", "list"],
        },
    ]
    subject = [{"kind": "ServiceAccount", "name": name, "namespace": istiod.namespace}]
    cluster_name = f"{name}-{istiod.namespace}"
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(plan)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(plan), "rules": rules},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(plan),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": subject,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": cluster_name, "labels": _labels(plan)},
            "rules": cluster_rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": cluster_name, "labels": _labels(plan)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_name},
            "subjects": subject,
        },
    ]


def config_map(plan: ClusterPlan, config_text: str) -> dict[str, Any]:
    """The config the exporter reads: the resolved config, so its checks compare with what was rendered."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(plan),
        "data": {"istio-vault-ca.yaml": config_text},
    }


def _verify_args(plan: ClusterPlan) -> list[str]:
    monitoring = plan.config.monitoring
    args = [monitoring.target, "-c", f"{CONFIG_DIR}/istio-vault-ca.yaml", "--cluster", plan.name]
    if monitoring.target in ("all", "vault"):
        for check_id in GIVEN_UP_CHECKS:
            args += ["--skip-check", check_id]
    return args


def _pod_spec(plan: ClusterPlan, container: dict[str, Any], *, job: bool) -> dict[str, Any]:
    config = plan.config
    vault = config.vault
    # The monitor's token lands in the injector's default secrets volume (both injectors: /vault/secrets).
    prefix = by_name(vault.injector).prefix
    annotations = {
        f"{prefix}agent-inject": "true",
        f"{prefix}agent-inject-token": "true",
        f"{prefix}auth-path": plan.auth_path,
        f"{prefix}role": monitor_role(plan),
    }
    if job:
        annotations[f"{prefix}agent-pre-populate-only"] = "true"
    if vault.agent_address:
        annotations[f"{prefix}service"] = vault.agent_address
    env = {
        "VAULT_ADDR": vault.agent_address or vault.address,
        "ISTIO_VAULT_CA_VAULT_TOKEN_FILE": TOKEN_FILE,
        "HOME": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
        "ISTIO_VAULT_CA_NO_CACHE": "1",
    }
    container.update(
        {
            "image": config.monitoring.image,
            "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
            },
            "volumeMounts": [
                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                {"name": "tmp", "mountPath": "/tmp"},
            ],
            "resources": {"requests": {"cpu": "10m", "memory": "96Mi"}, "limits": {"memory": "256Mi"}},
        }
    )
    spec: dict[str, Any] = {
        "serviceAccountName": config.monitoring.name,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": config.monitoring.name}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
        ],
    }
    if job:
        spec["restartPolicy"] = "Never"
    return {"metadata": {"labels": _labels(plan), "annotations": annotations}, "spec": spec}


def deployment(plan: ClusterPlan) -> dict[str, Any]:
    monitoring = plan.config.monitoring
    interval = parse_duration(monitoring.interval)
    args = ["serve", "--listen", f"0.0.0.0:{monitoring.port}", "--interval", str(interval), *_verify_args(plan)]
    probe = {"httpGet": {"path": "/healthz", "port": "metrics"}, "periodSeconds": 30}
    container = {
        "name": "exporter",
        "args": args,
        "ports": [{"name": "metrics", "containerPort": monitoring.port, "protocol": "TCP"}],
        "livenessProbe": probe,
        "readinessProbe": probe,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(plan),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": _labels(plan)},
            "template": _pod_spec(plan, container, job=False),
        },
    }


def cronjob(plan: ClusterPlan) -> dict[str, Any]:
    """verify on a schedule, its Prometheus output PUT to the Pushgateway (grouped by job and cluster)."""
    monitoring = plan.config.monitoring
    assert monitoring.pushgateway_url is not None  # the model requires it for mode cronjob
    url = f"{monitoring.pushgateway_url.rstrip('/')}/metrics/job/{monitoring.name}/cluster/{plan.name}"
    push = (
        "import sys, urllib.request; "
        "urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.stdin.buffer.read(), method='PUT'), "
        "timeout=30)"
    )
    verify = " ".join(["istio-vault-ca", "verify", *_verify_args(plan), "--output", "prometheus"])
    script = f'{verify} >/tmp/metrics.prom; python3 -c "{push}" "$PUSHGATEWAY_URL" </tmp/metrics.prom\n'
    container = {
        "name": "exporter",
        "command": ["/bin/sh", "-c", script],
        "env": [],
    }
    template = _pod_spec(plan, container, job=True)
    template["spec"]["containers"][0]["env"].append({"name": "PUSHGATEWAY_URL", "value": url})
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _meta(plan),
        "spec": {
            "schedule": monitoring.schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {"backoffLimit": 1, "activeDeadlineSeconds": 300, "template": template}},
        },
    }


def service_and_monitor(plan: ClusterPlan) -> list[dict[str, Any]]:
    monitoring = plan.config.monitoring
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(plan),
        "spec": {
            "selector": _labels(plan),
            "ports": [{"name": "metrics", "port": monitoring.port, "targetPort": "metrics", "protocol": "TCP"}],
        },
    }
    monitor = {
        "apiVersion": MONITORING_API,
        "kind": "ServiceMonitor",
        "metadata": _meta(plan, labels={**_labels(plan), **monitoring.prometheus_labels}),
        "spec": {
            "selector": {"matchLabels": _labels(plan)},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "60s"}],
        },
    }
    return [service, monitor]


def rule_groups(plan: ClusterPlan) -> list[dict[str, Any]]:
    """The alerts (docs/how-to/monitoring.md); `promtool test rules` fires each from synthetic series in the tests."""
    monitoring = plan.config.monitoring
    alerts = monitoring.alerts
    job = monitoring.name
    expiry = "istio_vault_ca_certificate_not_after_timestamp_seconds - time()"
    warn, critical = alerts.expiry_warning_days * DAY, alerts.expiry_critical_days * DAY
    if monitoring.mode == "deployment":
        absent = f'absent(up{{job="{job}"}} == 1)'
        stale = "time() - istio_vault_ca_last_success_timestamp_seconds > 3 * istio_vault_ca_interval_seconds"
    else:
        absent = f'absent(push_time_seconds{{job="{job}"}})'
        stale = f'time() - push_time_seconds{{job="{job}"}} > 7200'
    view = "{{ $labels.role }} certificate {{ $labels.subject }} ({{ $labels.source }} {{ $labels.target }})"
    rules: list[dict[str, Any]] = [
        _alert(
            "IstioVaultCaCertificateExpiring",
            f"{expiry} < {warn} and {expiry} >= {critical}",
            "0m",
            "warning",
            f"{view} expires within {alerts.expiry_warning_days} days",
            "Plan the rotation: istio-vault-ca plan-rotation -c CONFIG.",
        ),
        _alert(
            "IstioVaultCaCertificateExpiryCritical",
            f"{expiry} < {critical}",
            "0m",
            "critical",
            f"{view} expires within {alerts.expiry_critical_days} days",
            "Rotate now: istio-vault-ca plan-rotation -c CONFIG, then run the rotation script it writes.",
        ),
        _alert(
            "IstioVaultCaCheckFailing",
            "istio_vault_ca_check_status < 0",
            alerts.failing_for,
            "critical",
            "{{ $labels.check }} has failed on {{ $labels.target }} for " + alerts.failing_for,
            "Run istio-vault-ca verify for the finding and its hint.",
        ),
        _alert(
            "IstioVaultCaIstiodSelfSigned",
            'istio_vault_ca_istiod_ca_source{source="self_signed"} == 1',
            "0m",
            "critical",
            "istiod {{ $labels.target }} runs on a self-signed CA, not the Vault intermediate",
            "See cluster.agent-init-succeeded and cluster.root-ca-dir-matches-volume-path, then restart istiod.",
        ),
        _alert(
            "IstioVaultCaExporterAbsent",
            absent,
            "10m",
            "warning",
            "the istio-vault-ca exporter has not been scraped (or pushed) for 10 minutes",
            "kubectl get pods -l app.kubernetes.io/name=" + job,
        ),
        _alert(
            "IstioVaultCaResultsStale",
            stale,
            "0m",
            "warning",
            "the istio-vault-ca results are stale: runs fail (Vault or the API server unreachable, 403, hung)",
            "See istio_vault_ca_run_failures_total by reason and the exporter's log.",
        ),
    ]
    return [{"name": "istio-vault-ca", "rules": rules}]


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, action: str) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "alert": name,
        "expr": expr,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": action},
    }
    if for_ != "0m":
        rule["for"] = for_
    return rule


def prometheus_rule(plan: ClusterPlan) -> dict[str, Any]:
    monitoring = plan.config.monitoring
    return {
        "apiVersion": MONITORING_API,
        "kind": "PrometheusRule",
        "metadata": _meta(plan, labels={**_labels(plan), **monitoring.prometheus_labels}),
        "spec": {"groups": rule_groups(plan)},
    }
