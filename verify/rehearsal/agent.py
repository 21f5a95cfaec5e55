"""The Vault agent config the injector (vault-k8s) would build from istiod's pod annotations, for a local agent.

Annotations are read back from the rendered istiod overlay (whichever installer the tree has), not from the
config, so hand edits of the overlay are rehearsed too. The mapping follows vault-k8s `newConfig` for the
init container (`exit_after_auth = true`); only what cannot exist outside a pod changes: the Vault address,
the service-account token path, the token sink, the pid file, and the destination directory, which is
re-rooted under a private temp dir. Failures are made fast (one retry, exit on auth error) instead of
retrying for minutes as a pod would.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...generator.config.cafiles import ISTIOD_DEFAULT_CA_DIR
from ...generator.config.injectors import OPENBAO_K8S, VAULT_K8S, Injector, by_name, from_annotations
from ...generator.config.plan import KvEngine
from ...generator.errors import OverlayError
from ...generator.render.installers import all_installers
from ..checks import agent_logs
from ..checks.result import redact

# vault-k8s's names; an overlay written for openbao-k8s (openbao.org/* keys) is read with that injector's
# (`IstiodOverlay.injector`, generator/config/injectors.py).
PREFIX = VAULT_K8S.prefix
DEFAULT_SECRET_VOLUME_PATH = VAULT_K8S.default_volume_path
DEFAULT_AUTH_PATH = "auth/kubernetes"
DEFAULT_AUTH_TYPE = "kubernetes"
DEFAULT_MAP_TEMPLATE = '{{ with secret "%s" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}'
DEFAULT_JSON_TEMPLATE = '{{ with secret "%s" }}{{ .Data | toJSON }}\n{{ end }}'
SECRET_CALL = re.compile(r'\bsecret\s+"([^"]+)"')


@dataclass(frozen=True)
class IstiodOverlay:
    """istiod's pod annotations and environment as one rendered overlay file sets them."""

    source: str
    installer: str
    annotations: dict[str, str]
    env: dict[str, str]
    injector_name: str | None = None  # the injector that reads them (vault.injector); None: by their prefix

    @property
    def injector(self) -> Injector:
        """The injector that reads the annotations: the configured one, else the one their prefix is for."""
        return by_name(self.injector_name) if self.injector_name else from_annotations(self.annotations)

    @property
    def effective(self) -> dict[str, str]:
        """The annotations as the injector reads them. openbao-k8s (agent-inject/handler.go `Handler.Mutate` on
        main at 833d341) first moves every vault.hashicorp.com/<x> to openbao.org/<x> unless that key exists, so
        it injects vault-k8s annotations too, openbao.org/* winning; vault-k8s reads its own prefix only."""
        if self.injector is not OPENBAO_K8S:
            return self.annotations
        moved = dict(self.annotations)
        for key, value in self.annotations.items():
            if key.startswith(VAULT_K8S.prefix):
                moved.setdefault(OPENBAO_K8S.prefix + key[len(VAULT_K8S.prefix) :], value)
                del moved[key]
        return moved

    def annotation(self, name: str, default: str | None = None) -> str | None:
        return self.effective.get(self.injector.prefix + name, default)

    @property
    def secret_volume_path(self) -> str:
        # vault-k8s `Init` (agent-inject/agent/annotations.go) sets the default only when the annotation is absent;
        # openbao-k8s's default is the same /vault/secrets (container_volume.go on main).
        found = self.annotation("secret-volume-path")
        return self.injector.default_volume_path if found is None else found

    @property
    def root_ca_dir(self) -> str:
        value = self.env.get("ROOT_CA_DIR", ISTIOD_DEFAULT_CA_DIR)
        return posixpath.normpath(posixpath.join("/", value))


