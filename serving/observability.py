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
import os
import random
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forecast.model_monitoring import Monitoring, monitor_served
from serving.errors import INTERNAL_ERROR, log_unexpected
from serving.logs import request_id

if TYPE_CHECKING:
    from serving.lead_lane import LeadLane

log = logging.getLogger("forecast.serving.access")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
#: Names the folder the workers of one server share their metrics through.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Labelled series whose handles are kept; past this the memo starts afresh.
MAX_SERIES_KEPT = 10_000
LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


def multiprocess_dir() -> Path | None:
    """The folder worker processes share their metrics through, when the server runs several
    (`PROMETHEUS_MULTIPROC_DIR`, set by `prepare_multiprocess` before the workers start)."""
    folder = os.environ.get(MULTIPROC_ENV)
    return Path(folder) if folder else None


def prepare_multiprocess(state_dir: Path) -> Path:
    """Ready Prometheus's multiprocess mode for a server of several workers: an empty folder
    under the state folder (what an earlier run left would be counted again), named in
    `PROMETHEUS_MULTIPROC_DIR` for the workers to inherit. Call it in the parent, once, before
    the workers start; /metrics in any worker then adds up every worker's counts."""
    folder = state_dir.resolve() / "prometheus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder


class Metrics:
    """The app's Prometheus registry: request counts, latency per route, score distribution.

    With `PROMETHEUS_MULTIPROC_DIR` set (several workers), each worker's values go to files in
    that folder and `exposition` reads them all, so a scrape sees the whole server."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess_dir()
        self.registry = CollectorRegistry()
        self._children: dict[tuple[str, ...], Any] = {}
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
        self.realised_auc = Gauge(
            "forecast_model_realised_auc",
            "AUC of served scores against the outcomes that came after them (all months)",
            ["kind", "dataset"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.realised_n = Gauge(
            "forecast_model_realised_n",
            "Scored subjects with an outcome after the score",
            ["kind", "dataset"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.feature_psi = Gauge(
            "forecast_feature_psi",
            "PSI of a model input: scored lately vs the model's training data",
            ["kind", "dataset", "feature"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )

    def request_done(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count a request and its latency (the labelled series are looked up once each)."""
        key = (route, method, str(status))
        pair = self._children.get(key)
        if pair is None:
            if len(self._children) > MAX_SERIES_KEPT:
                self._children.clear()
            pair = self._children[key] = (
                self.requests.labels(*key),
                self.latency.labels(route, method),
            )
        pair[0].inc()
        pair[1].observe(seconds)

    def score_served(self, kind: str, model: str, probability: float) -> None:
        """Add a served probability to the score distribution."""
        key = ("score", kind, model)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.scores.labels(kind, model)
        child.observe(probability)

    def exposition(self) -> bytes:
        """The text a scrape reads: this process's registry, or every worker's files."""
        if self.multiprocess is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(self.multiprocess))
        return generate_latest(registry)

    def show_monitoring(self, reports: list[Monitoring]) -> None:
        """Set the monitoring gauges to the latest reports (series no longer measured go; with
        several workers, where Prometheus cannot remove a series, they stay at their last)."""
        if self.multiprocess is None:
            self.realised_auc.clear()
            self.realised_n.clear()
            self.feature_psi.clear()
        for report in reports:  # one per served model: its kind and dataset tell them apart
            labels = (report.kind, report.dataset or "")
            if report.overall is not None:
                self.realised_n.labels(*labels).set(report.overall.n)
                if report.overall.auc is not None:
                    self.realised_auc.labels(*labels).set(report.overall.auc)
            for drift in report.drift.features if report.drift is not None else []:
                self.feature_psi.labels(*labels, drift.feature).set(drift.psi)


