"""A time budget and a cancel flag for one piece of work, checked where the work can stop.

Python threads cannot be killed, so a long computation (fitting the forecast models, replaying
past windows) stops cooperatively: the caller puts a `Budget` in the context (`within`), and the
library calls `check()` at natural checkpoints (per boosting round, per time bucket, between
fitting steps). Outside any budget `check()` does nothing, so the CLI and the tests run the
library unbounded. The budget travels in a contextvar, which keeps the library free of any web
framework; `asyncio.to_thread` and Starlette's `run_in_threadpool` copy the caller's context
into the worker thread (a plain `ThreadPoolExecutor` does not: wrap the call in
`contextvars.copy_context().run`).

    check() raises
    ├── Busy        the budget's time is spent (the caller may retry later)
    └── Cancelled   someone called `cancel()`: the client went away (a kind of Busy)

Either way nothing half-computed is returned: the exception unwinds the work, and a cache that
was building a value does not keep it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from forecast.errors import Busy


class Cancelled(Busy):
    """The work was cancelled (its client went away): nobody is waiting for the answer."""


class Budget:
    """A deadline `seconds` from now (None: none) and a cancel flag, shared across threads."""

    def __init__(self, seconds: float | None = None, retry_after: int = 5) -> None:
        self.seconds = seconds
        self.retry_after = retry_after
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Ask the work to stop at its next checkpoint (safe from any thread)."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def spent(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def check(self) -> None:
        """Raise `Cancelled` or `Busy` when the work must stop; else return at once."""
        if self._cancelled.is_set():
            raise Cancelled("the computation was stopped: its client went away", self.retry_after)
        if self.spent:
            raise Busy(
                f"the server's time budget for this request ({self.seconds:g} s) was spent "
                f"before the answer was ready; retry in {self.retry_after} s",
                self.retry_after,
            )


_current: ContextVar[Budget | None] = ContextVar("forecast_budget", default=None)


def current() -> Budget | None:
    """The budget the running work is under, if any."""
    return _current.get()


def check() -> None:
    """A checkpoint: stop here (`Busy` / `Cancelled`) if the current budget says so."""
    budget = _current.get()
    if budget is not None:
        budget.check()


@contextmanager
def within(budget: Budget) -> Iterator[Budget]:
    """Run the block under `budget` (in this context, and in threads that copy it)."""
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def lightgbm_callback() -> Callable[[Any], None]:
    """A LightGBM `train(callbacks=[...])` callback that runs a checkpoint before each boosting
    round: an exception raised by a callback propagates out of `lgb.train` (only its own
    `EarlyStopException` is caught), so the fit stops within one round."""

    def _check(env: Any) -> None:
        check()

    _check.before_iteration = True  # type: ignore[attr-defined]
    return _check
