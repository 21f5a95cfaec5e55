"""Bad configs: each exits 2 naming the field path and YAML line, with no traceback and nothing written."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support import CLI

BAD = sorted((Path(__file__).resolve().parent.parent / "configs" / "bad").glob("*.yaml"))


def expectations(config: Path) -> tuple[list[str], int | None]:
    """The file's leading `# expect: <field> (line N)[: message]` lines (one at least) and its `# problems: N`
    line, when it has one (the exact number of problems reported)."""
    lines = config.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# expect: "), f"{config.name} must start with '# expect: <field> (line N)'"
    expected: list[str] = []
    count: int | None = None
    for line in lines:
        if line.startswith("# expect: "):
            expected.append(line.removeprefix("# expect: "))
        elif line.startswith("# problems: "):
            count = int(line.removeprefix("# problems: "))
        else:
            break
    return expected, count


def test_corpus_is_large_enough() -> None:
    assert len(BAD) == 68


@pytest.mark.parametrize("config", BAD, ids=[c.stem for c in BAD])
def test_bad_config_exits_2_with_field_and_line(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [*CLI, "render", "-c", str(config), "-o", str(out)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2, result.stderr
    expected, count = expectations(config)
    for line in expected:
        assert f"  {line}" in result.stderr, result.stderr
    if count is not None:
        assert f": {count} problem(s) in the config\n" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not out.exists()
    # In our words (no pydantic sentence), each problem once, in the file's line order.
    assert "Input should be" not in result.stderr and "Value error" not in result.stderr
    reported = [line for line in result.stderr.splitlines() if line.startswith("  ")]
    assert len(reported) == len(set(reported)), result.stderr
    numbers = [int(m.group(1)) for line in reported if (m := re.search(r"^  \S+ \(line (\d+)\)", line))]
    assert numbers == sorted(numbers), result.stderr


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = tmp_path / "many.yaml"
    config.write_text("root:\n  ttl: forever\n  key_bits: 1024\nkv:\n  version: 7\nistiod:\n  ca_dir: x\n")
    result = subprocess.run([*CLI, "validate", "-c", str(config)], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "root.ttl (line 2)" in result.stderr
    # A cross-field rule on what did validate, not held back by the field errors.
    assert "root.key_bits (line 3): key_bits 1024 is not valid for key_type rsa" in result.stderr
    assert "kv.version (line 5)" in result.stderr
    assert "istiod.ca_dir (line 7)" in result.stderr
    assert "4 problem(s)" in result.stderr


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "no such config file"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00bad"), "cannot be read"),
    ],
    ids=["missing", "directory", "not-utf8"],
)
def test_unreadable_config_exits_2(tmp_path: Path, setup: object, message: str) -> None:
    path = tmp_path / "config.yaml"
    setup(path)  # type: ignore[operator]
    result = subprocess.run([*CLI, "render", "-c", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def validate_in(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    """`istio-vault-ca validate -c config.yaml` run from the config's directory, as a user types it."""
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    return subprocess.run(
        [*CLI, "validate", "-c", "config.yaml"], capture_output=True, text=True, cwd=tmp_path, check=False
    )


@pytest.mark.parametrize(
    ("ca_dir", "conflict"),
    [
        ("/etc/cacerts", "is where istiod's chart already mounts the `cacerts` Secret"),
        ("/etc/cacerts/vault", "is inside /etc/cacerts"),
        ("/etc", "contains /etc/cacerts"),
        ("/cacerts", "`extracacerts` ConfigMap"),
        ("/var/run/secrets", "contains /var/run/secrets/tokens"),
        ("/var/run/secrets/istiod/tls", "`istio-csr-dns-cert` Secret"),
        ("/var/run/secrets/istiod", "contains /var/run/secrets/istiod/tls"),
        ("/var/run/secrets/remote", "`istio-kubeconfig` Secret"),
        ("/var/run/secrets/istio-dns", "`local-certs` emptyDir"),
        ("/etc/istio/config", "mesh ConfigMap"),
        ("/var/lib/istio/data/ca", "is inside /var/lib/istio/data"),
        ("/var/run/secrets/kubernetes.io/serviceaccount", "service-account token volume"),
    ],
)
def test_ca_dir_where_istiods_chart_mounts_is_refused(tmp_path: Path, ca_dir: str, conflict: str) -> None:
    result = validate_in(tmp_path, f"istiod:\n  ca_dir: {ca_dir}\n")
    assert result.returncode == 2, result.stdout
    assert "istiod.ca_dir (line 2):" in result.stderr
    assert conflict in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("ca_dir", ["/vault/secrets", "/etc/cacerts-vault", "/var/run/secrets-vault/ca"])
