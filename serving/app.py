"""The app factory: settings, the store, keys, sessions, the score log and the dashboard's cache
are made here, once per app; the models load when the app starts (its lifespan)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from starlette.datastructures import State

from forecast import __version__, scoring
from forecast.data import store
from forecast.errors import Busy, ModelNotReady
from forecast.keys import KeyVerifier
from forecast.monitoring import ScoreRecorder
from forecast.settings import Settings, get_settings
from serving import errors, freshness, logs, tracking
from serving.caches import BuildOnceCache
from serving.dashboard import pipeline_page
from serving.dashboard import routes as dashboard
from serving.dashboard.overviews import OverviewCache
from serving.datasets import DATASETS_KEPT, WATERFALLS_KEPT
from serving.deps import KnownQuery
from serving.forecast_workers import ForecastWorkers
from serving.lead_lane import LeadLane
from serving.observability import Metrics, RequestMiddleware
from serving.routes import forecast as forecast_routes
from serving.routes import health, keys, kpis, metrics, models, pipeline, risk, scores
from serving.routes import sync as sync_routes
from serving.routes import targets as target_routes
from serving.sessions import SessionManager
from serving.warmup import WarmUp, warm_up

STATIC = Path(__file__).resolve().parent / "static"
NOT_STARTED = "the models load when the app starts"
#: Forecast models fitted as of a date, kept for the next request on unchanged data.
FORECAST_MODELS_KEPT = 16


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the score log and load the models before the first request; close the log (its
    queued scores written) after the last one."""
    state = app.state
    tracker: asyncio.Task | None = None
    warmer: asyncio.Task | None = None
    checker: asyncio.Task | None = None
    state.recorder.start()
    if state.settings.forecast_processes:  # started first: the children boot while models load
        state.forecast_workers = ForecastWorkers(state.settings)
    try:
        loaded = await asyncio.to_thread(scoring.load_model_set, state.settings, state.engine)
        state.pinned = state.models  # what a test or a benchmark put there before start-up
        state.models = freshness.keep_pinned(loaded, state.pinned)
        # What is loaded by now lives as long as the app: kept out of the cycle collector's
        # full passes, which would otherwise walk it (models, libraries) during requests.
        gc.freeze()
        if state.settings.warm_up_on_start:
            state.warmup = WarmUp()
            warmer = asyncio.create_task(warm_up(state))
        if state.settings.track_every_hours > 0:
            state.tracking = tracking.TrackingState(state.settings.track_every_hours)
            rewarm = (lambda: warm_up(state)) if state.warmup is not None else None
            tracker = asyncio.create_task(
                tracking.scheduler(
                    state.settings,
                    state.tracking,
                    after_run=rewarm,
                    reload=lambda: _reload_champions(state),
                )
            )
        if state.settings.reload_check_seconds > 0:
            checker = asyncio.create_task(
                freshness.Freshness().run(state, state.settings.reload_check_seconds)
            )
        yield
    finally:
        if warmer is not None:
            warmer.cancel()  # its thread ends by itself; nothing waits for it
        for task in (tracker, checker):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        state.recorder.close()
        gc.unfreeze()  # an app started again in this process (tests) is collected as usual
        if state.forecast_workers is not None:
            state.forecast_workers.close()
            state.forecast_workers = None


async def _reload_champions(state: State) -> None:
    """The champions as the registry has them now (the scheduler promoted one); a set that
    would serve worse (the registry away) is not swapped in, nor is one while a reload runs."""
    with contextlib.suppress(Busy, ModelNotReady):
        await freshness.reload(state)


#: FastAPI's native OpenTelemetry off (`Settings.otel_telemetry`).
OTEL_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API and the dashboard on the configured store.

    Until it starts, the app's `state.models` is an empty set; the lifespan then loads the
    champions (or fallbacks) into it, and a fresh set is swapped in when the store or the
    registry changed (`serving.freshness`) or on `POST /v1/admin/reload`.
    """
    settings = settings or get_settings()
    logs.configure(settings.log_level)
    app = FastAPI(
        title="Lead scoring and pipeline forecasting",
        version=__version__,
        description="Scores leads and open deals with reasons; forecasts pipeline revenue. "
        "Send an API key as `X-API-Key: <key>` or `Authorization: Bearer <key>` "
        "(in /docs: Authorize).",
        lifespan=lifespan,
        telemetry=None if settings.otel_telemetry else OTEL_OFF,  # None: FastAPI's defaults
    )
    app.state.settings = settings
    app.state.engine = engine = store.get_engine(settings)
    app.state.keys = KeyVerifier(engine, settings.key_cache_seconds)
    app.state.sessions = SessionManager(settings, engine, settings.key_cache_seconds)
    app.state.recorder = ScoreRecorder(engine)
    app.state.metrics = Metrics()
    app.state.overviews = OverviewCache()
    app.state.datasets = BuildOnceCache(DATASETS_KEPT)
    app.state.pipeline_views = BuildOnceCache(WATERFALLS_KEPT)
    app.state.forecast_models = BuildOnceCache(FORECAST_MODELS_KEPT)
    app.state.forecast_workers = None  # made when the app starts, if forecast_processes
    app.state.tracking = None  # the forecast history's scheduler, if track_every_hours
    app.state.warmup = None  # the start-up warm-up, if warm_up_on_start
    app.state.models = scoring.ModelSet(problems=[NOT_STARTED])
    app.state.pinned = None  # the models put on `state.models` before start-up, kept by reloads
    errors.install(app)
    # The routes that read (GET) refuse a query parameter they do not read (`known_query`);
    # the scoring and push routes are not slowed by the check, nor the probes and /metrics.
    read = [KnownQuery]
    app.include_router(scores.router, prefix="/v1")  # first: the hot route is matched first
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(keys.router, prefix="/v1", dependencies=read)
    app.include_router(models.router, prefix="/v1", dependencies=read)
    app.include_router(kpis.router, prefix="/v1", dependencies=read)
    app.include_router(pipeline.router, prefix="/v1", dependencies=read)
    app.include_router(risk.router, prefix="/v1", dependencies=read)
    # before the dashboard's /dashboard/{chart}.csv
    app.include_router(pipeline_page.router, dependencies=read)
    app.include_router(dashboard.router, dependencies=read)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(sync_routes.router, prefix="/v1")
    app.include_router(target_routes.router, prefix="/v1", dependencies=read)
    app.include_router(forecast_routes.router, prefix="/v1", dependencies=read)
    errors.document(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type"],
        )
    app.add_middleware(
        RequestMiddleware,
        metrics=app.state.metrics,
        max_body_bytes=settings.max_body_bytes,
        # CORS's middleware, inside this one, adds headers to every answer: no short way then.
        lane=None if settings.cors_origins else LeadLane.for_app(app),
    )
    return app
