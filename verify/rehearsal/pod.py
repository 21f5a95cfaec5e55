"""The istiod pod's side: a real `bao agent` renders the four CA files as vault-agent-init would, then the
verifier's chain checks run over them. `--keep` copies them out before the temp dir goes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ...generator.config.cafiles import CA_FILES, CA_KEY
from ...generator.errors import RehearsalStepFailed
from ...generator.render.layout import ClusterLayout, step_script
from ..checks.facts import CertificateFact
from ..checks.result import CheckResult, Status
from . import agent
from .results import Done
from .workspace import Workspace


def run_agent(ws: Workspace, cluster: ClusterLayout) -> Done:
    """Log in as istiod's service account and render the templates once; a failure is diagnosed from the log."""
    assert ws.server is not None
    injection = ws.overlays[cluster.name].injection
    istiod = cluster.plan.config.istiod
    base = ws.workdir / "pods" / cluster.name
    base.mkdir(mode=0o700, parents=True)
    config = agent.build_config(
        injection,
        vault_address=ws.server.address,
        token_path=ws.mint(f"istiod-{cluster.name}", istiod.namespace, istiod.service_account),
        root=base / "fs",
        sink_path=base / "vault-token",
        pid_file=base / "agent.pid",
    )
    config_file = base / "agent.json"
    config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
    env = {"HOME": str(base), "PATH": os.environ.get("PATH", ""), "TMPDIR": str(base)}
    log = base / "agent.log"
    code = ws.run_logged([ws.bao, "agent", f"-config={config_file}"], env, log, ws.options.agent_timeout)
    if code != 0:
        expected = agent.Expectation(
            istiod.namespace,
            istiod.service_account,
            cluster.plan.cluster.policy,
            cluster.plan.kv,
            step_script(cluster.plan, ""),
        )
        diagnosis = agent.diagnose(log.read_text(encoding="utf-8", errors="replace"), injection, expected)
        keep(ws, cluster, base / "fs" / ws.overlays[cluster.name].root_ca_dir.lstrip("/"))
        raise RehearsalStepFailed(diagnosis.cause, diagnosis.hint)
    root = base / "fs"
    missing = [t.name for t in injection.templates if not agent.local_destination(root, t).is_file()]
    if missing:
        raise RehearsalStepFailed(f"the agent exited 0 but wrote no {', '.join(missing)}")
    return Done(
        f"logged in as {istiod.namespace}/{istiod.service_account} (role {injection.role} at "
        f"{injection.auth_path}) and wrote {len(injection.templates)} files as "
        f"{injection.injector.init_container} would"
    )


def check_files(ws: Workspace, cluster: ClusterLayout) -> Done:
    """The chain checks over what the agent wrote; a `<no value>` gets a hint about the KV version."""
    checked = ws.overlays[cluster.name]
    ca_dir = ws.workdir / "pods" / cluster.name / "fs" / checked.root_ca_dir.lstrip("/")
    target = checked.root_ca_dir + (f" (cluster {cluster.name})" if ws.layout.multi else "")
    key_template = next((t for t in checked.injection.templates if t.name == CA_KEY), None)
    checks = check_ca_files(ca_dir, target, key_template.perms if key_template else None)
    ws.certificates.extend(ca_file_facts(ca_dir, target, cluster.name))
    keep(ws, cluster, ca_dir)
    bad = next((check for check in checks if check.failed), None)
    if bad is not None:
        hint = bad.hint
        if "<no value>" in bad.finding:
            kv = cluster.plan.kv
            hint = (
                f"{kv.mount}/ is KV v{kv.version}, whose templates read {kv.template_syntax}; re-render from the config"
            )
        raise RehearsalStepFailed(bad.finding, hint, checks)
    warnings = [check for check in checks if check.status is Status.WARN]
    finding = f"{len(checks) - len(warnings)} chain checks passed: key matches, chain verifies, SPIFFE leaf verifies"
    return Done(finding, Status.WARN if warnings else Status.PASS, tuple(checks))


def check_ca_files(directory: Path, target: str, key_perms: str | None = None) -> list[CheckResult]:
    """The chain checks (`chain.*`) over the files the agent wrote; `target` names them without the temp path."""
    from ..checks import chain

    values, key_mode = chain.read_dir(directory)
    results = chain.check_values(values, target=target, key_mode=key_mode)
    if key_perms and key_mode is not None and key_mode != int(key_perms, 8):
        results.append(
            CheckResult(
                "rehearsal.key-perms",
                Status.FAIL,
                target,
                f"ca-key.pem has mode {key_mode:04o}, not the {key_perms} of agent-inject-perms-ca-key.pem",
            )
        )
    return results


def ca_file_facts(directory: Path, target: str, cluster: str) -> list[CertificateFact]:
    """The facts of the certificates the agent wrote (read again: the checks keep no values), under the target the
    checks name, so the HTML report draws each cluster's chain beside its checks."""
    from ..checks import chain
    from ..checks.facts import certificate_facts

    values, _ = chain.read_dir(directory)
    return certificate_facts(values, source="pod", target=target, cluster=cluster)


def keep(ws: Workspace, cluster: ClusterLayout, ca_dir: Path) -> None:
    """--keep DIR: copy the four files out (dir 0700, key 0600) before the temp dir goes."""
    keep_dir = ws.options.keep_dir
    if keep_dir is None:
        return
    target = keep_dir / cluster.name if ws.layout.multi else keep_dir
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(target, 0o700)
    if ws.layout.multi:
        os.chmod(keep_dir, 0o700)
    for name in CA_FILES:
        source = ca_dir / name
        if source.is_file():
            destination = target / name
            destination.unlink(missing_ok=True)
            mode = 0o600 if name == CA_KEY else 0o644
            fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as stream:
                stream.write(source.read_bytes())
