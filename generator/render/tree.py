"""Config -> the complete output tree in memory (relative path -> file), deterministic to the byte."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..config.durations import hours, parse_duration
from ..config.model import Config
from ..config.plan import (
    INTERMEDIATE_KEY_NAME,
    KV_KEY_FIELD,
    OPENBAO_AUDIT_FILE,
    ROOT_ISSUER_NAME,
    ClusterPlan,
    audit_declared,
    audit_stanza,
    helm_values_file,
    plan,
)
from . import gitops, manifests, readme
from .installers import all_installers, get_installer
from .layout import IMPORT_STEP, LIB_FILE, POLICY_FILE, SETUP_SCRIPT, ClusterLayout, layout_for, step_script
from .templating import render_template

ROOT_STEPS = ("01-audit.sh", "02-root-pki.sh")
CLUSTER_STEPS = ("03-kv.sh", "04-intermediate-pki.sh", "05-kubernetes-auth.sh", "06-policy.sh")
# Offline root: setup.sh runs phase one (key + CSR); 07 imports the signed certificate after offline signing.
EXTERNAL_CLUSTER_STEPS = ("03-kv.sh", "04-intermediate-csr.sh", "05-kubernetes-auth.sh", "06-policy.sh")
IMPORT_HINT = "unless 04 found it imported: sign the CSR offline, then run {script}"

OUTPUT_DOCS = {installer.NAME: installer.DOC for installer in all_installers()}


@dataclass(frozen=True)
class RenderedFile:
    content: bytes
    executable: bool = False


Tree = dict[str, RenderedFile]


def render_tree(config: Config) -> Tree:
    """Every artifact. One cluster renders flat; several get `root/` once plus `clusters/<name>/` each."""
    plans = plan(config)
    layout = layout_for(plans)
    tree: Tree = {}
    if layout.root_prefix is not None:
        _render_root(tree, layout.root_prefix, config, plans)
    for cluster in layout.clusters:
        _render_cluster(tree, cluster.prefix, cluster.plan, include_root=not layout.multi)
    flat_merge = not layout.multi and audit_declared(config) and manifests.hosts_server(plans[0])
    tree["README.md"] = RenderedFile(
        render_template(
            "README.md.j2",
            cfg=config,
            plans=plans,
            flat=not layout.multi,
            output_docs=OUTPUT_DOCS,
            file_docs=lambda p, prefix: _file_docs(p, prefix, tree),
            gitops=_gitops(tree, layout.clusters),
            root_docs=readme.root_docs(config, tree) if layout.multi else [],
            fleet_steps=readme.fleet_steps(config, plans, layout, tree) if layout.multi else [],
            openbao_merge=readme.merge_values_command(config, None) if flat_merge else "",
            **_flavor_context(config),
        ).encode()
    )
    return dict(sorted(tree.items()))


def _gitops(tree: Tree, clusters: Iterable[ClusterLayout]) -> list[tuple[str, str, list[str]]]:
    """(cluster, its directory, what its kustomization.yaml lists) for each cluster that has one."""
    found = []
    for cluster in clusters:
        path = f"{cluster.prefix}{gitops.KUSTOMIZATION}"
        if path in tree:
            found.append((cluster.plan.name, cluster.prefix or ".", gitops.applied_manifests(tree, cluster.prefix)))
    return found


def _root_steps(config: Config) -> tuple[str, ...]:
    # An offline root is never created in Vault: only the audit device is shared.
    steps = ROOT_STEPS if config.root.mode == "vault" else ROOT_STEPS[:1]
    return steps if config.vault.audit.enabled else steps[1:]


def _signing_max_ttl(config: Config, plans: tuple[ClusterPlan, ...]) -> int:
    return max([parse_duration(config.root.ttl), *(p.intermediate_ttl_seconds for p in plans)])


def _render_root(tree: Tree, prefix: str, config: Config, plans: tuple[ClusterPlan, ...]) -> None:
    steps = _root_steps(config)
    signing_seconds = _signing_max_ttl(config, plans)
    context = {
        "cfg": config,
        "signing_max_ttl": hours(signing_seconds),
        "signing_max_ttl_seconds": signing_seconds,
        **_flavor_context(config),
    }
    for step in steps:
        tree[f"{prefix}vault/{step}"] = _script(f"vault/{step}.j2", **context)
    with_ca_facts = "02-root-pki.sh" in steps
    tree[f"{prefix}{LIB_FILE}"] = _lib(context, with_kv_key=False, with_issuers=False, with_ca_facts=with_ca_facts)
    _render_audit_stanza(tree, prefix, config)
    title = f"root CA in {config.root.mount}/" if config.root.mode == "vault" else "shared steps (offline root)"
    tree[f"{prefix}{SETUP_SCRIPT}"] = _script("vault/setup.sh.j2", cfg=config, steps=steps, title=title)


def _render_cluster(tree: Tree, prefix: str, cluster_plan: ClusterPlan, *, include_root: bool) -> None:
    config = cluster_plan.config
    context = {
        "cfg": config,
        "p": cluster_plan,
        "auth": cluster_plan.kubernetes_auth,
        "key_name": INTERMEDIATE_KEY_NAME,
        "kv_field": KV_KEY_FIELD,
        "signing_max_ttl": cluster_plan.signing_mount_max_ttl,
        "signing_max_ttl_seconds": parse_duration(cluster_plan.signing_mount_max_ttl),
        "root_issuer": ROOT_ISSUER_NAME,
        "int_overrides": " ".join(cluster_plan.intermediate_overrides),
        **_flavor_context(config),
    }
    if include_root:
        _render_audit_stanza(tree, prefix, config)
    external = config.root.mode == "external"
    cluster_steps = EXTERNAL_CLUSTER_STEPS if external else CLUSTER_STEPS
    steps = (*_root_steps(config), *cluster_steps) if include_root else cluster_steps
    for step in (*steps, IMPORT_STEP) if external else steps:
        tree[f"{prefix}vault/{step}"] = _script(f"vault/{step}.j2", **context)
    tree[f"{prefix}{LIB_FILE}"] = _lib(context, with_kv_key=True, with_issuers=external, with_ca_facts=True)
    tree[f"{prefix}{SETUP_SCRIPT}"] = _script(
        "vault/setup.sh.j2",
        cfg=config,
        steps=steps,
        title=f"Vault CA for istiod, cluster {cluster_plan.name}",
        next_step=IMPORT_HINT.format(script=step_script(cluster_plan, IMPORT_STEP)) if external else "",
    )
    tree[f"{prefix}{POLICY_FILE}"] = RenderedFile(render_template("policy.hcl.j2", p=cluster_plan).encode())
    header = f"Rendered by istio-vault-ca for cluster {cluster_plan.name}; edit the config and re-render."
    for output in cluster_plan.outputs:
        installer = get_installer(output)
        tree[f"{prefix}{installer.FILE}"] = _yaml(header, installer.build(cluster_plan))
    tree[f"{prefix}{helm_values_file(config)}"] = _yaml(header, manifests.helm_values(cluster_plan))
    reviewer = cluster_plan.kubernetes_auth.reviewer
    if reviewer == "secret":
        tree[f"{prefix}kubernetes/token-reviewer.yaml"] = _yaml(
            header, *manifests.token_reviewer_manifests(cluster_plan)
        )
    elif reviewer == "client-jwt":
        tree[f"{prefix}kubernetes/istiod-auth-delegator.yaml"] = _yaml(
            header, manifests.istiod_auth_delegator(cluster_plan)
        )
    if config.monitoring.enabled:
        _render_monitoring(tree, prefix, cluster_plan, header)
    applied = gitops.applied_manifests(tree, prefix)
    if applied:
        tree[f"{prefix}{gitops.KUSTOMIZATION}"] = _yaml(gitops.header(cluster_plan.name), gitops.kustomization(applied))


def _flavor_context(config: Config) -> dict[str, str]:
    return {"openbao_audit_file": OPENBAO_AUDIT_FILE, "helm_values_file": helm_values_file(config)}


def _render_audit_stanza(tree: Tree, prefix: str, config: Config) -> None:
    """OpenBao: the audit device as a server-config stanza (01-audit.sh checks it is loaded)."""
    if audit_declared(config):
        tree[f"{prefix}{OPENBAO_AUDIT_FILE}"] = RenderedFile(
            render_template(
                "openbao/audit.hcl.j2",
                cfg=config,
                stanza=audit_stanza(config.vault.audit),
                audit_dir=manifests.audit_dir(config.vault.audit.file_path),
                **_flavor_context(config),
            ).encode()
        )


def _render_monitoring(tree: Tree, prefix: str, cluster_plan: ClusterPlan, header: str) -> None:
    """`monitoring/`: the exporter, its RBAC, its Vault role and policy, and the Prometheus Operator objects."""
    from . import dashboard, monitoring

    config = cluster_plan.config
    config_text = manifests.dump(config.model_dump(mode="json", exclude_defaults=True))
    where = f"{prefix}monitoring/"
    tree[f"{where}rbac.yaml"] = _yaml(header, *monitoring.rbac(cluster_plan))
    workload = monitoring.deployment if config.monitoring.mode == "deployment" else monitoring.cronjob
    tree[f"{where}exporter.yaml"] = _yaml(
        header, monitoring.config_map(cluster_plan, config_text), workload(cluster_plan)
    )
    if config.monitoring.mode == "deployment":
        tree[f"{where}service-monitor.yaml"] = _yaml(header, *monitoring.service_and_monitor(cluster_plan))
    tree[f"{where}prometheus-rule.yaml"] = _yaml(header, monitoring.prometheus_rule(cluster_plan))
    tree[f"{prefix}{dashboard.FILE}"] = RenderedFile(dashboard.dashboard_json(cluster_plan).encode())
    tree[f"{where}vault-policy.hcl"] = RenderedFile(monitoring.policy_hcl(cluster_plan).encode())
    tree[f"{where}vault-monitor.sh"] = _script(
        "monitoring/vault-monitor.sh.j2",
        cfg=config,
        p=cluster_plan,
        role=monitoring.monitor_role(cluster_plan),
        policy=monitoring.monitor_policy(cluster_plan),
    )


def _file_docs(cluster_plan: ClusterPlan, prefix: str, tree: Tree) -> list[tuple[str, str]]:
    """(path, one line) for the README's file table, in the order a reviewer reads them."""
    config = cluster_plan.config
    cluster = cluster_plan.cluster
    docs = [
        (f"{prefix}{SETUP_SCRIPT}", "runs the steps below in order"),
        (
            f"{prefix}{LIB_FILE}",
            "sourced by every script here, never run: Vault address and CLI, messages, mount and key helpers; "
            "each step file holds only its step",
        ),
    ]
    if prefix == "" and audit_declared(config):
        docs.append(
            (
                "vault/01-audit.sh",
                f"checks that the file audit device `{config.vault.audit.path}/` declared in the server config "
                f"(`{OPENBAO_AUDIT_FILE}`) is loaded",
            )
        )
        docs.append((OPENBAO_AUDIT_FILE, "the audit device as an OpenBao server-config stanza, and where it goes"))
    elif prefix == "" and config.vault.audit.enabled:
        docs.append(("vault/01-audit.sh", f"enables the file audit device `{config.vault.audit.path}/`"))
    if prefix == "" and config.root.mode == "vault":
        docs.append(
            (
                "vault/02-root-pki.sh",
                f"enables `{config.root.mount}/`, tunes its max TTL to cover the intermediate, generates the root once",
            )
        )
    docs += [
        (
            f"{prefix}vault/03-kv.sh",
            f"enables KV v{config.kv.version} at `{config.kv.mount}/` (checks the version)",
        ),
        _intermediate_doc(cluster_plan, prefix),
        (
            f"{prefix}vault/05-kubernetes-auth.sh",
            f"Kubernetes auth at `auth/{cluster.auth_mount}/` (reviewer `{cluster_plan.kubernetes_auth.reviewer}`) "
            f"and role `{cluster.role}` for `{config.istiod.namespace}/{config.istiod.service_account}`",
        ),
        (f"{prefix}vault/06-policy.sh", f"writes `policy.hcl` as policy `{cluster.policy}`"),
        (f"{prefix}policy.hcl", "read on exactly the four paths the agent templates read"),
    ]
    if config.root.mode == "external":
        docs.append(
            (
                f"{prefix}vault/{IMPORT_STEP}",
                "after offline signing: imports the signed certificate with the root (`cert/ca_chain` ends with "
                f"it) and names the root issuer `{ROOT_ISSUER_NAME}`",
            )
        )
    docs += [
        (f"{prefix}{get_installer(o).FILE}", "istiod overlay: " + get_installer(o).DOC.split(":", 1)[1].strip())
        for o in cluster_plan.outputs
    ]
    chart = "OpenBao Helm chart (openbao/openbao)" if config.vault.flavor == "openbao" else "Vault Helm chart"
    docs.append((f"{prefix}{helm_values_file(config)}", f"values for the {chart} (agent injector enabled)"))
    if cluster_plan.kubernetes_auth.reviewer == "secret":
        docs.append(
            (
                f"{prefix}kubernetes/token-reviewer.yaml",
                "token reviewer service account, token Secret, binding",
            )
        )
    elif cluster_plan.kubernetes_auth.reviewer == "client-jwt":
        docs.append((f"{prefix}kubernetes/istiod-auth-delegator.yaml", "lets istiod's token review itself"))
    if config.monitoring.enabled:
        docs += _monitoring_docs(cluster_plan, f"{prefix}monitoring/")
    if f"{prefix}{gitops.KUSTOMIZATION}" in tree:
        docs.append((f"{prefix}{gitops.KUSTOMIZATION}", "lists the Kubernetes manifests above for a GitOps controller"))
    return docs


