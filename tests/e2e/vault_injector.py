"""The real Vault agent injector on the e2e API server: vault-k8s's admission handler as a webhook on 127.0.0.1.

``tests/e2e/injector`` is a Go module that requires ``github.com/hashicorp/vault-k8s`` at a pinned release; its
``cmd/vault-k8s-webhook`` serves that release's ``agent_inject.Handler`` (agent-inject/handler.go, ``Handle`` at
``/mutate``, built with the injector command's defaults) over HTTPS. The API server calls it through a
MutatingWebhookConfiguration shaped like the Vault Helm chart's (``<release>-agent-injector-cfg``, webhook
``vault.hashicorp.com``) whose ``clientConfig`` is a ``url`` on 127.0.0.1 with a ``caBundle`` made at test time
(Services do not route without kube-proxy). Its ``namespaceSelector`` only matches namespaces labelled
``NAMESPACE_LABEL``, so Pods of the other e2e tests never depend on it.

    python -m tests.e2e.vault_injector           # builds (or finds) the webhook binary and prints its path
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import gobuild
from tests.e2e.cluster import Cluster, Component, free_port, wait_ready

INJECTOR_MODULE = "e2e/injector"  # tests/e2e/injector, relative to tests/ (gobuild.program_dir)
WEBHOOK_PACKAGE = "./cmd/vault-k8s-webhook"
NAMESPACE_LABEL = "istio-vault-ca.test/vault-injector"
# What the Vault Helm chart gives the injector as AGENT_INJECT_VAULT_ADDR for a server in namespace vault.
INJECTOR_VAULT_ADDRESS = "http://vault.vault.svc:8200"
INIT_CONTAINER = "vault-agent-init"
CONFIG_ENV = "VAULT_CONFIG"
RELEASES = ("vault", "openbao")  # the Helm releases whose webhook configurations tests register
START_TIMEOUT = 30.0

JSON = dict[str, Any]


def vault_k8s_version() -> str:
    """The github.com/hashicorp/vault-k8s version tests/e2e/injector/go.mod requires."""
    go_mod = (gobuild.program_dir(INJECTOR_MODULE) / "go.mod").read_text()
    match = re.search(r"^\s*github\.com/hashicorp/vault-k8s\s+(v\S+)", go_mod, re.MULTILINE)
    if match is None:
        raise gobuild.GoBuildError("tests/e2e/injector/go.mod requires no github.com/hashicorp/vault-k8s version")
    return match.group(1)


def build_webhook() -> Path:
    return gobuild.build(INJECTOR_MODULE, WEBHOOK_PACKAGE)


@dataclass
class Webhook:
    """A running vault-k8s admission handler."""

    url: str
    ca_pem: bytes
    component: Component

    def configuration(self, failure_policy: str = "Fail", *, release: str = "vault") -> JSON:
        """The Vault Helm chart's MutatingWebhookConfiguration (templates/injector-mutating-webhook.yaml), with a
        url client config and a namespaceSelector limited to the namespaces that opt in."""
        return {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {
                "name": configuration_name(release),
                "labels": {"app.kubernetes.io/name": "vault-agent-injector", "app.kubernetes.io/instance": release},
            },
            "webhooks": [
                {
                    "name": "vault.hashicorp.com",
                    "failurePolicy": failure_policy,
                    "matchPolicy": "Exact",
                    "sideEffects": "None",
                    "timeoutSeconds": 10,
                    "admissionReviewVersions": ["v1", "v1beta1"],
                    "clientConfig": {"url": self.url, "caBundle": base64.b64encode(self.ca_pem).decode()},
                    "rules": [
                        {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}
                    ],
                    "namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: "enabled"}},
                    "objectSelector": {
                        "matchExpressions": [
                            {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["vault-agent-injector"]}
                        ]
                    },
                }
            ],
        }


def configuration_name(release: str = "vault") -> str:
    """The MutatingWebhookConfiguration's name the release's chart gives it (``Webhook.configuration``)."""
    return f"{release}-agent-injector-cfg"


def delete_configuration(kubeconfig: Path, *releases: str) -> None:
    """Unregister the webhook: the releases' configurations (Vault's and OpenBao's when none is named) deleted,
    those not there ignored."""
    names = [configuration_name(release) for release in releases or RELEASES]
    kubectl(kubeconfig, "delete", "mutatingwebhookconfiguration", *names, "--ignore-not-found")


@contextlib.contextmanager
def running_webhook(
    binary: Path, cluster: Cluster, *, vault_address: str = INJECTOR_VAULT_ADDRESS
) -> Iterator[Webhook]:
    """Serve the handler with a certificate for 127.0.0.1 from the cluster's test CA; stop it afterwards."""
    workdir = cluster.workdir / "vault-injector"
    workdir.mkdir(mode=0o700, exist_ok=True)
    serving = cluster.ca.issue("vault-agent-injector", server=True, ips=["127.0.0.1"])
    cert, key = workdir / "tls.crt", workdir / "tls.key"
    for path, data in ((cert, serving.cert_pem), (key, serving.key_pem)):
        path.write_bytes(data)
        path.chmod(0o600)
    port = free_port()
    component = Component(
        "vault-k8s-webhook",
        [
            str(binary),
            f"-listen=127.0.0.1:{port}",
            f"-tls-cert-file={cert}",
            f"-tls-key-file={key}",
            f"-vault-address={vault_address}",
            "-log-level=debug",
        ],
        workdir / "webhook.log",
    )
    component.start()
    try:
        _wait_ready(component, f"https://127.0.0.1:{port}/health/ready", cluster.ca.cert_pem)
        yield Webhook(f"https://127.0.0.1:{port}/mutate", cluster.ca.cert_pem, component)
    finally:
        component.stop()


