"""The one error hierarchy: every exception the tool raises on purpose, each class carrying its exit code.

The CLI turns any `IvcError` into one message on stderr and `exit_code` (docs/reference/exit-codes.md); nothing
else in the code maps errors to exit codes. Messages are for people and never contain key material.

    IvcError                          1  an operation failed (a rehearsal step, a command the tool ran)
    ├── UsageError                    2  bad arguments, an unusable file or directory, a refused request
    │   ├── ConfigError               2  every problem of one config file, each at its field and line
    │   ├── ConfigsRefused            2  `validate` of several files: each refused file's error
    │   ├── UnsafeOutputDir           2  render would replace a directory it did not render
    │   ├── OfflineRootError          2  sign-intermediate refuses (wrong key, TTL beyond the root, bad CSR)
    │   ├── KubeConfigProblem         2  the kubeconfig cannot be used
    │   ├── OverlayError              2  a rendered overlay cannot be read as an istiod overlay
    │   │   └── MergeIntoError        2  render --merge-into: the file cannot take our patches
    │   └── ServerBinaryRefused       2  rehearse --server names no Vault or OpenBao server binary
    ├── Unreachable                   3  a service or program the command needs is not there
    │   ├── VaultUnavailable          3  Vault cannot answer at all; one subclass per way (`reason`)
    │   │   ├── VaultUnreachable      3  no answer, or a 502/503 of a Vault that cannot serve now
    │   │   ├── VaultSealed           3  sealed or not initialised
    │   │   ├── VaultTlsRefused       3  the TLS handshake failed, or VAULT_CACERT names no file
    │   │   ├── VaultForbidden        3  the token refused (401/403)
    │   │   ├── NotVault              3  the server at VAULT_ADDR is not Vault
    │   │   ├── VaultNamespaceMissing 3  the configured Vault namespace does not exist
    │   │   ├── VaultRequestFailed    3  a read a whole command needs failed (plan-rotation)
    │   │   └── VaultResponseTooLarge 3  an answer larger than the client buffers
    │   ├── KubeAccessError           3  the API server unreachable, TLS refused, 401/403
    │   │   └── KubeResponseTooLarge  3  an answer larger than the client buffers
    │   └── OpenBaoMissing            3  no bao binary for the rehearsal
    ├── CheckError                    1  one read failed that concerns one check only (reported, not raised out)
    │   ├── VaultApiError             1  one Vault request failed (a 400 or 500)
    │   ├── LogUnavailable            1  the API server has no log for that container
    │   ├── FileRefused               1  a CA file that is not a regular file, or too large to be one
    │   └── PodFilesError             1  the files in the pod could not be read
    ├── RehearsalStepFailed           1  one rehearsal step failed (recorded on the step, not raised out)
    ├── RehearsalAborted              1  the rehearsal stops after a failed step; teardown still runs
    └── RotationRefused               1  a root-rotation phase asked for before its precondition holds

A module may keep a subclass of its own that its package raises and catches (the chain checks' gox509.VerifyError,
the loader's `_Refused`); it never reaches the CLI. tests/unit/generator/test_errors_tree.py keeps this tree equal
to the classes defined here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

# Exit codes are a public contract (docs/reference/exit-codes.md); this is their only definition.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130


class IvcError(Exception):
    """Base of every deliberate error; `str()` is the one-line message, `hint` what to do about it."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str = "", hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    def render(self) -> str:
        """What the CLI prints on stderr: one line, then what to do about it when known."""
        text = f"istio-vault-ca: error: {self}"
        return f"{text}\n  what to do: {self.hint}" if self.hint else text


class UsageError(IvcError):
    """Bad arguments or input the user can fix: exit 2."""

    exit_code = EXIT_USAGE


class Problem(NamedTuple):
    """One config problem: the dotted field path, its 1-based YAML line (None when unknown) and the message.

    A NamedTuple, not a dataclass: this module is imported by `--help`, and `dataclasses` costs start-up time."""

    location: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.location or "(document)"
        return f"{where} (line {self.line}): {self.message}" if self.line else f"{where}: {self.message}"


class ConfigError(UsageError):
    """Every problem found in one config file, for one exit-2 message."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        super().__init__(source)
        self.source = source
        self.problems = problems

    def __str__(self) -> str:
        lines = [f"{self.source}: {len(self.problems)} problem(s) in the config"]
        lines += [f"  {problem}" for problem in self.problems]
        return "\n".join(lines)

    def render(self) -> str:
        """The source and every problem, one per line (the format docs/guides/config.md documents)."""
        return str(self)


class ConfigsRefused(UsageError):
    """`validate FILE...`: every file that was refused, each reported as it would be alone."""

    def __init__(self, errors: Sequence[UsageError]) -> None:
        super().__init__(f"{len(errors)} config file(s) refused")
        self.errors = tuple(errors)

    def render(self) -> str:
        return "\n".join(error.render() for error in self.errors)


class UnsafeOutputDir(UsageError):
    """OUT holds files we did not render; replacing it could destroy someone's work."""