def read_overlay(path: Path, source: str) -> IstiodOverlay:
    """Parse one rendered istiod file: TSB ControlPlane overlay, IstioOperator overlay or istiod Helm values."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        document = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as error:
        raise OverlayError(f"{source}: cannot be read as YAML ({type(error).__name__})") from None
    if not isinstance(document, dict):
        raise OverlayError(f"{source}: is not a YAML mapping")
    for installer in all_installers():
        found = installer.read(document)
        if found is not None:
            annotations, env = found
            return IstiodOverlay(source, installer.NAME, _strings(annotations, source), _strings(env, source))
    raise OverlayError(f"{source}: no istiod podAnnotations found (TSB overlay, IstioOperator or Helm values)")


def _strings(values: Mapping[Any, Any], source: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, (dict, list)) or value is None:
            raise OverlayError(f"{source}: {key} must be a string")
        result[str(key)] = value if isinstance(value, str) else json.dumps(value)
    return result


@dataclass(frozen=True)
class AgentTemplate:
    """One `template` stanza: the file the agent writes for one `agent-inject-*-<name>` annotation set."""

    name: str
    mount_path: str
    file: str
    contents: str
    perms: str | None = None
    error_on_missing_key: bool = False
    left_delimiter: str = "{{"
    right_delimiter: str = "}}"
    file_annotation: bool = False  # `file` came from agent-inject-file-<name>

    @property
    def destination(self) -> str:
        """Where the injected agent writes it inside the pod: vault-k8s `newTemplateConfigs` (config.go) writes
        `<mount>/<name>` as a plain string, or Go's `filepath.Join(mount, file)` (cleaned; an absolute `file` stays
        under the mount) when agent-inject-file-<name> is set."""
        if self.file_annotation:
            return _go_join(self.mount_path, self.file)
        return f"{self.mount_path}/{self.name}"

    def secret_paths(self) -> tuple[str, ...]:
        return tuple(SECRET_CALL.findall(self.contents))


@dataclass(frozen=True)
class Injection:
    """What the injector takes from the annotations for the init container, plus what it cannot use here."""

    role: str | None
    auth_type: str
    auth_path: str
    auth_config: dict[str, str]
    templates: tuple[AgentTemplate, ...]
    unsupported: tuple[str, ...] = field(default=())
    service: str | None = None  # vault.hashicorp.com/service: the Vault address the agent uses in the Pod
    # vault.hashicorp.com/namespace: vault-k8s puts it on the auto_auth method (agent/config.go newConfig).
    namespace: str | None = None
    injector: Injector = VAULT_K8S  # whose in-Pod names (token sink, pid file) the agent config uses


def _go_join(*elements: str) -> str:
    """Go's `path/filepath.Join` on Linux: the non-empty elements joined by "/", then `Clean`ed."""
    joined = "/".join(element for element in elements if element)
    if not joined:
        return ""
    cleaned = posixpath.normpath(joined)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


# strconv.ParseBool's words; vault-k8s parses annotation booleans with go-secure-stdlib `parseutil.ParseBool`
# (mapstructure's weak decoding: "" is false, any other word is an error).
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("", "0", "f", "F", "FALSE", "false", "False")
# Booleans whose bad value makes vault-k8s deny the Pod (checked against the real injector by
# tests/e2e/test_injector_differential.py): `ShouldInject` (agent-inject), `Init`/`New` (agent-init-first,
# agent-pre-populate, agent-pre-populate-only) and `Agent.secrets` (error-on-missing-key-<name>).
STRICT_BOOLEANS = ("agent-inject", "agent-init-first", "agent-pre-populate", "agent-pre-populate-only")


def _bool(value: str | None) -> bool:
    """Lenient, as vault-k8s reads preserve-secret-case (`Agent.secretName` ignores the parse error): not
    strconv.ParseBool's true is false."""
    return value in _TRUE


def strict_bool(overlay: IstiodOverlay, name: str) -> bool | None:
    """An annotation vault-k8s parses strictly: None when absent; a word strconv.ParseBool does not know is an
    `OverlayError`, as the injector then refuses the Pod."""
    value = overlay.annotation(name)
    if value is None:
        return None
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise OverlayError(
        f"{overlay.source}: {overlay.injector.prefix}{name} is {value!r}, not a boolean: the injector refuses the Pod "
        '(strconv.ParseBool: use "true" or "false")'
    )


