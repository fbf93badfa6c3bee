"""The one place library errors become HTTP responses: a clear message, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from forecast.errors import (
    Busy,
    ForecastError,
    InsufficientHistory,
    InvalidInput,
    ModelNotReady,
    NotFound,
)

log = logging.getLogger("forecast.serving")

STATUS = {
    InvalidInput: 422,
    NotFound: 404,
    InsufficientHistory: 409,
    ModelNotReady: 503,
    Busy: 503,
}


def status_for(exc: ForecastError) -> int:
    for kind, status in STATUS.items():
        if isinstance(exc, kind):
            return status
    return 400


def install(app: FastAPI) -> None:
    @app.exception_handler(ForecastError)
    async def _forecast_error(request: Request, exc: ForecastError) -> JSONResponse:
        headers = None
        if isinstance(exc, Busy):
            wait = exc.retry_after or request.app.state.settings.retry_after_seconds
            headers = {"Retry-After": str(wait)}
        return JSONResponse(
            {"detail": str(exc), "type": type(exc).__name__},
            status_code=status_for(exc),
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in err["loc"]),
                "problem": err["msg"],
                "type": err["type"],
            }
            for err in exc.errors()
        ]
        return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A backstop: `RequestMiddleware` answers a route's unexpected error itself (with the
        # request id and the security headers); this sees only what escapes the middleware.
        log_unexpected(request.method, request.url.path)
        return JSONResponse(INTERNAL_ERROR, status_code=500)


#: The body of every 500: it names nothing of the failure (that is in the log, under the
#: response's `X-Request-ID`).
INTERNAL_ERROR = {"detail": "internal error; it has been logged", "type": "InternalError"}


def log_unexpected(method: str, path: str) -> None:
    """Log the exception being handled, traceback included; called inside an `except`."""
    log.exception("unexpected error on %s %s", method, path)


class FieldProblem(BaseModel):
    field: str = "body.amount"
    problem: str
    type: str


class ErrorResponse(BaseModel):
    """Every error answer: a message a person can act on; `errors` lists each bad field."""

    detail: str
    type: str | None = None
    errors: list[FieldProblem] | None = None


ERROR_DESCRIPTIONS = {
    401: "Missing or unknown API key",
    403: "The key's role may not do this",
    404: "Not found; the message says what",
    409: "Too little history for this; the message says how much is missing",
    413: "Request body too large",
    422: "Invalid input; the message (and `errors`) name each field and what was expected",
    500: "Unexpected error; it is logged under the response's X-Request-ID",
    503: "Not ready (no model yet, the store unreachable) or busy: retry after `Retry-After` "
    "seconds",
}


AUTH_STATUSES = (401, 403)


def document(app: FastAPI) -> None:
    """Declare the one error body in the OpenAPI spec, for every operation and error status
    (401 and 403 only where the operation asks for a key: the public ones never answer them).

    FastAPI documents its own 422 body (`HTTPValidationError`), which is not what the handlers
    above send; the spec is post-processed once, when first asked for.
    """
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        spec = build()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        defs = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(defs.pop("$defs", {}))
        schemas["ErrorResponse"] = defs
        body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
        for path in spec.get("paths", {}).values():
            for operation in path.values():
                responses = operation.get("responses", {})
                for code, description in ERROR_DESCRIPTIONS.items():
                    if code in AUTH_STATUSES and not operation.get("security"):
                        continue
                    entry = responses.setdefault(str(code), {"description": description})
                    schema = entry.get("content", {}).get("application/json", {}).get("schema")
                    if schema is None or schema.get("$ref", "").endswith("HTTPValidationError"):
                        entry["content"] = body
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
