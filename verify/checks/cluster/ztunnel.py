"""Ambient clusters (`data_plane: ambient`): the ztunnel DaemonSet, and whether ztunnel trusts Vault's root.

ztunnel keeps no trust of its own: it takes its one root from istiod's answer to each certificate request, which
ends with istiod's root-cert.pem (istio/istio security/pkg/server/ca/server.go CreateCertificate; ztunnel
src/tls/certificate.rs WorkloadCertificate::new, read at the tags verify/checks/chain/ztunnel.py names: the last
certificate from 1.26, the first before). The same root-cert.pem is what istiod publishes as the
`istio-ca-root-cert` ConfigMap, which the API server shows; what each running ztunnel holds in memory (taken at its
last fetch) is only in its config dump on port 15000, which these checks do not read (it needs pods/portforward or
pods/proxy rights and carries workload keys): the findings say so rather than claim it.
"""

from __future__ import annotations

from typing import Any

from ..registry import Tier, check
from ..result import CheckResult, failed, passed, skipped, warned
from .state import ROOT_CONFIG_MAP, ROOT_CONFIG_MAP_KEY, ClusterView, dig

NOT_IN_MEMORY = (
    "what each running ztunnel holds since its last certificate fetch is in its config dump (port 15000), not read "
    "here: restart the DaemonSet after a root change (plan-rotation --root, ambient steps)"
)


def _daemon_set_target(view: ClusterView) -> str:
    assert view.ztunnel is not None
    return f"daemonset/{view.ztunnel.namespace}/{view.ztunnel.name}"


@check("cluster.ztunnel-daemonset", tier=Tier.SETUP, needs=("namespace_obj",), when="ztunnel")
def ztunnel_daemonset(view: ClusterView) -> CheckResult:
    """An ambient cluster (data_plane: ambient) runs the ztunnel DaemonSet beside istiod, every scheduled pod ready;
    without it no ambient workload gets a certificate."""
    read, target = view.ztunnel, _daemon_set_target(view)
    assert read is not None
    if read.problem:
        return skipped("cluster.ztunnel-daemonset", target, f"could not read the DaemonSet: {read.problem}")
    if read.obj is None:
        return failed(
            "cluster.ztunnel-daemonset",
            target,
            f"no DaemonSet {read.name} in {read.namespace}, but the config says this cluster's data plane is ambient",
            "install Istio's ztunnel chart in istiod's namespace, or set data_plane: sidecar for this cluster",
        )
    desired = int(dig(read.obj, "status", "desiredNumberScheduled") or 0)
    ready = int(dig(read.obj, "status", "numberReady") or 0)
    image = _image(read.obj) or "(no image)"
    if desired == 0 or ready < desired:
        return failed(
            "cluster.ztunnel-daemonset",
            target,
            f"{ready} of {desired} ztunnel pod(s) ready ({image})",
            f"kubectl -n {read.namespace} describe daemonset/{read.name} and the ztunnel pods' logs (certificate "
            "fetch errors name the CA)",
        )
    return passed("cluster.ztunnel-daemonset", target, f"{ready} of {desired} ztunnel pod(s) ready ({image})")


def _image(daemon_set: Any) -> str | None:
    for container in dig(daemon_set, "spec", "template", "spec", "containers") or []:
        if isinstance(container, dict) and container.get("name") in ("istio-proxy", "ztunnel"):
            return str(container.get("image") or "") or None
    containers = dig(daemon_set, "spec", "template", "spec", "containers") or []
    return str(dig(containers, 0, "image") or "") or None


def _release(view: ClusterView) -> tuple[Any, str]:
    """ztunnel's release from its image tag, else the config's istiod.istio_version (said in the finding)."""
    from ..chain.versions import parse_version

    assert view.ztunnel is not None
    image = _image(view.ztunnel.obj) or ""
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    try:
        return parse_version(tag), f"the image tag {tag}"
    except ValueError:
        text = view.plan.config.istiod.istio_version
        return parse_version(text), f"istiod.istio_version {text} (no release in the image {image or 'name'})"


