"""A root rotation as the checks see it: cluster checks judge roots and annotations by it, rotation finds it.

It lives among the checks (not with plan-rotation) so that the checks, which the rotation code itself uses, never
import upward; plan-rotation's survey (verify/rotation/root.py `seen_rotation`) builds it from Vault.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

# What each value of `RootRotationState.next_phase` means while the trust bundle exists, in verify's findings.
PHASE_WORDS = {
    "a": "root rotation in phase (a): the new root or the trust bundle is not complete yet",
    "b": "root rotation in phase (b): the trust bundle with both roots is being delivered (not confirmed yet)",
    "c": "root rotation in phase (c): the bundle is delivered, intermediates are being re-issued under the new root",
    "d": "root rotation before phase (d): every intermediate chains to the new root; the old root leaves the bundle "
    "once the longest workload certificate TTL has passed",
    "done": "root rotation done: the trust bundle holds the new root only",
}


@dataclass(frozen=True)
class RotationSeen:
    """A root rotation as verify sees it: the trust bundle in KV exists, so the roots istiod and the workloads
    should trust are the bundle's, and the phase-(b) overlay is an accepted form of istiod's annotations. `phase`
    is `RootRotationState.next_phase` (None when the rest of the state could not be read, `problem` says why)."""

    bundle_pem: bytes
    source: str
    phase: str | None
    problem: str = ""

    @property
    def roots(self) -> tuple[x509.Certificate, ...]:
        return tuple(x509.load_pem_x509_certificates(self.bundle_pem))

    @property
    def words(self) -> str:
        if self.phase is None:
            return f"root rotation under way (trust bundle at {self.source}), its phase unknown: {self.problem}"
        return PHASE_WORDS[self.phase]