def _monitoring_docs(cluster_plan: ClusterPlan, where: str) -> list[tuple[str, str]]:
    from .monitoring import GIVEN_UP_CHECKS, monitor_policy, monitor_role

    monitoring = cluster_plan.config.monitoring
    workload = "Deployment running `serve`" if monitoring.mode == "deployment" else "CronJob pushing to the Pushgateway"
    docs = [
        (
            f"{where}vault-monitor.sh",
            f"writes policy `{monitor_policy(cluster_plan)}` and role "
            f"`{monitor_role(cluster_plan)}` for the exporter (after vault/setup.sh)",
        ),
        (
            f"{where}vault-policy.hcl",
            "what `verify vault` reads, never the key: gives up " + ", ".join(f"`{c}`" for c in GIVEN_UP_CHECKS),
        ),
        (f"{where}rbac.yaml", "the exporter's service account and the least RBAC of the cluster checks"),
        (f"{where}exporter.yaml", f"its config and the {workload} (non-root, read-only root filesystem)"),
    ]
    if monitoring.mode == "deployment":
        docs.append((f"{where}service-monitor.yaml", "Service and ServiceMonitor for /metrics"))
    docs.append(
        (f"{where}prometheus-rule.yaml", "PrometheusRule: expiry, failing checks, self-signed istiod, exporter absent")
    )
    docs.append((f"{where}grafana-dashboard.json", "Grafana dashboard of these metrics: import it into Grafana"))
    return docs