def _wait_ready(component: Component, url: str, ca_pem: bytes) -> None:
    context = ssl.create_default_context(cadata=ca_pem.decode())
    wait_ready(component, url, lambda status, _: status == 204, lambda: context, timeout=START_TIMEOUT)


# ---------------------------------------------------------------------- talking to the API server


def kubectl_binary() -> Path:
    return Path(sys.executable).with_name("kubectl")


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(kubectl_binary()), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def apply(kubeconfig: Path, *objects: Mapping[str, Any]) -> None:
    listed = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    reply = kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=json.dumps(listed))
    if reply.returncode != 0:
        raise AssertionError(f"kubectl apply failed: {reply.stderr.strip()}")


def dry_run_create(kubeconfig: Path, obj: Mapping[str, Any]) -> subprocess.CompletedProcess[str]:
    """``kubectl create --dry-run=server``: every admission plugin and webhook runs, nothing is stored."""
    return kubectl(kubeconfig, "create", "--dry-run=server", "-o", "json", "-f", "-", stdin=json.dumps(obj))


def injected_config(pod: Mapping[str, Any], *, container: str = INIT_CONTAINER, env: str = CONFIG_ENV) -> JSON:
    """The agent config the injector put in ``container``'s ``env`` (base64 JSON)."""
    for candidate in pod["spec"].get("initContainers") or []:
        if candidate["name"] != container:
            continue
        for variable in candidate.get("env") or []:
            if variable["name"] == env:
                config: JSON = json.loads(base64.b64decode(variable["value"]))
                return config
        raise AssertionError(f"{container} has no {env}")
    names = [c["name"] for c in pod["spec"].get("initContainers") or []]
    raise AssertionError(f"the Pod has no {container} init container (init containers: {names})")


def istiod_pod(
    name: str,
    namespace: str,
    annotations: Mapping[str, str],
    env: Mapping[str, str],
    *,
    service_account: str = "istiod",
    extra_mounts: Sequence[Mapping[str, Any]] = (),
) -> JSON:
    """A Pod shaped like istiod's from the istio-discovery chart (the mounts vault-k8s looks at), carrying
    ``annotations`` and ``env``."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": "istiod"},
            "annotations": dict(annotations),
        },
        "spec": {
            "serviceAccountName": service_account,
            "containers": [
                {
                    "name": "discovery",
                    "image": "example.invalid/pilot:1.27.0",
                    "env": [{"name": k, "value": v} for k, v in env.items()],
                    "volumeMounts": [
                        {"name": "istio-token", "mountPath": "/var/run/secrets/tokens", "readOnly": True},
                        *extra_mounts,
                    ],
                }
            ],
            "volumes": [
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
                }
            ],
        },
    }


def main(argv: Sequence[str]) -> int:
    if argv:
        print(
            "usage: python -m tests.e2e.vault_injector   (builds the vault-k8s webhook, prints its path)",
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    try:
        path = build_webhook()
    except (gobuild.GoNotInstalledError, gobuild.GoBuildError, FileNotFoundError) as error:
        print(error, file=sys.stderr)
        return 1
    print(f"vault-k8s-webhook ({vault_k8s_version()}): {path} ({time.monotonic() - started:.1f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
