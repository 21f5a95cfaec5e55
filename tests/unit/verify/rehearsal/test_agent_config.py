"""The agent config built from the rendered istiod overlays, the way vault-k8s builds it; failure diagnosis."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import ClusterPlan, KvEngine, plan
from istio_vault_ca.generator.errors import OverlayError, RehearsalStepFailed
from istio_vault_ca.generator.render.layout import ClusterLayout
from istio_vault_ca.verify.rehearsal import agent
from istio_vault_ca.verify.rehearsal.consistency import check_cluster_overlay, policy_allows, policy_read_paths
from istio_vault_ca.verify.rehearsal.results import scrub
from tests.support import EXAMPLES, render_into

ALL_OUTPUTS = EXAMPLES / "kv-v2.yaml"  # renders the TSB, IstioOperator and Helm installers at once
INSTALLERS = {
    "tsb-controlplane": "istiod/tsb-controlplane-overlay.yaml",
    "istio-operator": "istiod/istio-operator-overlay.yaml",
    "helm": "istiod/istiod-helm-values.yaml",
}
PREFIX = "vault.hashicorp.com/"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_into(ALL_OUTPUTS, tmp_path_factory.mktemp("render") / "out")


@pytest.fixture(scope="module")
def all_installers_plan() -> ClusterPlan:
    """The plan of ALL_OUTPUTS's cluster (the starter's is tests/unit/conftest.py's cluster_plan)."""
    return plan(load(str(ALL_OUTPUTS)).config)[0]


@pytest.mark.parametrize("installer", sorted(INSTALLERS))
def test_each_installer_yields_the_plans_annotations_and_env(
    tree: Path, all_installers_plan: ClusterPlan, installer: str
) -> None:
    overlay = agent.read_overlay(tree / INSTALLERS[installer], INSTALLERS[installer])
    assert overlay.installer == installer
    assert overlay.annotations == all_installers_plan.annotations()
    assert overlay.env == all_installers_plan.env
    assert overlay.secret_volume_path == overlay.root_ca_dir == "/vault/secrets"


def _config(overlay: agent.IstiodOverlay, root: Path) -> dict:  # type: ignore[type-arg]
    return agent.build_config(
        agent.parse_injection(overlay),
        vault_address="http://127.0.0.1:8200",
        token_path=root / "sa.jwt",
        root=root / "fs",
        sink_path=root / "token",
        pid_file=root / "pid",
    )


def test_config_mirrors_the_injector_with_fast_exit(
    tree: Path, all_installers_plan: ClusterPlan, tmp_path: Path
) -> None:
    overlay = agent.read_overlay(tree / INSTALLERS["helm"], "helm")
    config = _config(overlay, tmp_path)

    method = config["auto_auth"]["method"]
    assert method["type"] == "kubernetes"
    assert method["mount_path"] == "auth/kubernetes"
    assert method["config"] == {"role": "istiod", "token_path": str(tmp_path / "sa.jwt")}
    assert config["exit_after_auth"] is True
    assert config["template_config"] == {"exit_on_retry_failure": True}
    assert config["vault"] == {"address": "http://127.0.0.1:8200", "retry": {"num_retries": 1}}

    by_file = {Path(t["destination"]).name: t for t in config["template"]}
    assert sorted(by_file) == ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]
    for ca_file in all_installers_plan.ca_files():
        stanza = by_file[ca_file.name]
        assert stanza["destination"] == str(tmp_path / "fs" / "vault" / "secrets" / ca_file.name)
        assert stanza["contents"] == ca_file.template
        assert stanza["error_on_missing_key"] is True
        assert (stanza["left_delimiter"], stanza["right_delimiter"]) == ("{{", "}}")
    assert by_file["ca-key.pem"]["perms"] == "0400"
    assert "perms" not in by_file["ca-cert.pem"]


