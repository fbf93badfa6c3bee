"""A push is checked against its dataset as it stands once the push holds the write lock."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from forecast.data import store
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.data.sync import sync_opportunities
from forecast.errors import UnknownStage

NOW = datetime(2024, 7, 1)
DEAL = {"id": "D1", "stage": "Prospecting", "created_at": "2024-03-01", "updated_at": "2024-03-01"}
#: The stages an import that commits just before the push gives the dataset.
RESTAGED = {"open": ["Prospecting", "Engaging"], "won": "Won", "lost": "Lost", "aliases": {}}


@pytest.fixture
def restaged_at_lock(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """A dataset `crm` with the default stages, whose stages become `RESTAGED` the moment a
    writer takes its lock (as if an import changing them committed just before)."""
    import_frame(engine, pd.DataFrame([DEAL]), load_mapping("canonical"), dataset="crm")
    take_lock = store.lock_dataset

    def lock_then_restage(conn: Connection, name: str) -> None:
        take_lock(conn, name)
        conn.execute(
            store.datasets.update().where(store.datasets.c.name == name).values(stages=RESTAGED)
        )

    monkeypatch.setattr(store, "lock_dataset", lock_then_restage)
    return engine


def test_a_push_takes_the_stages_the_dataset_has_inside_the_lock(restaged_at_lock):
    pushed = {**DEAL, "stage": "engaging", "updated_at": "2024-03-05"}
    report = sync_opportunities(restaged_at_lock, [pushed], now=NOW)
    assert report.deals[0].stage == "Engaging"


def test_a_push_of_a_stage_the_dataset_no_longer_has_names_the_field(restaged_at_lock):
    pushed = {**DEAL, "stage": "Closing", "updated_at": "2024-03-05"}
    with pytest.raises(
        UnknownStage,
        match=r"opportunities\[0\]\.stage: unknown stage 'Closing'; the dataset's stages are "
        r"Prospecting, Engaging, Won, Lost",
    ):
        sync_opportunities(restaged_at_lock, [pushed], now=NOW)
