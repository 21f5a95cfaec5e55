"""`istio-vault-ca verify chain` as a user runs it: exit codes, several directories, output formats,
usage errors, and never a byte of a private key in any output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from istio_vault_ca.verify.cli.parser import main
from tests import pki_factory as pki
from tests.support import BLAME_IMPORTS, COUNT_EXIT_HANDLERS, REPO, buffered_env, run_cli


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["verify", "chain", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def key_lines(bundle: pki.Bundle) -> list[str]:
    """The base64 lines of every private key in the bundle (wherever it was put)."""
    lines: list[str] = []
    for content in (bundle.ca_cert, bundle.ca_key, bundle.cert_chain, bundle.root_cert):
        if content and b"PRIVATE KEY" in content:
            lines += [line for line in content.decode(errors="replace").splitlines() if "-----" not in line]
    return lines


def test_good_bundle_exits_0_with_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, str(pki.good_bundle().write(tmp_path)))
    assert code == 0, out
    assert "chain.spiffe-leaf" in out
    assert "OK: 24 passed, 0 warned, 0 failed, 0 errored" in out
    assert err == ""


def test_bad_bundle_exits_1_and_names_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build, check_id, _, file_name = pki.BAD_BUNDLES["chain missing ca-cert"]
    code, out, _ = cli(capsys, str(build().write(tmp_path)), "--output", "json")
    assert code == 1
    failed = [c for c in json.loads(out)["checks"] if c["status"] == "fail"]
    assert [c["id"] for c in failed] == [check_id]
    assert file_name in failed[0]["finding"]


def test_warnings_alone_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, str(replace(pki.good_bundle(), key_mode=0o640).write(tmp_path)))
    assert code == 0
    assert "1 warned" in out


def test_several_directories_in_one_run_each_its_own_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = pki.good_bundle().write(tmp_path / "good")
    bad = pki.BAD_BUNDLES["swapped key"][0]().write(tmp_path / "bad")
    code, out, _ = cli(capsys, str(good), str(bad), "--output", "json")
    assert code == 1
    checks = json.loads(out)["checks"]
    assert {c["target"] for c in checks} == {str(good), str(bad)}
    failing_targets = {c["target"] for c in checks if c["status"] == "fail"}
    assert failing_targets == {str(bad)}


def test_many_directories_are_reported_in_the_given_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dirs = [str(pki.good_bundle().write(tmp_path / f"d{i}")) for i in range(20)]
    code, out, _ = cli(capsys, *dirs, "--output", "json")
    assert code == 0
    targets = list(dict.fromkeys(c["target"] for c in json.loads(out)["checks"]))
    assert targets == dirs


def test_istio_version_changes_the_verdict_on_a_missing_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = str(replace(pki.good_bundle(), ca_key=None).write(tmp_path))
    code, out, _ = cli(capsys, directory, "--output", "json", "--istio-version", "1.26.0")
    assert code == 1
    present = next(c for c in json.loads(out)["checks"] if c["id"] == "chain.file-present")
    assert "istiod 1.26.0 finds no ca-key.pem and silently creates its own self-signed root" in present["finding"]


@pytest.mark.parametrize("release", ["1.32", "1.40.2", "2.0"])
def test_a_newer_istio_release_is_judged_as_the_newest_with_a_warning(
    release: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 27 section 7: a user already on a release newer than the model gets a report, not exit 2."""
    directory = str(pki.good_bundle().write(tmp_path))
    code, out, _ = cli(capsys, directory, "--output", "json", "--istio-version", release)
    newest_code, newest_out, _ = cli(capsys, directory, "--output", "json", "--istio-version", "1.31")
    assert code == newest_code == 0
    checks = {c["id"]: c for c in json.loads(out)["checks"]}
    note = checks.pop("chain.istio-release")
    assert note["status"] == "warn" and note["hint"]
    assert f"Istio {release} is newer than the releases this verifier models" in note["finding"]
    assert "judged as Istio 1.31" in note["finding"]
    newest = {c["id"]: c["status"] for c in json.loads(newest_out)["checks"]}
    assert "chain.istio-release" not in newest
    assert {i: c["status"] for i, c in checks.items()} == newest, "the other verdicts are the newest release's"


def test_an_unknown_istio_version_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(capsys, str(tmp_path), "--istio-version", "0.8")
    assert exit_info.value.code == 2
    assert "Istio 0.8 is older than the releases this verifier models (1.12 to 1.31)" in capsys.readouterr().err


@pytest.mark.parametrize("output", ["text", "json", "junit"])
@pytest.mark.parametrize("kind", ["good", *sorted(pki.BAD_BUNDLES)])
def test_private_key_bytes_never_appear_in_any_output(
    kind: str, output: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = pki.good_bundle() if kind == "good" else pki.BAD_BUNDLES[kind][0]()
    code, out, err = cli(capsys, str(bundle.write(tmp_path)), "--output", output)
    assert code in (0, 1)
    secrets = key_lines(bundle)
    assert all(line not in out + err for line in secrets)
    assert "PRIVATE KEY-----" not in out + err


def test_no_directory_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys)
    assert code == 2
    assert out == ""
    assert "name at least one DIR" in err and "--from-vault" in err


def test_missing_directory_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, str(tmp_path / "nope"))
    assert code == 2
    assert f"not a directory: {tmp_path / 'nope'}" in err


def test_negative_warn_days_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, str(tmp_path), "--warn-days", "-1")
    assert code == 2
    assert "--warn-days must be 0 or more" in err


