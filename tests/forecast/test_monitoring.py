"""The score log: every score is kept, written in batches, and survives a restart."""

from __future__ import annotations

from sqlalchemy import func, select

from forecast.data import store
from forecast.monitoring import ScoreRecorder, fingerprint


def row(i: int) -> dict:
    return {
        "request_id": f"r{i}",
        "kind": "lead",
        "model": "lead",
        "model_version": "3",
        "inputs_fingerprint": fingerprint({"i": i}),
        "probability": 0.5,
        "score": 50,
    }


def logged(engine) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(store.score_log)).scalar_one()


def test_scores_are_written_in_batches_off_the_request_path(sqlite_engine):
    recorder = ScoreRecorder(sqlite_engine, batch_size=100, flush_seconds=60)
    for i in range(250):
        recorder.record(**row(i))
    assert logged(sqlite_engine) == 0  # recording only queues
    assert recorder.flush() == 250
    assert logged(sqlite_engine) == 250


def test_closing_flushes_what_is_queued_so_a_restart_loses_nothing(sqlite_engine):
    recorder = ScoreRecorder(sqlite_engine, flush_seconds=60)
    recorder.start()
    for i in range(10):
        recorder.record(**row(i))
    recorder.close()
    assert logged(sqlite_engine) == 10
    again = ScoreRecorder(sqlite_engine)
    again.start()
    again.record(**row(11))
    again.close()
    assert logged(sqlite_engine) == 11


def test_a_store_outage_keeps_the_rows_for_the_next_try(sqlite_engine, tmp_path):
    broken = store.make_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")  # no tables
    recorder = ScoreRecorder(broken)
    recorder.record(**row(1))
    assert recorder.flush() == 0
    recorder.engine = sqlite_engine
    assert recorder.flush() == 1


def test_the_same_inputs_give_the_same_fingerprint():
    assert fingerprint({"a": 1, "b": "x"}) == fingerprint({"b": "x", "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
