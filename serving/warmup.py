"""Warm-up at start: the default deal dataset is read and its default dashboard view built while
the server starts, so the first manager to open the dashboard does not wait for either.

Reading a large CRM's deals and history takes seconds; the forecast itself comes from the
stored run (`forecast.forecasting.stored_forecasts`). The warm-up runs in a thread beside the
first requests: a view it is building is waited for, not built twice (`BuildOnceCache`).
`/readyz` says whether it is still running (`warming`), for a benchmark or an operator.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from starlette.datastructures import State

from serving.dashboard.overviews import compute

log = logging.getLogger("forecast.serving.warmup")


@dataclass
class WarmUp:
    running: bool = True
    seconds: float | None = None
    message: str = ""


async def warm_up(state: State) -> None:
    """Build the default view into the app's caches; a failure is logged, never raised."""
    warm: WarmUp = state.warmup
    started = time.perf_counter()
    try:
        _, problem = await asyncio.to_thread(
            compute, state, state.overviews, None, "quarter", None, None
        )
        warm.message = problem or "default dashboard view ready"
    except Exception as exc:  # noqa: BLE001 - the server serves on; the first view computes
        warm.message = f"warm-up failed: {exc}"
        log.warning("warm-up failed", exc_info=True)
    finally:
        warm.running = False
        warm.seconds = time.perf_counter() - started
        log.info("warm-up: %s (%.1f s)", warm.message, warm.seconds)
