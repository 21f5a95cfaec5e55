"""Talk to Vault the way the vault CLI does (VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT, ...), with bounded timeouts.

Anything that makes Vault unusable as a whole raises a `VaultUnavailable`, one subclass per way (VaultUnreachable,
VaultSealed, VaultTlsRefused, VaultForbidden, ...: generator/errors.py), which the commands turn into exit code 3
and a message saying what to do. Every GET is cached, so checks that look at the same endpoint share one request.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...generator.errors import VaultForbidden, VaultResponseTooLarge, VaultSealed, VaultTlsRefused, VaultUnreachable
from ..redact import redact

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
# The largest answer we buffer (docs/explanation/limits.md): the biggest real ones (sys/mounts of a busy Vault, a CA
# chain) are tens of KiB. A body beyond it, or one that keeps trickling in for longer than BODY_DEADLINE (READ_TIMEOUT
# bounds each read, not their sum), is refused with exit 3.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
BODY_DEADLINE = 60.0
_CHUNK = 64 * 1024
TRUE_WORDS = ("1", "t", "true", "yes", "y", "on")


@dataclass(frozen=True)
class Settings:
    address: str
    token: str | None
    verify: bool | str
    namespace: str | None
    client_cert: tuple[str, str] | None = None
    timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)


def settings_from_env(default_address: str, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the vault CLI's variables; `default_address` (the config's vault.address) when unset."""
    env = os.environ if env is None else env
    address = (env.get("VAULT_ADDR") or default_address).rstrip("/")
    token = env.get("VAULT_TOKEN") or _agent_token(env) or _token_file(env)
    verify: bool | str = True
    if env.get("VAULT_CACERT"):
        verify = env["VAULT_CACERT"]
    elif env.get("VAULT_CAPATH"):
        verify = env["VAULT_CAPATH"]
    if env.get("VAULT_SKIP_VERIFY", "").strip().lower() in TRUE_WORDS:
        verify = False
    cert = None
    if env.get("VAULT_CLIENT_CERT") and env.get("VAULT_CLIENT_KEY"):
        cert = (env["VAULT_CLIENT_CERT"], env["VAULT_CLIENT_KEY"])
    return Settings(address, token, verify, env.get("VAULT_NAMESPACE") or None, cert)


