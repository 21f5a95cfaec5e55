"""The check registry: each check registers its stable id, the state fields it needs and its verdict tier.

A check is a pure function of a collected state (`collect()` -> state -> checks). `@check(...)` registers it in
`REGISTRY` in definition order, which is the order reports list them. `run(family, state)` calls every check of a
family: a check whose needed fields did not load is `skip` (naming them), one whose single read failed
(`CheckError`) is `error`, and one that trips on input nobody foresaw is `error` too, never a traceback or key bytes;
`Unreachable` (Vault or the API server gone) stops the run with exit 3.

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


def run_one(spec: Check, state: State, describe: Callable[[str], str] = str) -> CheckResult:
    """One check over `state`: skipped when a needed field is None, errored on any exception."""
    missing = [describe(name) for name in spec.needs if getattr(state, name) is None]
    if missing:
        return skipped(spec.id, state.target, f"needs {', '.join(missing)}, which did not load")
    try:
        return spec.function(state)
    except Unreachable:  # the service went away mid-run: the whole command stops (exit 3), not one check
        raise
    except CheckError as error:
        return errored(spec.id, state.target, redact(str(error)), error.hint)
    except Exception as error:  # a check must never take the report down with it
        return errored(
            spec.id,
            state.target,
            redact(f"{type(error).__name__}: {error}"),
            "report this as a bug with the certificate files or the objects read (never a key)",
        )


def applies(spec: Check, state: State) -> bool:
    return spec.when is None or getattr(state, spec.when) is not None


def run(family: str, state: State, describe: Callable[[str], str] = str) -> list[CheckResult]:
    """Every check of `family` that applies to `state`, in registration order."""
    return [run_one(spec, state, describe) for spec in checks_in(family) if applies(spec, state)]
