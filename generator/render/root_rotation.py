"""Root rotation in phases (`plan-rotation --root`): names shared by the scripts and the verifier, the Istio
release facts the report quotes, and the rendering of the phase scripts.

(a) a new root beside the old one, and a trust bundle (old + new) in KV;
(b) the bundle delivered first: root-cert.pem rendered from it, istiod with ISTIO_MULTIROOT_MESH=true, every
    workload's istio-ca-root-cert holding both roots; confirmed with `--confirm-bundle DIR`;
(c) each cluster's intermediate re-issued under the new root (refused until (b) is confirmed);
(d) after the longest workload certificate TTL, the old root removed from the bundle and the new root made the root
    mount's default issuer (refused until every intermediate chains to the new root, and until the TTL has passed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..config.model import Config
from ..config.plan import (
    INTERMEDIATE_KEY_NAME,
    KV_KEY_FIELD,
    MULTIROOT_ENV,
    ROOT_ISSUER_NAME,
    TRUST_BUNDLE_FIELD,
    TRUST_BUNDLE_PATH,
    ClusterPlan,
)
from ..config.rules import ROTATION_STAGING_SUFFIX
from . import manifests
from .installers import get_installer
from .layout import LIB_FILE, POLICY_FILE
from .root_rotation_ambient import ambient_steps
from .rotation import ReplacedCa
from .templating import render_template
from .tree import RenderedFile, Tree


@dataclass(frozen=True)
class OfflineRoot:
    """An offline root's certificate as the scripts carry it (never a key): its name, subject and PEM."""

    issuer: str
    subject: str
    pem: str


BUNDLE_FIELD = TRUST_BUNDLE_FIELD
PHASE_A_SCRIPT = "root/a-new-root.sh"
PHASE_B_DIR = "root/b"
PHASE_C_DIR = "root/c"
PHASE_D_SCRIPT = "root/d-new-root-only.sh"
README = "root/README.md"
# Fields of the trust bundle's KV entry besides the bundle: the issuers, the `delivered` digest (phase (b)
# confirmed), when every intermediate was first seen re-issued (phase (c) done), and phase (d)'s own marker.
REISSUED_AT_FIELD = "reissued_at"

# What the report says about Istio releases; each line names the source it was read from. The releases are the ones
# verify/checks/chain/versions.py owns (the generator does not import the verifier): tests/unit/verify/checks/
# test_release_facts.py holds the two equal.
ISTIO_FACTS = (
    "Istio facts (istio/istio pilot/pkg/bootstrap/istio_ca.go handleEvent, read at each release tag; the same facts",
    "as verify's cluster.istiod-ca-reload):",
    "  - istiod watches ROOT_CA_DIR and reloads changed CA files: 1.19+ always, 1.12-1.18 only with",
    "    AUTO_RELOAD_PLUGIN_CERTS=true (pilot/pkg/features/pilot.go), 1.10-1.11 never (restart istiod).",
    "  - a changed root-cert.pem is taken only by 1.20+ with ISTIO_MULTIROOT_MESH=true (default false,",
    "    features MultiRootMesh, read at start: phase (b) restarts istiod anyway), and only when one bundle holds",
    "    the other: 1.20-1.29 byte for byte (bytes.Contains), 1.30+ certificate by certificate",
    "    (pemBundleHasSubsetRelation). The bundle lists the old root first, so (b) (old -> old+new) and (d)",
    "    (old+new -> new) qualify in both. Else istiod logs 'Multi root is disabled, updating new ROOT-CA not",
    "    supported' or 'Updating new ROOT-CA not supported' and keeps the old bundle: restart it after (b) and (d)",
    "    on 1.12-1.19.",
    "  - with ISTIO_MULTIROOT_MESH=true istiod pushes the bundle to proxies as trust anchors (PCDS,",
    "    pilot/pkg/xds/pcds.go; updateRootCertAndGenKeyCert in pilot/pkg/bootstrap/certcontroller.go).",
    "  - (c) changes cert-chain.pem, ca-cert.pem and ca-key.pem but not root-cert.pem: reloaded as a new",
    "    intermediate ('Istiod has detected the newly added intermediate CA and updated its key and certs",
    "    accordingly') with no restart on 1.19+ (1.12-1.18 with AUTO_RELOAD_PLUGIN_CERTS=true).",
    "  - ambient: ztunnel builds its trust from the root istiod hands out and does not yet trust several roots",
    "    everywhere: rehearse with ambient workloads, and keep (b) to (d) inside one maintenance window there.",
)

