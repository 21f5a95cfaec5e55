"""The rehearsal's agent config against the real injector's (issue 11, item 5).

For every example config, each rendered istiod overlay is read the way ``rehearse`` reads it
(``verify.rehearsal.agent``: ``read_overlay`` -> ``parse_injection`` -> ``build_config``, as ``verify.rehearsal.pod
.run_agent`` calls them). A Pod carrying the overlay's annotations and environment is created (server-side dry run)
on the e2e API server, whose MutatingWebhookConfiguration calls the real vault-k8s handler; the agent config is read
back from the ``VAULT_CONFIG`` env of the ``vault-agent-init`` container the injector added. After the same path
moves (``agent.localize``) the two must be equal. vault-k8s builds its template list by iterating a Go map
(``Agent.secrets`` in agent-inject/agent/annotations.go), so templates are compared in destination order.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import plan
from istio_vault_ca.generator.render.layout import layout_for
from istio_vault_ca.verify.rehearsal import agent
from istio_vault_ca.verify.rehearsal.consistency import overlay_files
from tests.e2e import vault_injector as injector
from tests.e2e.cluster import Cluster
from tests.support import render_into, wait_until

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
SERVICE_ACCOUNT = "istiod"


@pytest.fixture(scope="module")
def injector_namespace(kube_cluster: Cluster, vault_injector: injector.Webhook) -> Iterator[str]:
    """A namespace the webhook selects, with istiod's service account, and the webhook registered (Fail)."""
    name = f"e2e-inject-{uuid.uuid4().hex[:8]}"
    kubeconfig = kube_cluster.kubeconfig
    injector.apply(
        kubeconfig,
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {injector.NAMESPACE_LABEL: "enabled"}},
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE_ACCOUNT, "namespace": name}},
        vault_injector.configuration("Fail"),
    )
    probe = injector.istiod_pod(
        "probe", name, {"vault.hashicorp.com/agent-inject": "true", "vault.hashicorp.com/role": "r"}, {}
    )
    replies: list[subprocess.CompletedProcess[str]] = []

    def mutated() -> bool:  # the API server picks the new webhook configuration up asynchronously
        replies.append(injector.dry_run_create(kubeconfig, probe))
        return replies[-1].returncode == 0 and "vault-agent-init" in replies[-1].stdout

    wait_until(
        mutated,
        30,
        "the webhook to mutate a Pod",
        interval=0.3,
        details=lambda: replies[-1].stderr or replies[-1].stdout[:400],
    )
    yield name
    injector.kubectl(kubeconfig, "delete", "namespace", name, "--wait=false")
    injector.delete_configuration(kubeconfig, "vault")


def by_destination(config: dict[str, Any]) -> dict[str, Any]:
    ordered = dict(config)
    ordered["template"] = sorted(config.get("template") or [], key=lambda stanza: str(stanza["destination"]))
    return ordered


def real_pod(kube_cluster: Cluster, namespace: str, overlay: agent.IstiodOverlay) -> dict[str, Any]:
    pod = injector.istiod_pod(f"istiod-{uuid.uuid4().hex[:6]}", namespace, overlay.annotations, overlay.env)
    reply = injector.dry_run_create(kube_cluster.kubeconfig, pod)
    assert reply.returncode == 0, f"{overlay.source}: the API server refused the Pod: {reply.stderr.strip()}"
    mutated: dict[str, Any] = json.loads(reply.stdout)
    return mutated


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_rehearsal_agent_config_is_the_injected_one(
    example: Path, tmp_path: Path, kube_cluster: Cluster, injector_namespace: str
) -> None:
    tree = render_into(example, tmp_path / "out")
    layout = layout_for(plan(load(str(example)).config))
    compared = 0
    for cluster in layout.clusters:
        for source in overlay_files(tree, cluster):
            overlay = agent.read_overlay(tree / source, source)
            injection = agent.parse_injection(overlay)
            mutated = real_pod(kube_cluster, injector_namespace, overlay)
            real = injector.injected_config(mutated)

            # In the Pod: ours, before any move, is the injector's.
            ours_in_pod = agent.pod_config(
                injection, vault_address=injection.service or injector.INJECTOR_VAULT_ADDRESS
            )
            assert by_destination(ours_in_pod) == by_destination(real), source

            # What the rehearsal runs: the same moves applied to the real config give the same config.
            moves: dict[str, Any] = {
                "vault_address": "http://127.0.0.1:8200",
                "token_path": tmp_path / "token",
                "root": tmp_path / "fs",
                "sink_path": tmp_path / "vault-token",
                "pid_file": tmp_path / "agent.pid",
            }
            rehearsed = agent.build_config(injection, **moves)
            assert by_destination(rehearsed) == by_destination(agent.localize(real, **moves)), source

            # The secret volume is mounted where the overlay says, in istiod's container too.
            discovery = next(c for c in mutated["spec"]["containers"] if c["name"] == "discovery")
            mounts = {m["mountPath"] for m in discovery["volumeMounts"]}
            assert overlay.secret_volume_path in mounts
            compared += 1
    assert compared >= 1


# ---------------------------------------------------------------------- hand edits: where an emulation could drift

DEFAULT_CONFIG = REPO / "generator" / "config" / "starter.yaml"
P = "vault.hashicorp.com/"


