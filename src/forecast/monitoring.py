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
from collections import deque
from typing import Any

from sqlalchemy import Engine

from forecast.data import store

log = logging.getLogger("forecast.monitoring")
#: A queued row's inputs not yet turned into its columns (see `ScoreRecorder.record_score`).
_PENDING = "_pending_inputs"


def fingerprint(inputs: dict[str, Any]) -> str:
    """A stable hash of a request's inputs: the same inputs give the same fingerprint."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


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


_SCALARS = (str, int, float, bool, type(None))


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
    if model_row is not None or not all(
        type(k) is str and isinstance(v, _SCALARS) for k, v in sent.items()
    ):
        return fingerprint(sent), loggable_inputs(sent if model_row is None else model_row)
    text = json.dumps(sent, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()
    missing = {k for k, v in sent.items() if v != v}  # only NaN differs from itself
    if len(text) + len(missing) > MAX_LOGGED_INPUTS_BYTES:  # each `NaN` is `null` in the log
        return digest, None
    if not missing:
        return digest, dict(sent)
    return digest, {k: None if k in missing else v for k, v in sent.items()}


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
        self._queue: deque[dict] = deque(maxlen=max_queue)
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

    def _batch(self) -> list[dict]:
        """Up to `batch_size` queued rows, ready to write (pending inputs turned into columns;
        a row whose inputs cannot be read as JSON is logged and left out)."""
        batch: list[dict] = []
        while self._queue and len(batch) < self.batch_size:
            row = self._queue.popleft()
            pending = row.pop(_PENDING, None)
            if pending is not None:
                try:
                    row["inputs_fingerprint"], row["inputs"] = logged_inputs(*pending)
                except Exception:  # noqa: BLE001 - one odd row must not stop the writer
                    log.exception("score log: inputs of a score could not be read; row left out")
                    self.dropped += 1
                    continue
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
                    conn.execute(store.score_log.insert(), batch)
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
