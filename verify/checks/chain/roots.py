"""Several roots in root-cert.pem: the trust bundle of a root rotation (old and new root), and which of them signs
the intermediate istiod loads.

istiod takes every certificate of root-cert.pem as a trust anchor (keycertbundle.go Verify builds its root pool
from all of them) and hands the whole file to workloads (the `istio-ca-root-cert` ConfigMap). A changed
root-cert.pem is reloaded only with ISTIO_MULTIROOT_MESH=true and only when one bundle contains the other
(release-1.31 pilot/pkg/bootstrap/istio_ca.go handleEvent, pemBundleHasSubsetRelation).
"""

from __future__ import annotations

from cryptography import x509

from ....generator.config.cafiles import CA_CERT, ROOT_CERT
from ..pkix import Encoding
from ..registry import Tier, check
from ..result import CheckResult, passed, skipped, warned
from .bundle import Bundle, common_name, moment
from .gox509 import issued_by

MULTIROOT_NOTE = (
    "istiod reloads a changed root-cert.pem only with ISTIO_MULTIROOT_MESH=true, and only when one bundle "
    "contains the other (add the new root first, remove the old one last)"
)


def _describe(bundle: Bundle, root: x509.Certificate) -> str:
    return f"'{common_name(root)}' (until {moment(root.not_valid_after_utc)})"


@check("chain.trust-bundle", tier=Tier.PRACTICE, needs=("roots",))
def trust_bundle(bundle: Bundle) -> CheckResult:
    """root-cert.pem may hold several roots (a root rotation's bundle: old and new); each must be a self-signed
    CA and appear once. Go trusts a non-root anchor too, so a stray intermediate there only warns."""
    assert bundle.roots is not None
    name = bundle.label(ROOT_CERT)
    roots = bundle.roots
    problems: list[str] = []
    seen: list[bytes] = []
    for root in roots:
        der = root.public_bytes(Encoding.DER)
        if der in seen:
            problems.append(f"{bundle.name_of(root)} is listed twice")
        seen.append(der)
        if not (root.issuer == root.subject and issued_by(root, root)):
            problems.append(f"{bundle.name_of(root)} ('{common_name(root)}') is not self-signed")
    if problems:
        return warned(
            "chain.trust-bundle",
            bundle.target,
            f"{name}: " + "; ".join(problems),
            "root-cert.pem should hold only roots, each once: the old and the new root during a root rotation",
        )
    if len(roots) == 1:
        return passed("chain.trust-bundle", bundle.target, f"{name} holds one root, {_describe(bundle, roots[0])}")
    listed = ", ".join(_describe(bundle, root) for root in roots)
    # Several roots are a rotation under way, which these files cannot show istiod is ready for (multi-root is
    # an env of istiod's pod): a state to finish, with what it needs, so a WARN rather than a PASS with advice.
    return warned(
        "chain.trust-bundle",
        bundle.target,
        f"{name} holds {len(roots)} roots (a root rotation's trust bundle): {listed}",
        f"{MULTIROOT_NOTE}; finish the rotation with `istio-vault-ca plan-rotation --root` (its last phase "
        "leaves the new root alone)",
    )


@check("chain.signing-root", tier=Tier.INFO, needs=("ca_cert", "roots"))
def signing_root(bundle: Bundle) -> CheckResult:
    """Which root of root-cert.pem the intermediate chains to (istiod's own path): during a root rotation, the
    old root before the intermediates are re-issued, the new one after."""
    assert bundle.roots is not None
    if not bundle.istiod_path:
        return skipped("chain.signing-root", bundle.target, "no verified path (chain.path-valid says why)")
    root = bundle.istiod_path[-1]
    where = bundle.name_of(root)
    newest = max(bundle.roots, key=lambda cert: cert.not_valid_before_utc)
    position = ""
    if len(bundle.roots) > 1:
        position = "; it is the newest root of the bundle" if root == newest else "; the bundle holds a newer root"
    return passed(
        "chain.signing-root",
        bundle.target,
        f"{bundle.label(CA_CERT)} chains to {where} {_describe(bundle, root)}{position}",
    )