def _secret_names(annotations: Mapping[str, str], prefix: str = PREFIX) -> list[str]:
    """Suffixes of agent-inject-secret-/-template-file-/-template-, in annotation order, without repeats."""
    names: list[str] = []
    for key, value in annotations.items():
        # vault-k8s `Agent.secrets` skips blank annotations when it collects secret names.
        if not key.startswith(prefix) or not value.strip():
            continue
        short = key[len(prefix) :]
        for kind in ("agent-inject-secret-", "agent-inject-template-file-", "agent-inject-template-"):
            if short.startswith(kind):
                name = short[len(kind) :]
                if name and name not in names:
                    names.append(name)
                break
    return names


def parse_injection(overlay: IstiodOverlay) -> Injection:
    """Mirror vault-k8s v1.6.2 `agent-inject/agent/annotations.go` `Agent.secrets` and `authConfig`: one template
    per secret name, destination `<secret-volume-path>/<name>`, perms, etc. A boolean the injector would refuse
    raises `OverlayError`."""
    get = overlay.annotation
    for name in STRICT_BOOLEANS:
        strict_bool(overlay, name)
    unsupported: list[str] = []
    templates: list[AgentTemplate] = []
    prefix, annotations = overlay.injector.prefix, overlay.effective
    for raw in _secret_names(annotations, prefix):
        # The per-secret annotation, when present, wins over the pod-wide one (`Agent.preserveSecretCase`).
        own = get(f"preserve-secret-case-{raw}")
        preserve = _bool(own if own is not None else get("preserve-secret-case"))
        name = raw if preserve else raw.lower()
        if get(f"agent-inject-template-file-{raw}") is not None:
            unsupported.append(f"agent-inject-template-file-{raw} (a file inside the pod) cannot be rehearsed")
            continue
        contents = get(f"agent-inject-template-{raw}")
        if not contents:
            default = DEFAULT_JSON_TEMPLATE if get("agent-inject-default-template") == "json" else DEFAULT_MAP_TEMPLATE
            contents = default % (get(f"agent-inject-secret-{raw}") or "")
        if get(f"agent-inject-command-{raw}") is not None:
            unsupported.append(f"agent-inject-command-{raw} is not run by the rehearsal")
        templates.append(
            AgentTemplate(
                name=name,
                mount_path=_present(get(f"secret-volume-path-{raw}"), overlay.secret_volume_path),
                file=get(f"agent-inject-file-{raw}") or name,
                contents=contents,
                perms=get(f"agent-inject-perms-{raw}") or None,
                error_on_missing_key=bool(strict_bool(overlay, f"error-on-missing-key-{raw}")),
                file_annotation=bool(get(f"agent-inject-file-{raw}")),
                left_delimiter=get(f"agent-template-left-delim-{raw}") or "{{",
                right_delimiter=get(f"agent-template-right-delim-{raw}") or "}}",
            )
        )
    auth_config = {
        key[len(prefix + "auth-config-") :].replace("-", "_"): value
        for key, value in annotations.items()
        if key.startswith(prefix + "auth-config-")
    }
    return Injection(
        role=get("role") or auth_config.get("role"),
        auth_type=get("auth-type") or DEFAULT_AUTH_TYPE,
        auth_path=get("auth-path") or DEFAULT_AUTH_PATH,
        auth_config=auth_config,
        templates=tuple(templates),
        unsupported=tuple(unsupported),
        service=get("service"),
        namespace=get("namespace") or None,
        injector=overlay.injector,
    )


def _present(value: str | None, default: str) -> str:
    """vault-k8s `annotationsSecretValue`: the annotation's value when the key exists (even empty), else the
    default."""
    return default if value is None else value


def local_destination(root: Path, template: AgentTemplate) -> Path:
    """The pod path re-rooted under `root`, so `/vault/secrets/ca-key.pem` lands in `<root>/vault/secrets/`."""
    return _rerooted(root, template.destination)


def _rerooted(root: Path, pod_path: str) -> Path:
    return root.joinpath(*[part for part in pod_path.split("/") if part not in ("", ".", "..")])


