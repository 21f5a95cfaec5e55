"""Read-only access to the Kubernetes API for the cluster checks, with bounded timeouts and errors for people.

Objects come back as plain API-shaped dicts (camelCase keys, as `kubectl get -o json` prints them), so the
checks in `verify.cluster` are pure functions that tests and the pytest-testinfra suite can feed directly.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...generator.errors import KubeAccessError, KubeConfigProblem, KubeResponseTooLarge, LogUnavailable

JSON = dict[str, Any]

# Bounded so a blackholed API server costs seconds, not minutes.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
# istiod logs which CA it loaded at start-up: read the head of the log, never the whole (possibly huge) file.
LOG_HEAD_BYTES = 4 * 1024 * 1024
# When the head was cut, the lines read from the end of istiod's log (a CA reload is logged long after start-up).
LOG_TAIL_LINES = 20_000
# The largest answer we buffer (docs/explanation/limits.md): above the log head and far above any list the checks make
# (pods of one deployment, namespaces, webhook configurations). Beyond it, or still arriving after BODY_DEADLINE
# (READ_TIMEOUT bounds each read, not their sum), the answer is refused with exit 3. We ask for uncompressed
# answers, so the bytes counted are the bytes kept.
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
BODY_DEADLINE = 90.0


@dataclass(frozen=True)
class KubeTarget:
    """Where the API server is, as the user named it; also what kubectl (and testinfra) must be told."""

    kubeconfig: str | None
    context: str | None
    server: str


class Kube:
    """The handful of reads the cluster checks need. `None` means 404; access problems raise KubeAccessError."""

    def __init__(self, client: Any, target: KubeTarget) -> None:
        self._client = client
        self.target = target

    # ------------------------------------------------------------------ objects

    def namespace(self, name: str) -> JSON | None:
        from lightkube.resources.core_v1 import Namespace

        return self._get(Namespace, name, None)

    def namespaces(self, labels: Mapping[str, Any] | None = None) -> list[JSON]:
        from lightkube.resources.core_v1 import Namespace

        return self._list(Namespace, None, labels)

    def service_account(self, namespace: str, name: str) -> JSON | None:
        from lightkube.resources.core_v1 import ServiceAccount

        return self._get(ServiceAccount, name, namespace)

    def deployment(self, namespace: str, name: str) -> JSON | None:
        from lightkube.resources.apps_v1 import Deployment

        return self._get(Deployment, name, namespace)

    def daemon_set(self, namespace: str, name: str) -> JSON | None:
        from lightkube.resources.apps_v1 import DaemonSet

        return self._get(DaemonSet, name, namespace)

    def pods(self, namespace: str, labels: Mapping[str, str]) -> list[JSON]:
        from lightkube.resources.core_v1 import Pod

        return self._list(Pod, namespace, labels)

    def config_map(self, namespace: str, name: str) -> JSON | None:
        from lightkube.resources.core_v1 import ConfigMap

        return self._get(ConfigMap, name, namespace)

    def mutating_webhooks(self) -> list[JSON]:
        from lightkube.resources.admissionregistration_v1 import MutatingWebhookConfiguration

        return self._list(MutatingWebhookConfiguration, None, None)

    def log(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        limit_bytes: int = LOG_HEAD_BYTES,
        tail_lines: int | None = None,
    ) -> str:
        """The head of one container's log (`limitBytes` keeps the start-up lines, which is where istiod
        says which CA it loaded), or with `tail_lines` its last lines (the kubelet cuts the tail, then the bytes).
        lightkube's `Client.log` has no `limitBytes`, hence the lower-level call.
        """
        from lightkube import ApiError
        from lightkube.core.internal_resources import core_v1  # type: ignore[attr-defined]

        params: dict[str, int | str] = {"container": container, "limitBytes": limit_bytes}
        if tail_lines is not None:
            params["tailLines"] = tail_lines
        generic = self._client._client
        what = f"read the log of {namespace}/{pod} container {container}"
        try:
            with self._errors(what):
                request = generic.build_adapter_request(
                    generic.prepare_request("get", core_v1.PodLog, name=pod, namespace=namespace, params=params)
                )
                response = generic.send(request)
                generic.raise_for_status(response)
        except ApiError as error:
            if error.status.code in (400, 404):
                raise LogUnavailable(error.status.message or f"no log ({error.status.code})") from None
            raise _api_problem(error, what, self.target) from None
        return str(response.text)

    # ------------------------------------------------------------------ plumbing

    def _get(self, resource: Any, name: str, namespace: str | None) -> JSON | None:
        from lightkube import ApiError

        what = f"get {resource.__name__} {namespace + '/' if namespace else ''}{name}"
        try:
            with self._errors(what):
                obj = self._client.get(resource, name, namespace=namespace)
        except ApiError as error:
            if error.status.code == 404:
                return None
            raise _api_problem(error, what, self.target) from None
        result: JSON = obj.to_dict()
        return result

    def _list(self, resource: Any, namespace: str | None, labels: Mapping[str, Any] | None) -> list[JSON]:
        from lightkube import ApiError

        what = f"list {resource.__name__}{' in ' + namespace if namespace else ''}"
        try:
            with self._errors(what):
                items = list(self._client.list(resource, namespace=namespace, labels=dict(labels or {})))
        except ApiError as error:
            raise _api_problem(error, what, self.target) from None
        return [item.to_dict() for item in items]

    def _errors(self, what: str) -> _Translate:
        return _Translate(what, self.target)


class _Translate:
    """Turns transport and TLS failures into KubeAccessError; lets ApiError through for 404 handling."""

    def __init__(self, what: str, target: KubeTarget) -> None:
        self.what = what
        self.target = target

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> None:
        if error is None:
            return
        import httpx2
        from lightkube import ApiError

        if isinstance(error, ApiError):
            if error.status.code in (401, 403):
                raise _api_problem(error, self.what, self.target) from None
            return
        if isinstance(error, httpx2.HTTPStatusError):  # an error status whose body is not a Kubernetes Status
            raise _status_problem(error.response, self.what, self.target) from None
        if isinstance(error, httpx2.TransportError):
            raise _transport_problem(error, self.what, self.target) from None
        if isinstance(error, ValueError):  # msgspec/JSON decoding of an answer that is not the API's shape
            raise KubeAccessError(
                f"the server at {self.target.server} gave an answer to {self.what} that is not a Kubernetes "
                f"object ({type(error).__name__}: {error})",
                "check that the kubeconfig's server is a Kubernetes API server (not a proxy or a login page)",
            ) from None


def _api_problem(error: Any, what: str, target: KubeTarget) -> KubeAccessError:
    code = error.status.code
    message = error.status.message or "no message"
    if code == 401:
        return KubeAccessError(
            f"the API server at {target.server} rejected our credentials (401) on {what}: {message}",
            "refresh the kubeconfig credentials (log in again) or pick another --context",
        )
    if code == 403:
        return KubeAccessError(
            f"the API server at {target.server} refused {what} (403): {message}",
            "the checks only read: grant get/list on namespaces, serviceaccounts, deployments, pods, pods/log, "
            "configmaps and mutatingwebhookconfigurations (for example the built-in `view` ClusterRole plus "
            "read on mutatingwebhookconfigurations), or use a context that has them",
        )
    return KubeAccessError(
        f"the API server at {target.server} answered {code} on {what}: {message}",
        "check that the context points at the cluster that runs istiod",
    )


def _status_problem(response: Any, what: str, target: KubeTarget) -> KubeAccessError:
    """An error status without a Kubernetes Status body: lightkube raises httpx's HTTPStatusError for it, and only
    wraps the answer in ApiError when its Content-Type is exactly application/json (lightkube
    core/generic_client.py transform_exception). A real API server answers every error with a JSON Status
    (k8s.io/apiserver pkg/endpoints/handlers/responsewriters ErrorNegotiated), so whatever answered is a load
    balancer, a proxy or another web server: exit 3 (unreachable), naming the status and the request."""
    code = int(response.status_code)
    phrase = str(getattr(response, "reason_phrase", "") or "")
    kind = str(response.headers.get("Content-Type", "") or "no Content-Type").partition(";")[0]
    body = _snippet(response)
    said = f" ({kind}: {body!r})" if body else f" ({kind})"
    message = f"the server at {target.server} answered {code} {phrase} to {what}{said}".replace("  ", " ")
    if code in (502, 503, 504):
        return KubeAccessError(
            message + ", not the API server",
            "a load balancer or proxy in front of the API server could not reach it: check that the API server "
            "is up (kubectl cluster-info) and that the kubeconfig's server is the address it serves on",
        )
    return KubeAccessError(
        message + ": not a Kubernetes API server's answer (it answers errors with a JSON Status)",
        "check that the kubeconfig's server (and --context) names the Kubernetes API server, not a proxy, an "
        "ingress or another web server",
    )


def _snippet(response: Any, limit: int = 80) -> str:
    """The start of an error page, printable characters only, for the message."""
    try:
        text = str(response.text)
    except Exception:  # a body that cannot be read or decoded: the status says enough
        return ""
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text[: limit * 4]).split())
    return cleaned[:limit] + ("..." if len(cleaned) > limit else "")


def _transport_problem(error: BaseException, what: str, target: KubeTarget) -> KubeAccessError:
    text = str(error) or type(error).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text or "certificate" in text.lower():
        return KubeAccessError(
            f"TLS with the API server at {target.server} failed on {what}: {text}",
            "the kubeconfig's certificate-authority(-data) does not match the server's certificate; "
            "fetch a fresh kubeconfig for this cluster",
        )
    kind = "timed out" if "Timeout" in type(error).__name__ else "is unreachable"
    return KubeAccessError(
        f"the API server at {target.server} {kind} ({what}): {text}",
        "check the --kubeconfig/--context (kubectl cluster-info should answer), the VPN or the tunnel",
    )


# ---------------------------------------------------------------------- connecting


def connect(kubeconfig: str | None = None, context: str | None = None) -> Kube:
    """A client from `--kubeconfig`/`--context`, else in-cluster, else KUBECONFIG, else ~/.kube/config."""
    import httpx2
    from lightkube import Client
    from lightkube.core.exceptions import ConfigError

    try:
        single, source = _single_config(kubeconfig, context)
        timeout = httpx2.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
        client = Client(config=single, timeout=timeout)
        bound_responses(client._client._client, str(single.cluster.server))
    except ConfigError as error:
        raise KubeConfigProblem(f"cannot use the kubeconfig: {error}") from None
    except AssertionError:
        raise KubeConfigProblem(
            f"the kubeconfig context has no user entry ({source}); add one or pick another --context"
        ) from None
    except (KeyError, TypeError, ValueError) as error:
        # lightkube indexes clusters and users by the names the context gives.
        raise KubeConfigProblem(f"cannot use the kubeconfig {source}: incomplete entry ({error!r})") from None
    except OSError as error:
        raise KubeConfigProblem(f"cannot use the kubeconfig {source}: {error}") from None
    return Kube(client, KubeTarget(kubeconfig, context, str(single.cluster.server)))


def bound_responses(http: Any, server: str, limit: int = MAX_RESPONSE_BYTES) -> None:
    """Make the httpx client under lightkube ask for uncompressed answers and read at most `limit` bytes of each,
    within BODY_DEADLINE (a response hook runs before the body is read; it wraps the body's stream)."""
    http.headers["Accept-Encoding"] = "identity"

    def hook(response: Any) -> None:
        what = f"{response.request.method} {response.request.url.path}"
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            response.close()
            raise KubeAccessError(
                f"the server at {server} answered {what} {encoding}-compressed although we asked for an "
                "uncompressed answer: its size cannot be bounded, not read",
                "check that the kubeconfig's server is a Kubernetes API server (not a proxy)",
            )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            response.close()
            raise _too_large(server, what, f"announced {int(declared):,} bytes", limit)
        response.stream = _bounded_stream_class()(response.stream, server, what, limit)

    hooks = http.event_hooks
    http.event_hooks = {"request": hooks["request"], "response": [*hooks["response"], hook]}


@functools.cache
def _bounded_stream_class() -> Any:
    """Defined on first use: httpx2 is imported only by commands that talk to a cluster."""
    import httpx2

    class BoundedStream(httpx2.SyncByteStream):
        """An httpx SyncByteStream that stops at `limit` bytes or BODY_DEADLINE seconds."""

        def __init__(self, inner: Any, server: str, what: str, limit: int) -> None:
            self._inner = inner
            self._server = server
            self._what = what
            self._limit = limit

        def __iter__(self) -> Iterator[bytes]:
            deadline = time.monotonic() + BODY_DEADLINE
            size = 0
            for chunk in self._inner:
                size += len(chunk)
                if size > self._limit:
                    raise _too_large(self._server, self._what, f"sent more than {self._limit:,} bytes", self._limit)
                if time.monotonic() > deadline:
                    raise KubeResponseTooLarge(
                        f"the API server at {self._server} was still sending its answer to {self._what} after "
                        f"{BODY_DEADLINE:.0f} s ({size:,} bytes so far): not waiting longer",
                        "check the --kubeconfig/--context, the VPN or the tunnel",
                    )
                yield chunk

        def close(self) -> None:
            self._inner.close()

    return BoundedStream


def _too_large(server: str, what: str, did: str, limit: int) -> KubeResponseTooLarge:
    return KubeResponseTooLarge(
        f"the API server at {server} {did} in answer to {what}; we read at most {limit:,} bytes "
        f"({limit // (1024 * 1024)} MiB) of an answer",
        "check that the kubeconfig's server is a Kubernetes API server (not a proxy or a file server)",
    )


def _single_config(kubeconfig: str | None, context: str | None) -> tuple[Any, str]:
    from lightkube import KubeConfig
    from lightkube.core.exceptions import ConfigError

    if kubeconfig is None and context is None:
        try:
            config = KubeConfig.from_service_account()
            return config.get(), "in-cluster service account"
        except (ConfigError, KeyError, OSError):
            pass
    path = kubeconfig or _env_kubeconfig()
    try:
        config = KubeConfig.from_file(path)
    except ConfigError:
        raise ConfigError(f"file {path} not found (pass --kubeconfig or set KUBECONFIG)") from None
    except KeyError as error:  # a YAML mapping without a section every kubeconfig has (lightkube reads it by key)
        raise ConfigError(f"{path} is not a kubeconfig: it has no {error.args[0]!r} section") from None
    except Exception as error:  # YAML and shape errors from a hand-edited file
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"{path} is not a kubeconfig: {first_line}") from None
    try:
        single = config.get(context)
    except ConfigError as error:
        known = ", ".join(sorted(config.contexts)) or "none"
        raise ConfigError(f"{error} in {path} (contexts: {known})") from None
    if single is None:
        raise ConfigError(f"{path} has no current-context; pass --context")
    return single, path


def _env_kubeconfig() -> str:
    """KUBECONFIG may list several files (kubectl merges them); we use the first that exists."""
    value = os.environ.get("KUBECONFIG", "")
    for candidate in value.split(os.pathsep):
        if candidate and Path(candidate).expanduser().is_file():
            return candidate
    return str(Path("~/.kube/config").expanduser()) if not value else value.split(os.pathsep)[0]
