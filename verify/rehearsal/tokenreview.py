"""A simulated Kubernetes TokenReview endpoint, standing in for the API server during a rehearsal.

Vault's Kubernetes auth asks the API server whether a service-account JWT is genuine. There is no
kube-apiserver to run locally, so this small loopback HTTPS server answers
POST /apis/authentication.k8s.io/v1/tokenreviews for JWTs signed by a throw-away key made at run time.
Vault then applies the role's real bindings (namespace, service account), so those are tested for real.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import ssl
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

NAME = "simulated Kubernetes TokenReview"
REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
ISSUER = "kubernetes/serviceaccount"
CLAIM_NAMESPACE = "kubernetes.io/serviceaccount/namespace"
CLAIM_SA_NAME = "kubernetes.io/serviceaccount/service-account.name"
CLAIM_SA_UID = "kubernetes.io/serviceaccount/service-account.uid"
CLAIM_SECRET_NAME = "kubernetes.io/serviceaccount/secret.name"
# A TokenReview request is a JWT in a few hundred bytes of JSON; bigger bodies get 413 without being read.
MAX_REVIEW_BYTES = 64 * 1024
REQUEST_TIMEOUT = 10.0


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class JwtSigner:
    """A throw-away RS256 key (Vault rejects HS256) that mints legacy service-account JWTs and checks them."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = uuid.uuid4().hex

    def mint(self, namespace: str, service_account: str, uid: str | None = None) -> str:
        """A JWT with the claims a pre-1.24 token Secret carries; the API server would report the same."""
        header = {"alg": "RS256", "kid": self.key_id, "typ": "JWT"}
        claims = {
            "iss": ISSUER,
            CLAIM_NAMESPACE: namespace,
            CLAIM_SECRET_NAME: f"{service_account}-token",
            CLAIM_SA_NAME: service_account,
            CLAIM_SA_UID: uid or str(uuid.uuid4()),
            "sub": f"system:serviceaccount:{namespace}:{service_account}",
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a JWT this signer minted, or None (bad shape or signature)."""
        parts = token.strip().split(".")
        if len(parts) != 3:
            return None
        try:
            self._key.public_key().verify(
                _b64url_decode(parts[2]),
                f"{parts[0]}.{parts[1]}".encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
            claims = json.loads(_b64url_decode(parts[1]))
        except (InvalidSignature, ValueError, UnicodeError):
            return None
        return claims if isinstance(claims, dict) else None


@dataclass(frozen=True)
class TlsMaterial:
    """A CA made at run time and a loopback server certificate it signed (PEM)."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def make_tls_material(common_name: str = NAME) -> TlsMaterial:
    """EC P-256 keys (fast to make): a CA for this run and a serving certificate for 127.0.0.1 that Vault checks."""
    from ...generator.pki.factory import self_signed_ca, tls_server

    ca = self_signed_ca(f"{common_name} CA", lifetime=dt.timedelta(hours=2), path_length=0)
    server = tls_server(ca)
    return TlsMaterial(ca_pem=ca.pem, cert_pem=server.pem + ca.pem, key_pem=server.private_pem())


@dataclass(frozen=True)
class Review:
    """One TokenReview the endpoint answered, for diagnostics (never the token itself)."""

    subject: str
    authenticated: bool


@dataclass
class TokenReviewServer:
    """The running endpoint. `url` and `ca_pem` are what Vault's auth config needs. Stop with `stop()`."""

    url: str
    ca_pem: bytes
    signer: JwtSigner
    reviews: list[Review] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Idempotent: shut the listener and wait for its thread."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def review_response(signer: JwtSigner, token: str) -> dict[str, Any]:
    """The TokenReview the API server would return for `token`: authenticated when our key signed it."""
    claims = signer.claims(token)
    status: dict[str, Any]
    if claims is None or not claims.get(CLAIM_NAMESPACE) or not claims.get(CLAIM_SA_NAME):
        status = {"authenticated": False, "error": "invalid bearer token, token lookup failed"}
    else:
        namespace, name = str(claims[CLAIM_NAMESPACE]), str(claims[CLAIM_SA_NAME])
        status = {
            "authenticated": True,
            "user": {
                "username": f"system:serviceaccount:{namespace}:{name}",
                "uid": str(claims.get(CLAIM_SA_UID, "")),
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{namespace}",
                    "system:authenticated",
                ],
            },
        }
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status}


def _handler(endpoint: TokenReviewServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = REQUEST_TIMEOUT  # per socket read: a caller that stops sending cannot hold a thread

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != REVIEW_PATH:
                self._reply(HTTPStatus.NOT_FOUND, {"kind": "Status", "status": "Failure", "code": 404})
                return
            # The caller (Vault, with the reviewer's or the client's token) must itself hold a valid token.
            bearer = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if endpoint.signer.claims(bearer) is None:
                self._reply(HTTPStatus.UNAUTHORIZED, {"kind": "Status", "status": "Failure", "code": 401})
                return
            length_header = self.headers.get("Content-Length") or "0"
            if not length_header.isdigit() or int(length_header) > MAX_REVIEW_BYTES:
                # A TokenReview is a JWT in a little JSON; never read (or wait for) an unbounded body.
                self.close_connection = True
                self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"kind": "Status", "status": "Failure", "code": 413})
                return
            try:
                token = str(json.loads(self.rfile.read(int(length_header)))["spec"]["token"])
            except (ValueError, KeyError, TypeError):
                self._reply(HTTPStatus.BAD_REQUEST, {"kind": "Status", "status": "Failure", "code": 400})
                return
            response = review_response(endpoint.signer, token)
            user = response["status"].get("user", {})
            endpoint.reviews.append(Review(str(user.get("username", "?")), bool(response["status"]["authenticated"])))
            self._reply(HTTPStatus.CREATED, response)

        def _reply(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: the rehearsal reports what matters itself."""

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A caller that hangs up mid-reply (Vault cancelling a login when the agent exits) is not news."""


def start(signer: JwtSigner | None = None) -> TokenReviewServer:
    """Serve TokenReview on a free loopback port over HTTPS with a CA made now."""
    signer = signer or JwtSigner()
    tls = make_tls_material()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # ssl only loads keys from files: a private temp dir that lives for the instant of loading.
    with tempfile.TemporaryDirectory(prefix="ivc-tls-") as directory:
        cert_file, key_file = Path(directory, "tls.crt"), Path(directory, "tls.key")
        cert_file.write_bytes(tls.cert_pem)
        key_file.touch(mode=0o600)
        key_file.write_bytes(tls.key_pem)
        context.load_cert_chain(cert_file, key_file)
    endpoint = TokenReviewServer(url="", ca_pem=tls.ca_pem, signer=signer)
    server = _QuietServer(("127.0.0.1", 0), _handler(endpoint))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    endpoint.url = f"https://127.0.0.1:{server.server_address[1]}"
    endpoint._server = server
    endpoint._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="tokenreview", daemon=True)
    endpoint._thread.start()
    return endpoint
