"""Seed objects for the Kubernetes stand-in, shaped like a real cluster running istiod with the Vault agent.

The istiod Deployment follows the istio-discovery chart (container `discovery`, labels `app: istiod` and
`istio: pilot`, the chart's volumes). The pod is what the vault-k8s injector (v1.7.x: agent.go Patch,
container_init_sidecar.go, container_sidecar.go, container_volume.go, container_env.go) makes of the template:
init container `vault-agent-init` (first, with agent-init-first), sidecar `vault-agent`, emptyDir volumes
`home-init`, `home-sidecar` and `vault-secrets` (Memory) mounted at secret-volume-path in every container, the
agent config passed base64 in `VAULT_CONFIG`, defaulted annotations written back, and
`vault.hashicorp.com/agent-inject-status: injected`. Log lines are istiod's and the agent's own wording.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from istio_vault_ca.generator.config.plan import ClusterPlan
    from tests.kube_stub.server import KubeStub

JSON = dict[str, Any]
POD = "istiod-5b8c7d9f4-x2k7q"
REPLICA_SET = "istiod-5b8c7d9f4"
WORKLOAD_NAMESPACE = "bookinfo"
VAULT_ADDRESS = "http://vault.vault.svc:8200"
AGENT_IMAGE = "hashicorp/vault:1.18.3"
ISTIOD_IMAGE = "docker.io/istio/pilot:1.24.2"
CONTAINER_ARG = (
    "echo ${VAULT_CONFIG?} | base64 -d > /home/vault/config.json && vault agent -config=/home/vault/config.json"
)
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
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


def agent_config(annotations: Mapping[str, str], *, init: bool) -> JSON:
    """The agent config vault-k8s newConfig(init) builds from the annotations (the JSON behind VAULT_CONFIG)."""
    volume_path = annotations.get("vault.hashicorp.com/secret-volume-path", "/vault/secrets")
    prefix = "vault.hashicorp.com/agent-inject-secret-"
    templates = []
    for key in sorted(k for k in annotations if k.startswith(prefix)):
        name = key[len(prefix) :].lower()
        template: JSON = {
            "destination": f"{volume_path}/{name}",
            "contents": annotations.get(f"vault.hashicorp.com/agent-inject-template-{name}", ""),
            "left_delimiter": "{{",
            "right_delimiter": "}}",
        }
        perms = annotations.get(f"vault.hashicorp.com/agent-inject-perms-{name}")
        if perms:
            template["perms"] = perms
        if annotations.get(f"vault.hashicorp.com/error-on-missing-key-{name}") == "true":
            template["error_on_missing_key"] = True
        templates.append(template)
    config = {
        "auto_auth": {
            "method": {
                "type": "kubernetes",
                "mount_path": annotations.get("vault.hashicorp.com/auth-path", "auth/kubernetes"),
                "config": {
                    "role": annotations.get("vault.hashicorp.com/role", ""),
                    "token_path": f"{SA_MOUNT}/token",
                },
            },
            "sink": [{"type": "file", "config": {"path": "/home/vault/.vault-token"}}],
        },
        "exit_after_auth": init,
        "pid_file": "/home/vault/.pid",
        "vault": {"address": annotations.get("vault.hashicorp.com/service", VAULT_ADDRESS)},
        "template": templates,
        "template_config": {"exit_on_retry_failure": True},
    }
    return config


def _vault_config_env(annotations: Mapping[str, str], *, init: bool) -> str:
    """VAULT_CONFIG: base64 of the JSON, as container_env.go sets it."""
    return base64.b64encode(json.dumps(agent_config(annotations, init=init), separators=(",", ":")).encode()).decode()


def _agent_container(name: str, annotations: Mapping[str, str], *, init: bool) -> JSON:
    volume_path = annotations.get("vault.hashicorp.com/secret-volume-path", "/vault/secrets")
    uid = int(annotations.get("vault.hashicorp.com/agent-run-as-user", "100"))
    return {
        "name": name,
        "image": AGENT_IMAGE,
        "command": ["/bin/sh", "-ec"],
        "args": [CONTAINER_ARG],
        "env": [
            {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
            {"name": "HOST_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.hostIP"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
            {"name": "VAULT_LOG_LEVEL", "value": "info"},
            {"name": "VAULT_LOG_FORMAT", "value": "standard"},
            {"name": "VAULT_CONFIG", "value": _vault_config_env(annotations, init=init)},
        ],
        "resources": {
            "limits": {"cpu": "500m", "memory": "128Mi"},
            "requests": {"cpu": "250m", "memory": "64Mi"},
        },
        "securityContext": {
            "runAsUser": uid,
            "runAsGroup": 1000,
            "runAsNonRoot": uid != 0,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "kube-api-access-7x9tq", "mountPath": SA_MOUNT, "readOnly": True},
            {"name": "home-init" if init else "home-sidecar", "mountPath": "/home/vault"},
            {"name": "vault-secrets", "mountPath": volume_path},
        ],
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


def pod_from(deployment: JSON, *, injected: bool = True, init_failed: bool = False) -> JSON:
    """The pod the ReplicaSet creates from the template, mutated by the injector when `injected`."""
    template = copy.deepcopy(deployment["spec"]["template"])
    meta = template["metadata"]
    annotations: dict[str, str] = dict(meta.get("annotations") or {})
    spec = template["spec"]
    ns = deployment["metadata"]["namespace"]
    spec.update(
        {
            "nodeName": "worker-1",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "serviceAccount": spec.get("serviceAccountName", "default"),
            "dnsPolicy": "ClusterFirst",
        }
    )
    # The ServiceAccount admission plugin adds the API token volume to every container.
    spec["volumes"].append(
        {
            "name": "kube-api-access-7x9tq",
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {
                        "downwardAPI": {
                            "items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]
                        }
                    },
                ],
            },
        }
    )
    for container in spec["containers"]:
        container.setdefault("volumeMounts", []).append(
            {"name": "kube-api-access-7x9tq", "mountPath": SA_MOUNT, "readOnly": True}
        )
    discovery = spec["containers"][0]
    pre_populate_only = annotations.get("vault.hashicorp.com/agent-pre-populate-only") == "true"
    status: JSON = {
        "phase": "Running",
        "hostIP": "10.0.0.11",
        "podIP": "10.244.1.17",
        "startTime": STARTED,
        "qosClass": "Burstable",
        "conditions": [
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "True"},
            {"type": "ContainersReady", "status": "True"},
            {"type": "PodScheduled", "status": "True"},
        ],
        "containerStatuses": [_running("discovery", ISTIOD_IMAGE)],
    }
    if injected:
        annotations.setdefault("vault.hashicorp.com/service", VAULT_ADDRESS)
        annotations.setdefault("vault.hashicorp.com/secret-volume-path", "/vault/secrets")
        annotations.setdefault("vault.hashicorp.com/agent-inject-containers", "discovery")
        annotations["vault.hashicorp.com/agent-inject-status"] = "injected"
        volume_path = annotations["vault.hashicorp.com/secret-volume-path"]
        discovery["volumeMounts"].append({"name": "vault-secrets", "mountPath": volume_path})
        spec["volumes"] += [
            {"name": "home-init", "emptyDir": {"medium": "Memory"}},
            {"name": "vault-secrets", "emptyDir": {"medium": "Memory"}},
        ]
        spec["initContainers"] = [_agent_container("vault-agent-init", annotations, init=True)]
        status["initContainerStatuses"] = [_completed("vault-agent-init")]
        if not pre_populate_only:
            spec["volumes"].append({"name": "home-sidecar", "emptyDir": {"medium": "Memory"}})
            spec["containers"].append(_agent_container("vault-agent", annotations, init=False))
            status["containerStatuses"].append(_running("vault-agent", AGENT_IMAGE))
        if init_failed:
            status["phase"] = "Pending"
            status["conditions"][0]["status"] = "False"
            status["conditions"][1]["status"] = "False"
            status["initContainerStatuses"] = [_crash_looping("vault-agent-init")]
            status["containerStatuses"] = [_pod_initializing(c["name"], c["image"]) for c in spec["containers"]]
    meta.update(
        {
            "name": POD,
            "generateName": f"{REPLICA_SET}-",
            "namespace": ns,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": REPLICA_SET,
                    "uid": "0b7c6f0e-2f4d-4c55-9a61-3c0f4f6d1a2b",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
    )
    meta["labels"]["pod-template-hash"] = "5b8c7d9f4"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


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
    lines += [
        "2025-01-10T09:00:02.500000Z\tinfo\tserver\tstarting HTTP service at [::]:8080",
        "2025-01-10T09:00:02.600000Z\tinfo\tads\tAll caches have been synced up in 1.6s, marking server ready",
    ]
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


def agent_log_success(ca_dir: str = "/vault/secrets") -> str:
    rendered = "".join(
        f'2025-01-10T09:00:00.53{i}Z [INFO]  agent: (runner) rendered "(dynamic)" => "{ca_dir}/{name}"\n'
        for i, name in enumerate(("ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"))
    )
    return (
        AGENT_BANNER
        + "2025-01-10T09:00:00.520Z [INFO]  agent.auth.handler: authentication successful, sending token to sinks\n"
        + "2025-01-10T09:00:00.521Z [INFO]  agent.template.server: template server received new token\n"
        + rendered
        + "2025-01-10T09:00:00.540Z [INFO]  agent: (runner) stopping\n"
    )


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


# ---------------------------------------------------------------------- a whole healthy cluster


def healthy(stub: KubeStub, plan: ClusterPlan, root_pem: bytes, *, release: str = "1.24") -> JSON:
    """Seed a healthy cluster for `plan`; returns the Deployment so scenarios can derive a changed pod."""
    istiod = plan.config.istiod
    deployment = istiod_deployment(plan)
    stub.add(
        namespace("kube-system"),
        namespace(istiod.namespace, {"topology.istio.io/network": "network1"}),
        namespace(WORKLOAD_NAMESPACE, {"istio-injection": "enabled"}),
        namespace("vault"),
        service_account(istiod.service_account, istiod.namespace),
        service_account("default", istiod.namespace),
        deployment,
        pod_from(deployment),
        injector_webhook("Fail"),
        root_config_map(istiod.namespace, root_pem),
        root_config_map(WORKLOAD_NAMESPACE, root_pem),
    )
    set_logs(stub, plan, release=release, plugged_in=True)
    return deployment


def set_logs(stub: KubeStub, plan: ClusterPlan, *, release: str = "1.24", plugged_in: bool = True) -> None:
    ns, ca_dir = plan.config.istiod.namespace, plan.config.istiod.ca_dir
    stub.set_log(ns, POD, "discovery", istiod_log(release, plugged_in=plugged_in, ca_dir=ca_dir))
    stub.set_log(ns, POD, "vault-agent-init", agent_log_success(ca_dir))
    stub.set_log(ns, POD, "vault-agent", agent_log_success(ca_dir))
