"""A dataset's version (what the app's caches, the stored forecasts and the served deal contexts
key on) moves only when something stored changes: an export imported again unchanged, or a push
answered unchanged or stale for every deal, leaves it, and reports that nothing changed."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from forecast.data import deal_record, store
from forecast.data.generator import generate_pipeline, write_export
from forecast.data.importing import import_export, import_frame
from forecast.data.mapping import load_mapping
from forecast.data.sync import sync_opportunities

NOW = datetime(2024, 7, 1)
DEALS = [
    {
        "id": "D1",
        "stage": "Prospecting",
        "created_at": "2024-03-01",
        "updated_at": "2024-03-01",
        "amount": 1000.0,
        "owner": "Ann",
    },
    {
        "id": "D2",
        "stage": "Won",
        "created_at": "2024-03-02",
        "updated_at": "2024-03-20",
        "closed_at": "2024-03-20",
        "amount": 2000.0,
        "owner": "Bob",
    },
]
PUSHED = {
    "id": "D1",
    "stage": "Qualification",
    "created_at": "2024-03-01T00:00:00",
    "updated_at": "2024-03-10T09:00:00",
    "amount": 1000.0,
    "owner": "Ann",
}


def version(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(store.get_dataset(conn, "crm")["updated_at"])


def imported(engine: Engine, deals: list[dict] = DEALS, **changes: object) -> bool:
    mapping = load_mapping("canonical").model_copy(update=changes)
    return import_frame(engine, pd.DataFrame(deals), mapping, dataset="crm").changed


@pytest.fixture
def crm(engine: Engine) -> Engine:
    assert imported(engine)  # a new dataset is a change
    return engine


def test_the_same_rows_imported_again_keep_the_version(crm):
    first = version(crm)
    assert imported(crm) is False
    assert version(crm) == first


def test_a_changed_value_gives_a_new_version(crm):
    first = version(crm)
    assert imported(crm, [{**DEALS[0], "amount": 1500.0, "updated_at": "2024-03-03"}])
    assert version(crm) != first
    second = version(crm)
    assert imported(crm, [{**DEALS[0], "amount": 1500.0, "updated_at": "2024-03-03"}]) is False
    assert version(crm) == second


def test_a_changed_dataset_record_gives_a_new_version(crm):
    """The rows as stored, but other leak columns (the mapping's): the record changed."""
    first = version(crm)
    assert imported(crm, leak_columns=["owner"])
    assert version(crm) != first


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CRM's export folder (deals and their stage history), as a nightly export writes it."""
    folder = tmp_path_factory.mktemp("export")
    write_export(generate_pipeline(60, seed=3, start="2024-01-01", end="2024-06-30"), folder)
    return folder


def test_an_export_imported_again_keeps_the_version(engine, export):
    assert import_export(engine, export, dataset="crm").changed
    first = version(engine)
    again = import_export(engine, export, dataset="crm")
    assert again.changed is False and again.to_dict()["changed"] is False
    assert version(engine) == first


def test_a_replace_gives_a_new_version(engine, export):
    import_export(engine, export, dataset="crm")
    first = version(engine)
    assert import_export(engine, export, dataset="crm", replace=True).changed
    assert version(engine) != first


def test_a_push_answered_unchanged_keeps_the_version(crm):
    pushed = sync_opportunities(crm, [PUSHED], now=NOW)
    assert pushed.deals[0].outcome == "changed" and pushed.changed
    second = version(crm)
    again = sync_opportunities(crm, [PUSHED], now=NOW)
    assert again.deals[0].outcome == "unchanged" and again.changed is False
    assert version(crm) == second


def test_a_stale_push_sent_again_keeps_the_version(crm):
    """A late push keeps the newer state (stale) but adds what it saw at its own time: the deal
    owned by Bob on 2024-03-05, a change of the field history. Sent again, it adds nothing."""
    sync_opportunities(crm, [PUSHED], now=NOW)
    second = version(crm)
    late = {**PUSHED, "stage": "Prospecting", "owner": "Bob", "updated_at": "2024-03-05T00:00:00"}
    stale = sync_opportunities(crm, [late], now=NOW)
    assert stale.deals[0].outcome == "stale" and stale.changed
    owners = store.load_field_history(crm, "crm").set_index("observed_at")["owner"]
    assert owners[pd.Timestamp("2024-03-05")] == "Bob"
    third = version(crm)
    assert third != second
    again = sync_opportunities(crm, [late], now=NOW)
    assert again.deals[0].outcome == "stale" and again.changed is False
    assert version(crm) == third


def test_a_batch_with_one_changed_deal_gives_a_new_version(crm):
    first = version(crm)
    same = {**DEALS[1], "created_at": "2024-03-02T00:00:00", "updated_at": "2024-03-20T00:00:00"}
    same["closed_at"] = "2024-03-20T00:00:00"
    report = sync_opportunities(crm, [same, PUSHED], now=NOW)
    assert [d.outcome for d in report.deals] == ["unchanged", "changed"]
    assert report.changed and version(crm) != first


def test_a_partial_push_that_changes_nothing_keeps_the_version(crm):
    sync_opportunities(crm, [PUSHED], now=NOW)
    second = version(crm)
    patch = {"id": "D1", "owner": "Ann", "updated_at": "2024-03-10T09:00:00"}
    report = sync_opportunities(crm, [patch], now=NOW, partial=True)
    assert report.deals[0].outcome == "unchanged" and report.changed is False
    assert version(crm) == second


def test_a_removed_deal_gives_a_new_version(crm):
    first = version(crm)
    deal_record.remove_deal(crm, "D1", dataset="crm")
    assert version(crm) != first
