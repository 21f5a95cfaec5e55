"""The facts the rendered README.md states, taken from the rendered tree itself: its fleet run order and the rows
of the root's files, so that the README names exactly the files the tree holds (tests/unit/generator/render/
test_readme_matches_tree.py holds every installer's README to its tree)."""

from __future__ import annotations

from collections.abc import Mapping

from ..config.model import Config
from ..config.plan import OPENBAO_AUDIT_FILE, ClusterPlan, audit_declared, helm_values_file
from . import manifests
from .installers import get_installer
from .layout import IMPORT_STEP, LIB_FILE, SETUP_SCRIPT, Layout

ROOT = "root/"
HELM_CHART = {"vault": "hashicorp/vault", "openbao": "openbao/openbao"}


def helm_release(config: Config) -> str:
    return "openbao" if config.vault.flavor == "openbao" else "vault"


def root_docs(config: Config, tree: Mapping[str, object]) -> list[tuple[str, str]]:
    """(path, one line) for the files under root/, in the order they are used; only files the tree holds."""
    audit = config.vault.audit
    docs = [
        (f"{ROOT}{SETUP_SCRIPT}", "runs the root steps in order"),
        (
            f"{ROOT}{LIB_FILE}",
            "sourced by the root scripts, never run: Vault address and CLI, messages, mount helpers",
        ),
    ]
    if audit_declared(config):
        docs.append(
            (
                f"{ROOT}vault/01-audit.sh",
                f"checks that the file audit device `{audit.path}/` declared in the server config "
                f"(`{ROOT}{OPENBAO_AUDIT_FILE}`) is loaded",
            )
        )
        docs.append(
            (
                f"{ROOT}{OPENBAO_AUDIT_FILE}",
                "the audit device as an OpenBao server-config stanza, and where it goes (before root/vault/setup.sh)",
            )
        )
    elif audit.enabled:
        docs.append((f"{ROOT}vault/01-audit.sh", f"enables the file audit device `{audit.path}/`"))
    if config.root.mode == "vault":
        docs.append(
            (
                f"{ROOT}vault/02-root-pki.sh",
                f"enables `{config.root.mount}/`, tunes its max TTL to cover every intermediate, generates the root "
                "once",
            )
        )
    return [(path, text) for path, text in docs if path in tree]


def merge_values_command(config: Config, cluster: str | None) -> str:
    """The command that writes our values and the audit stanza into the user's own OpenBao values file."""
    target = f" --cluster {cluster}" if cluster else ""
    return f"istio-vault-ca render -c <config> --merge-into <your-openbao-values.yaml>{target}"


def fleet_steps(
    config: Config, plans: tuple[ClusterPlan, ...], layout: Layout, tree: Mapping[str, object]
) -> list[str]:
    """The numbered steps of a fleet's run order, each naming the files of the tree it uses."""
    steps: list[str] = []
    values_file = helm_values_file(config)
    chart, release = HELM_CHART[config.vault.flavor], helm_release(config)
    hosts = [c for c in layout.clusters if manifests.hosts_server(c.plan) and f"{c.prefix}{values_file}" in tree]
    stanza = f"{ROOT}{OPENBAO_AUDIT_FILE}"
    server = "an OpenBao" if config.vault.flavor == "openbao" else "a Vault"
    if stanza in tree:
        where = (
            f"with the OpenBao chart in cluster `{hosts[0].name}`, `{merge_values_command(config, hosts[0].name)}` "
            f"writes it and `{hosts[0].prefix}{values_file}` into your values, then `helm upgrade --install "
            f"{release} {chart} -n {release} -f <your-openbao-values.yaml>`"
            if hosts
            else "a server you run yourself takes it in its configuration file (or as one more `-config=`)"
        )
        steps.append(
            f"`{stanza}`: declare the audit device in the OpenBao server's config and restart the server, before "
            f"`{ROOT}{SETUP_SCRIPT}` (OpenBao loads audit devices only from its config, never over the API): "
            f"{where}."
        )
    elif hosts:
        steps.append(
            f"The server runs in cluster `{hosts[0].name}`: install it before `{ROOT}{SETUP_SCRIPT}` with "
            f"`helm upgrade --install {release} {chart} -n <namespace> -f <your-values.yaml> -f "
            f"{hosts[0].prefix}{values_file}` ({server} server and the injector; maps and flags only, so your "
            "values stay)."
        )
    root_setup = f"{ROOT}{SETUP_SCRIPT}"
    if root_setup in tree:
        what = {
            (True, "vault"): "checks the declared audit device and creates the shared root CA",
            (False, "vault"): "audit device and the shared root CA",
            (True, "external"): "checks the declared audit device (the root stays offline)",
            (False, "external"): "the audit device (the root stays offline)",
        }[(audit_declared(config), config.root.mode)]
        if not config.vault.audit.enabled:
            what = "the shared root CA" if config.root.mode == "vault" else "nothing to do (the root stays offline)"
        steps.append(f"`{root_setup}` once: {what}.")
    for cluster in layout.clusters:
        steps.append(_cluster_step(config, cluster.plan, cluster.prefix, tree, installed=cluster in hosts[:1]))
    return steps


def _cluster_step(
    config: Config, plan: ClusterPlan, prefix: str, tree: Mapping[str, object], *, installed: bool
) -> str:
    values = f"{prefix}{helm_values_file(config)}"
    chart, release = HELM_CHART[config.vault.flavor], helm_release(config)
    lines = [f"Cluster `{plan.name}` (`{prefix}`):"]
    if installed:
        lines.append(f"`{values}`: installed with the server, in the first step.")
    elif values in tree:
        lines.append(
            f"`helm upgrade --install {release} {chart} -n <namespace> -f <your-values.yaml> -f {values}` "
            "(the injector; maps and flags only, so your values stay)."
        )
    manifests_ = sorted(p for p in tree if p.startswith(f"{prefix}kubernetes/"))
    if manifests_:
        lines.append("Apply " + ", ".join(f"`{p}`" for p in manifests_) + " with `kubectl apply -f`.")
    lines.append(f"`{prefix}{SETUP_SCRIPT}` (`VAULT_ADDR`, `VAULT_TOKEN`; safe to re-run).")
    if config.root.mode == "external":
        lines.append(
            f"Sign `csr/{plan.name}-intermediate.csr` with `istio-vault-ca sign-intermediate` where the root key "
            f"lives (`-o csr/{plan.name}-intermediate.pem`), then run `{prefix}vault/{IMPORT_STEP}`."
        )
    overlays = [f"`{prefix}{get_installer(o).FILE}`" for o in plan.outputs]
    lines.append(f"Apply the istiod overlay for your installer ({' or '.join(overlays)}), then restart istiod.")
    lines.append(f"`istio-vault-ca verify all -c <config> --cluster {plan.name}`.")
    return "\n".join([lines[0], *(f"   - {line}" for line in lines[1:])])
