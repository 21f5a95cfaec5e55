"""Objects and log texts shaped like a real cluster running istiod with the Vault agent.

The istiod Deployment follows the istio-discovery chart (container `discovery`, labels `app: istiod` and
`istio: pilot`, the chart's volumes); the e2e tier applies it to the real API server, where the real vault-k8s
injector mutates its Pods. The container statuses are what a kubelet reports (the e2e tier patches them through
`pods/status`, having no kubelet). The log texts are istiod's start-up lines in each release's wording (served
by the e2e tier's kubelet log stand-in) and the agent's, for the unit tests of the log diagnosis.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from istio_vault_ca.generator.config.plan import ClusterPlan

JSON = dict[str, Any]
VAULT_ADDRESS = "http://vault.vault.svc:8200"
AGENT_IMAGE = "hashicorp/vault:1.18.3"
ISTIOD_IMAGE = "docker.io/istio/pilot:1.24.2"
STARTED = "2025-01-10T09:00:00Z"


# ---------------------------------------------------------------------- cluster-scoped and simple objects


def namespace(name: str, labels: Mapping[str, str] | None = None) -> JSON:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}}


def service_account(name: str, ns: str) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "istiod", "release": "istiod"}},
    }


def root_config_map(ns: str, root_pem: bytes) -> JSON:
    """What istiod's namespace controller writes into every namespace."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "istio-ca-root-cert",
            "namespace": ns,
            "labels": {"istio.io/config": "true"},
        },
        "data": {"root-cert.pem": root_pem.decode()},
    }


def injector_webhook(failure_policy: str = "Ignore", *, release: str = "vault") -> JSON:
    """The Vault Helm chart's MutatingWebhookConfiguration (templates/injector-mutating-webhook.yaml)."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {
            "name": f"{release}-agent-injector-cfg",
            "labels": {"app.kubernetes.io/name": "vault-agent-injector", "app.kubernetes.io/instance": release},
        },
        "webhooks": [
            {
                "name": "vault.hashicorp.com",
                "failurePolicy": failure_policy,
                "matchPolicy": "Exact",
                "sideEffects": "None",
                "timeoutSeconds": 30,
                "admissionReviewVersions": ["v1", "v1beta1"],
                "clientConfig": {
                    "service": {"name": f"{release}-agent-injector-svc", "namespace": "vault", "path": "/mutate"},
                    "caBundle": "",
                },
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
                "namespaceSelector": {},
                "objectSelector": {
                    "matchExpressions": [
                        {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["vault-agent-injector"]}
                    ]
                },
            }
        ],
    }


# ---------------------------------------------------------------------- istiod


def istiod_deployment(plan: ClusterPlan) -> JSON:
    """The istio-discovery chart's Deployment with the rendered annotations and ROOT_CA_DIR applied."""
    istiod = plan.config.istiod
    annotations = {"prometheus.io/port": "15014", "prometheus.io/scrape": "true", "sidecar.istio.io/inject": "false"}
    annotations.update(plan.annotations())
    env = [
        {"name": "REVISION", "value": "default"},
        {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
        {"name": "KUBECONFIG", "value": "/var/run/secrets/remote/config"},
        {"name": "CLUSTER_ID", "value": "Kubernetes"},
    ] + [{"name": k, "value": v} for k, v in plan.env.items()]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": istiod.deployment,
            "namespace": istiod.namespace,
            "labels": {
                "app": "istiod",
                "istio": "pilot",
                "istio.io/rev": "default",
                "app.kubernetes.io/name": "istiod",
            },
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"istio": "pilot"}},
            "template": {
                "metadata": {
                    "labels": {
                        "app": "istiod",
                        "istio": "pilot",
                        "istio.io/rev": "default",
                        "sidecar.istio.io/inject": "false",
                    },
                    "annotations": annotations,
                },
                "spec": {
                    "serviceAccountName": istiod.service_account,
                    "containers": [
                        {
                            "name": "discovery",
                            "image": ISTIOD_IMAGE,
                            "args": ["discovery", "--monitoringAddr=:15014", "--log_output_level=default:info"],
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 15010}],
                            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                            "env": env,
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {"name": "istio-token", "mountPath": "/var/run/secrets/tokens", "readOnly": True},
                                {"name": "local-certs", "mountPath": "/var/run/secrets/istio-dns"},
                                {"name": "cacerts", "mountPath": "/etc/cacerts", "readOnly": True},
                                {"name": "istio-kubeconfig", "mountPath": "/var/run/secrets/remote", "readOnly": True},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "local-certs", "emptyDir": {"medium": "Memory"}},
                        {
                            "name": "istio-token",
                            "projected": {
                                "sources": [
                                    {
                                        "serviceAccountToken": {
                                            "audience": "istio-ca",
                                            "expirationSeconds": 43200,
                                            "path": "istio-token",
                                        }
                                    }
                                ]
                            },
                        },
                        {"name": "cacerts", "secret": {"secretName": "cacerts", "optional": True}},
                        {"name": "istio-kubeconfig", "secret": {"secretName": "istio-kubeconfig", "optional": True}},
                    ],
                },
            },
        },
    }


