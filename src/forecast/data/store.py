"""The SQL store: engine, migrations, and the set-based reads and upserts.

SQLite by default, PostgreSQL by URL. The tables are described in `forecast.data.tables`; the
schema is owned by Alembic (`forecast/data/migrations`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    Table,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from forecast.data import write_lock
from forecast.data.attributes import (  # re-exported: callers read them as store.<name>
    dataset_features as dataset_features,
)
from forecast.data.attributes import (
    infer_types as infer_types,
)
from forecast.data.attributes import (
    with_attributes as with_attributes,
)
from forecast.data.stages import StageSet
from forecast.data.store_reads import _FIELD_COLUMNS, _rows_of, _typed
from forecast.data.store_reads import (
    dataset_stages as dataset_stages,  # re-exported: store.dataset_stages
)
from forecast.data.store_reads import get_dataset as get_dataset  # re-exported: store.get_dataset
from forecast.data.store_reads import (
    list_datasets as list_datasets,  # re-exported: store.list_datasets
)
from forecast.data.store_reads import (
    load_field_history as load_field_history,  # re-exported: store.load_field_history
)
from forecast.data.store_reads import (
    load_history as load_history,  # re-exported: store.load_history
)
from forecast.data.store_reads import load_leads as load_leads  # re-exported: store.load_leads
from forecast.data.store_reads import (
    load_opportunities as load_opportunities,  # re-exported: store.load_opportunities
)
from forecast.data.store_reads import (
    stage_history_of as stage_history_of,  # re-exported: store.stage_history_of
)
from forecast.data.tables import (
    OPPORTUNITY_COLUMNS as OPPORTUNITY_COLUMNS,
)
from forecast.data.tables import (  # re-exported: callers read them as store.<table>
    TRACKED_FIELDS as TRACKED_FIELDS,
)
from forecast.data.tables import (
    api_keys as api_keys,
)
from forecast.data.tables import (
    datasets as datasets,
)
from forecast.data.tables import (
    field_history as field_history,
)
from forecast.data.tables import (
    forecast_documents as forecast_documents,
)
from forecast.data.tables import (
    forecast_runs as forecast_runs,
)
from forecast.data.tables import (
    leads as leads,
)
from forecast.data.tables import (
    metadata as metadata,
)
from forecast.data.tables import (
    opportunities as opportunities,
)
from forecast.data.tables import (
    score_log as score_log,
)
from forecast.data.tables import (
    stage_history as stage_history,
)
from forecast.data.tables import (
    targets as targets,
)
from forecast.data.tables import (
    track_record as track_record,
)
from forecast.data.tie_rule import CONTENT_AT, KEY_LENGTH, fields_keys
from forecast.data.tie_rule import state_keys as state_keys  # re-exported: store.state_keys
from forecast.errors import Busy, NotFound, UnknownDataset
from forecast.settings import Settings, get_settings

MIGRATIONS = Path(__file__).parent / "migrations"


def utcnow() -> datetime:
    """Naive UTC: the store keeps naive timestamps that mean UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def make_engine(url: str, busy_seconds: float = 5.0) -> Engine:
    """An engine on `url`. On SQLite, a writer waits up to `busy_seconds` for another writer's
    lock (then `transaction` raises `Busy`)."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///").split("?")[0]
        if path and path != ":memory:":
            # Key hashes and CRM data: a folder made here is 700, a new database file 600
            # (SQLite gives its -wal and -shm files the database file's mode). An existing file
            # is never opened here: closing it would drop this process's SQLite locks on it.
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass
        engine = create_engine(url, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")
            cur.execute("PRAGMA cache_size=-262144")  # up to 256 MiB: big imports keep indexes hot
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


@lru_cache(maxsize=8)
def cached_engine(url: str, busy_seconds: float, *, migrated: bool = True) -> Engine:
    """One engine (and its connection pool) per database and process; `migrated`: brought to
    the latest schema first (False for a reader that must not change it: a Dask worker)."""
    engine = make_engine(url, busy_seconds)
    if migrated:
        migrate(engine)
    return engine


def get_engine(settings: Settings | None = None) -> Engine:
    """The engine for the configured store, migrated to the latest schema on first use."""
    settings = settings or get_settings()
    return cached_engine(settings.resolved_database_url, settings.sqlite_busy_seconds)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def is_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except OperationalError:
        return False


def _insert(conn: Connection, table: Table):  # noqa: ANN202 - dialect-specific Insert
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert

    return insert(table)


# --- datasets -----------------------------------------------------------------------------------


def save_dataset(
    conn: Connection,
    name: str,
    kind: str,
    stages: StageSet | None = None,
    leak_columns: Sequence[str] = (),
    options: dict | None = None,
) -> bool:
    """Store the dataset's record (kind, stages, leak columns, options) under its write lock;
    True where that made or changed it, which gives it a new version. The same record written
    again (an export imported again) leaves its version as it was (`new_version`)."""
    lock_dataset(conn, name)
    record = {
        "kind": kind,
        "stages": stages.to_dict() if stages else None,
        "leak_columns": list(leak_columns),
        "options": dict(options or {}),
    }
    stored = conn.execute(select(datasets).where(datasets.c.name == name)).mappings().first()
    if stored is not None and all(_same_json(record[k], stored[k]) for k in record):
        return False
    now = utcnow()
    stmt = _insert(conn, datasets).values(name=name, **record, created_at=now, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"], set_={k: stmt.excluded[k] for k in [*record, "updated_at"]}
    )
    conn.execute(stmt)
    return True


def _same_json(given: object, stored: object) -> bool:
    """A value about to be stored in a JSON column is the one stored there (tuples and lists
    alike, keys in any order)."""
    return json.dumps(given, sort_keys=True, default=str) == json.dumps(
        stored, sort_keys=True, default=str
    )


def lock_dataset(conn: Connection, name: str) -> str | None:
    """Take the dataset's write lock for this transaction (its row on PostgreSQL, the database
    on SQLite: `transaction` took it already): writers of one dataset go one after another, and
    what one reads after this is what the one before it wrote. Returns its version as read
    under the lock (None: not stored yet), which stays: a write that changes nothing leaves it.
    The lock leaves its mark (`locked_at`): on SQLite, writers waiting in a queue see by it that
    the ones ahead finish (`write_lock`), even those that changed nothing."""
    row = datasets.c.name == name
    conn.execute(datasets.update().where(row).values(locked_at=utcnow()))
    at = conn.execute(select(datasets.c.updated_at).where(row)).scalar()
    return None if at is None else str(at)


def new_version(conn: Connection, name: str) -> None:
    """Give the dataset a new version (its `updated_at`): what is stored of it changed. Readers
    key on it: the app's cached histories and views (`serving.datasets`), the stored forecasts
    (`stored_forecasts`), the served deal contexts (`model_sources`). So a write that changed
    nothing (a row, a stage or field observation, the record) must not call it: every cache of
    the dataset would be dropped and the forecast tracked again for the same data."""
    conn.execute(datasets.update().where(datasets.c.name == name).values(updated_at=utcnow()))


def on_command_line(option: str) -> str:
    """How a command (by its `option`) and the API name a dataset where the store holds
    several, as `resolve_dataset` says it."""
    return f"{option} NAME on the command line, ?dataset= in the API"


#: How the commands with `--dataset` and the API ask for a dataset where the store holds several.
BY_DATASET_OPTION = on_command_line("--dataset")
#: How a dashboard page asks for a dataset where the store holds several (it links each).
PICK_ON_PAGE = "pick one below"


def resolve_dataset(
    conn: Connection, name: str | None, kind: str, *, how: str = BY_DATASET_OPTION
) -> str:
    """The dataset to use: the one named, or the only one of that kind in the store.
    `how`: the words saying how the user names one where there are several, said as they are
    (`on_command_line(option)` for a command, `PICK_ON_PAGE` for a web page)."""
    if name:
        get_dataset(conn, name)
        return name
    names = list_datasets(conn, kind)
    if len(names) == 1:
        return names[0]
    if not names:
        other = "leads" if kind == "opportunities" else "opportunities"
        held = list_datasets(conn, other)
        what = "a deal" if kind == "opportunities" else "a lead"
        only = f" (only {other}: {', '.join(held)})" if held else ""
        raise NotFound(
            f"the store holds no {kind} yet{only}: run `forecast import` first, on {what} export"
        )
    raise UnknownDataset(f"the store holds several {kind} datasets {names}: name one ({how})")


# --- opportunities and their history ----------------------------------------------------------


def stored_state(conn: Connection, dataset: str, ids: Sequence[str]) -> pd.DataFrame:
    """Stored stage, created_at, created_estimated and updated_at of the deals given, by id."""
    cols = (
        opportunities.c.id,
        opportunities.c.stage,
        opportunities.c.created_at,
        opportunities.c.created_estimated,
        opportunities.c.updated_at,
    )
    frame = _rows_of(conn, cols, opportunities.c.dataset == dataset, opportunities.c.id, ids)
    for col in ("created_at", "updated_at"):
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
    return frame.set_index("id")


def db_rows(frame: pd.DataFrame, table: Table) -> list[tuple]:
    """A frame as tuples of plain values for the driver, converted column-wise (fast).

    Timestamps become `YYYY-MM-DD HH:MM:SS.ffffff` text (what SQLAlchemy stores in SQLite and
    PostgreSQL parses), booleans Python bools, JSON columns JSON text, missing values None.
    """
    columns = []
    for name in frame.columns:
        series = frame[name]
        kind = type(table.c[name].type)
        if kind is DateTime:
            values = pd.to_datetime(series).to_numpy().astype("datetime64[us]")
            text = np.char.replace(np.datetime_as_string(values, unit="us"), "T", " ")
            # numpy's stubs leave None out of the values `where` takes (valid for object arrays)
            out = np.where(
                pd.isna(values),
                None,  # type: ignore[call-overload]
                text.astype(object),
            ).tolist()
        elif kind is JSON:
            out = [None if v is None else json.dumps(v, default=str) for v in series.tolist()]
        elif kind is Boolean:
            out = series.astype(bool).tolist()
        else:
            out = series.astype(object).where(series.notna(), None).tolist()
        columns.append(out)
    return list(zip(*columns, strict=True))


def _upsert(conn: Connection, table: Table, frame: pd.DataFrame) -> int:
    """Insert or update by primary key; returns how many rows were inserted or changed.

    A row with an older `updated_at` than the stored one never overwrites it (no roll-back), and
    a row whose content equals the stored one is not rewritten (its `updated_at` stays the time
    its content last changed), so re-importing changes nothing. One set-based statement per
    batch, with the driver's own bulk path (executemany on SQLite, COPY on PostgreSQL).
    """
    if frame.empty:
        return 0
    names = list(frame.columns)
    keys = [c.name for c in table.primary_key.columns]
    updatable = [n for n in names if n not in keys]
    differs = " OR ".join(
        f"CAST(excluded.{n} AS TEXT) IS DISTINCT FROM CAST({table.name}.{n} AS TEXT)"
        if isinstance(table.c[n].type, JSON)
        else f"excluded.{n} IS DISTINCT FROM {table.name}.{n}"
        for n in updatable
        if n != "updated_at"
    )
    conflict = (
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        + ", ".join(f"{n} = excluded.{n}" for n in updatable)
        + f" WHERE excluded.updated_at >= {table.name}.updated_at AND ({differs})"
    )
    return _bulk_insert(conn, table, frame, conflict)


def upsert_opportunities(conn: Connection, frame: pd.DataFrame, stages: StageSet) -> int:
    """Keep each deal's newest state; returns how many rows were inserted or updated.

    The newest state is the one with the latest `updated_at`, whatever the arrival order: an
    older one never rolls the deal back, a newer one is kept even when only its time is new (a
    late push of a time in between must not win over it). Two states of one time are settled by
    `forecast.data.tie_rule`: the later stage keeps its stage, status and close, the larger
    content its other fields (as the field history keeps them). Re-importing the same rows
    changes nothing.
    """
    if frame.empty:
        return 0
    frame = frame.assign(state_key=state_keys(frame, stages))
    names = list(frame.columns)
    t = opportunities.name
    newer = f"excluded.updated_at > {t}.updated_at"
    tied = f"excluded.updated_at = {t}.updated_at"
    at = CONTENT_AT
    new = "excluded.state_key"
    old = (  # a key of an older rule: its stage rank only (`tie_rule.KEY_LENGTH`)
        f"CASE WHEN length({t}.state_key) = {KEY_LENGTH} THEN {t}.state_key "
        f"ELSE substr(COALESCE({t}.state_key, ''), 1, {at - 1}) END"
    )
    stage_wins = f"({newer} OR ({tied} AND substr({new}, 1, 2) > substr({old}, 1, 2)))"
    content_wins = f"({newer} OR ({tied} AND substr({new}, {at}) > substr({old}, {at})))"

    def kept(name: str) -> str:
        wins = stage_wins if name in _STAGE_COLUMNS else content_wins
        return f"CASE WHEN {wins} THEN excluded.{name} ELSE {t}.{name} END"

    key = (
        f"CASE WHEN {stage_wins} THEN substr({new}, 1, {at - 1}) ELSE substr({old}, 1, {at - 1}) "
        f"END || CASE WHEN {content_wins} THEN substr({new}, {at}) ELSE substr({old}, {at}) END"
    )
    sets = [
        f"{n} = {key if n == 'state_key' else kept(n)}"
        for n in names
        if n not in ("dataset", "id", "updated_at")
    ]
    conflict = (
        "ON CONFLICT (dataset, id) DO UPDATE SET "
        + ", ".join([*sets, "updated_at = excluded.updated_at"])
        + f" WHERE {stage_wins} OR {content_wins}"
    )
    return _bulk_insert(conn, opportunities, frame, conflict)


#: What goes with a deal's stage in a tie (`forecast.data.tie_rule`); the rest, with its content.
_STAGE_COLUMNS = ("stage", "status", "closed_at")


#: What an import says of the deals `ties_kept` counts.
TIES_KEPT = (
    "{n:,} deal(s) of this export are stored with the same update time and other values: the "
    "stored ones were kept, in whole or part (a tie keeps the later stage, and the larger "
    "content for the other fields, so that the order of imports does not matter); to read an "
    "export again with a corrected mapping, import it with --replace"
)


def ties_kept(conn: Connection, frame: pd.DataFrame, stages: StageSet) -> int:
    """How many of `frame`'s deals, once upserted, are stored with the same `updated_at` and
    other content, which won the tie in `upsert_opportunities`: the import left them as stored,
    which would go unsaid (an export re-read with a corrected mapping keeps half the first
    reading). Read after the write: a read first would make SQLite's writers wait on each other."""
    if frame.empty:
        return 0
    new = pd.DataFrame({"id": frame["id"].astype("str"), "at": frame["updated_at"]}).assign(
        key=state_keys(frame, stages).to_numpy()
    )
    t = opportunities
    rows: list[Any] = []
    ids = new["id"].tolist()
    for start in range(0, len(ids), 500):
        query = t.select().with_only_columns(t.c.id, t.c.updated_at, t.c.state_key)
        where = (t.c.dataset == str(frame["dataset"].iloc[0])) & t.c.id.in_(
            ids[start : start + 500]
        )
        rows += conn.execute(query.where(where)).all()
    stored = pd.DataFrame(rows, columns=["id", "at", "key"])
    both = new.merge(stored, on="id", suffixes=("", "_stored"))
    same = pd.to_datetime(both["at"]) == pd.to_datetime(both["at_stored"])
    return int((same & (both["key"] != both["key_stored"].fillna(""))).sum())