def _intermediate_doc(cluster_plan: ClusterPlan, prefix: str) -> tuple[str, str]:
    config, cluster = cluster_plan.config, cluster_plan.cluster
    if config.root.mode == "external":
        return (
            f"{prefix}vault/04-intermediate-csr.sh",
            f"enables `{cluster.intermediate_mount}/`, generates the key (exported, kept in a 0700 temp dir, "
            f"stored at `{config.kv.mount}/{cluster.kv_path}`) and writes its CSR to `$CSR_DIR` "
            f"(`csr/{cluster_plan.name}-intermediate.csr`) for the offline root",
        )
    return (
        f"{prefix}vault/04-intermediate-pki.sh",
        f"enables `{cluster.intermediate_mount}/`, generates the key (exported, kept in a 0700 temp dir, stored "
        f"at `{config.kv.mount}/{cluster.kv_path}`), signs it with the root (`format=pem_bundle`, "
        f"`max_path_length={cluster_plan.intermediate.max_path_length}`) and sets it",
    )


def _lib(context: dict[str, object], *, with_kv_key: bool, with_issuers: bool, with_ca_facts: bool) -> RenderedFile:
    """vault/lib.sh: the helpers the steps of one directory source, so each step file holds only its step.
    Sourced, never run, hence not executable; the key, issuer and CA-comparison helpers only where a step of that
    directory calls them (the CA comparison: steps 02, 04 and 07, which keep a CA and report its drift)."""
    text = render_template(
        "vault/lib.sh.j2",
        **context,
        with_kv_key=with_kv_key,
        with_issuers=with_issuers,
        with_ca_facts=with_ca_facts,
    )
    return RenderedFile(text.encode())


def _script(template: str, **context: object) -> RenderedFile:
    return RenderedFile(render_template(template, **context).encode(), executable=True)


def _yaml(header: str, *documents: object) -> RenderedFile:
    return RenderedFile(manifests.dump(*documents, header=header).encode())
