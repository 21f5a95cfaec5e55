"""`plan-rotation --output html`: the rotation plan as a `Report`, so the HTML reporter draws it like a verify run.

One result per CA the plan looked at: `rotation.root` for the root, `rotation.intermediate` for each cluster's
intermediate. A CA inside the warning window (or forced, or no longer what the config asks for) warns, an expired
or missing one fails, and only a CA with nothing to note passes; every warning and failure carries the action as
its hint (the script written, the root rotation's command, or the note that explains it). The certificates become
facts under each cluster's target (its root and its intermediate), so the page draws root -> intermediate for every
cluster and puts every cluster on one expiry timeline. Nothing here reads Vault: it only restates the plan.
"""

from __future__ import annotations

import datetime as dt

from ...generator.render.rotation import SCRIPT_NAME
from ..checks.facts import CertificateFact, Facts
from ..checks.result import CheckResult, Report, Status
from .due import CaExpiry, RotationPlan

_STATUS = {"ok": Status.PASS, "due": Status.WARN, "expired": Status.FAIL}


def _finding(expiry: CaExpiry, state: str) -> str:
    return (
        f"{state.upper()}: {expiry.subject} (serial {expiry.serial}) at {expiry.source} expires "
        f"{expiry.not_after_text}, {int(expiry.days_left)} days left"
    )


def _fact(expiry: CaExpiry, role: str, target: str, cluster: str) -> CertificateFact:
    return CertificateFact(
        role=role,
        source="vault",
        target=target,
        cluster=cluster,
        position=0,
        subject=expiry.subject_cn or expiry.subject,
        not_after=expiry.not_after.timestamp(),
        not_before=expiry.not_before.timestamp() if expiry.not_before else 0.0,
        issuer=expiry.issuer,
        serial=expiry.serial,
        key_type=expiry.key_type,
    )


def rotation_report(result: RotationPlan, address: str, now: dt.datetime, out: str) -> Report:
    """The plan's verdicts and certificates; `out` is where the scripts were written (named in the hints)."""
    warn = result.warn_days
    checks: list[CheckResult] = []
    root = result.root
    notes = "; ".join(result.root_notes)
    if root is None:
        checks.append(CheckResult("rotation.root", Status.FAIL, address, "no root found", notes))
    else:
        state = root.status(warn)
        status = _STATUS[state]
        hint = notes
        if status is not Status.PASS:
            hint = "rotate the root in phases: istio-vault-ca plan-rotation --root" + (f"; {notes}" if notes else "")
        elif notes:
            status = Status.WARN
        checks.append(CheckResult("rotation.root", status, address, _finding(root, state), hint))
    rendered = {finding.name for finding in result.due()}
    certificates: list[CertificateFact] = []
    for finding in result.clusters:
        target = f"{address} (cluster {finding.name})"
        notes = "; ".join(finding.notes)
        expiry = finding.intermediate
        if root is not None:
            certificates.append(_fact(root, "root", target, finding.name))
        if expiry is None:
            checks.append(CheckResult("rotation.intermediate", Status.FAIL, target, "no intermediate found", notes))
            continue
        certificates.append(_fact(expiry, "intermediate", target, finding.name))
        state = expiry.status(warn)
        status = Status.FAIL if finding.key_broken else _STATUS[state]
        if status is Status.PASS and (notes or finding.config_changed or finding.name in result.forced):
            status = Status.WARN
        action = f"review and run {out}/{finding.name}/{SCRIPT_NAME} (written by this run)"
        hint = "; ".join(part for part in (action if finding.name in rendered else "", notes) if part)
        checks.append(CheckResult("rotation.intermediate", status, target, _finding(expiry, state), hint))
    facts = Facts(
        certificates,
        reachable={"vault": True},
        clusters=tuple(finding.name for finding in result.clusters),
        started=now.timestamp(),
        warn_days=warn,
    )
    return Report(checks, facts)
