"""`istio-vault-ca plan-rotation`: how long each CA has left, and the scripts that rotate the intermediates due.

It reads the live Vault as the vault CLI would (VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT), reports the root and
every cluster's intermediate with the days left, and decides what is due; generator/render/rotation.py renders
one script per intermediate inside the warning window, or no longer what the config asks for ("config changed":
setup.sh keeps an existing intermediate), each a new key and certificate under the same root, KV updated last.
The scripts are the explicit instruction to replace an intermediate; nothing is changed by this command. Root
rotation is only reported, with the steps Istio needs, because every cluster must trust the new root before
anything is signed by it.

Exit codes: 0 nothing due; 1 something due, expired or missing (scripts rendered for what can be rotated);
2 usage or config error; 3 Vault unreachable, sealed or not authorised.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from ..generator.config.cafiles import CA_CERT, ROOT_CERT
from ..generator.config.plan import ClusterPlan
from ..generator.render.rotation import ROOT_STEPS, SCRIPT_NAME, render_rotation
from .checks.result import Status

if TYPE_CHECKING:
    from ..generator.config.model import Config
    from .checks.vault import VaultState
    from .clients.vault import VaultApi

# Issuer ids are UUIDs; anything else from the API is not put into a script.
ISSUER_ID = re.compile(r"^[0-9a-f][0-9a-f-]{0,63}$")
DAY = 86400.0


@dataclass(frozen=True)
class CaExpiry:
    """One CA certificate's identity and time left; no key material."""

    source: str
    subject: str
    serial: str
    not_after: dt.datetime
    days_left: float
    issuer_id: str = ""

    def status(self, warn_days: int) -> str:
        if self.days_left <= 0:
            return "expired"
        return "due" if self.days_left <= warn_days else "ok"

    @property
    def not_after_text(self) -> str:
        return f"{self.not_after:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class ClusterFinding:
    plan: ClusterPlan
    intermediate: CaExpiry | None
    notes: tuple[str, ...] = ()
    # The stored key is gone or is not the intermediate's: istiod cannot load the CA until it is repaired.
    key_broken: bool = False
    # The intermediate in Vault is not what the config asks for (setup.sh keeps it): a rotation issues the new one.
    config_changed: bool = False

    @property
    def name(self) -> str:
        return self.plan.name


@dataclass(frozen=True)
class RotationPlan:
    root: CaExpiry | None
    root_notes: tuple[str, ...]
    clusters: tuple[ClusterFinding, ...]
    warn_days: int
    # Clusters named with --force: their script is rendered even when nothing is due (e.g. the stored key is lost).
    forced: frozenset[str] = frozenset()

    def due(self) -> tuple[ClusterFinding, ...]:
        """Intermediates inside the window (or expired), or forced, that a script can rotate."""
        return tuple(
            finding
            for finding in self.clusters
            if finding.intermediate is not None
            and (
                finding.intermediate.status(self.warn_days) != "ok"
                or finding.name in self.forced
                or finding.config_changed
            )
            and ISSUER_ID.match(finding.intermediate.issuer_id)
        )

    @property
    def root_due(self) -> bool:
        return self.root is not None and self.root.status(self.warn_days) != "ok"

    @property
    def attention(self) -> bool:
        """Anything a person must act on: a CA due or expired, or one that could not be read."""
        missing = self.root is None or any(f.intermediate is None for f in self.clusters)
        due = any(f.intermediate is not None and f.intermediate.status(self.warn_days) != "ok" for f in self.clusters)
        broken = any(f.key_broken or f.config_changed for f in self.clusters)
        return missing or due or broken or self.root_due or bool(self.due())


# ---------------------------------------------------------------- reading Vault


def expiry_of(cert: x509.Certificate, source: str, now: dt.datetime, issuer_id: str = "") -> CaExpiry:
    return CaExpiry(
        source=source,
        subject=cert.subject.rfc4514_string(),
        serial=f"{cert.serial_number:x}",
        not_after=cert.not_valid_after_utc,
        days_left=(cert.not_valid_after_utc - now).total_seconds() / DAY,
        issuer_id=issuer_id,
    )


