"""The generator commands as a user runs them: exit codes, messages and files."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.support import EXAMPLES, REPO, run_cli


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, env=dict(os.environ, PYTHONPATH=str(REPO)))


def test_render_then_check_is_clean_and_byte_stable(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("render", "-c", str(EXAMPLES / "kv-v2.yaml"), "-o", str(out)).returncode == 0
    first = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert run("render", "-c", str(EXAMPLES / "kv-v2.yaml"), "-o", str(out)).returncode == 0
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == first
    check = run("render", "--check", "-c", str(EXAMPLES / "kv-v2.yaml"), "-o", str(out))
    assert check.returncode == 0 and "up to date" in check.stdout


def test_check_names_changed_missing_and_extra_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = str(EXAMPLES / "tsb-single-cluster.yaml")
    run("render", "-c", config, "-o", str(out))
    (out / "policy.hcl").write_text("edited\n")
    (out / "vault" / "06-policy.sh").unlink()
    (out / "stray.txt").write_text("x")
    result = run("render", "--check", "-c", config, "-o", str(out))
    assert result.returncode == 1
    assert "policy.hcl (differs)" in result.stderr
    assert "vault/06-policy.sh (missing)" in result.stderr
    assert "stray.txt (not rendered any more)" in result.stderr
    assert f"istio-vault-ca render -c {config} -o {out}" in result.stderr


def test_files_dropped_from_the_config_disappear(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run("render", "-c", str(EXAMPLES / "kv-v2.yaml"), "-o", str(out))
    assert (out / "istiod" / "istiod-helm-values.yaml").exists()
    run("render", "-c", str(EXAMPLES / "tsb-single-cluster.yaml"), "-o", str(out))
    assert not (out / "istiod" / "istiod-helm-values.yaml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "no staging directories are left behind"


def test_refuses_to_replace_a_directory_it_did_not_render(tmp_path: Path) -> None:
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    result = run("render", "-o", str(precious))
    assert result.returncode == 2
    assert "was not rendered by istio-vault-ca; refusing to replace it" in result.stderr
    assert (precious / "notes.txt").read_text() == "keep me"


def test_scripts_are_executable_and_data_files_are_not(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run("render", "-o", str(out))
    assert os.access(out / "vault" / "setup.sh", os.X_OK)
    assert not os.access(out / "policy.hcl", os.X_OK)


def test_default_config_is_the_local_file_else_built_in(tmp_path: Path) -> None:
    result = run("validate", cwd=tmp_path)
    assert result.returncode == 0 and "built-in default: valid" in result.stdout
    (tmp_path / "istio-vault-ca.yaml").write_text("istiod:\n  service_account: istiod\n")
    result = run("validate", cwd=tmp_path)
    assert result.returncode == 0 and "istio-vault-ca.yaml: valid" in result.stdout


def test_init_writes_a_starter_that_renders_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "istio-vault-ca.yaml"
    assert run("init", str(target)).returncode == 0
    assert "ca_dir: /vault/secrets" in target.read_text()
    again = run("init", str(target))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert run("render", "-c", str(target), "-o", str(tmp_path / "out")).returncode == 0


def test_schema_is_json_schema_of_the_model() -> None:
    result = run("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {
        "vault",
        "root",
        "intermediate",
        "kv",
        "istiod",
        "kubernetes_auth",
        "clusters",
        "monitoring",
    }


def test_help_and_unknown_command() -> None:
    assert run("--help").returncode == 0
    result = run("frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_committed_out_matches_the_default_config() -> None:
    result = run("render", "--check", "-o", str(REPO / "out"), cwd=REPO / "tests")
    assert result.returncode == 0, result.stderr


def test_render_lists_what_it_removed_and_overwrote(tmp_path: Path) -> None:
    assert run("render", "-o", "out", cwd=tmp_path).returncode == 0
    (tmp_path / "out" / "notes.txt").write_text("mine\n")
    (tmp_path / "out" / "policy.hcl").write_text("hand edit\n")
    result = run("render", "-o", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "removed 1 file(s) this config does not render:\n  notes.txt\n" in result.stderr
    assert "overwrote 1 file(s) that differed from this render (hand edits or an older config):\n  policy.hcl\n" in (
        result.stderr
    )
    quiet = run("render", "-o", "out", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_check_on_a_directory_it_did_not_render_says_why(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# docs\n")
    result = run("render", "--check", "-o", "docs", cwd=tmp_path)
    assert result.returncode == 2
    assert "was not rendered by istio-vault-ca" in result.stderr
    assert "render into a new or empty directory" in result.stderr
    assert "refresh it with" not in result.stderr
    assert run("render", "-o", "docs", cwd=tmp_path).returncode == 2  # what a refresh would have done


def test_check_shows_a_short_unified_diff(tmp_path: Path) -> None:
    assert run("render", "-o", "out", cwd=tmp_path).returncode == 0
    policy = tmp_path / "out" / "policy.hcl"
    policy.write_text(policy.read_text().replace('"read"', '"read", "list"', 1))
    readme = tmp_path / "out" / "README.md"
    readme.write_text("\n".join(f"line {n}" for n in range(100)) + "\n")
    result = run("render", "--check", "-o", "out", cwd=tmp_path)
    assert result.returncode == 1
    assert "--- policy.hcl (on disk)\n+++ policy.hcl (rendered)\n" in result.stderr
    assert '-  capabilities = ["read", "list"]' in result.stderr
    assert '+  capabilities = ["read"]' in result.stderr
    assert "more diff line(s) of README.md" in result.stderr
    assert "--diff shows them whole" in result.stderr
    assert "refresh it with: istio-vault-ca render -o out" in result.stderr


def test_check_diff_flag_shows_whole_diffs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("render", "-o", str(out)).returncode == 0
    (out / "README.md").write_text("\n".join(f"line {n}" for n in range(100)) + "\n")
    result = run("render", "--check", "--diff", "-o", str(out))
    assert result.returncode == 1
    err = result.stderr
    assert "-line 99" in err
    assert "more diff line(s)" not in err


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_diff_without_check_previews_and_never_writes(tmp_path: Path) -> None:
    """Issue 27 section 7: `render --diff` shows what would change and leaves the tree as it was."""
    out = tmp_path / "out"
    assert run("render", "-o", str(out)).returncode == 0
    (out / "README.md").write_text("hand edit\n")
    (out / "vault" / "03-kv.sh").unlink()
    before = _snapshot(out)
    result = run("render", "--diff", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert _snapshot(out) == before, "a preview wrote to the tree"
    assert "would change" in result.stderr and "nothing written" in result.stderr
    assert "-hand edit" in result.stderr and "vault/03-kv.sh" in result.stderr
    missing = tmp_path / "new"
    fresh = run("render", "--diff", "-o", str(missing))
    assert fresh.returncode == 0 and "nothing written" in fresh.stderr
    assert not missing.exists()
    assert run("render", "-o", str(out)).returncode == 0
    clean = run("render", "--diff", "-o", str(out))
    assert clean.returncode == 0 and "up to date" in clean.stdout


def test_readme_run_order_has_no_gaps(tmp_path: Path) -> None:
    for config in sorted(EXAMPLES.glob("*.yaml")):
        out = tmp_path / config.stem
        assert run("render", "-c", str(config), "-o", str(out)).returncode == 0
        text = (out / "README.md").read_text()
        order = text.split("## Run order", 1)[1].split("## Files", 1)[0]
        numbers = [int(line.split(".", 1)[0]) for line in order.splitlines() if line[:1].isdigit()]
        assert numbers == list(range(1, len(numbers) + 1)), (config.name, numbers)


def test_readme_helm_command_keeps_the_users_own_values(tmp_path: Path) -> None:
    assert run("render", "-c", str(EXAMPLES / "istio-helm.yaml"), "-o", "out", cwd=tmp_path).returncode == 0
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "-f <your-istiod-values.yaml> -f istiod/istiod-helm-values.yaml" in readme
    assert "--reuse-values" in readme
    assert "-n <istio-namespace> -f istiod/istiod-helm-values.yaml`" not in readme


def test_init_leaves_hold_application_until_proxy_starts_off(tmp_path: Path) -> None:
    assert run("init", cwd=tmp_path).returncode == 0
    assert "hold_application_until_proxy_starts: false" in (tmp_path / "istio-vault-ca.yaml").read_text()
    assert run("render", "-o", "out", cwd=tmp_path).returncode == 0
    assert "holdApplicationUntilProxyStarts" not in "".join(
        p.read_text() for p in (tmp_path / "out" / "istiod").iterdir()
    )
    for example in ("istio-helm", "istio-operator", "kv-v2", "three-clusters", "external-root"):
        out = tmp_path / example
        assert run("render", "-c", str(EXAMPLES / f"{example}.yaml"), "-o", str(out)).returncode == 0
        assert "holdApplicationUntilProxyStarts" not in "".join(p.read_text() for p in out.rglob("*.yaml")), example


def test_audit_file_path_override_is_documented(tmp_path: Path) -> None:
    assert run("render", "-o", "out", cwd=tmp_path).returncode == 0
    header = (tmp_path / "out" / "vault" / "01-audit.sh").read_text().split("set -euo pipefail", 1)[0]
    assert "AUDIT_FILE_PATH=/tmp/vault-audit.log" in header
    assert "AUDIT_FILE_PATH=/tmp/vault-audit.log" in (tmp_path / "out" / "README.md").read_text()


def test_scripts_report_ttls_in_the_configs_units(tmp_path: Path) -> None:
    assert run("render", "-o", "out", cwd=tmp_path).returncode == 0
    lib = (tmp_path / "out" / "vault" / "lib.sh").read_text()
    assert "${current}s" not in lib
    assert 'say "$path/ max lease TTL is $duration (unchanged)"' in lib


def test_validate_checks_every_file_it_is_given_and_reports_each_refused_one() -> None:
    bad = REPO / "tests" / "configs" / "bad"
    result = run(
        "validate",
        str(EXAMPLES / "kv-v2.yaml"),
        str(bad / "unknown-field.yaml"),
        str(bad / "relative-ca-dir.yaml"),
    )
    assert result.returncode == 2
    assert "kv-v2.yaml: valid" in result.stdout
    assert "unknown-field.yaml: 1 problem(s) in the config\n  vault.adress (line 3): unknown field" in result.stderr
    assert "relative-ca-dir.yaml: 1 problem(s) in the config\n  istiod.ca_dir (line 3):" in result.stderr
    good = run("validate", str(EXAMPLES / "kv-v2.yaml"), "-c", str(EXAMPLES / "three-clusters.yaml"))
    assert good.returncode == 0 and good.stdout.count(": valid") == 2