def test_a_hand_edited_template_is_what_the_agent_gets(tree: Path, tmp_path: Path) -> None:
    edited = tmp_path / "helm.yaml"
    edited.write_text(
        (tree / INSTALLERS["helm"]).read_text().replace('index .Data.data "ca-key.pem"', 'index .Data "ca-key.pem"')
    )
    config = _config(agent.read_overlay(edited, "helm.yaml"), tmp_path)
    key = next(t for t in config["template"] if t["destination"].endswith("ca-key.pem"))
    assert 'index .Data "ca-key.pem"' in key["contents"]


def _overlay(annotations: dict[str, str], env: dict[str, str] | None = None) -> agent.IstiodOverlay:
    return agent.IstiodOverlay("test", "helm", {PREFIX + k: v for k, v in annotations.items()}, env or {})


def test_vault_k8s_naming_rules() -> None:
    injection = agent.parse_injection(
        _overlay(
            {
                "agent-inject-secret-Foo.txt": "kv/foo",
                "agent-inject-template-Bar": '{{ with secret "kv/bar" }}{{ .Data.x }}{{ end }}',
                # Per-secret annotations use the suffix as written; only the file name is lowercased.
                "agent-inject-file-Bar": "renamed.pem",
                "secret-volume-path-Bar": "/other",
                "agent-inject-secret-Keep": "kv/keep",
                "preserve-secret-case-Keep": "true",
                "role": "r",
                "auth-config-role": "ignored",
                "auth-config-token-path": "/custom",
            }
        )
    )
    by_name = {t.name: t for t in injection.templates}
    assert sorted(by_name) == ["Keep", "bar", "foo.txt"]
    assert by_name["foo.txt"].destination == "/vault/secrets/foo.txt"
    assert by_name["foo.txt"].contents == agent.DEFAULT_MAP_TEMPLATE % "kv/foo"
    assert by_name["bar"].destination == "/other/renamed.pem"
    assert by_name["bar"].secret_paths() == ("kv/bar",)
    assert injection.role == "r"  # vault.hashicorp.com/role wins over auth-config-role
    assert injection.auth_config["token_path"] == "/custom"
    assert injection.auth_path == "auth/kubernetes"


def test_template_files_and_commands_are_reported_not_run() -> None:
    injection = agent.parse_injection(
        _overlay(
            {
                "agent-inject-template-file-a": "/vault/configs/a.tmpl",
                "agent-inject-secret-b": "kv/b",
                "agent-inject-command-b": "touch /tmp/x",
                "role": "r",
            }
        )
    )
    assert [t.name for t in injection.templates] == ["b"]
    assert len(injection.unsupported) == 2


def test_root_ca_dir_defaults_like_istiod() -> None:
    assert _overlay({}).root_ca_dir == "/etc/cacerts"
    assert _overlay({}).secret_volume_path == "/vault/secrets"
    assert _overlay({}, {"ROOT_CA_DIR": "./etc/cacerts"}).root_ca_dir == "/etc/cacerts"


def test_an_unrelated_yaml_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("kind: ConfigMap\ndata: {a: b}\n")
    with pytest.raises(OverlayError, match=r"x\.yaml: no istiod podAnnotations"):
        agent.read_overlay(path, "x.yaml")


def test_consistency_rejects_secret_volume_path_that_is_not_root_ca_dir(tree: Path, tmp_path: Path) -> None:
    edited = tmp_path / "out"
    edited.mkdir()
    (edited / "istiod").mkdir()
    (edited / "policy.hcl").write_text((tree / "policy.hcl").read_text())
    text = (tree / INSTALLERS["helm"]).read_text()
    (edited / INSTALLERS["helm"]).write_text(
        text.replace("secret-volume-path: /vault/secrets", "secret-volume-path: /etc/cacerts-vault")
    )
    cluster = ClusterLayout(plan(load(str(ALL_OUTPUTS)).config)[0], "")
    with pytest.raises(RehearsalStepFailed) as failure:
        check_cluster_overlay(edited, cluster)
    assert "secret-volume-path /etc/cacerts-vault is not ROOT_CA_DIR /vault/secrets" in failure.value.finding


