"""A TEST STAND-IN for one kubelet's container-log endpoint, behind a real Node object of the e2e API server.

There is no kubelet in the e2e tier, but ``GET /api/v1/namespaces/NS/pods/P/log`` is the real API server's: it
checks the caller's RBAC on ``pods/log``, reads the Pod, validates ``container`` (``validateContainer``), then
proxies to the Pod's node (kubernetes v1.34 ``pkg/registry/core/pod/strategy.go`` ``LogLocation``): host from
``node.status.addresses`` by ``--kubelet-preferred-address-types`` (default Hostname, InternalDNS, InternalIP, ...),
port from ``node.status.daemonEndpoints.kubeletEndpoint.Port``, path ``/containerLogs/NS/POD/CONTAINER`` with
``limitBytes``/``tailLines``/``previous``/... passed on (``pkg/kubelet/client/kubelet_client.go``
``NodeConnectionInfoGetter.GetConnectionInfo``, scheme https); this stand-in honours ``tailLines`` and
``limitBytes``. The API server presents
``--kubelet-client-certificate`` and verifies the kubelet's serving certificate against
``--kubelet-certificate-authority`` (without that flag ``transportConfig`` sets ``Insecure``); tests/e2e/cluster.py
passes both, so this server holds a serving certificate for 127.0.0.1 from the cluster CA and accepts only the
API server's client certificate (CN ``kube-apiserver-kubelet-client``).

Only the log endpoint is stood in: the text each container "wrote" is set by the test, or is the output file of
a real process run as that container (``serve_file``: the real istiod of tests/e2e/real_istiod.py). A container
with no text set answers as the kubelet does for a container that has not run (HTTP 400, ``container "C" in pod "P" is
waiting to start: ...``, ``pkg/kubelet/kubelet_pods.go`` ``validateContainerLogStatus``); the API server passes
that on as a 400 Status (``genericrest.NewGenericHttpResponseChecker``).

The Node is registered as a kubelet would: Ready condition, InternalIP 127.0.0.1, kubelet port, and a Lease in
``kube-node-lease`` renewed every few seconds so kube-controller-manager's node lifecycle controller (grace period
50s by default, ``pkg/controller/nodelifecycle``) never marks it NotReady and the Pods on it not ready. Pods are
bound to it through the ``binding`` subresource, as the scheduler does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.e2e.cluster import KUBELET_CLIENT_USER, Cluster

NODE = "e2e-node-1"
HEARTBEAT_SECONDS = 5.0
JSON = dict[str, Any]


@dataclass
class LogRequest:
    """One request the API server proxied to us."""

    namespace: str
    pod: str
    container: str
    query: dict[str, list[str]]
    client: str  # the client certificate's CN


@dataclass
class KubeletLogs:
    cluster: Cluster
    node: str = NODE
    logs: dict[tuple[str, str, str], str] = field(default_factory=dict)
    log_files: dict[tuple[str, str, str], Path] = field(default_factory=dict)
    requests: list[LogRequest] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    # ------------------------------------------------------------------ what tests use

    def set_log(self, namespace: str, pod: str, container: str, text: str) -> None:
        self.logs[(namespace, pod, container)] = text

    def serve_file(self, namespace: str, pod: str, container: str, path: Path) -> None:
        """Serve what a real process writes to ``path`` (its stdout and stderr, as a container runtime keeps them),
        read afresh at each request, so a reader sees the log as it grows."""
        self.log_files[(namespace, pod, container)] = path

    def bind(self, namespace: str, pod: str) -> None:
        """Schedule the Pod onto our Node (``POST pods/P/binding``, what kube-scheduler does)."""
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": pod, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node},
        }
        api(self.cluster, "POST", f"/api/v1/namespaces/{namespace}/pods/{pod}/binding", binding)

    def requested(self, namespace: str, pod: str) -> list[LogRequest]:
        return [r for r in self.requests if (r.namespace, r.pod) == (namespace, pod)]

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        workdir = self.cluster.workdir / "kubelet"
        workdir.mkdir(mode=0o700, exist_ok=True)
        serving = self.cluster.ca.issue(self.node, server=True, dns_names=[self.node], ips=["127.0.0.1"])
        cert, key = workdir / "kubelet.crt", workdir / "kubelet.key"
        for path, data in ((cert, serving.cert_pem), (key, serving.key_pem)):
            path.write_bytes(data)
            path.chmod(0o600)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.verify_mode = ssl.CERT_REQUIRED  # the kubelet authenticates the API server by client certificate
        context.load_verify_locations(cadata=self.cluster.ca.cert_pem.decode())
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        self._server = server
        self.port = int(server.server_address[1])
        threading.Thread(target=server.serve_forever, name="kubelet-logs", daemon=True).start()
        self._register_node()
        threading.Thread(target=self._heartbeat, name="kubelet-heartbeat", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _register_node(self) -> None:
        now = _now()
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.node, "labels": {"kubernetes.io/hostname": self.node}},
            # Nodes may carry their status on create (the kubelet registers itself so).
            "status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "kubelet is posting ready status",
                        "lastHeartbeatTime": now,
                        "lastTransitionTime": now,
                    }
                ],
                "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
            },
        }
        api(self.cluster, "POST", "/api/v1/nodes", node)
        # Create keeps the status for Nodes; patch it anyway so the address is there whatever the strategy does.
        api(
            self.cluster,
            "PATCH",
            f"/api/v1/nodes/{self.node}/status",
            {"status": node["status"]},
            content_type="application/merge-patch+json",
        )
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.node, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": self.node, "leaseDurationSeconds": 40, "renewTime": _micro_now()},
        }
        api(self.cluster, "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease)

    def _heartbeat(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.node}"
        while not self._stop.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(OSError, urllib.error.URLError):
                api(
                    self.cluster,
                    "PATCH",
                    path,
                    {"spec": {"renewTime": _micro_now()}},
                    content_type="application/merge-patch+json",
                )

    # ------------------------------------------------------------------ answering

    def answer(self, raw_path: str, client: str) -> tuple[int, str, bytes]:
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query)
        segments = parts.path.strip("/").split("/")
        if len(segments) != 4 or segments[0] != "containerLogs":
            return 404, "text/plain", b"404 page not found\n"
        _, namespace, pod, container = segments
        self.requests.append(LogRequest(namespace, pod, container, query, client))
        if client != KUBELET_CLIENT_USER:
            return 403, "text/plain", f"Forbidden (user={client}, verb=get, resource=nodes, subresource=proxy)".encode()
        key = (namespace, pod, container)
        text = self.logs.get(key)
        if key in self.log_files:
            text = self.log_files[key].read_text(encoding="utf-8", errors="replace")
        if text is None:
            message = f'container "{container}" in pod "{pod}" is waiting to start: PodInitializing'
            return 400, "text/plain", message.encode()
        if "tailLines" in query:  # the kubelet takes the last lines first, then cuts at limitBytes
            text = "".join(text.splitlines(keepends=True)[-int(query["tailLines"][0]) :])
        data = text.encode()
        if "limitBytes" in query:
            data = data[: int(query["limitBytes"][0])]
        return 200, "text/plain", data


def _handler(kubelet: KubeletLogs) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            code, content_type, body = kubelet.answer(self.path, _client_cn(self.connection))
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def _client_cn(connection: Any) -> str:
    peer = connection.getpeercert() or {}
    for rdn in peer.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def api(
    cluster: Cluster, method: str, path: str, body: JSON | None = None, *, content_type: str = "application/json"
) -> JSON:
    """One admin call to the API server; a refusal raises AssertionError with the Status message."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{cluster.server}{path}", data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, context=cluster.admin_ssl_context(), timeout=10) as reply:
            answer: JSON = json.loads(reply.read() or b"{}")
            return answer
    except urllib.error.HTTPError as error:
        raise AssertionError(f"{method} {path}: {error.code} {error.read().decode(errors='replace')}") from None


@contextlib.contextmanager
def running_kubelet_logs(cluster: Cluster) -> Iterator[KubeletLogs]:
    kubelet = KubeletLogs(cluster)
    kubelet.start()
    try:
        yield kubelet
    finally:
        kubelet.stop()