def _agent_token(env: Mapping[str, str]) -> str | None:
    """ISTIO_VAULT_CA_VAULT_TOKEN_FILE: the token a Vault agent keeps fresh (the in-cluster exporter's
    /vault/secrets/token), read on every run so a renewed or re-issued token is picked up."""
    path = env.get("ISTIO_VAULT_CA_VAULT_TOKEN_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _token_file(env: Mapping[str, str]) -> str | None:
    """~/.vault-token, written by `vault login`."""
    home = env.get("HOME")
    path = (Path(home) if home else Path.home()) / ".vault-token"
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


@dataclass
class VaultApi:
    """A thin hvac wrapper: cached reads, counted requests, errors mapped for people."""

    settings: Settings
    client: Any = None
    requests: int = 0
    _cache: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    _health: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        import hvac

        if self.settings.verify is False:
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        if self.settings.verify not in (True, False) and not Path(str(self.settings.verify)).exists():
            raise VaultTlsRefused(
                f"VAULT_CACERT {self.settings.verify} does not exist: point it at the CA file of Vault's TLS"
            )
        self.client = hvac.Client(
            url=self.settings.address,
            token=self.settings.token,
            verify=self.settings.verify,
            cert=self.settings.client_cert,
            timeout=self.settings.timeout,
            namespace=self.settings.namespace,
        )
        self.client.adapter.session.hooks["response"].append(_bounded_body)

    @property
    def address(self) -> str:
        return self.settings.address

    def health(self) -> dict[str, Any]:
        """sys/health (asked once), answered 200 whatever the state so we can say which state; sealed raises."""
        if self._health is not None:
            return self._health
        params = {"standbyok": "true", "perfstandbyok": "true", "sealedcode": "200", "uninitcode": "200"}
        response = self._call("GET", "sys/health", lambda: self._in_root_namespace("/v1/sys/health", params))
        if not isinstance(response, dict) or "sealed" not in response:  # a 200 that is not Vault's health JSON
            from .vault_answers import not_vault

            raise not_vault(self.address, "GET", "sys/health", getattr(response, "status_code", 200))
        body: dict[str, Any] = response
        if not body.get("initialized", True):
            raise VaultSealed(f"Vault at {self.address} is not initialised: run `vault operator init`, unseal, re-run")
        if body.get("sealed"):
            raise VaultSealed(f"Vault at {self.address} is sealed: unseal it (vault operator unseal), then re-run")
        self._health = body
        return body

    def _in_root_namespace(self, url: str, params: Mapping[str, str]) -> Any:
        """sys/health answers only outside namespaces ("operation unavailable in namespaces"): one GET without
        the namespace header; the client's later requests carry it again."""
        adapter = self.client.adapter
        namespace, adapter.namespace = adapter.namespace, None
        try:
            return adapter.get(url, params=dict(params))
        finally:
            adapter.namespace = namespace

    def read(self, path: str) -> dict[str, Any] | None:
        """GET /v1/<path> once; None when Vault answers 404 (nothing there)."""
        if path not in self._cache:
            response = self._call("GET", path, lambda: self.client.read(path))
            self._cache[path] = response if isinstance(response, dict) else None
        return self._cache[path]

    def list(self, path: str) -> list[str]:
        """LIST /v1/<path> once (cached beside the reads); [] when Vault answers 404 (nothing listed there)."""
        key = f"LIST {path}"
        if key not in self._cache:
            response = self._call("LIST", path, lambda: self.client.list(path))
            self._cache[key] = response if isinstance(response, dict) else None
        keys = ((self._cache[key] or {}).get("data") or {}).get("keys") or []
        return [str(name) for name in keys]

    def write(self, path: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """POST /v1/<path> (never cached)."""
        response = self._call("POST", path, lambda: self.client.write_data(path, data=dict(data)))
        return response if isinstance(response, dict) else None

    def _call(self, method: str, path: str, request: Any) -> Any:
        import hvac.exceptions
        import requests

        from .vault_answers import classify

        self.requests += 1
        try:
            return request()
        except hvac.exceptions.VaultError as error:
            known = classify(error, self.address, self.settings.namespace, method, path)
            if known is not None:
                raise known from None
            if isinstance(error, (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized)):
                raise VaultForbidden(self._forbidden_message(method, path)) from None
            return None  # Vault's 404: nothing at this path
        except requests.exceptions.SSLError as error:
            raise VaultTlsRefused(_tls_message(self.address, error)) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
            raise VaultUnreachable(_unreachable_message(self.address, error)) from None

    def _forbidden_message(self, method: str, path: str) -> str:
        if self.settings.token and self.settings.namespace and self._token_valid_outside_namespace():
            return (
                f"Vault at {self.address} refused {method} {path} in namespace {self.settings.namespace!r}, but "
                "accepts the token outside it: the namespace does not exist, or the token has no access in it. "
                "Check vault.namespace (or the cluster's namespace) in the config, or use a token of that namespace"
            )
        if not self.settings.token:
            return (
                f"no Vault token for {self.address}: export VAULT_TOKEN or run `vault login`, then re-run "
                f"({method} {path} needs one)"
            )
        return (
            f"Vault at {self.address} refused the token on {method} {path} (permission denied): the token is "
            "wrong, expired or lacks access. Export a valid VAULT_TOKEN (or `vault login`) for a token that can "
            "read sys/, the PKI, KV and auth mounts and create tokens, then re-run"
        )

    def _token_valid_outside_namespace(self) -> bool:
        """auth/token/lookup-self without the namespace header: does the token itself work?"""
        try:
            answer = self._in_root_namespace("/v1/auth/token/lookup-self", {})
        except Exception:  # any refusal or failure here means: we cannot tell, so say what we know
            return False
        return isinstance(answer, dict) and "data" in answer


def _bounded_body(response: Any, *_args: Any, **_kwargs: Any) -> Any:
    """requests response hook, run before requests reads the body: read it ourselves, decoded, at most
    MAX_RESPONSE_BYTES of it and within BODY_DEADLINE, and hand requests the bytes."""
    from urllib.parse import urlsplit

    where = f"{response.request.method} {urlsplit(response.url).path}"
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        response.close()
        raise _too_large(response.url, where, f"announced {int(declared):,} bytes")
    deadline = time.monotonic() + BODY_DEADLINE
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            response.close()
            raise _too_large(response.url, where, f"sent more than {MAX_RESPONSE_BYTES:,} bytes")
        if time.monotonic() > deadline:
            response.close()
            raise VaultResponseTooLarge(
                f"Vault at {_origin(response.url)} was still sending its answer to {where} after "
                f"{BODY_DEADLINE:.0f} s ({size:,} bytes so far): not waiting longer",
                "check VAULT_ADDR points at Vault itself, not at a proxy that trickles",
            )
    response._content = b"".join(chunks)
    return response


def _too_large(url: str, where: str, what: str) -> VaultResponseTooLarge:
    return VaultResponseTooLarge(
        f"Vault at {_origin(url)} {what} in answer to {where}; we read at most {MAX_RESPONSE_BYTES:,} bytes "
        f"({MAX_RESPONSE_BYTES // (1024 * 1024)} MiB) of an answer",
        "check VAULT_ADDR points at Vault itself (not a proxy or a file server), then re-run",
    )


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _tls_message(address: str, error: Exception) -> str:
    text = str(error)
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        return (
            f"TLS handshake with {address} failed: the server does not speak TLS on that port. "
            "Use http:// in VAULT_ADDR, or enable TLS on the Vault listener"
        )
    return (
        f"TLS verification of {address} failed ({_short(text)}): set VAULT_CACERT to the CA that signed Vault's "
        "certificate (or VAULT_SKIP_VERIFY=true for a throw-away test server)"
    )


def _unreachable_message(address: str, error: Exception) -> str:
    reason = "timed out" if "timeout" in type(error).__name__.lower() or "timed out" in str(error) else "refused"
    if "Name or service not known" in str(error) or "nodename nor servname" in str(error):
        reason = "host name does not resolve"
    return (
        f"cannot reach Vault at {address} ({reason}): check VAULT_ADDR and that Vault is running "
        "(`vault status`), then re-run"
    )


def _short(text: str) -> str:
    for marker in ("certificate verify failed: ", "SSLError(", "SSL: "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return redact(text.split(" (_ssl")[0].rstrip("')\" ")[:160])