def survey(
    api: VaultApi,
    config: Config,
    plans: tuple[ClusterPlan, ...],
    root_file: Path | None,
    now: dt.datetime,
    config_source: str | None = None,
) -> tuple[CaExpiry | None, tuple[str, ...], tuple[ClusterFinding, ...]]:
    """The root and each cluster's intermediate as Vault serves them (the paths the agent templates read)."""
    from ..generator.errors import VaultApiError
    from .checks.vault import VaultState, intermediate_differences, kv_key_matches

    state = VaultState(api, config, 0, now, config_source=config_source)
    root, root_notes = _root(state, plans, root_file, now)
    findings: list[ClusterFinding] = []
    for cluster in plans:
        int_path = _path(cluster, CA_CERT)
        mount = cluster.cluster.intermediate_mount
        try:
            cert = state.certificate(int_path)
        except VaultApiError as error:
            cert, reason = None, str(error)
        else:
            reason = "nothing there"
        if cert is None:
            findings.append(
                ClusterFinding(
                    cluster, None, (f"no intermediate at {int_path} ({reason}): run the cluster's vault/setup.sh",)
                )
            )
            continue
        issuer_id = str((state.data(f"{mount}/config/issuers") or {}).get("default") or "")
        notes: list[str] = []
        key_broken = False
        try:
            key_check = kv_key_matches(state, cluster)
            if key_check.status is not Status.PASS:
                key_broken = True
                notes.append(f"{key_check.finding}; {key_check.hint}")
        except VaultApiError as error:
            notes.append(f"the stored key could not be compared: {error}")
        differences = intermediate_differences(cert, cluster, state.certificate(_path(cluster, ROOT_CERT)))
        if differences:
            notes.append("config changed: " + "; ".join(d.describe() for d in differences))
        seconds = cluster.intermediate_ttl_seconds
        if root is not None and now + dt.timedelta(seconds=seconds) > root.not_after:
            notes.append(
                f"a new intermediate of {cluster.intermediate.ttl} would end after the root ({root.not_after_text}): "
                "rotate the root first, or shorten the intermediate ttl"
            )
        if not ISSUER_ID.match(issuer_id):
            notes.append(f"{mount}/ has no usable default issuer id ({issuer_id!r}); no script rendered")
        expiry = expiry_of(cert, int_path, now, issuer_id)
        findings.append(ClusterFinding(cluster, expiry, tuple(notes), key_broken, bool(differences)))
    return root, root_notes, tuple(findings)


def _root(
    state: VaultState, plans: tuple[ClusterPlan, ...], root_file: Path | None, now: dt.datetime
) -> tuple[CaExpiry | None, tuple[str, ...]]:
    """Vault's root (root mount, or the imported offline root); in external mode also root.certificate_file."""
    from ..generator.errors import VaultApiError
    from .checks.vault import root_differences

    notes: list[str] = []
    root_path = _path(plans[0], ROOT_CERT)
    try:
        in_vault = state.certificate(root_path)
    except VaultApiError as error:
        in_vault = None
        notes.append(f"reading {root_path} failed: {error}")
    from_file: x509.Certificate | None = None
    if root_file is not None:
        try:
            from_file = x509.load_pem_x509_certificate(root_file.read_bytes())
        except (OSError, ValueError) as error:
            notes.append(
                f"root.certificate_file {root_file} cannot be read as a PEM certificate ({type(error).__name__})"
            )
    if from_file is not None and in_vault is not None and from_file != in_vault:
        notes.append(f"the root imported at {root_path} is not the one in {root_file}")
    if in_vault is not None:
        if state.config.root.mode == "vault" and (differences := root_differences(in_vault, state.config.root)):
            notes.append(
                "config changed: " + "; ".join(d.describe() for d in differences) + " (setup.sh keeps the root: "
                "rotate it with plan-rotation --root, or set root.* back)"
            )
        return expiry_of(in_vault, root_path, now), tuple(notes)
    if from_file is not None:
        return expiry_of(from_file, str(root_file), now), tuple(notes)
    notes.append(f"no root at {root_path}")
    return None, tuple(notes)


