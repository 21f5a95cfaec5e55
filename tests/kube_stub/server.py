"""A TEST STAND-IN for a Kubernetes API server: a small local HTTPS server speaking just enough of the REST API.

There is no kube-apiserver we can install here, so the cluster checks are tested against this. It serves what
`verify cluster` reads, in the API's own JSON shapes: discovery (`/version`, `/api`, `/apis`), get and list with
`labelSelector` for namespaces, serviceaccounts, configmaps, pods, deployments (apps/v1) and
mutatingwebhookconfigurations (admissionregistration.k8s.io/v1), and pod logs with `container=` and
`limitBytes=`. Errors are `Status` objects with the real codes and message wording (404, 403, 401, 400).
It is not a Kubernetes implementation: no watches, no writes, no admission, no exec.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
import shutil
import ssl
import tempfile
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

JSON = dict[str, Any]
TOKEN = "stub-token"  # the bearer token the generated kubeconfig carries

# kind -> (group/version path prefix, plural, namespaced)
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Pod": ("/api/v1", "pods", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "MutatingWebhookConfiguration": ("/apis/admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", False),
}
GROUPS = {"apps": "apps/v1", "admissionregistration.k8s.io": "admissionregistration.k8s.io/v1"}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]


@dataclass
class KubeStub:
    """Objects keyed by (prefix, plural, namespace, name); `forbidden` plurals answer 403 ("*" for all)."""

    objects: dict[tuple[str, str, str, str], JSON] = field(default_factory=dict)
    logs: dict[tuple[str, str, str], str] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)
    user: str = "system:serviceaccount:default:verifier"
    requests: list[Recorded] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _dir: Path | None = None
    ca_pem: bytes = b""

    # ------------------------------------------------------------------ seeding

    def add(self, *objects: JSON) -> None:
        for obj in objects:
            kind = obj["kind"]
            prefix, plural, namespaced = KINDS[kind]
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            meta.setdefault(
                "uid", str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{meta.get('namespace')}/{meta['name']}"))
            )
            meta.setdefault("resourceVersion", str(1000 + len(self.objects)))
            meta.setdefault("creationTimestamp", "2025-01-10T09:00:00Z")
            if kind == "Namespace":
                meta.setdefault("labels", {}).setdefault("kubernetes.io/metadata.name", meta["name"])
            namespace = meta.get("namespace", "") if namespaced else ""
            self.objects[(prefix, plural, namespace, meta["name"])] = obj

    def remove(self, kind: str, name: str, namespace: str = "") -> None:
        prefix, plural, _ = KINDS[kind]
        del self.objects[(prefix, plural, namespace, name)]

    def get(self, kind: str, name: str, namespace: str = "") -> JSON:
        prefix, plural, _ = KINDS[kind]
        return self.objects[(prefix, plural, namespace, name)]

    def set_log(self, namespace: str, pod: str, container: str, text: str) -> None:
        self.logs[(namespace, pod, container)] = text

    # ------------------------------------------------------------------ serving

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stub first"
        host, port = self._server.server_address[:2]
        return f"https://{host}:{port}"

    def start(self) -> KubeStub:
        self._dir = Path(tempfile.mkdtemp(prefix="kube-stub-"))
        cert, key, self.ca_pem = _tls_files(self._dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, name="kube-stub", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def kubeconfig(self, path: Path, *, context: str = "stub", server: str | None = None, token: str = TOKEN) -> Path:
        """A kubeconfig for this server (`server=` points it elsewhere, e.g. at a closed port)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": context,
            "clusters": [
                {
                    "name": context,
                    "cluster": {
                        "server": server or self.url,
                        "certificate-authority-data": base64.b64encode(self.ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": context, "user": {"token": token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        }
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is YAML
        return path

    def paths_requested(self) -> list[str]:
        return [r.path for r in self.requests]

    # ------------------------------------------------------------------ answering

    def answer(self, method: str, raw_path: str, headers: Mapping[str, str]) -> tuple[int, str, bytes]:
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query)
        self.requests.append(Recorded(method, parts.path, query))
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return _status(401, "Unauthorized", "Unauthorized")
        if method != "GET":
            return _status(405, "MethodNotAllowed", f"the stand-in only reads; {method} is not supported")
        discovery = _discovery(parts.path)
        if discovery is not None:
            return 200, "application/json", json.dumps(discovery).encode()
        route = _route(parts.path)
        if route is None:
            return _status(404, "NotFound", "the server could not find the requested resource")
        prefix, plural, namespace, name, sub = route
        if plural in self.forbidden or "*" in self.forbidden:
            return self._forbidden(prefix, plural, namespace, name, "list" if name is None else "get")
        if name is None:
            return self._list(prefix, plural, namespace, query)
        if sub == "log":
            return self._log(namespace, name, query)
        obj = self.objects.get((prefix, plural, namespace, name))
        if obj is None:
            group = prefix.split("/")[2] if prefix.startswith("/apis/") else ""
            resource = f"{plural}.{group}" if group else plural
            return _status(404, "NotFound", f'{resource} "{name}" not found', {"name": name, "kind": plural})
        return 200, "application/json", json.dumps(obj).encode()

    def _list(self, prefix: str, plural: str, namespace: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        selector = parse_selector(query.get("labelSelector", [""])[0])
        items = [
            obj
            for (p, pl, ns, _), obj in sorted(self.objects.items())
            if p == prefix and pl == plural and (not namespace or ns == namespace)
            if matches(selector, obj.get("metadata", {}).get("labels") or {})
        ]
        kind = next(k for k, v in KINDS.items() if v[1] == plural)
        body = {
            "kind": f"{kind}List",
            "apiVersion": prefix.removeprefix("/apis/").removeprefix("/api/"),
            "metadata": {"resourceVersion": str(5000 + len(self.requests))},
            "items": items,
        }
        return 200, "application/json", json.dumps(body).encode()

    def _log(self, namespace: str, pod_name: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        pod = self.objects.get(("/api/v1", "pods", namespace, pod_name))
        if pod is None:
            return _status(404, "NotFound", f'pods "{pod_name}" not found')
        names = [c["name"] for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]]
        container = query.get("container", [""])[0]
        if not container:
            if len(names) > 1:
                message = f"a container name must be specified for pod {pod_name}, choose one of: {names}"
                return _status(400, "BadRequest", message)
            container = names[0]
        if container not in names:
            return _status(400, "BadRequest", f"container {container} is not valid for pod {pod_name}")
        text = self.logs.get((namespace, pod_name, container))
        if text is None:
            return _status(
                400, "BadRequest", f'container "{container}" in pod "{pod_name}" is waiting to start: PodInitializing'
            )
        data = text.encode()
        if "limitBytes" in query:
            data = data[: int(query["limitBytes"][0])]
        return 200, "text/plain", data

    def _forbidden(
        self, prefix: str, plural: str, namespace: str, name: str | None, verb: str
    ) -> tuple[int, str, bytes]:
        group = prefix.split("/")[2] if prefix.startswith("/apis/") else ""
        what = f'{plural}.{group} "{name}"' if group and name else (f'{plural} "{name}"' if name else plural)
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        message = (
            f'{what} is forbidden: User "{self.user}" cannot {verb} resource "{plural}" in API group "{group}"{where}'
        )
        return _status(403, "Forbidden", message, {"name": name or "", "group": group, "kind": plural})


def _status(code: int, reason: str, message: str, details: JSON | None = None) -> tuple[int, str, bytes]:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or {},
        "code": code,
    }
    return code, "application/json", json.dumps(body).encode()


def _discovery(path: str) -> JSON | None:
    if path == "/version":
        return {"major": "1", "minor": "31", "gitVersion": "v1.31.0-stub", "platform": "linux/amd64"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if path == "/apis":
        groups = [
            {
                "name": name,
                "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]},
            }
            for name, gv in GROUPS.items()
        ]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    return None


_CORE = re.compile(r"^/api/v1/(?:namespaces/(?P<ns>[^/]+)/)?(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>log))?$")
_GROUP = re.compile(
    r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/(?:namespaces/(?P<ns>[^/]+)/)?(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?$"
)


def _route(path: str) -> tuple[str, str, str, str | None, str | None] | None:
    """(prefix, plural, namespace, name, subresource) for the paths we serve."""
    if path.startswith("/api/v1/namespaces/") and path.count("/") == 4:
        return "/api/v1", "namespaces", "", path.rsplit("/", 1)[1], None
    match = _CORE.match(path)
    prefix = "/api/v1"
    if match is None:
        match = _GROUP.match(path)
        if match is None:
            return None
        prefix = f"/apis/{match['group']}/{match['version']}"
    known = {(p, pl) for p, pl, _ in KINDS.values()}
    if (prefix, match["plural"]) not in known:
        return None
    sub = match.groupdict().get("sub")
    return prefix, match["plural"], match["ns"] or "", match["name"], sub


# ---------------------------------------------------------------------- label selectors

Requirement = tuple[str, str, frozenset[str]]
_SET = re.compile(r"^(?P<key>[^\s!=]+)\s+(?P<op>in|notin)\s+\((?P<values>[^)]*)\)$")


def parse_selector(text: str) -> list[Requirement]:
    """`a=b,c!=d,e,!f,g in (h,i),j notin (k)` as the API server parses it."""
    requirements: list[Requirement] = []
    for term in _split_terms(text):
        set_match = _SET.match(term)
        if set_match:
            values = frozenset(v.strip() for v in set_match["values"].split(",") if v.strip())
            requirements.append((set_match["key"], set_match["op"], values))
        elif "!=" in term:
            key, value = term.split("!=", 1)
            requirements.append((key.strip(), "!=", frozenset({value.strip()})))
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            requirements.append((key.strip(), "=", frozenset({value.strip()})))
        elif term.startswith("!"):
            requirements.append((term[1:].strip(), "!", frozenset()))
        else:
            requirements.append((term, "exists", frozenset()))
    return requirements


def _split_terms(text: str) -> Iterable[str]:
    depth, current = 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            yield current.strip()
            current = ""
        else:
            current += char
    if current.strip():
        yield current.strip()


def matches(requirements: list[Requirement], labels: Mapping[str, str]) -> bool:
    for key, op, values in requirements:
        present = key in labels
        ok = {
            "=": present and labels.get(key) in values,
            "in": present and labels.get(key) in values,
            "!=": not present or labels.get(key) not in values,
            "notin": not present or labels.get(key) not in values,
            "exists": present,
            "!": not present,
        }[op]
        if not ok:
            return False
    return True


# ---------------------------------------------------------------------- plumbing


def _handler(stub: KubeStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._reply(stub.answer("GET", self.path, dict(self.headers.items())))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self._reply(stub.answer("POST", self.path, dict(self.headers.items())))

        def _reply(self, answer: tuple[int, str, bytes]) -> None:
            code, content_type, body = answer
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def _tls_files(directory: Path) -> tuple[Path, Path, bytes]:
    """A throw-away CA and a server certificate for 127.0.0.1, made at start-up (nothing committed)."""
    from istio_vault_ca.generator.pki.factory import self_signed_ca, tls_server

    ca = self_signed_ca("kube-stub test CA", lifetime=dt.timedelta(days=1))
    server = tls_server(ca, ("127.0.0.1", "localhost"))
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(server.pem)
    key_path.write_bytes(server.private_pem())
    key_path.chmod(0o600)
    return cert_path, key_path, ca.pem
