"""A CRM's push leaves the options its dataset's import kept: a dataset imported from an export
with a decimal comma keeps that notation (which the scoring API reads values by) through every
push, and a push that changes nothing changes no option."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine

from forecast.data import store
from forecast.data.dataset_options import DatasetOptions
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.data.sync import sync_opportunities

NOW = datetime(2024, 7, 1)


def _options(engine: Engine) -> DatasetOptions:
    with engine.connect() as conn:
        return DatasetOptions.from_dict(store.get_dataset(conn, "crm").get("options"))


def test_a_push_keeps_the_number_notation_its_import_read_the_export_by(engine: Engine):
    base = load_mapping("canonical")
    mapping = base.model_copy(
        update={"csv": base.csv.model_copy(update={"decimal": ",", "thousands": "."})}
    )
    frame = pd.DataFrame(
        [
            {
                "id": "D1",
                "stage": "Prospecting",
                "created_at": "2024-03-01",
                "updated_at": "2024-03-01",
                "amount": "1.234,50",
            }
        ]
    )
    import_frame(engine, frame, mapping, dataset="crm")
    assert _options(engine).notation == (",", ".")
    deal = {
        "id": "D1",
        "stage": "Qualification",
        "created_at": "2024-03-01T00:00:00",
        "updated_at": "2024-03-10T09:00:00",
        "amount": 1234.5,
    }
    report = sync_opportunities(engine, [deal], dataset="crm", now=NOW)
    assert report.deals[0].outcome == "changed"
    assert _options(engine).notation == (",", ".")
    again = sync_opportunities(engine, [deal], dataset="crm", now=NOW)
    assert again.deals[0].outcome == "unchanged"
    assert _options(engine).notation == (",", ".")
    assert store.load_opportunities(engine, "crm").set_index("id").loc["D1", "amount"] == 1234.5
