"""Python's cycle collector held off while many objects without cycles are made."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_held_off() -> Iterator[None]:
    """Python's cycle collector held off while many objects without cycles are made. While
    lleaves builds LLVM's input, its tens of thousands of IR objects set off full collections,
    each holding the GIL for up to 0.4 s (measured), which would stall the requests served
    beside a background compile (with it off the longest pause seen by another thread was
    10 ms, and compiling took 40% less time); a big batch's results, plain lists and dicts,
    set off collections that walk every object of the process and cost more than making them."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