def test_ca_dir_beside_the_chart_mounts_is_accepted(tmp_path: Path, ca_dir: str) -> None:
    result = validate_in(tmp_path, f"istiod:\n  ca_dir: {ca_dir}\n")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("output", ["tsb-controlplane", "istio-operator", "helm"])
def test_agent_uid_other_than_istiods_is_refused_per_installer(tmp_path: Path, output: str) -> None:
    text = f"istiod:\n  outputs: [{output}]\n  agent:\n    key_file_mode: '0400'\n    run_as_user: 1000\n"
    result = validate_in(tmp_path, text)
    assert result.returncode == 2
    assert "istiod.agent.run_as_user (line 5): 1000 is not the uid istiod runs as" in result.stderr
    assert f"1337 with {output}" in result.stderr
    assert "istiod cannot read" in result.stderr
    assert validate_in(tmp_path, text.replace("1000", "1337")).returncode == 0
    # An install that runs istiod as another uid says so, and the agent must match it.
    assert validate_in(tmp_path, text.replace("istiod:\n", "istiod:\n  uid: 1000\n")).returncode == 0
    other = validate_in(tmp_path, text.replace("istiod:\n", "istiod:\n  uid: 2000\n"))
    assert other.returncode == 2 and "1000 is not istiod.uid 2000" in other.stderr


def test_intermediate_ttl_equal_to_the_roots_counts_as_outliving(tmp_path: Path) -> None:
    text = "root:\n  ttl: 8760h\nintermediate:\n  ttl: 8760h\n"
    result = validate_in(tmp_path, text)
    assert result.returncode == 2
    assert "intermediate.ttl (line 4): intermediate ttl 8760h is not shorter than root.ttl 8760h" in result.stderr
    assert validate_in(tmp_path, text + "  allow_beyond_root: true\n").returncode == 0
    assert validate_in(tmp_path, "root:\n  ttl: 8760h\nintermediate:\n  ttl: 8759h\n").returncode == 0


def test_typo_suggests_the_nearest_field(tmp_path: Path) -> None:
    result = validate_in(tmp_path, "intermediate:\n  tll: 8760h\nclusters:\n  - nmae: east\n")
    assert result.returncode == 2
    assert "intermediate.tll (line 2): unknown field (did you mean ttl?" in result.stderr
    assert "clusters[0].nmae (line 4): unknown field (did you mean name?" in result.stderr
    far = validate_in(tmp_path, "intermediate:\n  colour: blue\n")
    assert "did you mean" not in far.stderr and "check the spelling" in far.stderr


def test_a_single_output_not_in_a_list_says_how_to_write_it(tmp_path: Path) -> None:
    result = validate_in(tmp_path, "istiod:\n  outputs: helm\n")
    assert result.returncode == 2
    assert "istiod.outputs (line 2): must be a list, e.g. [helm]" in result.stderr
    assert "valid list" not in result.stderr


def test_missing_config_file_says_no_such_config_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "render", "-c", "missing.yaml"], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert result.returncode == 2
    assert result.stderr.startswith("istio-vault-ca: error: no such config file: missing.yaml")
    assert "problem(s)" not in result.stderr and "(document)" not in result.stderr
    assert not (tmp_path / "out").exists()