def _name(cert: Any) -> str:
    from cryptography.hazmat.primitives import hashes

    subject = cert.subject.rfc4514_string() or "(empty subject)"
    return f"{subject} (sha256 {cert.fingerprint(hashes.SHA256()).hex()[:16]}…)"


@check("cluster.ztunnel-trust", tier=Tier.PEERS_REJECT, needs=("namespace_obj",), when="ztunnel")
def ztunnel_trust(view: ClusterView) -> CheckResult:
    """Ambient: the one root ztunnel takes from istiod's root-cert.pem (as published in istio-ca-root-cert: the last
    certificate from 1.26, the first before) must be Vault's root, or ambient workloads reject every peer."""
    from cryptography import x509

    from ..chain.ztunnel import MULTI_CERT_ROOT_ELEMENT_FROM

    read, target = view.ztunnel, _daemon_set_target(view)
    assert read is not None
    if read.obj is None:
        return skipped("cluster.ztunnel-trust", target, "no ztunnel DaemonSet (cluster.ztunnel-daemonset says why)")
    own = next((m for m in view.state.root_config_maps if m.namespace == view.state.namespace), None)
    data = str(dig(own.obj, "data", ROOT_CONFIG_MAP_KEY) or "") if own is not None and own.obj else ""
    if not data:
        return skipped(
            "cluster.ztunnel-trust",
            target,
            f"no {ROOT_CONFIG_MAP} in {view.state.namespace} to read istiod's root-cert.pem from "
            "(cluster.root-configmap-matches-vault says why)",
        )
    try:
        published = x509.load_pem_x509_certificates(data.encode())
    except ValueError:
        return skipped("cluster.ztunnel-trust", target, f"{ROOT_CONFIG_MAP} holds no PEM certificate")
    version, whence = _release(view)
    last = version.at_least(*MULTI_CERT_ROOT_ELEMENT_FROM)
    trusted = published[-1] if last else published[0]
    which = "last" if last else "first"
    taken = f"ztunnel {version.major}.{version.minor} (from {whence}) takes the {which} root istiod publishes"
    if view.rotation is not None:
        others = len(published) - 1
        if others:
            return warned(
                "cluster.ztunnel-trust",
                target,
                f"{taken}, {_name(trusted)}, and none of the other {others} root(s) of the trust bundle "
                f"({view.rotation.words}): ambient workloads under those roots are rejected",
                "follow plan-rotation --root's ambient steps: run the phases back to back, then restart istiod, "
                "ztunnel and workloads in that order",
            )
        return passed("cluster.ztunnel-trust", target, f"{taken}, {_name(trusted)}; {NOT_IN_MEMORY}")
    if view.vault_root.pem is None:
        return skipped(
            "cluster.ztunnel-trust",
            target,
            f"{taken}, {_name(trusted)}; Vault's root is not available to compare: {view.vault_root.problem}",
        )
    try:
        vault_root = x509.load_pem_x509_certificates(view.vault_root.pem)[0]
    except (ValueError, IndexError):
        return skipped("cluster.ztunnel-trust", target, f"Vault's {view.vault_root.source} is not a PEM certificate")
    if trusted != vault_root:
        return failed(
            "cluster.ztunnel-trust",
            target,
            f"{taken}, {_name(trusted)}, not Vault's root {_name(vault_root)} from {view.vault_root.source}: "
            "ambient workloads reject certificates under Vault's root",
            "make Vault's root the "
            f"{which} certificate of istiod's root-cert.pem (verify chain --from-vault --data-plane ambient "
            "shows why), then restart istiod and the ztunnel DaemonSet",
        )
    return passed(
        "cluster.ztunnel-trust",
        target,
        f"{taken}, Vault's root {_name(vault_root)}; {NOT_IN_MEMORY}",
    )
