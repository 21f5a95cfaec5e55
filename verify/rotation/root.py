"""Where a root rotation stands (read from Vault), and the refusal of a phase whose precondition is not verified.

State lives in Vault, so an interrupted rotation resumes by running `plan-rotation --root` again: the root mount's
issuers (the old default and the new root named after it), the trust bundle in KV with its markers (`delivered`:
the bundle's digest, written only after root-cert.pem was found to hold exactly the bundle's roots;
`reissued_at`: when every intermediate was first found chaining to the new root) and each cluster's cert/ca_chain
(which root its intermediate ends with) and staged key (a re-issue not finished yet). With an offline root
(root.mode external) there is no root mount: the old and new roots are the certificates phase (a) recorded in the
trust bundle's KV entry (verify/rotation/root_offline.py); the phases and refusals are the same.
The run of the command is verify/runs/rotation.py `root_rotation`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ...generator.config.plan import TRUST_BUNDLE_PATH, KvEngine
from ...generator.config.rules import ROTATION_STAGING_SUFFIX
from ...generator.errors import RotationRefused, UsageError
from ...generator.render.root_rotation import (
    BUNDLE_FIELD,
    REISSUED_AT_FIELD,
    new_issuer_name,
)
from ..checks.rotation_seen import RotationSeen
from .root_offline import fingerprint

if TYPE_CHECKING:
    from ...generator.config.model import Config
    from ...generator.config.plan import ClusterPlan
    from ..clients.vault import VaultApi


@dataclass(frozen=True)
class IntermediateNow:
    """A cluster's intermediate as found: its default issuer and certificate (for the phase (c) script)."""

    issuer_id: str
    serial: str
    not_after: dt.datetime

    @property
    def not_after_text(self) -> str:
        return f"{self.not_after:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class RootRotationState:
    old_issuer: str
    old_root: x509.Certificate
    new_issuer: str | None
    new_root: x509.Certificate | None
    bundle_pem: bytes | None
    delivered: bool
    on_old_root: tuple[str, ...]
    on_new_root: tuple[str, ...]
    # Chains to the new root, but its re-issue stopped before the key was stored (the staged copy is still there).
    unfinished: tuple[str, ...] = ()
    intermediates: tuple[tuple[str, IntermediateNow | None], ...] = ()
    reissued_at: dt.datetime | None = None

    @property
    def bundle_roots(self) -> tuple[x509.Certificate, ...]:
        return tuple(x509.load_pem_x509_certificates(self.bundle_pem)) if self.bundle_pem else ()

    @property
    def not_reissued(self) -> tuple[str, ...]:
        return (*self.on_old_root, *self.unfinished)

    @property
    def finished(self) -> bool:
        """The bundle holds the new root only (phase (d) ran)."""
        return self.new_root is not None and self.bundle_roots == (self.new_root,)

    @property
    def next_phase(self) -> str:
        """The first phase not done yet; "done" when the bundle holds the new root only."""
        if self.new_root is None or not self.bundle_pem:
            return "a"
        if self.finished and not self.not_reissued:
            return "done"
        if not self.delivered:
            return "b"
        if self.not_reissued:
            return "c"
        return "d"


def refusal(state: RootRotationState, phase: str) -> str | None:
    """Why `phase` may not run now, or None. Running a phase that is already done is harmless (scripts resume)."""
    if phase == "c" and state.next_phase in ("a", "b"):
        return (
            "phase (c), a new intermediate signed by the new root, before the trust bundle with both roots was "
            "verified as delivered (phase (b)): workloads that trust only the old root would reject every "
            "certificate istiod issues under the new one (mTLS outage). Deliver the bundle, then run "
            "plan-rotation --root --confirm-bundle DIR"
        )
    if phase == "d" and state.next_phase in ("a", "b", "c"):
        waiting = ", ".join(state.not_reissued) or "none"
        return (
            "phase (d), removing the old root from the bundle, before every intermediate chains to the new root "
            f"(still on the old root: {waiting}): workload certificates issued under the old root would stop "
            "verifying"
        )
    if phase == "b" and state.next_phase == "a":
        return "phase (b) delivers the trust bundle phase (a) writes: run phase (a) first"
    return None


