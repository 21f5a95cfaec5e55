"""Where each file of a rendered tree goes: one definition for the renderer and for the rehearsal that runs it.

One cluster renders flat; several render the shared steps once under `root/` and each cluster under
`clusters/<name>/`. Keeping the paths here means the rehearsal can never look for a script the render put elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..config.plan import ClusterPlan
from .installers import all_installers

ROOT_PREFIX = "root/"
CLUSTERS_DIR = "clusters/"
SETUP_SCRIPT = "vault/setup.sh"
# Sourced by every script of its vault/ directory (rendered/tree.py _lib).
LIB_FILE = "vault/lib.sh"
POLICY_FILE = "policy.hcl"
# Offline root: setup.sh runs phase one (key + CSR); this step imports the signed certificate after signing.
IMPORT_STEP = "07-intermediate-import.sh"
# The istiod overlay of each install installer, relative to the cluster's prefix (each installer module names its file).
OUTPUT_FILES = {installer.NAME: installer.FILE for installer in all_installers()}


@dataclass(frozen=True)
class ClusterLayout:
    """One cluster's files: `prefix` is "" in a flat tree, else `clusters/<name>/`."""

    plan: ClusterPlan
    prefix: str

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def setup(self) -> str:
        return f"{self.prefix}{SETUP_SCRIPT}"

    @property
    def policy(self) -> str:
        return f"{self.prefix}{POLICY_FILE}"

    @property
    def import_script(self) -> str | None:
        """Offline root: the phase-two script that imports the signed intermediate (run after signing)."""
        external = self.plan.config.root.mode == "external"
        return f"{self.prefix}vault/{IMPORT_STEP}" if external else None


@dataclass(frozen=True)
class Layout:
    """`root_prefix` is None for a flat tree, whose one setup.sh also runs the root steps."""

    root_prefix: str | None
    clusters: tuple[ClusterLayout, ...]

    @property
    def multi(self) -> bool:
        return self.root_prefix is not None

    @property
    def root_setup(self) -> str | None:
        return f"{self.root_prefix}{SETUP_SCRIPT}" if self.root_prefix is not None else None

    @property
    def setup_scripts(self) -> tuple[str, ...]:
        root = (self.root_setup,) if self.root_setup else ()
        return (*root, *(cluster.setup for cluster in self.clusters))

    @property
    def all_scripts(self) -> tuple[str, ...]:
        """Every script a user runs, in order: setup, then the offline-root imports."""
        imports = tuple(c.import_script for c in self.clusters if c.import_script)
        return (*self.setup_scripts, *imports)


def step_script(cluster: ClusterPlan, script: str) -> str:
    """The path a hint names for one of `cluster`'s step scripts (03-kv.sh ... 07-intermediate-import.sh): the flat
    tree's `vault/NN.sh`, or `clusters/<name>/vault/NN.sh` in a fleet. Decided by the config's whole cluster list,
    as the render lays the tree out, not by the clusters a `--cluster` run selected."""
    prefix = f"{CLUSTERS_DIR}{cluster.name}/" if len(cluster.config.clusters) > 1 else ""
    return f"{prefix}vault/{script}"


def intermediate_step(cluster: ClusterPlan) -> str:
    """Step 04's file name: the offline root's CSR step, or the step that signs the intermediate in Vault."""
    external = cluster.config.root.mode == "external"
    return "04-intermediate-csr.sh" if external else "04-intermediate-pki.sh"


def layout_for(plans: Sequence[ClusterPlan]) -> Layout:
    if len(plans) == 1:
        return Layout(None, (ClusterLayout(plans[0], ""),))
    return Layout(ROOT_PREFIX, tuple(ClusterLayout(p, f"{CLUSTERS_DIR}{p.name}/") for p in plans))
