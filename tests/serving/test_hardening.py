"""Answers that give nothing away: an unexpected error is a plain 500 that still carries the
request id and the security headers; the public readiness probe says what failed in words, and
only a key of the viewer (or admin) role sees the details. A body over the size limit is a 413
however it is sent."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi.testclient import TestClient

from forecast import keys, scoring
from forecast.data import store
from serving.app import create_app
from serving.observability import SECURITY_HEADERS
from tests.serving.conftest import auth

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


# --- the public readiness probe -----------------------------------------------------------------

TRACKING = "http://mlflow.internal.example:5000"
SQL = "SELECT api_keys.key_hash FROM api_keys WHERE api_keys.key_hash = ?"
PUBLIC = {"ready", "checks", "problems"}


@pytest.fixture
def failing_load(monkeypatch):  # noqa: ANN001, ANN201 - models fail to load, saying why in full
    def load(settings, engine):  # noqa: ANN001, ANN202 - stands in for the registry
        return scoring.ModelSet(
            problems=[
                f"leads: the model registry cannot be reached ({TRACKING}) and no local copy",
                f"deals: (sqlite3.OperationalError) no such table [SQL: {SQL}]",
            ],
        )

    monkeypatch.setattr(scoring, "load_model_set", load)


@pytest.fixture
def probe(settings, failing_load):  # noqa: ANN001, ANN201 - a client on an app that is not ready
    with TestClient(create_app(settings)) as client:
        yield client


def _leaks(text: str, settings) -> list[str]:  # noqa: ANN001
    secrets = [TRACKING, "mlflow", "SELECT", "sqlite", settings.resolved_database_url]
    return [s for s in secrets if s.lower() in text.lower()]


def test_readiness_without_a_key_says_only_what_failed_in_plain_words(probe, settings):
    response = probe.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert set(body) == PUBLIC
    assert body == {
        "ready": False,
        "checks": {"store": True, "models": False},
        "problems": ["models: no model is loaded"],
    }
    assert _leaks(response.text, settings) == []


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_readiness_with_a_viewer_or_admin_key_shows_the_details(probe, api_keys, settings, role):
    body = probe.get("/readyz", headers=auth(api_keys[role])).json()
    assert body["models"] == {} and body["checks"] == {"store": True, "models": False}
    assert any(TRACKING in p for p in body["problems"])
    bearer = {"Authorization": f"Bearer {api_keys[role]}"}
    assert probe.get("/readyz", headers=bearer).json() == body


@pytest.mark.parametrize("key", ["scorer", "fk_not-a-key", "revoked"])
def test_readiness_with_another_key_is_the_public_answer_not_a_401(probe, api_keys, settings, key):
    if key == "revoked":
        with store.get_engine(settings).begin() as conn:
            made, plain = keys.create_key(conn, "admin", "soon revoked")
            keys.revoke_key(conn, made.id)
        key = plain
    response = probe.get("/readyz", headers=auth(api_keys.get(key, key)))
    assert response.status_code == 503 and set(response.json()) == PUBLIC
    assert _leaks(response.text, settings) == []


def test_an_unreachable_store_is_said_in_words_and_its_error_only_with_a_key(
    probe, api_keys, settings, monkeypatch
):
    def broken(engine):  # noqa: ANN001, ANN202
        raise RuntimeError(f"could not connect to {settings.resolved_database_url} running {SQL}")

    monkeypatch.setattr(store, "is_reachable", broken)
    public = probe.get("/readyz")
    assert public.status_code == 503
    assert public.json()["checks"] == {"store": False, "models": False}
    assert "store: the database cannot be reached" in public.json()["problems"]
    assert _leaks(public.text, settings) == []
    detailed = probe.get("/readyz", headers=auth(api_keys["viewer"])).json()
    assert any(SQL in p for p in detailed["problems"])


def test_the_spec_documents_readiness_and_keeps_it_public(probe):
    spec = probe.get("/openapi.json").json()
    operation = spec["paths"]["/readyz"]["get"]
    assert "security" not in operation
    for status in ("200", "503"):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Readiness"}
    fields = spec["components"]["schemas"]["Readiness"]["properties"]
    assert set(fields) == PUBLIC | {"models", "note", "warming"}


# --- the body-size limit, for a body sent without a declared length -----------------------------


def _chunked(app, method: str, url: str, chunks: list[bytes], headers: dict[str, str]):  # noqa: ANN001, ANN202
    """One request whose body is a stream (`Transfer-Encoding: chunked`, no `Content-Length`),
    sent to the app as a server would hand it over: in pieces."""

    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, url, content=body(), headers=headers)

    return asyncio.run(send())


@pytest.fixture
def plain_app(settings):  # noqa: ANN001, ANN201 - the app (limit 10,000 bytes), not started
    return create_app(settings)


@pytest.mark.parametrize(
    ("url", "content_type"),
    [
        ("/v1/keys", "application/json"),
        ("/v1/leads/score", "application/json"),
        ("/login", "application/x-www-form-urlencoded"),
    ],
)
def test_a_chunked_body_over_the_limit_is_413_not_400(plain_app, api_keys, url, content_type):
    headers = {**auth(api_keys["admin"]), "Content-Type": content_type, "X-Request-ID": "big"}
    response = _chunked(plain_app, "POST", url, [b"x" * 1000] * 11, headers)
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert "10,000 bytes" in response.json()["detail"]
    assert response.headers["x-request-id"] == "big"


def test_a_chunked_body_within_the_limit_is_read_whole(plain_app, api_keys):
    body = b'{"role": "scorer", "name": "chunked CRM"}'
    headers = {**auth(api_keys["admin"]), "Content-Type": "application/json"}
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    response = _chunked(plain_app, "POST", "/v1/keys", pieces, headers)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "chunked CRM"


def test_a_chunked_body_of_exactly_the_limit_is_not_refused(plain_app, api_keys):
    headers = {**auth(api_keys["admin"]), "Content-Type": "application/json"}
    response = _chunked(plain_app, "POST", "/v1/keys", [b" " * 5_000, b" " * 5_000], headers)
    assert response.status_code == 422  # all of it read: blank is not JSON, and not too large


# --- a forged form token in any script ------------------------------------------------------------


@pytest.mark.parametrize("token", ["Équipe", "東京", "\u202e"])
def test_a_sign_in_form_token_outside_ascii_is_refused_not_a_500(settings, api_keys, token):
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.get("/login")  # the form's cookie
        response = client.post(
            "/login",
            data={"api_key": api_keys["viewer"], "csrf_token": token},
            follow_redirects=False,
        )
    assert response.status_code == 403


def test_a_sign_out_form_token_outside_ascii_is_refused_not_a_500(settings, api_keys):
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        form = client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        signed_in = client.post(
            "/login",
            data={"api_key": api_keys["viewer"], "csrf_token": token},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        response = client.post("/logout", data={"csrf_token": "Équipe"}, follow_redirects=False)
    assert response.status_code == 403


def test_each_request_without_an_id_gets_its_own_and_a_sent_one_is_echoed(client):
    ids = [client.get("/healthz").headers["x-request-id"] for _ in range(50)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in ids)
    assert len(set(ids)) == len(ids)
    assert client.get("/healthz", headers={"X-Request-ID": "crm-7"}).headers["x-request-id"] == (
        "crm-7"
    )