def wait_refusal(state: RootRotationState, ttl_seconds: int, now: dt.datetime) -> str | None:
    """Phase (d) before the longest workload certificate TTL has passed since every intermediate was re-issued:
    certificates istiod issued under the old intermediate may still be in use, and they chain to the old root."""
    if state.finished:
        return None
    if state.reissued_at is None:
        return "phase (d) before the time every intermediate was re-issued is recorded: run plan-rotation --root again"
    ready = state.reissued_at + dt.timedelta(seconds=ttl_seconds)
    if now >= ready:
        return None
    left = int((ready - now).total_seconds())
    return (
        f"phase (d) before the longest workload certificate TTL ({ttl_seconds}s) has passed since every "
        f"intermediate was re-issued ({state.reissued_at:%Y-%m-%dT%H:%M:%SZ}): {left // 3600}h{left % 3600 // 60:02d}m "
        f"left (until {ready:%Y-%m-%dT%H:%M:%SZ}); workload certificates issued under the old intermediates chain "
        "to the old root and would stop verifying. Wait, or pass --skip-ttl-wait once every workload has a new "
        "certificate"
    )


def bundle_digest(bundle_pem: bytes) -> str:
    ders = sorted(cert.public_bytes(Encoding.DER) for cert in x509.load_pem_x509_certificates(bundle_pem))
    return hashlib.sha256(b"".join(ders)).hexdigest()


def _certificate(api: VaultApi, path: str) -> x509.Certificate | None:
    """The certificate at `path`; None when there is none (PKI answers an unknown issuer reference with a 500)."""
    from ...generator.errors import VaultApiError

    try:
        data = (api.read(path) or {}).get("data") or {}
    except VaultApiError as error:
        if "unable to find PKI issuer" in str(error):
            return None
        raise
    text = data.get("certificate")
    return x509.load_pem_x509_certificate(text.encode()) if isinstance(text, str) and text.strip() else None


def _kv(config: Config) -> KvEngine:
    return KvEngine(config.kv.version, config.kv.mount)


def bundle_fields(api: VaultApi, config: Config) -> dict[str, str]:
    kv = _kv(config)
    data: object = api.read(kv.secret_path(TRUST_BUNDLE_PATH)) or {}
    for key in ("data", *kv.data_keys("")[:-1]):
        data = data.get(key) if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def write_bundle_fields(api: VaultApi, config: Config, fields: dict[str, str]) -> None:
    """The trust bundle's KV entry with `fields` added to what is there (nothing else changes)."""
    merged = {**bundle_fields(api, config), **fields}
    api.write(_kv(config).secret_path(TRUST_BUNDLE_PATH), {"data": merged} if config.kv.version == 2 else merged)


def _staged(api: VaultApi, config: Config, cluster: ClusterPlan) -> bool:
    """A re-issue's staged key is still in KV (its last step, storing the key, has not run). KV v2: its metadata,
    which holds no secret; v1 has only the secret itself, read for its presence and dropped."""
    kv = _kv(config)
    staging = f"{cluster.cluster.kv_path}{ROTATION_STAGING_SUFFIX}"
    if kv.metadata_path_prefix is not None:
        return api.read(f"{kv.metadata_path_prefix}{staging}") is not None
    return api.read(kv.secret_path(staging)) is not None


def survey(
    api: VaultApi, config: Config, plans: tuple[ClusterPlan, ...], configured_root: x509.Certificate | None = None
) -> RootRotationState:
    """Where the rotation stands. With an offline root (root.mode external) the roots are read from the trust
    bundle's KV entry instead of the root mount (verify/rotation/root_offline.py); `configured_root` is
    root.certificate_file's certificate, the old root before phase (a)."""
    if config.root.mode == "external":
        from .root_offline import offline_roots

        old_issuer, old_root, new_issuer, new_root = offline_roots(bundle_fields(api, config), configured_root)
    else:
        old_issuer, old_root, new_issuer, new_root = _vault_roots(api, config)
    stored = bundle_fields(api, config)
    bundle_pem = stored.get(BUNDLE_FIELD, "").encode() or None
    delivered = bool(bundle_pem) and stored.get("delivered") == bundle_digest(bundle_pem or b"")
    on_old, on_new, unfinished, found = _intermediates(api, config, plans, new_root)
    reissued_text = stored.get(REISSUED_AT_FIELD, "")
    try:
        reissued_at = dt.datetime.fromisoformat(reissued_text.replace("Z", "+00:00")) if reissued_text else None
    except ValueError:
        reissued_at = None
    return RootRotationState(
        old_issuer,
        old_root,
        new_issuer,
        new_root,
        bundle_pem,
        delivered,
        on_old,
        on_new,
        unfinished,
        found,
        reissued_at,
    )