def test_from_vault_with_a_bad_config_exits_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("kv:\n  version: 3\n", encoding="utf-8")
    code, out, err = cli(capsys, "--from-vault", "-c", str(config))
    assert code == 2
    assert out == ""
    assert "kv.version (line 2)" in err
    assert "Traceback" not in err


def test_from_vault_with_an_unknown_cluster_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the built-in default config: one cluster, "default"
    code, _, err = cli(capsys, "--from-vault", "--cluster", "nosuch")
    assert code == 2
    assert "no cluster named 'nosuch'" in err and "known: default" in err


def test_verify_chain_imports_no_vault_or_config_libraries(tmp_path: Path) -> None:
    """`verify chain DIR` must stay fast: no hvac, pydantic, requests or YAML at all."""
    directory = pki.good_bundle().write(tmp_path)
    program = (
        "WATCHED = {'hvac', 'pydantic', 'requests', 'ruamel'}\n"
        + BLAME_IMPORTS
        + "from istio_vault_ca.verify.cli.parser import main\n"
        f"code = main(['verify', 'chain', {str(directory)!r}, '--output', 'json'])\n"
        "print(code, sorted(imported_by), imported_by)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=REPO, check=True, timeout=60
    )
    assert result.stdout.splitlines()[-1].startswith("0 [] "), result.stdout


@pytest.mark.parametrize("output", ["text", "json"])
def test_verify_chain_runs_without_argparse_or_the_modules_it_pulls_in(tmp_path: Path, output: str) -> None:
    """The plain `verify chain DIR` line is read without argparse (verify/cli/quick.py) and the text report needs
    neither textwrap nor shutil when not on a terminal: each costs start-up time the chain checks do not need.
    What is asserted is that no module of ours imports them (directly or through a standard module); whether
    cryptography does is its own business, and the start-up cost of the whole is `make bench`'s ratio."""
    directory = pki.good_bundle().write(tmp_path)
    program = (
        "WATCHED = {'argparse', 'gettext', 'shutil', 'textwrap'}\n" + BLAME_IMPORTS + "import io, contextlib\n"
        "from istio_vault_ca.verify.cli.parser import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = main(['verify', 'chain', {str(directory)!r}, '--output', {output!r}])\n"
        "ours = sorted(name for name, by in imported_by.items() if by.startswith(('istio_vault_ca', '__main__')))\n"
        "print(code, ours, imported_by)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=REPO, check=True, timeout=60
    )
    assert result.stdout.splitlines()[-1].startswith("0 [] "), result.stdout


def test_a_verify_chain_process_ending_without_teardown_loses_no_output_or_exit_code(tmp_path: Path) -> None:
    """The quick path ends its process with os._exit after flushing: every line and the exit code must survive,
    for a pass, a failure, a fleet (a forked child), a usage error and each output format."""
    good = pki.good_bundle().write(tmp_path / "good")
    wrong_root, _, _, _ = pki.BAD_BUNDLES["wrong root"]
    bad = wrong_root().write(tmp_path / "bad")
    passed = run_cli("verify", "chain", str(good), env=buffered_env())
    assert passed.returncode == 0 and passed.stdout.splitlines()[-1].startswith("OK: 24 passed"), passed
    failed = run_cli("verify", "chain", str(good), str(bad), "--output", "json", env=buffered_env())
    assert failed.returncode == 1, failed.stderr
    document = json.loads(failed.stdout)
    assert len(document["checks"]) == 48 and document["summary"]["fail"] >= 1
    junit = run_cli("verify", "chain", "--output=junit", str(good), env=buffered_env())
    assert junit.returncode == 0 and junit.stdout.rstrip().endswith("</testsuites>")
    missing = run_cli("verify", "chain", str(tmp_path / "nowhere"), env=buffered_env())
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.startswith("istio-vault-ca: error: not a directory:"), missing.stderr


def test_the_verify_chain_path_leaves_nothing_for_an_ordinary_exit_to_do(tmp_path: Path) -> None:
    """Why skipping the interpreter's teardown is safe there: nothing registers an exit handler, no thread is
    left running, and no temporary file is left behind (a fleet included, which forks)."""
    good = pki.good_bundle().write(tmp_path / "a")
    pki.good_bundle().write(tmp_path / "b")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    program = (
        COUNT_EXIT_HANDLERS + "import contextlib, io, sys, threading\n"
        "from istio_vault_ca.verify.cli.parser import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main(['verify', 'chain', {str(good)!r}, {str(tmp_path / 'b')!r}])\n"
        "print(registered_exit_handlers, threading.active_count())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
        timeout=60,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    assert result.stdout.split() == ["[]", "1"]
    assert list(scratch.iterdir()) == []


def test_help_imports_no_check_libraries() -> None:
    program = (
        "WATCHED = {'cryptography', 'hvac', 'rich', 'pydantic'}\n"
        + BLAME_IMPORTS
        + "from istio_vault_ca.verify.cli.parser import build_parser\n"
        "build_parser().format_help()\n"
        "print(imported_by)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=REPO, check=True, timeout=60
    )
    assert result.stdout.strip() == "{}"


@pytest.mark.parametrize(
    "path", ["ca", "ca/", "./ca//a/", "/", "//x", "///x", ".", "", "a/./b/../c", "/abs/dir/", "../up/", "a//b"]
)
def test_directory_arguments_are_named_as_pathlib_names_them(path: str) -> None:
    from pathlib import PurePosixPath

    from istio_vault_ca.verify.runs.chain import path_text

    assert path_text(path) == str(PurePosixPath(path))
