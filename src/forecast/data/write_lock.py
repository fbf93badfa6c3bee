"""SQLite's one writer at a time: how a write transaction waits for the database's lock.

A transaction takes the lock first (BEGIN IMMEDIATE), so what it reads is what it writes over.
SQLite waits for it up to the connection's busy timeout (`sqlite_busy_seconds`). That time
bounds the wait for *one* other writer (a long import): a writer behind a queue of short ones
(a CRM pushing many stage changes at once) would otherwise give up while the queue still moves,
because the queue as a whole, on a loaded machine, can take longer than any one of them. So a
writer that timed out while others finished (the database changed: `PRAGMA data_version`)
waits again, up to `QUEUE_ROUNDS` busy timeouts in all; one that saw nothing finish for a whole
busy timeout, or waited its rounds, is refused (`forecast.errors.Busy`, a 503 with Retry-After).
"""

from __future__ import annotations

import time

from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

#: A writer behind a queue of writers that keep finishing waits at most this many busy
#: timeouts in all (60 s at the default 5 s).
QUEUE_ROUNDS = 12


def is_locked(exc: OperationalError) -> bool:
    """SQLite's "database is locked": another writer held the lock for the whole busy timeout."""
    return "database is locked" in str(exc.orig)


def begin_immediate(conn: Connection) -> None:
    """Take the write lock for the transaction `conn` has begun (on SQLite). Raises the
    driver's "database is locked" error when no other writer finished within one busy timeout,
    or when the queue ahead took `QUEUE_ROUNDS` of them."""
    busy_seconds = _scalar(conn, "PRAGMA busy_timeout") / 1000
    deadline = time.monotonic() + busy_seconds * (QUEUE_ROUNDS - 1)
    while True:
        seen = _scalar(conn, "PRAGMA data_version")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            moved = _scalar(conn, "PRAGMA data_version") != seen
            if not is_locked(exc) or not moved or time.monotonic() >= deadline:
                raise


def _scalar(conn: Connection, sql: str) -> int:
    return int(conn.exec_driver_sql(sql).scalar_one())