def _running(name: str, image: str, *, ready: bool = True) -> JSON:
    return {
        "name": name,
        "image": image,
        "imageID": f"{image}@sha256:{'0' * 64}",
        "containerID": f"containerd://{name}",
        "ready": ready,
        "started": True,
        "restartCount": 0,
        "state": {"running": {"startedAt": STARTED}},
        "lastState": {},
    }


def _completed(name: str) -> JSON:
    return {
        "name": name,
        "image": AGENT_IMAGE,
        "imageID": f"{AGENT_IMAGE}@sha256:{'1' * 64}",
        "containerID": f"containerd://{name}",
        "ready": True,
        "restartCount": 0,
        "started": False,
        "state": {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": STARTED,
                "finishedAt": "2025-01-10T09:00:01Z",
            }
        },
        "lastState": {},
    }


def _crash_looping(name: str, exit_code: int = 1, restarts: int = 4) -> JSON:
    return {
        "name": name,
        "image": AGENT_IMAGE,
        "imageID": f"{AGENT_IMAGE}@sha256:{'1' * 64}",
        "containerID": f"containerd://{name}",
        "ready": False,
        "restartCount": restarts,
        "started": False,
        "state": {
            "waiting": {"reason": "CrashLoopBackOff", "message": f"back-off 1m20s restarting failed container={name}"}
        },
        "lastState": {
            "terminated": {
                "exitCode": exit_code,
                "reason": "Error",
                "startedAt": STARTED,
                "finishedAt": "2025-01-10T09:02:01Z",
            }
        },
    }


def _pod_initializing(name: str, image: str) -> JSON:
    return {
        "name": name,
        "image": image,
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"waiting": {"reason": "PodInitializing"}},
        "lastState": {},
    }


# ---------------------------------------------------------------------- logs


def istiod_log(release: str, *, plugged_in: bool, ca_dir: str = "/vault/secrets") -> str:
    """discovery's start-up log as each release wrote it (pilot/pkg/bootstrap istio_ca.go, certcontroller.go)."""
    stamp = "2025-01-10T09:00:02.{:06d}Z\t{}\t{}"
    lines = [
        '2025-01-10T09:00:01.000000Z\tinfo\tFLAG: --caCertFile=""',
        '2025-01-10T09:00:01.000100Z\tinfo\tFLAG: --clusterID="Kubernetes"',
        "2025-01-10T09:00:01.500000Z\tinfo\tinitializing mesh configuration /etc/istio/config/mesh",
    ]
    if plugged_in:
        if release not in ("1.10", "1.13"):
            lines.append(stamp.format(1, "info", "Using istiod file format for signing ca files"))
        lines.append(stamp.format(2, "info", "Use local CA certificate"))
        follow = {
            "1.10": f"Use plugged-in cert at {ca_dir}/ca-key.pem",
            "1.13": f"Use plugged-in cert at {ca_dir}/ca-key.pem",
            "1.17": f"Use plugged-in cert at {ca_dir}/ca-key.pem",
            "1.20": f"Use plugged-in cert at {ca_dir}/ca-key.pem",
            "1.21": f"DNS certs use plugged-in cert at {ca_dir}/ca-key.pem",
        }.get(release, f"Use root cert from {ca_dir}/root-cert.pem")
    else:
        if release not in ("1.10", "1.13"):
            lines.append(stamp.format(1, "info", "Using istiod file format for signing ca files"))
        lines.append(stamp.format(2, "info", "Use self-signed certificate as the CA certificate"))
        lines.append(stamp.format(3, "info", "pkica\tCASecret istio-ca-secret not found, will create one"))
        follow = {
            "1.10": "No plugged-in cert at /etc/cacerts/ca-key.pem; self-signed cert is used",
            "1.17": f"No plugged-in cert at {ca_dir}/ca-key.pem; self-signed cert is used",
            "1.20": f"Use istio-generated cacerts at {ca_dir}/ca-key.pem or istio-ca-secret",
        }.get(release, "Use roots from istio-ca-secret")
    lines.append(stamp.format(4, "info", follow))
    if plugged_in and watches_ca_files(release):
        # istio_ca.go addCACertsFileWatcher, right after the plugged-in CA is loaded (initCACertsWatcher).
        lines.append(stamp.format(5, "info", f"Added cacerts files watcher at {ca_dir}"))
    lines += [
        "2025-01-10T09:00:02.500000Z\tinfo\tserver\tstarting HTTP service at [::]:8080",
        "2025-01-10T09:00:02.600000Z\tinfo\tads\tAll caches have been synced up in 1.6s, marking server ready",
    ]
    return "\n".join(lines) + "\n"