def _bulk_insert(conn: Connection, table: Table, frame: pd.DataFrame, conflict: str) -> int:
    """Write `frame`'s rows (all of them of the datasets in its `dataset` column) with the
    `conflict` rule; returns how many rows were inserted or changed, and gives each dataset a
    new version where any was (`new_version`): rows written again as stored change nothing."""
    written = _bulk_rows(conn, table, frame, conflict)
    if written:
        for name in frame["dataset"].astype("str").unique():
            new_version(conn, name)
    return written


def _bulk_rows(conn: Connection, table: Table, frame: pd.DataFrame, conflict: str) -> int:
    names = list(frame.columns)
    rows = db_rows(frame, table)
    driver = conn.connection.driver_connection
    if driver is None:  # the pooled connection was closed or invalidated
        raise AttributeError("the connection has no driver connection to take a cursor from")
    cursor = driver.cursor()
    try:
        if conn.dialect.name == "postgresql":
            staging = f"_load_{table.name}"
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {staging} "
                f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            cursor.execute(f"TRUNCATE {staging}")
            with cursor.copy(f"COPY {staging} ({', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(
                f"INSERT INTO {table.name} ({', '.join(names)}) "
                f"SELECT {', '.join(names)} FROM {staging} {conflict}"
            )
            return max(cursor.rowcount, 0)
        conflict = conflict.replace("IS DISTINCT FROM", "IS NOT")  # SQLite before 3.39
        sql = (
            f"INSERT INTO {table.name} ({', '.join(names)}) "
            f"VALUES ({', '.join('?' * len(names))}) {conflict}"
        )
        cursor.executemany(sql, rows)
        return max(cursor.rowcount, 0)
    finally:
        cursor.close()


