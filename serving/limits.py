"""Bounded work for the expensive views (forecast, KPIs, at-risk, the dashboard and its CSVs).

A forecast for a new as-of date fits models: seconds of CPU. Without a bound, one viewer key
asking many periods in parallel takes every core and the memory with it, and the work goes on
after the client has left. So each app has one `HeavyLimiter` (made on first use, kept on
`app.state.heavy`), and an expensive route runs its computation through `HeavyDep`:

- at most `heavy_concurrency` computations at once; a request that finds no free slot within
  `heavy_wait_seconds` gets `Busy` (503 with `Retry-After: retry_after_seconds`);
- each computation runs in a worker thread under a `forecast.budget.Budget` of
  `heavy_budget_seconds`: the library stops at its next checkpoint once the time is spent, and
  the request is answered 503 at the deadline even if the thread is between checkpoints;
- while it runs, the request is polled for a disconnect; a client that went away sets the
  budget's cancel flag, and the computation stops at its next checkpoint.

A slot is held until the worker thread has really finished (threads cannot be killed), not
merely until the answer is sent: the bound is on work done, not on requests answered. Cheap
routes (scoring, health, sync) never pass through here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from forecast import budget
from forecast.errors import Busy
from forecast.settings import Settings

T = TypeVar("T")

#: How often a running computation looks for its client having gone (seconds).
POLL_SECONDS = 0.1


class HeavyLimiter:
    """Slots for expensive computations, for one app on one event loop."""

    def __init__(self, settings: Settings, loop: asyncio.AbstractEventLoop) -> None:
        self.concurrency = settings.heavy_concurrency
        self.wait_seconds = settings.heavy_wait_seconds
        self.budget_seconds = settings.heavy_budget_seconds
        self.retry_after = settings.retry_after_seconds
        self.loop = loop
        self.running = 0  # computations holding a slot (their thread not yet finished)
        self._slots = asyncio.Semaphore(self.concurrency)

    async def run(self, request: Request, func: Callable[..., T], *args: Any) -> T:
        """`func(*args)` in a worker thread, within a slot and the time budget; stopped when
        the client goes away. Raises `Busy` when no slot frees up in time or the budget is
        spent."""
        await self._acquire()
        work = budget.Budget(self.budget_seconds, self.retry_after)
        self.running += 1
        task = asyncio.ensure_future(run_in_threadpool(_under, work, func, *args))
        task.add_done_callback(self._finished)
        try:
            while True:
                timeout = POLL_SECONDS
                if work.deadline is not None:
                    timeout = max(0.0, min(timeout, work.deadline - time.monotonic()))
                await asyncio.wait({task}, timeout=timeout)
                if task.done():
                    return task.result()
                if work.spent:
                    # Busy now; the thread stops at its next checkpoint (the deadline has
                    # passed for it too) and keeps its slot until then.
                    work.check()
                if await request.is_disconnected():
                    work.cancel()
                    raise budget.Cancelled("the client went away", self.retry_after)
        except asyncio.CancelledError:
            work.cancel()
            raise

    async def _acquire(self) -> None:
        if self._slots.locked() and self.wait_seconds <= 0:
            raise self._full()
        try:
            async with asyncio.timeout(self.wait_seconds):
                await self._slots.acquire()
        except TimeoutError:
            raise self._full() from None

    def _finished(self, task: asyncio.Future[Any]) -> None:
        """The worker thread is done: free its slot (and collect its outcome, which nobody may
        be waiting for any more)."""
        self.running -= 1
        self._slots.release()
        if not task.cancelled():
            task.exception()

    def _full(self) -> Busy:
        return Busy(
            f"the server is busy: {self.concurrency} expensive requests (forecast, KPIs, "
            f"at-risk, dashboard) are being computed; retry in {self.retry_after} s",
            self.retry_after,
        )


def _under(work: budget.Budget, func: Callable[..., T], *args: Any) -> T:
    """Run in the worker thread: `func` under the budget (a request that waited in the thread
    pool past its deadline, or whose client left meanwhile, does not start)."""
    with budget.within(work):
        work.check()
        return func(*args)


def limiter_of(app: FastAPI) -> HeavyLimiter:
    """The app's limiter, made on first use on the running event loop (a test that starts the
    same app again gets a fresh one on its new loop)."""
    loop = asyncio.get_running_loop()
    limiter: HeavyLimiter | None = getattr(app.state, "heavy", None)
    if limiter is None or limiter.loop is not loop:
        limiter = HeavyLimiter(app.state.settings, loop)
        app.state.heavy = limiter
    return limiter


class Heavy:
    """An expensive route's way to compute: `await heavy(func, *args)` (see the module)."""

    def __init__(self, limiter: HeavyLimiter, request: Request) -> None:
        self.limiter = limiter
        self.request = request

    async def __call__(self, func: Callable[..., T], *args: Any) -> T:
        return await self.limiter.run(self.request, func, *args)


async def get_heavy(request: Request) -> Heavy:
    # async: runs on the event loop, so making the limiter once needs no lock.
    return Heavy(limiter_of(request.app), request)


HeavyDep = Annotated[Heavy, Depends(get_heavy)]
