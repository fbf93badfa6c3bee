"""The score log: every score is kept, written in batches, and survives a restart."""

from __future__ import annotations

import hashlib
import math
from datetime import datetime

from sqlalchemy import func, select, text

from forecast.data import store
from forecast.monitoring import (
    MAX_LOGGED_INPUTS_BYTES,
    ScoreRecorder,
    fingerprint,
    loggable_inputs,
    logged_inputs,
)


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


# --- the inputs of a score, turned into its columns by the writer -------------------------------

LEAD = {
    "Lead Source": "Référence",
    "TotalVisits": 3,
    "Do Not Email": False,
    "Score": float("nan"),
    "City": None,
    "Asymmetrique": 12.5,
}
#: `json.dumps(LEAD, sort_keys=True)`, written out by hand.
LEAD_SORTED_JSON = (
    '{"Asymmetrique": 12.5, "City": null, "Do Not Email": false, '
    '"Lead Source": "R\\u00e9f\\u00e9rence", "Score": NaN, "TotalVisits": 3}'
)


def test_a_lead_logs_the_hash_of_its_sorted_inputs_and_its_inputs_in_the_order_sent():
    digest, inputs = logged_inputs(dict(LEAD))
    assert digest == hashlib.sha256(LEAD_SORTED_JSON.encode()).hexdigest()
    assert inputs == {**LEAD, "Score": None}  # a missing number is null: NaN is not JSON
    assert list(inputs) == list(LEAD)


def test_a_deal_logs_the_hash_of_what_was_sent_and_the_models_row():
    sent = {"stage": "Demonstration", "amount": 5000}
    row = {"stage": "Demonstration", "age_days": float("nan"), "win_rate": 0.25}
    digest, inputs = logged_inputs(sent, row)
    expected = '{"amount": 5000, "stage": "Demonstration"}'
    assert digest == hashlib.sha256(expected.encode()).hexdigest()
    assert inputs == {"stage": "Demonstration", "age_days": None, "win_rate": 0.25}


def test_inputs_are_kept_up_to_the_bound_as_the_log_writes_them():
    # As logged, `{"a": null, "s": "..."}` is 20 characters plus the string's.
    at_bound = {"a": float("nan"), "s": "x" * (MAX_LOGGED_INPUTS_BYTES - 20)}
    assert logged_inputs(at_bound)[1] == {"a": None, "s": at_bound["s"]}
    over = {"a": float("nan"), "s": "x" * (MAX_LOGGED_INPUTS_BYTES - 19)}
    digest, inputs = logged_inputs(over)
    assert inputs is None and len(digest) == 64


def test_inputs_of_other_shapes_are_logged_as_before():
    nested = {"b": {"z": 1, "y": float("nan")}, "a": [1, 2]}
    assert logged_inputs(nested) == (fingerprint(nested), loggable_inputs(nested))
    digest, inputs = logged_inputs(nested)
    assert list(inputs["b"]) == ["z", "y"] and math.isnan(inputs["b"]["y"])


def stored(engine) -> list[tuple]:  # noqa: ANN001
    """The score log's rows as the store holds them (the inputs as their JSON text)."""
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT request_id, kind, model, model_version, inputs_fingerprint, "
                    "probability, score, scored_at, subject_id, dataset, inputs "
                    "FROM score_log ORDER BY pk"
                )
            )
        ]


def test_a_score_recorded_with_its_raw_inputs_is_stored_as_one_with_its_columns_made_by_hand(
    sqlite_engine,
):
    at = datetime(2026, 12, 2, 21, 0, 0)
    common = {
        "kind": "lead",
        "model": "lead",
        "model_version": "3",
        "probability": 0.25,
        "score": 25,
        "scored_at": at,
        "subject_id": "L-1",
        "dataset": None,
    }
    by_hand = {
        "Lead Source": "Référence",
        "TotalVisits": 3,
        "Do Not Email": False,
        "Score": None,
        "City": None,
        "Asymmetrique": 12.5,
    }
    recorder = ScoreRecorder(sqlite_engine, flush_seconds=60)
    recorder.record(
        request_id="by-hand",
        inputs_fingerprint=hashlib.sha256(LEAD_SORTED_JSON.encode()).hexdigest(),
        inputs=by_hand,
        **common,
    )
    recorder.record_score(dict(LEAD), None, request_id="raw", **common)
    assert recorder.flush() == 2
    first, second = stored(sqlite_engine)
    assert first[0] == "by-hand" and second[0] == "raw"
    assert first[1:] == second[1:]
    assert second[-1].startswith('{"Lead Source": ')  # the order sent, not sorted


def test_closing_writes_the_queued_scores_with_their_inputs(sqlite_engine):
    recorder = ScoreRecorder(sqlite_engine, flush_seconds=60)
    recorder.start()
    for i in range(5):
        recorder.record_score({"i": i}, None, **{**row(i), "inputs_fingerprint": None})
    recorder.close()
    with sqlite_engine.connect() as conn:
        rows = conn.execute(
            select(store.score_log.c.inputs_fingerprint, store.score_log.c.inputs)
        ).all()
    assert [tuple(r) for r in rows] == [
        (hashlib.sha256(f'{{"i": {i}}}'.encode()).hexdigest(), {"i": i}) for i in range(5)
    ]