# The service-account token every container reads (the `serviceaccount` mount the API server's ServiceAccount
# admission plugin adds); the agent's token sink and pid file are the injector's (`Injection.injector`: vault-k8s
# agent-inject/agent/agent.go and config.go, openbao-k8s's under /home/openbao).
POD_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def pod_config(injection: Injection, *, vault_address: str, token_path: str = POD_TOKEN_PATH) -> dict[str, Any]:
    """The agent config vault-k8s puts, base64 JSON, in the `VAULT_CONFIG` env of `vault-agent-init` (openbao-k8s:
    `BAO_CONFIG` of `openbao-agent-init`, the same JSON with its token sink and pid file under /home/openbao; its
    server stanza keeps the key `vault`, config.go `Config.Openbao` on main at 833d341).

    Follows vault-k8s v1.6.2 `agent-inject/agent/config.go` `Agent.newConfig(init=true)` with
    `newTemplateConfigs`, and `annotations.go` `Agent.authConfig` (token_path first, then every `auth-config-*`
    annotation, then `role`), for what istiod's annotations use; `vault_address` is the `service` annotation or
    the injector's `-vault-address`. `template_config.exit_on_retry_failure` is the injector's default (true).
    `tests/e2e/test_injector_differential.py` compares this, for every example config, with what the real
    injector (built from that module) writes into the Pod.
    """
    config: dict[str, Any] = {"token_path": token_path, **injection.auth_config}
    if injection.role:
        config["role"] = injection.role
    templates: list[dict[str, Any]] = []
    for template in injection.templates:
        stanza: dict[str, Any] = {
            "destination": template.destination,
            "contents": template.contents,
            "left_delimiter": template.left_delimiter,
            "right_delimiter": template.right_delimiter,
        }
        if template.perms:
            stanza["perms"] = template.perms
        if template.error_on_missing_key:
            stanza["error_on_missing_key"] = True
        templates.append(stanza)
    # Method.Namespace is vault.hashicorp.com/namespace (omitted when empty, as vault-k8s's `omitempty` does).
    method: dict[str, Any] = {"type": injection.auth_type}
    if injection.namespace:
        method["namespace"] = injection.namespace
    method.update(mount_path=injection.auth_path, config=config)
    return {
        "auto_auth": {
            "method": method,
            "sink": [{"type": "file", "config": {"path": injection.injector.sink_file}}],
        },
        "exit_after_auth": True,
        "pid_file": injection.injector.pid_file,
        "vault": {"address": vault_address},
        "template": templates,
        "template_config": {"exit_on_retry_failure": True},
    }


def localize(
    config: Mapping[str, Any],
    *,
    vault_address: str,
    token_path: Path,
    root: Path,
    sink_path: Path,
    pid_file: Path,
) -> dict[str, Any]:
    """An in-Pod agent config (ours from `pod_config`, or the real one read from a Pod) moved to run here.

    Only what cannot exist outside a Pod changes: the Vault address, the service-account token path, the token
    sink, the pid file and each template's destination (re-rooted under `root`); and failures are made fast (one
    retry, exit on an auth error) instead of retrying for minutes as a Pod would.
    """
    moved = json.loads(json.dumps(config))
    method = moved["auto_auth"]["method"]
    method["config"]["token_path"] = str(token_path)
    # A pod would retry a refused login forever; here the first refusal is the answer.
    method["exit_on_err"] = True
    sinks = moved["auto_auth"].get("sink") or []
    for index, sink in enumerate(sinks):
        where = sink.setdefault("config", {})
        where["path"] = str(sink_path if index == 0 else _rerooted(root, str(where.get("path", ""))))
    moved["pid_file"] = str(pid_file)
    moved["vault"] = {**moved.get("vault", {}), "address": vault_address, "retry": {"num_retries": 1}}
    for stanza in moved.get("template") or []:
        stanza["destination"] = str(_rerooted(root, str(stanza["destination"])))
    moved.setdefault("template_config", {})["exit_on_retry_failure"] = True
    return dict(moved)


def build_config(
    injection: Injection,
    *,
    vault_address: str,
    token_path: Path,
    root: Path,
    sink_path: Path,
    pid_file: Path,
) -> dict[str, Any]:
    """The agent config the rehearsal runs: `pod_config` moved by `localize`."""
    in_pod = pod_config(injection, vault_address=injection.service or vault_address)
    return localize(
        in_pod, vault_address=vault_address, token_path=token_path, root=root, sink_path=sink_path, pid_file=pid_file
    )


