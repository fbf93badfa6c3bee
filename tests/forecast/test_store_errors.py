"""Database errors never echo the values bound to a statement: an error's text ends up in logs,
and a bound value may be a key hash or a customer's data."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, text
from sqlalchemy.exc import IntegrityError, OperationalError

from forecast.data import store

SECRET = "4f1c0ffee-bound-value-never-logged"


@pytest.fixture
def engine(tmp_path: Path):  # noqa: ANN201 - an Engine
    engine = store.make_engine(f"sqlite:///{tmp_path / 'errors.db'}")
    yield engine
    engine.dispose()


def test_an_integrity_error_does_not_show_the_bound_values(engine):
    table = Table("secrets", MetaData(), Column("id", Integer), Column("hash", String, unique=True))
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, hash=SECRET))
    with pytest.raises(IntegrityError) as raised, engine.begin() as conn:
        conn.execute(insert(table).values(id=2, hash=SECRET))
    assert "UNIQUE" in str(raised.value)  # the error still says what went wrong
    assert SECRET not in str(raised.value)


def test_an_operational_error_does_not_show_the_bound_values(engine):
    with pytest.raises(OperationalError) as raised, engine.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_table WHERE key_hash = :h"), {"h": SECRET})
    assert "no_such_table" in str(raised.value)
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize("url", ["sqlite:///{tmp}/x.db", "postgresql+psycopg://u@localhost/x"])
def test_every_engine_hides_its_parameters(url, tmp_path):
    if url.startswith("postgresql"):
        pytest.importorskip("psycopg")
    engine = store.make_engine(url.format(tmp=tmp_path))  # no connection is made
    assert engine.hide_parameters
