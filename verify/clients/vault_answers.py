"""What an error answer to a Vault request means, from its status and its body, for a message that points the
right way.

hvac turns every status of 400 or more into one exception class per status (hvac/exceptions.py
`VaultError.from_status`) and fills its `errors` only when the body is Vault's JSON (`{"errors": [...]}`, Content-
Type application/json: hvac/adapters.py `Adapter._raise_for_error`). So an exception with `errors is None` is an
answer from something that is not Vault: a load balancer's 502/503 page, a web server's 404, a proxy's 403. Only a
503 from Vault itself saying so means sealed, and Vault and OpenBao answer a request in a namespace that does not
exist with 404 `namespace not found` (OpenBao internal/vault/request_handling.go
`Core.switchedLockHandleRequest`), which hvac reports as "nothing at this path": without this module a missing
namespace reads as an empty Vault. A token refused (401/403) while a namespace is set is told apart from a bad
token by asking for the token outside the namespace (vault.py `VaultApi._forbidden_message`).
"""

from __future__ import annotations

from typing import Any

from ...generator.errors import NotVault, VaultApiError, VaultNamespaceMissing, VaultSealed, VaultUnreachable
from ..redact import redact

_STATUS_BY_CLASS = {
    "InvalidRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "InvalidPath": 404,
    "PreconditionFailed": 412,
    "RateLimitExceeded": 429,
    "InternalServerError": 500,
    "VaultNotInitialized": 501,
    "BadGateway": 502,
    "VaultDown": 503,
}
NOT_VAULT_HINT = (
    "check that VAULT_ADDR (or vault.address) is Vault's own address and scheme, not a load balancer, ingress "
    "or proxy in front of it; `curl $VAULT_ADDR/v1/sys/health` should answer Vault's JSON"
)


def status_of(error: Exception) -> int | None:
    """The HTTP status hvac's exception class stands for (None for UnexpectedError and the like)."""
    return next((code for name, code in _STATUS_BY_CLASS.items() if type(error).__name__ == name), None)


def from_vault(error: Any) -> bool:
    """True when the body was Vault's JSON errors list (possibly empty, as Vault's 404 for nothing there)."""
    return getattr(error, "errors", None) is not None


def vault_errors(error: Any) -> str:
    return redact("; ".join(str(item) for item in (getattr(error, "errors", None) or ())))


def snippet(error: Any, limit: int = 80) -> str:
    """The start of a non-Vault body, printable characters only."""
    text = str(getattr(error, "text", "") or "")
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text[: limit * 4]).split())
    return redact(cleaned[:limit] + ("..." if len(cleaned) > limit else ""))


def not_vault(address: str, method: str, path: str, status: int | str, body: str = "") -> NotVault:
    """`body`: the start of what the server sent, quoted after the message when there is any."""
    message = f"the server at {address} answered {status} to {method} {path} with a body that is not Vault's"
    return NotVault(f"{message} ({body!r})" if body else message, NOT_VAULT_HINT)


def missing_namespace(address: str, namespace: str | None) -> VaultNamespaceMissing:
    return VaultNamespaceMissing(
        f"Vault at {address} has no namespace {namespace!r} (namespace not found)",
        f"create it (`vault namespace create {namespace}` in its parent) or correct vault.namespace / the "
        "cluster's namespace in the config (the config wins over VAULT_NAMESPACE)",
    )


def classify(error: Any, address: str, namespace: str | None, method: str, path: str) -> Exception | None:
    """The error hierarchy's reading of one hvac error answer, or None when the caller's own handling applies
    (Vault's 401/403 and Vault's 404 for an empty path)."""
    status = status_of(error)
    if not from_vault(error):
        return not_vault(address, method, path, status or "an error", snippet(error))
    said = vault_errors(error)
    if status == 404 and "namespace not found" in said:
        return missing_namespace(address, namespace)
    if status in (401, 403, 404):
        return None
    if status == 503 and "sealed" in said.lower():
        return VaultSealed(f"Vault at {address} is sealed: unseal it (vault operator unseal), then re-run")
    if status == 501:
        return VaultSealed(f"Vault at {address} is not initialised: run `vault operator init`, unseal, re-run")
    if status in (502, 503):
        return VaultUnreachable(
            f"Vault at {address} answered {status} to {method} {path}: {said or 'no reason given'}",
            "Vault cannot serve the request now (a standby without an active node, or a storage backend down): "
            "see `vault status` and the server log, then re-run",
        )
    return VaultApiError(f"{method} {path}: {redact(str(error))}")
