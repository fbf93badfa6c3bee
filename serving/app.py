"""The app factory: settings and the store are read once at start-up into app state."""

from __future__ import annotations

from fastapi import FastAPI

from forecast import __version__, store
from forecast.settings import Settings, get_settings
from serving import errors
from serving.routes import health


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="Lead scoring and pipeline forecasting", version=__version__)
    app.state.settings = settings
    app.state.engine = store.get_engine(settings)
    errors.install(app)
    app.include_router(health.router)
    return app
