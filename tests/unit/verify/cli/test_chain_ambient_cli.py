"""`verify chain` for an ambient mesh as a user runs it: the data plane from --data-plane or from the -c config
(istiod.data_plane, clusters[].data_plane), the ztunnel checks in the report, exit codes and usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from istio_vault_ca.verify.cli.parser import main
from tests.fidelity import corpus


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["verify", "chain", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _dir(tmp_path: Path, kind: str, name: str = "ca") -> str:
    directory = tmp_path / name
    directory.mkdir(parents=True)
    corpus.CORPUS[kind](directory)
    return str(directory)


def _statuses(out: str) -> dict[str, str]:
    return {check["id"]: check["status"] for check in json.loads(out)["checks"]}


def test_the_flag_adds_the_ztunnel_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = _dir(tmp_path, "vault_rsa")
    code, out, _ = cli(capsys, directory, "--output", "json")
    assert code == 0 and not [c for c in _statuses(out) if c.startswith("chain.ztunnel")]
    code, out, err = cli(capsys, directory, "--data-plane", "ambient", "--output", "json")
    assert code == 0, out
    statuses = _statuses(out)
    assert statuses["chain.ztunnel-chain"] == statuses["chain.ztunnel-root"] == "pass"
    assert err == ""


def test_a_bundle_ztunnel_misparses_exits_1_only_in_ambient(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = _dir(tmp_path, "two_level_full_chain")
    code, _, _ = cli(capsys, directory, "--istio-version", "1.25")
    assert code == 0
    code, out, _ = cli(capsys, directory, "--istio-version", "1.25", "--data-plane", "ambient", "--output", "json")
    assert code == 1
    failed = [c for c in json.loads(out)["checks"] if c["status"] == "fail"]
    assert [c["id"] for c in failed] == ["chain.ztunnel-chain"]
    assert "only the first certificate of cert-chain.pem" in failed[0]["finding"]


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "istio-vault-ca.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_data_plane_comes_from_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, "istiod:\n  data_plane: ambient\n")
    code, out, _ = cli(capsys, _dir(tmp_path, "roots_right_first"), "-c", config, "--output", "json")
    assert code == 1
    assert _statuses(out)["chain.ztunnel-root"] == "fail"
    code, out, _ = cli(
        capsys, _dir(tmp_path, "roots_right_first", "b"), "-c", config, "--data-plane", "sidecar", "--output", "json"
    )
    assert code == 0, "the flag wins over the config"


def test_several_ambient_directories_with_different_roots_fail_the_fleet_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _dir(tmp_path, "vault_rsa", "a"), _dir(tmp_path, "ed25519_root_and_intermediate", "b")
    code, out, _ = cli(capsys, a, b, "--data-plane", "ambient", "--output", "json")
    assert code == 1
    shared = [c for c in json.loads(out)["checks"] if c["id"] == "chain.ztunnel-shared-root"]
    assert len(shared) == 1 and shared[0]["status"] == "fail"
    assert a in shared[0]["finding"] and b in shared[0]["finding"]
    code, out, _ = cli(capsys, a, b, "--output", "json")
    assert "chain.ztunnel-shared-root" not in _statuses(out), "a sidecar mesh may run a root per cluster"


def test_clusters_of_different_data_planes_need_a_choice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(
        tmp_path,
        "clusters:\n"
        "  - name: east\n"
        "    data_plane: ambient\n"
        "  - name: west\n"
        "    intermediate_mount: istioca-west\n"
        "    kv_path: istioca-west\n"
        "    auth_mount: kubernetes-west\n"
        "    policy: istioca-west\n"
        "    kubernetes_auth:\n"
        "      reviewer: client-jwt\n"
        "      kubernetes_host: https://west.example:6443\n",
    )
    directory = _dir(tmp_path, "roots_right_first")
    code, _, err = cli(capsys, directory, "-c", config)
    assert code == 2
    assert "east (ambient), west (sidecar)" in err and "--cluster" in err and "Traceback" not in err
    code, out, _ = cli(capsys, directory, "-c", config, "--cluster", "east", "--output", "json")
    assert code == 1 and _statuses(out)["chain.ztunnel-root"] == "fail"


def test_an_unknown_data_plane_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["verify", "chain", _dir(tmp_path, "vault_rsa"), "--data-plane", "ztunnel"])
    assert done.value.code == 2
    assert "invalid choice: 'ztunnel'" in capsys.readouterr().err
