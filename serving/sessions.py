"""Dashboard sessions: an API key exchanged once for a signed, HttpOnly, SameSite=Strict cookie.

The cookie holds the key's id and role and a CSRF token, signed with itsdangerous (never the key
itself, nor its hash). Every request re-checks that the key has not been revoked since sign-in
(through the app's `KeyVerifier`-style cache, so a revoked key's session stops within seconds);
the same look-up reads the dataset the key is bound to, which the session carries
(`Session.dataset`), so the dashboard keeps a bound key to its dataset as the API does. It is
read from the store, not the cookie: a cookie signed before sessions carried it works the same.
Every POST form carries the session's CSRF token; sign-in, which has no session yet, uses a
signed double-submit token in its own short-lived cookie.

Signing out ends the session on the server too, not only in the browser: each cookie carries a
random session id, and sign-out records that id in the store's `revoked_sessions` table until
the cookie would have expired anyway (8 hours after sign-in). Why this design:

- the store, not memory: every worker (and every restart) must see a sign-out, which a
  per-process set cannot give;
- per session, not per key: a "valid after" time on the key would sign out the key's other
  browsers too;
- a deny-list, not a table of every session: sign-in writes nothing, the table holds only
  sessions signed out early and drops each row when its cookie expires, so it stays small
  (bounded by the sign-outs of one session lifetime); key revocation already covers the rest.

As for keys, the answer is remembered for the key cache's seconds, so another worker honours a
sign-out within seconds; the worker that signed out honours it at once. A cookie without a
session id (signed before ids existed) is refused: its holder signs in once more.

The signing secret is `FORECAST_SESSION_SECRET` when set, else a random one kept in
`<state_dir>/session_secret` (mode 600), so that every worker of one deployment shares it.

`create_app` makes the one `SessionManager` (`app.state.sessions`); routes receive it through
`SessionsDep`.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from threading import Lock
from typing import Annotated

from cachetools import TTLCache
from fastapi import Depends
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Engine, select
from starlette.requests import Request
from starlette.responses import Response

from forecast import keys
from forecast.data import store
from forecast.settings import Settings

SESSION_COOKIE = "forecast_session"
LOGIN_COOKIE = "forecast_login"
SESSION_SECONDS = 8 * 3600
LOGIN_SECONDS = 1800
VIEW_ROLES = ("viewer", "admin")
KEYS_REMEMBERED = 10_000


@dataclass(frozen=True)
class Session:
    key_id: int
    name: str
    role: str
    csrf: str
    id: str = ""  # random, in the signed cookie: what sign-out revokes
    expires_at: datetime | None = None  # naive UTC: when the cookie stops working
    #: The one dataset the key is bound to (None: any), read with the key's status.
    dataset: str | None = None


@dataclass(frozen=True)
class KeyStatus:
    """What a session needs of its key on each request, as the store said it."""

    active: bool
    dataset: str | None = None


def _secret(settings: Settings) -> str:
    given = os.environ.get("FORECAST_SESSION_SECRET")
    if given:
        return given
    path = Path(settings.state_dir).resolve() / "session_secret"
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_urlsafe(48)
    # Created exclusively with mode 600; if another worker won the race, read its secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(fresh)
    return fresh


class SessionManager:
    """Signs and reads session cookies; checks CSRF tokens; remembers key status briefly."""

    def __init__(self, settings: Settings, engine: Engine, ttl_seconds: float = 5.0) -> None:
        secret = _secret(settings)
        self._session = URLSafeTimedSerializer(secret, salt="forecast.session")
        self._login = URLSafeTimedSerializer(secret, salt="forecast.login")
        self.engine = engine
        # Whether a key is still active and its dataset, per key id, for `ttl_seconds` (0:
        # always asked).
        self._keys: TTLCache[int, KeyStatus] = TTLCache(maxsize=KEYS_REMEMBERED, ttl=ttl_seconds)
        # Whether a session was signed out, per session id, likewise.
        self._revoked: TTLCache[str, bool] = TTLCache(maxsize=KEYS_REMEMBERED, ttl=ttl_seconds)
        self._lock = Lock()

    # -- sessions

    def read(self, request: Request) -> Session | None:
        """The request's session, if its cookie is genuine, fresh, not signed out and its key
        still active."""
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data, signed_at = self._session.loads(
                raw, max_age=SESSION_SECONDS, return_timestamp=True
            )
            signed = signed_at.astimezone(UTC).replace(tzinfo=None)
            session = Session(
                int(data["k"]),
                str(data["n"]),
                str(data["r"]),
                str(data["c"]),
                str(data["s"]),
                signed + timedelta(seconds=SESSION_SECONDS),
            )
        except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
            return None
        if session.role not in VIEW_ROLES or not session.id:
            return None
        if self.session_revoked(session.id):
            return None
        key = self.key_status(session.key_id)
        return replace(session, dataset=key.dataset) if key.active else None

    def start(
        self, response: Response, request: Request, key_id: int, name: str, role: str
    ) -> Session:
        session = Session(key_id, name, role, secrets.token_urlsafe(32), secrets.token_urlsafe(16))
        token = self._session.dumps(
            {"k": key_id, "n": name, "r": role, "c": session.csrf, "s": session.id}
        )
        _set_cookie(response, request, SESSION_COOKIE, token, SESSION_SECONDS)
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return session

    def end(self, response: Response, session: Session | None = None) -> None:
        """Delete the cookie and, for a session, revoke it in the store so that a copy of the
        cookie no longer works either."""
        if session is not None and session.id:
            expires = session.expires_at or store.utcnow() + timedelta(seconds=SESSION_SECONDS)
            with self.engine.begin() as conn:
                keys.revoke_session(conn, session.id, expires)
            with self._lock:
                self._revoked[session.id] = True
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")

    def session_revoked(self, session_id: str) -> bool:
        """The session was signed out (as the store said at most `ttl` seconds ago)."""
        with self._lock:
            known = self._revoked.get(session_id)
        if known is not None:
            return known
        with self.engine.connect() as conn:
            revoked = keys.session_revoked(conn, session_id)
        with self._lock:
            self._revoked[session_id] = revoked
        return revoked

    def key_status(self, key_id: int) -> KeyStatus:
        """Whether the key is active, and its dataset (as the store said at most `ttl` seconds
        ago): one look-up per key and `ttl`, whatever the number of its sessions' requests."""
        with self._lock:
            known = self._keys.get(key_id)
        if known is not None:
            return known
        cols = store.api_keys.c
        with self.engine.connect() as conn:
            row = conn.execute(
                select(cols.dataset).where(cols.id == key_id, cols.revoked_at.is_(None))
            ).first()
        status = KeyStatus(False) if row is None else KeyStatus(True, row.dataset)
        with self._lock:
            self._keys[key_id] = status
        return status

    def forget_key(self, key_id: int) -> None:
        """Drop what is remembered of the key (it was just revoked): its sessions in this
        worker end at their next request."""
        with self._lock:
            self._keys.pop(key_id, None)

    # -- CSRF

    @staticmethod
    def csrf_ok(session: Session | None, sent: str | None) -> bool:
        return bool(session and sent and _same(session.csrf, sent))

    def login_token(self, request: Request) -> tuple[str, str | None]:
        """(token for the sign-in form, cookie value to set or None if the cookie holds it)."""
        raw = request.cookies.get(LOGIN_COOKIE)
        if raw:
            try:
                return self._login.loads(raw, max_age=LOGIN_SECONDS), None
            except BadSignature:
                pass
        token = secrets.token_urlsafe(32)
        return token, self._login.dumps(token)

    def set_login_cookie(self, response: Response, request: Request, value: str) -> None:
        _set_cookie(response, request, LOGIN_COOKIE, value, LOGIN_SECONDS)

    def login_csrf_ok(self, request: Request, sent: str | None) -> bool:
        raw = request.cookies.get(LOGIN_COOKIE)
        if not raw or not sent:
            return False
        try:
            expected = self._login.loads(raw, max_age=LOGIN_SECONDS)
        except BadSignature:
            return False
        return _same(str(expected), sent)


def _same(expected: str, sent: str) -> bool:
    """Constant-time comparison of any text (`hmac.compare_digest` refuses non-ASCII str)."""
    return hmac.compare_digest(expected.encode(), sent.encode())


def _set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def get_sessions(request: Request) -> SessionManager:
    return request.app.state.sessions


SessionsDep = Annotated[SessionManager, Depends(get_sessions)]