def _vault_roots(api: VaultApi, config: Config) -> tuple[str, x509.Certificate, str | None, x509.Certificate | None]:
    """The old root (the bundle's recorded issuer, else the root mount's default) and the new one, from the mount."""
    mount = config.root.mount
    stored = bundle_fields(api, config)
    old_issuer = stored.get("old_issuer") or str(
        ((api.read(f"{mount}/config/issuers") or {}).get("data") or {}).get("default") or ""
    )
    old_root = _certificate(api, f"{mount}/issuer/{old_issuer}") if old_issuer else None
    if old_root is None:
        raise UsageError(f"no root in {mount}/ (root.mode vault): nothing to rotate; run vault/setup.sh first")
    new_root = _certificate(api, f"{mount}/issuer/{new_issuer_name(old_issuer)}")
    return old_issuer, old_root, stored.get("new_issuer") or None, new_root


def _intermediates(
    api: VaultApi, config: Config, plans: tuple[ClusterPlan, ...], new_root: x509.Certificate | None
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[tuple[str, IntermediateNow | None], ...]]:
    """Each cluster's intermediate: on the old root, on the new one, or on the new one with its re-issue
    unfinished (staged key still in KV); and its default issuer and certificate."""
    on_old: list[str] = []
    on_new: list[str] = []
    unfinished: list[str] = []
    found: list[tuple[str, IntermediateNow | None]] = []
    for cluster in plans:
        int_mount = cluster.cluster.intermediate_mount
        chain_text = ((api.read(f"{int_mount}/cert/ca_chain") or {}).get("data") or {}).get("certificate")
        chain = x509.load_pem_x509_certificates(chain_text.encode()) if isinstance(chain_text, str) else []
        top = chain[-1] if chain else None
        if new_root is None or top != new_root:
            on_old.append(cluster.name)
        elif _staged(api, config, cluster):
            unfinished.append(cluster.name)
        else:
            on_new.append(cluster.name)
        default = str(((api.read(f"{int_mount}/config/issuers") or {}).get("data") or {}).get("default") or "")
        now = IntermediateNow(default, f"{chain[0].serial_number:x}", chain[0].not_valid_after_utc) if chain else None
        found.append((cluster.name, now if default else None))
    return tuple(on_old), tuple(on_new), tuple(unfinished), tuple(found)


def confirm_bundle(api: VaultApi, config: Config, state: RootRotationState, found_pem: bytes, where: str) -> str:
    """`found_pem` (root-cert.pem as istiod reads it, or the istio-ca-root-cert ConfigMap's value) must hold exactly
    the bundle's roots; then the `delivered` marker is written. Returns what was confirmed."""
    if state.bundle_pem is None:
        raise RotationRefused("no trust bundle to confirm: run phase (a) first")
    try:
        found = x509.load_pem_x509_certificates(found_pem)
    except ValueError as error:
        raise RotationRefused(f"cannot read {where} as PEM certificates: {error}") from None
    expected = {cert.public_bytes(Encoding.DER) for cert in state.bundle_roots}
    if {cert.public_bytes(Encoding.DER) for cert in found} != expected:
        raise RotationRefused(
            f"{where} does not hold exactly the {len(expected)} roots of the trust bundle "
            f"({len(found)} certificate(s) there): the bundle has not reached it yet; nothing confirmed"
        )
    write_bundle_fields(api, config, {"delivered": bundle_digest(state.bundle_pem)})
    return f"{where} holds the {len(expected)} roots of the bundle: delivery confirmed"


def read_root_cert_file(directory: Path) -> tuple[bytes, str]:
    path = directory / BUNDLE_FIELD
    try:
        return path.read_bytes(), str(path)
    except OSError as error:
        raise RotationRefused(f"cannot read {path}: {error.strerror or error}") from None


