"""Who may do what: keys, roles, and answers to bad requests that never leak a traceback."""

from __future__ import annotations

from forecast import store
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
    created = client.post("/v1/keys", json={"role": "scorer", "name": "HubSpot"},
                          headers=auth(api_keys["admin"]))
    assert created.status_code == 201
    plain = created.json()["key"]
    with store.get_engine(settings).connect() as conn:
        stored = [tuple(r) for r in conn.execute(store.api_keys.select())]
    assert not any(plain in str(value) for row in stored for value in row)
    listed = client.get("/v1/keys", headers=auth(api_keys["admin"])).json()
    assert "key" not in listed[-1] and listed[-1]["name"] == "HubSpot"


def test_a_revoked_key_stops_working(client, api_keys):
    created = client.post("/v1/keys", json={"role": "admin", "name": "temp"},
                          headers=auth(api_keys["admin"])).json()
    assert client.get("/v1/keys", headers=auth(created["key"])).status_code == 200
    revoked = client.delete(f"/v1/keys/{created['id']}", headers=auth(api_keys["admin"]))
    assert revoked.status_code == 200
    assert client.get("/v1/keys", headers=auth(created["key"])).status_code == 401


def test_a_wrongly_typed_field_is_422_with_its_path(client, api_keys):
    response = client.post("/v1/keys", json={"role": "boss", "name": 5},
                           headers=auth(api_keys["admin"]))
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"body.role", "body.name"}
    assert "Traceback" not in response.text


def test_malformed_json_is_422_not_500(client, api_keys):
    response = client.post("/v1/keys", content=b"{not json",
                           headers={**auth(api_keys["admin"]), "Content-Type": "application/json"})
    assert response.status_code == 422


def test_a_body_over_the_limit_is_413(client, api_keys):
    response = client.post("/v1/keys", content=b"x" * 20_000,
                           headers={**auth(api_keys["admin"]), "Content-Type": "application/json"})
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


def test_an_empty_store_is_not_ready_and_says_why(client):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["checks"] == {"store": True, "models": False}
    assert any("import" in p for p in body["problems"])
