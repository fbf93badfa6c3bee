"""API keys: a key is revoked once; a second revoke keeps the first time and says so."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from forecast import keys
from forecast.data import store
from forecast.errors import InvalidInput, NotFound
from forecast.settings import Settings


@pytest.fixture
def engine(tmp_path: Path):
    return store.get_engine(Settings(state_dir=tmp_path / "state"))


def revoked_at(engine, key_id: int):
    with engine.connect() as conn:
        cols = store.api_keys.c
        return conn.execute(select(cols.revoked_at).where(cols.id == key_id)).scalar_one()


def test_a_second_revoke_keeps_the_first_time_and_says_the_key_was_already_revoked(engine):
    with engine.begin() as conn:
        record, _ = keys.create_key(conn, "viewer", "someone")
    with engine.begin() as conn:
        revoked = keys.revoke_key(conn, record.id)
    first = revoked_at(engine, record.id)
    assert first is not None
    # The record revoked is the key created, now with the time it was revoked at.
    assert revoked == replace(record, revoked_at=first)
    with (
        pytest.raises(keys.AlreadyRevoked, match="already revoked") as raised,
        engine.begin() as conn,
    ):
        keys.revoke_key(conn, record.id)
    assert isinstance(raised.value, InvalidInput)  # 422 in the API, exit 2 in the CLI
    assert revoked_at(engine, record.id) == first


def test_revoking_an_unknown_key_is_not_found(engine):
    with pytest.raises(NotFound), engine.begin() as conn:
        keys.revoke_key(conn, 12345)


def test_a_verifier_remembers_what_the_store_said_of_a_key_until_its_time_to_live_ends(engine):
    with engine.begin() as conn:
        record, plain = keys.create_key(conn, "scorer", "a crm")
    verifier = keys.KeyVerifier(engine, ttl_seconds=60)
    assert verifier.remembered(plain) is None  # never asked: the store must be
    assert verifier.verify(plain) == record
    assert verifier.remembered(plain) == (record,)
    assert verifier.verify("fk_not-a-key") is None
    assert verifier.remembered("fk_not-a-key") == (None,)  # known to be unknown
    with engine.begin() as conn:
        keys.revoke_key(conn, record.id)
    assert verifier.remembered(plain) == (record,)  # the store is not read again within the ttl


def test_a_verifier_with_no_time_to_live_remembers_nothing(engine):
    with engine.begin() as conn:
        _, plain = keys.create_key(conn, "scorer", "a crm")
    verifier = keys.KeyVerifier(engine, ttl_seconds=0)
    assert verifier.verify(plain) is not None
    assert verifier.remembered(plain) is None


def test_a_key_is_bound_to_a_stored_dataset_or_one_with_a_champion_and_no_other(engine):
    with engine.begin() as conn:
        conn.execute(
            store.datasets.insert().values(
                name="north", kind="leads", created_at=store.utcnow(), updated_at=store.utcnow()
            )
        )
        record, _ = keys.create_key(conn, "scorer", "north CRM", " north ")
        assert record.dataset == "north"
        champion, _ = keys.create_key(conn, "scorer", "trained", "east", known=["east"])
        assert champion.dataset == "east"
        with pytest.raises(InvalidInput, match=r"'west'.*expected one of \['east', 'north'\]"):
            keys.create_key(conn, "scorer", "west CRM", "west", known=["east"])
        assert [r["dataset"] for r in keys.list_keys(conn)] == ["north", "east"]
    with engine.begin() as conn:
        _, plain = keys.create_key(conn, "scorer", "any")
    found = keys.KeyVerifier(engine, 0).verify(plain)
    assert found is not None and found.dataset is None