def test_consistency_fails_when_the_policy_misses_a_template_path(tree: Path, tmp_path: Path) -> None:
    edited = tmp_path / "out"
    (edited / "istiod").mkdir(parents=True)
    (edited / INSTALLERS["helm"]).write_text((tree / INSTALLERS["helm"]).read_text())
    (edited / "policy.hcl").write_text('path "istioca/cert/ca" {\n  capabilities = ["read"]\n}\n')
    cluster = ClusterLayout(plan(load(str(ALL_OUTPUTS)).config)[0], "")
    with pytest.raises(RehearsalStepFailed) as failure:
        check_cluster_overlay(edited, cluster)
    assert "grants no read on kv/data/istioca, which the ca-key.pem template reads" in failure.value.finding
    assert "403" in failure.value.hint
    assert {check.status.value for check in failure.value.checks} == {"fail"}
    assert all(check.hint for check in failure.value.checks)


def test_policy_globs() -> None:
    assert policy_read_paths('path "a/b" { capabilities = ["read"] }\npath "c" { capabilities = ["list"] }') == ["a/b"]
    assert policy_allows("kv/data/*", "kv/data/istio/ca")
    assert policy_allows("kv/+/istioca", "kv/data/istioca")
    assert not policy_allows("kv/istioca", "kv/istioca2")


EXPECT = agent.Expectation("istio-system", "istiod", "istioca", KvEngine(1, "kv"))
INJECTION = agent.Injection(
    role="istiod",
    auth_type="kubernetes",
    auth_path="auth/kubernetes",
    auth_config={},
    templates=(
        agent.AgentTemplate("ca-key.pem", "/vault/secrets", "ca-key.pem", '{{ index .Data.data "ca-key.pem" }}'),
        agent.AgentTemplate("ca-cert.pem", "/vault/secrets", "ca-cert.pem", '{{ with secret "kv/istioca" }}{{ end }}'),
    ),
)


def _login_log(message: str, code: int = 403) -> str:
    return (
        "2026-01-01T00:00:00.000Z [ERROR] agent.auth.handler: error authenticating:\n  error=\n"
        "  | Error making API request.\n  | \n  | URL: PUT http://127.0.0.1:8200/v1/auth/kubernetes/login\n"
        f"  | Code: {code}. Errors:\n  | \n  | * {message}\n   backoff=1s\n"
    )


@pytest.mark.parametrize(
    ("log", "cause"),
    [
        (_login_log("service account name not authorized"), "role istiod: service account name not authorized"),
        (_login_log("namespace not authorized"), "role istiod: namespace not authorized"),
        (_login_log('invalid role name "istiod"', 400), 'role istiod: invalid role name "istiod"'),
        (
            "[WARN]  agent: (view) vault.read(kv/istioca): vault.read(kv/istioca): Error making API request.\n\n"
            "URL: GET http://127.0.0.1:8200/v1/kv/istioca\nCode: 403. Errors:\n\n* 1 error occurred:\n"
            '\t* permission denied\n\n (retry attempt 1 after "250ms")\n',
            "policy istioca: permission denied reading kv/istioca",
        ),
        (
            '[ERROR] agent: runtime error encountered: error="template server: (dynamic): execute: template: '
            ':2:14: executing \\"\\" at <.Data.data>: map has no entry for key \\"data\\"" exitCode=1\n',
            'ca-key.pem template: .Data.data has no key "data"',
        ),
        (
            "[ERROR] agent: (view) vault.read(pki/cert/ca): vault.read(pki/cert/ca): Error making API request.\n\n"
            "URL: GET http://127.0.0.1:8200/v1/pki/cert/ca\nCode: 400. Errors:\n\n"
            "* no default issuer currently configured (exceeded maximum retries)\n",
            "reading pki/cert/ca: no default issuer currently configured (HTTP 400)",
        ),
        ("[ERROR] agent: something odd\n", "agent: something odd"),
    ],
)
def test_agent_failures_become_one_line_causes(log: str, cause: str) -> None:
    diagnosis = agent.diagnose(log, INJECTION, EXPECT)
    assert diagnosis.cause == cause
    assert diagnosis.hint


