"""The field history the store keeps: append-only, every observation once (a repeat adds
nothing), every value a field took with when it was observed, the same in any arrival order;
on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import datetime

import pandas as pd
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, func, select, text

from forecast.data import store
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.data.sync import sync_opportunities
from forecast.history import load_deal_history

NOW = datetime(2024, 7, 1)
D1 = {
    "id": "D1",
    "stage": "Prospecting",
    "created_at": "2024-03-01",
    "updated_at": "2024-03-01",
    "amount": 1000.0,
    "owner": "Ann",
    "team": "East",
}


@pytest.fixture
def crm(engine: Engine) -> Engine:
    import_frame(engine, pd.DataFrame([D1]), load_mapping("canonical"), dataset="crm")
    return engine


def observations(engine: Engine, deal: str = "D1") -> pd.DataFrame:
    log = store.load_field_history(engine, "crm")
    return log[log["opportunity_id"] == deal].reset_index(drop=True)


def push(engine: Engine, *deals: dict) -> None:
    sync_opportunities(engine, list(deals), dataset="crm", now=NOW)


def test_an_import_records_each_deal_once_observed_at_its_update_time(crm):
    obs = observations(crm)
    assert len(obs) == 1
    assert obs.loc[0, "observed_at"] == pd.Timestamp("2024-03-01")
    assert obs.loc[0, "amount"] == 1000.0 and obs.loc[0, "owner"] == "Ann"


def test_reimports_and_repeated_pushes_add_nothing(crm):
    frame = pd.DataFrame([D1])
    report = import_frame(crm, frame, load_mapping("canonical"), dataset="crm")
    assert report.field_rows_written == 0
    push(crm, D1)
    push(crm, D1)
    assert len(observations(crm)) == 1


def test_a_newer_sighting_of_the_same_fields_is_kept_for_a_late_push_to_land_before(crm):
    push(crm, {**D1, "updated_at": "2024-03-09"})  # newer, the same fields
    push(crm, {**D1, "amount": 1200.0, "updated_at": "2024-03-05"})  # arrives late
    history = load_deal_history(crm, "crm", check_leaks=False)
    assert history.as_of("2024-03-06").loc[0, "amount"] == 1200.0
    assert history.as_of("2024-03-10").loc[0, "amount"] == 1000.0  # what the CRM said on the 9th
    assert len(observations(crm)) == 3


def test_a_changed_field_adds_an_observation_and_keeps_the_old_value(crm):
    push(crm, {**D1, "amount": 1500.0, "updated_at": "2024-03-10"})
    push(crm, {**D1, "amount": 1500.0, "owner": "Bea", "updated_at": "2024-04-01"})
    obs = observations(crm)
    assert list(obs["amount"]) == [1000.0, 1500.0, 1500.0]
    assert list(obs["owner"]) == ["Ann", "Ann", "Bea"]
    history = load_deal_history(crm, "crm", check_leaks=False)
    assert history.as_of("2024-03-05").loc[0, "amount"] == 1000.0
    assert history.as_of("2024-03-11").loc[0, "amount"] == 1500.0
    assert history.as_of("2024-03-11").loc[0, "owner"] == "Ann"


def test_an_older_push_joins_the_history_without_rolling_the_deal_back(crm):
    push(crm, {**D1, "amount": 3000.0, "updated_at": "2024-05-01"})
    push(crm, {**D1, "amount": 2000.0, "updated_at": "2024-04-01"})  # arrives late
    with crm.connect() as conn:
        stored = conn.execute(select(store.opportunities.c.amount)).scalar_one()
    assert stored == 3000.0
    assert list(observations(crm)["amount"]) == [1000.0, 2000.0, 3000.0]


def test_values_at_every_date_do_not_depend_on_the_order_pushes_arrive_in(engine):
    pushes = [
        {**D1, "amount": a, "updated_at": f"2024-03-{d:02d}"}
        for a, d in ((1000.0, 1), (1200.0, 5), (1000.0, 9), (900.0, 12))
    ]
    seen = set()
    for order in itertools.permutations(range(len(pushes))):
        with engine.begin() as conn:
            conn.execute(store.field_history.delete())
            conn.execute(store.opportunities.delete())
            conn.execute(store.stage_history.delete())
        import_frame(engine, pd.DataFrame([D1]), load_mapping("canonical"), dataset="crm")
        for i in order:
            push(engine, pushes[i])
        history = load_deal_history(engine, "crm", check_leaks=False)
        seen.add(
            tuple(history.as_of(f"2024-03-{d:02d}T12:00").loc[0, "amount"] for d in range(1, 15))
        )
    assert seen == {(1000.0,) * 4 + (1200.0,) * 4 + (1000.0,) * 3 + (900.0,) * 3}


def test_a_rejected_import_writes_no_observation(crm):
    bad = pd.DataFrame([{**D1, "id": "D9", "amount": 5.0}, {**D1, "id": "D8", "stage": "Nope"}])
    with pytest.raises(Exception):  # noqa: B017 - the rejection type is the importer's concern
        import_frame(crm, bad, load_mapping("canonical"), dataset="crm")
    assert set(store.load_field_history(crm, "crm")["opportunity_id"]) == {"D1"}


def test_the_migration_back_fills_the_history_from_the_stored_deals(tmp_path):
    engine = store.make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(store.MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(
            text(
                "INSERT INTO datasets (name, kind, stages, created_at, updated_at) VALUES "
                "('crm', 'opportunities', '{\"open\": [\"Prospecting\"]}', '2024-01-01', "
                "'2024-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO opportunities (dataset, id, owner, amount, amount_estimated, "
                "currency, stage, status, created_at, created_estimated, updated_at) VALUES "
                "('crm', 'D1', 'Ann', 100.0, 0, 'USD', 'Prospecting', 'open', '2024-01-01', 0, "
                "'2024-02-01'), ('crm', 'D2', 'Bob', 250.0, 0, 'EUR', 'Prospecting', 'open', "
                "'2024-01-05', 0, '2024-02-03')"
            )
        )
    store.migrate(engine)
    log = store.load_field_history(engine, "crm").set_index("opportunity_id")
    assert list(log.index) == ["D1", "D2"]
    assert log.loc["D2", "amount"] == 250.0 and log.loc["D2", "currency"] == "EUR"
    assert log.loc["D1", "observed_at"] == pd.Timestamp("2024-02-01")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.field_history)).scalar() == 2