def _path(cluster: ClusterPlan, name: str) -> str:
    return next(f.secret_path for f in cluster.ca_files() if f.name == name)


# ---------------------------------------------------------------- report


def report_lines(result: RotationPlan) -> list[str]:
    lines = [f"warning window: {result.warn_days} days"]
    rendered = {finding.name for finding in result.due()}
    entries: list[tuple[str, CaExpiry | None, tuple[str, ...], str, bool]] = [
        ("root", result.root, result.root_notes, "", False)
    ]
    entries += [
        (
            f"cluster {finding.name}",
            finding.intermediate,
            finding.notes,
            f" -> {finding.name}/{SCRIPT_NAME}" + (" (--force)" if finding.name in result.forced else "")
            if finding.name in rendered
            else "",
            finding.config_changed,
        )
        for finding in result.clusters
    ]
    for label, expiry, notes, action, changed in entries:
        if expiry is None:
            lines.append(f"{label}: MISSING")
        else:
            status = expiry.status(result.warn_days)
            if changed and status == "ok":
                status = "due (config changed)"
            lines.append(
                f"{label}: {status.upper()} {expiry.subject} (serial {expiry.serial}) at {expiry.source} expires "
                f"{expiry.not_after_text}, {int(expiry.days_left)} days left{action}"
            )
        lines += [f"  note: {note}" for note in notes]
    return lines


# ---------------------------------------------------------------- command


def plan_command(args: argparse.Namespace) -> int:
    """plan-rotation -c CONFIG [--cluster NAME] [-o OUT] [--warn-days N] [--force CLUSTER]..."""
    from ..generator.errors import VaultApiError, VaultUnavailable

    try:
        return _plan(args)
    except VaultApiError as error:  # the survey needs every read: one failing read stops it (exit 3)
        raise VaultUnavailable("api", f"Vault answered with an error: {error}") from None


def _plan(args: argparse.Namespace) -> int:
    from ..generator.config.loader import load
    from ..generator.config.plan import plan, select
    from ..generator.errors import EXIT_FAILED, EXIT_OK, UsageError
    from ..generator.pki.offline_root import root_certificate_path
    from ..generator.render.writer import write_tree
    from .cli.verify_commands import open_vault

    if args.warn_days < 0:
        raise UsageError(f"--warn-days must be 0 or more, not {args.warn_days}")
    loaded = load(args.config)
    config = loaded.config
    try:
        plans = select(plan(config), args.cluster)
    except LookupError as error:
        raise UsageError(str(error.args[0])) from None
    forced = frozenset(getattr(args, "force", None) or ())
    if unknown := sorted(forced - {p.name for p in plans}):
        known = ", ".join(p.name for p in plans)
        raise UsageError(
            f"--force {unknown[0]}: no such cluster{' selected' if args.cluster else ''} (clusters: {known})"
        )
    root_file = (
        root_certificate_path(config.root.certificate_file, loaded.source) if config.root.mode == "external" else None
    )
    api = open_vault(config)
    api.health()
    now = dt.datetime.now(dt.timezone.utc)
    root, root_notes, findings = survey(api, config, plans, root_file, now, loaded.source)
    result = RotationPlan(root, root_notes, findings, args.warn_days, forced)
    print(f"config: {loaded.source}")
    print(f"Vault at {api.address}")
    for line in report_lines(result):
        print(f"  {line}")
    if result.root_due:
        print("\n".join(ROOT_STEPS))
    if result.due() or result.root_due:
        due = [(finding.plan, finding.intermediate) for finding in result.due() if finding.intermediate is not None]
        tree = render_rotation(config, due, report_lines(result), root_due=result.root_due)
        out = Path(args.out)
        try:
            write_tree(tree, out)
        except OSError as error:
            raise UsageError(f"cannot write {out}: {error.strerror or error}") from None
        scripts = sum(1 for name in tree if name.endswith(SCRIPT_NAME))
        print(f"wrote {out}/ ({scripts} rotation script(s) and README.md); review, then run them")
    elif result.attention:
        print("no rotation script written: see the notes above for what to do")
    else:
        print("nothing to rotate inside the window; nothing written")
    return EXIT_FAILED if result.attention else EXIT_OK
