"""The steps that run the rendered scripts: setup, the offline-root import, and the idempotency re-run.

A script's failure is reported with its own `[step] ERROR:` line; the re-run compares comparable values of
everything the scripts manage (serials and digests, never secret values) before and after.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...generator.errors import RehearsalStepFailed
from ...generator.render.layout import ClusterLayout
from .openbao import DevServer
from .results import Done
from .workspace import Workspace

if TYPE_CHECKING:
    from ...generator.config.plan import ClusterPlan

_SCRIPT_ERROR = re.compile(r"^\[(?P<step>[\w-]+)\] ERROR: (?P<message>.+)$", re.MULTILINE)


def run_script(ws: Workspace, script: str, run: str) -> str:
    """Run one script of the tree; its `[setup] done` line, or a failure naming the script's own error."""
    log = ws.workdir / "logs" / f"{script.replace('/', '_')}.{run}.log"
    code = ws.run_logged(
        ["bash", str(ws.tree / script)], ws.script_env(ws.plan_of(script)), log, ws.options.setup_timeout
    )
    text = log.read_text(encoding="utf-8", errors="replace")
    if code == 127:
        # bash's "command not found": a program or file is missing; the script's Vault steps never ran.
        raise RehearsalStepFailed(
            f"{script} exited 127: {script_cause(text)}",
            "bash could not find a file or program the script runs; check the tree path and the script's commands",
        )
    if code != 0:
        raise RehearsalStepFailed(
            f"{script} exited {code}: {script_cause(text)}",
            "the script's own message says what to change; re-render from the config if it was edited",
        )
    done = [line for line in text.splitlines() if line.startswith("[setup] done")]
    return done[-1].removeprefix("[setup] ") if done else "exit 0"


def setup(ws: Workspace, script: str) -> Done:
    return Done(run_script(ws, script, "first"))


def import_intermediate(ws: Workspace, cluster: ClusterLayout) -> Done:
    """Offline root: sign the CSR setup.sh wrote, as `istio-vault-ca sign-intermediate` would, then import."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from ...generator.errors import OfflineRootError
    from ...generator.pki.offline_root import sign_intermediate

    root_cert, root_key = _offline_root(ws)
    csr_file = ws.workdir / "csr" / f"{cluster.name}-intermediate.csr"
    try:
        csr = x509.load_pem_x509_csr(csr_file.read_bytes())
        signed = sign_intermediate(
            root_cert,
            root_key,
            csr,
            ttl_seconds=cluster.plan.intermediate_ttl_seconds,
            max_path_length=cluster.plan.intermediate.max_path_length,
        )
    except (OSError, ValueError, OfflineRootError) as error:
        raise RehearsalStepFailed(
            f"signing {csr_file.name} failed: {error}", "setup.sh must write the CSR to CSR_DIR"
        ) from None
    signed_file = csr_file.with_suffix(".pem")
    signed_file.write_bytes(signed.certificate.public_bytes(serialization.Encoding.PEM))
    assert cluster.import_script is not None
    return Done(
        f"signed {signed.certificate.subject.rfc4514_string()}; {run_script(ws, cluster.import_script, 'first')}"
    )


def _offline_root(ws: Workspace) -> tuple[Any, Any]:
    """A root CA made for this run only, standing in for the offline root; its key never leaves memory."""
    if ws.offline_root is None:
        ws.offline_root = make_offline_root(ws.loaded.config.root.common_name, ws.loaded.config.root.ttl)
        from cryptography.hazmat.primitives import serialization

        (ws.workdir / "offline-root.pem").write_bytes(ws.offline_root[0].public_bytes(serialization.Encoding.PEM))
    return ws.offline_root


def make_offline_root(common_name: str, ttl: str) -> tuple[Any, Any]:
    """A self-signed root CA (EC P-256: quick to make) valid for the configured root TTL."""
    import datetime as dt

    from ...generator.config.durations import parse_duration
    from ...generator.pki.factory import self_signed_ca

    root = self_signed_ca(common_name, lifetime=dt.timedelta(seconds=parse_duration(ttl)))
    return root.cert, root.key


def rerun(ws: Workspace) -> Done:
    """Every script again: it must exit 0 and change nothing (no new CA, no replaced key)."""
    assert ws.server is not None
    namespaces = {p.name: p.namespace for p in ws.plans}
    paths = [
        (namespaces.get(name), path)
        for name, checked in ws.overlays.items()
        for template in checked.injection.templates
        for path in template.secret_paths()
    ]
    before = vault_state(ws.server, ws.plans, paths)
    for script in ws.layout.all_scripts:
        run_script(ws, script, "second")
    after = vault_state(ws.server, ws.plans, paths)
    changed = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    if changed:
        raise RehearsalStepFailed(
            f"the second run changed {', '.join(changed[:4])}{' …' if len(changed) > 4 else ''}",
            "the scripts must be idempotent and never replace a CA or the stored key; re-render from the config",
        )
    serials = sorted({value[len("serial ") :][:8] for value in before.values() if value.startswith("serial ")})
    return Done(
        f"exit 0; none of {len(before)} values changed: CA serials {', '.join(serials)}, the stored key, "
        "mounts, auth, roles, policies"
    )


def script_cause(text: str) -> str:
    """The script's own `[step] ERROR: ...` line (first line of it), else its last line."""
    errors = list(_SCRIPT_ERROR.finditer(text))
    if errors:
        last = errors[-1]
        return f"[{last.group('step')}] {last.group('message')}"
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


