"""FastAPI's native OpenTelemetry: off by default (the service has its own Prometheus metrics and
request-id logs, and a request then skips FastAPI's look for providers), on with
`FORECAST_OTEL_TELEMETRY` for a deployment that configures OpenTelemetry."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from forecast.settings import Settings
from serving.app import create_app

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace", reason="opentelemetry-sdk absent")
memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
export = pytest.importorskip("opentelemetry.sdk.trace.export")


@pytest.fixture
def spans(monkeypatch):
    """A configured tracer provider, as `opentelemetry-instrument` would set one, recording
    the spans it is given."""
    from opentelemetry import trace

    exporter = memory.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    return exporter


def _get_health(tmp_path, **extra: object) -> None:
    settings = Settings(state_dir=tmp_path / "state", warm_up_on_start=False, **extra)
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200


def test_requests_make_no_spans_unless_opentelemetry_is_asked_for(tmp_path, spans) -> None:
    _get_health(tmp_path)
    assert spans.get_finished_spans() == ()


def test_with_opentelemetry_asked_for_each_request_is_a_span(tmp_path, spans) -> None:
    _get_health(tmp_path, otel_telemetry=True)
    names = [span.name for span in spans.get_finished_spans()]
    assert any("/healthz" in name for name in names), names
