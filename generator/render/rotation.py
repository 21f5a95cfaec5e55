"""Rotation scripts: `<cluster>/rotate-intermediate.sh` for each intermediate due, and a README with the report.

The verifier decides what is due (it reads the live Vault); this module only renders, from the plan and the
identity of the certificate being replaced, so the generator never depends on the verifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..config.model import Config
from ..config.plan import INTERMEDIATE_KEY_NAME, KV_KEY_FIELD, ROOT_ISSUER_NAME, ClusterPlan
from ..config.rules import ROTATION_STAGING_SUFFIX
from .templating import render_template
from .tree import RenderedFile, Tree

SCRIPT_NAME = "rotate-intermediate.sh"

ROOT_STEPS = (
    "Root rotation (`plan-rotation --root` scripts it in phases, a root in Vault): every cluster trusts the root",
    "through root-cert.pem, so the new root must be trusted everywhere before anything is signed by it (Istio's",
    "plugged-in CA root transition):",
    "  1. Create the new root (root.mode vault: a new issuer or mount; external: offline). Keep the old one.",
    "  2. Give every cluster a trust bundle with both roots: old and new concatenated in root-cert.pem, so istiod",
    "     publishes both in the istio-ca-root-cert ConfigMap; restart istiod and wait until every proxy has it.",
    "  3. Re-sign each cluster's intermediate with the new root (cert-chain.pem then ends with the new root),",
    "     one cluster at a time; workloads keep trusting peers signed under either root.",
    "  4. Wait until every workload certificate was re-issued (their TTL, 24h by default) and old ones expired.",
    "  5. Remove the old root from the bundle, restart istiod, and retire the old root.",
)


class ReplacedCa(Protocol):
    """What the script names of the intermediate it replaces (it checks it is still the default issuer)."""

    @property
    def issuer_id(self) -> str: ...

    @property
    def serial(self) -> str: ...

    @property
    def not_after_text(self) -> str: ...


def render_rotation(
    config: Config, due: Sequence[tuple[ClusterPlan, ReplacedCa]], report: Sequence[str], *, root_due: bool
) -> Tree:
    """One script per (cluster, old intermediate) in `due`, and README.md quoting `report` as is."""
    tree: Tree = {}
    for cluster, old in due:
        script = render_template(
            "rotation/rotate-intermediate.sh.j2",
            cfg=config,
            p=cluster,
            old=old,
            key_name=f"{INTERMEDIATE_KEY_NAME}-replaces-{old.issuer_id}",
            staging_path=f"{cluster.cluster.kv_path}{ROTATION_STAGING_SUFFIX}",
            kv_field=KV_KEY_FIELD,
            external=config.root.mode == "external",
            root_issuer=ROOT_ISSUER_NAME,
            new_root_issuer="",  # under the same root (plan-rotation --root's phase (c) names the new one)
            new_root_pem="",  # the offline root's phase (c) carries the new root's certificate
        )
        tree[f"{cluster.name}/{SCRIPT_NAME}"] = RenderedFile(script.encode(), executable=True)
    readme = ["# Rotation plan", "", "Rendered by `istio-vault-ca plan-rotation`; re-run it for a fresh plan.", ""]
    readme += ["```", *report, "```", ""]
    if tree:
        readme += [
            "Run each script with `VAULT_ADDR`/`VAULT_TOKEN` set, from the directory the config's relative paths",
            "start from. Each is safe to re-run and replaces only the intermediate it was rendered for.",
            "",
        ]
    if root_due:
        readme += [*ROOT_STEPS, ""]
    tree["README.md"] = RenderedFile("\n".join(readme).encode())
    return dict(sorted(tree.items()))
