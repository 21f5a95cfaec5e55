"""`plan-rotation --root`: where a root rotation stands (read from Vault), the next phase's script, and the
refusal of a phase whose precondition is not verified.

State lives in Vault, so an interrupted rotation resumes by running the command again: the root mount's issuers
(the old default and the new root named after it), the trust bundle in KV with its `delivered` marker (the
bundle's digest, written only by `--confirm-bundle DIR` after root-cert.pem there was found to hold exactly the
bundle's roots) and each cluster's cert/ca_chain (which root its intermediate ends with).
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from istio_vault_ca.generator.errors import RotationRefused, UsageError
from istio_vault_ca.generator.render.root_rotation import (
    BUNDLE_FIELD,
    ISTIO_FACTS,
    TRUST_BUNDLE_PATH,
    new_issuer_name,
    render_phase_a,
)

if TYPE_CHECKING:
    from istio_vault_ca.generator.config.model import Config
    from istio_vault_ca.generator.config.plan import ClusterPlan
    from istio_vault_ca.verify.clients.vault import VaultApi


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

    @property
    def bundle_roots(self) -> tuple[x509.Certificate, ...]:
        return tuple(x509.load_pem_x509_certificates(self.bundle_pem)) if self.bundle_pem else ()

    @property
    def next_phase(self) -> str:
        """The first phase not done yet; "done" when the bundle holds the new root only."""
        if self.new_root is None or not self.bundle_pem:
            return "a"
        if not self.delivered:
            return "b"
        if self.on_old_root:
            return "c"
        if len(self.bundle_roots) > 1:
            return "d"
        return "done"


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
        waiting = ", ".join(state.on_old_root) or "none"
        return (
            "phase (d), removing the old root from the bundle, before every intermediate chains to the new root "
            f"(still on the old root: {waiting}): workload certificates issued under the old root would stop "
            "verifying"
        )
    if phase == "b" and state.next_phase == "a":
        return "phase (b) delivers the trust bundle phase (a) writes: run phase (a) first"
    return None


def bundle_digest(bundle_pem: bytes) -> str:
    ders = sorted(cert.public_bytes(Encoding.DER) for cert in x509.load_pem_x509_certificates(bundle_pem))
    return hashlib.sha256(b"".join(ders)).hexdigest()


def _certificate(api: VaultApi, path: str) -> x509.Certificate | None:
    """The certificate at `path`; None when there is none (PKI answers an unknown issuer reference with a 500)."""
    from istio_vault_ca.generator.errors import VaultApiError

    try:
        data = (api.read(path) or {}).get("data") or {}
    except VaultApiError as error:
        if "unable to find PKI issuer" in str(error):
            return None
        raise
    text = data.get("certificate")
    return x509.load_pem_x509_certificate(text.encode()) if isinstance(text, str) and text.strip() else None


def _bundle(api: VaultApi, config: Config) -> dict[str, str]:
    from istio_vault_ca.generator.config.plan import KvEngine

    kv = KvEngine(config.kv.version, config.kv.mount)
    data: object = api.read(kv.secret_path(TRUST_BUNDLE_PATH)) or {}
    for key in ("data", *kv.data_keys("")[:-1]):
        data = data.get(key) if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def survey(api: VaultApi, config: Config, plans: tuple[ClusterPlan, ...]) -> RootRotationState:
    mount = config.root.mount
    stored = _bundle(api, config)
    old_issuer = stored.get("old_issuer") or str(
        ((api.read(f"{mount}/config/issuers") or {}).get("data") or {}).get("default") or ""
    )
    old_root = _certificate(api, f"{mount}/issuer/{old_issuer}") if old_issuer else None
    if old_root is None:
        raise UsageError(f"no root in {mount}/ (root.mode vault): nothing to rotate; run vault/setup.sh first")
    new_root = _certificate(api, f"{mount}/issuer/{new_issuer_name(old_issuer)}")
    new_issuer = stored.get("new_issuer") or None
    bundle_pem = stored.get(BUNDLE_FIELD, "").encode() or None
    delivered = bool(bundle_pem) and stored.get("delivered") == bundle_digest(bundle_pem or b"")
    on_old: list[str] = []
    on_new: list[str] = []
    for cluster in plans:
        chain_text = ((api.read(f"{cluster.cluster.intermediate_mount}/cert/ca_chain") or {}).get("data") or {}).get(
            "certificate"
        )
        chain = x509.load_pem_x509_certificates(chain_text.encode()) if isinstance(chain_text, str) else []
        top = chain[-1] if chain else None
        (on_new if new_root is not None and top == new_root else on_old).append(cluster.name)
    return RootRotationState(
        old_issuer, old_root, new_issuer, new_root, bundle_pem, delivered, tuple(on_old), tuple(on_new)
    )


def confirm_bundle(api: VaultApi, config: Config, state: RootRotationState, directory: Path) -> str:
    """root-cert.pem in `directory` (as istiod reads it, or the istio-ca-root-cert ConfigMap's value saved there)
    must hold exactly the bundle's roots; then the `delivered` marker is written. Returns what was confirmed."""
    from istio_vault_ca.generator.config.plan import KvEngine

    if state.bundle_pem is None:
        raise RotationRefused("no trust bundle to confirm: run phase (a) first")
    try:
        found = x509.load_pem_x509_certificates((directory / BUNDLE_FIELD).read_bytes())
    except (OSError, ValueError) as error:
        raise RotationRefused(f"cannot read {directory / BUNDLE_FIELD} as PEM certificates: {error}") from None
    expected = {cert.public_bytes(Encoding.DER) for cert in state.bundle_roots}
    if {cert.public_bytes(Encoding.DER) for cert in found} != expected:
        raise RotationRefused(
            f"{directory / BUNDLE_FIELD} does not hold exactly the {len(expected)} roots of the trust bundle "
            f"({len(found)} certificate(s) there): the bundle has not reached it yet; nothing confirmed"
        )
    kv = KvEngine(config.kv.version, config.kv.mount)
    fields = {
        **_bundle(api, config),
        "delivered": bundle_digest(state.bundle_pem),
    }
    api.write(kv.secret_path(TRUST_BUNDLE_PATH), {"data": fields} if config.kv.version == 2 else fields)
    return f"{directory / BUNDLE_FIELD} holds the {len(expected)} roots of the bundle: delivery confirmed"


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
        f"next phase: {state.next_phase}",
    ]
    return lines


