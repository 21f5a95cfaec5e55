"""The check registry: each check registers its stable id, the state fields it needs and its verdict tier.

A check is a pure function of a collected state (`collect()` -> state -> checks). `@check(...)` registers it in
`REGISTRY` in definition order, which is the order reports list them. Every runner (`run` here for the chain and
pod families, checks/cluster/runner.py, checks/vault/runner.py) calls each check through `run_one`, the one
exception policy: a check given up or whose needed fields did not load is `skip`, one whose single read failed
(`CheckError`) is `error` with that error's words, one that trips on input nobody foresaw is `error` too, never a
traceback or key bytes; `Unreachable` (Vault or the API server gone) stops the run with exit 3.

Adding a check is one decorated function in the family's module; nothing else lists check ids.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, Protocol, TypeVar

from ...generator.errors import CheckError, Unreachable
from .result import CheckResult, errored, redact, skipped


class Tier(str, enum.Enum):
    """Why a check fails or warns; each check is in exactly one tier (docs/explanation/verifier.md)."""

    ISTIOD_REFUSES = "istiod refuses"  # fail: istiod will not load the CA (or silently self-signs instead)
    PEERS_REJECT = "peers reject"  # fail: istiod loads it, but workloads reject what it issues
    SETUP = "setup"  # fail: Vault or the cluster is not what the config says
    POLICY = "policy"  # fail by this tool's security policy (e.g. a world-readable key, RSA < 2048)
    PRACTICE = "good practice"  # warn only: it works, against good practice
    INFO = "info"  # never fails: reports a fact (days left, versions)


class State(Protocol):
    """What every collected state offers the runner: the target its results name."""

    @property
    def target(self) -> str: ...


S = TypeVar("S", bound=State)
CheckFunction = Callable[[Any], CheckResult]


class Check(NamedTuple):
    id: str
    tier: Tier
    needs: tuple[str, ...]
    function: CheckFunction
    # A state field that must not be None for the check to apply at all (no result otherwise), e.g. a file mode
    # that values read from Vault do not have.
    when: str | None = None

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def doc(self) -> str:
        """The docstring's first paragraph on one line: why the check exists (docs/reference/checks.md shows it)."""
        return " ".join((self.function.__doc__ or "").strip().split("\n\n", 1)[0].split())


REGISTRY: dict[str, Check] = {}


def check(
    check_id: str, *, tier: Tier, needs: tuple[str, ...] = (), when: str | None = None
) -> Callable[[CheckFunction], CheckFunction]:
    """Register `function` as the check `check_id`; `needs` names state fields that must not be None."""

    def register(function: CheckFunction) -> CheckFunction:
        if check_id in REGISTRY and REGISTRY[check_id].function.__qualname__ != function.__qualname__:
            raise ValueError(f"check id {check_id} registered twice")
        REGISTRY[check_id] = Check(check_id, tier, needs, function, when)
        return function

    return register


def checks_in(family: str) -> Iterator[Check]:
    """The family's checks in registration order."""
    return (spec for spec in REGISTRY.values() if spec.family == family)


# The hint of an error row for an exception nobody foresaw in a check.
BUG_HINT = "report this as a bug with the certificate files or the objects read (never a key)"


class Wording(NamedTuple):
    """How a runner's error rows word what went wrong, where its checks' input asks for other words.

    `read_failed_hint`: the hint of a `CheckError` that carries none. `unexpected`: the finding's words for any
    other exception, followed by the exception's type alone (no message: it might quote the answer read); empty
    names the type and the (redacted) message, with BUG_HINT."""

    read_failed_hint: str = ""
    unexpected: str = ""


CHECK_WORDING = Wording()


def run_one(
    spec: Check,
    state: State,
    describe: Callable[[str], str] = str,
    *,
    given_up: frozenset[str] = frozenset(),
    wording: Wording = CHECK_WORDING,
) -> CheckResult:
    """One check over `state`, under the one exception policy every runner shares.

    `given_up` names checks the caller's token is not meant to be able to run (skipped without being called: their
    403 would otherwise end the run); a needed field that is None skips the check, naming it (`describe`);
    `Unreachable` is raised (the service went away: the whole command stops, exit 3, not one check); a
    `CheckError` is this check's `error`; any other exception is an `error` too, so a check never takes the report
    down with it."""
    if spec.id in given_up:
        return skipped(spec.id, state.target, "given up: the token is not meant to read what this check reads")
    missing = [describe(name) for name in spec.needs if getattr(state, name) is None]
    if missing:
        return skipped(spec.id, state.target, f"needs {', '.join(missing)}, which did not load")
    try:
        return spec.function(state)
    except Unreachable:
        raise
    except CheckError as error:
        return errored(spec.id, state.target, redact(str(error)), error.hint or wording.read_failed_hint)
    except Exception as error:
        if wording.unexpected:
            return errored(spec.id, state.target, f"{wording.unexpected}: {type(error).__name__}")
        return errored(spec.id, state.target, redact(f"{type(error).__name__}: {error}"), BUG_HINT)


def applies(spec: Check, state: State) -> bool:
    return spec.when is None or getattr(state, spec.when) is not None


def run(family: str, state: State, describe: Callable[[str], str] = str) -> list[CheckResult]:
    """Every check of `family` that applies to `state`, in registration order."""
    return [run_one(spec, state, describe) for spec in checks_in(family) if applies(spec, state)]
