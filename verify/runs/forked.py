"""Run a function over many items on every core: this process takes one share, a forked child each other share.

Why not `concurrent.futures.ProcessPoolExecutor`: importing it (multiprocessing, queues, pickling, a feeder
thread) cost `verify chain DIR1 … DIR100` about as much as checking fifteen directories, and its workers sit idle
while this process waits. Here each child computes its share (every `workers`-th item, so similar items spread
evenly), writes the encoded answers to a pipe with `marshal` (plain values only, no pickling) and leaves with
`os._exit` (nothing of the parent's is flushed or cleaned up twice). A child that fails in any way (an exception,
a signal, an answer that does not decode) has its share computed again here, so the caller sees exactly what the
serial loop would give, errors included, in the order of `items`.

Forking is only safe in a process with no other threads: callers check that first (`serve` uses threads).
"""

from __future__ import annotations

import marshal
import os
from collections.abc import Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")
Encoded = object  # what `marshal` can write: tuples, lists, str, bytes, int, float, None


def forked_map(
    function: Callable[[Item], Answer],
    items: Sequence[Item],
    workers: int,
    *,
    encode: Callable[[Answer], Encoded],
    decode: Callable[[Encoded], Answer],
) -> list[Answer]:
    """`[function(item) for item in items]`, computed by `workers` processes (this one included)."""
    workers = max(1, min(workers, len(items)))
    children: list[tuple[int, int, int]] = []  # (share, pid, read end of its pipe)
    for share in range(1, workers):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: compute, write, leave without running the parent's cleanup
            code = 1
            try:
                os.close(read_end)
                data = marshal.dumps([encode(function(item)) for item in items[share::workers]])
                with os.fdopen(write_end, "wb") as pipe:
                    pipe.write(data)
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        children.append((share, pid, read_end))
    answers: list[Answer | None] = [None] * len(items)
    try:
        answers[0::workers] = [function(item) for item in items[0::workers]]
        for share, pid, read_end in list(children):
            with os.fdopen(read_end, "rb") as pipe:
                children[share - 1] = (share, pid, -1)  # closed when this block ends
                data = pipe.read()
            _, status = os.waitpid(pid, 0)
            children[share - 1] = (share, 0, -1)  # reaped
            part = _decoded(data, decode) if status == 0 else None
            if part is None or len(part) != len(items[share::workers]):
                part = [function(item) for item in items[share::workers]]  # the child failed: its share, here
            answers[share::workers] = part
    finally:  # this process failed first: close the pipes (a child still writing stops) and reap the children
        for _, pid, read_end in children:
            if read_end >= 0:
                os.close(read_end)
            if pid:
                os.waitpid(pid, 0)
    return answers  # type: ignore[return-value]  # every slot is filled by a share


def _decoded(data: bytes, decode: Callable[[Encoded], Answer]) -> list[Answer] | None:
    try:
        # Written by our own child through a pipe only the two processes hold: not outside input.
        return [decode(entry) for entry in marshal.loads(data)]  # noqa: S302
    except (EOFError, ValueError, TypeError, IndexError):
        return None
