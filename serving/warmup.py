"""Warm-up: the default deal dataset is read and the dashboard views a manager opens first (the
default one, the next quarter, each team's, the pipeline movement) are built while the server
starts, and again after each tracking run, so nobody waits for them.

Reading a large CRM's deals and history takes seconds; the forecasts come from the stored run
(`forecast.forecasting.stored_forecasts`). The warm-up runs in a thread beside the requests: a
view it is building is waited for, not built twice (`BuildOnceCache`). `/readyz` says whether
it is still running (`warming`), for a benchmark or an operator.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from starlette.datastructures import State

from forecast.errors import Busy, ModelNotReady
from forecast.periods import current_period, period_of
from serving.dashboard.overviews import compute
from serving.dashboard.pipeline_page import PipelineQuery, movement, page_context
from serving.datasets import load_dataset

log = logging.getLogger("forecast.serving.warmup")
#: Team views built at start, beyond which a team's first view computes.
MAX_TEAM_VIEWS = 20


@dataclass
class WarmUp:
    running: bool = True
    seconds: float | None = None
    message: str = ""
    started: float = field(default_factory=time.monotonic)  # of the run going on, or the last


async def warm_up(state: State) -> None:
    """Build the views a manager opens first into the app's caches: the default one, the next
    period, and each team's (at most `MAX_TEAM_VIEWS`); a failure is logged, never raised."""
    warm: WarmUp = state.warmup
    warm.running = True
    warm.started = time.monotonic()
    started = time.perf_counter()
    try:
        _, problem = await asyncio.to_thread(
            compute, state, state.overviews, None, "quarter", None, None
        )
        warm.message = str(problem) if problem else "default dashboard view ready"
        if problem is None:
            others = await asyncio.to_thread(_other_views, state)
            for period, team in others:
                await asyncio.to_thread(
                    compute, state, state.overviews, None, "quarter", period, team
                )
            moved = await asyncio.to_thread(
                movement, state, PipelineQuery(None, None, None, None, None)
            )
            await asyncio.to_thread(page_context, state, moved)
            warm.message += (
                f", and {len(others)} more (the next quarter, each team), and the pipeline"
            )
    except Exception as exc:  # noqa: BLE001 - the server serves on; the first view computes
        warm.message = f"warm-up failed: {exc}"
        log.warning("warm-up failed", exc_info=True)
    finally:
        warm.running = False
        warm.seconds = time.perf_counter() - started
        log.info("warm-up: %s (%.1f s)", warm.message, warm.seconds)


def warming(state: State) -> str | None:
    """What the server is still getting ready, while its warm-up runs (None once it is done):
    a request that needs the same dataset waits for the warm-up's read of it."""
    warm: WarmUp | None = getattr(state, "warmup", None)
    if warm is None or not warm.running:
        return None
    dataset = state.settings.deal_dataset
    named = f"deal dataset {dataset!r}" if dataset else "the deal dataset"
    return (
        f"the server is warming up (at start-up and after each tracking run): it reads {named} "
        f"and builds the first dashboard views ({time.monotonic() - warm.started:.0f} s so far), "
        "and a request needing the same dataset waits for that read"
    )


def said_while_warming(state: State, exc: Busy | ModelNotReady) -> Busy | ModelNotReady:
    """`exc` (a 503) saying, while the warm-up runs, that the server is not ready yet and
    what it is doing; `exc` itself otherwise."""
    why = warming(state)
    if why is None:
        return exc
    if isinstance(exc, Busy):
        return Busy(f"{why}; {exc}", exc.retry_after)
    return ModelNotReady(f"{why}; {exc}")


def _other_views(state: State) -> list[tuple[str | None, str | None]]:
    """The next quarter's view and each team's view of the current one."""
    data = load_dataset(state.engine, state.settings.deal_dataset, state.datasets)
    current = current_period(data.now, "quarter")
    following = period_of(current.end, "quarter")
    return [(following.label, None)] + [(None, team) for team in data.teams[:MAX_TEAM_VIEWS]]
