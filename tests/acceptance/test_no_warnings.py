"""No Python warning on an operator's terminal: every command, run as the console script under `python -W error`
(and PYTHONWARNINGS=error for any Python it starts), exits with the code docs/reference/exit-codes.md documents and
prints no warning, no traceback and no "Exception ignored" (what a warning raised in a destructor, such as an unclosed
socket's ResourceWarning, turns into under `-W error`).

The commands come from the parser itself (the walk the shell completion uses): every command's `--help` runs,
and a command without a case here fails `test_every_command_has_a_case`, so a new command is covered when it is
added. Each command also runs for real, on the failure paths an operator meets first (Vault and the API server
unreachable, a file that is not a kubeconfig, a stale tree, a bad config) and on inputs that make a dependency
warn: a DSA key in a CA directory, as an offline root and in a CSR (cryptography deprecates DSA). Against a real
OpenBao (integration): `rehearse`, and the Vault commands on a configured server.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from istio_vault_ca.generator.pki.factory import self_signed_ca
from istio_vault_ca.verify.cli.completion_command import command_specs
from istio_vault_ca.verify.cli.parser import build_parser
from istio_vault_ca.verify.rehearsal.openbao import free_port
from tests import pki_factory as pki
from tests.support import REPO, refusing_port, render_into, require_openbao, wait_until
from tests.vault_setup import EC_CONFIG, Configured, configure

# A warning as Python prints it (`path:line: SomeWarning: text`), a traceback, or an exception in a destructor.
NOISE = re.compile(r"\b[A-Z]\w*Warning\b|Traceback \(most recent call last\)|Exception ignored in")
SCRIPT = Path(sys.executable).with_name("istio-vault-ca")
PASSPHRASE = "offline root passphrase"  # of a throw-away key made here
# README "Exit codes".
OK, FAILED, USAGE, UNREACHABLE = 0, 1, 2, 3


def command() -> list[str]:
    """What an operator runs (the installed console script), with every warning an error."""
    if SCRIPT.is_file():
        return [sys.executable, "-W", "error", str(SCRIPT)]
    return [sys.executable, "-W", "error", "-m", "istio_vault_ca.verify.cli.parser"]


def assert_quiet(result: subprocess.CompletedProcess[str] | tuple[int, str], code: int, what: str) -> None:
    """The exit code is `code` and no line of the output looks like a Python warning or traceback."""
    if isinstance(result, subprocess.CompletedProcess):
        returncode, output = result.returncode, result.stdout + result.stderr
    else:
        returncode, output = result
    noise = [line for line in output.splitlines() if NOISE.search(line)]
    assert not noise, f"{what}: Python warnings or tracebacks on the terminal:\n{output}"
    assert returncode == code, f"{what}: exit {returncode}, documented {code}:\n{output}"


@dataclass(frozen=True)
class Workspace:
    """A working directory as an operator has one: the config, its rendered tree, CA files, an offline root."""

    root: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command(), *args], cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout
        )


def _dsa_key() -> object:
    with warnings.catch_warnings():  # this input is meant to make cryptography warn; building it may too
        warnings.simplefilter("ignore")
        from cryptography.hazmat.primitives.asymmetric import dsa

        return dsa.generate_private_key(key_size=2048)


def _pem_key(key: object, passphrase: str | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )


def _csr(key: object) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mesh intermediate")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())  # type: ignore[arg-type]
    return csr.public_bytes(serialization.Encoding.PEM)


def _kubeconfig(server: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
        f"clusters:\n- name: test\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\n"
        "contexts:\n- name: test\n  context: {cluster: test, user: test}\n"
        "users:\n- name: test\n  user: {token: not-a-token}\n"
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with refusing_port() as no_vault, refusing_port() as no_api_server:
        yield _workspace(tmp_path_factory.mktemp("operator"), no_vault, no_api_server)


def _workspace(root: Path, no_vault: int, no_api_server: int) -> Workspace:
    config = root / "istio-vault-ca.yaml"
    config.write_text((REPO / "generator" / "config" / "starter.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    render_into(config, root / "out")
    render_into(config, root / "stale")
    (root / "stale" / "policy.hcl").write_text("edited by hand\n", encoding="utf-8")
    pki.good_bundle().write(root / "ca")
    # A CA directory whose intermediate has a DSA key (signed by an EC root): cryptography warns on loading it.
    dsa_key = _dsa_key()
    top = pki.make_ca("DSA test root", subject_key=pki.key("ec", 256))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inter = pki.make_ca("DSA test intermediate", top, subject_key=dsa_key, path_length=0)  # type: ignore[arg-type]
    pki.Bundle(inter.pem, _pem_key(dsa_key), inter.pem + top.pem, top.pem).write(root / "dsa-ca")
    # An offline root (its key encrypted, as an operator keeps it) and CSRs: one EC, one DSA; and a DSA root.
    offline = self_signed_ca("test offline root", lifetime=dt.timedelta(days=3650))
    (root / "root.pem").write_bytes(offline.pem)
    (root / "root.key").write_bytes(_pem_key(offline.key, PASSPHRASE))
    (root / "dsa-root.key").write_bytes(_pem_key(dsa_key, PASSPHRASE))
    for name in ("root.key", "dsa-root.key"):
        (root / name).chmod(0o600)
    (root / "intermediate.csr").write_bytes(_csr(ec.generate_private_key(ec.SECP256R1())))
    (root / "dsa-intermediate.csr").write_bytes(_csr(dsa_key))
    (root / "controlplane.yaml").write_text(
        "apiVersion: install.tetrate.io/v1alpha1\nkind: ControlPlane\nmetadata:\n  name: controlplane\n"
        "  namespace: istio-system\nspec:\n  hub: registry.example/tsb\n",
        encoding="utf-8",
    )
    (root / "kubeconfig").write_text(_kubeconfig(f"https://127.0.0.1:{no_api_server}"), encoding="utf-8")
    (root / "not-a-kubeconfig").write_text("apiVersion: v1\nkind: Config\n", encoding="utf-8")
    (root / "home").mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("VAULT_", "BAO_", "KUBE", "ISTIO_VAULT_CA_", "PYTHON"))
    }
    env.update(
        HOME=str(root / "home"),  # no ~/.kube/config of the machine's
        PYTHONWARNINGS="error",
        VAULT_ADDR=f"http://127.0.0.1:{no_vault}",  # refused
        VAULT_TOKEN="not-a-token",
        ISTIO_VAULT_CA_ROOT_KEY_PASSPHRASE=PASSPHRASE,
    )
    return Workspace(root, env)


@dataclass(frozen=True)
class Case:
    path: tuple[str, ...]  # the command, as the parser names it
    args: tuple[str, ...]
    code: int
    says: str  # in stdout or stderr: the command did what it does, not something a swallowed warning made it do

    @property
    def id(self) -> str:
        return " ".join(self.args)


SIGN = ("sign-intermediate", "--root-cert", "root.pem", "--ttl", "8760h")
BAD_CONFIG = str(REPO / "tests" / "configs" / "bad" / "bad-ttl.yaml")
CASES = [
    Case((), ("--version",), OK, "istio-vault-ca "),
    Case(("render",), ("render", "-o", "rendered"), OK, "rendered "),
    Case(("render",), ("render", "--check", "-o", "out"), OK, "up to date"),
    Case(("render",), ("render", "--check", "--diff", "-o", "stale"), FAILED, "policy.hcl"),
    Case(("render",), ("render", "--diff", "-o", "stale"), OK, "policy.hcl"),
    Case(("render",), ("render", "--diff", "--merge-into", "controlplane.yaml"), OK, "controlplane.yaml"),
    Case(("render",), ("render", "-c", BAD_CONFIG, "-o", "rendered"), USAGE, "(line "),
    Case(("validate",), ("validate",), OK, "default"),
    Case(("validate",), ("validate", BAD_CONFIG), USAGE, "(line "),
    Case(("schema",), ("schema",), OK, '"$schema"'),
    Case(("init",), ("init", "starter.yaml"), OK, "wrote starter.yaml"),
    Case(("verify", "chain"), ("verify", "chain", "ca"), OK, "OK: 24 passed"),
    Case(("verify", "chain"), ("verify", "chain", "ca", "--output", "junit"), OK, "</testsuites>"),
    # A DSA intermediate key: istiod cannot parse it (the finding), and cryptography's DSA warning stays away.
    Case(("verify", "chain"), ("verify", "chain", "dsa-ca", "--output", "json"), FAILED, "failed to parse the PKCS#8"),
    Case(("verify", "chain"), ("verify", "chain", "--from-vault"), UNREACHABLE, "cannot reach Vault"),
    Case(("verify", "vault"), ("verify", "vault"), UNREACHABLE, "cannot reach Vault"),
    Case(("verify", "vault"), ("verify", "vault", "--output", "json"), UNREACHABLE, '"vault.reachable"'),
    Case(("verify", "cluster"), ("verify", "cluster", "--kubeconfig", "kubeconfig"), UNREACHABLE, "unreachable"),
    Case(("verify", "cluster"), ("verify", "cluster", "--kubeconfig", "not-a-kubeconfig"), USAGE, "not a kubeconfig"),
    Case(("verify", "all"), ("verify", "all", "--kubeconfig", "kubeconfig", "--output", "junit"), UNREACHABLE,
         "cluster.api-reachable"),
    Case(("verify", "fleet"), ("verify", "fleet"), UNREACHABLE, "cannot reach Vault"),
    Case(("verify", "fleet"), ("verify", "fleet", "--output", "json"), UNREACHABLE, '"vault.reachable"'),
    Case(("plan-rotation",), ("plan-rotation",), UNREACHABLE, "cannot reach Vault"),
    Case(("plan-rotation",), ("plan-rotation", "--root"), UNREACHABLE, "cannot reach Vault"),
    Case(("sign-intermediate",), (*SIGN, "--root-key", "root.key", "--csr", "intermediate.csr", "-o", "i.pem"), OK,
         "wrote i.pem"),
    # DSA in the CSR and as the root key: refused with our reason (a warning turned error would read differently).
    Case(("sign-intermediate",), (*SIGN, "--root-key", "root.key", "--csr", "dsa-intermediate.csr", "-o", "d.pem"),
         USAGE, "the CSR's key is neither RSA nor EC"),
    Case(("sign-intermediate",), (*SIGN, "--root-key", "dsa-root.key", "--csr", "intermediate.csr", "-o", "d.pem"),
         USAGE, "is not an RSA, EC or EdDSA key"),
    Case(("completion",), ("completion", "bash"), OK, "complete "),
    Case(("completion",), ("completion", "zsh"), OK, "#compdef istio-vault-ca"),
    Case(("completion",), ("completion", "fish"), OK, "complete -c istio-vault-ca"),
    Case(("__complete",), ("__complete", "clusters"), OK, "default"),
]  # fmt: skip
# `serve TARGET ...`: started, left until its first run has ended (done or failed), then stopped with SIGTERM.
SERVE = [
    ("chain", "ca"),
    ("vault",),
    ("cluster", "--kubeconfig", "kubeconfig"),
    ("all", "--kubeconfig", "kubeconfig"),
    ("fleet",),
]
# Run by the integration tests below, against a real OpenBao.
LIVE = [("rehearse",), ("verify", "vault"), ("verify", "chain"), ("verify", "fleet"), ("plan-rotation",)]


def test_every_command_has_a_case() -> None:
    """A command the parser has and this file does not run for real fails here: add its case."""
    commands = {spec.path for spec in command_specs(build_parser()) if not spec.subcommands}
    covered = {case.path for case in CASES} | {("serve", target[0]) for target in SERVE} | set(LIVE)
    assert commands - covered == set()


@pytest.mark.parametrize(
    "path", [spec.path for spec in command_specs(build_parser())], ids=lambda path: " ".join(path) or "top"
)
def test_help_prints_no_warning(workspace: Workspace, path: tuple[str, ...]) -> None:
    result = workspace.run(*path, "--help")
    assert_quiet(result, OK, f"istio-vault-ca {' '.join(path)} --help")
    assert result.stdout.startswith("usage: istio-vault-ca")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_command_prints_no_warning(workspace: Workspace, case: Case) -> None:
    result = workspace.run(*case.args)
    assert_quiet(result, case.code, f"istio-vault-ca {case.id}")
    assert case.says in result.stdout + result.stderr, result.stdout + result.stderr


def _serve_until_first_run(workspace: Workspace, target: tuple[str, ...], log: Path) -> int:
    """`serve TARGET` until its first run has ended (done or failed), then SIGTERM: its exit code."""
    with log.open("w") as sink:
        server = subprocess.Popen(
            [*command(), "serve", "--listen", f"127.0.0.1:{free_port()}", "--interval", "60", *target],
            cwd=workspace.root,
            env=workspace.env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_until(
                lambda: server.poll() is not None or re.search(r"run (done in|failed \()", log.read_text()),
                120,
                f"serve {target[0]}'s first run to end",
            )
        finally:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=60)
    return code


@pytest.mark.parametrize("target", SERVE, ids=lambda target: " ".join(target))
def test_serve_prints_no_warning(workspace: Workspace, target: tuple[str, ...]) -> None:
    log = workspace.root / f"serve-{target[0]}.log"
    for _attempt in range(3):  # a port found free can be taken before serve listens: then another
        code = _serve_until_first_run(workspace, target, log)
        if not (code == USAGE and "cannot listen on" in log.read_text()):
            break
    assert_quiet((code, log.read_text()), OK, f"istio-vault-ca serve {' '.join(target)}")


@pytest.mark.integration
def test_rehearse_prints_no_warning(workspace: Workspace) -> None:
    require_openbao()
    result = workspace.run("rehearse", timeout=600)
    assert_quiet(result, OK, "istio-vault-ca rehearse")


@pytest.fixture(scope="module")
def live_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Configured]:
    configured = configure(tmp_path_factory.mktemp("live"), EC_CONFIG)
    try:
        yield configured
    finally:
        configured.server.stop()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("verify", "vault"), OK),
        (("verify", "chain", "--from-vault", "--output", "json"), OK),
        (("verify", "fleet"), OK),
        (("plan-rotation", "-o", "rotation"), OK),  # nothing due on a new CA
        (("plan-rotation", "--root", "-o", "rotation-root"), FAILED),  # phase (a) is to do: rendered, exit 1
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else str(value),
)
def test_vault_commands_on_a_live_openbao_print_no_warning(
    workspace: Workspace, live_vault: Configured, args: tuple[str, ...], code: int
) -> None:
    env = {**workspace.env, **{k: v for k, v in live_vault.env.items() if k.startswith(("VAULT_", "BAO_"))}}
    result = subprocess.run(
        [*command(), *args, "-c", str(live_vault.config_path)],
        cwd=live_vault.config_path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_quiet(result, code, f"istio-vault-ca {' '.join(args)} (live OpenBao)")
