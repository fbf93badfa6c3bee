"""Who may do what: keys, roles, and answers to bad requests that never leak a traceback; the
keys as the OpenAPI spec declares them; models loaded, and the score log closed, with the app."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from forecast import scoring
from forecast.data import store
from forecast.monitoring import ScoreRecorder
from serving.app import create_app
from tests.serving.conftest import auth


def test_a_missing_key_is_401(client):
    response = client.get("/v1/keys")
    assert response.status_code == 401
    assert "missing API key" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_an_unknown_key_is_401(client, api_keys):
    assert client.get("/v1/keys", headers=auth("fk_not-a-key")).status_code == 401


def test_the_wrong_role_is_403(client, api_keys):
    response = client.get("/v1/keys", headers=auth(api_keys["viewer"]))
    assert response.status_code == 403
    assert "viewer" in response.json()["detail"]


def test_a_bearer_token_works_like_the_header(client, api_keys):
    response = client.get("/v1/keys", headers={"Authorization": f"Bearer {api_keys['admin']}"})
    assert response.status_code == 200
    assert {k["role"] for k in response.json()} == {"scorer", "viewer", "admin"}


def test_keys_are_stored_hashed_and_shown_once(client, api_keys, settings):
    created = client.post(
        "/v1/keys", json={"role": "scorer", "name": "HubSpot"}, headers=auth(api_keys["admin"])
    )
    assert created.status_code == 201
    plain = created.json()["key"]
    with store.get_engine(settings).connect() as conn:
        stored = [tuple(r) for r in conn.execute(store.api_keys.select())]
    assert not any(plain in str(value) for row in stored for value in row)
    listed = client.get("/v1/keys", headers=auth(api_keys["admin"])).json()
    assert "key" not in listed[-1] and listed[-1]["name"] == "HubSpot"


def test_a_revoked_key_stops_working(client, api_keys):
    created = client.post(
        "/v1/keys", json={"role": "admin", "name": "temp"}, headers=auth(api_keys["admin"])
    ).json()
    assert client.get("/v1/keys", headers=auth(created["key"])).status_code == 200
    revoked = client.delete(f"/v1/keys/{created['id']}", headers=auth(api_keys["admin"]))
    assert revoked.status_code == 200
    assert client.get("/v1/keys", headers=auth(created["key"])).status_code == 401


def test_revoking_a_key_twice_is_idempotent_and_keeps_the_first_time(client, api_keys):
    """A DELETE retried (its first answer lost) or sent by two admins at once succeeds: the
    key as stored, revoked at the first revocation's time, not a 422 for a well-formed call."""
    admin = auth(api_keys["admin"])
    created = client.post("/v1/keys", json={"role": "scorer", "name": "temp"}, headers=admin)
    key_id = created.json()["id"]
    revoked = client.delete(f"/v1/keys/{key_id}", headers=admin)
    assert revoked.status_code == 200
    first = next(k for k in client.get("/v1/keys", headers=admin).json() if k["id"] == key_id)
    again = client.delete(f"/v1/keys/{key_id}", headers=admin)
    assert again.status_code == 200, again.text
    assert again.json() == revoked.json()  # the same key, revoked at the same time
    later = next(k for k in client.get("/v1/keys", headers=admin).json() if k["id"] == key_id)
    assert later["revoked_at"] == first["revoked_at"] == again.json()["revoked_at"]
    assert client.get("/v1/keys", headers=auth(created.json()["key"])).status_code == 401


def test_a_keys_creation_and_revocation_times_are_given_in_iso_8601(client, api_keys):
    admin = auth(api_keys["admin"])
    before = datetime.now(UTC)
    made = client.post("/v1/keys", json={"role": "viewer", "name": "times"}, headers=admin).json()
    after = datetime.now(UTC)
    created = datetime.fromisoformat(made["created_at"])
    assert created.utcoffset() == timedelta(0)  # in UTC, saying so
    assert before - timedelta(seconds=1) <= created <= after + timedelta(seconds=1)
    assert made["revoked_at"] is None  # it works

    def listed() -> dict:
        return next(
            k for k in client.get("/v1/keys", headers=admin).json() if k["id"] == made["id"]
        )

    assert (listed()["created_at"], listed()["revoked_at"]) == (made["created_at"], None)
    revoked = client.delete(f"/v1/keys/{made['id']}", headers=admin).json()
    done = datetime.now(UTC)
    assert revoked["created_at"] == made["created_at"]
    assert created <= datetime.fromisoformat(revoked["revoked_at"]) <= done + timedelta(seconds=1)
    assert (listed()["created_at"], listed()["revoked_at"]) == (
        made["created_at"],
        revoked["revoked_at"],
    )


def test_a_wrongly_typed_field_is_422_with_its_path(client, api_keys):
    response = client.post(
        "/v1/keys", json={"role": "boss", "name": 5}, headers=auth(api_keys["admin"])
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"body.role", "body.name"}
    assert "Traceback" not in response.text


