"""Per-request plumbing as one ASGI middleware: request id, body-size limit, security headers,
Prometheus metrics and one JSON log line per request.

The body-size limit is checked before the app runs: a declared `Content-Length` is compared with
it, and a body sent without one (`Transfer-Encoding: chunked`) is read here, up to the limit, and
handed to the app in one piece. Checking it while the app reads would not do: FastAPI turns any
error raised by `receive` into a 400 "error parsing the body".

Plain ASGI rather than `BaseHTTPMiddleware`, which would add a task and a copy per request on a
route that must answer in well under a millisecond.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import INTERNAL_ERROR, log_unexpected
from serving.logs import request_id

log = logging.getLogger("forecast.serving.access")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class Metrics:
    """The app's Prometheus registry: request counts, latency per route, score distribution."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "forecast_requests_total",
            "HTTP requests",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "forecast_request_seconds",
            "Request latency",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.scores = Histogram(
            "forecast_score_probability",
            "Probabilities served",
            ["kind", "model"],
            buckets=[i / 10 for i in range(1, 11)],
            registry=self.registry,
        )


class _BodyTooLarge(Exception):
    pass


class RequestMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        extra = [(b"x-request-id", rid.encode("latin-1")), *SECURITY_HEADERS]

        started_response = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                # A route's own header (e.g. a cacheable asset's cache-control) wins.
                message["headers"] = headers + [h for h in extra if h[0] not in present]
            await send(message)

        try:
            if b"content-length" in headers:
                if _declared_length(headers[b"content-length"]) > self.max_body:
                    raise _BodyTooLarge
            else:
                receive = await _read_body(receive, self.max_body)
            await self.app(scope, receive, send_wrapper)
        except _BodyTooLarge:
            await _json(
                send_wrapper,
                413,
                {"detail": f"request body too large: the limit is {self.max_body:,} bytes"},
            )
        except Exception:
            # Answered here, not by Starlette's outermost error middleware, so that a 500 too
            # carries the request id and the security headers (and is logged with the id).
            # Not re-raised: it is logged once, here, and the server has nothing left to do.
            log_unexpected(scope["method"], scope["path"])
            if started_response:
                raise  # part of an answer has gone out: only the server can end it
            await _json(send_wrapper, 500, INTERNAL_ERROR)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "request",
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "ms": round(elapsed * 1000, 3),
                    },
                )
            request_id.reset(token)


def _declared_length(value: bytes) -> int:
    """The declared body size (the server has checked it is a number; 0 if it is not)."""
    try:
        return int(value)
    except ValueError:
        return 0


async def _read_body(receive: Receive, limit: int) -> Receive:
    """A body of no declared size, read whole (raising `_BodyTooLarge` past `limit` bytes), and a
    `receive` that gives it to the app in one message, then waits on the server's own."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client left: the app sees that
            first: Message | None = message
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            break

    async def replay() -> Message:
        nonlocal first
        if first is not None:
            message, first = first, None
            return message
        return await receive()

    return replay


async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
