"""`plan-rotation --root`'s files for phases (b), (c) and (d), rendered from example configs (no Vault needed):
per installer, the overlay read back by the installer's own reader; the policy derived from the templates;
the same bytes on every render. The scripts run against OpenBao in tests/integration/test_root_rotation*.py."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from istio_vault_ca.generator.config.loader import parse_text
from istio_vault_ca.generator.config.plan import ClusterPlan, plan
from istio_vault_ca.generator.render.installers import get_installer
from istio_vault_ca.generator.render.root_rotation import (
    render_phase_a,
    render_phase_b,
    render_phase_c,
    render_phase_d,
)
from istio_vault_ca.verify.rehearsal.consistency import policy_read_paths
from istio_vault_ca.verify.rotation.root import IntermediateNow
from tests.support import EXAMPLES

NEW_ISSUER = "0f3c2a4e-1111-2222-3333-444455556666"


def plans_of(example: str) -> tuple[ClusterPlan, ...]:
    path = EXAMPLES / example
    return plan(parse_text(path.read_text(encoding="utf-8"), str(path)))


def test_phase_b_overlay_of_every_installer_sets_multiroot_and_the_bundle_template() -> None:
    plans = plans_of("kv-v2.yaml")
    tree = render_phase_b(plans)
    assert tree == render_phase_b(plans_of("kv-v2.yaml"))  # deterministic, to the byte
    (cluster,) = plans
    assert sorted(cluster.outputs) == ["helm", "istio-operator", "tsb-controlplane"]
    for output in cluster.outputs:
        installer = get_installer(output)
        document = YAML(typ="safe", pure=True).load(tree[f"root/b/{cluster.name}/{installer.FILE}"].content)
        settings = installer.read(document)
        assert settings is not None, output
        annotations, env = settings
        assert env == {"ISTIO_MULTIROOT_MESH": "true", "ROOT_CA_DIR": cluster.config.istiod.ca_dir}, output
        assert annotations["vault.hashicorp.com/agent-inject-secret-root-cert.pem"] == "kv/data/istio-trust-bundle"
        template = annotations["vault.hashicorp.com/agent-inject-template-root-cert.pem"]
        assert (
            template
            == '{{- with secret "kv/data/istio-trust-bundle" -}}\n{{ index .Data.data "root-cert.pem" }}\n{{- end }}\n'
        )
        # The other three files are read as before the rotation.
        before = cluster.annotations()
        for name in ("ca-cert.pem", "ca-key.pem", "cert-chain.pem"):
            key = f"vault.hashicorp.com/agent-inject-template-{name}"
            assert annotations[key] == before[key]
    assert tree[f"root/b/{cluster.name}/root-cert.pem.ctmpl"].content.decode() == template


def test_phase_b_policy_reads_the_bundle_and_keeps_what_the_running_agent_reads() -> None:
    plans = plans_of("three-clusters.yaml")
    tree = render_phase_b(plans)
    assert len(plans) == 3
    for cluster in plans:
        text = tree[f"root/b/{cluster.name}/policy.hcl"].content.decode()
        mount, kv_path = cluster.cluster.intermediate_mount, cluster.cluster.kv_path
        assert policy_read_paths(text) == sorted(
            [
                f"{mount}/cert/ca",
                f"{mount}/cert/ca_chain",
                "kv/data/istio-trust-bundle",
                f"kv/data/{kv_path}",
                "pki/cert/ca",
            ]
        )
        script = tree[f"root/b/{cluster.name}/vault/06-policy.sh"]
        assert script.executable and f"POLICY='{cluster.cluster.policy}'" in script.content.decode()
        assert f'Policy "{cluster.cluster.policy}"' in text


def test_phase_c_signs_with_the_new_root_issuer_and_phase_d_checks_every_intermediate(tmp_path: Path) -> None:
    plans = plans_of("three-clusters.yaml")
    old = IntermediateNow("aaaa-bbbb", "1f", dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    config = plans[0].config
    tree_c = render_phase_c(config, tuple((cluster, old) for cluster in plans[1:]), NEW_ISSUER)
    phase_c_scripts = sorted(name for name in tree_c if name.endswith(".sh"))
    assert phase_c_scripts == ["root/c/central/reissue-intermediate.sh", "root/c/west/reissue-intermediate.sh"]
    west = tree_c["root/c/west/reissue-intermediate.sh"].content.decode()
    assert f"NEW_ROOT_ISSUER='{NEW_ISSUER}'" in west
    assert '"$ROOT_MOUNT/issuer/$NEW_ROOT_ISSUER/sign-intermediate"' in west
    assert "root/sign-intermediate" not in west  # never the default issuer, which is still the old root
    assert f"NEW_KEY_NAME='istiod-intermediate-under-{NEW_ISSUER}'" in west
    assert "istiod 1.19+ reloads them without a restart (1.12-1.18 only with AUTO_RELOAD_PLUGIN_CERTS=true" in west
    tree_d = render_phase_d(config, plans, "aaaa-bbbb", NEW_ISSUER)
    script_d = tree_d["root/d-new-root-only.sh"].content.decode()
    assert "INT_MOUNTS=('istioca-east' 'istioca-west' 'istioca-central')" in script_d
    tree_a = render_phase_a(config, "aaaa-bbbb", "1f", "root-replaces-aaaa-bbb")
    scripts = {**tree_a, **render_phase_b(plans), **tree_c, **tree_d}
    written = []
    for name, file in scripts.items():
        if name.endswith(".sh"):
            # lib.sh (beside phase (b)'s policy step) is sourced, never run.
            assert file.executable != name.endswith("/lib.sh"), name
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(file.content)
            written.append(str(path))
            syntax = subprocess.run(["bash", "-n", str(path)], capture_output=True, check=False)
            assert syntax.returncode == 0, (name, syntax.stderr)
    assert len(written) == 1 + 3 + 3 + 2 + 1
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    lint = subprocess.run([shellcheck, "-x", "--severity=style", *written], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout


@pytest.mark.parametrize("example", ["kv-v2.yaml", "three-clusters.yaml", "istio-helm.yaml"])
def test_the_main_render_is_unchanged_by_the_bundle_plan(example: str) -> None:
    for cluster in plans_of(example):
        assert "ISTIO_MULTIROOT_MESH" not in cluster.env
        assert not any("istio-trust-bundle" in path for path in cluster.policy_paths())


def test_offline_root_phases_carry_certificates_only_and_pass_shellcheck(tmp_path: Path) -> None:
    """root.mode external: (a) writes the bundle of the two roots it carries, (c) prints sign-intermediate with the
    new root file and checks the import against the new root it carries, (d) renames the mounts' root issuer."""
    from istio_vault_ca.generator.pki import factory
    from istio_vault_ca.generator.render.root_rotation import OfflineRoot, render_offline_phase_a

    plans = plans_of("external-root.yaml")
    config = plans[0].config
    old_ca = factory.self_signed_ca("old offline root", lifetime=dt.timedelta(days=30))
    new_ca = factory.self_signed_ca("new offline root", lifetime=dt.timedelta(days=30))
    old = OfflineRoot("offline-0123456789abcdef", "CN=old offline root", old_ca.pem.decode())
    new = OfflineRoot("offline-fedcba9876543210", "CN=new offline root", new_ca.pem.decode())
    intermediate = IntermediateNow("aaaa-bbbb", "1f", dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    due = tuple((cluster, intermediate) for cluster in plans)
    trees = (
        render_offline_phase_a(config, old, new),
        render_phase_c(config, due, new.issuer, (new, "new root/new-root.pem")),
        render_phase_d(config, plans, old.issuer, new.issuer, new),
    )
    assert trees[1] == render_phase_c(config, due, new.issuer, (new, "new root/new-root.pem"))
    script_a = trees[0]["root/a-new-root.sh"].content.decode()
    assert old_ca.pem.decode().strip() in script_a and new_ca.pem.decode().strip() in script_a
    assert "root/generate" not in script_a and "old_root=@" in script_a
    east = trees[1]["root/c/east/reissue-intermediate.sh"].content.decode()
    assert "NEW_ROOT_CERT_FILE='new root/new-root.pem'" in east and new_ca.pem.decode().strip() in east
    assert 'CSR_FILE="$CSR_DIR/$CLUSTER-intermediate-under-offline-fedcba9876543210.csr"' in east
    assert 'sign-intermediate"' not in east  # nothing signed in Vault
    script_d = trees[2]["root/d-new-root-only.sh"].content.decode()
    assert "INT_MOUNTS=('istioca-east' 'istioca-west')" in script_d and "ROOT_MOUNT/config/issuers" not in script_d
    assert "point root.certificate_file at the new root" in script_d
    written = []
    for tree in trees:
        for name, file in tree.items():
            assert b"PRIVATE KEY" not in file.content, name
            if name.endswith(".sh"):
                path = tmp_path / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(file.content)
                written.append(str(path))
    assert len(written) == 1 + 2 + 1
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    lint = subprocess.run([shellcheck, "-x", "--severity=style", *written], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout
