"""The report a command writes when it stops with an error: a machine reading `--output json|junit|prometheus`
gets a document it can parse, holding the error as an `error` entry, instead of 0 bytes (and a CI page publishing
`--output html` a page that shows the error and its hint).

`verify all` already reports an unreachable Vault or API server as an `error` row and carries on; every other
command (the other verify targets, rehearse) stops at the first such error, and this module turns that error into
the same kind of row: `vault.reachable` for Vault, `cluster.api-reachable` for the API server or the kubeconfig,
`config.valid` for a config problem, `command.input` for any other refusal and `command.failed` otherwise. The
message and exit code on stderr stay what `IvcError.render` says (generator/errors.py).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TextIO

from ...generator.errors import ConfigError, IvcError, KubeAccessError, KubeConfigProblem, UsageError, VaultUnavailable

if TYPE_CHECKING:
    from ..checks.result import Report

# --output formats that are documents for machines; `text` is for people, who read the message on stderr.
DOCUMENT_FORMATS = ("json", "junit", "prometheus", "html")


def error_row(error: IvcError, args: argparse.Namespace | None) -> tuple[str, str]:
    """The check id and target the error is reported under (what a dashboard or CI keys on)."""
    if isinstance(error, VaultUnavailable):
        return "vault.reachable", _vault_address(error)
    if isinstance(error, (KubeAccessError, KubeConfigProblem)):
        context = getattr(args, "context", None)  # verify fleet's --context is a list of CLUSTER=CONTEXT
        if isinstance(context, list):
            context = ", ".join(str(item) for item in context)
        return "cluster.api-reachable", str(context or "kubeconfig")
    if isinstance(error, ConfigError):
        return "config.valid", error.source
    if isinstance(error, UsageError):
        return "command.input", _command(args)
    return "command.failed", _command(args)


# A row's hint when the error carries none (its advice is in the message): a document reader keys on `hint`, so it
# is never empty, and says where the rest of the advice is.
_FALLBACK_HINTS = {
    "vault.reachable": "check VAULT_ADDR, the network and VAULT_TOKEN; the finding says what Vault answered",
    "cluster.api-reachable": "fix --kubeconfig/--context as the finding says (kubectl config get-contexts lists them)",
    "config.valid": "fix the config as the finding says (istio-vault-ca validate CONFIG lists every problem)",
}


def _fallback_hint(check_id: str, args: argparse.Namespace | None) -> str:
    if check_id in _FALLBACK_HINTS:
        return _FALLBACK_HINTS[check_id]
    if check_id == "command.input":
        command = _command(args)
        full = command if command == "istio-vault-ca" else f"istio-vault-ca {command}"
        return f"fix the command line as the finding says ({full} --help)"
    return "the finding says what failed; re-run with the same arguments once it is fixed"


def _vault_address(error: VaultUnavailable) -> str:
    """The address the error names (VaultApi messages start "Vault at ADDRESS ..."), else VAULT_ADDR."""
    import os

    words = str(error).split()
    if len(words) > 2 and words[:2] == ["Vault", "at"]:
        return words[2].rstrip(":,")
    return os.environ.get("VAULT_ADDR") or "vault"


def _command(args: argparse.Namespace | None) -> str:
    words = [getattr(args, "command", None), getattr(args, "verify_command", None)]
    return " ".join(str(word) for word in words if word) or "istio-vault-ca"


def error_report(error: IvcError, args: argparse.Namespace | None) -> Report:
    """A report holding only the error (its message in our words, its hint), with reachability facts for
    Prometheus: an unreachable Vault or API server is `istio_vault_ca_reachable 0`, not a missing series."""
    from ..checks.result import Report, errored

    check_id, target = error_row(error, args)
    report = Report([errored(check_id, target, str(error), error.hint or _fallback_hint(check_id, args))])
    # The config the run was judging against, when it got that far (a ConfigError names its file as the target).
    source = getattr(args, "config_source", None)
    report.facts.config = source if isinstance(source, str) else None
    if check_id == "vault.reachable":
        report.facts.reachable["vault"] = False
    elif check_id == "cluster.api-reachable":
        report.facts.reachable["kubernetes"] = False
    return report


def write_error_document(error: IvcError, args: argparse.Namespace | None, stream: TextIO | None = None) -> None:
    """With a document `--output`, write the error as a report in that format on stdout (nothing for text); a
    JUnit document keeps the testsuite name of the command's own reports (rehearse has its own)."""
    output = getattr(args, "output", None)
    if output not in DOCUMENT_FORMATS:
        return
    from ..checks.reporters import get_reporter, junit

    suite: str | None = None
    if getattr(args, "command", None) == "rehearse":
        from ..rehearsal.results import SUITE as suite

    report = error_report(error, args)
    stream = stream or sys.stdout
    if output == "junit" and suite is not None:
        stream.write(junit.render(report, suite=suite))
    else:
        stream.write(get_reporter(str(output)).render(report))