def test_hints_name_the_value_to_fix() -> None:
    assert (
        "service account istiod"
        in agent.diagnose(_login_log("service account name not authorized"), INJECTION, EXPECT).hint
    )
    missing_key = '[ERROR] x at <.Data.data>: map has no entry for key "data"\n'
    assert 'KV v1, whose templates read index .Data "<key>"' in agent.diagnose(missing_key, INJECTION, EXPECT).hint


def test_scrub_removes_key_material() -> None:
    text = "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\nabc\n-----END RSA PRIVATE KEY-----\nafter"
    cleaned = scrub(text)
    assert "MIIE" not in cleaned and "PRIVATE KEY-----" not in cleaned
    assert cleaned.startswith("before") and cleaned.endswith("after")
    assert "MIIE" not in scrub("-----BEGIN PRIVATE KEY-----\nMIIE truncated")


# ---------------------------------------------------------------------- as vault-k8s v1.6.2 reads annotations
# (each case is checked against the real injector by tests/e2e/test_injector_differential.py)


def _edited(tree: Path, changes: dict[str, str]) -> agent.IstiodOverlay:
    overlay = agent.read_overlay(tree / INSTALLERS["helm"], "helm")
    annotations = {**overlay.annotations, **{PREFIX + key: value for key, value in changes.items()}}
    return agent.IstiodOverlay("helm", overlay.installer, annotations, overlay.env)


def _destinations(overlay: agent.IstiodOverlay) -> dict[str, str]:
    return {template.name: template.destination for template in agent.parse_injection(overlay).templates}


def test_destination_is_written_as_the_injector_writes_it(tree: Path) -> None:
    assert _destinations(_edited(tree, {"secret-volume-path": "/vault/secrets/"}))["ca-key.pem"] == (
        "/vault/secrets//ca-key.pem"
    )
    # agent-inject-file goes through Go's filepath.Join: cleaned, and an absolute name stays under the mount.
    assert _destinations(_edited(tree, {"agent-inject-file-ca-key.pem": "/sub/../key.pem"}))["ca-key.pem"] == (
        "/vault/secrets/key.pem"
    )


def test_blank_secret_annotations_name_no_template(tree: Path) -> None:
    assert "extra.pem" not in _destinations(_edited(tree, {"agent-inject-secret-extra.pem": " "}))


def test_per_secret_preserve_case_wins_over_the_pod_wide_one(tree: Path) -> None:
    changes = {"agent-inject-secret-Extra.PEM": "kv/x", "preserve-secret-case": "true"}
    assert "Extra.PEM" in _destinations(_edited(tree, changes))
    assert "extra.pem" in _destinations(_edited(tree, {**changes, "preserve-secret-case-Extra.PEM": "false"}))


@pytest.mark.parametrize("name", ["agent-inject", "agent-init-first", "error-on-missing-key-ca-key.pem"])
def test_a_boolean_the_injector_refuses_is_an_overlay_error(tree: Path, name: str) -> None:
    with pytest.raises(OverlayError, match=f"{PREFIX}{name} is 'yes', not a boolean"):
        agent.parse_injection(_edited(tree, {name: "yes"}))
    # strconv.ParseBool's other spellings are accepted, as the injector accepts them.
    agent.parse_injection(_edited(tree, {name: "True"}))


def test_a_refused_boolean_fails_the_rehearsal_consistency_step(
    tree: Path, all_installers_plan: ClusterPlan, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "out"
    shutil.copytree(tree, copy)
    for source in INSTALLERS.values():  # every installer alike, or the overlays disagree first
        values = copy / source
        text = re.sub(
            r"(error-on-missing-key-ca-key(?:\\)?\.pem(?::|\n\s+value:) )'true'", r"\1'yes'", values.read_text()
        )
        assert "'yes'" in text, f"{source}: the annotation was not found to edit"
        values.write_text(text)
    with pytest.raises(RehearsalStepFailed, match="not a boolean"):
        check_cluster_overlay(copy, ClusterLayout(all_installers_plan, ""))
