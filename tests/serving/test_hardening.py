"""Answers that give nothing away: an unexpected error is a plain 500 that still carries the
request id and the security headers; the public readiness probe says what failed in words, and
only a key of the viewer (or admin) role sees the details."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.observability import SECURITY_HEADERS

# --- an unexpected error --------------------------------------------------------------------------

BOOM = "boom: secret detail from deep inside"


def _boom() -> None:
    raise RuntimeError(BOOM)


@pytest.fixture
def boom_client(settings):  # noqa: ANN001, ANN201 - a TestClient on an app with a failing route
    app = create_app(settings)
    app.add_api_route("/boom", _boom, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_a_500_carries_the_request_id_and_the_security_headers(boom_client):
    response = boom_client.get("/boom", headers={"X-Request-ID": "trace-500"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "trace-500"
    for name, value in SECURITY_HEADERS:
        assert response.headers[name.decode()] == value.decode()


def test_a_500_without_a_request_id_gets_a_fresh_one(boom_client):
    response = boom_client.get("/boom")
    assert response.status_code == 500 and len(response.headers["x-request-id"]) == 32


def test_a_500_body_is_the_error_body_without_a_traceback(boom_client):
    response = boom_client.get("/boom")
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) <= {"detail", "type", "errors"} and body["detail"]
    assert BOOM not in response.text and "Traceback" not in response.text
    assert "500" in boom_client.get("/openapi.json").json()["paths"]["/healthz"]["get"]["responses"]


def test_a_500_is_logged_once_with_its_request_id_and_counted(boom_client, caplog):
    logger = logging.getLogger("forecast")
    logger.addHandler(caplog.handler)
    try:
        boom_client.get("/boom", headers={"X-Request-ID": "trace-log"})
    finally:
        logger.removeHandler(caplog.handler)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert errors[0].request_id == "trace-log"
    assert "/boom" in errors[0].getMessage()
    metrics = boom_client.get("/metrics").text
    assert 'forecast_requests_total{method="GET",route="/boom",status="500"} 1.0' in metrics