# Where (b)'s files stand, for the report and the README.
PHASE_B_STEPS = (
    "Phase (b): deliver the trust bundle before anything is signed by the new root. For each cluster, in",
    f"{PHASE_B_DIR}/<cluster>/:",
    f"  1. vault/06-policy.sh writes {POLICY_FILE}: istiod's policy gains read on the trust bundle in KV (and keeps",
    "     the root mount's cert/ca, which the running agent still reads until istiod restarts).",
    "  2. apply the istiod overlay there (the same file and way as the render's, see the main README): it adds",
    f"     {MULTIROOT_ENV}=true and the root-cert.pem template reading the bundle (root-cert.pem.ctmpl),",
    "     then restart istiod: the variable is read at start, and vault-k8s renders the templates of a new pod.",
    "  3. wait until istio-ca-root-cert in every namespace holds both roots (istiod publishes root-cert.pem),",
    "     then confirm: istio-vault-ca plan-rotation --root --confirm-bundle-from-cluster NAMESPACE",
    "     (or --confirm-bundle DIR, DIR/root-cert.pem saved from istiod's ca_dir or from the ConfigMap).",
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
    return {PHASE_A_SCRIPT: RenderedFile(script.encode(), executable=True), **_readme("a", ())}


def bundle_plan(plan: ClusterPlan) -> ClusterPlan:
    """The cluster's plan from phase (b) on: root-cert.pem read from the trust bundle, istiod multi-root."""
    return replace(plan, trust_bundle=True)


def render_phase_b(plans: tuple[ClusterPlan, ...]) -> Tree:
    """Per cluster, under root/b/<cluster>/: the policy (as `render` derives it, from the templates), the script
    writing it, the istiod overlay of each of the cluster's installer installers and the root-cert.pem template."""
    tree: Tree = {}
    for cluster_plan in plans:
        after = bundle_plan(cluster_plan)
        prefix = f"{PHASE_B_DIR}/{cluster_plan.name}/"
        tree[f"{prefix}{POLICY_FILE}"] = RenderedFile(render_template("policy.hcl.j2", p=after).encode())
        policy_script = render_template("vault/06-policy.sh.j2", cfg=after.config, p=after)
        tree[f"{prefix}vault/06-policy.sh"] = RenderedFile(policy_script.encode(), executable=True)
        # The step sources the helpers beside it, as in the main tree.
        lib = render_template(
            "vault/lib.sh.j2", cfg=after.config, p=after, with_kv_key=False, with_issuers=False, with_ca_facts=False
        )
        tree[f"{prefix}{LIB_FILE}"] = RenderedFile(lib.encode())
        header = (
            f"Root rotation phase (b) for cluster {cluster_plan.name}: root-cert.pem from the trust bundle, "
            f"{MULTIROOT_ENV}=true. Rendered by istio-vault-ca plan-rotation --root."
        )
        for output in after.outputs:
            installer = get_installer(output)
            tree[f"{prefix}{installer.FILE}"] = RenderedFile(
                manifests.dump(installer.build(after), header=header).encode()
            )
        root_file = next(ca_file for ca_file in after.ca_files() if ca_file.secret_path == after.trust_bundle_path)
        tree[f"{prefix}root-cert.pem.ctmpl"] = RenderedFile(root_file.template.encode())
    tree.update(_readme("b", PHASE_B_STEPS + ambient_steps(plans, "b")))
    return dict(sorted(tree.items()))


def reissue_key_name(new_issuer: str) -> str:
    """The re-issued intermediate's key name: derived from the new root, so a re-rendered script finds it."""
    return f"{INTERMEDIATE_KEY_NAME}-under-{new_issuer}"


def render_offline_phase_a(config: Config, old: OfflineRoot, new: OfflineRoot) -> Tree:
    """root.mode external: no root mount; the script writes the bundle of the two root certificates it holds."""
    script = render_template(
        "rotation/root-a-offline-bundle.sh.j2",
        cfg=config,
        old_id=old.issuer,
        old_subject=old.subject,
        old_root_pem=old.pem,
        new_id=new.issuer,
        new_subject=new.subject,
        new_root_pem=new.pem,
        bundle_path=TRUST_BUNDLE_PATH,
        bundle_field=BUNDLE_FIELD,
    )
    steps = (
        "Phase (a), offline root: a-new-root.sh writes the trust bundle (the old root, then the new root) to KV;",
        "nothing is signed. The new root's key stays where you keep it offline, beside the old one's.",
    )
    return {PHASE_A_SCRIPT: RenderedFile(script.encode(), executable=True), **_readme("a", steps)}


def render_phase_c(
    config: Config,
    due: tuple[tuple[ClusterPlan, ReplacedCa], ...],
    new_issuer: str,
    offline: tuple[OfflineRoot, str] | None = None,
) -> Tree:
    """One script per cluster not yet re-issued: rotate-intermediate.sh's steps, signed by the new root issuer, or
    with an offline root (`offline`: the new root and the path of its certificate file) by `sign-intermediate`."""
    tree: Tree = {}
    for cluster, old in due:
        script = render_template(
            "rotation/rotate-intermediate.sh.j2",
            cfg=config,
            p=cluster,
            old=old,
            key_name=reissue_key_name(new_issuer),
            staging_path=f"{cluster.cluster.kv_path}{ROTATION_STAGING_SUFFIX}",
            kv_field=KV_KEY_FIELD,
            external=offline is not None,
            root_issuer=ROOT_ISSUER_NAME,
            new_root_issuer=new_issuer,
            new_root_pem=offline[0].pem if offline else "",
            new_root_subject=offline[0].subject if offline else "",
            new_root_file=offline[1] if offline else "",
        )
        tree[f"{PHASE_C_DIR}/{cluster.name}/reissue-intermediate.sh"] = RenderedFile(script.encode(), executable=True)
    signing = (
        "With the offline root, each script first writes its CSR to CSR_DIR (default ./csr) and prints the",
        "istio-vault-ca sign-intermediate command that signs it with the NEW root's key; run that where the key",
        "is kept, then run the script again: it imports the certificate and checks it chains to the new root.",
    )
    steps = (
        *(signing if offline else ()),
        "Phase (c): run each cluster's reissue-intermediate.sh (one cluster at a time). Each re-issues the",
        "intermediate under the new root, with a new key staged in KV first; istiod reloads it without a restart",
        "on 1.19+ (1.12-1.18: with AUTO_RELOAD_PLUGIN_CERTS=true; root-cert.pem is unchanged). Then run",
        "plan-rotation --root again: it records when every",
        "intermediate was found re-issued, from which phase (d) waits the longest workload certificate TTL.",
    )
    tree.update(_readme("c", steps + ambient_steps(tuple(cluster for cluster, _ in due), "c")))
    return dict(sorted(tree.items()))


def render_phase_d(
    config: Config,
    plans: tuple[ClusterPlan, ...],
    old_issuer: str,
    new_issuer: str,
    offline: OfflineRoot | None = None,
) -> Tree:
    script = render_template(
        "rotation/root-d-new-root-only.sh.j2",
        cfg=config,
        plans=plans,
        old_issuer=old_issuer,
        new_issuer=new_issuer,
        bundle_path=TRUST_BUNDLE_PATH,
        bundle_field=BUNDLE_FIELD,
        new_root_pem=offline.pem if offline else "",
        root_issuer=ROOT_ISSUER_NAME,
    )
    if offline:
        steps = (
            "Phase (d), offline root: d-new-root-only.sh rewrites the trust bundle to the new root only and names",
            f"the new root's issuer '{ROOT_ISSUER_NAME}' in each intermediate mount (the old one kept, renamed). Then",
            "point root.certificate_file at the new root's certificate in the config: plan-rotation --root and",
            "verify's vault.root-cn refuse the old one from then on. Keep the old root's key until you retire it.",
            *ambient_steps(plans, "d"),
        )
        return {PHASE_D_SCRIPT: RenderedFile(script.encode(), executable=True), **_readme("d", steps)}
    steps = (
        "Phase (d): d-new-root-only.sh rewrites the trust bundle to the new root only and makes the new root the",
        "root mount's default issuer; the old root stays in the mount (not default, its key kept). The agents",
        "re-render root-cert.pem with the new root only; istiod 1.20+ with ISTIO_MULTIROOT_MESH=true takes it",
        "(the old bundle holds the new one); restart istiod on 1.12-1.19.",
        *ambient_steps(plans, "d"),
    )
    return {PHASE_D_SCRIPT: RenderedFile(script.encode(), executable=True), **_readme("d", steps)}


def _readme(phase: str, steps: tuple[str, ...]) -> Tree:
    lines = [
        f"# Root rotation, phase ({phase})",
        "",
        "Rendered by `istio-vault-ca plan-rotation --root`, which reads where the rotation stands from Vault and",
        "renders the next phase; re-run it after each phase (and after an interruption: every script resumes).",
        "",
    ]
    if steps:
        lines += ["```", *steps, "```", ""]
    lines += ["```", *ISTIO_FACTS, "```", ""]
    return {README: RenderedFile("\n".join(lines).encode())}


def new_issuer_name(old_issuer: str) -> str:
    """The new root's issuer name, derived from the old one so a re-run finds the same root."""
    return f"root-replaces-{old_issuer[:8]}"