@dataclass(frozen=True)
class Diagnosis:
    """Why the agent failed, in one line, and what to change: for people, never raw log text."""

    cause: str
    hint: str


@dataclass(frozen=True)
class Expectation:
    """What the config says the login and the reads should be, so the hint names the value to fix."""

    namespace: str
    service_account: str
    policy: str
    kv: KvEngine
    # Where the cluster's step scripts are: `vault/`, or `clusters/<name>/vault/` in a fleet.
    scripts: str = "vault/"


_ERROR_LINE = re.compile(r"\[ERROR\]\s+(?P<message>[^\n]+)")


def diagnose(log: str, injection: Injection, expected: Expectation) -> Diagnosis:
    """The first known failure in an agent log (see `verify.agent_logs`); else its first error line."""
    found = agent_logs.find(log)
    diagnosis = _explain(found, injection, expected) if found is not None else None
    if diagnosis is not None:
        return diagnosis
    match = _ERROR_LINE.search(log)
    message = match.group("message").strip() if match else "exited without rendering the files"
    message = redact(re.sub(r"^(agent[\w.]*: )+", "", message))
    return Diagnosis(f"agent: {message[:200]}", "rerun with --keep DIR to inspect what was rendered")


def _explain(found: agent_logs.Finding, injection: Injection, expected: Expectation) -> Diagnosis | None:
    """The rehearsal's one-line cause and hint for a finding; None for kinds a local run has no better word for."""
    kind = agent_logs.Kind
    if found.kind in agent_logs.LOGIN_KINDS and found.message is not None:
        return _login(found, injection, expected)
    if found.kind is kind.READ_DENIED and found.path is not None:
        readers = [t.name for t in injection.templates if found.path in t.secret_paths()]
        reader = f" (the {', '.join(readers)} template reads it)" if readers else ""
        return Diagnosis(
            f"policy {expected.policy}: permission denied reading {found.path}",
            f"policy.hcl must grant read on {found.path}{reader}; re-render from the config rather than editing "
            "by hand",
        )
    if found.kind is kind.READ_ERROR and found.path is not None:
        return Diagnosis(
            f"reading {found.path}: {found.message} (HTTP {found.code})",
            f"the setup scripts must leave what the templates read at {found.path}; check their output and re-render",
        )
    if found.kind is kind.MISSING_KEY and found.expr is not None:
        names = [t.name for t in injection.templates if found.expr in t.contents]
        which = f"{names[0]} template" if len(names) == 1 else "a template"
        return Diagnosis(
            f'{which}: {found.expr} has no key "{found.key}"',
            f"{expected.kv.mount}/ is KV v{expected.kv.version}, whose templates read {expected.kv.template_syntax}; "
            "re-render from the config rather than editing by hand",
        )
    if found.kind is kind.PARSE_ERROR and found.message is not None:
        return Diagnosis(
            f"template does not parse: {found.message[:160]}",
            "the agent-inject-template-* annotation is not a valid consul-template; re-render from the config",
        )
    if found.kind is kind.UNREACHABLE:
        return Diagnosis(f"agent cannot reach Vault: {found.text}", "the local OpenBao server stopped early")
    return None


def _login(found: agent_logs.Finding, injection: Injection, expected: Expectation) -> Diagnosis:
    kind = agent_logs.Kind
    role = injection.role or "(none)"
    bound = f"{expected.namespace}/{expected.service_account}"
    if found.kind is kind.SA_NOT_BOUND:
        hint = f"role {role} must bind service account {expected.service_account} (bound_service_account_names)"
    elif found.kind is kind.NS_NOT_BOUND:
        hint = f"role {role} must bind namespace {expected.namespace} (bound_service_account_namespaces)"
    elif found.kind is kind.ROLE_MISSING:
        where = injection.auth_path
        step = f"{expected.scripts}05-kubernetes-auth.sh"
        hint = f"{injection.injector.prefix}role must name the role {step} writes at {where}"
    else:
        hint = f"the Kubernetes login at {injection.auth_path} must accept {bound}"
    return Diagnosis(f"role {role}: {found.message}", f"{hint}; re-render from the config rather than editing by hand")
