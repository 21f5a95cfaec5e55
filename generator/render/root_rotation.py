"""Root rotation in phases (`plan-rotation --root`): names shared by the scripts and the verifier, the Istio
release facts the report quotes, and the rendering of the phase scripts.

(a) a new root beside the old one, and a trust bundle (old + new) in KV;
(b) the bundle delivered first: root-cert.pem rendered from it, istiod with ISTIO_MULTIROOT_MESH=true, every
    workload's istio-ca-root-cert holding both roots; confirmed with `--confirm-bundle DIR`;
(c) each cluster's intermediate re-issued under the new root (refused until (b) is confirmed);
(d) after the longest workload certificate TTL, the old root removed from the bundle (refused until every
    intermediate chains to the new root).
"""

from __future__ import annotations

from istio_vault_ca.generator.config.model import Config
from istio_vault_ca.generator.render.templating import render_template
from istio_vault_ca.generator.render.tree import RenderedFile, Tree

PHASES = ("a", "b", "c", "d")
# Where phase (a) keeps the trust bundle, in kv.mount, with the markers the later phases check.
TRUST_BUNDLE_PATH = "istio-trust-bundle"
BUNDLE_FIELD = "root-cert.pem"
PHASE_A_SCRIPT = "root/a-new-root.sh"

# What the report says about Istio releases; each line names the source it was read from.
ISTIO_FACTS = (
    "Istio facts (istio/istio sources):",
    "  - istiod reloads a changed root-cert.pem only with ISTIO_MULTIROOT_MESH=true (default false;",
    "    pilot/pkg/features/pilot.go MultiRootMesh); without it istiod logs 'Multi root is disabled, updating new",
    "    ROOT-CA not supported' and keeps the old bundle (pilot/pkg/bootstrap/istio_ca.go handleEvent), so phase (b)",
    "    needs the variable set on istiod (a restart, since it is read at start).",
    "  - release-1.31 accepts a new bundle when one contains the other (pemBundleHasSubsetRelation: adding the new",
    "    root in (b) and removing the old one in (d) both pass) and logs 'Updating new ROOT-CA', else 'Updating new",
    "    ROOT-CA not supported'. Only release-1.31 was read for this; the subset rule is reported to date from 1.30:",
    "    on older releases restart istiod after (b) and after (d).",
    "  - with ISTIO_MULTIROOT_MESH=true istiod pushes the bundle to proxies as trust anchors (PCDS,",
    "    pilot/pkg/xds/pcds.go; updateRootCertAndGenKeyCert in pilot/pkg/bootstrap/certcontroller.go).",
    "  - a new intermediate under a root already in root-cert.pem is hot-reloaded (fsnotify on ROOT_CA_DIR, 1.12+),",
    "    logged 'Istiod has detected the newly added intermediate CA and updated its key and certs accordingly':",
    "    no istiod restart in (c) when the bundle is unchanged.",
    "  - ambient: ztunnel builds its trust from the root istiod hands out and does not yet trust several roots",
    "    everywhere: rehearse with ambient workloads, and keep (b) to (d) inside one maintenance window there.",
)


def render_phase_a(config: Config, old_issuer: str, old_serial: str, new_issuer_name: str) -> Tree:
    script = render_template(
        "rotation/root-a-new-root.sh.j2",
        cfg=config,
        old_issuer=old_issuer,
        old_serial=old_serial,
        new_issuer_name=new_issuer_name,
        bundle_path=TRUST_BUNDLE_PATH,
        bundle_field=BUNDLE_FIELD,
    )
    return {PHASE_A_SCRIPT: RenderedFile(script.encode(), executable=True)}


def new_issuer_name(old_issuer: str) -> str:
    """The new root's issuer name, derived from the old one so a re-run finds the same root."""
    return f"root-replaces-{old_issuer[:8]}"