def watches_ca_files(release: str, *, auto_reload: bool = False) -> bool:
    """Whether istiod watches ROOT_CA_DIR: 1.19+ always, 1.12-1.18 with AUTO_RELOAD_PLUGIN_CERTS=true, never
    before 1.12 (istio_ca.go initCACertsWatcher and its caller, features/pilot.go AutoReloadPluginCerts)."""
    minor = int(release.split(".")[1])
    return minor >= 19 or (minor >= 12 and auto_reload)


# What istiod's handleEvent (pilot/pkg/bootstrap/istio_ca.go) logs after the CA files change, by outcome.
RELOAD_OUTCOMES = ("reloaded", "new-root", "multiroot-off", "root-refused", "bad-files", "in-progress")


def istiod_reload_log(release: str, outcome: str, *, stamp: str = "2025-02-10T09:00:00") -> str:
    """The lines istiod appends when a file in its watched CA directory changes, in `release`'s wording:
    "Update Istiod cacerts", then the outcome (1.12-1.19 log the refused root at info, 1.20+ at warn; the
    multi-root lines exist since 1.20). `stamp` dates the event (long after start-up)."""
    minor = int(release.split(".")[1])
    root_refused_level = "warn" if minor >= 20 else "info"
    follow = {
        "reloaded": [
            ("info", "Istiod has detected the newly added intermediate CA and updated its key and certs accordingly"),
            ("info", "Istiod certificates are reloaded"),
        ],
        "new-root": [
            ("info", "Updating new ROOT-CA"),
            ("info", "Istiod has detected the newly added intermediate CA and updated its key and certs accordingly"),
        ],
        "multiroot-off": [("warn", "Multi root is disabled, updating new ROOT-CA not supported")],
        "root-refused": [(root_refused_level, "Updating new ROOT-CA not supported")],
        "bad-files": [
            (
                "error",
                "Failed to update new Plug-in CA certs: the cert does not match the key: "
                "tls: private key does not match public key",
            )
        ],
        "in-progress": [],
    }[outcome]
    lines = [f"{stamp}.000000Z\tinfo\tUpdate Istiod cacerts"]
    lines += [f"{stamp}.{i + 1:06d}Z\t{level}\t{text}" for i, (level, text) in enumerate(follow)]
    return "\n".join(lines) + "\n"


AGENT_BANNER = """==> Vault Agent started! Log data will stream in below:

==> Vault Agent configuration:

           Api Address 1: http://bufconn
                     Cgo: disabled
               Log Level: info
                 Version: Vault v1.18.3, built 2024-12-16T14:00:53Z
             Version Sha: 7ae4eca5403bf574f142cd8f987b8d83bafcd1de

2025-01-10T09:00:00.410Z [INFO]  agent.sink.file: creating file sink
2025-01-10T09:00:00.411Z [INFO]  agent.auth.handler: starting auth handler
2025-01-10T09:00:00.411Z [INFO]  agent.auth.handler: authenticating
"""


def agent_log_permission_denied(path: str, address: str = VAULT_ADDRESS) -> str:
    """consul-template's view error for a read the policy refuses (the agent logs the error's real newlines)."""
    error = (
        f"vault.read({path}): vault.read({path}): Error making API request.\n\n"
        f"URL: GET {address}/v1/{path}\nCode: 403. Errors:\n\n* 1 error occurred:\n\t* permission denied\n\n"
    )
    return (
        AGENT_BANNER
        + "2025-01-10T09:00:00.520Z [INFO]  agent.auth.handler: authentication successful, sending token to sinks\n"
        + "2025-01-10T09:00:00.521Z [INFO]  agent.template.server: template server received new token\n"
        + f'2025-01-10T09:00:00.600Z [WARN]  agent: (view) {error} (retry attempt 1 after "250ms")\n'
        + f'2025-01-10T09:00:01.900Z [WARN]  agent: (view) {error} (retry attempt 12 after "1m0s")\n'
        + f"2025-01-10T09:01:02.000Z [ERROR] agent: (view) {error} (exceeded maximum retries)\n"
        + f'2025-01-10T09:01:02.001Z [ERROR] agent.template.server: template server error: error="{path}"\n'
        + '2025-01-10T09:01:02.002Z [ERROR] agent: runtime error encountered: error="template server: exceeded"\n'
        + "2025-01-10T09:01:02.003Z [INFO]  agent: (runner) stopping\nError encountered during run, refer to logs "
        "for more details.\n"
    )


def agent_log_login_refused(message: str, address: str = VAULT_ADDRESS, auth_path: str = "auth/kubernetes") -> str:
    """The auth handler's retry loop, hclog-quoted (escaped newlines), e.g. `service account name not authorized`."""
    error = (
        f"Error making API request.\\n\\nURL: PUT {address}/v1/{auth_path}/login\\nCode: 403. Errors:\\n\\n* {message}"
    )
    return AGENT_BANNER + "".join(
        f'2025-01-10T09:00:0{i}.420Z [ERROR] agent.auth.handler: error authenticating: error="{error}" backoff={i}s\n'
        f"2025-01-10T09:00:0{i}.900Z [INFO]  agent.auth.handler: authenticating\n"
        for i in range(1, 4)
    )
