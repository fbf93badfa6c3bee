"""Dashboard sessions: signing out ends the session on the server, for every worker, and only
that session (the same key's other browsers stay signed in)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request

from forecast import keys
from forecast.data import store
from forecast.settings import Settings
from serving.app import create_app
from serving.sessions import SESSION_COOKIE, SESSION_SECONDS


def signed_in(client: TestClient, key: str) -> str:
    """Sign in with `key` as a fresh browser; returns the session cookie's value."""
    client.cookies.clear()
    page = client.get("/login").text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    response = client.post(
        "/login", data={"api_key": key, "csrf_token": found.group(1)}, follow_redirects=False
    )
    assert response.status_code == 303
    return response.cookies[SESSION_COOKIE]


def works(client: TestClient, cookie: str) -> bool:
    """A request carrying only that cookie is signed in (GET /login sends it on, 303)."""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, cookie)
    status = client.get("/login", follow_redirects=False).status_code
    assert status in (200, 303)
    return status == 303


def csrf_for(app: FastAPI, cookie: str) -> str:
    """The session's CSRF token, as the dashboard page would put it in its forms."""
    request = Request(
        {"type": "http", "headers": [(b"cookie", f"{SESSION_COOKIE}={cookie}".encode())]}
    )
    session = app.state.sessions.read(request)
    assert session is not None
    return session.csrf


def sign_out(client: TestClient, cookie: str) -> None:
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, cookie)
    token = csrf_for(client.app, cookie)  # type: ignore[arg-type]
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"


@pytest.fixture
def viewer_key(settings: Settings) -> str:
    with store.get_engine(settings).begin() as conn:
        return keys.create_key(conn, "viewer", "test viewer")[1]


@pytest.fixture
def workers(settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps on one store and one secret: two workers of one deployment."""
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        yield one, two


def test_a_cookie_kept_after_sign_out_no_longer_works(client, viewer_key):
    cookie = signed_in(client, viewer_key)
    assert works(client, cookie)
    sign_out(client, cookie)
    assert not works(client, cookie)


def test_a_sign_out_on_one_worker_ends_the_session_on_the_others(workers, viewer_key):
    one, two = workers
    cookie = signed_in(one, viewer_key)
    assert works(two, cookie)
    sign_out(one, cookie)
    assert not works(two, cookie)
    assert not works(one, cookie)


def test_signing_out_one_browser_keeps_the_same_keys_other_browsers_signed_in(client, viewer_key):
    first, second = signed_in(client, viewer_key), signed_in(client, viewer_key)
    sign_out(client, first)
    assert not works(client, first)
    assert works(client, second)


def test_sign_out_records_only_live_sessions_and_drops_them_once_expired(
    client, settings, viewer_key
):
    engine = store.get_engine(settings)
    old = store.utcnow()
    with engine.begin() as conn:
        keys.revoke_session(conn, "long-expired", old.replace(year=old.year - 1))
    cookie = signed_in(client, viewer_key)
    sign_out(client, cookie)
    with engine.connect() as conn:
        rows = conn.execute(store.metadata.tables["revoked_sessions"].select()).all()
        assert not keys.session_revoked(conn, "long-expired")
    assert len(rows) == 1
    # kept until the cookie would have expired anyway, and no longer
    left = rows[0].expires_at - store.utcnow()
    assert 0 < left.total_seconds() <= SESSION_SECONDS


def test_a_sign_in_token_outside_ascii_is_refused_not_a_500(client) -> None:
    """hmac.compare_digest refuses a non-ASCII str: the form's token is compared as bytes."""
    client.get("/login")
    response = client.post(
        "/login", data={"api_key": "whatever", "csrf_token": "Équipe"}, follow_redirects=False
    )
    assert response.status_code < 500
