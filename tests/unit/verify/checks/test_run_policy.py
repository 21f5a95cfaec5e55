"""The one exception policy of every check runner (verify/checks/registry.py `run_one`): what a check that cannot
judge becomes in the report, for the chain, pod and cluster families and for the Vault checks alike."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from istio_vault_ca.generator.config.loader import parse_text
from istio_vault_ca.generator.config.plan import plan
from istio_vault_ca.generator.errors import (
    CheckError,
    KubeAccessError,
    VaultApiError,
    VaultSealed,
    VaultUnavailable,
    VaultUnreachable,
)
from istio_vault_ca.verify.checks.registry import BUG_HINT, Check, Tier, Wording, run_one
from istio_vault_ca.verify.checks.result import CheckResult, Status, passed
from istio_vault_ca.verify.checks.vault import runner as vault_runner

KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----"


@dataclass(frozen=True)
class _State:
    target: str = "somewhere"
    roots: object | None = object()


def _check(raising: BaseException | None = None, needs: tuple[str, ...] = ()) -> Check:
    def function(state: Any) -> CheckResult:
        if raising is not None:
            raise raising
        return passed("test.policy", state.target, "judged")

    return Check("test.policy", Tier.SETUP, needs, function)


def _row(result: CheckResult) -> tuple[str, str, str]:
    return result.status.value, result.finding, result.hint


def test_a_check_given_up_or_missing_its_input_is_skipped_without_running() -> None:
    never = _check(AssertionError("must not run"))
    assert _row(run_one(never, _State(), given_up=frozenset({"test.policy"}))) == (
        "skip",
        "given up: the token is not meant to read what this check reads",
        "",
    )
    missing = run_one(_check(needs=("roots",)), _State(roots=None), lambda name: f"the {name} file")
    assert _row(missing) == ("skip", "needs the roots file, which did not load", "")


@pytest.mark.parametrize("gone", [VaultUnreachable("Vault is gone"), KubeAccessError("API gone")])
def test_a_service_gone_stops_the_run(gone: Exception) -> None:
    with pytest.raises(type(gone)):
        run_one(_check(gone), _State())


def test_a_failed_read_is_this_checks_error_with_its_words() -> None:
    assert _row(run_one(_check(CheckError("GET x: 500", "retry")), _State())) == ("error", "GET x: 500", "retry")
    vault = Wording(read_failed_hint="see the server log")
    assert _row(run_one(_check(VaultApiError("GET x: 500")), _State(), wording=vault)) == (
        "error",
        "GET x: 500",
        "see the server log",
    )


def test_anything_else_is_an_error_row_never_key_bytes() -> None:
    result = run_one(_check(ValueError(f"cannot parse {KEY}")), _State())
    assert _row(result) == ("error", "ValueError: cannot parse [redacted PEM]", BUG_HINT)
    worded = run_one(_check(KeyError(KEY)), _State(), wording=Wording(unexpected="unexpected answer"))
    assert _row(worded) == ("error", "unexpected answer: KeyError", "")


def _vault_rows(monkeypatch: pytest.MonkeyPatch, raising: BaseException) -> list[CheckResult]:
    """check_vault over one stand-in check (the registry's Vault checks left out) that raises `raising`."""

    def only_this(family: str) -> Iterator[Check]:
        assert family == "vault"
        return iter([_check(raising)])

    monkeypatch.setattr(vault_runner, "checks_in", only_this)
    config = parse_text("{}", "test")
    return vault_runner.check_vault(object(), config, tuple(plan(config)))  # type: ignore[arg-type]


def test_the_vault_runner_follows_the_same_policy_in_vaults_words(monkeypatch: pytest.MonkeyPatch) -> None:
    (failed_read,) = _vault_rows(monkeypatch, VaultApiError("GET sys/mounts: 500"))
    assert _row(failed_read) == ("error", "GET sys/mounts: 500", "see the Vault server log for this request")
    (odd,) = _vault_rows(monkeypatch, TypeError(KEY))
    assert _row(odd) == ("error", "unexpected answer from Vault: TypeError", "")
    (bug,) = _vault_rows(monkeypatch, AttributeError("a bug"))  # a crash before the runners shared one policy
    assert bug.status is Status.ERROR
    with pytest.raises(VaultUnavailable):
        _vault_rows(monkeypatch, VaultSealed("Vault is sealed"))