def seen_rotation(api: VaultApi, config: Config) -> RotationSeen | None:
    """The root rotation under way, read from Vault with `survey` (every cluster of the config), or None when there
    is no trust bundle in KV (or the token may not read it: then there is no rotation to recognise)."""
    from ...generator.config.plan import plan
    from ...generator.errors import VaultApiError, VaultForbidden

    source = _kv(config).secret_path(TRUST_BUNDLE_PATH)
    try:
        bundle_pem = bundle_fields(api, config).get(BUNDLE_FIELD, "").encode()
        if not x509.load_pem_x509_certificates(bundle_pem):
            return None
    except (VaultApiError, VaultForbidden, ValueError):
        return None
    try:
        return RotationSeen(bundle_pem, source, survey(api, config, plan(config)).next_phase)
    except (VaultApiError, UsageError, ValueError) as error:
        return RotationSeen(bundle_pem, source, None, str(error))
    except VaultForbidden:
        reads = "the token may not read the root mount's issuers and each intermediate, as plan-rotation --root does"
        return RotationSeen(bundle_pem, source, None, reads)


def ca_values(
    api: VaultApi, cluster: ClusterPlan, rotation: RotationSeen | None
) -> tuple[dict[str, bytes | None], dict[str, str]]:
    """The four values the cluster's agent renders (verify/checks/vault read_ca_values); during a root rotation as
    the phase-(b) overlay renders them (root-cert.pem from the trust bundle), root-cert.pem's label naming the
    phase."""
    from ...generator.config.cafiles import ROOT_CERT
    from ...generator.render.root_rotation import bundle_plan
    from ..checks.vault import read_ca_values

    if rotation is None:
        return read_ca_values(api, cluster)
    values, labels = read_ca_values(api, bundle_plan(cluster))
    labels[ROOT_CERT] = f"{labels[ROOT_CERT]} ({rotation.words})"
    return values, labels


def report_lines(state: RootRotationState) -> list[str]:
    def name(cert: x509.Certificate | None) -> str:
        return cert.subject.rfc4514_string() if cert is not None else "none"

    lines = [
        f"old root: {name(state.old_root)} (issuer {state.old_issuer})",
        f"new root: {name(state.new_root)}",
        f"trust bundle: {len(state.bundle_roots)} root(s) in {TRUST_BUNDLE_PATH}"
        + (", delivery confirmed" if state.delivered else ""),
        f"intermediates on the old root: {', '.join(state.on_old_root) or 'none'}",
        f"intermediates on the new root: {', '.join(state.on_new_root) or 'none'}",
    ]
    if state.unfinished:
        lines.append(f"re-issue unfinished (staged key still in KV): {', '.join(state.unfinished)}")
    if state.reissued_at is not None:
        lines.append(f"every intermediate re-issued by: {state.reissued_at:%Y-%m-%dT%H:%M:%SZ}")
    lines.append(f"next phase: {state.next_phase}")
    return lines


def _name(cert: x509.Certificate) -> str:
    return f"{cert.subject.rfc4514_string()} (sha256 {fingerprint(cert)})"


def check_new_root(state: RootRotationState, given: x509.Certificate, where: str) -> None:
    """The new root file must be the old root's successor, and the one phase (a) recorded."""
    if given == state.old_root:
        raise UsageError(f"--new-root-file {where} is the root being replaced ({_name(given)}); make a new root first")
    if state.new_root is not None and given != state.new_root:
        raise RotationRefused(
            f"refused: --new-root-file {where} is {_name(given)}, but this rotation's new root, recorded in the "
            f"trust bundle by phase (a), is {_name(state.new_root)}: the workloads are being given that root to "
            "trust, so only it may sign the new intermediates. Pass that file (or finish this rotation first)"
        )


def root_file_problem(state: RootRotationState, configured: x509.Certificate | None, where: str) -> str | None:
    """After phase (d): root.certificate_file must name the new root (verify's vault.root-cn compares each
    intermediate mount's root with it, and a later intermediate is signed with it)."""
    if state.next_phase != "done" or state.new_root is None or configured == state.new_root:
        return None
    found = _name(configured) if configured is not None else "unreadable"
    return (
        f"root.certificate_file ({where}) still holds {found}, not the new root {_name(state.new_root)}: copy the "
        "new root's certificate there (or point root.certificate_file at it) in the config; until then verify's "
        "vault.root-cn fails and a new intermediate would be signed with the retired root"
    )
