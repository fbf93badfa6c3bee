"""Forecasts computed in worker processes, so a forecast can be stopped for real and never
slows scoring down.

A forecast for a new as-of date fits models: seconds of pandas and LightGBM. In the server's
own threads that work holds the GIL (scoring's latency suffers), cannot be killed (only asked to
stop at a checkpoint), and leaves its memory to the server's allocator. Here each of
`heavy_concurrency` slots is one child process (forked by a fork server that imported the
library once, so nothing of the server's threads or locks is inherited and a fresh child starts
in milliseconds) that keeps the datasets and fitted models it has read in its own
caches:

- a request takes a free slot within `heavy_wait_seconds`, else `Busy` (503 + Retry-After);
- the child computes under the same `heavy_budget_seconds` budget; the server waits at most that
  long, and when the budget is spent, or the client goes away, it kills the child at once and
  starts a fresh one (nothing half-computed survives, the CPU and memory are freed);
- children run at a lower CPU priority (`nice` 10), so scoring keeps its latency on a small
  machine while they fit;
- a child is replaced after `forecast_process_tasks` forecasts, or once it has grown past
  `forecast_process_max_mb`, so memory given to one big fit goes back to the system.

Library errors cross the process boundary as their type and message and are raised again here,
so the HTTP mapping stays in `serving/errors.py`.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import resource
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from fastapi import Request

from forecast import errors
from forecast.errors import Busy, ForecastError
from forecast.settings import Settings

log = logging.getLogger("forecast.serving")

#: Imported once by the fork server, so a fresh child starts in milliseconds, not the seconds
#: pandas, scikit-learn and LightGBM take to import.
PRELOAD = ["forecast.forecasting.service", "serving.datasets", "serving.forecast_workers"]
#: How much lower the children's CPU priority is than the server's (`nice`).
NICENESS = 10
#: How often the server looks for a child's answer and for the client having gone (seconds).
POLL_SECONDS = 0.05
#: Library errors a child may report, by name (anything else is an unexpected failure).
KNOWN_ERRORS: dict[str, type[ForecastError]] = {
    cls.__name__: cls
    for cls in (
        errors.InvalidInput,
        errors.UnknownStage,
        errors.UnknownPeriod,
        errors.UnclearDate,
        errors.NotFound,
        errors.UnknownName,
        errors.UnknownDataset,
        errors.UnknownGroup,  # a 404 from every route, a forecast in a worker's too
        errors.InsufficientHistory,
        errors.ModelNotReady,
        errors.Busy,
    )
}


class WorkerFailed(RuntimeError):
    """A child died or raised something unexpected (logged with its traceback)."""


class _Worker:
    """One child process and the pipe to it."""

    def __init__(self, settings_json: str) -> None:
        self.tasks = 0
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, settings_json), name="forecast-worker", daemon=True
        )
        self.process.start()
        child.close()

    def stop(self) -> None:
        """Kill the child (SIGKILL: it may be in the middle of a fit) and reap it."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


Answer = tuple[Any, ...]


