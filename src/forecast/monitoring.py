"""The score log: every score served is recorded, written off the request path in batches.

`record` only appends to an in-memory queue; a background thread writes batches. `close`
flushes what is left, so a clean restart loses nothing; the queue is bounded so a store outage
cannot exhaust memory (what is dropped is counted).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from json import encoder as json_encoder
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Engine

from forecast.data import store

log = logging.getLogger("forecast.monitoring")
#: A queued row's inputs not yet turned into its columns (see `ScoreRecorder.record_score`).
_PENDING = "_pending_inputs"
#: A queued row's inputs as the JSON text to store on SQLite (`_logged`), beside its `inputs`.
_INPUTS_TEXT = "_inputs_text"


def _sorted_json() -> Callable[[dict[str, Any]], str]:
    """`json.dumps(data, sort_keys=True, default=str)` for a dict, from one C encoder made once
    (`json.dumps` with options makes one per call). No check for circular data: a request's
    inputs come from JSON, which has none."""
    options = json.JSONEncoder(sort_keys=True, default=str)
    make = getattr(json_encoder, "c_make_encoder", None)  # not in the stubs
    if make is None:  # no C accelerator: the encoder's own way
        return options.encode
    encode = make(
        None,
        options.default,
        json_encoder.encode_basestring_ascii,
        None,
        options.key_separator,
        options.item_separator,
        True,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )
    return lambda data: "".join(encode(data, 0))


#: `json.dumps(data, sort_keys=True, default=str)` of a dict: the text a fingerprint hashes.
sorted_json = _sorted_json()


def fingerprint(inputs: dict[str, Any]) -> str:
    """A stable hash of a request's inputs: the same inputs give the same fingerprint."""
    return hashlib.sha256(sorted_json(inputs).encode()).hexdigest()


#: Inputs kept in the log for drift only when this small (as JSON); larger rows keep their
#: fingerprint alone, so one odd request cannot bloat the log.
MAX_LOGGED_INPUTS_BYTES = 4096


def loggable_inputs(inputs: dict[str, Any]) -> dict[str, Any] | None:
    """The inputs as plain JSON data for the score log, or None when larger than the bound."""
    # NaN is not JSON (some stores refuse it): a missing number is kept as null.
    plain = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in inputs.items()}
    text = json.dumps(plain, default=str)
    if len(text) > MAX_LOGGED_INPUTS_BYTES:
        return None
    loaded: dict[str, Any] = json.loads(text)
    return loaded


#: The value types a lead's inputs come in from JSON, and the one key type.
_PLAIN = frozenset({str, int, float, bool, type(None)})
_TEXT = frozenset({str})


def logged_inputs(
    sent: dict[str, Any], model_row: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any] | None]:
    """A score-log row's `inputs_fingerprint` (of the inputs as sent) and `inputs` (the model's
    row when given, else the inputs as sent): `fingerprint` and `loggable_inputs` of them.

    When both are of one flat dict of plain values with string keys (a lead as the API takes
    it), one JSON text serves both: the sorted text the fingerprint hashes has the length of
    the loggable one but for `NaN` written where the log has `null`. Such values come back from
    JSON as they went in (text, exact floats and integers, booleans, null), so they are logged
    as sent, `NaN` as null, without parsing the text back (the writer's thread shares the
    server's core: this was a tenth of its work per score)."""
    digest, inputs, _ = _logged(sent, model_row)
    return digest, inputs


