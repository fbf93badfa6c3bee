"""API keys with roles. Only a SHA-256 of each key is stored; the key is shown once.

Keys are 32 random bytes, so a fast hash is enough (no password stretching needed): guessing is
hopeless, and a stolen table does not reveal a usable key.

Also the dashboard sessions signed out before they expired (`revoke_session`, `session_revoked`;
see `serving.sessions` for why the store keeps only those).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from threading import Lock

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.engine import Connection

from forecast.data import store
from forecast.data.tables import revoked_sessions
from forecast.errors import InvalidInput, UnknownName

ROLES = ("scorer", "viewer", "admin")
KEY_PREFIX = "fk_"


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    role: str
    prefix: str
    #: The one dataset this key scores (None: any). Its requests score that dataset's models.
    dataset: str | None = None
    #: When the key was made and revoked (naive UTC, as stored; revoked_at None: it works).
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    def allows(self, *roles: str) -> bool:
        """Admin may do everything; other roles only what they are named for."""
        return self.role == "admin" or self.role in roles


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    conn: Connection,
    role: str,
    name: str,
    dataset: str | None = None,
    known: Iterable[str] = (),
) -> tuple[ApiKey, str]:
    """A new key for `role`; returns its record and the plain key (never stored).

    A key bound to `dataset` scores that dataset only; the dataset must be in the store or among
    `known` (the datasets with a champion, as the caller knows them)."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {list(ROLES)}, got {role!r}")
    if not name.strip():
        raise InvalidInput("a key needs a name saying who holds it")
    if dataset is not None:
        dataset = check_dataset(conn, dataset, known)
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    name, prefix, now = name.strip(), plain[:10], store.utcnow()
    row = {
        "name": name,
        "role": role,
        "prefix": prefix,
        "key_hash": _hash(plain),
        "created_at": now,
        "dataset": dataset,
    }
    inserted = conn.execute(store.api_keys.insert().values(**row)).inserted_primary_key
    if inserted is None:  # a single-row insert always reports its key
        raise TypeError("the api key insert reported no primary key")
    key_id = inserted[0]
    return ApiKey(key_id, name, role, prefix, dataset, created_at=now), plain


def check_dataset(conn: Connection, dataset: str, known: Iterable[str] = ()) -> str:
    """`dataset` (trimmed) if a key may be bound to it: a dataset in the store, or one of
    `known`; else `InvalidInput` naming the datasets there are."""
    name = dataset.strip()
    there = set(store.list_datasets(conn)) | set(known)
    if name not in there:
        raise InvalidInput(
            f"dataset: {dataset!r} is neither a dataset in the store nor one with a champion; "
            f"expected one of {sorted(there)}"
        )
    return name


class AlreadyRevoked(InvalidInput):
    """The key was revoked before; its first revocation time is kept (`key`, as stored)."""

    def __init__(self, message: str, key: ApiKey) -> None:
        super().__init__(message)
        self.key = key


def revoke_key(conn: Connection, key_id: int, within: str | None = None) -> ApiKey:
    """Revoke a key. A key revoked before keeps its revocation time and raises `AlreadyRevoked`.
    `within`: the dataset the revoking admin key is bound to; a key of any other binding is as
    unknown to it as one that is not there."""
    cols = store.api_keys.c
    row = conn.execute(select(store.api_keys).where(cols.id == key_id)).first()
    if row is None or (within is not None and row.dataset != within):
        raise UnknownName(f"no API key with id {key_id}")
    # Only a key not yet revoked is updated, so a second (or concurrent) revoke changes nothing.
    now = store.utcnow()
    done = conn.execute(
        update(store.api_keys)
        .where(cols.id == key_id, cols.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if done.rowcount == 0:
        when = conn.execute(select(cols.revoked_at).where(cols.id == key_id)).scalar_one()
        raise AlreadyRevoked(
            f"API key {key_id} ({row.role}, {row.name}) was already revoked "
            f"at {when:%Y-%m-%d %H:%M:%S} UTC",
            ApiKey(
                row.id, row.name, row.role, row.prefix, row.dataset, row.created_at, revoked_at=when
            ),
        )
    return ApiKey(
        row.id, row.name, row.role, row.prefix, row.dataset, row.created_at, revoked_at=now
    )


def list_keys(conn: Connection, within: str | None = None) -> list[dict]:
    """Every key (`within`: only those bound to that dataset, what an admin key bound to it
    manages)."""
    cols = store.api_keys.c
    query = select(
        cols.id, cols.name, cols.role, cols.prefix, cols.dataset, cols.created_at, cols.revoked_at
    )
    if within is not None:
        query = query.where(cols.dataset == within)
    return [dict(r) for r in conn.execute(query.order_by(cols.id)).mappings()]


def revoke_session(conn: Connection, session_id: str, expires_at: datetime) -> None:
    """Record a dashboard session as signed out until `expires_at` (naive UTC), when its cookie
    would stop working anyway; records past that time are dropped here, so the table holds at
    most the sign-outs of one session lifetime."""
    table = revoked_sessions
    conn.execute(delete(table).where(table.c.expires_at < store.utcnow()))
    known = conn.execute(select(table.c.session_id).where(table.c.session_id == session_id))
    if known.first() is None:
        conn.execute(table.insert().values(session_id=session_id, expires_at=expires_at))


def session_revoked(conn: Connection, session_id: str) -> bool:
    table = revoked_sessions
    found = conn.execute(select(table.c.session_id).where(table.c.session_id == session_id))
    return found.first() is not None


class KeyVerifier:
    """Looks keys up by hash, remembering answers briefly so a hot route skips the database.

    A key revoked through this verifier's `forget` (the API's revoke does so) stops working in
    this process at once; one revoked elsewhere (another worker, the CLI) within `ttl_seconds`.
    """

    def __init__(self, engine: Engine, ttl_seconds: float = 5.0) -> None:
        self.engine = engine
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = Lock()
        #: Counts `forget` calls: a look-up that began before one does not cache its answer.
        self._forgotten = 0

    def remembered(self, key: str) -> tuple[ApiKey | None] | None:
        """What this verifier still remembers of `key` (within its time to live), without
        touching the store: `(record,)` (the record None for a key known to be unknown or
        revoked), or None when it must be asked of the store (`verify`).

        An async caller answers most requests from here inline and sends only misses to a
        thread, so the event loop never waits on the database."""
        hit = self._cache.get(_hash(key))
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return (hit[1],)
        return None

    def verify(self, key: str) -> ApiKey | None:
        digest = _hash(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        forgotten = self._forgotten
        cols = store.api_keys.c
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    cols.id, cols.name, cols.role, cols.prefix, cols.dataset, cols.created_at
                ).where(cols.key_hash == digest, cols.revoked_at.is_(None))
            ).first()
        found = ApiKey(**row._mapping) if row else None
        with self._lock:
            if forgotten != self._forgotten:  # a revoke came while the store was read
                return found
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now, found)
        return found

    def forget(self, key_id: int) -> None:
        """Drop what is remembered of the key with this id (it was just revoked), so its next
        request is checked against the store."""
        with self._lock:
            self._forgotten += 1
            self._cache = {
                digest: hit
                for digest, hit in self._cache.items()
                if hit[1] is None or hit[1].id != key_id
            }
