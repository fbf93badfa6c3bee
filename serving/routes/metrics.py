"""Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from serving.observability import monitoring_cache

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests, latency per route, scores, model monitoring",
    description="Model monitoring (realised AUC per kind, PSI per input) is recomputed in the "
    "background at most every few minutes; a scrape never waits for it.",
    response_class=Response,
)
def metrics(request: Request) -> Response:
    reports = monitoring_cache(request.app).peek()
    if reports is not None:
        request.app.state.metrics.show_monitoring(reports)
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