# ---------------------------------------------------------------------------------------------------------
# Vault state before and after the second run of the scripts.


def _vault_get(server: DevServer, path: str, namespace: str | None = None) -> Any:
    url = f"{server.address}/v1/{path}"
    headers = {"X-Vault-Token": server.token, **({"X-Vault-Namespace": namespace} if namespace else {})}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback dev server
            return json.load(response)
    except urllib.error.HTTPError as error:
        if error.code in (400, 404):
            return None
        raise


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _serial(certificate_pem: str) -> str:
    from cryptography import x509

    serial = x509.load_pem_x509_certificates(certificate_pem.encode())[0].serial_number
    return f"{serial:x}"


def vault_state(
    server: DevServer, plans: Sequence[ClusterPlan], paths: Sequence[tuple[str | None, str]]
) -> dict[str, str]:
    """Comparable values (serials, digests; never secret values) of everything the scripts manage, each read in
    its Vault namespace (`paths`: (namespace, path) pairs); keys name the namespace when there is one."""
    state: dict[str, str] = {}

    def get(namespace: str | None, path: str) -> Any:
        return _vault_get(server, path, namespace) or {}

    def key(namespace: str | None, path: str) -> str:
        return f"{namespace}/{path}" if namespace else path

    for namespace, path in sorted(set(paths), key=lambda item: (item[0] or "", item[1])):
        data = get(namespace, path).get("data") or {}
        certificate = data.get("certificate")
        value = f"serial {_serial(certificate)}" if isinstance(certificate, str) else _digest(data)
        state[key(namespace, path)] = value
    namespaces = sorted({p.config.vault.namespace for p in plans} | {p.namespace for p in plans}, key=str)
    for namespace in namespaces:
        mounts = get(namespace, "sys/mounts").get("data") or {}
        for mount, details in mounts.items():
            state[key(namespace, f"sys/mounts/{mount}")] = _digest(
                {k: details.get(k) for k in ("type", "options", "config")}
            )
            if details.get("type") == "pki":
                for listing in ("issuers", "keys"):
                    keys = (get(namespace, f"{mount}{listing}?list=true").get("data") or {}).get("keys")
                    state[key(namespace, f"{mount}{listing}")] = _digest(sorted(keys or []))
        state[key(namespace, "sys/auth")] = _digest(get(namespace, "sys/auth").get("data"))
    state["sys/audit"] = _digest(get(None, "sys/audit").get("data"))
    for p in plans:
        for path in (
            f"{p.auth_path}/config",
            f"{p.auth_path}/role/{p.cluster.role}",
            f"sys/policies/acl/{p.cluster.policy}",
        ):
            state[key(p.namespace, path)] = _digest(get(p.namespace, path).get("data"))
    return state