class OfflineRootError(UsageError):
    """A refusal of sign-intermediate with a message for people (never containing key material)."""


class KubeConfigProblem(UsageError):
    """The kubeconfig cannot be used (missing file, unknown context, no user)."""


class OverlayError(UsageError):
    """The overlay cannot be read as an istiod overlay; the message names the file and what is missing."""


class MergeIntoError(OverlayError):
    """`render --merge-into FILE`: the file cannot take our patches (not one ControlPlane / IstioOperator, a field of
    the wrong type, unreadable or unwritable)."""


class ServerBinaryRefused(UsageError):
    """`rehearse --server PATH` names no Vault or OpenBao server binary (missing, not executable, another program)."""


class Unreachable(IvcError):
    """A service or program the command needs cannot be used: exit 3."""

    exit_code = EXIT_UNREACHABLE


class VaultUnavailable(Unreachable):
    """Vault cannot answer at all; each way is a subclass, which `reason` names in one word (the `vault_<reason>`
    label of serve's istio_vault_ca_run_failures_total, docs/how-to/monitoring.md)."""

    reason = "unavailable"


class VaultUnreachable(VaultUnavailable):
    """No answer: connection refused or timed out, or a 502/503 of a Vault that cannot serve now."""

    reason = "unreachable"


class VaultSealed(VaultUnavailable):
    """Vault answers, sealed or not initialised."""

    reason = "sealed"


class VaultTlsRefused(VaultUnavailable):
    """The TLS handshake failed, or VAULT_CACERT names no file."""

    reason = "tls"


class VaultForbidden(VaultUnavailable):
    """Vault refused the token (401/403)."""

    reason = "forbidden"


class NotVault(VaultUnavailable):
    """The server at VAULT_ADDR answered with a body that is not Vault's (a proxy, another service)."""

    reason = "not-vault"


class VaultNamespaceMissing(VaultUnavailable):
    """The Vault Enterprise namespace the config names does not exist."""

    reason = "namespace"


class VaultRequestFailed(VaultUnavailable):
    """A read that a whole command needs failed (plan-rotation's survey reads everything or reports nothing)."""

    reason = "api"


class KubeAccessError(Unreachable):
    """The API server cannot be reached, refused the TLS handshake, or said 401/403."""


class OpenBaoMissing(Unreachable):
    """No bao binary: the rehearsal cannot run (the message says how to install it)."""


class CheckError(IvcError):
    """A read that concerns one check only; caught by the check, which reports `error` and goes on."""


class VaultApiError(CheckError):
    """One Vault request failed in a way that concerns one check only (for example 400 or 500)."""


class LogUnavailable(CheckError):
    """The API server has no log for that container (not started yet, wrong name): the check says so."""


class FileRefused(CheckError):
    """A CA file exists but is not something we read (not a regular file, too large): `reason` names it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PodFilesError(CheckError):
    """Files in the pod could not be read (no kubectl, no shell in the container, exec refused, timeout)."""

    def __init__(self, message: str, hint: str = "", *, no_shell: bool = False) -> None:
        super().__init__(message, hint)
        self.no_shell = no_shell


class VaultResponseTooLarge(VaultUnavailable):
    """Vault sent an answer larger than we read (verify/clients/vault.py MAX_RESPONSE_BYTES), or too slowly: exit 3."""

    reason = "oversized"


class KubeResponseTooLarge(KubeAccessError):
    """The API server sent an answer larger than we read (verify/clients/kube.py MAX_RESPONSE_BYTES): exit 3."""


class RehearsalStepFailed(IvcError):
    """A rehearsal step's expected failure: a one-line cause (`finding`), what to change, and the step's checks.

    The runner records it on the step and goes on to teardown; it never reaches the CLI's error handler.
    `checks` are the verifier's CheckResults, typed loosely because the generator imports nothing from verify.
    """

    def __init__(self, finding: str, hint: str = "", checks: Sequence[Any] = ()) -> None:
        super().__init__(finding, hint)
        self.finding = finding
        self.checks = list(checks)


class RehearsalAborted(IvcError):
    """A rehearsal step failed: the remaining steps are skipped and teardown runs (internal to the runner)."""


class RotationRefused(IvcError):
    """A root-rotation phase asked for before its precondition was verified (e.g. a new intermediate before the
    trust bundle reached every workload): the message says which precondition and why it matters."""

    exit_code = EXIT_FAILED
