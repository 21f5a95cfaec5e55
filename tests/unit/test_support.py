"""tests.support.wait_until, the one poll every test waits with: what it returns, and how it fails."""

from __future__ import annotations

import pytest

from tests.support import wait_until


class Answers:
    """A condition giving `values` one per call (then the last again), counting its calls."""

    def __init__(self, *values: str | None) -> None:
        self.values, self.calls = values, 0

    def __call__(self) -> str | None:
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return value


def test_returns_the_first_truthy_value_once_it_appears() -> None:
    condition = Answers(None, "", "ready")
    assert wait_until(condition, 60, "the answer", interval=0) == "ready"
    assert condition.calls == 3


def test_gives_up_naming_what_it_waited_for_with_the_details() -> None:
    with pytest.raises(AssertionError) as failure:
        wait_until(Answers(None), 0, "the answer", details=lambda: "the log ends: nothing")
    assert str(failure.value) == "gave up after 0 s waiting for the answer:\nthe log ends: nothing"


def test_a_stop_ends_the_wait_at_once_with_its_reason() -> None:
    condition = Answers(None)
    with pytest.raises(AssertionError) as failure:
        wait_until(condition, 0, "the answer", stop=lambda: "the server exited (1)")
    assert str(failure.value) == "the server exited (1) before the answer"
    assert condition.calls == 1


def test_a_stop_still_takes_what_was_done_before_the_exit() -> None:
    """The condition is looked at once more after the stop: a process that did its work, then exited, passes."""
    assert wait_until(Answers("written"), 0, "the file", stop=lambda: "the agent exited (0)") == "written"


def test_a_stop_with_nothing_to_say_keeps_waiting() -> None:
    stops = iter([None, None, "gone"])
    condition = Answers(None)
    with pytest.raises(AssertionError, match=r"^gone before the answer$"):
        wait_until(condition, 3600, "the answer", interval=0, stop=lambda: next(stops))
    assert condition.calls == 3


def test_the_failure_can_be_the_callers_own_kind() -> None:
    class StartError(RuntimeError):
        pass

    with pytest.raises(StartError, match=r"^gave up after 0 s waiting for etcd$"):
        wait_until(Answers(None), 0, "etcd", error=StartError)