def test_malformed_json_is_422_not_500(client, api_keys):
    response = client.post(
        "/v1/keys",
        content=b"{not json",
        headers={**auth(api_keys["admin"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 422


def test_a_body_over_the_limit_is_413(client, api_keys):
    response = client.post(
        "/v1/keys",
        content=b"x" * 20_000,
        headers={**auth(api_keys["admin"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert "10,000 bytes" in response.json()["detail"]


def test_responses_carry_a_request_id_and_security_headers(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert response.headers["x-request-id"] == "abc123"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


def test_metrics_count_requests_per_route(client):
    client.get("/healthz")
    body = client.get("/metrics").text
    assert 'forecast_requests_total{method="GET",route="/healthz",status="200"}' in body
    assert "forecast_request_seconds_bucket" in body


def test_an_empty_store_is_not_ready_and_says_why(client, api_keys):
    response = client.get("/readyz", headers=auth(api_keys["viewer"]))
    body = response.json()
    assert response.status_code == 503
    assert body["checks"] == {"store": True, "models": False}
    assert any("import" in p for p in body["problems"])


def test_an_api_key_header_wins_over_a_bearer_token(client, api_keys):
    headers = {**auth(api_keys["admin"]), "Authorization": "Bearer fk_not-a-key"}
    assert client.get("/v1/keys", headers=headers).status_code == 200


def test_the_bearer_scheme_is_read_in_any_case_and_no_other_scheme_carries_a_key(client, api_keys):
    key = api_keys["admin"]
    assert client.get("/v1/keys", headers={"Authorization": f"bearer {key}"}).status_code == 200
    response = client.get("/v1/keys", headers={"Authorization": f"Basic {key}"})
    assert response.status_code == 401 and "missing API key" in response.json()["detail"]


# --- the keys in the OpenAPI spec ---------------------------------------------------------------

EITHER_KEY = [{"APIKeyHeader": []}, {"BearerToken": []}]


def test_the_spec_declares_both_ways_of_sending_a_key(client):
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert set(schemes) == {"APIKeyHeader", "BearerToken"}
    assert schemes["APIKeyHeader"] | {"description": ""} == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "",
    }
    assert schemes["BearerToken"] | {"description": ""} == {
        "type": "http",
        "scheme": "bearer",
        "description": "",
    }


def test_the_spec_asks_for_a_key_exactly_where_the_api_refuses_a_request_without_one(client):
    spec = client.get("/openapi.json").json()
    public = set()
    for path, operations in spec["paths"].items():
        url = re.sub(r"\{[^}]+\}", "1", path)
        for method, operation in operations.items():
            status = client.request(method, url).status_code
            if "security" in operation:
                assert operation["security"] == EITHER_KEY, (method, path)
                assert status == 401, (method, path)
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
            else:
                public.add(path)
                assert status != 401, (method, path)
                assert not {"401", "403"} & set(operation["responses"]), (method, path)
    assert public == {"/healthz", "/readyz", "/metrics"}


def test_the_docs_page_offers_swagger_ui_on_that_spec(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert "/openapi.json" in page.text


# --- models load with the app -------------------------------------------------------------------


@pytest.fixture
def loads(monkeypatch) -> list[scoring.ModelSet]:
    """Every model set `load_model_set` returned (each a recognisable empty set)."""
    made: list[scoring.ModelSet] = []

    def load(settings, engine):  # noqa: ANN001, ANN202 - stands in for the registry
        made.append(scoring.ModelSet(problems=[f"load number {len(made) + 1}"]))
        return made[-1]

    monkeypatch.setattr(scoring, "load_model_set", load)
    return made


def test_models_load_once_when_the_app_starts_before_any_request(settings, api_keys, loads):
    app = create_app(settings)
    assert loads == []  # not when the app is made
    with TestClient(app) as client:
        assert len(loads) == 1
        assert app.state.models.problems == ["load number 1"]  # before any request
        viewer = auth(api_keys["viewer"])
        assert client.get("/readyz", headers=viewer).json()["problems"] == ["load number 1"]
        client.get("/healthz")
        assert len(loads) == 1


def test_an_admin_reload_loads_a_fresh_set_and_swaps_it_in(settings, api_keys, loads):
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/admin/reload", headers=auth(api_keys["admin"]))
        assert response.status_code == 200 and response.json()["problems"] == ["load number 2"]
        viewer = auth(api_keys["viewer"])
        assert client.get("/readyz", headers=viewer).json()["problems"] == ["load number 2"]
    assert len(loads) == 2


def test_a_model_put_on_the_app_before_it_starts_is_served_in_place_of_the_loaded_one(
    settings, monkeypatch
):
    loaded_deal = scoring.Served(scoring.DEAL, object(), "3", "registry")
    monkeypatch.setattr(
        scoring,
        "load_model_set",
        lambda settings, engine: scoring.ModelSet.of(deal=loaded_deal),
    )
    app = create_app(settings)
    pinned = scoring.Served(scoring.LEAD, object(), "7", "registry")
    app.state.models.lead = pinned
    with TestClient(app):
        assert app.state.models.lead is pinned and app.state.models.deal is loaded_deal


def test_scores_queued_while_serving_are_written_when_the_app_shuts_down(settings, loads):
    app = create_app(settings)
    engine = store.get_engine(settings)
    app.state.recorder = ScoreRecorder(engine, flush_seconds=3600)  # only shutdown writes
    with TestClient(app):
        app.state.recorder.record(
            request_id="r1",
            kind="lead",
            model="m",
            model_version="1",
            inputs_fingerprint="f",
            probability=0.5,
            score=50,
        )
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(store.score_log)).scalar() == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.score_log)).scalar() == 1
