"""The one place library errors become HTTP responses: a clear message, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from forecast.errors import (
    ForecastError,
    InsufficientHistory,
    InvalidInput,
    ModelNotReady,
    NotFound,
)

log = logging.getLogger("forecast.serving")

STATUS = {InvalidInput: 422, NotFound: 404, InsufficientHistory: 409, ModelNotReady: 503}


def status_for(exc: ForecastError) -> int:
    for kind, status in STATUS.items():
        if isinstance(exc, kind):
            return status
    return 400


def install(app: FastAPI) -> None:
    @app.exception_handler(ForecastError)
    async def _forecast_error(_: Request, exc: ForecastError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "type": type(exc).__name__},
                            status_code=status_for(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in err["loc"]), "problem": err["msg"],
             "type": err["type"]}
            for err in exc.errors()
        ]
        return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)
