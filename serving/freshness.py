"""The served models follow the store and the registry by themselves; every reload of them (the
check below, the tracking scheduler's, `POST /v1/admin/reload`) goes through `reload`.

A `forecast import`, a CRM push, or a `forecast train` / `promote` / `rollback` run beside the
server changes what it should serve: a new dataset to score (by its champion or its fallback), a
dataset's stages and past win rates, a new champion. Every `reload_check_seconds` a task reads
what the served set was loaded from (`forecast.model_sources`: the store's dataset versions, the
registry's champion versions; milliseconds, in a thread) and, where that changed, loads a fresh
set in a thread and swaps it in with one assignment: requests keep scoring with the old set
meanwhile, and nothing is added to a request's path. The fresh set loads only what changed
(`model_sources.Kept`): an unchanged champion keeps its loaded model (its compiled trees, its
scoring plans and wordings), an unchanged dataset its deal context, so a push to one dataset
rebuilds that dataset's context and downloads no champion. A new champion is loaded at the next
check; a change of datasets alone reloads no sooner than T / `RELOAD_SHARE` after the start of
the last reload, which took T seconds, so a dataset a CRM pushes to without pause costs the
server at most a tenth of a core in reloads.

A fresh set that would serve worse than the one serving (a fallback standing in for a champion:
the registry away, no local copy) is not swapped in: the serving set keeps serving and its
`problems` say so. A load that could not take what the registry lists (refused, or serving a
local copy because an artifact would not download) records it (`model_sources.NOT_LOADED`), and
the check tries the same sources again after `reload_retry_seconds` (60), not at every check.

`POST /v1/admin/reload` loads everything again (`reuse=False`): an admin asks for it when the
serving set looks wrong in a way versions do not show (a registry rebuilt whose versions start
again at 1, a model file replaced by hand, a dataset edited in the store directly), and expects
every model read afresh; what follows a version is already reloaded by the check.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time

from starlette.datastructures import State

from forecast import scoring
from forecast.errors import Busy, ModelNotReady
from forecast.model_set import Problem, dataset_of
from forecast.model_sources import Sources, current_sources

log = logging.getLogger("forecast.serving.freshness")
#: The largest share of the time a server spends reloading models its data keeps changing.
RELOAD_SHARE = 0.1
#: How the kept set's `problems` say that a reload was refused (the latest refusal only).
NOT_APPLIED = "reload not applied"


def reload_lock(state: State) -> asyncio.Lock:
    """The app's reload lock, made on first use (no await between the look and the make)."""
    lock = getattr(state, "reload_lock", None)
    if lock is None:
        lock = state.reload_lock = asyncio.Lock()
    return lock


async def reload(state: State, *, reuse: bool = True) -> scoring.ModelSet:
    """Load the current champions (or fallbacks) off the event loop and swap them in; the set now
    serving. `Busy` while another reload runs (it reads the same); `ModelNotReady`, saying why,
    when the fresh set would serve worse than the serving one, which keeps serving.

    `reuse`: load only what changed since the serving set was loaded (`load_model_set`'s
    `previous`), keeping every unchanged champion's loaded model and every unchanged dataset's
    context; False loads everything again, as at start-up."""
    lock = reload_lock(state)
    if lock.locked():  # one load at a time: a second would wait on the same registry again
        raise Busy("a reload is already running", state.settings.retry_after_seconds)
    async with lock:
        load = functools.partial(scoring.load_model_set, state.settings, state.engine)
        if reuse:
            fresh = await asyncio.to_thread(load, previous=state.models)
        else:
            fresh = await asyncio.to_thread(load)
        return swap(state, keep_pinned(fresh, state.pinned))