def test_a_leads_inputs_are_stored_once_encoded_and_read_back_as_sent(sqlite_engine, tmp_path):
    """On SQLite the fingerprint's JSON text is stored as it is (keys sorted); a store that takes
    the inputs as data gets them as data: either way they read back as sent."""
    sent = {"TotalVisits": 3, "Lead Source": "Référence", "City": None, "Asymmetrique": 12.5}
    sorted_text = (
        '{"Asymmetrique": 12.5, "City": null, "Lead Source": "R\\u00e9f\\u00e9rence", '
        '"TotalVisits": 3}'
    )
    common = ("lead", "lead", "3", 0.25, 25, "L-1", "acme")
    recorder = ScoreRecorder(sqlite_engine, flush_seconds=60)
    recorder.queue_score(dict(sent), None, "queued", *common)
    every_column = {**row(1), "request_id": "recorded", "subject_id": "L-1", "dataset": "acme"}
    recorder.record_score(dict(sent), None, **every_column)
    assert recorder.flush() == 2
    queued, recorded = stored(sqlite_engine)
    assert queued[-1] == recorded[-1] == sorted_text
    assert queued[4] == hashlib.sha256(sorted_text.encode()).hexdigest()
    with sqlite_engine.connect() as conn:
        read = conn.execute(select(store.score_log.c.inputs)).scalars().all()
    assert read == [sent, sent]


# --- the writer's batches: every row, in order, as SQLAlchemy would write them --------------------


def _mixed_rows(n: int) -> list[dict]:
    """Rows of every shape the log takes: with and without the optional columns."""
    at = datetime(2026, 12, 3, 16, 0, 0, 5)
    rows = []
    for i in range(n):
        r = {**row(i), "scored_at": at}
        if i % 3 == 0:
            r.update(subject_id=f"L-{i}", dataset="acme", inputs={"i": i, "s": "é"})
        elif i % 3 == 1:
            r["inputs"] = None  # too large to keep: JSON null, as SQLAlchemy writes it
        rows.append(r)
    return rows


def test_a_batch_is_stored_as_sqlalchemy_stores_each_row_in_the_order_recorded(
    sqlite_engine, tmp_path
):
    rows = _mixed_rows(25)
    recorder = ScoreRecorder(sqlite_engine, batch_size=10, flush_seconds=60)
    for r in rows:
        recorder.record(**r)
    assert recorder.flush() == 25
    by_sqlalchemy = store.make_engine(f"sqlite:///{tmp_path / 'by_sqlalchemy.db'}")
    store.migrate(by_sqlalchemy)
    with by_sqlalchemy.begin() as conn:
        for r in rows:  # one row per INSERT: left-out columns left out of the statement
            conn.execute(store.score_log.insert(), r)
    assert stored(sqlite_engine) == stored(by_sqlalchemy)
    assert [r[0] for r in stored(sqlite_engine)] == [f"r{i}" for i in range(25)]


def test_rows_queued_through_an_outage_are_all_written_in_order_once_the_store_is_back(
    sqlite_engine, tmp_path
):
    broken = store.make_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")  # no tables
    recorder = ScoreRecorder(broken, batch_size=7, flush_seconds=60)
    for r in _mixed_rows(20):
        recorder.record(**r)
    assert recorder.flush() == 0
    for r in _mixed_rows(30)[20:]:
        recorder.record(**r)
    recorder.engine = sqlite_engine
    assert recorder.flush() == 30
    assert [r[0] for r in stored(sqlite_engine)] == [f"r{i}" for i in range(30)]
    assert recorder.written == 30 and recorder.dropped == 0


def test_a_score_queued_positionally_is_stored_as_record_score_stores_it_at_the_time_queued(
    sqlite_engine,
):
    recorder = ScoreRecorder(sqlite_engine, flush_seconds=60)
    values = ("lead", "lead", "3", 0.25, 25, "L-1", "acme")
    kind, model, version, probability, score, subject, dataset = values
    before = store.utcnow()
    recorder.queue_score(dict(LEAD), None, "queued", *values)
    after = store.utcnow()
    recorder.record_score(
        dict(LEAD),
        None,
        request_id="recorded",
        kind=kind,
        model=model,
        model_version=version,
        probability=probability,
        score=score,
        subject_id=subject,
        dataset=dataset,
    )
    recorder.record(**row(3))  # rows of both kinds keep the order they were queued in
    assert recorder.flush() == 3
    queued, recorded, third = stored(sqlite_engine)
    assert (queued[0], recorded[0], third[0]) == ("queued", "recorded", "r3")
    assert queued[1:7] + queued[8:] == recorded[1:7] + recorded[8:]
    at = datetime.fromisoformat(queued[7])
    assert before <= at <= after