@pytest.fixture(scope="module")
def default_overlay(tmp_path_factory: pytest.TempPathFactory) -> agent.IstiodOverlay:
    tree = render_into(DEFAULT_CONFIG, tmp_path_factory.mktemp("default") / "out")
    source = "istiod/tsb-controlplane-overlay.yaml"
    return agent.read_overlay(tree / source, source)


def edited(overlay: agent.IstiodOverlay, changes: dict[str, str]) -> agent.IstiodOverlay:
    annotations = {**overlay.annotations, **{P + key: value for key, value in changes.items()}}
    return agent.IstiodOverlay(f"{overlay.source} (edited)", overlay.installer, annotations, overlay.env)


ACCEPTED_EDITS = {
    "volume-path-trailing-slash": {"secret-volume-path": "/vault/secrets/"},
    "blank-secret-annotation": {"agent-inject-secret-extra.pem": "  "},
    "file-annotation-absolute": {"agent-inject-file-ca-key.pem": "/sub/../key.pem"},
    "preserve-case-per-secret-wins": {
        "agent-inject-secret-Extra.PEM": "kv/extra",
        "preserve-secret-case": "true",
        "preserve-secret-case-Extra.PEM": "false",
    },
    "preserve-case-global": {"agent-inject-secret-Extra.PEM": "kv/extra", "preserve-secret-case": "True"},
    "auth-config-token-path": {"auth-config-token-path": "/var/run/secrets/tokens/istio-token"},
    "error-on-missing-key-word-forms": {
        "error-on-missing-key-ca-key.pem": "T",
        "error-on-missing-key-ca-cert.pem": "0",
    },
    "default-json-template": {"agent-inject-secret-extra.json": "kv/extra", "agent-inject-default-template": "json"},
    "per-secret-volume-path": {"secret-volume-path-root-cert.pem": "/vault/roots"},
}


@pytest.mark.parametrize("edit", sorted(ACCEPTED_EDITS))
def test_hand_edited_annotations_give_the_injected_config(
    edit: str, default_overlay: agent.IstiodOverlay, kube_cluster: Cluster, injector_namespace: str
) -> None:
    overlay = edited(default_overlay, ACCEPTED_EDITS[edit])
    injection = agent.parse_injection(overlay)
    real = injector.injected_config(real_pod(kube_cluster, injector_namespace, overlay))
    ours = agent.pod_config(injection, vault_address=injector.INJECTOR_VAULT_ADDRESS)
    assert by_destination(ours) == by_destination(real)


REFUSED_EDITS = {
    "agent-inject": {"agent-inject": "yes"},
    "agent-init-first": {"agent-init-first": "yes"},
    "agent-pre-populate-only": {"agent-pre-populate-only": "maybe"},
    "error-on-missing-key": {"error-on-missing-key-ca-key.pem": "on"},
}


@pytest.mark.parametrize("edit", sorted(REFUSED_EDITS))
def test_a_boolean_the_injector_refuses_is_refused_by_the_emulation(
    edit: str, default_overlay: agent.IstiodOverlay, kube_cluster: Cluster, injector_namespace: str
) -> None:
    """vault-k8s parses these with parseutil.ParseBool and denies the Pod on an unknown word; so does
    ``parse_injection`` (an OverlayError naming the annotation), where it used to read them as false."""
    from istio_vault_ca.generator.errors import OverlayError

    overlay = edited(default_overlay, REFUSED_EDITS[edit])
    pod = injector.istiod_pod(f"istiod-{uuid.uuid4().hex[:6]}", injector_namespace, overlay.annotations, overlay.env)
    reply = injector.dry_run_create(kube_cluster.kubeconfig, pod)
    assert reply.returncode != 0
    assert 'admission webhook "vault.hashicorp.com" denied the request' in reply.stderr
    assert "invalid syntax" in reply.stderr
    with pytest.raises(OverlayError, match=f"{P}{edit}"):
        agent.parse_injection(overlay)


def test_ca_dir_on_the_charts_cacerts_mount_is_refused_by_api_server_and_config(
    kube_cluster: Cluster, default_overlay: agent.IstiodOverlay, injector_namespace: str, tmp_path: Path
) -> None:
    """istio-discovery mounts its ``cacerts`` Secret at /etc/cacerts; the injector mounts the secret volume at
    secret-volume-path in every container, so the real API server rejects the Pod (duplicate mountPath). The
    config refuses that ca_dir before anything is rendered."""
    from istio_vault_ca.generator.errors import ConfigError

    overlay = edited(default_overlay, {"secret-volume-path": "/etc/cacerts"})
    cacerts = {"name": "cacerts", "mountPath": "/etc/cacerts", "readOnly": True}
    pod = injector.istiod_pod(
        f"istiod-{uuid.uuid4().hex[:6]}",
        injector_namespace,
        overlay.annotations,
        {"ROOT_CA_DIR": "/etc/cacerts"},
        extra_mounts=[cacerts],
    )
    pod["spec"]["volumes"].append({"name": "cacerts", "secret": {"secretName": "cacerts", "optional": True}})
    reply = injector.dry_run_create(kube_cluster.kubeconfig, pod)
    assert reply.returncode != 0
    assert "mountPath" in reply.stderr and "must be unique" in reply.stderr, reply.stderr

    config = tmp_path / "istio-vault-ca.yaml"
    config.write_text(DEFAULT_CONFIG.read_text().replace("ca_dir: /vault/secrets", "ca_dir: /etc/cacerts"))
    with pytest.raises(ConfigError, match="ca_dir"):
        load(str(config))
