"""The one place library errors become HTTP responses: a clear message, never a traceback.

The API answers programs in JSON; the dashboard answers people, so a dashboard page that finds
the server busy answers a page of its own (`busy.html`: same 503 and Retry-After, a link to
retry, and a refresh when the wait is over) instead of JSON a browser would show as text, and
one asking for a dataset its key is not bound to answers `other_dataset.html` (403); any other
error a dashboard route raises answers `problem.html` with its status."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from forecast.errors import (
    Busy,
    ForecastError,
    InsufficientHistory,
    InvalidInput,
    ModelNotReady,
    NotFound,
    OtherDataset,
)
from serving import json_depth
from serving.batch_problems import is_batch_push, with_data_problems

log = logging.getLogger("forecast.serving")

STATUS = {
    InvalidInput: 422,
    NotFound: 404,  # UnknownGroup too: an unknown team is 404 from every route and page
    OtherDataset: 403,
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
    async def _forecast_error(request: Request, exc: ForecastError) -> Response:
        headers = None
        if status_for(exc) == 503:  # not ready or busy: either passes, so say when to retry
            wait = (
                getattr(exc, "retry_after", None) or request.app.state.settings.retry_after_seconds
            )
            headers = {"Retry-After": str(wait)}
            if isinstance(exc, Busy) and for_people(request):
                return busy_page(request, exc, wait)
        if isinstance(exc, OtherDataset) and for_people(request):
            return other_dataset_page(request, exc)
        if for_people(request):
            return problem_page(request, exc)
        return JSONResponse(
            {"detail": str(exc), "type": type(exc).__name__},
            status_code=status_for(exc),
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [json_syntax(err, exc.body) for err in exc.errors()]
        if is_batch_push(request):  # with the data problems of the deals the schema passed
            errors = await with_data_problems(request, errors, exc.body)
        return invalid_request(request, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and json_depth.too_deep(exc):
            return invalid_request(request, await json_depth.depth_errors(request))
        if exc.status_code == 400 and (said := unread_body(request, exc.__cause__)) is not None:
            return JSONResponse({"detail": said}, status_code=400)
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


#: The first bytes of a gzip stream.
GZIP_MAGIC = b"\x1f\x8b"


def unread_body(request: Request, cause: BaseException | None) -> str | None:
    """What was wrong with a body FastAPI could not parse (its 400 names nothing, and keeps the
    parser's error as the cause): compressed, not UTF-8, or holding a number Python refuses to
    read (an integer past 4,300 digits); None for anything else."""
    encoding = request.headers.get("content-encoding", "identity").strip().casefold()
    compressed = encoding not in ("", "identity") or (
        isinstance(cause, UnicodeDecodeError) and bytes(cause.object[:2]) == GZIP_MAGIC
    )
    if compressed and cause is not None:
        sent = f" (Content-Encoding: {encoding})" if encoding not in ("", "identity") else ""
        return (
            f"the body is compressed{sent}: compressed bodies are not accepted; send the JSON "
            "uncompressed, as UTF-8 text, without a Content-Encoding header"
        )
    if isinstance(cause, UnicodeDecodeError):
        byte = bytes(cause.object[cause.start : cause.start + 1]).hex().upper()
        return (
            f"the body is not UTF-8 JSON: byte 0x{byte} at position {cause.start} is not "
            f"{cause.encoding} text; encode the JSON as UTF-8 (text saved as Latin-1 or "
            "Windows-1252 is not)"
        )
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return (
            "a number in the body is too long: an integer of more than "
            f"{sys.get_int_max_str_digits():,} digits, which no field takes (a number is at "
            "most 1e15, an id at most 200 characters)"
        )
    return None


def json_syntax(err: Mapping[str, Any], doc: object) -> Mapping[str, Any]:
    """A body JSON cannot parse is the body's error, saying what the parser found and at which
    line and column (FastAPI's says 'JSON decode error' at `body.<character>`, no reason)."""
    if err.get("type") != "json_invalid" or len(err["loc"]) != 2:
        return err
    pos = err["loc"][1]
    text = doc if isinstance(doc, str) else ""
    line = text.count("\n", 0, pos) + 1
    column = pos - text.rfind("\n", 0, pos)
    reason = err.get("ctx", {}).get("error", "cannot be read")
    msg = (
        f"the body is not valid JSON: {reason} at line {line}, column {column}; send one JSON "
        "object, its names and text in double quotes, with no comma after its last member"
    )
    return {**err, "loc": ("body",), "msg": msg}


def invalid_request(request: Request, errors: Sequence[Mapping[str, Any]]) -> JSONResponse:
    """The 422 of a request whose fields do not validate: each error names its field (its path,
    from `body`, `query` or `path`), what was wrong, and pydantic's type of the problem."""
    sent = request.headers.get("content-type", "")
    listed = [
        {
            "field": ".".join(str(p) for p in err["loc"]),
            "problem": _not_json(sent) if _whole_body(err, sent) else err["msg"],
            "type": err["type"],
        }
        for err in errors
    ]
    return JSONResponse({"detail": "invalid request", "errors": listed}, status_code=422)


def _whole_body(err: Mapping[str, Any], content_type: str) -> bool:
    """The body as a whole refused where it was not sent as JSON (a webhook's form fields)."""
    return tuple(err["loc"]) == ("body",) and "json" not in content_type.casefold()


def _not_json(content_type: str) -> str:
    sent = f"; this one was sent as {content_type.split(';')[0]!r}" if content_type else ""
    return f"the body must be a JSON object, sent with Content-Type: application/json{sent}"


TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
#: The busy and other-dataset pages' own policy: no script at all, the dashboard's stylesheet.
BUSY_PAGE_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def for_people(request: Request) -> bool:
    """Whether the request went to a dashboard route (a page a browser shows), not the API."""
    route = request.scope.get("route")
    endpoint = getattr(route, "endpoint", None)
    return getattr(endpoint, "__module__", "").startswith("serving.dashboard.")


def busy_page(request: Request, exc: Busy, wait: int) -> Response:
    """The 503 a person sees: what is happening in plain words, a link to try again, and a
    refresh once `Retry-After` has passed."""
    retry = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    context = {"wait": wait, "retry": retry, "detail": str(exc)}
    return _page(request, "busy.html", context, 503, {"Retry-After": str(wait)})


def other_dataset_page(request: Request, exc: OtherDataset) -> Response:
    """The 403 a person sees who asks for a dataset their key is not bound to: a page saying
    so, with a link to the same view of their own dataset; a CSV download's is plain text."""
    if request.url.path.endswith(".csv"):
        return PlainTextResponse(str(exc), status_code=403)
    own = request.url.include_query_params(dataset=exc.bound)
    context = {
        "bound": exc.bound,
        "dataset": exc.dataset,
        "own": f"{own.path}?{own.query}",
        "detail": str(exc),
    }
    return _page(request, "other_dataset.html", context, 403)


def problem_page(request: Request, exc: ForecastError) -> Response:
    """What a person sees of an error a dashboard route raised (a query parameter the page does
    not take): the message, with the error's status, and a link to the page's default view; a
    CSV download's is plain text."""
    status = status_for(exc)
    if request.url.path.endswith(".csv"):
        return PlainTextResponse(str(exc), status_code=status)
    context = {"detail": str(exc), "back": request.url.path}
    return _page(request, "problem.html", context, status)


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int,
    headers: dict[str, str] | None = None,
) -> Response:
    """An error page of the dashboard's, under the pages' own content policy."""
    response = TEMPLATES.TemplateResponse(
        request, template, context, status_code=status, headers=headers
    )
    response.headers["Content-Security-Policy"] = BUSY_PAGE_CSP
    return response


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
    403: "The key's role may not do this, or the key is bound to another dataset",
    404: "Not found (a dataset, or a team or group it has no deals for); the message says what",
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
