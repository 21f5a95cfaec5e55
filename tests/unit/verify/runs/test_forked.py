"""`forked_map`: the answers of the serial loop, in order, with each other share computed by a forked child (not
again here), and a failed child's share computed here instead."""

from __future__ import annotations

import os

import pytest

from istio_vault_ca.verify.runs.forked import forked_map

ITEMS = list(range(23))


def _square(item: int) -> int:
    return item * item


def _plain(answer: int) -> object:
    return answer


def _int(encoded: object) -> int:
    assert isinstance(encoded, int)
    return encoded


@pytest.mark.parametrize("workers", [1, 2, 3, 30])
def test_answers_are_the_serial_loop_s_in_order(workers: int) -> None:
    parent = os.getpid()
    here: list[int] = []

    def square(item: int) -> int:
        if os.getpid() == parent:
            here.append(item)
        return _square(item)

    assert forked_map(square, ITEMS, workers, encode=_plain, decode=_int) == [_square(i) for i in ITEMS]
    # This process computed its own share only: the children's answers came through the pipes.
    assert here == ITEMS[0 :: min(workers, len(ITEMS))]


def test_a_child_that_fails_has_its_share_computed_here() -> None:
    parent = os.getpid()

    def square(item: int) -> int:
        if os.getpid() != parent and item == 4:
            raise RuntimeError("only in the child")
        return _square(item)

    assert forked_map(square, ITEMS, 3, encode=_plain, decode=_int) == [_square(i) for i in ITEMS]


def test_an_answer_marshal_cannot_write_is_computed_here() -> None:
    class Opaque(int):
        """A subclass of int: marshal refuses it, as it refuses the Status enum (a str subclass)."""

    assert forked_map(lambda item: Opaque(item), ITEMS, 2, encode=_plain, decode=_int) == ITEMS


def test_an_error_here_still_reaps_every_child() -> None:
    parent = os.getpid()

    def square(item: int) -> int:
        if os.getpid() == parent:
            raise ValueError("here")
        return _square(item)

    with pytest.raises(ValueError, match="here"):
        forked_map(square, ITEMS * 5000, 2, encode=_plain, decode=_int)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)