def upsert_leads(conn: Connection, frame: pd.DataFrame) -> int:
    return _upsert(conn, leads, frame)


def append_history(conn: Connection, frame: pd.DataFrame) -> int:
    """Add stage observations (entries, and sightings where `seen_only`); one already kept
    (same deal, stage and time) stays, an entry where only a sighting was."""
    if frame.empty:
        return 0
    if "seen_only" not in frame:
        frame = frame.assign(seen_only=False)
    return _bulk_insert(
        conn,
        stage_history,
        frame,
        "ON CONFLICT (dataset, opportunity_id, stage, entered_at) DO UPDATE SET seen_only = "
        "excluded.seen_only WHERE stage_history.seen_only AND NOT excluded.seen_only",
    )


def append_field_history(conn: Connection, dataset: str, deals: pd.DataFrame) -> int:
    """Record the tracked fields of `deals` (canonical rows), observed at their `updated_at`.
    Returns the rows added or replaced.

    Every observation is kept, one per deal and time, so the same observations arriving in any
    order leave the same log (an observation equal to the one before it is still kept: a late
    push may yet arrive between them). Two observations of one time: the larger content wins,
    whichever came first, by the rule the deal's state follows (`forecast.data.tie_rule`).
    """
    if deals.empty:
        return 0
    obs = pd.DataFrame(
        {
            "dataset": dataset,
            "opportunity_id": deals["id"].to_numpy(),
            "observed_at": pd.to_datetime(deals["updated_at"]).to_numpy(),
        }
    )
    for name in TRACKED_FIELDS:
        obs[name] = deals[name].to_numpy() if name in deals else None
    obs = _typed(obs, field_history)
    stored = _stored_observations(conn, dataset, obs["opportunity_id"].tolist())
    if len(stored):
        at = ["opportunity_id", "observed_at"]
        both = obs.merge(stored, on=at, how="left", suffixes=("", "_stored"), indicator=True)
        new_key = fields_keys(both[list(TRACKED_FIELDS)])
        old_key = fields_keys(
            both[[f"{n}_stored" for n in TRACKED_FIELDS]].set_axis(list(TRACKED_FIELDS), axis=1)
        )
        # A time not kept yet is added; at a kept time, only a larger content replaces it.
        keep = (both["_merge"] == "left_only") | (new_key > old_key)
        obs = obs[keep.to_numpy()]
        if obs.empty:
            return 0
    conflict = "ON CONFLICT (dataset, opportunity_id, observed_at) DO UPDATE SET " + ", ".join(
        f"{n} = excluded.{n}" for n in TRACKED_FIELDS
    )
    return _bulk_insert(conn, field_history, obs, conflict)


def _stored_observations(conn: Connection, dataset: str, ids: Sequence[str]) -> pd.DataFrame:
    frame = _rows_of(
        conn,
        _FIELD_COLUMNS,
        field_history.c.dataset == dataset,
        field_history.c.opportunity_id,
        list(ids),
    )
    return _typed(frame, field_history)


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction: all of it is written, or none of it.

    On SQLite it takes the write lock first (BEGIN IMMEDIATE), so what it reads is what it
    writes over; it waits while the writers ahead of it keep finishing, and one that waited
    `busy_seconds` for another, or the whole queue's bound, gets `Busy` (a 503 with
    Retry-After), never a "database is locked" error (`forecast.data.write_lock`).
    """
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                write_lock.begin_immediate(conn)
            yield conn
    except OperationalError as exc:
        if write_lock.is_locked(exc):
            raise Busy(
                "the store is busy with another write (an import?); try again shortly"
            ) from None
        raise