class MonitoringCache:
    """Model monitoring computed at most every `ttl_seconds`: it reads the score log and builds
    the training rows, far too slow for every scrape of /metrics.

    `get` computes when nothing is cached (or it is stale); `peek` never waits: it returns what
    is cached and, when stale, refreshes in a background thread, so /metrics stays cheap.
    """

    def __init__(self, compute: Callable[[], list[Monitoring]], ttl_seconds: float = 300) -> None:
        self.compute = compute
        self.ttl = ttl_seconds
        self._lock = threading.Lock()
        self._value: list[Monitoring] | None = None
        self._at = 0.0
        self._refreshing = False
        self.models: Any = None  # the model set the figures are about

    def _fresh(self) -> bool:
        return self._value is not None and time.monotonic() - self._at < self.ttl

    def get(self) -> list[Monitoring]:
        with self._lock:
            if self._fresh():
                return self._value or []
            value = self.compute()
            self._value, self._at = value, time.monotonic()
            return value

    def peek(self) -> list[Monitoring] | None:
        if not self._fresh() and not self._refreshing:
            self._refreshing = True
            threading.Thread(target=self._refresh, name="monitoring", daemon=True).start()
        return self._value

    def _refresh(self) -> None:
        try:
            self.get()
        except Exception:  # noqa: BLE001 - a failed refresh keeps the last figures
            log.exception("model monitoring: could not refresh")
        finally:
            self._refreshing = False


class _BodyTooLarge(Exception):
    pass


class RequestMiddleware:
    """See the module docstring. `lane`, if given, answers the plain requests of the hottest
    route itself (`serving.lead_lane`), with this middleware's headers, metrics and log line."""

    def __init__(
        self, app: ASGIApp, metrics: Metrics, max_body_bytes: int, lane: LeadLane | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body_bytes
        self.lane = lane

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or _fresh_request_id()
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
            lane = self.lane if self.lane is not None and self.lane.takes(scope) else None
            declared = b"content-length" in headers
            if declared and _declared_length(headers[b"content-length"]) > self.max_body:
                raise _BodyTooLarge
            if lane is not None or not declared:
                first, receive = await _read_body(receive, self.max_body)
                if lane is not None and first["type"] == "http.request":
                    answer = lane.answer(scope, first["body"])
                    if answer is not None:  # sent as the route's response would be
                        status = 200
                        started_response = True
                        length = (b"content-length", str(len(answer)).encode("latin-1"))
                        start = [length, *lane.HEADERS, *extra]
                        await send({"type": "http.response.start", "status": 200, "headers": start})
                        await send({"type": "http.response.body", "body": answer})
                        return
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
            self.metrics.request_done(route, method, status, elapsed)
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


def _fresh_request_id() -> str:
    """32 random hex digits, as `uuid.uuid4().hex` gives, from the `random` module: an id to
    find a request's log lines by needs no secrecy, and `uuid4` reads the OS's random source
    (a system call) on every request. `random` is reseeded in a forked worker."""
    return f"{random.getrandbits(128):032x}"


def _declared_length(value: bytes) -> int:
    """The declared body size (the server has checked it is a number; 0 if it is not)."""
    try:
        return int(value)
    except ValueError:
        return 0


async def _read_body(receive: Receive, limit: int) -> tuple[Message, Receive]:
    """A body read whole (raising `_BodyTooLarge` past `limit` bytes) as one message (or the
    disconnect that came first), and a `receive` that gives that message to the app, then
    waits on the server's own."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client left: the app sees that
            first = message
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            break
    pending: Message | None = first

    async def replay() -> Message:
        nonlocal pending
        if pending is not None:
            message, pending = pending, None
            return message
        return await receive()

    return first, replay


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


#: How often model monitoring is recomputed at most (seconds).
MONITORING_TTL_SECONDS = 300.0


def monitoring_cache(app: Any) -> MonitoringCache:
    """The app's monitoring cache for the model set it serves now, made on first use and made
    afresh when a reload swaps in other models (their figures are not the old ones')."""
    models = app.state.models
    cache = getattr(app.state, "monitoring", None)
    if cache is None or cache.models is not models:
        engine, every = app.state.engine, app.state.settings.snapshot_every_days
        cache = MonitoringCache(
            lambda: monitor_served(engine, models, every_days=every), MONITORING_TTL_SECONDS
        )
        cache.models = models
        app.state.monitoring = cache
    return cache
