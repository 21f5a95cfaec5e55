"""The four CA files as istiod sees them inside its pod: present, their modes and owners (ids `pod.*`).

The full chain checks of `verify chain` run on the same bytes (`pod_file_checks`); `pod_file_results` judges what
collect read in one pod (the files, or why there are none) as the release of the pod's image loads them.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ....generator.config.defaults import WARN_DAYS
from ..registry import Tier, check, run
from ..result import CheckResult, errored, failed, passed, skipped, warned

if TYPE_CHECKING:
    from ....generator.config.plan import ClusterPlan
    from ...clients.podfiles import PodFiles
    from ..chain.versions import IstioVersion
    from .state import PodState


@dataclass(frozen=True)
class PodFilesView:
    """The input of every `pod.*` check: the files read in the pod and the cluster's plan."""

    files: PodFiles
    plan: ClusterPlan

    @property
    def target(self) -> str:
        return self.files.target


@check("pod.ca-files-present", tier=Tier.ISTIOD_REFUSES)
def ca_files_present(view: PodFilesView) -> CheckResult:
    """The four files are in ca_dir inside the running pod: the files istiod itself reads."""
    files = view.files
    check_id = "pod.ca-files-present"
    missing = [name for name, data in files.values.items() if data is None]
    empty = [name for name, data in files.values.items() if data is not None and not data.strip()]
    if missing or empty:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"empty {', '.join(empty)}"] if empty else []
        )
        return failed(
            check_id,
            files.target,
            f"{'; '.join(parts)} in {files.directory}: istiod without ca-key.pem falls back to self-signed",
            "the agent did not render them: see cluster.agent-init-succeeded and cluster.annotations-match",
        )
    return passed(check_id, files.target, f"all four CA files are in {files.directory}")


@check("pod.ca-file-modes", tier=Tier.POLICY)
def ca_file_modes(view: PodFilesView) -> CheckResult:
    """The key is owner-only at the configured mode, and owned by the uid istiod runs as."""
    files, plan = view.files, view.plan
    check_id = "pod.ca-file-modes"
    agent = plan.config.istiod.agent
    wanted = int(agent.key_file_mode, 8)
    problems: list[str] = []
    notes: list[str] = []
    for name, mode in sorted(files.modes.items()):
        if mode is None:
            continue
        uid = files.uids.get(name)
        others_read = bool(mode & stat.S_IROTH)
        owner_is_istiod = uid is None or uid == agent.run_as_user
        if name == "ca-key.pem":
            if mode & 0o077:
                problems.append(f"ca-key.pem is {mode:04o}: group or other users in the pod can read the CA key")
            elif mode != wanted:
                notes.append(f"ca-key.pem is {mode:04o}, the config says {agent.key_file_mode}")
            if not owner_is_istiod:
                problems.append(
                    f"ca-key.pem is owned by uid {uid}, istiod runs as {agent.run_as_user} and cannot read it"
                )
        elif not (mode & stat.S_IRUSR and owner_is_istiod) and not others_read:
            problems.append(f"{name} is {mode:04o} (uid {uid}): istiod (uid {agent.run_as_user}) cannot read it")
    if problems:
        return failed(
            check_id,
            files.target,
            "; ".join(problems),
            f"vault.hashicorp.com/agent-run-as-user must be istiod's uid ({agent.run_as_user}) and "
            f"agent-inject-perms-ca-key.pem {agent.key_file_mode}: re-apply the rendered overlay",
        )
    modes = ", ".join(f"{n} {m:04o}" for n, m in sorted(files.modes.items()) if m is not None)
    if notes:
        return warned(check_id, files.target, "; ".join(notes), "re-apply the rendered overlay")
    return passed(check_id, files.target, f"modes as rendered ({modes})")


def pod_file_checks(
    files: PodFiles, plan: ClusterPlan, *, warn_days: int = WARN_DAYS, version: IstioVersion | None = None
) -> list[CheckResult]:
    """Presence, modes and the full chain checks of `verify chain` on the files istiod reads, as `version` does (and
    for an ambient cluster as ztunnel takes them)."""
    from ..chain import DEFAULT, check_values

    results = run("pod", PodFilesView(files, plan))
    results.extend(
        check_values(
            files.values,
            target=files.target,
            warn_days=warn_days,
            version=version or DEFAULT,
            data_plane=plan.data_plane,
        )
    )
    return results


def pod_file_results(
    pod: PodState, plan: ClusterPlan, *, warn_days: int, istio_version: IstioVersion | None = None
) -> list[CheckResult]:
    """The rows of one pod's CA files as collect read them: the checks above and the chain checks, as the release
    of the pod's image loads them (`istio_version`, from --istio-version, overrides it; no release in the tag means
    the newest); an error naming why the files could not be read; a skip when discovery was not running. No rows
    for a pod whose files were not read."""
    read = pod.ca_files
    if read is None:
        return []
    if read.files is not None:
        return pod_file_checks(read.files, plan, warn_days=warn_days, version=istio_version or pod.release)
    if read.problem:
        return [errored("pod.ca-files-present", read.where, f"cannot read the files: {read.problem}", read.hint)]
    return [skipped("pod.ca-files-present", read.where, "discovery is not running, so there is nothing to exec into")]