def root_command(args: argparse.Namespace) -> int:
    """plan-rotation --root -c CONFIG [--phase a|b|c|d] [--confirm-bundle DIR] [-o OUT]"""
    from istio_vault_ca.generator.config.loader import load
    from istio_vault_ca.generator.config.plan import plan, select
    from istio_vault_ca.generator.errors import EXIT_FAILED, EXIT_OK
    from istio_vault_ca.generator.render.writer import write_tree
    from istio_vault_ca.verify.cli.verify_commands import open_vault

    config = load(args.config).config
    if config.root.mode != "vault":
        raise UsageError(
            "plan-rotation --root automates a root kept in Vault (root.mode vault); with an offline root, sign each "
            "new intermediate with `istio-vault-ca sign-intermediate` and the new root, after the same phase (b)"
        )
    plans = select(plan(config), None)
    api = open_vault(config)
    api.health()
    state = survey(api, config, plans)
    if args.confirm_bundle:
        print(confirm_bundle(api, config, state, Path(args.confirm_bundle)))
        api = open_vault(config)
        state = survey(api, config, plans)
    wanted = args.phase or state.next_phase
    if wanted != "done" and (reason := refusal(state, wanted)):
        raise RotationRefused(f"refused: {reason}", f"the next phase is ({state.next_phase})")
    for line in report_lines(state):
        print(f"  {line}")
    print("\n".join(ISTIO_FACTS))
    if wanted == "a":
        tree = render_phase_a(
            config, state.old_issuer, f"{state.old_root.serial_number:x}", new_issuer_name(state.old_issuer)
        )
        write_tree(tree, Path(args.out))
        print(f"wrote {args.out}/ (phase (a) script); review, then run it")
    return EXIT_OK if state.next_phase == "done" else EXIT_FAILED