def swap(state: State, fresh: scoring.ModelSet) -> scoring.ModelSet:
    """`fresh` in place of the serving set (one assignment: a request in flight keeps the set it
    read), unless it would serve worse: then `ModelNotReady`, and the serving set's `problems`
    say that the reload was not applied."""
    current = state.models
    if fresh.degraded and current.any_served and not current.degraded:
        refused = f"{NOT_APPLIED} ({_when(fresh)}): " + "; ".join(fresh.degraded)
        kept = [p for p in current.problems if not p.startswith(NOT_APPLIED)]
        # Each of the fresh set's problems stays tagged with its dataset (`problems_for`).
        why = [Problem(f"{NOT_APPLIED}: {p}", dataset_of(p)) for p in fresh.problems]
        state.models = dataclasses.replace(current, problems=[*kept, refused, *why])
        raise ModelNotReady(
            f"{refused}; the models loaded at {_when(current)} keep serving "
            "(GET /readyz with a viewer's key says more)"
        )
    state.models = fresh
    return fresh


def keep_pinned(loaded: scoring.ModelSet, pinned: scoring.ModelSet | None) -> scoring.ModelSet:
    """The loaded set, except a kind whose model was put on `app.state.models` before start-up
    (a test's or a benchmark's fitted model), which serves as that kind's default dataset's for
    the app's life."""
    if pinned is None:
        return loaded
    if pinned.lead is not None:
        loaded.lead = pinned.lead
    if pinned.deal is not None:
        loaded.deal = pinned.deal
    return loaded


def _when(models: scoring.ModelSet) -> str:
    return f"{models.loaded_at:%Y-%m-%d %H:%M:%S} UTC"


@dataclasses.dataclass
class Freshness:
    """The check's memory: the sources of the last reload that could not take them all (refused,
    or serving a local copy or a fallback where the registry lists a champion), tried again
    only once `reload_retry_seconds` passed (a transient registry failure heals, a broken one
    costs a try a minute, not one per check); when a change of datasets alone may reload next
    (`RELOAD_SHARE`); and its last failure (logged once, not at every check)."""

    tried: Sources | None = None
    retry_at: float = 0.0  # `time.monotonic()`: when `tried` may be tried again
    not_before: float = 0.0  # `time.monotonic()`
    failure: str = ""

    async def check(self, state: State) -> bool:
        """Reload when the store or the registry changed since the serving set was loaded; True
        when a reload ran. A set not loaded from them (a test's) is left alone."""
        served = state.models.sources
        if served is None or reload_lock(state).locked():
            return False
        now = await asyncio.to_thread(current_sources, state.settings, state.engine)
        if not served.differs(now) or self._waits(now):
            return False
        # A new champion loads at once; a dataset a CRM keeps pushing to waits its turn.
        if not served.champions_differ(now) and time.monotonic() < self.not_before:
            return False
        log.info("reloading the models: %s changed", ", ".join(served.changes(now)))
        started = time.monotonic()
        try:
            await reload(state)
        except Busy:  # an admin's reload started meanwhile: it reads the same
            return False
        except ModelNotReady as exc:  # refused: tried again after a while
            self._tried(now, state)
            log.warning("models not reloaded: %s", exc)
        else:
            if state.models.sources is not None and state.models.sources.differs(now):
                self._tried(now, state)  # a champion listed is not served: tried again later
        finally:
            self.not_before = started + (time.monotonic() - started) / RELOAD_SHARE
        return True

    def _waits(self, now: Sources) -> bool:
        """Whether these sources were tried and may not be tried again yet."""
        tried = self.tried is not None and not self.tried.differs(now)
        return tried and time.monotonic() < self.retry_at

    def _tried(self, now: Sources, state: State) -> None:
        self.tried = now
        self.retry_at = time.monotonic() + state.settings.reload_retry_seconds

    async def run(self, state: State, every: float) -> None:
        """`check` every `every` seconds until cancelled; a check that fails is logged and the
        next one tries again."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.check(state)
                self.failure = ""
            except Exception as exc:  # noqa: BLE001 - the server serves on with the set it has
                if str(exc) != self.failure:
                    log.warning("could not check whether the models are current: %s", exc)
                self.failure = str(exc)
