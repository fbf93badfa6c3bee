"""Which dataset a command or page reads where none is named: the one of its kind, and a
message that tells a user what the store holds where it holds none of that kind."""

from __future__ import annotations

import pytest

from forecast.data import store
from forecast.errors import NotFound


def test_a_store_of_leads_only_says_so_where_deals_are_asked_for(sqlite_engine):
    now = store.utcnow()
    with sqlite_engine.begin() as conn:
        conn.execute(
            store.datasets.insert().values(name="ac", kind="leads", created_at=now, updated_at=now)
        )
    with sqlite_engine.connect() as conn, pytest.raises(NotFound) as said:
        store.resolve_dataset(conn, None, "opportunities")
    assert str(said.value) == (
        "the store holds no opportunities yet (only leads: ac): run `forecast import` first, on "
        "a deal export"
    )
    with sqlite_engine.connect() as conn:
        assert store.resolve_dataset(conn, None, "leads") == "ac"


def test_an_empty_store_says_to_import(sqlite_engine):
    with sqlite_engine.connect() as conn, pytest.raises(NotFound) as said:
        store.resolve_dataset(conn, None, "leads")
    assert str(said.value) == (
        "the store holds no leads yet: run `forecast import` first, on a lead export"
    )
