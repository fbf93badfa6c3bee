"""A scored batch in the store: one per dataset and kind, replaced whole or not at all
(each test runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from forecast import batch_output
from forecast.batch_output import store_batch, stored_batch, write_parquet
from forecast.data import store


def _batch(
    ids: list[str], grade: str | None = "A", reasons: str = "[]", notes: str = "[]"
) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame(
        {
            "id": ids,
            "probability": [0.25] * n,
            "score": [25] * n,
            "grade": [grade] * n,
            "model": ["close-probability"] * n,
            "version": ["3"] * n,
            "method": ["model"] * n,
            "reasons_for": [reasons] * n,
            "reasons_against": ["[]"] * n,
            "notes": [notes] * n,
        }
    )


def _file(tmp_path: Path, name: str, *parts: pd.DataFrame) -> Path:
    path = tmp_path / f"{name}.parquet"
    write_parquet(parts, path)
    return path


def test_a_new_batch_replaces_the_previous_one_of_its_dataset_and_kind_only(engine, tmp_path):
    first = _file(tmp_path, "first", _batch(["a", "b", "c"]))
    said = '["age 900 days is beyond the oldest open deal the model learnt from"]'
    second = _file(
        tmp_path, "second", _batch(["d"]), _batch(["e"], reasons='[{"field": "x"}]', notes=said)
    )
    leads = _file(tmp_path, "leads", _batch(["l1"]))
    assert store_batch(engine, "pipeline", "deals", first, as_of=pd.Timestamp("2025-01-01")) == 3
    store_batch(engine, "pipeline", "leads", leads)
    assert store_batch(engine, "pipeline", "deals", second) == 2
    kept = stored_batch(engine, "pipeline", "deals")
    assert kept["id"].tolist() == ["d", "e"]
    assert kept["reasons_for"].tolist() == ["[]", '[{"field": "x"}]']
    assert kept["notes"].tolist() == ["[]", said]
    assert stored_batch(engine, "pipeline", "leads")["id"].tolist() == ["l1"]


def test_a_batch_that_fails_to_store_leaves_the_previous_one_whole(engine, tmp_path, monkeypatch):
    store_batch(engine, "pipeline", "deals", _file(tmp_path, "good", _batch(["a", "b", "c"])))
    # The bad row (no method) comes in the second INSERT, after the delete and a first insert.
    monkeypatch.setattr(batch_output, "INSERT_ROWS", 2)
    bad = _file(tmp_path, "bad", _batch(["x", "y"]), _batch(["z"]).assign(method=None))
    with pytest.raises(Exception):  # noqa: B017 - the database's own NOT NULL error
        store_batch(engine, "pipeline", "deals", bad)
    assert stored_batch(engine, "pipeline", "deals")["id"].tolist() == ["a", "b", "c"]


def test_a_batch_without_grades_is_stored_and_read_back_without_them(engine, tmp_path):
    """A fallback that ranks nothing (every lead the base rate) gives no grade (null)."""
    said = '["no model yet: every lead has the base rate; no grade"]'
    path = _file(tmp_path, "leads", _batch(["l1", "l2"], grade=None, notes=said))
    assert store_batch(engine, "web", "leads", path) == 2
    kept = stored_batch(engine, "web", "leads")
    assert kept["grade"].isna().all() and kept["notes"].tolist() == [said, said]


def test_a_parquet_file_that_fails_to_write_leaves_the_previous_file_whole(tmp_path):
    path = _file(tmp_path, "scores", _batch(["a"]))

    def parts():
        yield _batch(["b"])
        raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError):
        write_parquet(parts(), path)
    assert pd.read_parquet(path)["id"].tolist() == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]


def test_a_batch_stored_before_notes_reads_back_with_none_after_the_migration(engine):
    """Migration 0016 adds `notes` to a store that already holds a batch: its rows say `[]`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(store.MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0015")
        assert "notes" not in {c["name"] for c in inspect(conn).get_columns("batch_scores")}
        conn.execute(
            text(
                "INSERT INTO batch_scores (dataset, kind, scored_at, subject_id, probability, "
                "score, grade, model, method, reasons_for, reasons_against) VALUES ('pipeline', "
                "'deals', '2025-01-02 00:00:00', 'a', 0.25, 25, 'A', 'close-probability', "
                "'model', '[]', '[]')"
            )
        )
    store.migrate(engine)
    kept = stored_batch(engine, "pipeline", "deals")
    assert kept[["id", "notes"]].values.tolist() == [["a", "[]"]]