class ForecastWorkers:
    """The slots: one child process each, handed to one request at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._json = settings.model_dump_json()
        self._free: asyncio.Queue[_Worker] = asyncio.Queue()
        for _ in range(settings.heavy_concurrency):
            self._free.put_nowait(_Worker(self._json))

    async def forecast(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        """`forecast_against_targets(**params)` as a dict, computed in a child process."""
        worker = await self._take()
        try:
            answer, worker = await self._run(request, worker, params)
        except BaseException:  # cancelled (the server stopping): the child may be mid-fit
            worker = self._replace(worker)
            raise
        finally:
            self._free.put_nowait(worker)
        return result_of(answer)

    async def _take(self) -> _Worker:
        s = self.settings
        try:
            async with asyncio.timeout(s.heavy_wait_seconds):
                return await self._free.get()
        except TimeoutError:
            raise Busy(
                f"the server is busy: {s.heavy_concurrency} forecasts are being computed; "
                f"retry in {s.retry_after_seconds} s",
                s.retry_after_seconds,
            ) from None

    async def _run(
        self, request: Request, worker: _Worker, params: dict[str, Any]
    ) -> tuple[Answer, _Worker]:
        """Send the task and wait for its answer. On a spent budget or a client gone, kill the
        child and hand back a fresh worker. Returns the answer and the worker to keep."""
        s = self.settings
        deadline = time.monotonic() + s.heavy_budget_seconds
        try:
            worker.conn.send({**params, "budget_seconds": s.heavy_budget_seconds})
            worker.tasks += 1
            while not worker.conn.poll():
                if not worker.process.is_alive():
                    raise WorkerFailed("the forecast worker process died")
                stop = None
                if time.monotonic() >= deadline:
                    stop = (
                        f"the server's time budget for this request ({s.heavy_budget_seconds:g} "
                        "s) was spent before the forecast was ready; it was stopped"
                    )
                elif await request.is_disconnected():
                    stop = "the client went away"
                if stop is not None:
                    fresh = await asyncio.to_thread(self._replace, worker)
                    return ("error", "Busy", stop, s.retry_after_seconds), fresh
                await asyncio.sleep(POLL_SECONDS)
            answer: Answer = worker.conn.recv()
        except (EOFError, OSError, WorkerFailed) as exc:
            log.error("forecast worker failed: %s", exc)
            return ("crash", f"{type(exc).__name__}: {exc}"), await asyncio.to_thread(
                self._replace, worker
            )
        big = answer[0] == "ok" and answer[2] > s.forecast_process_max_mb
        if answer[0] == "crash" or big or worker.tasks >= s.forecast_process_tasks:
            return answer, await asyncio.to_thread(self._replace, worker)
        return answer, worker

    def _replace(self, worker: _Worker) -> _Worker:
        """A fresh worker for a stopped one (in a thread when called from the event loop:
        reaping and starting a process takes milliseconds scoring should not wait for)."""
        worker.stop()
        return _Worker(self._json)

    def close(self) -> None:
        while not self._free.empty():
            self._free.get_nowait().stop()


def result_of(answer: Answer) -> dict[str, Any]:
    """The child's result, or the library error it reported raised again here."""
    if answer[0] == "ok":
        return answer[1]
    if answer[0] == "error":
        _, name, message, retry_after = answer
        kind = KNOWN_ERRORS.get(name, ForecastError)
        if issubclass(kind, Busy):
            raise Busy(message, retry_after)
        raise kind(message)
    log.error("forecast worker failed: %s", answer[1])
    raise WorkerFailed("the forecast worker failed")


# --- the child ------------------------------------------------------------------------------------


def _serve(conn: Connection, settings_json: str) -> None:
    """The child's loop: one forecast per message, answered on the same pipe.

    It runs at a lower CPU priority than the server: on a machine with few cores, a fit must
    not take the time scoring needs."""
    os.nice(NICENESS)
    from forecast import budget
    from forecast.data import store
    from forecast.forecasting.service import forecast_against_targets
    from serving.caches import BuildOnceCache
    from serving.datasets import DATASETS_KEPT, load_dataset

    settings = Settings.model_validate_json(settings_json)
    engine = store.get_engine(settings)
    datasets = BuildOnceCache(DATASETS_KEPT)
    models = BuildOnceCache(4)
    while True:
        try:
            params = conn.recv()
        except (EOFError, OSError):
            return  # the server went away
        try:
            work = budget.Budget(params.pop("budget_seconds"), settings.retry_after_seconds)
            with budget.within(work):
                data = load_dataset(engine, params.pop("dataset"), datasets)
                result = forecast_against_targets(
                    engine,
                    dataset=data.name,
                    settings=settings,
                    history=data.history,
                    models_cache=models,
                    **params,
                )
            mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            conn.send(("ok", result.to_dict(), mb))
        except ForecastError as exc:
            conn.send(("error", type(exc).__name__, str(exc), getattr(exc, "retry_after", None)))
        except Exception:  # noqa: BLE001 - reported to the server, which logs it
            conn.send(("crash", traceback.format_exc()))
