"""The state one rehearsal shares between its steps: the private workdir, the tree, what it started.

Every path handed to a child process is absolute: children run with the workdir as their cwd, so a relative
`--from out/` would otherwise name a file that is not there (bash exits 127).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...generator.render.layout import Layout, layout_for
from . import processes, tokenreview
from .consistency import OverlayCheck
from .openbao import DevServer
from .results import Options

if TYPE_CHECKING:
    from ...generator.config.loader import LoadedConfig
    from ...generator.config.plan import ClusterPlan
    from ..checks.facts import CertificateFact


@dataclass
class Workspace:
    options: Options
    loaded: LoadedConfig
    bao: str
    plans: tuple[ClusterPlan, ...]
    layout: Layout
    workdir: Path
    tree: Path
    server: DevServer | None = None
    endpoint: tokenreview.TokenReviewServer | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    overlays: dict[str, OverlayCheck] = field(default_factory=dict)
    offline_root: tuple[Any, Any] | None = None
    # Facts of the certificates the agent wrote, per cluster (for the HTML report's chain and timeline).
    certificates: list[CertificateFact] = field(default_factory=list)

    @classmethod
    def create(cls, options: Options, loaded: LoadedConfig, bao: str) -> Workspace:
        """A fresh 0700 temp dir; the tree is --from made absolute, else a render into the temp dir."""
        from ...generator.config.plan import plan

        plans = plan(loaded.config)
        workdir = Path(tempfile.mkdtemp(prefix="ivc-rehearsal-"))
        tree = options.from_dir.resolve() if options.from_dir is not None else workdir / "tree"
        return cls(options, loaded, bao, plans, layout_for(plans), workdir, tree)

    def plan_of(self, script: str) -> ClusterPlan | None:
        """The cluster a script belongs to (None for the shared root/ scripts of a multi-cluster tree)."""
        if not self.layout.multi:
            return self.layout.clusters[0].plan
        return next((c.plan for c in self.layout.clusters if script.startswith(c.prefix)), None)

    @property
    def audit_log(self) -> Path:
        """The audit log of this run's server: the scripts' AUDIT_FILE_PATH and the declared device's file_path."""
        audit_dir = self.workdir / "audit"
        audit_dir.mkdir(mode=0o700, exist_ok=True)
        return audit_dir / "vault-audit.log"

    def script_env(self, cluster_plan: ClusterPlan | None) -> dict[str, str]:
        """The user's environment minus anything that points at a real Vault or cluster, plus this run's."""
        assert self.server is not None and self.endpoint is not None
        dropped = ("AUDIT_FILE_PATH", "TOKEN_REVIEWER_JWT_FILE", "CSR_DIR", "SIGNED_CERT_FILE", "ROOT_CERT_FILE")
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("VAULT_", "BAO_", "K8S_")) and key not in dropped
        }
        env = self.server.env(base)
        scratch = self.workdir / "scratch"
        scratch.mkdir(mode=0o700, exist_ok=True)
        env.update(
            HOME=str(scratch),
            TMPDIR=str(scratch),
            AUDIT_FILE_PATH=str(self.audit_log),
            K8S_HOST=self.endpoint.url,
            K8S_CA_CERT_FILE=str(self.workdir / "kubernetes-ca.crt"),
            CSR_DIR=str(self.workdir / "csr"),
            ROOT_CERT_FILE=str(self.workdir / "offline-root.pem"),
        )
        reviewer = cluster_plan.kubernetes_auth.token_reviewer if cluster_plan else None
        if cluster_plan is not None and cluster_plan.kubernetes_auth.reviewer == "secret" and reviewer is not None:
            jwt = self.mint(f"reviewer-{cluster_plan.name}", reviewer.namespace, reviewer.service_account)
            env["TOKEN_REVIEWER_JWT_FILE"] = str(jwt)
        return env

    def mint(self, name: str, namespace: str, service_account: str) -> Path:
        """A service-account JWT the TokenReview endpoint accepts, in a 0600 file of the workdir."""
        assert self.endpoint is not None
        directory = self.workdir / "jwt"
        directory.mkdir(mode=0o700, exist_ok=True)
        path = directory / f"{name}.jwt"
        path.touch(mode=0o600)
        path.write_text(self.endpoint.signer.mint(namespace, service_account), encoding="ascii")
        return path

    def run_logged(self, argv: list[str], env: dict[str, str], log: Path, timeout: float) -> int:
        return processes.run_logged(argv, env, log, timeout, cwd=self.workdir, started=self.processes)
