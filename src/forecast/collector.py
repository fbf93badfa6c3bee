"""Python's cycle collector held off while many objects without cycles are made."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Holders of the pause across threads (a background compile beside a big batch), and whether
#: the collector was on when the first of them came: the last one out puts it back as it was.
_lock = threading.Lock()
_holders = 0
_was_on = False


@contextmanager
def collector_held_off() -> Iterator[None]:
    """Python's cycle collector held off while many objects without cycles are made. While
    lleaves builds LLVM's input, its tens of thousands of IR objects set off full collections,
    each holding the GIL for up to 0.4 s (measured), which would stall the requests served
    beside a background compile (with it off the longest pause seen by another thread was
    10 ms, and compiling took 40% less time); a big batch's results, plain lists and dicts,
    set off collections that walk every object of the process and cost more than making them.

    Holds overlap across threads: the collector comes back on when the last holder leaves, and
    only if it was on when the first came (a caller that turned it off keeps it off)."""
    global _holders, _was_on
    with _lock:
        if _holders == 0:
            _was_on = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_on:
                gc.enable()