def _logged(
    sent: dict[str, Any], model_row: dict[str, Any] | None
) -> tuple[str, dict[str, Any] | None, str | None]:
    """`logged_inputs`, and the inputs' JSON text where the fingerprint's text is it (keys
    sorted, no `NaN`): the writer stores that text as it is instead of encoding the same
    inputs again (a fifth of its work per score)."""
    # Exact types, seen as a set in C: a subclass (a numpy float) takes the general way, which
    # gives it the same columns.
    kinds = set(map(type, sent.values()))
    if model_row is not None or not kinds <= _PLAIN or not _TEXT.issuperset(map(type, sent)):
        return (
            fingerprint(sent),
            loggable_inputs(sent if model_row is None else model_row),
            None,
        )
    text = sorted_json(sent)
    digest = hashlib.sha256(text.encode()).hexdigest()
    # Only NaN differs from itself, and only a float is NaN.
    missing = {k for k, v in sent.items() if v != v} if float in kinds else ()
    if len(text) + len(missing) > MAX_LOGGED_INPUTS_BYTES:  # each `NaN` is `null` in the log
        return digest, None, None
    if not missing:
        return digest, dict(sent), text
    return digest, {k: None if k in missing else v for k, v in sent.items()}, None


class _DriverInsert:
    """The score log's INSERT as SQLite's driver takes it: the SQL compiled once, each row a
    tuple of its columns' values through the columns' own bind processors (the text of a time,
    the JSON of the inputs), as SQLAlchemy would send them. SQLAlchemy's own executemany builds
    each row's parameters through the compiled statement, a third of the writer's work per row.

    A column missing from a row is NULL, as in an INSERT that leaves it out."""

    def __init__(self, dialect: Dialect) -> None:
        table = store.score_log
        names = [c.name for c in table.c if not c.primary_key]
        compiled = table.insert().compile(dialect=dialect, column_keys=names)
        order: list[str] = list(compiled.positiontup or ())
        if sorted(order) != sorted(names):
            raise ValueError(f"unexpected parameters for {dialect.name}: {order}")
        self.sql = compiled.string
        self.names = order
        self._all = itemgetter(*order)
        self._processors = [
            (i, processor)
            for i, name in enumerate(order)
            if (processor := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
        ]
        self._by_name = dict.fromkeys(order)
        for i, processor in self._processors:
            self._by_name[order[i]] = processor
        #: The inputs' column and its processor: a row's `_INPUTS_TEXT`, if any, is used as is.
        [self._inputs] = [(i, p) for i, p in self._processors if order[i] == "inputs"]
        self._others = [(i, p) for i, p in self._processors if order[i] != "inputs"]

    def params(self, rows: list[dict]) -> list[tuple]:
        out = []
        every, processors = self._all, self._others
        at, inputs_process = self._inputs
        for row in rows:
            try:
                values = list(every(row))
            except KeyError:  # some columns left out: NULL
                out.append(self._some(row))
                continue
            for i, process in processors:
                values[i] = process(values[i])
            text = row.get(_INPUTS_TEXT)
            values[at] = inputs_process(values[at]) if text is None else text
            out.append(tuple(values))
        return out

    def _some(self, row: dict) -> tuple:
        return tuple(
            None if name not in row else row[name] if process is None else process(row[name])
            for name, process in self._by_name.items()
        )


#: `_DriverInsert` per SQLite dialect (an engine's dialect lives as long as the engine).
_DRIVER_INSERTS: dict[int, tuple[Dialect, _DriverInsert]] = {}


def _insert(conn: Connection, batch: list[dict]) -> None:
    """Insert the batch in one executemany: on SQLite by the driver (`_DriverInsert`); on other
    stores by SQLAlchemy, which batches rows into multi-row INSERTs there."""
    dialect = conn.dialect
    if dialect.name != "sqlite":
        conn.execute(store.score_log.insert(), batch)
        return
    kept = _DRIVER_INSERTS.get(id(dialect))
    if kept is None or kept[0] is not dialect:
        if len(_DRIVER_INSERTS) > 16:
            _DRIVER_INSERTS.clear()
        kept = _DRIVER_INSERTS[id(dialect)] = (dialect, _DriverInsert(dialect))
    insert = kept[1]
    conn.exec_driver_sql(insert.sql, insert.params(batch))


#: The time `time.time_ns()` counts from, as the store keeps times (naive UTC).
_EPOCH = datetime(1970, 1, 1)


#: A queued score's values after its time and inputs, in `ScoreRecorder.queue_score`'s order.
_QUEUED_FIELDS = (
    "request_id",
    "kind",
    "model",
    "model_version",
    "probability",
    "score",
    "subject_id",
    "dataset",
)


def _score_row(queued: tuple) -> dict[str, Any]:
    """The row `record_score` would have queued for a score `queue_score` queued."""
    ns, sent, model_row = queued[:3]
    row = dict(zip(_QUEUED_FIELDS, queued[3:], strict=True))
    # As `datetime.now` makes it from the same clock: whole microseconds, rounded down.
    row["scored_at"] = _EPOCH + timedelta(microseconds=ns // 1000)
    row[_PENDING] = (sent, model_row)
    return row


class ScoreRecorder:
    def __init__(
        self,
        engine: Engine,
        *,
        batch_size: int = 1000,
        flush_seconds: float = 0.5,
        max_queue: int = 200_000,
    ) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        #: Rows (`record`), or scores as `queue_score` queues them (tuples).
        self._queue: deque[dict | tuple] = deque(maxlen=max_queue)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.written = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="score-log", daemon=True)
            self._thread.start()

    def record(self, **row: Any) -> None:
        """Queue a row as it is to be written (its time, if not given, is now)."""
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        row.setdefault("scored_at", store.utcnow())
        self._queue.append(row)
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    def record_score(
        self, sent: dict[str, Any], model_row: dict[str, Any] | None = None, **row: Any
    ) -> None:
        """Queue a score with the inputs it was given: its `inputs_fingerprint` and `inputs`
        (`logged_inputs`) are made by the writer, off the request path. The caller must not
        change `sent` or `model_row` afterwards."""
        row[_PENDING] = (sent, model_row)
        self.record(**row)

    def queue_score(
        self,
        sent: dict[str, Any],
        model_row: dict[str, Any] | None,
        request_id: str,
        kind: str,
        model: str,
        model_version: str,
        probability: float,
        score: int,
        subject_id: str | None,
        dataset: str | None,
    ) -> None:
        """`record_score` of a score scored now, for the scoring routes: its values queued as
        they are, the row (and its time, from the clock's nanoseconds) made by the writer.
        A quarter of `record_score`'s cost on the request (its keyword dicts and `utcnow`)."""
        queue = self._queue
        if len(queue) == queue.maxlen:
            self.dropped += 1
        queue.append(
            (
                time.time_ns(),
                sent,
                model_row,
                request_id,
                kind,
                model,
                model_version,
                probability,
                score,
                subject_id,
                dataset,
            )
        )
        if len(queue) >= self.batch_size:
            self._wake.set()

    def _batch(self) -> list[dict]:
        """Up to `batch_size` queued rows, ready to write (pending inputs turned into columns;
        a row whose inputs cannot be read as JSON is logged and left out)."""
        batch: list[dict] = []
        # SQLite's insert (`_DriverInsert`) stores a row's inputs text as it is; other stores'
        # take the inputs as data.
        as_text = self.engine.dialect.name == "sqlite"
        while self._queue and len(batch) < self.batch_size:
            queued = self._queue.popleft()
            row = _score_row(queued) if isinstance(queued, tuple) else queued
            pending = row.pop(_PENDING, None)
            if pending is not None:
                try:
                    row["inputs_fingerprint"], row["inputs"], text = _logged(*pending)
                except Exception:  # noqa: BLE001 - one odd row must not stop the writer
                    log.exception("score log: inputs of a score could not be read; row left out")
                    self.dropped += 1
                    continue
                if text is not None and as_text:
                    row[_INPUTS_TEXT] = text
            batch.append(row)
        return batch

    def flush(self) -> int:
        """Write everything queued now; returns how many rows were written."""
        total = 0
        while self._queue:
            batch = self._batch()
            if not batch:
                continue
            try:
                with self.engine.begin() as conn:
                    _insert(conn, batch)
            except Exception:  # noqa: BLE001 - a store outage must not kill the writer
                log.exception("score log: could not write %d rows; will retry", len(batch))
                self._queue.extendleft(reversed(batch))
                break
            total += len(batch)
        self.written += total
        return total

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()
