"""The app factory: settings, the store, keys and the score log are set up once at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from forecast import __version__, scoring, store
from forecast.keys import KeyVerifier
from forecast.monitoring import ScoreRecorder
from forecast.settings import Settings, get_settings
from serving import dashboard, errors, logs
from serving.observability import Metrics, RequestMiddleware
from serving.routes import forecast as forecast_routes
from serving.routes import health, keys, kpis, metrics, models, risk, scores
from serving.routes import sync as sync_routes
from serving.routes import targets as target_routes


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logs.configure(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.recorder.start()
        yield
        app.state.recorder.close()

    app = FastAPI(
        title="Lead scoring and pipeline forecasting",
        version=__version__,
        description="Scores leads and open deals with reasons; forecasts pipeline revenue. "
        "Send an API key as `X-API-Key: <key>` or `Authorization: Bearer <key>`.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine = store.get_engine(settings)
    app.state.keys = KeyVerifier(engine, settings.key_cache_seconds)
    app.state.recorder = ScoreRecorder(engine)
    app.state.metrics = Metrics()
    app.state.models = scoring.load_model_set(settings, engine)
    errors.install(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(keys.router, prefix="/v1")
    app.include_router(scores.router, prefix="/v1")
    app.include_router(models.router, prefix="/v1")
    app.include_router(kpis.router, prefix="/v1")
    app.include_router(risk.router, prefix="/v1")
    app.include_router(dashboard.router)
    app.mount("/static", StaticFiles(directory=dashboard.HERE / "static"), name="static")
    app.include_router(sync_routes.router, prefix="/v1")
    app.include_router(target_routes.router, prefix="/v1")
    app.include_router(forecast_routes.router, prefix="/v1")
    errors.document(app)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST", "PUT", "DELETE"],
                           allow_headers=["X-API-Key", "Authorization", "Content-Type"])
    app.add_middleware(RequestMiddleware, metrics=app.state.metrics,
                       max_body_bytes=settings.max_body_bytes)
    return app
